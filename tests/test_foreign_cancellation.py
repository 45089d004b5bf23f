"""A cancellation the search did not ask for, raised or let out by the objective, is that
trial's crash: the search goes on (issue: it used to end the search silently)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from asynchpo import Trials, TrialState, fmin, hp, load_trials, rand

SPACE = {"x": hp.uniform("x", -1.0, 1.0)}


async def raises_cancelled(params: dict[str, float]) -> float:
    if params["x"] < 0:
        raise asyncio.CancelledError  # e.g. leaked from a library's own timeout
    return params["x"]


async def cancels_its_own_task(params: dict[str, float]) -> float:
    if params["x"] < 0:
        current = asyncio.current_task()
        assert current is not None
        current.cancel()
        await asyncio.sleep(1)
    await anyio.lowlevel.checkpoint()
    return params["x"]


@pytest.mark.parametrize("objective", [raises_cancelled, cancels_its_own_task])
@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_foreign_cancellation_is_the_trials_crash(
    tmp_path: Path, objective: object, concurrency: int
) -> None:
    db = tmp_path / "runs.sqlite"
    trials = Trials()
    await fmin(
        objective,  # type: ignore[arg-type]
        SPACE,
        algo=rand.suggest,
        max_evals=20,
        concurrency=concurrency,
        storage=db,
        seed=3,
        trials=trials,
    )
    stored = (await load_trials(db)).records
    assert [t.id for t in stored] == list(range(20))
    assert all(t.state.is_finished for t in stored)
    failed = [t for t in stored if t.state is TrialState.FAIL]
    assert failed  # the seed draws negative x too
    assert all(t.params["x"] < 0 for t in failed)
    assert all("CancelledError" in (t.error or "") for t in failed)
    assert all(t.state is TrialState.OK for t in stored if t.params["x"] >= 0)


async def test_a_foreign_cancellation_is_retried_like_a_crash(tmp_path: Path) -> None:
    calls: dict[float, int] = {}

    async def once(params: dict[str, float]) -> float:
        calls[params["x"]] = calls.get(params["x"], 0) + 1
        if params["x"] < 0 and calls[params["x"]] == 1:
            raise asyncio.CancelledError
        return params["x"]

    trials = Trials()
    await fmin(once, SPACE, algo=rand.suggest, max_evals=10, seed=3, trials=trials, retries=1)
    assert all(t.state is TrialState.OK for t in trials.records)
    retried = [t for t in trials.records if t.params["x"] < 0]
    assert retried
    assert all(len(t.result["attempts"]) == 1 for t in retried)


async def test_the_searchs_own_cancellation_still_stops_it(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"

    async def slow(params: dict[str, float]) -> float:
        await anyio.sleep(10)
        return params["x"]

    with anyio.move_on_after(0.3):
        await fmin(slow, SPACE, algo=rand.suggest, max_evals=10, concurrency=2, storage=db)
    stored = (await load_trials(db)).records
    assert [t.state for t in stored] == [TrialState.INTERRUPTED, TrialState.INTERRUPTED]
