"""Multi-objective TPE at the suggester seam: histories with several objectives and with
constraints, before any study carries them. The split is the one of ``_suggesters/_multi.py``:
the good set by non-dominated sorting and hypervolume, feasible trials first."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from asynchpo import compile_space, hp, rand, tpe
from asynchpo._pareto import front_of, hypervolume, select_best
from asynchpo._space import Space
from asynchpo._suggesters._base import FloatArray, History, objectives_supported, trial_rng
from asynchpo._suggesters._multi import as_one_order, is_single

D = 6
SPACE = compile_space({f"x{i}": hp.uniform(f"x{i}", 0, 1) for i in range(D)})


def zdt1(x: FloatArray) -> tuple[float, float]:
    """ZDT1 on [0, 1]^D: the front is f2 = 1 - sqrt(f1), reached where x1.. = 0."""
    g = 1 + 9 * float(np.mean(x[1:]))
    f1 = float(x[0])
    return f1, g * (1 - math.sqrt(f1 / g))


def _history(
    rows: list[FloatArray], values: list[tuple[float, ...]], violations: list[float] | None
) -> History:
    n = len(rows)
    objectives = np.array(values, dtype=float).reshape(n, -1)
    return History(
        rows=np.array(rows, dtype=float).reshape(n, D),
        losses=objectives[:, 0].copy(),
        ids=np.arange(n, dtype=np.int64),
        pruned=np.zeros(n, dtype=bool),
        objectives=objectives,
        violations=None if violations is None else np.array(violations, dtype=float),
    )


def _search(
    algo: Callable[..., FloatArray],
    space: Space,
    evaluate: Callable[[FloatArray], tuple[tuple[float, ...], float | None]],
    n: int,
    seed: int,
) -> History:
    rows: list[FloatArray] = []
    values: list[tuple[float, ...]] = []
    violations: list[float] = []
    constrained = False
    for trial in range(n):
        history = _history(rows, values, violations if constrained else None) if rows else None
        if history is None:
            history = History(
                rows=np.empty((0, D)),
                losses=np.empty(0),
                ids=np.empty(0, np.int64),
                pruned=np.empty(0, bool),
                objectives=np.empty((0, 2)),
            )
        row = algo(space, history, np.empty((0, D)), trial_rng(seed, trial))
        value, violation = evaluate(row)
        rows.append(row)
        values.append(value)
        if violation is not None:
            constrained = True
        violations.append(0.0 if violation is None else violation)
    return _history(rows, values, violations if constrained else None)


def test_the_order_puts_the_hypervolume_choice_first_and_failures_nowhere() -> None:
    rng = np.random.default_rng(0)
    n = 60
    objectives = rng.random((n, 2))
    objectives[5] = np.nan  # a failed trial
    losses = objectives[:, 0].copy()
    history = History(
        rows=rng.random((n, D)),
        losses=losses,
        ids=np.arange(n, dtype=np.int64),
        pruned=np.zeros(n, dtype=bool),
        objectives=objectives,
    )
    ordered = as_one_order(history, 9)
    ok = np.flatnonzero(~np.isnan(losses))
    assert np.isnan(ordered.losses[5])
    assert sorted(ordered.losses[ok]) == list(range(n - 1))
    top = ok[select_best(objectives[ok], None, 9)]
    assert sorted(np.argsort(ordered.losses)[:9]) == sorted(top)
    assert ordered.origin is None
    assert not ordered.losses.flags.writeable


def test_one_objective_under_constraints_ranks_feasible_trials_first() -> None:
    losses = np.array([0.1, 0.5, 0.3, 0.9, 0.2])
    violations = np.array([2.0, 0.0, 0.0, 0.5, 0.0])
    history = History(
        rows=np.zeros((5, D)),
        losses=losses,
        ids=np.arange(5, dtype=np.int64),
        pruned=np.zeros(5, dtype=bool),
        objectives=losses.reshape(5, 1),
        violations=violations,
    )
    assert not is_single(history)
    # Feasible 4 (0.2), 2 (0.3), 1 (0.5); then infeasible 3 (0.5 violated), 0 (2.0).
    assert list(np.argsort(as_one_order(history, 2).losses)) == [4, 2, 1, 3, 0]


def test_a_single_objective_history_is_left_alone() -> None:
    losses = np.array([0.3, 0.1])
    plain = History(np.zeros((2, D)), losses, np.arange(2, dtype=np.int64), np.zeros(2, bool))
    one = History(
        plain.rows,
        losses,
        plain.ids,
        plain.pruned,
        objectives=losses.reshape(2, 1),
        violations=np.zeros(2),
    )
    assert is_single(plain)
    assert is_single(one)


def test_tpe_and_random_search_declare_several_objectives() -> None:
    import functools

    from asynchpo import anneal

    assert objectives_supported(tpe.suggest)
    assert objectives_supported(functools.partial(tpe.suggest, gamma=0.2))
    assert objectives_supported(rand.suggest)
    assert not objectives_supported(anneal.suggest)


@pytest.mark.timeout(120)
def test_mo_tpe_finds_a_better_front_than_random_search_on_zdt1() -> None:
    reference = np.array([1.1, 11.0])

    def evaluate(row: FloatArray) -> tuple[tuple[float, ...], float | None]:
        return zdt1(row), None

    scores: dict[str, list[float]] = {"tpe": [], "rand": []}
    for seed in range(5):
        for name, algo in (("tpe", tpe.suggest), ("rand", rand.suggest)):
            history = _search(algo, SPACE, evaluate, 80, seed)
            assert history.objectives is not None
            scores[name].append(hypervolume(history.objectives, reference))
    assert np.median(scores["tpe"]) > np.median(scores["rand"]), scores


@pytest.mark.timeout(120)
def test_constraints_steer_the_search_to_the_feasible_half() -> None:
    # Feasible only where x0 <= 0.5 (half the space); the front is then cut at f1 = 0.5.
    def evaluate(row: FloatArray) -> tuple[tuple[float, ...], float | None]:
        return zdt1(row), max(0.0, float(row[0]) - 0.5)

    shares = []
    for seed in range(3):
        history = _search(tpe.suggest, SPACE, evaluate, 80, seed)
        assert history.violations is not None
        late = history.violations[-40:]
        shares.append(float(np.mean(late <= 0)))
        # The front a user sees holds feasible trials only.
        assert history.objectives is not None
        front = front_of(history.objectives, history.violations)
        assert np.all(history.violations[front] <= 0)
    # Random search keeps about half its trials feasible; TPE learns where they are.
    assert np.median(shares) >= 0.75, shares
