"""Several driver processes on one PostgreSQL study (a real server, tests/conftest.py), as
tests/test_drivers.py does for SQLite: fmin drivers and an ask/tell loop SIGKILLed at random
moments and started again share one budget, lose nothing finished and run nothing twice in two
live drivers; and many drivers at high concurrency hold a few connections each, not one per
trial in flight.

The drivers are ``driver_scripts/study_driver.py`` processes given the database's URL; each
evaluation appends ``<trial id> <driver tag> <params>`` to one log (see test_drivers.py).
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from test_drivers import DRIVER, Launched, Run, complete

from asynchpo._storage._postgres import POOL_SIZE

if TYPE_CHECKING:
    from conftest import PgServer

BUDGET = 150
SLEEP = "0.01"


def _fetch(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of one query (blocking; the tests here are plain functions)."""

    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(url)
        try:
            return [dict(row) for row in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


class PgRun(Run):
    """test_drivers.Run with its drivers on a PostgreSQL database instead of a SQLite file."""

    def __init__(self, folder: Path, url: str) -> None:
        super().__init__(folder)
        self.url = url

    def script(self, mode: str, *options: str) -> list[str]:
        return [sys.executable, DRIVER, mode, self.url, "shared", "--log", str(self.log), *options]

    def _rows(self, sql: str) -> list[dict[str, Any]]:
        try:
            return _fetch(self.url, sql)
        except asyncpg.UndefinedTableError:
            return []  # the first driver is creating the schema

    def trials(self) -> dict[int, dict[str, Any]]:
        return {row["tid"]: row for row in self._rows("SELECT * FROM asynchpo.trials ORDER BY tid")}

    def drivers(self) -> dict[int, dict[str, Any]]:
        return {row["id"]: row for row in self._rows("SELECT * FROM asynchpo.drivers")}


@pytest.fixture
def run(tmp_path: Path, pg_url: str) -> Iterator[PgRun]:
    drivers = PgRun(tmp_path, pg_url)
    try:
        yield drivers
    finally:
        for driver in drivers.all:
            if driver.proc.poll() is None:
                driver.proc.kill()
                driver.proc.wait()


def _running_by_pid(run: PgRun, rows: dict[int, dict[str, Any]]) -> dict[int, dict[int, str]]:
    pids = {driver_id: row["pid"] for driver_id, row in run.drivers().items()}
    found: dict[int, dict[int, str]] = {}
    for tid, row in rows.items():
        if row["state"] == "running":
            found.setdefault(pids[row["driver"]], {})[tid] = row["params"]
    return found


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", [11])
def test_four_drivers_and_ask_tell_killed_at_random_then_resumed(run: PgRun, seed: int) -> None:
    rng = random.Random(seed)
    budget = ("--max-evals", str(BUDGET), "--sleep", SLEEP)
    commands = {
        "fmin-c1": run.script("fmin", "--concurrency", "1", *budget),
        "fmin-c2": run.script("fmin", "--concurrency", "2", *budget),
        "fmin-c3": run.script("fmin", "--concurrency", "3", *budget),
        "fmin-c4": run.script("fmin", "--concurrency", "4", *budget),
        "asktell": run.script("asktell", *budget),
    }
    current = {name: run.launch(name, argv) for name, argv in commands.items()}
    finished_then: dict[int, dict[str, Any]] = {}  # finished rows seen after a kill
    held: dict[int, str] = {}  # trial id -> params, running in a driver just before its kill

    def kill(target: Launched, before: dict[int, dict[str, Any]]) -> None:
        run.kill(target)
        held.update(_running_by_pid(run, before).get(target.proc.pid, {}))
        finished_then.update({t: r for t, r in run.trials().items() if r["state"] == "ok"})

    goal = rng.randint(10, 25)
    for _ in range(4):
        run.wait_until(lambda: run.count() >= goal, f"{goal} evaluations")  # noqa: B023
        name = rng.choice(sorted(current))
        if current[name].proc.poll() is not None:
            continue
        kill(current[name], run.trials())
        current[name] = run.launch(name, commands[name])  # the same command again
        goal = run.count() + rng.randint(5, 20)

    # Then every driver at once, mid-run; one driver alone resumes and completes the study.
    goal = run.count() + 10
    run.wait_until(lambda: run.count() >= goal, f"{goal} evaluations")
    before = run.trials()
    assert len([r for r in before.values() if r["state"] == "ok"]) < BUDGET, "done too soon"
    for target in current.values():
        if target.proc.poll() is None:
            kill(target, before)
    resumed = run.launch("resume", run.script("fmin", "--concurrency", "4", *budget))
    run.finish([resumed])
    assert resumed.stdout().splitlines()[-1].startswith("done "), resumed.stdout()

    rows = complete(run, BUDGET)  # ids 0..BUDGET-1, all ok, each by the driver that stored it
    assert held  # some kill hit trials in flight
    for tid, row in finished_then.items():
        assert rows[tid] == row  # a finished trial never changed
    for tid, params in held.items():
        assert rows[tid]["params"] == params  # run again under its own id and parameters
    for tid, done in run.evaluations().items():
        final = run.tag_of(rows[tid]["driver"])
        tags = [tag for tag, _ in done]
        assert tags.count(final) == 1, (tid, done)
        # Any other evaluation was in flight in a driver that was killed.
        assert set(tags) - {final} <= run.killed, (tid, done, run.killed)
        assert all(params == done[0][1] for _, params in done), (tid, done)

    # The budget holds: one more driver finds nothing left to run.
    late = run.launch("late", run.script("asktell", *budget))
    run.finish([late])
    assert late.stdout().splitlines()[-1] == f"done {BUDGET}", late.stdout()
    assert sorted(run.trials()) == list(range(BUDGET))


@pytest.mark.timeout(120)
def test_drivers_at_concurrency_64_hold_a_pool_each(
    run: PgRun, postgres_server: PgServer, pg_url: str
) -> None:
    drivers, budget = 3, 800
    options = ("--concurrency", "64", "--max-evals", str(budget), "--sleep", "0.05")
    launched = [run.launch(f"c64-{k}", run.script("fmin", *options)) for k in range(drivers)]
    dbname = postgres_server.dbname_of(pg_url)
    samples: list[int] = []
    done = threading.Event()

    async def sample() -> None:
        # From the admin database, so that this connection is not counted.
        conn = await asyncpg.connect(postgres_server.url)
        try:
            while not done.is_set():
                samples.append(
                    await conn.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", dbname
                    )
                )
                await asyncio.sleep(0.02)
        finally:
            await conn.close()

    sampler = threading.Thread(target=lambda: asyncio.run(sample()))
    sampler.start()
    try:
        run.finish(launched)
    finally:
        done.set()
        sampler.join()
    complete(run, budget)
    # (A driver slow to start may find the budget spent: at least two shared it.)
    assert len({row["driver"] for row in run.trials().values()}) >= 2
    assert max(samples) <= drivers * POOL_SIZE, (max(samples), samples)
    assert max(samples) > POOL_SIZE, samples  # it sampled while several ran


