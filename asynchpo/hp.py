"""The search-space DSL: hyperopt's ``hp`` functions, with the same signatures and meaning.

A search space is any nesting of dicts, lists, tuples and constants whose leaves may be the
parameter nodes built here::

    from asynchpo import hp

    space = {
        "lr": hp.loguniform("lr", -9, -1),
        "model": hp.choice("model", [
            {"kind": "linear"},
            {"kind": "mlp", "layers": hp.uniformint("layers", 1, 4)},
        ]),
    }

Every node is an immutable value that checks its own arguments when it is created and raises
:class:`~asynchpo.SpaceError` (a ``ValueError``) naming the label and the fix. Problems that only
show in the whole space (two different parameters sharing one label) are reported when the space
is compiled. The same node, or an equal one, may appear in several places of a space: it is one
parameter, active whenever any of its places is.

Quantized values follow hyperopt exactly: ``round(x / q) * q`` with numpy's round-half-to-even,
so a value can land slightly outside ``[low, high]`` (``quniform(1, 10, 4)`` yields 0, 4 or 8).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

from asynchpo._exceptions import SpaceError

__all__ = [
    "Apply",
    "Choice",
    "Node",
    "Numeric",
    "PChoice",
    "choice",
    "lognormal",
    "loguniform",
    "normal",
    "pchoice",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "randint",
    "scope",
    "uniform",
    "uniformint",
]

# Argument names of each numeric family, in hyperopt's positional order.
_ARG_NAMES: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "quniform": ("low", "high", "q"),
    "loguniform": ("low", "high"),
    "qloguniform": ("low", "high", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
    "randint": ("low", "high"),
    "uniformint": ("low", "high"),
}

# The largest x with a finite exp(x) in float64: a log-space bound above it would make every
# draw infinite.
_MAX_LOG = math.log(float.fromhex("0x1.fffffffffffffp+1023"))

# pchoice probabilities are typed by hand ("0.1, 0.2, 0.7"), so allow rounding slack.
_PROB_TOLERANCE = 1e-6


def _format_number(x: float) -> str:
    """``3`` for whole numbers, the shortest round-tripping repr otherwise."""
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _where(kind: str, label: object) -> str:
    """The prefix of every message about one node, after checking its label."""
    if not isinstance(label, str) or not label.strip():
        raise SpaceError(
            f"hp.{kind}: the label must be a non-empty string, got {label!r}; "
            f"name every parameter, e.g. hp.{kind}('x', ...)"
        )
    return f"hp.{kind}({label!r})"


def _real(where: str, name: str, value: object) -> float:
    """``value`` as a finite float, or a SpaceError saying which argument is wrong."""
    # bool is an int subclass, but hp.uniform('x', False, True) is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SpaceError(
            f"{where}: {name} must be a number, got {value!r}; pass an int or float "
            "(a parameter cannot be the bound of another)"
        )
    x = float(value)
    if not math.isfinite(x):
        raise SpaceError(f"{where}: {name} must be finite, got {x}; pass a finite number")
    return x


@dataclass(frozen=True, slots=True, repr=False)
class Node:
    """Base class of the parameter nodes; build them with the functions of this module.

    :param label: the parameter's name, unique within a space.
    """

    label: str


@dataclass(frozen=True, slots=True, repr=False)
class Choice(Node):
    """A categorical parameter whose value is one of ``options`` (see :func:`choice`).

    :param label: the parameter's name.
    :param options: the options; each may be a constant or any nested structure of dicts,
        lists, tuples and further nodes, which are only active when their option is chosen.
    """

    options: tuple[object, ...]

    def __post_init__(self) -> None:
        where = _where("choice", self.label)
        object.__setattr__(self, "options", _options(where, self.options))

    def __repr__(self) -> str:
        return f"hp.choice({self.label!r}, [{', '.join(map(repr, self.options))}])"


@dataclass(frozen=True, slots=True, repr=False)
class PChoice(Node):
    """A categorical parameter with prior probabilities (see :func:`pchoice`).

    :param label: the parameter's name.
    :param probs: the prior probability of each option, summing to 1.
    :param options: the options, as for :class:`Choice`.
    """

    probs: tuple[float, ...]
    options: tuple[object, ...]

    def __post_init__(self) -> None:
        where = _where("pchoice", self.label)
        options = _options(where, self.options)
        if isinstance(self.probs, (str, bytes)) or not isinstance(self.probs, Sequence):
            raise SpaceError(f"{where}: probs must be a sequence of numbers, got {self.probs!r}")
        probs = tuple(
            _real(where, f"the probability of option {i}", p) for i, p in enumerate(self.probs)
        )
        if len(probs) != len(options):
            raise SpaceError(
                f"{where}: {len(probs)} probabilities for {len(options)} options; "
                "give one probability per option"
            )
        for i, p in enumerate(probs):
            if p < 0:
                raise SpaceError(
                    f"{where}: the probability of option {i} is negative ({_format_number(p)}); "
                    "every probability must be between 0 and 1"
                )
        total = math.fsum(probs)
        if abs(total - 1.0) > _PROB_TOLERANCE:
            raise SpaceError(
                f"{where}: the probabilities sum to {total!r}, not 1; "
                "scale them so that they add up to 1"
            )
        object.__setattr__(self, "probs", probs)
        object.__setattr__(self, "options", options)

    def __repr__(self) -> str:
        pairs = ", ".join(
            f"({_format_number(p)}, {o!r})" for p, o in zip(self.probs, self.options, strict=True)
        )
        return f"hp.pchoice({self.label!r}, [{pairs}])"


@dataclass(frozen=True, slots=True, repr=False)
class Numeric(Node):
    """A numeric parameter of one of hyperopt's families (``uniform``, ``qnormal``, ...).

    :param label: the parameter's name.
    :param kind: the family, named as the function of this module that builds it.
    :param args: the family's arguments in hyperopt's order, e.g. ``(low, high, q)`` or
        ``(mu, sigma)``; ``(low, high)`` for ``randint``.
    """

    kind: str
    args: tuple[float, ...]

    def __post_init__(self) -> None:
        names = _ARG_NAMES.get(self.kind)
        if names is None:
            raise SpaceError(
                f"unknown parameter kind {self.kind!r} for label {self.label!r}; "
                f"use one of {', '.join(sorted(_ARG_NAMES))}"
            )
        where = _where(self.kind, self.label)
        if len(self.args) != len(names):
            raise SpaceError(
                f"{where}: expected {len(names)} arguments ({', '.join(names)}), "
                f"got {len(self.args)}"
            )
        args = tuple(_real(where, n, v) for n, v in zip(names, self.args, strict=True))
        object.__setattr__(self, "args", args)
        named = dict(zip(names, args, strict=True))
        if named.get("q", 1.0) <= 0:
            raise SpaceError(
                f"{where}: q must be positive, got {_format_number(named['q'])}; "
                "q is the step between allowed values, e.g. 1 for whole numbers"
            )
        if named.get("sigma", 1.0) <= 0:
            raise SpaceError(
                f"{where}: sigma must be positive, got {_format_number(named['sigma'])}; "
                "sigma is the standard deviation of the prior"
            )
        if self.kind == "randint":
            _check_randint(where, named["low"], named["high"])
        elif "low" in named:
            _check_range(where, self.kind, named["low"], named["high"])

    def __repr__(self) -> str:
        args = self.args
        # hp.randint('x', 10) is how people write the common case.
        if self.kind == "randint" and args[0] == 0:
            args = args[1:]
        shown = ", ".join(_format_number(a) for a in args)
        return f"hp.{self.kind}({self.label!r}, {shown})"


def _options(where: str, options: object) -> tuple[object, ...]:
    # A string is iterable too, but choice('x', 'abc') is a mistake, not three options; a set or
    # a dict has no order to number the options by.
    if isinstance(options, (str, bytes, Mapping, Set)) or not isinstance(options, Iterable):
        raise SpaceError(f"{where}: options must be a list or tuple, got {options!r}")
    values = tuple(options)
    if not values:
        raise SpaceError(f"{where}: there are no options; give at least one option")
    return values


def _check_range(where: str, kind: str, low: float, high: float) -> None:
    if low >= high:
        hint = "swap them or widen the range"
        if kind in ("loguniform", "qloguniform"):
            hint = "both are logarithms: e.g. low=math.log(1e-5), high=math.log(1e-1)"
        raise SpaceError(
            f"{where}: low ({_format_number(low)}) must be less than high "
            f"({_format_number(high)}); {hint}"
        )
    if kind in ("loguniform", "qloguniform") and high > _MAX_LOG:
        raise SpaceError(
            f"{where}: exp(high) = exp({_format_number(high)}) overflows; the bounds of "
            f"{kind} are logarithms: pass math.log(x) instead of x"
        )


def _check_randint(where: str, low: float, high: float) -> None:
    for name, value in (("low", low), ("high", high)):
        if not value.is_integer():
            raise SpaceError(
                f"{where}: {name} must be a whole number, got {_format_number(value)}; "
                "randint draws integers (use hp.uniform for real numbers)"
            )
    if high <= low:
        raise SpaceError(
            f"{where}: high ({_format_number(high)}) must be greater than low "
            f"({_format_number(low)}); randint draws integers in [low, high)"
        )


def choice(label: str, options: Sequence[object]) -> Choice:
    """One of ``options``, each equally likely a priori.

    The point (hyperopt's argmin format) holds the option's index; ``space_eval`` gives the
    option itself, evaluated. Options can hold further parameters, which are active only when
    their option is chosen.

    :param label: the parameter's name, unique within the space.
    :param options: a non-empty list or tuple of options (constants, nodes, nested structures).
    :raises SpaceError: if the label is not a non-empty string or there are no options.
    """
    return Choice(label, _options(_where("choice", label), options))


def pchoice(label: str, p_options: Sequence[tuple[float, object]]) -> PChoice:
    """One of the options, drawn with the given prior probabilities.

    :param label: the parameter's name, unique within the space.
    :param p_options: a non-empty list of ``(probability, option)`` pairs; the probabilities
        must be non-negative and sum to 1 (within 1e-6).
    :raises SpaceError: if a pair is malformed, a probability is negative or they do not sum
        to 1.
    """
    where = _where("pchoice", label)
    if isinstance(p_options, (str, bytes)) or not isinstance(p_options, Sequence):
        raise SpaceError(
            f"{where}: expected a list of (probability, option) pairs, got {p_options!r}"
        )
    if not p_options:
        raise SpaceError(f"{where}: there are no options; give at least one option")
    probs: list[float] = []
    options: list[object] = []
    for i, pair in enumerate(p_options):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise SpaceError(
                f"{where}: option {i} must be a (probability, option) pair, got {pair!r}"
            )
        probs.append(pair[0])
        options.append(pair[1])
    return PChoice(label, tuple(probs), tuple(options))


def uniform(label: str, low: float, high: float) -> Numeric:
    """A real number drawn uniformly from ``[low, high]``.

    :param label: the parameter's name, unique within the space.
    :param low: the lower bound.
    :param high: the upper bound, greater than ``low``.
    :raises SpaceError: if a bound is not a finite number or ``low >= high``.
    """
    return Numeric(label, "uniform", (low, high))


def quniform(label: str, low: float, high: float, q: float) -> Numeric:
    """``round(uniform(low, high) / q) * q``: a uniform value on a grid of step ``q``.

    As in hyperopt, rounding may step just outside the bounds: ``quniform(1, 10, 4)`` gives 0,
    4 or 8.

    :param label: the parameter's name, unique within the space.
    :param low: the lower bound of the value before rounding.
    :param high: the upper bound of the value before rounding.
    :param q: the grid step, positive.
    :raises SpaceError: if an argument is not a finite number, ``low >= high`` or ``q <= 0``.
    """
    return Numeric(label, "quniform", (low, high, q))


def loguniform(label: str, low: float, high: float) -> Numeric:
    """``exp(uniform(low, high))``: a positive value whose logarithm is uniform.

    :param label: the parameter's name, unique within the space.
    :param low: the logarithm of the smallest value, e.g. ``math.log(1e-5)``.
    :param high: the logarithm of the largest value.
    :raises SpaceError: if a bound is not a finite number, ``low >= high`` or ``exp(high)``
        overflows.
    """
    return Numeric(label, "loguniform", (low, high))


def qloguniform(label: str, low: float, high: float, q: float) -> Numeric:
    """``round(exp(uniform(low, high)) / q) * q``: a log-uniform value on a grid of step ``q``.

    :param label: the parameter's name, unique within the space.
    :param low: the logarithm of the smallest value before rounding.
    :param high: the logarithm of the largest value before rounding.
    :param q: the grid step, positive.
    :raises SpaceError: if an argument is not a finite number, ``low >= high`` or ``q <= 0``.
    """
    return Numeric(label, "qloguniform", (low, high, q))


def normal(label: str, mu: float, sigma: float) -> Numeric:
    """A real number drawn from the normal distribution with mean ``mu``, unbounded.

    :param label: the parameter's name, unique within the space.
    :param mu: the mean.
    :param sigma: the standard deviation, positive.
    :raises SpaceError: if an argument is not a finite number or ``sigma <= 0``.
    """
    return Numeric(label, "normal", (mu, sigma))


def qnormal(label: str, mu: float, sigma: float, q: float) -> Numeric:
    """``round(normal(mu, sigma) / q) * q``.

    :param label: the parameter's name, unique within the space.
    :param mu: the mean before rounding.
    :param sigma: the standard deviation before rounding, positive.
    :param q: the grid step, positive.
    :raises SpaceError: if an argument is not a finite number, ``sigma <= 0`` or ``q <= 0``.
    """
    return Numeric(label, "qnormal", (mu, sigma, q))


def lognormal(label: str, mu: float, sigma: float) -> Numeric:
    """``exp(normal(mu, sigma))``: a positive value whose logarithm is normal.

    :param label: the parameter's name, unique within the space.
    :param mu: the mean of the logarithm.
    :param sigma: the standard deviation of the logarithm, positive.
    :raises SpaceError: if an argument is not a finite number or ``sigma <= 0``.
    """
    return Numeric(label, "lognormal", (mu, sigma))


def qlognormal(label: str, mu: float, sigma: float, q: float) -> Numeric:
    """``round(exp(normal(mu, sigma)) / q) * q``.

    :param label: the parameter's name, unique within the space.
    :param mu: the mean of the logarithm before rounding.
    :param sigma: the standard deviation of the logarithm, positive.
    :param q: the grid step, positive.
    :raises SpaceError: if an argument is not a finite number, ``sigma <= 0`` or ``q <= 0``.
    """
    return Numeric(label, "qlognormal", (mu, sigma, q))


def randint(label: str, low: int, high: int | None = None) -> Numeric:
    """A uniformly drawn integer: ``randint(label, upper)`` in ``[0, upper)``, or
    ``randint(label, low, high)`` in ``[low, high)``.

    The point holds the integer itself (not an index), and ``space_eval`` gives an ``int``.

    :param label: the parameter's name, unique within the space.
    :param low: the exclusive upper bound when ``high`` is omitted (as in hyperopt and numpy),
        otherwise the inclusive lower bound.
    :param high: the exclusive upper bound.
    :raises SpaceError: if a bound is not a whole number or the range is empty.
    """
    if high is None:
        where = _where("randint", label)
        upper = _real(where, "upper", low)
        if upper <= 0:
            raise SpaceError(
                f"{where}: upper must be positive, got {_format_number(upper)}; "
                "randint(label, upper) draws integers in [0, upper)"
            )
        return Numeric(label, "randint", (0, upper))
    return Numeric(label, "randint", (low, high))


def uniformint(label: str, low: float, high: float) -> Numeric:
    """A whole number: ``quniform(label, low, high, 1)`` made an ``int`` by ``space_eval``.

    As in hyperopt, the point (argmin) holds the value as a float such as ``3.0``.

    :param label: the parameter's name, unique within the space.
    :param low: the lower bound.
    :param high: the upper bound, greater than ``low``.
    :raises SpaceError: if a bound is not a finite number or ``low >= high``.
    """
    return Numeric(label, "uniformint", (low, high))


# --- hyperopt's scope.int and scope.float -------------------------------------------------------

_CONVERSIONS = ("int", "float")


@dataclass(frozen=True, slots=True, repr=False)
class Apply:
    """A conversion of part of a space, applied when a point is evaluated (see :data:`scope`).

    :param name: ``"int"`` or ``"float"``.
    :param arg: what it converts: a parameter node, or any part of a space.
    """

    name: str
    arg: object

    def __post_init__(self) -> None:
        if self.name not in _CONVERSIONS:
            raise SpaceError(f"scope.{self.name} is not supported; use scope.int or scope.float")

    def __repr__(self) -> str:
        return f"scope.{self.name}({self.arg!r})"


class _Scope:
    """hyperopt's ``scope.int`` and ``scope.float``, for spaces ported from hyperopt::

        from asynchpo import hp, scope

        space = {"layers": scope.int(hp.quniform("layers", 1, 8, 1))}

    ``scope.int(x)`` gives ``int(x)`` (truncated toward zero, as in hyperopt) in the evaluated
    parameters; the stored point keeps the parameter's own value. Other pyll functions
    (arithmetic on nodes, ``scope.switch``, ...) are not supported: compute such values in
    the objective.
    """

    __slots__ = ()

    def int(self, arg: object) -> Apply:
        """``int(arg)`` when a point is evaluated."""
        return Apply("int", arg)

    def float(self, arg: object) -> Apply:
        """``float(arg)`` when a point is evaluated."""
        return Apply("float", arg)

    def __repr__(self) -> str:
        return "scope"


#: hyperopt's ``scope`` (``from hyperopt.pyll import scope``): ``scope.int`` and ``scope.float``.
scope = _Scope()
