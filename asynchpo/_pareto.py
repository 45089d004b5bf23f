"""Pareto bookkeeping for several objectives and constraints: dominance, non-dominated ranks,
hypervolumes, and the two selections built on them.

Every loss is minimised (the caller negates the maximised ones first). A trial may also have
constraint values ``c_j``; it is feasible when every ``c_j <= 0`` (Optuna's convention), and its
violation is the sum of the positive parts (:func:`violation`).

- :func:`select_best` picks the ``count`` best trials, TPE's "good" set as in multi-objective TPE
  (Ozaki et al. 2020/2022): feasible trials first, by non-dominated rank, the last rank that
  only partly fits cut by greedy hypervolume subset selection; then infeasible trials by
  violation.
- :func:`front_of` gives the trials a user sees as the best: the Pareto front of the feasible
  trials, or the least violating trials when none is feasible.

Hypervolumes are exact: a sweep for two objectives, slices along the third objective of
two-objective areas (all slices in one cumulative-minimum pass) for three, and slices along the
last objective of exact (k-1)-objective volumes for four and more (fine up to a few hundred
points at four objectives). Everything here is pure numpy; nothing keeps state between calls.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "dominates",
    "feasible_order",
    "front_of",
    "hypervolume",
    "hypervolume_contributions",
    "nondominated_ranks",
    "pareto_front",
    "select_best",
    "violation",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# The three-objective volume works on blocks of at most this many (slice x point) cells.
_HV3_BLOCK = 2**20
# Where the tie-break reference point would sit on the worst value itself (a worst value of 0),
# it is moved this far beyond it (Optuna's choice).
_REFERENCE_EPS = 1e-12
# Gains of the tie-break that differ by less than this fraction are ties, won by the lower index.
_TIE_TOLERANCE = 1e-9


# --- checks -------------------------------------------------------------------------------------


def _as_points(points: npt.ArrayLike, name: str = "points") -> FloatArray:
    """``points`` as a float ``(n, k)`` array without NaN, or a ValueError that says why not."""
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_trials, n_objectives), got shape "
            f"{array.shape}; for a single trial pass [losses], for one objective losses[:, None]"
        )
    if array.shape[1] == 0:
        raise ValueError(
            f"{name} has no objective columns (shape {array.shape}); give at least one"
        )
    nan_rows = np.flatnonzero(np.isnan(array).any(axis=1))
    if nan_rows.size:
        raise ValueError(
            f"{name} has NaN losses in row(s) {nan_rows[:5].tolist()}: leave out the trials "
            "that have no losses, or give them +inf"
        )
    return array


def _as_reference(reference: npt.ArrayLike, k: int) -> FloatArray:
    ref = np.asarray(reference, dtype=np.float64)
    if ref.shape != (k,):
        raise ValueError(
            f"reference must have shape ({k},), one value per objective column of points, "
            f"got shape {ref.shape}"
        )
    if not np.isfinite(ref).all():
        raise ValueError(
            f"reference must be finite, got {ref.tolist()}: use e.g. the worst loss of each "
            "objective plus a margin"
        )
    return ref


def _as_violations(violations: npt.ArrayLike | None, n: int) -> FloatArray:
    if violations is None:
        return np.zeros(n)
    array = np.asarray(violations, dtype=np.float64)
    if array.shape != (n,):
        raise ValueError(
            f"violations must have shape ({n},), one per row of points, got shape {array.shape}"
        )
    if np.isnan(array).any():
        raise ValueError(
            "violations contain NaN: compute them with violation(), which gives +inf to "
            "trials whose constraints are unknown"
        )
    return array


# --- dominance and ranks ------------------------------------------------------------------------


def dominates(a: npt.ArrayLike, b: npt.ArrayLike) -> bool:
    """Whether ``a`` dominates ``b`` (minimisation): no worse in every objective, better in one.

    :param a: ``(k,)`` losses.
    :param b: ``(k,)`` losses.
    :returns: ``True`` when ``a <= b`` everywhere and ``a < b`` somewhere. NaN compares false,
        so a point with a NaN neither dominates nor is dominated.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"a and b must be 1-D arrays of the same length, got shapes {x.shape} and {y.shape}"
        )
    return bool(np.all(x <= y) and np.any(x < y))