# A driver killed while it opens a new database (creating asynchpo's tables, registering,
# starting its first trials) or while it runs leaves either nothing or complete tables, and
# nothing finished is lost: the next driver goes on. The kills sweep from the interpreter's
# start-up (about 0.3 s here) through the set-up into the run (40 trials of 40 ms, 4 at once).
_OPENER = """
import sys, time, anyio
from asynchpo import fmin, hp, rand
def objective(params):
    time.sleep(0.04)
    return params["x"]
async def main():
    await fmin(objective, {"x": hp.uniform("x", 0, 1)}, algo=rand.suggest,
               max_evals=40, concurrency=4, storage=sys.argv[1], study="fresh", seed=1)
anyio.run(main)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kill_after", [round(0.2 + 0.07 * step, 2) for step in range(8)])
def test_a_driver_killed_while_it_sets_up_a_new_database(pg_url: str, kill_after: float) -> None:
    import subprocess
    import time

    process = subprocess.Popen([sys.executable, "-c", _OPENER, pg_url])
    time.sleep(kill_after)
    process.kill()
    process.wait(timeout=10)
    tables = _fetch(pg_url, "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'asynchpo'")
    assert tables[0]["n"] in (0, 5), f"a partial schema: {tables[0]['n']} tables"
    before = (
        _fetch(pg_url, "SELECT tid, loss FROM asynchpo.trials WHERE state = 'ok'")
        if tables[0]["n"]
        else []
    )
    # The next driver opens it (creating the tables or finding them) and finishes the study.
    done = subprocess.run(
        [sys.executable, "-c", _OPENER, pg_url], capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stderr
    trials = _fetch(pg_url, "SELECT tid, state, loss FROM asynchpo.trials ORDER BY tid")
    assert [row["tid"] for row in trials if row["state"] == "ok"] == list(range(40))
    after = {row["tid"]: row["loss"] for row in trials}
    assert all(after[row["tid"]] == row["loss"] for row in before)
