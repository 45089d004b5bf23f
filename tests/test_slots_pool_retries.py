"""Slots, slot_env and current_trial; retries of crashed trials; the process pool."""

from __future__ import annotations

import os
from typing import Any

import anyio
import pytest
from pool_objectives import cpu_bound, crash_on_negative

from asynchpo import (
    ConfigError,
    ProcessExecutor,
    TrialCrashed,
    Trials,
    TrialState,
    current_trial,
    fmin,
    hp,
)

SPACE = {"x": hp.uniform("x", -5, 5)}


async def test_slots_are_never_shared_and_slot_env_follows_the_slot() -> None:
    holders: dict[int, int] = {}
    seen: list[tuple[int, str]] = []
    slot_of: dict[int, int] = {}

    async def objective(params: dict[str, float]) -> float:
        context = current_trial()
        assert context.slot not in holders, "a slot is held by two trials at once"
        holders[context.slot] = context.trial_id
        slot_of[context.trial_id] = context.slot
        seen.append((context.slot, context.env["GPU"]))
        await anyio.sleep(0.001 * (context.trial_id % 3))
        del holders[context.slot]
        return params["x"]

    trials = Trials()
    await fmin(
        objective,
        SPACE,
        max_evals=60,
        concurrency=4,
        seed=1,
        slot_env={"GPU": ["g0", "g1", "g2", "g3"]},
        trials=trials,
    )
    assert len(seen) == 60
    # Each record keeps the slot its evaluation held.
    assert {t.id: t.slot for t in trials.records} == slot_of
    assert {slot for slot, _ in seen} == {0, 1, 2, 3}
    assert all(gpu == f"g{slot}" for slot, gpu in seen)


async def test_thread_objectives_see_their_trial_too() -> None:
    ids: list[int] = []

    def objective(params: dict[str, float]) -> float:
        ids.append(current_trial().trial_id)
        return params["x"]

    await fmin(objective, SPACE, max_evals=10, concurrency=2, seed=2)
    assert sorted(ids) == list(range(10))


def test_current_trial_outside_an_objective_says_so() -> None:
    with pytest.raises(LookupError, match="only available inside an objective"):
        current_trial()


@pytest.mark.parametrize(
    ("slot_env", "message"),
    [
        ({"GPU": ["0"]}, r"slot_env\['GPU'\] has 1 values for concurrency=2"),
        ({"GPU": "01"}, r"slot_env\['GPU'\] must be a list"),
        ({"GPU": [0, 1]}, r"slot_env\['GPU'\] values must be strings"),
        (["GPU"], "slot_env must map variable names"),
    ],
)
async def test_bad_slot_env_fails_before_any_work(slot_env: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        await fmin(lambda p: 0.0, SPACE, max_evals=1, concurrency=2, slot_env=slot_env)


async def test_crashed_trials_are_retried_and_every_attempt_is_kept() -> None:
    attempts: dict[int, int] = {}

    async def flaky(params: dict[str, float]) -> float:
        trial_id = current_trial().trial_id
        attempts[trial_id] = attempts.get(trial_id, 0) + 1
        if trial_id % 2 == 0 and attempts[trial_id] <= 2:
            raise TrialCrashed(f"lost the GPU (attempt {attempts[trial_id]})")
        return params["x"]

    trials = Trials()
    await fmin(flaky, SPACE, max_evals=6, seed=3, retries=2, trials=trials)
    assert all(t.state is TrialState.OK for t in trials.records)
    for record in trials.records:
        if record.id % 2 == 0:
            assert record.result["attempts"] == [
                "lost the GPU (attempt 1)",
                "lost the GPU (attempt 2)",
            ]
        else:
            assert "attempts" not in record.result


async def test_crashes_beyond_the_retries_fail_the_trial_but_not_the_run() -> None:
    async def always_crashes(params: dict[str, float]) -> float:
        if params["x"] < 0:
            raise TrialCrashed("segfault")
        return params["x"]

    trials = Trials()
    await fmin(always_crashes, SPACE, max_evals=12, seed=4, retries=1, trials=trials)
    failed = [t for t in trials.records if t.state is TrialState.FAIL]
    assert failed
    assert all(t.error == "segfault" and t.result["attempts"] == ["segfault"] * 2 for t in failed)


async def test_a_returned_failure_is_not_retried() -> None:
    calls = 0

    async def fails(params: dict[str, float]) -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"status": "fail"}

    with pytest.raises(Exception, match="none succeeded"):
        await fmin(fails, SPACE, max_evals=3, seed=5, retries=3)
    assert calls == 3


@pytest.mark.timeout(120)
async def test_process_pool_uses_worker_processes() -> None:
    trials = Trials()
    await fmin(
        cpu_bound, SPACE, max_evals=12, concurrency=2, executor=ProcessExecutor(), trials=trials
    )
    pids = {t.result["pid"] for t in trials.records}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 4
    assert all(t.state is TrialState.OK for t in trials.records)


@pytest.mark.timeout(120)
async def test_a_crashing_worker_fails_only_its_trial_and_the_pool_recovers() -> None:
    trials = Trials()
    await fmin(
        crash_on_negative,
        SPACE,
        max_evals=16,
        concurrency=2,
        seed=6,
        executor=ProcessExecutor(),
        trials=trials,
    )
    crashed = [t for t in trials.records if t.params["x"] < 0]
    survived = [t for t in trials.records if t.params["x"] >= 0]
    assert crashed
    assert survived
    assert all(t.state is TrialState.FAIL for t in crashed)
    assert all("worker process evaluating trial" in (t.error or "") for t in crashed)
    assert all(t.state is TrialState.OK for t in survived)


async def test_process_pool_refuses_an_unpicklable_objective_at_start() -> None:
    def local(params: dict[str, float]) -> float:
        return params["x"]

    with pytest.raises(ConfigError, match="ProcessExecutor needs a picklable objective"):
        await fmin(local, SPACE, max_evals=2, executor=ProcessExecutor())