def _domination_matrix(points: FloatArray) -> BoolArray:
    """``D[i, j]``: point i dominates point j. ``(n, n)`` booleans, O(n^2 k) time."""
    # i <= j everywhere, and not j <= i everywhere (that is, i and j are not identical).
    no_worse = points[:, None, 0] <= points[None, :, 0]
    for m in range(1, points.shape[1]):
        np.logical_and(no_worse, points[:, None, m] <= points[None, :, m], out=no_worse)
    return no_worse & ~no_worse.T


def nondominated_ranks(points: npt.ArrayLike) -> IntArray:
    """The non-dominated rank of each point: 0 for the Pareto front, 1 for the front of what is
    left once rank 0 is removed, and so on.

    Identical points share a rank. Time O(n^2 k), memory about 3 n^2 bytes (n = 5000: 75 MB).

    :param points: ``(n, k)`` losses, all minimised; ``+inf`` and ``-inf`` are allowed, NaN is not.
    :returns: ``(n,)`` ranks.
    """
    array = _as_points(points)
    n = array.shape[0]
    ranks = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return ranks
    dominated_by = _domination_matrix(array)
    # Fast non-dominated sort: a point joins the next front once all its dominators are ranked.
    dominators = dominated_by.sum(axis=0, dtype=np.int64)
    front = np.flatnonzero(dominators == 0)
    rank = 0
    while front.size:
        ranks[front] = rank
        dominators -= dominated_by[front].sum(axis=0, dtype=np.int64)
        dominators[front] = -1
        front = np.flatnonzero(dominators == 0)
        rank += 1
    return ranks


def pareto_front(points: npt.ArrayLike) -> IntArray:
    """The indices of the points that no point dominates (rank 0 of :func:`nondominated_ranks`).

    :param points: ``(n, k)`` losses, all minimised.
    :returns: ascending indices; identical points on the front are all in it.
    """
    array = _as_points(points)
    if array.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(~_domination_matrix(array).any(axis=0)).astype(np.int64)


def _nondominated_unique(points: FloatArray) -> FloatArray:
    """The distinct points that no other point dominates."""
    unique = np.unique(points, axis=0)
    if unique.shape[0] <= 1:
        return unique
    return unique[~_domination_matrix(unique).any(axis=0)]


# --- constraints --------------------------------------------------------------------------------


