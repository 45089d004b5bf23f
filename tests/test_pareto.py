"""Pareto bookkeeping (asynchpo._pareto): dominance, non-dominated ranks, exact hypervolumes and
contributions, and the two selections (TPE's good set, the front a user sees)."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asynchpo._pareto import (
    dominates,
    feasible_order,
    front_of,
    hypervolume,
    hypervolume_contributions,
    nondominated_ranks,
    pareto_front,
    select_best,
    violation,
)

FloatArray = npt.NDArray[np.float64]

# --- strategies and oracles ---------------------------------------------------------------------


@st.composite
def point_sets(
    draw: st.DrawFn, min_k: int = 1, max_k: int = 4, min_n: int = 0, max_n: int = 12
) -> FloatArray:
    """Small sets of points on a coarse grid (so ties and duplicates are common) or not."""
    k = draw(st.integers(min_k, max_k))
    n = draw(st.integers(min_n, max_n))
    coarse = draw(st.booleans())
    values = st.integers(0, 4).map(float) if coarse else st.floats(0.0, 10.0, width=32)
    rows = draw(st.lists(st.lists(values, min_size=k, max_size=k), min_size=n, max_size=n))
    return np.array(rows, dtype=np.float64).reshape(n, k)


def grid_volume(points: FloatArray, ref: FloatArray) -> float:
    """Exact hypervolume by brute force: cut space at every coordinate and add up the cells that
    some point dominates."""
    inside = points[np.all(points < ref, axis=1)]
    if inside.shape[0] == 0:
        return 0.0
    k = points.shape[1]
    cuts = [np.unique(np.append(inside[:, m], ref[m])) for m in range(k)]
    lows = np.stack(np.meshgrid(*[c[:-1] for c in cuts], indexing="ij"), axis=-1).reshape(-1, k)
    widths = np.meshgrid(*[np.diff(c) for c in cuts], indexing="ij")
    sizes = np.stack(widths, axis=-1).reshape(-1, k)
    covered = np.any(np.all(inside[None, :, :] <= lows[:, None, :], axis=2), axis=1)
    return float(np.sum(np.prod(sizes[covered], axis=1)))


def tie_break_reference(points: FloatArray) -> FloatArray:
    worst = points.max(axis=0)
    ref = np.maximum(1.1 * worst, 0.9 * worst)
    moved: FloatArray = np.where(ref > worst, ref, worst + 1e-12)
    return moved


def gain(points: FloatArray, kept: list[int], i: int, ref: FloatArray) -> float:
    base = hypervolume(points[kept], ref) if kept else 0.0
    return hypervolume(points[[*kept, i]], ref) - base


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


# --- dominance ----------------------------------------------------------------------------------


def test_dominates() -> None:
    assert dominates([1, 2], [1, 3])
    assert dominates([0, 0, 0], [1, 1, 1])
    assert not dominates([1, 2], [1, 2])  # identical: no strict improvement
    assert not dominates([1, 3], [2, 2])
    assert not dominates([2, 2], [1, 3])
    assert not dominates([np.nan, 0], [1, 1])
    with pytest.raises(ValueError, match="same length"):
        dominates([1, 2], [1, 2, 3])


def test_ranks_by_hand() -> None:
    points = np.array([[1, 3], [2, 2], [3, 1], [2, 3], [3, 3], [2, 2], [4, 4], [0, 5]], float)
    assert nondominated_ranks(points).tolist() == [0, 0, 0, 1, 2, 0, 3, 0]
    assert pareto_front(points).tolist() == [0, 1, 2, 5, 7]
    assert nondominated_ranks(np.array([[3.0], [1.0], [2.0], [1.0]])).tolist() == [2, 0, 1, 0]
    assert nondominated_ranks(np.empty((0, 2))).tolist() == []
    assert pareto_front(np.empty((0, 3))).tolist() == []
    assert nondominated_ranks(np.array([[np.inf, 0.0], [0.0, np.inf], [1.0, 1.0]])).tolist() == [
        0,
        0,
        0,
    ]


@settings(max_examples=150, deadline=None)
@given(point_sets())
def test_rank_properties(points: FloatArray) -> None:
    ranks = nondominated_ranks(points)
    assert ranks.shape == (len(points),)
    assert pareto_front(points).tolist() == np.flatnonzero(ranks == 0).tolist()
    if len(points):
        assert set(ranks.tolist()) == set(range(int(ranks.max()) + 1))
    for j, r in enumerate(ranks):
        dominators = [i for i in range(len(points)) if dominates(points[i], points[j])]
        # No point is dominated by a point of the same rank or worse.
        assert all(ranks[i] < r for i in dominators)
        if r > 0:
            assert any(ranks[i] == r - 1 for i in dominators)
        else:
            assert not dominators


def test_bad_points_are_refused() -> None:
    with pytest.raises(ValueError, match="NaN losses in row"):
        nondominated_ranks(np.array([[1.0, 2.0], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match="2-D array"):
        nondominated_ranks(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="no objective columns"):
        pareto_front(np.empty((3, 0)))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        hypervolume(np.ones((2, 2)), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        hypervolume(np.ones((2, 2)), [np.inf, 2.0])
    with pytest.raises(ValueError, match="-inf"):
        hypervolume_contributions(np.array([[-np.inf, 0.0]]), [1.0, 1.0])


# --- hypervolume by hand ------------------------------------------------------------------------


def test_hypervolume_by_hand() -> None:
    staircase = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(staircase, [4.0, 4.0]) == pytest.approx(6.0)
    # A single point: the product of its distances to the reference.
    assert hypervolume([[1.0, 2.0, 3.0]], [2.0, 4.0, 7.0]) == pytest.approx(1 * 2 * 4)
    assert hypervolume([[0.5, 0.5, 0.5, 0.5]], [1.0, 2.0, 3.0, 4.0]) == pytest.approx(
        0.5 * 1.5 * 2.5 * 3.5
    )
    # The three unit corners in 3-D: 3 boxes of 4, pairwise overlaps of 2, triple overlap of 1.
    assert hypervolume(np.eye(3), [2.0, 2.0, 2.0]) == pytest.approx(3 * 4 - 3 * 2 + 1)
    # In 4-D: 4 boxes of 8, 6 pairs of 4, 4 triples of 2, one quadruple of 1.
    assert hypervolume(np.eye(4), np.full(4, 2.0)) == pytest.approx(32 - 24 + 8 - 1)
    # The points of a 3x3x3 grid: the union of their boxes is the whole box of the lowest one.
    grid = np.array(list(itertools.product(range(3), repeat=3)), dtype=float)
    assert hypervolume(grid, [3.0, 3.0, 3.0]) == pytest.approx(27.0)
    # The staircase {x + y + z = 2} on the integer grid, reference (3, 3, 3): 27 cells, minus
    # those with x + y + z < 2 (not dominated): the cells with a lower corner summing to >= 2.
    stair3 = np.array([p for p in itertools.product(range(3), repeat=3) if sum(p) == 2], float)
    expected = sum(1 for c in itertools.product(range(3), repeat=3) if sum(c) >= 2)
    assert hypervolume(stair3, [3.0, 3.0, 3.0]) == pytest.approx(expected)
    # Duplicates count once; points not strictly inside the reference add nothing.
    assert hypervolume(np.vstack([staircase, staircase, [[1.0, 3.0]]]), [4, 4]) == 6.0
    assert hypervolume([[4.0, 0.0], [0.0, 5.0], [1.0, 3.0]], [4.0, 4.0]) == pytest.approx(3.0)
    assert hypervolume(np.empty((0, 3)), [1.0, 1.0, 1.0]) == 0.0
    assert hypervolume([[2.0], [1.0]], [3.0]) == pytest.approx(2.0)
    assert hypervolume([[-np.inf, 0.0]], [1.0, 1.0]) == np.inf


def test_contributions_by_hand() -> None:
    staircase = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.0, 3.0], [5.0, 0.0]])
    assert hypervolume_contributions(staircase, [4.0, 4.0]).tolist() == [1.0, 1.0, 1.0, 0, 0]
    twins = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.0, 2.0, 2.0]])
    contributions = hypervolume_contributions(twins, [3.0, 3.0, 3.0])
    assert contributions[:2].tolist() == [0.0, 0.0]
    assert contributions[2] == pytest.approx(3 * 1 * 1 - 2 * 1 * 1)
    assert hypervolume_contributions(np.eye(4), np.full(4, 2.0)) == pytest.approx(
        np.full(4, (32 - 24 + 8 - 1) - (24 - 12 + 2))
    )


# --- hypervolume properties ---------------------------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(point_sets(max_n=8))
def test_hypervolume_is_exact(points: FloatArray) -> None:
    ref = np.full(points.shape[1], 4.5)
    assert close(hypervolume(points, ref), grid_volume(points, ref))


@settings(max_examples=80, deadline=None)
@given(point_sets(min_k=2, min_n=1), st.data())
def test_hypervolume_invariances(points: FloatArray, data: st.DataObject) -> None:
    ref = np.full(points.shape[1], 4.5)
    volume = hypervolume(points, ref)
    permutation = data.draw(st.permutations(range(len(points))))
    assert close(hypervolume(points[permutation], ref), volume)
    doubled = np.vstack([points, points[: data.draw(st.integers(1, len(points)))]])
    assert close(hypervolume(doubled, ref), volume)
    extra = data.draw(st.lists(st.floats(0.0, 6.0), min_size=points.shape[1], max_size=3 * 4))
    added = np.vstack([points, np.array(extra[: points.shape[1]])[None, :]])
    assert hypervolume(added, ref) >= volume - 1e-9 * max(1.0, volume)


@settings(max_examples=80, deadline=None)
@given(point_sets(min_k=2, min_n=1, max_n=8))
def test_contributions_are_exclusive(points: FloatArray) -> None:
    ref = np.full(points.shape[1], 4.5)
    volume = hypervolume(points, ref)
    contributions = hypervolume_contributions(points, ref)
    assert np.all(contributions >= 0.0)
    assert contributions.sum() <= volume + 1e-9 * max(1.0, volume)
    for i in range(len(points)):
        without = hypervolume(np.delete(points, i, axis=0), ref)
        assert close(contributions[i], volume - without)


@pytest.mark.parametrize(("k", "seed"), [(3, 0), (3, 1), (4, 2), (4, 3)])
def test_hypervolume_matches_monte_carlo(k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Points near the unit sphere's positive orthant: mostly mutually non-dominated.
    points = np.abs(rng.normal(size=(25, k)))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    points = np.vstack([points, rng.uniform(0.3, 1.2, size=(15, k))])
    ref = np.full(k, 1.2)
    samples = rng.uniform(0.0, 1.2, size=(200_000, k))
    covered = np.zeros(len(samples), dtype=bool)
    for point in points:
        covered |= np.all(samples >= point, axis=1)
    box = 1.2**k
    estimate = box * covered.mean()
    sigma = box * np.sqrt(covered.mean() * (1 - covered.mean()) / len(samples))
    assert abs(hypervolume(points, ref) - estimate) < 5 * sigma


def test_hypervolume_is_fast_enough_at_four_objectives() -> None:
    rng = np.random.default_rng(7)
    points = np.abs(rng.normal(size=(300, 4)))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    assert 0.0 < hypervolume(points, np.full(4, 1.1)) < 1.1**4


# --- constraints --------------------------------------------------------------------------------


def test_violation() -> None:
    constraints = np.array([[-1.0, 0.0], [0.5, -2.0], [1.0, 2.0], [np.nan, -1.0], [np.inf, 0.0]])
    assert violation(constraints).tolist() == [0.0, 0.5, 3.0, np.inf, np.inf]
    assert violation(None, n=3).tolist() == [0.0, 0.0, 0.0]
    assert violation(np.empty((2, 0))).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="n=n_trials"):
        violation(None)
    with pytest.raises(ValueError, match=r"values\[:, None\]"):
        violation(np.array([1.0, 2.0]))


def test_feasible_order() -> None:
    feasible, infeasible = feasible_order(np.array([2.0, 0.0, np.inf, 1.0, 0.0, 1.0]))
    assert feasible.tolist() == [1, 4]
    assert infeasible.tolist() == [3, 5, 0, 2]
    with pytest.raises(ValueError, match="NaN"):
        feasible_order(np.array([0.0, np.nan]))


# --- selections ---------------------------------------------------------------------------------


def test_select_best_by_hand() -> None:
    points = np.array(
        [[3.0, 3.0], [1.0, 4.0], [2.0, 2.0], [4.0, 1.0], [0.0, 0.0], [2.5, 2.5], [9.0, 9.0]]
    )
    violations = np.array([0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 1.0])
    # Feasible fronts: {1, 2, 3}, then {5}, then {0}; then infeasible 6 (1.0) and 4 (5.0).
    assert select_best(points, violations, 7).tolist() == [1, 2, 3, 5, 0, 6, 4]
    assert select_best(points, violations, 5).tolist() == [1, 2, 3, 5, 0]
    assert select_best(points, violations, 100).tolist() == [1, 2, 3, 5, 0, 6, 4]
    assert select_best(points, violations, 0).tolist() == []
    # Two of {1, 2, 3}: the middle point adds the most area first.
    assert select_best(points, violations, 1).tolist() == [2]
    assert len(select_best(points, violations, 2)) == 2
    # NaN losses of infeasible trials are never read.
    points[4] = np.nan
    assert select_best(points, violations, 7).tolist() == [1, 2, 3, 5, 0, 6, 4]
    with pytest.raises(ValueError, match="count must be >= 0"):
        select_best(points, violations, -1)
    with pytest.raises(ValueError, match="feasible rows of points"):
        select_best(points, None, 3)


@settings(max_examples=120, deadline=None)
@given(point_sets(min_n=1), st.data())
def test_select_best_properties(points: FloatArray, data: st.DataObject) -> None:
    n = len(points)
    violations = np.array(
        data.draw(st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0, np.inf]), min_size=n, max_size=n))
    )
    count = data.draw(st.integers(0, n + 2))
    chosen = select_best(points, violations, count)
    assert len(chosen) == min(count, n)
    assert len(set(chosen.tolist())) == len(chosen)
    assert chosen.tolist() == select_best(points, violations, count).tolist()
    feasible = violations[chosen] == 0.0
    # Every feasible pick before any infeasible one, and as many feasible ones as possible.
    assert not np.any(np.diff(feasible.astype(int)) > 0)
    assert feasible.sum() == min(len(chosen), int(np.sum(violations == 0.0)))
    feasible_ids = np.flatnonzero(violations == 0.0)
    ranks = np.full(n, -1)
    if feasible_ids.size:
        ranks[feasible_ids] = nondominated_ranks(points[feasible_ids])
    picked_ranks = ranks[chosen[feasible]]
    assert np.all(np.diff(picked_ranks) >= 0)
    # A rank is cut only when it is the last one reached; every better rank is taken whole.
    if picked_ranks.size:
        assert np.sum(ranks >= 0) == 0 or all(
            np.sum(ranks == r) == np.sum(picked_ranks == r) for r in range(int(picked_ranks[-1]))
        )
    infeasible = violations[chosen[~feasible]]
    assert np.all(infeasible[1:] >= infeasible[:-1])


@settings(max_examples=60, deadline=None)
@given(point_sets(min_k=2, min_n=2, max_n=9), st.data())
def test_select_best_cuts_a_front_by_greedy_hypervolume(
    points: FloatArray, data: st.DataObject
) -> None:
    front = points[pareto_front(points)]
    count = data.draw(st.integers(1, len(front)))
    chosen = select_best(front, None, count).tolist()
    if count == len(front):
        assert chosen == list(range(count))  # a whole rank, by index
        return
    # Each pick adds the most hypervolume to the picks before it (up to rounding).
    ref = tie_break_reference(front)
    for step, pick in enumerate(chosen):
        gains = [gain(front, chosen[:step], i, ref) for i in range(len(front))]
        best = max(g for i, g in enumerate(gains) if i not in chosen[:step])
        assert gains[pick] >= best - 1e-9 * abs(best)


def test_select_best_is_deterministic_on_ties() -> None:
    # Four identical points, and a symmetric front: equal gains go to the lowest index.
    assert select_best(np.ones((4, 2)), None, 2).tolist() == [0, 1]
    symmetric = np.array([[0.0, 2.0], [2.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    assert select_best(symmetric, None, 3).tolist() == [2, 0, 1]


def test_front_of() -> None:
    points = np.array([[1.0, 1.0], [0.0, 2.0], [2.0, 0.0], [0.0, 0.0], [1.0, 1.0], [3.0, 3.0]])
    assert front_of(points, None).tolist() == [3]
    violations = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    assert front_of(points, violations).tolist() == [0, 1, 2, 4]
    none_feasible = np.array([2.0, 1.0, 3.0, 1.0, np.inf, 5.0])
    assert front_of(points, none_feasible).tolist() == [1, 3]
    assert front_of(points, np.full(6, np.inf)).tolist() == [0, 1, 2, 3, 4, 5]
    assert front_of(np.empty((0, 2)), None).tolist() == []


@settings(max_examples=100, deadline=None)
@given(point_sets(min_n=1), st.data())
def test_front_of_prefers_feasible(points: FloatArray, data: st.DataObject) -> None:
    n = len(points)
    violations = np.array(
        data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, np.inf]), min_size=n, max_size=n))
    )
    front = front_of(points, violations)
    assert front.size > 0
    if np.any(violations == 0.0):
        assert np.all(violations[front] == 0.0)
        feasible = np.flatnonzero(violations == 0.0)
        for j in front:
            assert not any(dominates(points[i], points[j]) for i in feasible)
    else:
        assert np.all(violations[front] == violations.min())
