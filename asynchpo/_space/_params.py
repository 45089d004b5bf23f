"""The parameter model: one :class:`Param` per label, with what suggesters need to model it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from asynchpo._exceptions import SpaceError
from asynchpo._kinds import INTEGER_KINDS, LOG_KINDS, NORMAL_KINDS, QUANTIZED_KINDS, Kind
from asynchpo.hp import Choice, Node, Numeric, PChoice, _format_number

__all__ = ["MAX_CATEGORIES", "Kind", "Mask", "Param", "Rows", "as_modelled"]

Rows = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
# Suggesters model a randint of more values than this as ordinal (see as_modelled); one of fewer
# stays categorical, with a weight per value. With TPE (100-250 evaluations, 10-20 seeds) the
# two found the same best values up to 256 values; from 300 on the ordinal model was better
# on ordered losses, as good on a loss that is random per value, and 5-20 times faster.
MAX_CATEGORIES = 256


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a compiled space, with what suggesters need to model it.

    :param label: the parameter's label.
    :param kind: its family.
    :param column: its column in a row.
    :param parents: ``()`` if always active; otherwise it is active iff any
        ``(parent_column, option_index)`` holds, with that parent itself active.
    :param args: the user's arguments: ``(low, high[, q])``, ``(mu, sigma[, q])``, ``(low, high)``
        for randint, the probabilities for pchoice, ``()`` for choice.
    :param categorical: True for choice, pchoice and randint.
    :param n_options: the number of options of a categorical parameter (randint: high - low).
    :param probs: pchoice's prior probabilities, normalized to sum to 1; None otherwise.
    :param offset: randint's low: the row value is ``offset + option index``; 0 otherwise.
    :param log: True when the parameter is modelled in log space.
    :param q: the quantum of a quantized kind (1.0 for uniformint); None otherwise.
    :param low: the lower bound of the underlying continuous variable in modelling space (log
        space when ``log``), before quantization; -inf for normal kinds; 0 for categorical.
    :param high: the upper bound likewise; inf for normal kinds; ``n_options`` for categorical.
    :param mu: the prior's centre in modelling space (uniform kinds: the middle of the range).
    :param sigma: the prior's scale in modelling space (uniform kinds: the width of the range).
    :param integer: True when ``space_eval`` makes the value an ``int`` (randint, uniformint).
    """

    label: str
    kind: Kind
    column: int
    parents: tuple[tuple[int, int], ...]
    args: tuple[float, ...]
    categorical: bool
    n_options: int
    probs: tuple[float, ...] | None
    offset: int
    log: bool
    q: float | None
    low: float
    high: float
    mu: float
    sigma: float
    integer: bool


def _make_param(node: Node, column: int, parents: tuple[tuple[int, int], ...]) -> Param:
    """The :class:`Param` of one node, with every derived field filled in."""
    label = node.label
    if isinstance(node, Choice):
        return _categorical(label, Kind.CHOICE, column, parents, (), len(node.options))
    if isinstance(node, PChoice):
        total = math.fsum(node.probs)
        probs = tuple(p / total for p in node.probs)
        n = len(node.options)
        return _categorical(label, Kind.PCHOICE, column, parents, node.probs, n, probs=probs)
    if not isinstance(node, Numeric):
        raise SpaceError(
            f"{type(node).__name__} {label!r} is not a parameter; build parameters with the "
            "functions of asynchpo.hp, e.g. hp.uniform('x', 0, 1)"
        )
    kind = Kind(node.kind)
    args = node.args
    if kind is Kind.RANDINT:
        low, high = int(args[0]), int(args[1])
        return _categorical(label, kind, column, parents, args, high - low, offset=low)
    if kind in NORMAL_KINDS:
        lo, hi, mu, sigma = -math.inf, math.inf, args[0], args[1]
    else:
        lo, hi = args[0], args[1]
        # lo / 2 + hi / 2: the sum of two large bounds may overflow where their mean does not.
        mu, sigma = lo / 2.0 + hi / 2.0, hi - lo
    return Param(
        label=label,
        kind=kind,
        column=column,
        parents=parents,
        args=args,
        categorical=False,
        n_options=0,
        probs=None,
        offset=0,
        log=kind in LOG_KINDS,
        q=args[2] if kind in QUANTIZED_KINDS else (1.0 if kind is Kind.UNIFORMINT else None),
        low=lo,
        high=hi,
        mu=mu,
        sigma=sigma,
        integer=kind in INTEGER_KINDS,
    )


def _categorical(
    label: str,
    kind: Kind,
    column: int,
    parents: tuple[tuple[int, int], ...],
    args: tuple[float, ...],
    n: int,
    *,
    probs: tuple[float, ...] | None = None,
    offset: int = 0,
) -> Param:
    return Param(
        label=label,
        kind=kind,
        column=column,
        parents=parents,
        args=args,
        categorical=True,
        n_options=n,
        probs=probs,
        offset=offset,
        log=False,
        q=None,
        low=0.0,
        high=float(n),
        mu=0.0,
        sigma=1.0,
        integer=kind in INTEGER_KINDS,
    )


def _signature(kind: str, args: Sequence[float], n_options: int | None) -> str:
    """How a parameter reads in messages: ``loguniform(-9, -1)``, ``choice(3 options)``."""
    if kind == Kind.CHOICE.value:
        return f"choice({n_options} options)"
    return f"{kind}({', '.join(_format_number(a) for a in args)})"


def _param_signature(p: Param) -> str:
    return _signature(p.kind.value, p.args, p.n_options)


def as_modelled(p: Param) -> Param:
    """``p`` as the suggesters model it.

    A randint of more than :data:`MAX_CATEGORIES` values becomes ordinal, as Optuna treats
    integers: a numeric parameter over ``[low - 0.5, high - 0.5]`` with ``q=1``, so that a
    density over the range, rounded by :meth:`Space.snap`, gives each integer the same prior
    mass. A per-value model would cost memory and time in proportion to the range (2**62
    values). Other parameters are returned as they are.
    """
    if p.kind is not Kind.RANDINT or p.n_options <= MAX_CATEGORIES:
        return p
    low, high = p.offset - 0.5, p.offset + p.n_options - 0.5
    return replace(
        p, categorical=False, q=1.0, low=low, high=high, mu=(low + high) / 2, sigma=high - low
    )


def _inward(bound: int, direction: float) -> float:
    """The float nearest ``bound`` in ``direction`` (+1: up, -1: down) that does not pass it."""
    x = float(bound)
    if (x < bound) if direction > 0 else (x > bound):
        x = math.nextafter(x, direction * math.inf)
    return x


def _value_bounds(p: Param) -> tuple[float, float]:
    """The smallest and largest value a row may hold for ``p``, before quantization."""
    if p.categorical:
        # Rounded inward: float(2**62 - 1) is 2**62, so a row clipped to the nearest float
        # would hold an integer outside randint's range.
        return _inward(p.offset, 1.0), _inward(p.offset + p.n_options - 1, -1.0)
    if p.log:
        # exp(-inf) = 0 gives lognormal its natural lower bound.
        return math.exp(p.low), math.exp(p.high)
    return p.low, p.high
