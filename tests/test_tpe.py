"""TPE: pending and failed trials, conditional spaces, no repeats, its cache and options (the
suggester contract for TPE is in test_suggesters.py)."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest

from asynchpo import ConfigError, Trials, compile_space, fmin_sync, hp, rand, tpe
from asynchpo._suggesters._base import History, HistoryBuffer, algo_name, trial_rng


def make_history(space: Any, rows: np.ndarray, losses: list[float]) -> History:
    buffer = HistoryBuffer(rows.shape[1], capacity=4)
    for i, (row, loss) in enumerate(zip(rows, losses, strict=True)):
        buffer.append(i, row, None if math.isnan(loss) else loss)
    return buffer.snapshot()


def quadratic_history(n: int, seed: int) -> tuple[Any, History]:
    space = compile_space({"x": hp.uniform("x", 0, 1)})
    rng = np.random.default_rng(seed)
    xs = rng.random(n)
    return space, make_history(space, xs[:, None], list((xs - 0.3) ** 2))


def near(rows: list[np.ndarray], centre: float, width: float) -> int:
    return sum(abs(float(r[0]) - centre) < width for r in rows)


def test_pending_points_are_repelled() -> None:
    space, history = quadratic_history(40, seed=3)
    pending = np.full((6, 1), 0.3)  # six trials running at the optimum
    empty = np.empty((0, 1))

    def draws(algo: Any, pend: np.ndarray) -> list[np.ndarray]:
        return [algo(space, history, pend, trial_rng(4, i)) for i in range(300)]

    lying = functools.partial(tpe.suggest, constant_liar=True)
    alone = draws(lying, empty)
    liar = draws(lying, pending)
    ignored = draws(tpe.TPE(constant_liar=False), pending)
    # Without the liar the pending points change nothing at all.
    assert all(np.array_equal(a, b) for a, b in zip(alone, ignored, strict=True))
    # With it, far fewer suggestions land on top of the running ones.
    assert near(liar, 0.3, 0.02) < 0.5 * near(alone, 0.3, 0.02)
    assert near(alone, 0.3, 0.02) > 60


def test_the_default_lies_in_a_finite_space_and_only_there() -> None:
    """constant_liar="auto": pending points go into g in a grid, not in a continuous space."""
    grid = compile_space(
        {"x": hp.quniform("x", 0, 1, 0.05), "opt": hp.choice("opt", ["a", "b", "c"])}
    )
    rng = np.random.default_rng(7)
    rows = grid.sample(rng, 40)
    history = make_history(grid, rows, [float((r[0] - 0.3) ** 2 + r[1]) for r in rows])
    pending = np.array([[0.3, 0.0]] * 6)  # six trials running at the optimum

    def draws(algo: Any, space: Any, hist: History, pend: np.ndarray) -> list[np.ndarray]:
        return [algo(space, hist, pend, trial_rng(8, i)) for i in range(200)]

    lying, honest = tpe.TPE(constant_liar=True), tpe.TPE(constant_liar=False)
    default = draws(tpe.suggest, grid, history, pending)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(default, draws(lying, grid, history, pending), strict=True)
    )
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(default, draws(honest, grid, history, pending), strict=True)
    )
    space, continuous = quadratic_history(40, seed=3)  # x in [0, 1], continuous
    running = np.full((6, 1), 0.3)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(
            draws(tpe.suggest, space, continuous, running),
            draws(honest, space, continuous, running),
            strict=True,
        )
    )
    assert tpe.TPE().algo_name == "tpe"
    assert tpe.TPE(constant_liar=False).algo_name == "tpe(constant_liar=False)"
    for wrong in ("yes", 1, None):
        with pytest.raises(TypeError, match='constant_liar must be True, False or "auto"'):
            tpe.TPE(constant_liar=wrong)  # type: ignore[arg-type]


def test_failed_trials_are_repelled_unless_ignored() -> None:
    space = compile_space({"x": hp.uniform("x", 0, 1)})
    rng = np.random.default_rng(5)
    xs = rng.random(40)
    losses = list((xs - 0.3) ** 2)
    failed_xs = np.full(8, 0.32)  # a region near the optimum where the objective crashes
    rows = np.concatenate([xs, failed_xs])[:, None]
    history = make_history(space, rows, losses + [math.nan] * 8)
    empty = np.empty((0, 1))
    repelled = [tpe.suggest(space, history, empty, trial_rng(6, i)) for i in range(300)]
    ignoring = functools.partial(tpe.suggest, failed="ignore")
    ignored = [ignoring(space, history, empty, trial_rng(6, i)) for i in range(300)]
    assert near(repelled, 0.32, 0.02) < 0.6 * near(ignored, 0.32, 0.02)


def best_losses(algo: Any, objective: Any, space: Any, evals: int, seeds: range) -> list[float]:
    out = []
    for seed in seeds:
        trials = Trials()
        fmin_sync(objective, space, algo=algo, max_evals=evals, seed=seed, trials=trials)
        out.append(min(loss for loss in trials.losses() if loss is not None))
    return out


def test_tpe_finds_the_optimum_far_better_than_random_search() -> None:
    space = {"x": hp.uniform("x", -10, 10), "y": hp.uniform("y", -10, 10)}

    def bowl(params: dict[str, float]) -> float:
        return (params["x"] - 3.0) ** 2 + (params["y"] + 2.0) ** 2

    # Seeded, so the outcome is fixed; the margin (10x on the median) is far from the edge.
    modelled = best_losses(tpe.suggest, bowl, space, 60, range(8))
    randomly = best_losses(rand.suggest, bowl, space, 60, range(8))
    assert np.median(modelled) < np.median(randomly) / 10


CONDITIONAL = {
    "model": hp.choice(
        "model",
        [
            # Listed first and easy: good early, but its floor is 1.0.
            {"kind": "wide", "a": hp.uniform("a", -5, 5)},
            # The best branch: a narrow basin down to 0.
            {"kind": "narrow", "b": hp.uniform("b", -5, 5), "c": hp.uniform("c", -5, 5)},
            {"kind": "poor", "d": hp.uniform("d", -5, 5)},
        ],
    )
}


def conditional_loss(params: dict[str, Any]) -> float:
    model = params["model"]
    if model["kind"] == "wide":
        return float(1.0 + 0.02 * model["a"] ** 2)
    if model["kind"] == "narrow":
        return float(0.3 * ((model["b"] - 1.5) ** 2 + (model["c"] + 0.5) ** 2))
    return float(3.0 + 0.1 * model["d"] ** 2)


def test_conditional_space_reaches_the_best_branch() -> None:
    losses = best_losses(tpe.suggest, conditional_loss, CONDITIONAL, 80, range(10))
    # A loss below 1.0 exists only in the second branch.
    assert sum(loss < 1.0 for loss in losses) >= 9
    randomly = best_losses(rand.suggest, conditional_loss, CONDITIONAL, 80, range(10))
    assert np.median(losses) < np.median(randomly) / 5


def test_children_are_sampled_only_on_their_branch() -> None:
    trials = Trials()
    fmin_sync(conditional_loss, CONDITIONAL, algo=tpe.suggest, max_evals=40, seed=7, trials=trials)
    for record in trials.records:
        branch = record.params["model"]
        expected = {0: {"a"}, 1: {"b", "c"}, 2: {"d"}}[int(branch)]
        assert set(record.params) == {"model"} | expected


def test_no_repeats_in_a_small_discrete_space() -> None:
    space = {"a": hp.choice("a", ["x", "y", "z", "w"]), "b": hp.randint("b", 5)}
    seen: list[tuple[str, int]] = []

    def objective(params: dict[str, Any]) -> float:
        seen.append((params["a"], params["b"]))
        return float(params["b"]) + float(params["a"] == "z")

    algo = functools.partial(tpe.suggest, n_startup_jobs=4)
    fmin_sync(objective, space, algo=algo, max_evals=20, seed=8, concurrency=3)
    assert len(seen) == 20
    assert len(set(seen)) == 20  # all 20 points, none twice


def test_options_are_checked_and_named() -> None:
    with pytest.raises(ConfigError, match=r"gamma must be a number in \(0, 1\]"):
        tpe.TPE(gamma=0)
    with pytest.raises(ConfigError, match="n_EI_candidates must be a whole number >= 1"):
        tpe.TPE(n_EI_candidates=0)
    with pytest.raises(ConfigError, match="split must be 'group' or 'global'"):
        tpe.TPE(split="branch")  # type: ignore[arg-type]
    space, history = quadratic_history(5, seed=9)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['gama'\]"):
        tpe.suggest(space, history, np.empty((0, 1)), trial_rng(0, 0), gama=0.2)
    assert algo_name(tpe.suggest) == "tpe"
    assert algo_name(functools.partial(tpe.suggest, gamma=0.2)) == "tpe(gamma=0.2)"
    assert algo_name(tpe.TPE()) == "tpe"
    assert algo_name(tpe.TPE(multivariate=False)) == "tpe(multivariate=False)"


def test_startup_counts_only_successful_trials() -> None:
    space = compile_space({"x": hp.uniform("x", 0, 1)})
    rng = np.random.default_rng(10)
    xs = rng.random(30)
    # 30 trials, all failed: still the startup phase, so draws are the prior's.
    history = make_history(space, xs[:, None], [math.nan] * 30)
    row = tpe.suggest(space, history, np.empty((0, 1)), trial_rng(11, 0))
    np.testing.assert_array_equal(row, space.sample(trial_rng(11, 0), 1)[0])


def test_no_repeats_in_a_small_conditional_discrete_space() -> None:
    space = {
        "m": hp.choice(
            "m",
            [
                {"b": hp.randint("b", 3), "s": hp.choice("s", ["x", "y"])},
                {"c": hp.quniform("c", 0, 3, 1)},
            ],
        )
    }
    seen: list[str] = []

    def objective(params: dict[str, Any]) -> float:
        seen.append(repr(params))
        m = params["m"]
        return float(m["b"]) if "b" in m else float(m["c"]) + 0.5

    algo = functools.partial(tpe.suggest, n_startup_jobs=2)
    fmin_sync(objective, space, algo=algo, max_evals=10, seed=12, concurrency=2)
    # 3 x 2 points in the first branch and 4 in the second: all ten, each once.
    assert len(set(seen)) == len(seen) == 10


def test_cached_models_never_leak_between_histories() -> None:
    space = compile_space({"x": hp.uniform("x", 0, 1)})
    xs = np.linspace(0.05, 0.95, 30)
    losses = [float(v) for v in (xs - 0.3) ** 2]
    first = make_history(space, xs[:, None], losses)
    # Same length, ids and losses, other points: a cache keyed on anything less than the
    # content would hand the first history's model to the second.
    second = make_history(space, (1.0 - xs)[:, None], losses)
    empty = np.empty((0, 1))
    warm = tpe.TPE()
    for history in (first, second, first):
        cold = tpe.TPE()
        for trial_id in range(5):
            rng_warm, rng_cold = trial_rng(13, trial_id), trial_rng(13, trial_id)
            np.testing.assert_array_equal(
                warm(space, history, empty, rng_warm), cold(space, history, empty, rng_cold)
            )


def test_pruned_trials_end_the_startup_and_are_bad() -> None:
    space = compile_space({"x": hp.uniform("x", 0, 1)})
    rng = np.random.default_rng(3)
    rows = space.sample(rng, 10)
    rows[0, 0] = 0.5  # the one completed trial
    rows[1:, 0] = np.linspace(0.0, 0.3, 9)  # nine pruned ones, all below 0.3

    def history(pruned: bool) -> History:
        buffer = HistoryBuffer(1)
        buffer.append(0, rows[0], 1.0)
        for i in range(1, 10):
            buffer.append(i, rows[i], None, pruned=pruned)
        return buffer.snapshot()

    algo = tpe.TPE(n_startup_jobs=10, failed="ignore")
    prior = [space.sample(trial_rng(1, i), 1)[0] for i in range(30)]
    failed = [algo(space, history(False), np.empty((0, 1)), trial_rng(1, i)) for i in range(30)]
    pruned = [algo(space, history(True), np.empty((0, 1)), trial_rng(1, i)) for i in range(30)]
    # Nine failures and one success: still the startup, points come from the prior.
    np.testing.assert_array_equal(np.array(failed), np.array(prior))
    # Nine pruned trials count: the model is on, and it keeps away from where they were
    # pruned (failed="ignore" applies to failures, not to pruned trials).
    xs = np.array(pruned)[:, 0]
    assert not np.array_equal(xs, np.array(prior)[:, 0])
    assert np.mean(np.array(prior)[:, 0] < 0.3) > 0.1
    assert np.all(xs > 0.3)
