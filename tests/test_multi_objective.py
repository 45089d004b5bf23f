"""Several objectives, constraints and maximisation, through fmin, open_study and the stores:
the search, the front a user sees, the results protocol, resume, refusals."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asynchpo import (
    ConfigError,
    MemoryStorage,
    PostgresStorage,
    SqliteStorage,
    Storage,
    StudyError,
    StudyMismatch,
    Trials,
    TrialState,
    anneal,
    fmin,
    hp,
    load_trials,
    open_study,
    pruners,
    rand,
    tpe,
)
from asynchpo._pareto import hypervolume
from asynchpo._results import interpret
from asynchpo._storage import StudyConfig

SPACE = {f"x{i}": hp.uniform(f"x{i}", 0, 1) for i in range(3)}
TWO = ["minimize", "minimize"]


def front_problem(params: dict[str, float]) -> list[float]:
    """A front known exactly: f2 = 1 - sqrt(f1), where x1 = x2 = 0."""
    x0 = params["x0"]
    return [x0, 1 - math.sqrt(x0) + params["x1"] ** 2 + params["x2"] ** 2]


TRUE_FRONT = np.array([[a, 1 - math.sqrt(a)] for a in np.linspace(0, 1, 2001)])
REFERENCE = np.array([1.1, 1.1])


def _front_share(trials: Trials) -> float:
    """The hypervolume of the found front over the true front's."""
    points = np.array([doc["result"]["loss"] for doc in trials.best_trials])
    return hypervolume(points, REFERENCE) / hypervolume(TRUE_FRONT, REFERENCE)


@pytest.mark.timeout(120)
async def test_the_found_front_approaches_the_true_one() -> None:
    shares: dict[str, list[float]] = {"tpe": [], "rand": []}
    for seed in range(3):
        for name, algo in (("tpe", tpe.suggest), ("rand", rand.suggest)):
            trials = Trials()
            front = await fmin(
                front_problem,
                SPACE,
                algo=algo,
                max_evals=150,
                directions=TWO,
                seed=seed,
                trials=trials,
            )
            assert len(front) == len(trials.best_trials) > 1
            assert front == [
                {label: doc["misc"]["vals"][label][0] for label in ("x0", "x1", "x2")}
                for doc in trials.best_trials
            ]
            shares[name].append(_front_share(trials))
    # Measured: TPE 0.98 of the true front's hypervolume at 150 trials, random search 0.87.
    assert min(shares["tpe"]) > 0.95, shares
    assert min(shares["tpe"]) > max(shares["rand"]), shares


async def test_the_front_holds_no_infeasible_trial_once_one_is_feasible() -> None:
    def constrained(params: dict[str, float]) -> dict[str, Any]:
        # Feasible only where x0 <= 0.5: half the space.
        return {"loss": front_problem(params), "constraints": [params["x0"] - 0.5]}

    trials = Trials()
    front = await fmin(
        constrained,
        SPACE,
        algo=tpe.suggest,
        max_evals=80,
        directions=TWO,
        seed=4,
        trials=trials,
    )
    records = trials.records
    assert any(not t.feasible for t in records)
    assert any(t.feasible for t in records)
    assert all(point["x0"] <= 0.5 for point in front)
    assert all(doc["result"]["constraints"][0] <= 0 for doc in trials.best_trials)
    # Infeasible trials are kept and shown as such.
    infeasible = [t for t in records if t.state is TrialState.OK and not t.feasible]
    assert infeasible
    assert all(t.violation > 0 and t.constraints[0] > 0 for t in infeasible)


async def test_while_none_is_feasible_the_least_violating_are_best() -> None:
    def never(params: dict[str, float]) -> dict[str, Any]:
        return {"loss": front_problem(params), "constraints": [1 + params["x0"]]}

    async with open_study(
        None, "s", space=SPACE, algo=rand.suggest, directions=TWO, seed=1
    ) as study:
        for trial in await study.ask(12):
            await study.tell(trial, never(trial.point))
        least = min(t.violation for t in study.trials)
        assert [t.violation for t in study.best_trials] == [least]
    async with open_study(None, "one", space=SPACE, algo=rand.suggest, seed=1) as single:
        for trial in await single.ask(12):
            await single.tell(
                trial, {"loss": -trial.point["x0"], "constraints": [1 + trial.point["x0"]]}
            )
        best = single.best_trial
        assert best is not None
        # None is feasible: the least violating, not the lowest loss.
        assert best.violation == min(t.violation for t in single.trials)


