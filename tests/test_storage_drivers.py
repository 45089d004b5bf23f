"""The storage contract for several drivers: leases, ids taken at start, waiting trials,
fencing and the change feed, against every implementation (and the two against each other)."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from asynchpo._exceptions import StorageError, StudyNotFound
from asynchpo._storage import (
    Driver,
    MemoryStorage,
    SqliteStorage,
    Storage,
    StudyConfig,
    StudyRecord,
)
from asynchpo._storage._group_commit import GroupCommit
from asynchpo._trial import Trial, TrialState

CONFIG = StudyConfig(space=[{"label": "x"}], fingerprint="f", algo="rand", seed=1)
LONG = 1000.0  # a lease that never lapses during a test


def new(x: float, slot: int | None = 0) -> Trial:
    """A trial to start: its id and driver are set by the storage."""
    now = time.time()
    return Trial(-1, TrialState.RUNNING, {"x": x}, created=now, started=now, slot=slot)


def done(trial: Trial, loss: float = 1.0) -> Trial:
    return trial.replace(state=TrialState.OK, loss=loss, result={"loss": loss}, finished=1.0)


@pytest.fixture
async def study(storage: Storage) -> StudyRecord:
    return await storage.create_study("main", CONFIG)


async def test_drivers_register_renew_and_end(storage: Storage, study: StudyRecord) -> None:
    before = time.time()
    a = await storage.open_driver(study.id, "host-a", 11, 5.0)
    b = await storage.open_driver(study.id, "host-b", 22, 7.5)
    assert (a.host, a.pid, a.lease, a.ended) == ("host-a", 11, 5.0, None)
    assert a.id != b.id
    assert before - 1 <= a.started <= a.seen <= time.time() + 1
    assert a.alive(time.time())
    assert not a.alive(a.seen + 5.0)
    await anyio.sleep(0.01)
    renewed = await storage.heartbeat(a.id)
    assert renewed.seen > a.seen
    await storage.end_driver(a.id)
    listed = await storage.drivers(study.id)
    assert [driver.id for driver in listed] == [a.id, b.id]
    assert listed[0].ended is not None
    assert not listed[0].alive(time.time())
    # An ended driver's heartbeat renews nothing.
    assert (await storage.heartbeat(a.id)).ended is not None
    with pytest.raises(StorageError, match="no driver"):
        await storage.heartbeat(9999)


async def test_new_trials_take_dense_ids_within_the_budget(
    storage: Storage, study: StudyRecord
) -> None:
    a = await storage.open_driver(study.id, "h", 1, LONG)
    b = await storage.open_driver(study.id, "h", 2, LONG)
    first, v1 = await storage.new_trials(study.id, a.id, [new(0.1), new(0.2)], 5)
    second, v2 = await storage.new_trials(study.id, b.id, [new(0.3)], 5)
    assert [(t.id, t.driver, t.state) for t in first + second] == [
        (0, a.id, TrialState.RUNNING),
        (1, a.id, TrialState.RUNNING),
        (2, b.id, TrialState.RUNNING),
    ]
    assert v2 > v1 >= 0
    # Running trials count toward the budget: only two more fit.
    third, _ = await storage.new_trials(study.id, a.id, [new(0.4), new(0.5), new(0.6)], 5)
    assert [t.id for t in third] == [3, 4]
    assert await storage.new_trials(study.id, b.id, [new(0.7)], 5) == ([], -1)
    # Without a budget there is no limit; a finished trial still counts.
    await storage.write(study.id, [done(first[0])])
    assert await storage.new_trials(study.id, b.id, [new(0.8)], 5) == ([], -1)
    more, _ = await storage.new_trials(study.id, b.id, [new(0.9)], None)
    assert [t.id for t in more] == [5]
    stored = await storage.trials(study.id)
    assert [t.id for t in stored] == [0, 1, 2, 3, 4, 5]
    assert stored[2].params == {"x": 0.3}


async def test_take_trial_hands_waiting_trials_to_one_driver(
    storage: Storage, study: StudyRecord
) -> None:
    a = await storage.open_driver(study.id, "h", 1, LONG)
    b = await storage.open_driver(study.id, "h", 2, LONG)
    queued = await storage.enqueue(study.id, [{"x": 0.5}, {"x": 0.25}])
    assert [(t.id, t.state) for t in queued] == [(0, TrialState.QUEUED), (1, TrialState.QUEUED)]
    started, _ = await storage.new_trials(study.id, a.id, [new(0.75)], None)
    taken = await storage.take_trial(study.id, b.id, None, 5.0, 3)
    assert taken is not None
    assert (taken.id, taken.driver, taken.state, taken.slot) == (0, b.id, TrialState.RUNNING, 3)
    assert taken.started == 5.0
    again = await storage.take_trial(study.id, b.id, None, 6.0, 0)
    assert again is not None
    assert (again.id, again.params) == (1, {"x": 0.25})
    # a's trial 2 is held by a live driver: nothing more to take.
    assert await storage.take_trial(study.id, b.id, None, 7.0, 0) is None
    # Once a ends, its running trial is taken, with its id and params, and no leftovers.
    await storage.write(
        study.id, [started[0].replace(reports=((1, 0.5),), error="x", result={"k": 1})]
    )
    await storage.end_driver(a.id)
    stale = await storage.take_trial(study.id, b.id, None, 8.0, 1)
    assert stale is not None
    assert (stale.id, stale.driver, stale.params, stale.reports, stale.error, stale.result) == (
        2,
        b.id,
        {"x": 0.75},
        (),
        None,
        {},
    )
    # A driver never takes its own running trials.
    assert await storage.take_trial(study.id, b.id, None, 9.0, 1) is None


async def test_a_lapsed_lease_frees_the_trials(storage: Storage, study: StudyRecord) -> None:
    a = await storage.open_driver(study.id, "h", 1, 0.05)
    b = await storage.open_driver(study.id, "h", 2, LONG)
    await storage.new_trials(study.id, a.id, [new(0.1)], None)
    assert await storage.take_trial(study.id, b.id, None, 1.0, 0) is None
    await anyio.sleep(0.2)
    taken = await storage.take_trial(study.id, b.id, None, 1.0, 0)
    assert taken is not None
    assert (taken.id, taken.driver) == (0, b.id)


async def test_taking_queued_trials_respects_the_budget(
    storage: Storage, study: StudyRecord
) -> None:
    a = await storage.open_driver(study.id, "h", 1, LONG)
    b = await storage.open_driver(study.id, "h", 2, LONG)
    await storage.enqueue(study.id, [{"x": 0.5}])
    await storage.new_trials(study.id, a.id, [new(0.1), new(0.2)], None)
    # finished + running = 2 >= max_evals 2: the queued trial waits.
    assert await storage.take_trial(study.id, b.id, 2, 1.0, 0) is None
    # A stale running trial is already counted: it is taken even with the budget spent.
    await storage.end_driver(a.id)
    taken = await storage.take_trial(study.id, b.id, 2, 1.0, 0)
    assert taken is not None
    assert taken.id == 1
    # An interrupted trial no longer counts, so the queued one may start.
    await storage.write(study.id, [taken.replace(state=TrialState.INTERRUPTED)])
    assert (await storage.take_trial(study.id, b.id, 3, 1.0, 0)) is not None


async def test_enqueue_skips_points_already_in_the_study(
    storage: Storage, study: StudyRecord
) -> None:
    a = await storage.open_driver(study.id, "h", 1, LONG)
    await storage.new_trials(study.id, a.id, [new(0.5)], None)
    added = await storage.enqueue(study.id, [{"x": 0.5}, {"x": 0.25}, {"x": 0.25}])
    assert [(t.id, t.params) for t in added] == [(1, {"x": 0.25})]
    assert await storage.enqueue(study.id, [{"x": 0.25}]) == []
    with pytest.raises(StudyNotFound):
        await storage.enqueue(999, [{"x": 1.0}])


async def test_a_record_of_a_trial_another_driver_holds_is_refused(
    storage: Storage, study: StudyRecord
) -> None:
    a = await storage.open_driver(study.id, "h", 1, LONG)
    b = await storage.open_driver(study.id, "h", 2, LONG)
    started, _ = await storage.new_trials(study.id, a.id, [new(0.1), new(0.2)], None)
    await storage.end_driver(a.id)
    taken = await storage.take_trial(study.id, b.id, None, 1.0, 0)
    assert taken is not None
    # a wakes up: its late result for trial 0 is refused; its trial 1 is still its own.
    written = await storage.write(study.id, [done(started[0], 5.0), done(started[1], 6.0)])
    assert written.refused == (0,)
    stored = await storage.trials(study.id)
    assert (stored[0].state, stored[0].driver) == (TrialState.RUNNING, b.id)
    assert (stored[1].state, stored[1].loss) == (TrialState.OK, 6.0)
    # b's own result is stored; then nobody changes it.
    assert (await storage.write(study.id, [done(taken, 1.5)])).refused == ()
    assert (await storage.write(study.id, [done(started[0], 9.0)])).refused == (0,)
    with pytest.raises(StorageError, match="already finished"):
        await storage.write(study.id, [done(taken, 2.5)])
    assert (await storage.trials(study.id))[0].loss == 1.5


async def test_the_change_feed_returns_what_changed(storage: Storage, study: StudyRecord) -> None:
    a = await storage.open_driver(study.id, "h", 1, LONG)
    start = await storage.changes(study.id, -1)
    assert start.trials == []
    started, version = await storage.new_trials(study.id, a.id, [new(0.1), new(0.2)], None)
    changes = await storage.changes(study.id, start.version)
    assert [t.id for t in changes.trials] == [0, 1]
    assert changes.version == version
    assert (await storage.changes(study.id, changes.version)).trials == []
    written = await storage.write(study.id, [done(started[1])])
    later = await storage.changes(study.id, changes.version)
    assert [(t.id, t.state) for t in later.trials] == [(1, TrialState.OK)]
    assert later.version == written.version > version
    everything = await storage.changes(study.id, -1)
    assert [t.state for t in everything.trials] == [TrialState.RUNNING, TrialState.OK]
    with pytest.raises(StudyNotFound):
        await storage.changes(999, -1)


async def test_writes_renew_the_writers_lease(storage: Storage, study: StudyRecord) -> None:
    # Renewed by a write once a quarter of the lease has passed since it was last seen.
    a = await storage.open_driver(study.id, "h", 1, 0.4)
    started, _ = await storage.new_trials(study.id, a.id, [new(0.1), new(0.2)], None)
    seen = (await storage.drivers(study.id))[0].seen
    await storage.write(study.id, [started[0].replace(reports=((1, 0.5),))])
    assert (await storage.drivers(study.id))[0].seen == seen
    await anyio.sleep(0.15)
    await storage.write(study.id, [done(started[0])])
    renewed = (await storage.drivers(study.id))[0].seen
    assert renewed > seen + 0.1
    # A driver that stops writing lapses: another driver takes its trial.
    b = await storage.open_driver(study.id, "h", 2, LONG)
    assert await storage.take_trial(study.id, b.id, None, 1.0, 0) is None
    await anyio.sleep(0.5)
    taken = await storage.take_trial(study.id, b.id, None, 1.0, 0)
    assert taken is not None
    assert taken.id == 1


async def test_group_commit_shares_statements_and_keeps_refusals_apart(
    storage: Storage, study: StudyRecord
) -> None:
    a = await storage.open_driver(study.id, "h", 1, LONG)
    b = await storage.open_driver(study.id, "h", 2, LONG)
    group = GroupCommit(storage)
    results: list[list[Trial]] = []

    async def start(x: float) -> None:
        trials, _ = await group.new_trials(study.id, a.id, [new(x)], 6)
        results.append(trials)

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(start, i / 10)
    started = sorted((t for batch in results for t in batch), key=lambda t: t.id)
    assert [t.id for t in started] == [0, 1, 2, 3, 4, 5]
    assert sum(not batch for batch in results) == 2
    await storage.end_driver(a.id)
    taken = await storage.take_trial(study.id, b.id, None, 1.0, 0)
    assert taken is not None
    refusals: dict[int, tuple[int, ...]] = {}

    async def finish(trial: Trial) -> None:
        refusals[trial.id] = (await group.write(study.id, [done(trial)])).refused

    async with anyio.create_task_group() as tg:
        for trial in started:
            tg.start_soon(finish, trial)
    assert refusals == {0: (0,), 1: (), 2: (), 3: (), 4: (), 5: ()}


async def test_memory_and_sqlite_agree_on_random_driver_operations(tmp_path: Path) -> None:
    """Differential check: the same random mix of starts, takes, writes, queues and driver
    ends gives the same ids, holders and refusals in both storages."""
    rng = random.Random(7)
    async with MemoryStorage() as memory, await SqliteStorage.open(tmp_path / "d.db") as sqlite:
        stores: tuple[Storage, Storage] = (memory, sqlite)
        ids = [(await store.create_study("s", CONFIG)).id for store in stores]
        assert ids[0] == ids[1]
        sid = ids[0]
        drivers: list[list[Driver]] = [[], []]
        for step in range(250):
            op = rng.choice(["driver", "new", "take", "finish", "interrupt", "queue", "end"])
            budget = rng.choice([None, rng.randint(5, 60)])
            outcomes: list[Any] = []
            for k, store in enumerate(stores):
                known = drivers[k]
                if op == "driver" or not known:
                    known.append(await store.open_driver(sid, "h", 1, LONG))
                    outcomes.append(len(known))
                    continue
                who = known[step % len(known)].id
                if op == "new":
                    trials, _ = await store.new_trials(sid, who, [new(step / 250)], budget)
                    outcomes.append([(t.id, t.driver) for t in trials])
                elif op == "take":
                    taken = await store.take_trial(sid, who, budget, 1.0, 0)
                    outcomes.append(None if taken is None else (taken.id, taken.driver))
                elif op in ("finish", "interrupt"):
                    running = [t for t in await store.trials(sid) if t.state is TrialState.RUNNING]
                    if not running:
                        outcomes.append("none")
                        continue
                    target = running[step % len(running)].replace(driver=who)
                    record = (
                        done(target, step / 7)
                        if op == "finish"
                        else target.replace(state=TrialState.INTERRUPTED)
                    )
                    outcomes.append((await store.write(sid, [record])).refused)
                elif op == "queue":
                    added = await store.enqueue(sid, [{"x": random.Random(step).random()}])
                    outcomes.append([t.id for t in added])
                else:
                    victim = known[random.Random(step).randrange(len(known))]
                    await store.end_driver(victim.id)
                    outcomes.append(victim.id)
            assert outcomes[0] == outcomes[1], (step, op, outcomes)
        mine = [(t.id, t.state, t.driver, t.params) for t in await memory.trials(sid)]
        theirs = [(t.id, t.state, t.driver, t.params) for t in await sqlite.trials(sid)]
        assert mine == theirs
        assert [t.id for t in await memory.trials(sid)] == list(range(len(mine)))


async def test_a_locked_file_is_waited_for_off_the_event_loop(tmp_path: Path) -> None:
    """Statements run on the loop's thread only when the database is free at once; while
    another process holds the write lock they wait on the database thread, and the event loop
    goes on meanwhile."""
    path = tmp_path / "locked.db"
    async with await SqliteStorage.open(path) as storage:
        study = await storage.create_study("s", CONFIG)
        driver = await storage.open_driver(study.id, "h", 1, LONG)
        started, _ = await storage.new_trials(study.id, driver.id, [new(0.5)], None)
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        ticks = 0
        ticks_at_release = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await anyio.sleep(0.01)

        async def release() -> None:
            nonlocal ticks_at_release
            await anyio.sleep(0.3)
            ticks_at_release = ticks
            holder.execute("COMMIT")

        async with anyio.create_task_group() as tg:
            tg.start_soon(tick)
            tg.start_soon(release)
            await anyio.lowlevel.checkpoint()  # both are running before the write
            written = await storage.write(study.id, [done(started[0])])
            more, _ = await storage.new_trials(study.id, driver.id, [new(0.25)], None)
            tg.cancel_scope.cancel()
        holder.close()
        assert written.refused == ()
        assert [t.id for t in more] == [1]
        # The loop ran while the write waited for the lock (a statement blocking it until the
        # lock is free would block the release too).
        assert ticks_at_release >= 10
        stored = await storage.trials(study.id)
        assert [(t.id, t.state) for t in stored] == [(0, TrialState.OK), (1, TrialState.RUNNING)]
