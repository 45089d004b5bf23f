"""The hyperopt pieces ported scripts use: ``mix.suggest``, ``sample``,
``generate_trials_to_calculate``, ``Trials(exp_key=...)``, ``delete_all``,
``trial_attachments``, and results that JSON cannot hold (issue 13, item 4)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import asynchpo
from asynchpo import (
    ConfigError,
    StudyMismatch,
    Trials,
    anneal,
    fmin,
    fmin_sync,
    generate_trials_to_calculate,
    hp,
    list_studies,
    load_trials,
    mix,
    rand,
    sample,
    tpe,
)

SPACE = {"x": hp.uniform("x", -5, 5)}


def square(params: dict[str, float]) -> float:
    return params["x"] ** 2


# --- mix.suggest ------------------------------------------------------------------------------


def test_mix_picks_each_suggestion_by_probability() -> None:
    calls: list[int] = []

    def spy(space: Any, history: Any, pending: Any, rng: Any) -> Any:
        calls.append(len(history))
        return rand.suggest(space, history, pending, rng)

    never = functools.partial(mix.suggest, p_suggest=[(1.0, rand.suggest), (0.0, spy)])
    fmin_sync(square, SPACE, algo=never, max_evals=10, seed=0, show_progressbar=False)
    assert calls == []
    half = functools.partial(mix.suggest, p_suggest=[(0.5, rand.suggest), (0.5, spy)])
    fmin_sync(square, SPACE, algo=half, max_evals=200, seed=0, show_progressbar=False)
    assert 60 < len(calls) < 140


def test_mix_runs_like_hyperopts_and_repeats_under_its_seed() -> None:
    algo = functools.partial(
        mix.suggest, p_suggest=[(0.2, rand.suggest), (0.3, anneal.suggest), (0.5, tpe.suggest)]
    )
    runs = []
    for _ in range(2):
        trials = Trials()
        fmin_sync(
            square, SPACE, algo=algo, max_evals=15, trials=trials, seed=4, show_progressbar=False
        )
        runs.append(trials.vals["x"])
    assert runs[0] == runs[1]
    hyperopt = pytest.importorskip("hyperopt")
    theirs = hyperopt.Trials()
    hyperopt.fmin(
        square,
        {"x": hyperopt.hp.uniform("x", -5, 5)},
        algo=functools.partial(
            hyperopt.mix.suggest,
            p_suggest=[
                (0.2, hyperopt.rand.suggest),
                (0.3, hyperopt.anneal.suggest),
                (0.5, hyperopt.tpe.suggest),
            ],
        ),
        max_evals=15,
        trials=theirs,
        rstate=np.random.default_rng(4),
        show_progressbar=False,
    )
    assert len(theirs) == len(runs[0]) == 15
    assert theirs.statuses() == trials.statuses()


async def test_a_mixture_has_a_stable_name_that_a_stored_study_checks(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    mixture: list[tuple[float, Any]] = [
        (0.5, rand.suggest),
        (0.5, functools.partial(tpe.suggest, n_startup_jobs=5)),
    ]
    algo = functools.partial(mix.suggest, p_suggest=mixture)
    await fmin(square, SPACE, algo=algo, max_evals=3, storage=db, seed=0)
    (summary,) = await list_studies(db)
    assert summary.algo == "mix(p_suggest=[(0.5, rand), (0.5, tpe(n_startup_jobs=5))])"
    # The same mixture made anew resumes; another one is refused.
    again = functools.partial(mix.suggest, p_suggest=list(mixture))
    await fmin(square, SPACE, algo=again, max_evals=5, storage=db)
    other = functools.partial(mix.suggest, p_suggest=[(0.9, rand.suggest), (0.1, tpe.suggest)])
    with pytest.raises(StudyMismatch, match=r"algo 'mix\(p_suggest=\[\(0.5, rand\)"):
        await fmin(square, SPACE, algo=other, max_evals=6, storage=db)


@pytest.mark.parametrize(
    ("p_suggest", "message"),
    [
        ([(0.5, rand.suggest), (0.4, tpe.suggest)], "probabilities must sum to 1"),
        ([(1.5, rand.suggest), (-0.5, tpe.suggest)], "a probability must be a number >= 0"),
        ([(1.0, "tpe")], "is not a search algorithm"),
        ([], "p_suggest must be a list of \\(probability, algo\\) pairs"),
        ([rand.suggest], "p_suggest must be a list of \\(probability, algo\\) pairs"),
    ],
)
def test_a_bad_mixture_is_one_config_error(p_suggest: Any, message: str) -> None:
    algo = functools.partial(mix.suggest, p_suggest=p_suggest)
    with pytest.raises(ConfigError, match=message) as caught:
        fmin_sync(square, SPACE, algo=algo, max_evals=2, seed=0, show_progressbar=False)
    assert isinstance(caught.value, ValueError)  # as hyperopt's ValueError


# --- sample -----------------------------------------------------------------------------------


def nested_space(hp_: Any) -> dict[str, Any]:
    return {
        "model": hp_.choice(
            "model",
            [
                {"kind": "svm", "C": hp_.loguniform("C", -3, 3)},
                {"kind": "rf", "trees": hp_.randint("trees", 10)},
            ],
        ),
        "q": hp_.quniform("q", 1, 8, 1),
        "pair": (hp_.uniform("u", 0, 1), "const"),
    }


def shape(value: Any) -> Any:
    """The structure of a value, numbers as 'int' or 'float'."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list | tuple):
        return type(value)(shape(item) for item in value)
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating):
        return "float"
    return type(value).__name__