async def test_ask_and_tell_with_lists_and_dicts(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    async with open_study(
        db, "s", space=SPACE, directions=["minimize", "maximize"], seed=2
    ) as study:
        first, second = await study.ask(2)
        await study.tell(first, (0.5, 3.0))
        await study.tell(second, {"loss": [0.25, 1.0], "status": "ok", "accuracy": 0.9})
        assert study.directions == ("minimize", "maximize")
        assert [t.values for t in study.trials] == [(0.5, 3.0), (0.25, 1.0)]
        # Neither dominates the other: one is better in each direction.
        assert [t.id for t in study.best_trials] == [0, 1]
        with pytest.raises(StudyError, match=r"has 2 objectives .* use best_trials"):
            _ = study.best_trial
    # Stored as returned; read back by a reader that passes no directions.
    async with open_study(db, "s") as reader:
        assert reader.directions == ("minimize", "maximize")
        assert reader.trials[1].result["loss"] == [0.25, 1.0]
        assert reader.trials[1].loss is None
    trials = await load_trials(db, "s")
    assert [doc["tid"] for doc in trials.best_trials] == [0, 1]
    with pytest.raises(StudyError, match="use best_trials"):
        _ = trials.best_trial


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ([0.1], r"returned 1 loss \[0\.1\]; this study has 2 objectives"),
        ([0.1, 0.2, 0.3], r"returned 3 losses"),
        ({"loss": [0.1, float("nan")]}, r"loss 2 of 2 is nan, not a finite number"),
        ({"loss": [0.1, "low"]}, r"loss 2 of 2 is 'low'"),
        ({"loss": 0.5}, r"returned loss 0\.5; this study has 2 objectives"),
        ({"loss": [0.1, 0.2], "constraints": [0.0, "x"]}, r"constraint 2 is 'x', not a finite"),
        ({"loss": [0.1, 0.2], "constraints": 3}, r"constraints are 3, not a list"),
        ({"loss": [0.1, 0.2], "constraints": [math.inf]}, r"constraint 1 is inf"),
        ("fast", r"returned str 'fast'; this study has 2 objectives"),
    ],
)
async def test_bad_results_are_failed_trials_saying_why(value: object, error: str) -> None:
    async with open_study(None, "s", space=SPACE, directions=TWO, seed=3) as study:
        trial = await study.ask()
        await study.tell(trial, value)
        (stored,) = study.trials
        assert stored.state is TrialState.FAIL
        assert stored.error is not None
        assert stored.values is None
        assert re.search(error, stored.error), stored.error
        assert study.best_trials == []


@settings(max_examples=300, deadline=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(["loss", "status", "constraints", "x"]), inner, max_size=4
            )
        ),
        max_leaves=12,
    ),
    count=st.sampled_from([1, 2, 3]),
)
def test_interpret_never_raises_and_a_success_has_one_value_per_objective(
    value: object, count: int
) -> None:
    outcome = interpret(value, count)
    if outcome.ok:
        values = outcome.values if count > 1 else (outcome.loss,)
        assert values is not None
        assert len(values) == count
        assert all(isinstance(v, float) and math.isfinite(v) for v in values)
        constraints = outcome.result.get("constraints", [])
        assert all(isinstance(c, float) and math.isfinite(c) for c in constraints)
    else:
        assert outcome.error


async def test_a_maximised_objective_is_stored_as_returned() -> None:
    trials = Trials()
    best = await fmin(
        lambda p: 10 * p["x0"],
        SPACE,
        algo=rand.suggest,
        max_evals=25,
        direction="maximize",
        seed=5,
        trials=trials,
    )
    losses = [t.loss or 0.0 for t in trials.records]
    assert all(t.loss is not None and t.loss >= 0 for t in trials.records)
    assert trials.best_trial["result"]["loss"] == max(losses)
    assert best["x0"] == max(t.params["x0"] for t in trials.records)


