"""Several drivers on one study, beyond the contract (its driver tests are in
:class:`asynchpo.testing.storage.StorageContract`, run by ``test_storage.py``): the memory and
SQLite storages against each other, and SQLite waiting for a locked file."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from asynchpo._storage import Driver, MemoryStorage, SqliteStorage, Storage
from asynchpo._trial import TrialState
from asynchpo.testing.storage import CONFIG, done, starting

LONG = 1000.0  # a lease that never lapses during a test


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
                    trials, _ = await store.new_trials(sid, who, [starting(step / 250)], budget)
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
        started, _ = await storage.new_trials(study.id, driver.id, [starting(0.5)], None)
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
            more, _ = await storage.new_trials(study.id, driver.id, [starting(0.25)], None)
            tg.cancel_scope.cancel()
        holder.close()
        assert written.refused == ()
        assert [t.id for t in more] == [1]
        # The loop ran while the write waited for the lock (a statement blocking it until the
        # lock is free would block the release too).
        assert ticks_at_release >= 10
        stored = await storage.trials(study.id)
        assert [(t.id, t.state) for t in stored] == [(0, TrialState.OK), (1, TrialState.RUNNING)]