def test_sample_draws_one_evaluated_point_shaped_as_hyperopts() -> None:
    ours = {repr(shape(sample(nested_space(hp), np.random.default_rng(i)))) for i in range(40)}
    stochastic = pytest.importorskip("hyperopt.pyll.stochastic")
    theirs_hp = pytest.importorskip("hyperopt").hp
    theirs = {
        repr(shape(stochastic.sample(nested_space(theirs_hp), rng=np.random.default_rng(i))))
        for i in range(40)
    }
    assert ours == theirs
    assert len(ours) == 2


def test_sample_takes_a_generator_a_seed_or_nothing() -> None:
    space = nested_space(hp)
    assert sample(space, np.random.default_rng(3)) == sample(space, np.random.default_rng(3))
    assert sample(space, 3) == sample(space, 3)
    assert isinstance(sample(hp.uniform("x", 0, 1)), float)
    point = sample(space, rng=7)
    assert isinstance(point, dict)
    assert point["pair"][1] == "const"
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        sample(space, rng=np.random.RandomState(0))  # type: ignore[arg-type]


# --- generate_trials_to_calculate -------------------------------------------------------------


def test_generated_trials_evaluate_their_points_first() -> None:
    space = {"x": hp.uniform("x", -5, 5), "c": hp.choice("c", ["a", "b"])}
    points = [{"x": 0.5, "c": 1}, {"x": -2.0, "c": 0}]
    seen: list[Any] = []

    def objective(params: dict[str, Any]) -> float:
        seen.append(params)
        return float(params["x"]) ** 2

    trials = generate_trials_to_calculate(points)
    best = fmin_sync(
        objective,
        space,
        algo=rand.suggest,
        max_evals=5,
        trials=trials,
        seed=0,
        show_progressbar=False,
    )
    assert seen[:2] == [{"x": 0.5, "c": "b"}, {"x": -2.0, "c": "a"}]
    assert [trials.miscs[i]["vals"] for i in (0, 1)] == [
        {"x": [0.5], "c": [1]},
        {"x": [-2.0], "c": [0]},
    ]
    assert len(trials) == 5
    assert best == trials.argmin
    # Continuing the search does not evaluate them again.
    fmin_sync(
        objective,
        space,
        algo=rand.suggest,
        max_evals=7,
        trials=trials,
        seed=0,
        show_progressbar=False,
    )
    assert len(seen) == 7
    assert len(trials) == 7
    hyperopt = pytest.importorskip("hyperopt")
    their_fmin = pytest.importorskip("hyperopt.fmin")  # the module, not the function
    theirs = their_fmin.generate_trials_to_calculate(points)
    hyperopt.fmin(
        lambda p: p["x"] ** 2,
        {"x": hyperopt.hp.uniform("x", -5, 5), "c": hyperopt.hp.choice("c", ["a", "b"])},
        algo=hyperopt.rand.suggest,
        max_evals=5,
        trials=theirs,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
    )
    assert [theirs.miscs[i]["vals"] for i in (0, 1)] == [trials.miscs[i]["vals"] for i in (0, 1)]


def test_generate_trials_to_calculate_wants_a_list_of_dicts() -> None:
    with pytest.raises(ConfigError, match="points must be a list of dicts"):
        generate_trials_to_calculate({"x": 1.0})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"got an item 1\.0"):
        generate_trials_to_calculate([1.0])  # type: ignore[list-item]


# --- Trials(exp_key=...), delete_all ----------------------------------------------------------


