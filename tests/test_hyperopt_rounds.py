"""hyperopt scripts that grow one ``Trials`` in rounds, and stop early, run as on hyperopt
(issue 13, items 1 and 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

from asynchpo import (
    StudyMismatch,
    Trials,
    TrialState,
    fmin,
    fmin_sync,
    hp,
    rand,
    tpe,
)
from asynchpo._trials import JOB_STATE_CANCEL, JOB_STATE_DONE

SPACE = {"x": hp.uniform("x", -5, 5)}


def square(params: dict[str, float]) -> float:
    return (params["x"] - 1) ** 2


def rounds(
    trials: Any, rstate: np.random.Generator, fmin_: Any, space: Any, algo: Any
) -> list[int]:
    sizes = []
    for round_ in range(3):
        kwargs: dict[str, Any] = {"show_progressbar": False}
        fmin_(
            square,
            space,
            algo=algo,
            max_evals=5 * (round_ + 1),
            trials=trials,
            rstate=rstate,
            **kwargs,
        )
        sizes.append(len(trials))
    return sizes


def test_one_rstate_reused_across_rounds_continues_the_search_as_hyperopt_does() -> None:
    trials = Trials()
    sizes = rounds(trials, np.random.default_rng(7), fmin_sync, SPACE, tpe.suggest)
    hyperopt = pytest.importorskip("hyperopt")
    theirs = hyperopt.Trials()
    their_sizes = rounds(
        theirs,
        np.random.default_rng(7),
        hyperopt.fmin,
        {"x": hyperopt.hp.uniform("x", -5, 5)},
        hyperopt.tpe.suggest,
    )
    assert sizes == their_sizes == [5, 10, 15]
    assert trials.tids == list(range(15))
    assert all(status == "ok" for status in trials.statuses())


def round_two(first_seed: int, second_seed: int) -> list[float]:
    trials = Trials()
    fmin_sync(
        square,
        SPACE,
        algo=rand.suggest,
        max_evals=3,
        trials=trials,
        seed=first_seed,
        show_progressbar=False,
    )
    fmin_sync(
        square,
        SPACE,
        algo=rand.suggest,
        max_evals=6,
        trials=trials,
        seed=second_seed,
        show_progressbar=False,
    )
    return [float(x) for x in trials.vals["x"]]


def test_a_new_seed_drives_the_new_trials_of_an_in_memory_trials() -> None:
    same = round_two(1, 2)
    assert same == round_two(1, 2)  # repeatable
    other = round_two(1, 3)
    assert other[:3] == same[:3]  # the first round is kept as it was
    assert other[3:] != same[3:]  # the second round's seed drives its trials
    # Each round's seed alone picks its points: rand's draws depend on (seed, trial id).
    alone = Trials()
    fmin_sync(
        square, SPACE, algo=rand.suggest, max_evals=6, trials=alone, seed=2, show_progressbar=False
    )
    assert same[3:] == [float(x) for x in alone.vals["x"][3:]]


async def test_a_named_stored_study_keeps_its_seed_and_says_how_to_go_on(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    await fmin(square, SPACE, algo=rand.suggest, max_evals=2, storage=db, study="exp", seed=1)
    with pytest.raises(StudyMismatch) as caught:
        await fmin(square, SPACE, algo=rand.suggest, max_evals=4, storage=db, study="exp", seed=2)
    message = str(caught.value)
    assert "\n" not in message
    assert "was created with seed 1, and this call passes seed 2" in message
    assert "pass the same seed, or none (no seed and no rstate)" in message
    assert "To search under another seed, use a new study name." in message
    # Without a seed it resumes.
    await fmin(square, SPACE, algo=rand.suggest, max_evals=4, storage=db, study="exp")


async def test_an_early_stop_leaves_no_unfinished_trial_in_hyperopts_view() -> None:
    started = []
    all_started = anyio.Event()

    async def objective(params: dict[str, float]) -> float:
        started.append(params["x"])
        if len(started) == 4:
            all_started.set()
        if len(started) > 1:
            await anyio.sleep(30)  # stopped by the early stop
        await all_started.wait()
        return params["x"] ** 2

    trials = Trials()
    await fmin(
        objective,
        SPACE,
        algo=rand.suggest,
        max_evals=20,
        concurrency=4,
        trials=trials,
        seed=3,
        early_stop_fn=lambda t, *args: (len(t) >= 1, args),
    )
    states = [record.state for record in trials.records]
    assert states.count(TrialState.INTERRUPTED) == 3  # kept, to run again on resume
    assert len(trials) == 1 == len(trials.trials) == len(trials.results)
    assert trials.statuses() == ["ok"]
    assert min(trials.losses()) == trials.best_trial["result"]["loss"]  # type: ignore[type-var]
    assert set(trials.argmin) == {"x"}
    assert trials.count_by_state_unsynced(JOB_STATE_CANCEL) == 3
    assert trials.count_by_state_unsynced(JOB_STATE_DONE) == 1
    assert all(values == [trials.argmin["x"]] for values in trials.vals.values())


async def test_a_timeout_leaves_no_unfinished_trial_in_hyperopts_view() -> None:
    async def slow(params: dict[str, float]) -> float:
        await anyio.sleep(0.01 if params["x"] < 0 else 30)
        return params["x"] ** 2

    trials = Trials()
    await fmin(
        slow,
        SPACE,
        algo=rand.suggest,
        max_evals=500,
        timeout=0.5,
        concurrency=8,
        trials=trials,
        seed=5,
    )
    assert any(r.state is TrialState.INTERRUPTED for r in trials.records)
    assert len(trials) == sum(r.state is TrialState.OK for r in trials.records) > 0
    assert set(trials.statuses()) == {"ok"}
    assert None not in trials.losses()
    assert min(trials.losses()) == trials.best_trial["result"]["loss"]  # type: ignore[type-var]
