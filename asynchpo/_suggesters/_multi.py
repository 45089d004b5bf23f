"""Several objectives and constraints, as the one order a single-objective TPE ranks by.

Multi-objective TPE (Ozaki et al., "Multiobjective tree-structured Parzen estimator", JAIR
2022) changes one step of TPE: the split of the finished trials into good and bad. Its good set
is the best ``n_good`` trials by non-dominated sorting, the last front that only partly fits
cut by greedy hypervolume subset selection; with constraints, feasible trials come first and
infeasible ones follow by total violation (Optuna's rule). Everything else (the Parzen
estimators, the candidates, the pending points and the constant liar) is unchanged.

So the reduction is a history: :func:`as_one_order` gives every successful trial a loss equal
to its position in that order (0 for the best), and TPE runs on it as on any history. Its good
set is then exactly the multi-objective good set, and its "ei" weights favour the trials nearer
the top. A position depends on the trials that came after, so the history it returns has no
origin: TPE keys what it learns from it by content.
"""

from __future__ import annotations

import numpy as np

from asynchpo._pareto import nondominated_ranks, select_best
from asynchpo._suggesters._base import FloatArray, History

__all__ = ["as_one_order", "is_single"]


def is_single(history: History) -> bool:
    """Whether ``history`` is a plain single-objective one (no objectives columns, or one
    objective and no constraint): then TPE ranks by ``losses`` as it always has."""
    objectives, violations = history.objectives, history.violations
    if violations is not None and np.any(violations > 0):
        return False
    return objectives is None or objectives.shape[1] == 1


def as_one_order(history: History, n_good: int) -> History:
    """``history`` as a single-objective one: ``losses`` replaced by each successful
    trial's position in the multi-objective order (NaN for failed and pruned trials, as
    before), without ``objectives`` and ``violations``.

    :param history: a history with ``objectives`` (``(n, k)``, minimised; NaN rows for trials
        without a result) and possibly ``violations`` (``(n,)``, ``> 0`` infeasible).
    :param n_good: how many trials TPE will take as good: the top of the order is chosen by
        hypervolume for exactly that many, the rest is ordered by rank and violation.
    """
    objectives = history.objectives
    if objectives is None:
        return history
    ok = ~np.isnan(history.losses) & ~np.isnan(objectives).any(axis=1)
    index = np.flatnonzero(ok)
    points = objectives[index]
    violations = None if history.violations is None else history.violations[index]
    if points.shape[1] == 1:
        # One objective under constraints: feasible trials by loss, then the others by
        # violation; a sort, where non-dominated sorting would cost O(n^2).
        feasible = np.ones(len(index), bool) if violations is None else violations <= 0
        key = np.where(feasible, points[:, 0], np.inf if violations is None else violations)
        order = np.lexsort((np.arange(len(index)), key, ~feasible))
    else:
        top = select_best(points, violations, n_good)
        rest = np.setdiff1d(np.arange(len(index)), top, assume_unique=True)
        below = _rest_order(points[rest], _subset(violations, rest))
        order = np.concatenate([top, rest[below]])
    positions: FloatArray = np.full(len(history), np.nan)
    positions[index[order]] = np.arange(len(order), dtype=np.float64)
    positions.flags.writeable = False
    return History(
        rows=history.rows,
        losses=positions,
        ids=history.ids,
        pruned=history.pruned,
        origin=None,
    )


def _subset(violations: FloatArray | None, index: np.ndarray) -> FloatArray | None:
    return None if violations is None else violations[index]


def _rest_order(points: FloatArray, violations: FloatArray | None) -> np.ndarray:
    """The order of the trials below the good set: feasible ones by non-dominated rank, then
    infeasible ones by violation; ties by position."""
    n = len(points)
    if violations is None:
        violations = np.zeros(n)
    feasible = violations <= 0
    ranks = np.zeros(n)
    if feasible.any():
        ranks[feasible] = nondominated_ranks(points[feasible])
    # Sort keys, last one first: infeasible after feasible, then rank (feasible) or violation.
    key = np.where(feasible, ranks, violations)
    order: np.ndarray = np.lexsort((np.arange(n), key, ~feasible))
    return order
