"""A mixture of search algorithms: each suggestion comes from one, picked at random."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from asynchpo import _checks as checks
from asynchpo._checks import given
from asynchpo._exceptions import ConfigError
from asynchpo._space import Space
from asynchpo._suggesters._base import FloatArray, History, Suggester

__all__ = ["suggest"]

_FORM = (
    "p_suggest must be a list of (probability, algo) pairs, "
    "e.g. [(0.2, rand.suggest), (0.8, tpe.suggest)]"
)


def _checked(p_suggest: object) -> tuple[list[float], list[Suggester]]:
    # A malformed mixture is one ConfigError (a ValueError, as hyperopt's); a probability
    # that is not a number is a TypeError, as the one rule of asynchpo._checks says.
    if isinstance(p_suggest, str) or not isinstance(p_suggest, Sequence) or not p_suggest:
        raise ConfigError(f"{_FORM}; got {given(p_suggest)}")
    probabilities: list[float] = []
    algos: list[Suggester] = []
    for pair in p_suggest:
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ConfigError(f"{_FORM}; got the item {given(pair)}")
        p, algo = pair
        probability = checks.number("p_suggest: a probability", p, at_least=0)
        if not callable(algo):
            raise ConfigError(
                f"p_suggest: {algo!r:.80} is not a search algorithm; use one such as tpe.suggest"
            )
        probabilities.append(probability)
        algos.append(algo)
    if not math.isclose(sum(probabilities), 1.0, rel_tol=1e-6):
        raise ConfigError(
            f"p_suggest's probabilities must sum to 1, got {probabilities} "
            f"(sum {sum(probabilities):g})"
        )
    return probabilities, algos


def suggest(
    space: Space,
    history: History,
    pending: FloatArray,
    rng: np.random.Generator,
    *,
    p_suggest: Sequence[tuple[float, Suggester]],
) -> FloatArray:
    """A suggestion from one of the algorithms in ``p_suggest``, picked with its probability
    by the trial's own generator (so a run repeats given its seed): hyperopt's ``mix.suggest``.

    Bind the mixture by keyword: ``functools.partial(mix.suggest, p_suggest=[(0.1,
    rand.suggest), (0.9, tpe.suggest)])``. The study stores the mixture's name (each
    probability and algorithm, with its options), so resuming with another mixture is refused.

    :raises ConfigError: when ``p_suggest`` is not a list of (probability, algo) pairs whose
        probabilities (each >= 0) sum to 1.
    """
    probabilities, algos = _checked(p_suggest)
    index = int(rng.choice(len(algos), p=np.asarray(probabilities) / sum(probabilities)))
    return algos[index](space, history, pending, rng)


suggest.algo_name = "mix"  # type: ignore[attr-defined]


def check_options(*, p_suggest: object = None) -> None:
    """Refuse a mixture that cannot work, before any work."""
    _checked(p_suggest)


suggest.check_options = check_options  # type: ignore[attr-defined]