async def test_exp_key_names_the_study(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    trials = Trials(exp_key="digits")
    await fmin(square, SPACE, algo=rand.suggest, max_evals=2, trials=trials, storage=db, seed=0)
    assert [summary.name for summary in await list_studies(db)] == ["digits"]
    assert len(await load_trials(db, "digits")) == 2
    assert trials.trials[0]["exp_key"] == "digits"
    await fmin(
        square, SPACE, algo=rand.suggest, max_evals=3, trials=trials, storage=db, study="digits"
    )
    with pytest.raises(ConfigError, match=r"study='other' and Trials\(exp_key='digits'\)"):
        await fmin(square, SPACE, max_evals=3, trials=trials, storage=db, study="other")
    with pytest.raises(ConfigError, match="exp_key must be a non-empty string"):
        Trials(exp_key=3)  # type: ignore[arg-type]
    hyperopt = pytest.importorskip("hyperopt")
    assert hyperopt.Trials(exp_key="digits")._exp_key == trials.exp_key


def test_delete_all_starts_over_as_in_hyperopt() -> None:
    trials = Trials()
    fmin_sync(
        square, SPACE, algo=rand.suggest, max_evals=4, trials=trials, seed=0, show_progressbar=False
    )
    trials.trial_attachments(trials.trials[0])["note"] = b"x"
    trials.delete_all()
    assert len(trials) == 0
    assert trials.records == []
    assert trials.attachments == {}
    fmin_sync(
        square, SPACE, algo=rand.suggest, max_evals=3, trials=trials, seed=1, show_progressbar=False
    )
    assert trials.tids == [0, 1, 2]
    hyperopt = pytest.importorskip("hyperopt")
    theirs = hyperopt.Trials()
    their_space = {"x": hyperopt.hp.uniform("x", -5, 5)}
    hyperopt.fmin(
        square,
        their_space,
        algo=hyperopt.rand.suggest,
        max_evals=4,
        trials=theirs,
        show_progressbar=False,
    )
    theirs.delete_all()
    assert len(theirs) == 0
    hyperopt.fmin(
        square,
        their_space,
        algo=hyperopt.rand.suggest,
        max_evals=3,
        trials=theirs,
        show_progressbar=False,
    )
    assert len(theirs) == len(trials) == 3


# --- attachments and results JSON cannot hold ------------------------------------------------


class Model:
    """Stands for a fitted model: JSON cannot hold it."""

    def __init__(self, x: float) -> None:
        self.x = x


def returns_the_model(params: dict[str, float]) -> dict[str, Any]:
    return {
        "loss": params["x"] ** 2,
        "status": "ok",
        "model": Model(params["x"]),
        "weights": np.arange(3.0),
        "attachments": {"pickled": b"\x00\xffbytes"},
    }


async def test_the_running_processs_trials_gives_back_the_objects(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    trials = Trials()
    await fmin(
        returns_the_model, SPACE, algo=rand.suggest, max_evals=3, trials=trials, storage=db, seed=0
    )
    best = trials.best_trial
    model = best["result"]["model"]
    assert isinstance(model, Model)
    assert model.x == trials.argmin["x"]
    assert isinstance(best["result"]["weights"], np.ndarray)
    assert "attachments" not in best["result"]
    for doc in trials.trials:
        attachment = trials.trial_attachments(doc)["pickled"]
        assert type(attachment) is bytes
        assert attachment == b"\x00\xffbytes"
    # Storage keeps what JSON can hold of them.
    stored = (await load_trials(db)).records[best["tid"]].result
    assert stored["weights"] == [0.0, 1.0, 2.0]
    assert isinstance(stored["model"], str)
    assert "Model object" in stored["model"]
    # Trials of another study do not show them.
    trials_again = Trials()
    await fmin(square, SPACE, algo=rand.suggest, max_evals=3, trials=trials_again, seed=0)
    await fmin(
        square,
        SPACE,
        algo=rand.suggest,
        max_evals=3,
        trials=trials,
        storage=db,
        study="other",
        seed=0,
    )
    assert all("model" not in result for result in trials.results)
    assert trials.attachments == {}


def test_trial_attachments_work_like_hyperopts() -> None:
    hyperopt = pytest.importorskip("hyperopt")
    ours = Trials()
    fmin_sync(
        returns_the_model,
        SPACE,
        algo=rand.suggest,
        max_evals=1,
        trials=ours,
        seed=0,
        show_progressbar=False,
    )
    theirs = hyperopt.Trials()
    hyperopt.fmin(
        returns_the_model,
        {"x": hyperopt.hp.uniform("x", -5, 5)},
        algo=hyperopt.rand.suggest,
        max_evals=1,
        trials=theirs,
        show_progressbar=False,
    )
    for trials in (ours, theirs):
        attachments = trials.trial_attachments(trials.trials[0])
        assert attachments["pickled"] == b"\x00\xffbytes"
        assert "pickled" in attachments
        assert "other" not in attachments
        attachments["other"] = "text"
        assert trials.trial_attachments(trials.trials[0])["other"] == "text"
        del attachments["other"]
        assert "other" not in attachments
        with pytest.raises(KeyError):
            attachments["other"]
        assert "attachments" not in trials.results[0]
        assert isinstance(trials.results[0]["model"], Model)
    assert sorted(ours.attachments) == sorted(theirs.attachments)


def test_the_public_names() -> None:
    for name in ("mix", "sample", "generate_trials_to_calculate"):
        assert name in asynchpo.__all__
