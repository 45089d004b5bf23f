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
:class:`~asynchpo.SpaceError` (a ``ValueError``) naming the label and the fix, whatever they are
(strings, NaN, integers too large for a float, ...). Numbers may be ints, floats, ``Decimal``,
``Fraction`` or numpy scalars; they become float64, so every draw is a valid float64 value:
ranges must fit in float64 (``high - low`` finite, ``exp(low)`` of log kinds a normal float,
``value / q`` finite, ``mu +- 40 sigma`` finite), pchoice probabilities lie in [0, 1], and the
bounds of ``randint`` and ``uniformint`` are whole numbers within +-2**62 that float64 holds
exactly (randint: at most 2**62 values). Problems that only show in the whole space (two
different parameters sharing one label, nesting more than 100 levels of containers and choices)
are reported when the space is compiled. The same node, or an equal one, may appear in several
places of a space: it is one parameter, active whenever any of its places is.

Arithmetic on nodes (``10 ** hp.uniform("e", -3, 0)``, ``hp.quniform("w", 1, 8, 1) * 8``,
``-x``, ``abs(x)``) and :data:`scope`'s functions build an :class:`Apply`: an expression
evaluated when a point is evaluated, while the stored point keeps the parameters' own values.
Anything else (another pyll function, arithmetic with a string) raises
:class:`~asynchpo.SpaceError` naming it.

