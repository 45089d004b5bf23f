"""PostgreSQL faults on a real server (tests/conftest.py's ``postgres_server``): the server
stopped and started mid-run, stopped past ``reconnect_timeout``, connections killed from the
server side (``pg_terminate_backend``), and statements whose commit was in doubt.

What must hold: a run rides out an outage shorter than ``reconnect_timeout`` (every trial
evaluated once, stored once, ids dense); a longer one stops the run with one line naming the
wait, and running again resumes and completes it, nothing finished lost.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import asyncpg
import pytest

from asynchpo import PostgresStorage, StorageError, TrialContext, Trials, TrialState, fmin, hp, rand
from asynchpo.testing.storage import CONFIG, done, starting

if TYPE_CHECKING:
    from conftest import PgServer

pytestmark = pytest.mark.timeout(90)

SPACE = {"x": hp.uniform("x", -5, 5)}
LONG = 1000.0  # a lease that never lapses during a test


class Evaluations:
    """An objective that counts its evaluations per trial id, sleeping a few ms each."""

    def __init__(self, sleep: float = 0.005) -> None:
        self.sleep = sleep
        self.calls: collections.Counter[int] = collections.Counter()
        self.lock = threading.Lock()

    async def __call__(self, params: dict[str, Any], trial: TrialContext) -> float:
        with self.lock:
            self.calls[trial.trial_id] += 1
        await anyio.sleep(self.sleep)
        return float(params["x"])

    def count(self) -> int:
        with self.lock:
            return sum(self.calls.values())

    def wait_for(self, goal: int, seconds: float = 30) -> None:
        """Block (in a thread) until ``goal`` evaluations started."""
        deadline = time.monotonic() + seconds
        while self.count() < goal:
            assert time.monotonic() < deadline, f"no {goal} evaluations in {seconds} s"
            time.sleep(0.005)


async def _stored(url: str) -> dict[int, dict[str, Any]]:
    """Every trial row of the database's only study, by id (as stored)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT * FROM asynchpo.trials ORDER BY tid")
    finally:
        await conn.close()
    return {row["tid"]: dict(row) for row in rows}


def _complete(rows: dict[int, dict[str, Any]], budget: int) -> None:
    assert sorted(rows) == list(range(budget)), sorted(rows)  # dense: none skipped, none twice
    assert {row["state"] for row in rows.values()} == {"ok"}
    for row in rows.values():
        assert row["loss"] is not None


@pytest.fixture
def server(postgres_server: PgServer) -> Iterator[PgServer]:
    """The server, started again after the test whatever it left it in."""
    yield postgres_server
    postgres_server.ensure_running()


# --- the server stopped and started mid-run ---------------------------------------------------


async def test_server_stopped_and_started_mid_run(pg_url: str, server: PgServer) -> None:
    budget = 240
    objective = Evaluations()
    outage: dict[str, float] = {}

    def stop_and_start() -> None:
        objective.wait_for(40)
        outage["at"] = objective.count()
        server.stop()
        time.sleep(1.5)
        server.start()
        outage["back"] = objective.count()

    trials = Trials()
    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, stop_and_start)
        await fmin(
            objective,
            SPACE,
            algo=rand.suggest,
            max_evals=budget,
            concurrency=8,
            storage=pg_url,
            study="outage",
            seed=3,
            trials=trials,
        )
    assert outage["at"] < budget  # the server went away mid-run
    assert objective.count() > outage["back"] or outage["back"] == budget
    _complete(await _stored(pg_url), budget)
    assert sorted(objective.calls) == list(range(budget))
    assert set(objective.calls.values()) == {1}  # nothing evaluated twice
    assert len(trials.records) == budget


async def test_server_down_past_reconnect_timeout_stops_then_resumes(
    pg_url: str, server: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    budget, wait = 200, 2.0
    objective = Evaluations()
    stopped: dict[str, float] = {}

    def stop() -> None:
        objective.wait_for(30)
        server.stop()
        stopped["at"] = time.monotonic()

    caught: list[BaseException] = []
    storage = await PostgresStorage.open(pg_url, reconnect_timeout=wait)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, stop)
            try:
                await fmin(
                    objective,
                    SPACE,
                    algo=rand.suggest,
                    max_evals=budget,
                    concurrency=8,
                    storage=storage,
                    study="down",
                    seed=3,
                    lease_seconds=2.0,
                )
            except StorageError as exc:
                caught.append(exc)
        took = time.monotonic() - stopped["at"]
    finally:
        await storage.aclose()
    assert len(caught) == 1, "fmin went on without its server"
    message = str(caught[0])
    assert "\n" not in message
    assert f"could not get it back within {wait:g} s" in message, message
    assert "run again to resume" in message
    # A bounded wait: about reconnect_timeout, not one per call still waiting on the server.
    assert wait - 0.5 <= took < 2 * wait + 1.5, took
    # A warning per outage (a shutdown may look like two), not one per call waiting on it.
    lost = [r for r in caplog.records if r.getMessage().startswith("lost the connection")]
    assert 1 <= len(lost) <= 3, [r.getMessage() for r in lost]

    server.start()
    before = await _stored(pg_url)
    finished_before = {tid: row for tid, row in before.items() if row["state"] == "ok"}
    assert 0 < len(finished_before) < budget
    assert sorted(before) == list(range(len(before)))
    evaluated_before = dict(objective.calls)

    await fmin(
        objective,
        SPACE,
        algo=rand.suggest,
        max_evals=budget,
        concurrency=8,
        storage=pg_url,
        study="down",
        seed=3,
        lease_seconds=2.0,
    )
    after = await _stored(pg_url)
    _complete(after, budget)
    for tid, row in finished_before.items():
        assert after[tid] == row  # nothing finished lost or changed
    for tid, count in objective.calls.items():
        # Run twice only if it was in flight (not finished) when the server went away.
        assert count == 1 or (tid not in finished_before and evaluated_before.get(tid) == 1), (
            tid,
            count,
        )
    for tid, row in before.items():
        assert after[tid]["params"] == row["params"]  # in flight then: run again as itself