async def test_loss_threshold_of_a_maximised_objective_is_reached_from_below() -> None:
    trials = Trials()
    await fmin(
        lambda p: p["x0"],
        SPACE,
        algo=rand.suggest,
        max_evals=500,
        direction="maximize",
        loss_threshold=0.9,
        seed=6,
        trials=trials,
    )
    assert len(trials.records) < 500
    assert max(t.loss or 0 for t in trials.records) >= 0.9


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"directions": TWO, "pruner": pruners.MedianPruner()}, "pruning needs a single objective"),
        ({"directions": TWO, "algo": anneal.suggest}, "algo 'anneal' searches a single objective"),
        ({"directions": TWO, "loss_threshold": 0.1}, "loss_threshold needs a single objective"),
        ({"directions": "minimize"}, "directions must be a list"),
        ({"directions": []}, "directions is empty"),
        ({"directions": ["min", "max"]}, r"directions\[0\] is 'min'; use 'minimize' or 'maximize'"),
        ({"direction": "up"}, "direction is 'up'"),
        ({"direction": "maximize", "directions": TWO}, "not both"),
    ],
)
async def test_refusals_before_any_work(kwargs: dict[str, Any], error: str, tmp_path: Path) -> None:
    db = tmp_path / "never.sqlite"
    with pytest.raises(ConfigError, match=error):
        await fmin(front_problem, SPACE, max_evals=5, storage=db, **kwargs)
    assert not db.exists()


async def test_resume_checks_the_directions(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    await fmin(front_problem, SPACE, max_evals=20, directions=TWO, storage=db, study="s", seed=7)
    front = await fmin(front_problem, SPACE, max_evals=40, directions=TWO, storage=db, study="s")
    trials = await load_trials(db, "s")
    assert [doc["tid"] for doc in trials.trials] == list(range(40))
    assert len(front) == len(trials.best_trials)
    with pytest.raises(StudyMismatch, match=r"created with directions \['minimize', 'minimize'\]"):
        await fmin(front_problem, SPACE, max_evals=41, storage=db, study="s")
    with pytest.raises(StudyMismatch, match="this call uses \\['minimize', 'maximize'\\]"):
        await fmin(
            front_problem,
            SPACE,
            max_evals=41,
            directions=["minimize", "maximize"],
            storage=db,
            study="s",
        )


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "memory":
        store: Storage = MemoryStorage()
    elif request.param == "sqlite":
        store = await SqliteStorage.open(tmp_path / "s.db")
    else:
        store = await PostgresStorage.open(request.getfixturevalue("pg_url"))
    yield store
    await store.aclose()


async def test_every_storage_keeps_the_directions(storage: Storage) -> None:
    plain = StudyConfig(space=[], fingerprint="f", algo="tpe", seed=1)
    several = StudyConfig(
        space=[], fingerprint="f", algo="tpe", seed=1, directions=("maximize", "minimize")
    )
    await storage.create_study("plain", plain)
    await storage.create_study("several", several)
    assert (await storage.get_study("plain")).config.directions == ("minimize",)
    assert (await storage.get_study("several")).config.directions == ("maximize", "minimize")


async def test_no_progress_loss_follows_the_direction_and_the_front() -> None:
    from asynchpo import no_progress_loss

    def rising() -> Any:
        calls = iter(range(1000))
        return lambda params: float(next(calls))

    # Every trial beats the last when maximising: never three in a row without progress.
    trials = Trials()
    await fmin(
        rising(),
        SPACE,
        algo=rand.suggest,
        max_evals=15,
        direction="maximize",
        seed=1,
        early_stop_fn=no_progress_loss(3),
        trials=trials,
    )
    assert len(trials.records) == 15
    # The same values minimised are no progress after the first: stopped early.
    trials = Trials()
    await fmin(
        rising(),
        SPACE,
        algo=rand.suggest,
        max_evals=15,
        seed=1,
        early_stop_fn=no_progress_loss(3),
        trials=trials,
    )
    assert len(trials.records) < 15

    # Several objectives: progress is joining the front.
    def trade(params: dict[str, float]) -> list[float]:
        return [params["x0"], 1 - params["x0"]]  # every trial is on the front

    trials = Trials()
    await fmin(
        trade,
        SPACE,
        algo=rand.suggest,
        max_evals=15,
        directions=TWO,
        seed=1,
        early_stop_fn=no_progress_loss(3),
        trials=trials,
    )
    assert len(trials.records) == 15
    dominated = rising()
    trials = Trials()
    await fmin(
        lambda params: [dominated(params)] * 2,
        SPACE,
        algo=rand.suggest,
        max_evals=15,
        directions=TWO,
        seed=1,
        early_stop_fn=no_progress_loss(3),
        trials=trials,
    )
    assert len(trials.records) < 15


async def test_a_pruner_is_refused_for_a_maximised_objective() -> None:
    with pytest.raises(ConfigError, match="this study maximises"):
        await fmin(
            front_problem, SPACE, max_evals=5, direction="maximize", pruner=pruners.MedianPruner()
        )