Quantized values follow hyperopt exactly: ``round(x / q) * q`` with numpy's round-half-to-even,
so a value can land slightly outside ``[low, high]`` (``quniform(1, 10, 4)`` yields 0, 4 or 8).
"""

from __future__ import annotations

import decimal
import math
import numbers
import reprlib
import sys
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

import numpy as np

from asynchpo._exceptions import SpaceError
from asynchpo._kinds import INTEGER_KINDS, LOG_KINDS, Kind

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
# The smallest x whose exp(x) is a normal float64: below it exp(low) loses its precision and soon
# underflows to 0, whose logarithm (where log kinds are modelled) is -inf.
_MIN_LOG = math.log(sys.float_info.min)

# How many standard deviations from mu a normal draw may land (a draw beyond 40 has probability
# below 1e-300): the prior of a normal kind must stay finite that far out.
_SIGMAS = 40

# The bounds of randint and uniformint: integers up to 2**62 in magnitude (and randint ranges of
# up to 2**62 values) are drawn and stored without overflowing a signed 64-bit integer.
_MAX_INT = 2**62

# How a message shows a value that the user passed: short, and never failing (a 5,000-digit int
# has no str in Python 3.11; a user's object may have a __repr__ that raises).
_SHOWN = reprlib.Repr()
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 40, 40, 40
_SHOWN.maxlist, _SHOWN.maxtuple, _SHOWN.maxdict, _SHOWN.maxlevel = 6, 6, 6, 3

# pchoice probabilities are typed by hand ("0.1, 0.2, 0.7"), so allow rounding slack.
_PROB_TOLERANCE = 1e-6


def _format_number(x: float) -> str:
    """``3`` for whole numbers, the shortest round-tripping repr otherwise."""
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _show(value: object) -> str:
    """A short repr of ``value`` for a message, whatever ``value`` is."""
    try:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
            return f"an integer of {_digits(value)} digits"
        return _SHOWN.repr(value)
    except Exception:  # a __repr__ that raises, an int too long for str
        return f"a {type(value).__name__}"


def _digits(value: int) -> int:
    """The number of decimal digits of ``value``, without converting it to str."""
    magnitude = abs(int(value))
    digits = max(1, math.floor(magnitude.bit_length() * math.log10(2)))
    while 10**digits <= magnitude:
        digits += 1
    return digits


def _where(kind: str, label: object) -> str:
    """The prefix of every message about one node, after checking its label."""
    if not isinstance(label, str) or not label.strip():
        raise SpaceError(
            f"hp.{kind}: the label must be a non-empty string, got {_show(label)}; "
            f"name every parameter, e.g. hp.{kind}('x', ...)"
        )
    text = str.__str__(label)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise SpaceError(
            f"hp.{kind}({text!r}): the label is not valid text (it holds a lone surrogate, as "
            "undecodable bytes give); use a label of ordinary characters"
        ) from None
    return f"hp.{kind}({text!r})"


def _real(where: str, name: str, value: object) -> float:
    """``value`` as a finite float, or a SpaceError saying which argument is wrong."""
    # bool is an int subclass, but hp.uniform('x', False, True) is surely a mistake.
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (numbers.Real, decimal.Decimal)
    ):
        raise SpaceError(
            f"{where}: {name} must be a number, got {_show(value)}; pass an int or float "
            "(a parameter cannot be the bound of another)"
        )
    try:
        with np.errstate(all="ignore"):  # np.longdouble('1e4000') is inf as a float
            x = float(value)
    except OverflowError:
        raise SpaceError(
            f"{where}: {name} is too large for a float64, got {_show(value)}; pass a number "
            "of magnitude below 1.8e308"
        ) from None
    except Exception as exc:  # Decimal('sNaN'), a number type whose __float__ fails
        raise SpaceError(
            f"{where}: {name} cannot be read as a float ({type(exc).__name__}), got "
            f"{_show(value)}; pass an int or float"
        ) from None
    if not math.isfinite(x):
        raise SpaceError(
            f"{where}: {name} must be finite, got {_show(value)}; pass a finite number"
        )
    return x


def _integer(where: str, name: str, value: object) -> float:
    """A bound of an integer kind: a whole number within +-2**62 that a float64 holds exactly."""
    x = _real(where, name, value)
    if not x.is_integer():
        raise SpaceError(
            f"{where}: {name} must be a whole number, got {_show(value)}; integer parameters "
            "have whole bounds (use hp.uniform or hp.quniform for real numbers)"
        )
    if abs(x) > _MAX_INT:
        raise SpaceError(
            f"{where}: {name} is {_show(value)}, beyond the {_MAX_INT} (2**62) that integer "
            "parameters allow in magnitude; use bounds within +-2**62, or hp.uniform (or "
            "hp.loguniform) for a real number this large"
        )
    try:
        # int() first: numpy compares an int64 with a float in float64, which is inexact.
        exact = bool(x == (int(value) if isinstance(value, numbers.Integral) else value))
    except Exception:
        exact = False
    if not exact:
        raise SpaceError(
            f"{where}: {name} {_show(value)} is not exactly a float64 (the nearest is "
            f"{int(x)}); beyond 2**53 pass a bound that float64 holds, e.g. {int(x)}"
        )
    return x


# --- expressions: arithmetic on nodes and hyperopt's scope functions ---------------------------

# Where the README explains which parts of hyperopt's pyll are supported.
_README = "see 'Porting from hyperopt' in the README"

# The functions an expression may apply, with how many arguments each takes (None: one or more).
# The operators are named as hyperopt's pyll names them (``x + 1`` is ``scope.add(x, 1)``).
_OPERATORS: dict[str, str] = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "truediv": "/",
    "floordiv": "//",
    "mod": "%",
    "pow": "**",
}
_UNARY: dict[str, str] = {"neg": "-", "pos": "+"}
_ARITY: dict[str, int | None] = {
    **dict.fromkeys(_OPERATORS, 2),
    **dict.fromkeys(_UNARY, 1),
    "abs": 1,
    "int": 1,
    "float": 1,
    "exp": 1,
    "log": 1,
    "sqrt": 1,
    "minimum": 2,
    "maximum": 2,
    "switch": None,
}
# Functions whose arguments must be numbers or parts that evaluate to numbers; int, float and
# switch (its options) take any part of a space.
_NUMERIC = frozenset(_ARITY) - {"int", "float", "switch"}
_SUPPORTED = (
    "scope.int, scope.float, scope.exp, scope.log, scope.sqrt, scope.minimum, scope.maximum, "
    "scope.switch and the operators + - * / // % ** and abs() on hp nodes"
)


def _operand(where: str, value: object) -> object:
    """``value`` if arithmetic may take it: a number, a parameter node or an expression."""
    if isinstance(value, (Node, Apply)):
        return value
    if not isinstance(value, (bool, np.bool_)) and isinstance(
        value, (numbers.Real, decimal.Decimal)
    ):
        return value
    raise SpaceError(
        f"{where}: arithmetic on hp nodes takes numbers and other hp nodes, got "
        f"{_show(value)}; {_README}, or compute the value in the objective"
    )


class _Arithmetic:
    """The operators of hp nodes and expressions: each builds an :class:`Apply`."""

    __slots__ = ()
    # numpy defers to the reflected operators below (np.float64(10) ** node is an expression).
    __array_ufunc__ = None

    def _binary(self, name: str, other: object, *, reflected: bool = False) -> Apply:
        symbol = _OPERATORS[name]
        left, right = (other, self) if reflected else (self, other)
        _operand(f"{_show(left)} {symbol} {_show(right)}", other)
        return Apply(name, (left, right))

    def __add__(self, other: object) -> Apply:
        return self._binary("add", other)

    def __radd__(self, other: object) -> Apply:
        return self._binary("add", other, reflected=True)

    def __sub__(self, other: object) -> Apply:
        return self._binary("sub", other)

    def __rsub__(self, other: object) -> Apply:
        return self._binary("sub", other, reflected=True)

    def __mul__(self, other: object) -> Apply:
        return self._binary("mul", other)

    def __rmul__(self, other: object) -> Apply:
        return self._binary("mul", other, reflected=True)

    def __truediv__(self, other: object) -> Apply:
        return self._binary("truediv", other)

    def __rtruediv__(self, other: object) -> Apply:
        return self._binary("truediv", other, reflected=True)

    def __floordiv__(self, other: object) -> Apply:
        return self._binary("floordiv", other)

    def __rfloordiv__(self, other: object) -> Apply:
        return self._binary("floordiv", other, reflected=True)

    def __mod__(self, other: object) -> Apply:
        return self._binary("mod", other)

    def __rmod__(self, other: object) -> Apply:
        return self._binary("mod", other, reflected=True)

    def __pow__(self, other: object) -> Apply:
        return self._binary("pow", other)

    def __rpow__(self, other: object) -> Apply:
        return self._binary("pow", other, reflected=True)

    def __neg__(self) -> Apply:
        return Apply("neg", (self,))

    def __pos__(self) -> Apply:
        return Apply("pos", (self,))

    def __abs__(self) -> Apply:
        return Apply("abs", (self,))

    def _no_value(self, what: str) -> SpaceError:
        return SpaceError(
            f"{what}({_show(self)}): a parameter has no value until a point is evaluated; "
            f"use scope.int, scope.float, scope.exp, ... or arithmetic on the node ({_README}), "
            "or compute the value in the objective"
        )

    def __float__(self) -> float:
        raise self._no_value("float")

    def __int__(self) -> int:
        raise self._no_value("int")


@dataclass(frozen=True, slots=True, repr=False)
class Node(_Arithmetic):
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
            raise SpaceError(
                f"{where}: probs must be a sequence of numbers, got {_show(self.probs)}"
            )
        probs = tuple(
            _real(where, f"the probability of option {i}", p) for i, p in enumerate(self.probs)
        )
        if len(probs) != len(options):
            raise SpaceError(
                f"{where}: {len(probs)} probabilities for {len(options)} options; "
                "give one probability per option"
            )
        for i, p in enumerate(probs):
            if not 0 <= p <= 1:
                size = "negative" if p < 0 else "above 1"
                raise SpaceError(
                    f"{where}: the probability of option {i} is {size} ({_format_number(p)}); "
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
        names = _ARG_NAMES.get(self.kind) if isinstance(self.kind, str) else None
        if names is None:
            raise SpaceError(
                f"unknown parameter kind {_show(self.kind)} for label {_show(self.label)}; "
                f"use one of {', '.join(sorted(_ARG_NAMES))}"
            )
        where = _where(self.kind, self.label)
        if not isinstance(self.args, (tuple, list)):
            raise SpaceError(
                f"{where}: expected a tuple of {len(names)} arguments ({', '.join(names)}), "
                f"got {_show(self.args)}"
            )
        if len(self.args) != len(names):
            raise SpaceError(
                f"{where}: expected {len(names)} arguments ({', '.join(names)}), "
                f"got {len(self.args)}"
            )
        number = _integer if Kind(self.kind) in INTEGER_KINDS else _real
        args = tuple(number(where, n, v) for n, v in zip(names, self.args, strict=True))
        object.__setattr__(self, "label", str.__str__(self.label))
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
        if "sigma" in named:
            _check_prior(where, self.kind, named["mu"], named["sigma"])
        if self.kind == "randint":
            _check_randint(where, named["low"], named["high"])
        elif "low" in named:
            _check_range(where, self.kind, named["low"], named["high"])
        if "q" in named:
            _check_grid(where, self.kind, args)

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
        raise SpaceError(f"{where}: options must be a list or tuple, got {_show(options)}")
    try:
        values = tuple(options)
    except Exception as exc:  # an iterable of the user's that fails
        raise SpaceError(
            f"{where}: reading the options raised {type(exc).__name__}; pass a list or tuple"
        ) from None
    if not values:
        raise SpaceError(f"{where}: there are no options; give at least one option")
    return values


def _check_range(where: str, kind: str, low: float, high: float) -> None:
    if low >= high:
        hint = "swap them or widen the range"
        if Kind(kind) in LOG_KINDS:
            hint = "both are logarithms: e.g. low=math.log(1e-5), high=math.log(1e-1)"
        raise SpaceError(
            f"{where}: low ({_format_number(low)}) must be less than high "
            f"({_format_number(high)}); {hint}"
        )
    if Kind(kind) in LOG_KINDS:
        if high > _MAX_LOG:
            raise SpaceError(
                f"{where}: exp(high) = exp({_format_number(high)}) overflows; the bounds of "
                f"{kind} are logarithms: pass math.log(x) instead of x"
            )
        if low < _MIN_LOG:
            raise SpaceError(
                f"{where}: exp(low) = exp({_format_number(low)}) underflows to 0 or loses its "
                f"precision (low must be at least {_MIN_LOG:.2f}); the bounds of {kind} are "
                "logarithms: pass math.log(x) with x >= 1e-300"
            )
    elif not math.isfinite(high - low):
        raise SpaceError(
            f"{where}: the range from {_format_number(low)} to {_format_number(high)} is wider "
            "than a float64 holds; narrow it (or use hp.loguniform for a range over many "
            "orders of magnitude)"
        )


def _check_prior(where: str, kind: str, mu: float, sigma: float) -> None:
    """Refuse a normal prior whose draws are infinite in float64, as a rule or often."""
    if kind in ("lognormal", "qlognormal") and mu > _MAX_LOG:
        # Far tails may overflow to inf (their honest value); the median exp(mu) must not.
        raise SpaceError(
            f"{where}: exp(mu) = exp({_format_number(mu)}) overflows, so most draws would "
            f"be infinite; mu is the mean of the logarithm: pass math.log(x) instead of x"
        )
    if not math.isfinite(abs(mu) + _SIGMAS * sigma):
        raise SpaceError(
            f"{where}: mu +- {_SIGMAS} sigma overflows float64 (mu={_format_number(mu)}, "
            f"sigma={_format_number(sigma)}), so draws would be infinite; use a smaller sigma"
        )


def _check_grid(where: str, kind: str, args: tuple[float, ...]) -> None:
    """Refuse a q so small that the grid index ``value / q`` of a likely value overflows."""
    if kind == "qloguniform":
        largest = math.exp(args[1])
    elif kind == "qlognormal":  # the median; far tails may overflow, as lognormal's do
        largest = math.exp(min(args[0], _MAX_LOG))
    elif kind == "qnormal":
        largest = abs(args[0]) + _SIGMAS * args[1]
    else:  # quniform
        largest = max(abs(args[0]), abs(args[1]))
    q = args[-1]
    if not math.isfinite(largest / q):
        raise SpaceError(
            f"{where}: q ({_format_number(q)}) is too small for values up to "
            f"{_format_number(largest)}: value / q overflows float64; use a larger q, or "
            f"hp.{kind.removeprefix('q')} for a continuous value"
        )


def _check_randint(where: str, low: float, high: float) -> None:
    # Both are whole numbers already (_integer).
    if high <= low:
        raise SpaceError(
            f"{where}: high ({_format_number(high)}) must be greater than low "
            f"({_format_number(low)}); randint draws integers in [low, high)"
        )
    if high - low > _MAX_INT:
        raise SpaceError(
            f"{where}: [{int(low)}, {int(high)}) holds {int(high) - int(low)} integers, more "
            f"than the {_MAX_INT} (2**62) randint allows; narrow the range"
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
    :raises SpaceError: if a pair is malformed, a probability is not in [0, 1] or they do not
        sum to 1.
    """
    where = _where("pchoice", label)
    if isinstance(p_options, (str, bytes)) or not isinstance(p_options, Sequence):
        raise SpaceError(
            f"{where}: expected a list of (probability, option) pairs, got {_show(p_options)}"
        )
    if not p_options:
        raise SpaceError(f"{where}: there are no options; give at least one option")
    probs: list[float] = []
    options: list[object] = []
    for i, pair in enumerate(p_options):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise SpaceError(
                f"{where}: option {i} must be a (probability, option) pair, got {_show(pair)}"
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
    :raises SpaceError: if a bound is not a whole number within +-2**62 that float64 holds
        exactly, the range is empty or it holds more than 2**62 values.
    """
    if high is None:
        where = _where("randint", label)
        _real(where, "upper", low)  # a number at all: the message names it upper
        upper = _integer(where, "high", low)
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
    :raises SpaceError: if a bound is not a whole number within +-2**62 that float64 holds
        exactly, or ``low >= high``.
    """
    return Numeric(label, "uniformint", (low, high))


@dataclass(frozen=True, slots=True, repr=False)
class Apply(_Arithmetic):
    """A function of parts of a space, applied when a point is evaluated.

    Built by arithmetic on nodes (``10 ** hp.uniform("e", -3, 0)``) and by :data:`scope`
    (``scope.int(hp.quniform("n", 1, 8, 1))``). The stored point keeps the parameters' own
    values; ``space_eval`` and the objective's parameters get the function's result.

    :param name: the function, as hyperopt's pyll names it: ``"add"``, ``"pow"``, ``"int"``,
        ``"exp"``, ``"switch"``, ...
    :param args: its arguments: numbers, parameter nodes, further expressions, or (for
        ``int``, ``float`` and the options of ``switch``) any part of a space.
    """

    name: str
    args: tuple[object, ...]

    def __post_init__(self) -> None:
        arity = _ARITY.get(self.name) if isinstance(self.name, str) else None
        if arity is None and self.name != "switch":
            shown = self.name if isinstance(self.name, str) else _show(self.name)
            raise SpaceError(
                f"scope.{shown} is not supported (supported: {_SUPPORTED}; "
                f"{_README}); compute the value in the objective"
            )
        where = f"scope.{self.name}"
        if not isinstance(self.args, tuple):
            raise SpaceError(f"{where}: args must be a tuple, got {_show(self.args)}")
        if arity is None:
            if len(self.args) < 2:
                raise SpaceError(
                    f"{where}: expected an index and at least one option, got "
                    f"{len(self.args)} arguments; e.g. scope.switch(hp.randint('i', 2), a, b)"
                )
            _operand(where, self.args[0])
        elif len(self.args) != arity:
            raise SpaceError(f"{where}: expected {arity} arguments, got {len(self.args)}")
        if self.name in _NUMERIC:
            for arg in self.args:
                _operand(where, arg)

    @property
    def arg(self) -> object:
        """The first argument (what ``scope.int`` and ``scope.float`` convert)."""
        return self.args[0]

    def __repr__(self) -> str:
        if self.name in _OPERATORS:
            left, right = self.args
            return f"({left!r} {_OPERATORS[self.name]} {right!r})"
        if self.name in _UNARY:
            return f"({_UNARY[self.name]}{self.args[0]!r})"
        if self.name == "abs":
            return f"abs({self.args[0]!r})"
        return f"scope.{self.name}({', '.join(map(repr, self.args))})"


class _Scope:
    """hyperopt's ``scope`` (``from hyperopt.pyll import scope``), for spaces ported from it::

        from asynchpo import hp, scope

        space = {
            "layers": scope.int(hp.quniform("layers", 1, 8, 1)),
            "lr": scope.exp(hp.uniform("log_lr", -9, -1)),
        }

    Each function builds an expression evaluated when a point is evaluated: ``scope.int(x)``
    gives ``int(x)`` (truncated toward zero, as in hyperopt), ``scope.float``, ``scope.exp``,
    ``scope.log``, ``scope.sqrt``, ``scope.minimum(x, y)``, ``scope.maximum(x, y)``, and
    ``scope.switch(index, a, b, ...)`` the option at ``index`` (the parameters of every option
    are drawn, unlike ``hp.choice``'s). Arithmetic on nodes (``10 ** hp.uniform(...)``) builds
    the same expressions. The stored point keeps the parameters' own values. Other pyll
    functions raise :class:`~asynchpo.SpaceError`: compute such values in the objective.
    """

    __slots__ = ()

    def int(self, arg: object) -> Apply:
        """``int(arg)`` when a point is evaluated."""
        return Apply("int", (arg,))

    def float(self, arg: object) -> Apply:
        """``float(arg)`` when a point is evaluated."""
        return Apply("float", (arg,))

    def exp(self, arg: object) -> Apply:
        """``math.exp(arg)`` when a point is evaluated."""
        return Apply("exp", (arg,))

    def log(self, arg: object) -> Apply:
        """``math.log(arg)`` when a point is evaluated."""
        return Apply("log", (arg,))

    def sqrt(self, arg: object) -> Apply:
        """``math.sqrt(arg)`` when a point is evaluated."""
        return Apply("sqrt", (arg,))

    def minimum(self, x: object, y: object) -> Apply:
        """The smaller of ``x`` and ``y`` when a point is evaluated."""
        return Apply("minimum", (x, y))

    def maximum(self, x: object, y: object) -> Apply:
        """The larger of ``x`` and ``y`` when a point is evaluated."""
        return Apply("maximum", (x, y))

    def switch(self, index: object, *options: object) -> Apply:
        """``options[index]`` when a point is evaluated (only that option is evaluated)."""
        return Apply("switch", (index, *options))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends probe for optional methods
            raise AttributeError(name)
        if name not in _ARITY:
            raise UnsupportedScopeFunction(
                f"scope.{name} is not supported (supported: {_SUPPORTED}; {_README}); compute "
                "the value in the objective"
            )

        def function(*args: object) -> Apply:
            return Apply(name, args)

        return function

    def __repr__(self) -> str:
        return "scope"


class UnsupportedScopeFunction(SpaceError, AttributeError):
    """An unknown ``scope`` function: a SpaceError, and an AttributeError for ``hasattr``."""


#: hyperopt's ``scope`` (``from hyperopt.pyll import scope``): see :class:`_Scope`.
scope = _Scope()