# --- connections killed from the server side --------------------------------------------------


async def test_connections_terminated_repeatedly_during_a_run(
    pg_url: str, server: PgServer
) -> None:
    budget = 500
    objective = Evaluations(0.03)
    finished = threading.Event()
    ended: list[int] = []
    dbname = server.dbname_of(pg_url)

    def terminate() -> None:
        objective.wait_for(10)
        while not finished.wait(0.1) and len(ended) < 15:
            ended.append(server.terminate_backends(dbname))

    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, terminate)
        try:
            await fmin(
                objective,
                SPACE,
                algo=rand.suggest,
                max_evals=budget,
                concurrency=8,
                storage=pg_url,
                study="terminated",
                seed=5,
            )
        finally:
            finished.set()
    assert len(ended) >= 4, ended  # connections were killed, repeatedly
    assert sum(ended) >= 8, ended
    _complete(await _stored(pg_url), budget)
    assert sorted(objective.calls) == list(range(budget))
    assert set(objective.calls.values()) == {1}


# --- statements whose commit was in doubt -----------------------------------------------------

Op = Callable[[Any, bool], Awaitable[Any]]


def _break_once(storage: PostgresStorage, after: bool) -> list[str]:
    """Make the next statement of ``storage`` lose its connection once: ``after`` it ran and
    committed (its answer lost), or before it was sent. Returns the actions it broke."""
    original = storage._run
    broken: list[str] = []

    async def run(action: str, op: Op) -> Any:
        async def faulty(conn: Any, retried: bool) -> Any:
            if broken:
                return await op(conn, retried)
            broken.append(action)
            result = await op(conn, retried) if after else None
            conn.terminate()
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle")
            return result  # pragma: no cover

        return await original(action, faulty)

    storage._run = run  # type: ignore[method-assign]
    return broken


@pytest.mark.parametrize("after", [True, False], ids=["committed", "not-sent"])
async def test_in_doubt_statements_are_stored_once(pg_url: str, after: bool) -> None:
    async with await PostgresStorage.open(pg_url, reconnect_timeout=5) as storage:
        broken = _break_once(storage, after)
        study = await storage.create_study("s", CONFIG)
        assert broken == ["create study 's'"]
        assert [s.name for s in await storage.list_studies()] == ["s"]
        driver = await storage.open_driver(study.id, "h", 1, LONG)

        broken = _break_once(storage, after)
        begun, _ = await storage.new_trials(
            study.id, driver.id, [starting(0.1), starting(0.2)], None
        )
        assert broken
        assert broken[0].startswith("start 2 trial(s)")
        assert [t.id for t in begun] == [0, 1]
        assert [t.id for t in await storage.trials(study.id)] == [0, 1]

        await storage.write(study.id, [begun[0].replace(state=TrialState.INTERRUPTED)])
        broken = _break_once(storage, after)
        taken = await storage.take_trial(study.id, driver.id, None, 123.5, 3)
        assert broken
        assert broken[0].startswith("take a waiting trial")
        assert taken is not None
        assert (taken.id, taken.slot, taken.started) == (0, 3, 123.5)
        assert await storage.take_trial(study.id, driver.id, None, 124.5, 4) is None

        broken = _break_once(storage, after)
        written = await storage.write(study.id, [done(taken, 0.5), done(begun[1], 0.25)])
        assert broken
        assert broken[0].startswith("write 2 trial record(s)")
        assert written.refused == ()
        stored = await storage.trials(study.id)
        assert [(t.id, t.state, t.loss) for t in stored] == [
            (0, TrialState.OK, 0.5),
            (1, TrialState.OK, 0.25),
        ]
        # A finished trial stays final: another record of it is still refused.
        with pytest.raises(StorageError, match="already finished"):
            await storage.write(study.id, [done(taken, 9.0)])
        more, _ = await storage.new_trials(study.id, driver.id, [starting(0.3)], None)
        assert [t.id for t in more] == [2]
