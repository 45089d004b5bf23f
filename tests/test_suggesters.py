"""Suggesters: the suggester contract for every algorithm, the history buffer, and annealing's
behaviour."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from asynchpo import ConfigError, Suggester, anneal, compile_space, hp, mix, rand, tpe
from asynchpo._suggesters._base import HistoryBuffer, TrialRngs, algo_name, trial_rng
from asynchpo.testing.suggester import SuggesterContract

MIXED = compile_space(
    {
        "x": hp.uniform("x", -5, 5),
        "q": hp.quniform("q", 0, 10, 2),
        "lr": hp.qloguniform("lr", math.log(1e-4), math.log(1), 1e-4),
        "n": hp.qnormal("n", 0, 3, 0.5),
        "k": hp.randint("k", 3, 9),
        "p": hp.pchoice("p", [(0.7, "a"), (0.2, "b"), (0.1, "c")]),
        "model": hp.choice(
            "model",
            [
                {"depth": hp.uniformint("depth", 1, 6)},
                {"width": hp.lognormal("width", 0, 1)},
            ],
        ),
    }
)


def history_of(space_rows: np.ndarray, losses: list[float]) -> HistoryBuffer:
    buffer = HistoryBuffer(space_rows.shape[1], capacity=2)
    for i, (row, loss) in enumerate(zip(space_rows, losses, strict=True)):
        buffer.append(i, row, None if math.isnan(loss) else loss)
    return buffer


# --- the contract (asynchpo.testing.suggester), for every algorithm ---------------------------


class TestRand(SuggesterContract):
    @pytest.fixture
    def algo(self) -> Suggester:
        return rand.suggest


class TestAnneal(SuggesterContract):
    @pytest.fixture
    def algo(self) -> Suggester:
        return anneal.suggest


class TestAnnealWithOptions(SuggesterContract):
    @pytest.fixture
    def algo(self) -> Suggester:
        return functools.partial(anneal.suggest, avg_best_idx=3.0, shrink_coef=0.3)


class TestTPE(SuggesterContract):
    @pytest.fixture
    def algo(self) -> Suggester:
        return tpe.suggest


class TestUnivariateTPE(SuggesterContract):
    @pytest.fixture
    def algo(self) -> Suggester:
        return tpe.TPE(multivariate=False, constant_liar=True, n_startup_jobs=5)


class TestMix(SuggesterContract):
    @pytest.fixture
    def algo(self) -> Suggester:
        mixture = [(0.3, rand.suggest), (0.3, anneal.suggest), (0.4, tpe.suggest)]
        return functools.partial(mix.suggest, p_suggest=mixture)


# --- each algorithm's own behaviour -----------------------------------------------------------


def test_rand_ignores_history_and_pending() -> None:
    rng = np.random.default_rng(1)
    history = history_of(MIXED.sample(rng, 10), list(range(10))).snapshot()
    empty = HistoryBuffer(len(MIXED)).snapshot()
    nothing = np.empty((0, len(MIXED)))
    a = rand.suggest(MIXED, history, MIXED.sample(rng, 3), trial_rng(1, 2))
    b = rand.suggest(MIXED, empty, nothing, trial_rng(1, 2))
    np.testing.assert_array_equal(a, b)


def test_anneal_narrows_around_the_best_trial() -> None:
    space = compile_space({"x": hp.uniform("x", -10, 10)})
    rng = np.random.default_rng(2)
    xs = rng.uniform(-10, 10, size=200)
    xs[0] = 3.0
    losses = list(np.abs(xs - 3.0))
    history = history_of(xs[:, None], losses).snapshot()
    empty = np.empty((0, 1))
    draws = np.array(
        [anneal.suggest(space, history, empty, trial_rng(3, i))[0] for i in range(400)]
    )
    # 200 trials shrink the window to 1/21 of the range: draws stay near the best values.
    assert np.median(np.abs(draws - 3.0)) < 1.0
    few = history_of(xs[:3, None], losses[:3]).snapshot()
    wide = np.array([anneal.suggest(space, few, empty, trial_rng(3, i))[0] for i in range(400)])
    assert np.std(wide) > 3 * np.std(draws)


def test_anneal_prefers_the_best_option_of_a_choice() -> None:
    space = compile_space({"c": hp.choice("c", ["a", "b", "c", "d"])})
    options = np.arange(100) % 4
    losses = [0.0 if option == 2 else 1.0 for option in options]
    history = history_of(options[:, None].astype(float), losses).snapshot()
    empty = np.empty((0, 1))
    picks = [int(anneal.suggest(space, history, empty, trial_rng(4, i))[0]) for i in range(300)]
    assert picks.count(2) > 0.8 * len(picks)


def test_anneal_draws_children_of_an_unseen_branch_from_the_prior() -> None:
    space = compile_space(
        {"m": hp.choice("m", [{"a": hp.uniform("a", 0, 1)}, {"b": hp.uniform("b", 5, 6)}])}
    )
    # Only branch 0 was ever tried; when anneal switches to branch 1, "b" must get a value.
    rows = np.array([[0.0, 0.5, math.nan]] * 5)
    history = history_of(rows, [1.0] * 5).snapshot()
    empty = np.empty((0, 3))
    seen_b = False
    for i in range(200):
        row = anneal.suggest(space, history, empty, trial_rng(5, i))
        point = space.to_point(row)
        if point["m"] == 1:
            seen_b = True
            assert 5.0 <= point["b"] <= 6.0
            assert "a" not in point
    assert seen_b


def test_anneal_beats_random_search_on_a_smooth_problem() -> None:
    space = compile_space({"x": hp.uniform("x", -10, 10), "y": hp.uniform("y", -10, 10)})

    def best_loss(algo: Suggester, seed: int) -> float:
        buffer = HistoryBuffer(2)
        empty = np.empty((0, 2))
        best = math.inf
        for trial_id in range(150):
            row = algo(space, buffer.snapshot(), empty, trial_rng(seed, trial_id))
            loss = float((row[0] - 2.5) ** 2 + (row[1] + 1.5) ** 2)
            buffer.append(trial_id, row, loss)
            best = min(best, loss)
        return best

    annealed = [best_loss(anneal.suggest, seed) for seed in range(10)]
    randomly = [best_loss(rand.suggest, seed) for seed in range(10)]
    assert np.median(annealed) < np.median(randomly) / 3


def test_anneal_options_are_checked() -> None:
    empty = HistoryBuffer(len(MIXED)).snapshot()
    nothing = np.empty((0, len(MIXED)))
    with pytest.raises(ConfigError, match="avg_best_idx must be a number >= 1"):
        anneal.suggest(MIXED, empty, nothing, trial_rng(0, 0), avg_best_idx=0.5)
    with pytest.raises(ConfigError, match="shrink_coef must be a number >= 0"):
        anneal.suggest(MIXED, empty, nothing, trial_rng(0, 0), shrink_coef=-1)


def test_trial_rngs_match_trial_rng() -> None:
    rngs = TrialRngs(2**62 + 5)
    for trial_id in (0, 1, 17, 2**40):
        np.testing.assert_array_equal(
            rngs(trial_id).random(5), trial_rng(2**62 + 5, trial_id).random(5)
        )
    assert not np.array_equal(trial_rng(1, 0).random(3), trial_rng(1, 1).random(3))
    assert not np.array_equal(trial_rng(1, 0).random(3), trial_rng(2, 0).random(3))


def test_history_snapshots_survive_growth() -> None:
    buffer = HistoryBuffer(1, capacity=2)
    buffer.append(0, np.array([1.0]), 0.5)
    snapshot = buffer.snapshot()
    for i in range(1, 10):
        buffer.append(i, np.array([float(i)]), None)
    assert len(snapshot) == 1
    assert snapshot.rows.tolist() == [[1.0]]
    later = buffer.snapshot()
    assert len(later) == 10
    assert later.ok.tolist() == [True] + [False] * 9
    with pytest.raises(ValueError, match="read-only"):
        later.rows[0, 0] = 3.0


def test_algo_names_include_options() -> None:
    assert algo_name(rand.suggest) == "rand"
    assert algo_name(anneal.suggest) == "anneal"
    named = algo_name(functools.partial(anneal.suggest, shrink_coef=0.2, avg_best_idx=3.0))
    assert named == "anneal(avg_best_idx=3.0, shrink_coef=0.2)"
    with pytest.raises(TypeError, match="by keyword"):
        algo_name(functools.partial(anneal.suggest, MIXED))