def violation(constraints: npt.ArrayLike | None, n: int | None = None) -> FloatArray:
    """The total violation of each trial: the sum of the positive parts of its constraints.

    :param constraints: ``(n, c)`` constraint values, feasible when ``<= 0``; ``None`` when there
        are no constraints (then give ``n``). A row with a NaN (a constraint that is unknown)
        gets ``+inf``: it cannot be shown feasible.
    :param n: the number of trials, needed only when ``constraints`` is ``None``.
    :returns: ``(n,)`` violations, 0 for the feasible trials.
    """
    if constraints is None:
        if n is None:
            raise ValueError(
                "violation(None) needs the number of trials: call violation(None, n=n_trials)"
            )
        return np.zeros(n)
    array = np.asarray(constraints, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(
            f"constraints must be a 2-D array of shape (n_trials, n_constraints), got shape "
            f"{array.shape}; for one constraint per trial pass values[:, None]"
        )
    if n is not None and array.shape[0] != n:
        raise ValueError(f"constraints has {array.shape[0]} rows but n={n}; they must agree")
    total: FloatArray = np.sum(np.maximum(array, 0.0), axis=1)
    total[np.isnan(array).any(axis=1)] = np.inf
    return total


def feasible_order(violations: npt.ArrayLike) -> tuple[IntArray, IntArray]:
    """The feasible trials, and the infeasible ones from the least violating to the most.

    :param violations: ``(n,)`` violations from :func:`violation`; a trial is feasible when its
        violation is ``<= 0``.
    :returns: ``(feasible, infeasible)``: the feasible indices ascending, and the infeasible
        indices by violation ascending, equal violations by index.
    """
    array = np.asarray(violations, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(
            f"violations must be a 1-D array, one per trial, got shape {array.shape}: "
            "compute them with violation(constraints)"
        )
    array = _as_violations(array, array.shape[0])
    feasible = array <= 0.0
    infeasible = np.flatnonzero(~feasible)
    order = np.argsort(array[infeasible], kind="stable")
    return np.flatnonzero(feasible).astype(np.int64), infeasible[order].astype(np.int64)


# --- hypervolume --------------------------------------------------------------------------------


def _hv2(points: FloatArray, ref: FloatArray) -> float:
    """Two objectives, points strictly inside the reference box: sort by x and sweep."""
    order = np.argsort(points[:, 0], kind="stable")
    x = points[order, 0]
    best_y = np.minimum.accumulate(points[order, 1])
    widths = np.append(x[1:], ref[0]) - x
    return float(widths @ (ref[1] - best_y))


def _hv3(points: FloatArray, ref: FloatArray) -> float:
    """Three objectives, points strictly inside the reference box.

    Slices along z: between the j-th and (j+1)-th smallest z the cross-section is the area that
    the j+1 lowest points dominate in (x, y). Each area is an x-sweep over all points sorted by
    x, where the points above the slice are moved to y = ref_y (no height); one cumulative
    minimum along x gives the areas of a block of slices at once.
    """
    n = points.shape[0]
    z_order = np.argsort(points[:, 2], kind="stable")
    z_rank = np.empty(n, dtype=np.int64)
    z_rank[z_order] = np.arange(n)
    x_order = np.argsort(points[:, 0], kind="stable")
    x = points[x_order, 0]
    widths = np.append(x[1:], ref[0]) - x
    y = points[x_order, 1]
    rank_by_x = z_rank[x_order]
    z = points[z_order, 2]
    thickness = np.append(z[1:], ref[2]) - z
    block = max(1, _HV3_BLOCK // n)
    total = 0.0
    for start in range(0, n, block):
        slices = np.arange(start, min(n, start + block))
        heights = np.where(rank_by_x[None, :] <= slices[:, None], y[None, :], ref[1])
        np.minimum.accumulate(heights, axis=1, out=heights)
        areas = (ref[1] - heights) @ widths
        total += float(thickness[slices] @ areas)
    return total


def _hv_sliced(points: FloatArray, ref: FloatArray) -> float:
    """Four or more objectives: slices along the last objective, each an exact volume in one
    objective fewer of the points below it (kept non-dominated as points are added)."""
    order = np.argsort(points[:, -1], kind="stable")
    last = points[order, -1]
    thickness = np.append(last[1:], ref[-1]) - last
    lower = points[order, :-1]
    lower_ref = ref[:-1]
    kept = np.empty((0, lower.shape[1]))
    volume = 0.0
    total = 0.0
    for j in range(len(order)):
        point = lower[j]
        if not np.all(kept <= point, axis=1).any():
            # The new point adds volume: drop the kept points it covers, then re-measure.
            kept = np.vstack([kept[~np.all(point <= kept, axis=1)], point])
            volume = _hv_inside(kept, lower_ref)
        total += float(thickness[j]) * volume
    return total


def _hv_inside(points: FloatArray, ref: FloatArray) -> float:
    """The exact hypervolume of points that are all strictly inside the reference box."""
    n, k = points.shape
    if n == 0:
        return 0.0
    if n == 1:
        return float(np.prod(ref - points[0]))
    if k == 1:
        return float(ref[0] - points[:, 0].min())
    if k == 2:
        return _hv2(points, ref)
    points = _nondominated_unique(points)
    if k == 3:
        return _hv3(points, ref)
    return _hv_sliced(points, ref)


def _inside(points: FloatArray, ref: FloatArray) -> BoolArray:
    inside: BoolArray = np.all(points < ref, axis=1)
    return inside


def hypervolume(points: npt.ArrayLike, reference: npt.ArrayLike) -> float:
    """The volume that the points dominate inside the box bounded by the reference point.

    Exact for any number of objectives: O(n log n) for two, O(n^2) for three, and about
    O(n^3) for four (n = a few hundred is fine). Points that are not strictly better than the
    reference in every objective add nothing; duplicates count once.

    :param points: ``(n, k)`` losses, all minimised; no NaN.
    :param reference: ``(k,)`` finite reference point.
    :returns: the hypervolume; ``inf`` when a point that counts has a ``-inf`` loss.
    """
    array = _as_points(points)
    ref = _as_reference(reference, array.shape[1])
    inside = array[_inside(array, ref)]
    if np.isinf(inside).any():
        return float("inf")
    return _hv_inside(inside, ref)


def hypervolume_contributions(points: npt.ArrayLike, reference: npt.ArrayLike) -> FloatArray:
    """The exclusive contribution of each point: how much the hypervolume drops without it.

    A dominated point, a point with an identical twin, and a point not strictly better than the
    reference in every objective all contribute 0.

    :param points: ``(n, k)`` losses, all minimised; no NaN and no ``-inf``.
    :param reference: ``(k,)`` finite reference point.
    :returns: ``(n,)`` contributions; their sum is at most :func:`hypervolume`.
    """
    array = _as_points(points)
    ref = _as_reference(reference, array.shape[1])
    if np.isneginf(array).any():
        raise ValueError(
            "points contain -inf: the contributions are undefined (infinite minus infinite); "
            "clip the losses to finite values first"
        )
    result = np.zeros(array.shape[0])
    candidates = np.flatnonzero(_inside(array, ref))
    if candidates.size == 0:
        return result
    unique, inverse, counts = np.unique(
        array[candidates], axis=0, return_inverse=True, return_counts=True
    )
    inverse = inverse.reshape(-1)
    on_front = ~_domination_matrix(unique).any(axis=0)
    front_ids = np.flatnonzero(on_front)
    contributions = np.zeros(front_ids.size)
    boxes = np.prod(ref - unique[front_ids], axis=1)
    for j, i in enumerate(front_ids):
        # What only this point covers: its box minus the other points' boxes limited to it.
        others = np.maximum(np.delete(unique, i, axis=0), unique[i])
        contributions[j] = boxes[j] - _hv_inside(others[_inside(others, ref)], ref)
    per_unique = np.zeros(unique.shape[0])
    per_unique[on_front] = np.maximum(contributions, 0.0)
    per_unique[counts > 1] = 0.0
    result[candidates] = per_unique[inverse]
    return result


# --- selections ---------------------------------------------------------------------------------


def _tie_break_reference(points: FloatArray) -> FloatArray:
    """Optuna's reference point for the tie-break: 10% beyond the worst value of each objective."""
    worst = points.max(axis=0)
    ref = np.maximum(1.1 * worst, 0.9 * worst)
    moved: FloatArray = np.where(ref > worst, ref, worst + _REFERENCE_EPS)
    return moved


def _greedy_subset(points: FloatArray, count: int) -> IntArray:
    """Greedy hypervolume subset selection: ``count`` local indices, in the order chosen.

    Each step keeps the point that adds the most hypervolume to the points already kept (the
    lowest index among gains equal to a relative 1e-9), as Optuna's ``_solve_hssp``. The
    reference point is :func:`_tie_break_reference`. With two objectives every gain is computed
    each step, in one batch; with more, gains only shrink as points are kept (submodularity), so
    a candidate is re-measured only while its last gain could still beat or tie the best one
    found this step.
    """
    m, k = points.shape
    if count >= m:
        return np.arange(m, dtype=np.int64)
    if not np.isfinite(points).all():
        # No finite reference point: keep the first ones, as Optuna does.
        return np.arange(count, dtype=np.int64)
    ref = _tie_break_reference(points)
    gains = np.prod(ref - points, axis=1)
    available = np.ones(m, dtype=bool)
    chosen: list[int] = []
    for step in range(count):
        if step > 0:
            kept = points[chosen]
            if k == 2:
                candidates = np.flatnonzero(available)
                gains[candidates] = _gains_2d(points[candidates], kept, ref)
            else:
                _update_gains_lazily(points, kept, ref, gains, available)
        masked = np.where(available, gains, -np.inf)
        best = int(np.argmax(masked >= _tie_threshold(float(masked.max()))))
        chosen.append(best)
        available[best] = False
    return np.array(chosen, dtype=np.int64)


def _gains_2d(candidates: FloatArray, kept: FloatArray, ref: FloatArray) -> FloatArray:
    """The area each candidate adds to ``kept`` (two objectives), all candidates at once."""
    # The area a candidate adds is its box minus the area of the kept points limited to it.
    limited = np.maximum(kept[None, :, :], candidates[:, None, :])
    order = np.argsort(limited[:, :, 0], axis=1, kind="stable")
    x = np.take_along_axis(limited[:, :, 0], order, axis=1)
    best_y = np.minimum.accumulate(np.take_along_axis(limited[:, :, 1], order, axis=1), axis=1)
    widths = np.concatenate([x[:, 1:], np.full((x.shape[0], 1), ref[0])], axis=1) - x
    covered = np.sum(widths * (ref[1] - best_y), axis=1)
    boxes = np.prod(ref - candidates, axis=1)
    gains: FloatArray = np.maximum(boxes - covered, 0.0)
    return gains


def _update_gains_lazily(
    points: FloatArray, kept: FloatArray, ref: FloatArray, gains: FloatArray, available: BoolArray
) -> None:
    """Re-measure the gains (in place) of the candidates that could still be the best."""
    candidates = np.flatnonzero(available)
    # Highest stale gain first, lower index first among equals.
    order = candidates[np.lexsort((candidates, -gains[candidates]))]
    best = -np.inf
    for i in order:
        if gains[i] < _tie_threshold(best):
            break
        limited = np.maximum(kept, points[i])
        limited = limited[_inside(limited, ref)]
        gains[i] = max(float(np.prod(ref - points[i])) - _hv_inside(limited, ref), 0.0)
        best = max(best, float(gains[i]))
    # The candidates not re-measured keep stale gains below the tie threshold of ``best``: they
    # can neither win nor tie.


def _tie_threshold(best: float) -> float:
    """The smallest gain that ties with ``best``: gains equal up to rounding (symmetric points
    measured in a different order) tie, and ties go to the lowest index."""
    return best - _TIE_TOLERANCE * abs(best)


def select_best(points: npt.ArrayLike, violations: npt.ArrayLike | None, count: int) -> IntArray:
    """The ``count`` best trials, best first: the "good" set of multi-objective TPE.

    Feasible trials come first, by non-dominated rank (rank r before rank r+1, each whole rank
    by index); the first rank that does not fit whole is cut by greedy hypervolume subset
    selection (see :func:`_greedy_subset`; with a non-finite loss in that rank, by index).
    Infeasible trials follow, by violation ascending, then by index. The result is
    deterministic.

    :param points: ``(n, k)`` losses, all minimised. Only the feasible rows are read, and they
        must not be NaN.
    :param violations: ``(n,)`` violations from :func:`violation`, or ``None`` when every trial
        is feasible.
    :param count: how many trials to select; at most ``n`` are returned.
    :returns: ``(min(count, n),)`` distinct indices, in order of preference.
    """
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2:
        _as_points(array)
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    n = array.shape[0]
    feasible, infeasible = feasible_order(_as_violations(violations, n))
    count = min(count, n)
    feasible_points = _as_points(array[feasible], "the feasible rows of points")
    if count <= feasible.size:
        if count == 0:
            return np.empty(0, dtype=np.int64)
        ranks = nondominated_ranks(feasible_points)
        by_rank = np.argsort(ranks, kind="stable")
        cut_rank = ranks[by_rank[count - 1]]
        whole = by_rank[ranks[by_rank] < cut_rank]
        last = np.flatnonzero(ranks == cut_rank)
        kept = last[_greedy_subset(feasible_points[last], count - whole.size)]
        selected: IntArray = feasible[np.concatenate([whole, kept])].astype(np.int64)
        return selected
    ranks = nondominated_ranks(feasible_points) if feasible.size else np.empty(0, np.int64)
    best_feasible = feasible[np.argsort(ranks, kind="stable")]
    return np.concatenate([best_feasible, infeasible[: count - feasible.size]]).astype(np.int64)


def front_of(points: npt.ArrayLike, violations: npt.ArrayLike | None) -> IntArray:
    """The best trials a user sees: the Pareto front of the feasible trials.

    When no trial is feasible, the trials of least violation instead (all that tie; with every
    violation ``+inf``, all trials).

    :param points: ``(n, k)`` losses, all minimised. Only the feasible rows are read.
    :param violations: ``(n,)`` violations from :func:`violation`, or ``None`` when every trial
        is feasible.
    :returns: ascending indices.
    """
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2:
        _as_points(array)
    n = array.shape[0]
    total = _as_violations(violations, n)
    feasible, infeasible = feasible_order(total)
    if feasible.size:
        return feasible[pareto_front(_as_points(array[feasible], "the feasible rows of points"))]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    least = total[infeasible[0]]
    return np.flatnonzero(total == least).astype(np.int64)
