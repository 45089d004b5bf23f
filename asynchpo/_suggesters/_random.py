"""Random search: every point drawn from the prior."""

from __future__ import annotations

import numpy as np

from asynchpo._space import Space
from asynchpo._suggesters._base import FloatArray, History

__all__ = ["suggest"]


def suggest(
    space: Space,
    history: History,
    pending: FloatArray,
    rng: np.random.Generator,
) -> FloatArray:
    """Draw one point from the prior: hyperopt's ``rand.suggest``.

    The history and the pending points are ignored; each trial's own generator makes the
    draws independent of timing and of one another.
    """
    row: FloatArray = space.sample(rng, 1)[0]
    return row


suggest.algo_name = "rand"  # type: ignore[attr-defined]
# The prior ignores the history: any number of objectives and constraints.
suggest.multi_objective = True  # type: ignore[attr-defined]
