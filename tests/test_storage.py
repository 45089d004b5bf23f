"""The storage contract (:class:`asynchpo.testing.storage.StorageContract`) over the memory
and SQLite storages, plus what only SQLite can show."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from asynchpo._exceptions import StorageError
from asynchpo._storage import MemoryStorage, SqliteStorage, Storage, open_storage
from asynchpo._storage._schema import encode_config, encode_trial
from asynchpo._trial import Trial, TrialState
from asynchpo.testing.storage import CONFIG, StorageContract, finished, running

# --- the contract, for every implementation ---------------------------------------------------


class TestMemoryStorage(StorageContract):
    @pytest.fixture
    async def storage(self) -> AsyncIterator[Storage]:
        store = MemoryStorage()
        yield store
        await store.aclose()


class TestSqliteStorage(StorageContract):
    @pytest.fixture
    async def storage(self, tmp_path: Path) -> AsyncIterator[Storage]:
        """On a real file."""
        store = await SqliteStorage.open(tmp_path / "studies.db")
        yield store
        await store.aclose()


# --- memory and SQLite against each other -----------------------------------------------------


async def test_memory_and_sqlite_agree_on_random_batches(tmp_path: Path) -> None:
    """Differential check: the same random writes give the same outcome in both storages."""
    rng = random.Random(20240601)
    states = list(TrialState)
    async with MemoryStorage() as memory, await SqliteStorage.open(tmp_path / "d.db") as sqlite:
        ids = [(await memory.create_study(n, CONFIG)).id for n in ("a", "b")]
        assert [(await sqlite.create_study(n, CONFIG)).id for n in ("a", "b")] == ids
        for step in range(300):
            study_id = rng.choice(ids)
            batch = [
                running(tid).replace(
                    state=rng.choice(states), loss=rng.choice([None, rng.random()]), error=str(step)
                )
                for tid in (rng.randrange(40) for _ in range(rng.randint(0, 4)))
            ]
            outcomes = []
            for store in (memory, sqlite):
                try:
                    await store.write(study_id, batch)
                    outcomes.append("stored")
                except StorageError as exc:
                    outcomes.append(str(exc).split(";")[0])
            assert outcomes[0] == outcomes[1], (step, batch)
            if step % 25 == 0:
                assert await memory.trials(study_id) == await sqlite.trials(study_id)
        for study_id in ids:
            assert await memory.trials(study_id) == await sqlite.trials(study_id)


# --- SQLite only ------------------------------------------------------------------------------


def _raw_rows(path: Path, sql: str, *parameters: Any) -> list[Any]:
    """Rows read through a plain sqlite3 connection, closed before returning."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, parameters).fetchall()
    finally:
        conn.close()


async def test_reopen_reads_everything_back(tmp_path: Path) -> None:
    path = tmp_path / "studies.db"
    async with await SqliteStorage.open(path) as storage:
        one = await storage.create_study("one", CONFIG)
        two = await storage.create_study("two", CONFIG)
        await storage.write(one.id, [finished(0), running(1), finished(2, TrialState.FAIL)])
        await storage.write(two.id, [running(0)])
        studies = await storage.list_studies()
    async with await SqliteStorage.open(str(path)) as storage:
        assert await storage.list_studies() == studies
        assert await storage.get_study("two") == two
        assert await storage.trials(one.id) == [
            finished(0),
            running(1),
            finished(2, TrialState.FAIL),
        ]
        assert await storage.trials(two.id) == [running(0)]
        await storage.write(two.id, [finished(0)])
    async with await SqliteStorage.open(path) as storage:
        assert await storage.trials(two.id) == [finished(0)]


async def test_many_studies_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "many.db"
    async with await SqliteStorage.open(path) as storage:
        records = [await storage.create_study(f"study-{i}", CONFIG) for i in range(6)]
        for i, record in enumerate(records):
            await storage.write(record.id, [finished(tid) for tid in range(i)])
    assert _raw_rows(path, "SELECT count(*) FROM studies") == [(6,)]
    assert _raw_rows(path, "SELECT study_id, count(*) FROM trials GROUP BY study_id") == [
        (record.id, i) for i, record in enumerate(records) if i
    ]
    async with await SqliteStorage.open(path) as storage:
        for i, record in enumerate(records):
            assert await storage.trials(record.id) == [finished(tid) for tid in range(i)]


async def test_file_settings(tmp_path: Path) -> None:
    path = tmp_path / "settings.db"
    async with await SqliteStorage.open(path) as storage:
        assert _raw_rows(path, "PRAGMA journal_mode") == [("wal",)]
        assert _raw_rows(path, "PRAGMA application_id") == [(0x4148504F,)]
        assert _raw_rows(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("5",)]
        conn = storage._conn
        assert conn is not None
        assert list(await conn.execute_fetchall("PRAGMA synchronous")) == [(1,)]  # NORMAL
        assert list(await conn.execute_fetchall("PRAGMA busy_timeout")) == [(10_000,)]
        assert list(await conn.execute_fetchall("PRAGMA foreign_keys")) == [(1,)]
        assert storage.path == str(path.absolute())


async def test_finished_rows_on_disk_stay_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "immutable.db"
    async with await SqliteStorage.open(path) as storage:
        study = await storage.create_study("s", CONFIG)
        await storage.write(study.id, [finished(0), running(1)])
        before = _raw_rows(path, "SELECT * FROM trials ORDER BY tid")
        with pytest.raises(StorageError, match=r"trial\(s\) 0 \(ok\)"):
            await storage.write(study.id, [finished(1), running(2), finished(0, loss=99.0)])
        assert _raw_rows(path, "SELECT * FROM trials ORDER BY tid") == before
        assert [row[2] for row in before] == ["ok", "running"]


async def test_batch_is_atomic_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "atomic.db"
    async with await SqliteStorage.open(path) as storage:
        study = await storage.create_study("s", CONFIG)
        await storage.write(study.id, [finished(7)])
        for size in (3, 2000):  # one statement, then several statements in one transaction
            batch = [running(tid) for tid in range(100, 100 + size)] + [running(7)]
            with pytest.raises(StorageError):
                await storage.write(study.id, batch)
            assert _raw_rows(path, "SELECT tid FROM trials") == [(7,)]


async def test_cancelled_write_is_all_or_nothing(tmp_path: Path) -> None:
    for attempt, delay in enumerate((0.0, 0.001, 0.003, 0.01)):
        path = tmp_path / f"cancel-{attempt}.db"
        async with await SqliteStorage.open(path) as storage:
            study = await storage.create_study("s", CONFIG)
            # Big enough to be written as several statements in one transaction.
            write = storage.write(study.id, [running(tid) for tid in range(1, 5001)])
            task = asyncio.create_task(write)
            await asyncio.sleep(delay)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert len(await storage.trials(study.id)) in (0, 5000)
            # No transaction was left open to swallow this write: it reaches the file.
            await storage.write(study.id, [finished(0)])
            assert _raw_rows(path, "SELECT state FROM trials WHERE tid = 0") == [("ok",)]
        assert _raw_rows(path, "SELECT count(*) FROM trials") in ([(1,)], [(5001,)])


async def test_aclose_does_not_hang_after_cancellation(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "hang.db")
    study = await storage.create_study("s", CONFIG)
    task = asyncio.create_task(storage.write(study.id, [running(t) for t in range(3000)]))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait_for(storage.aclose(), timeout=5)
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_second_connection_reads_while_writing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    async with (
        await SqliteStorage.open(path) as writer,
        await SqliteStorage.open(path) as reader,
    ):
        study = await writer.create_study("s", CONFIG)
        assert await reader.get_study("s") == study
        for tid in range(20):
            await writer.write(study.id, [running(tid)])
            assert (await reader.trials(study.id))[-1] == running(tid)
            await writer.write(study.id, [finished(tid)])
            assert len(await reader.trials(study.id)) == tid + 1
        assert await reader.trials(study.id) == await writer.trials(study.id)


async def test_concurrent_opens_of_a_new_file(tmp_path: Path) -> None:
    for attempt in range(10):
        path = tmp_path / f"race-{attempt}.db"
        results = await asyncio.gather(
            *(SqliteStorage.open(path) for _ in range(4)), return_exceptions=True
        )
        opened = [result for result in results if isinstance(result, SqliteStorage)]
        try:
            assert len(opened) == 4, [r for r in results if isinstance(r, BaseException)]
            study = await opened[0].create_study("s", CONFIG)
            for storage in opened:
                assert await storage.get_study("s") == study
        finally:
            for storage in opened:
                await storage.aclose()


_SNAPSHOT_READER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN")
print(conn.execute("SELECT count(*) FROM trials").fetchone()[0], flush=True)
sys.stdin.readline()
during = conn.execute("SELECT count(*) FROM trials").fetchone()[0]
conn.execute("COMMIT")
after = conn.execute("SELECT count(*) FROM trials").fetchone()[0]
print(during, after, flush=True)
conn.close()
"""

_POLLING_READER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1])
print("ready", flush=True)
counts = []
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    counts.append(conn.execute("SELECT count(*) FROM trials WHERE state = 'ok'").fetchone()[0])
assert counts == sorted(counts), "a reader saw trials disappear"
print(len(counts), counts[-1], flush=True)
conn.close()
"""


async def _python(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _readline(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    return (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()


async def test_reader_process_holding_a_snapshot_does_not_block_the_writer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "snapshot.db"
    async with await SqliteStorage.open(path) as storage:
        study = await storage.create_study("s", CONFIG)
        await storage.write(study.id, [finished(0)])
        reader = await _python(_SNAPSHOT_READER, str(path))
        assert await _readline(reader) == "1\n"
        started = time.monotonic()
        for tid in range(1, 201):
            await storage.write(study.id, [running(tid)])
            await storage.write(study.id, [finished(tid)])
        # Well below the busy timeout: the writer never waited for the reader.
        assert time.monotonic() - started < 5
        out, err = await asyncio.wait_for(reader.communicate(b"go\n"), timeout=20)
        assert reader.returncode == 0, err.decode()
        assert out.decode().split() == ["1", "201"]
        assert len(await storage.trials(study.id)) == 201


async def test_reader_process_polls_while_the_writer_writes(tmp_path: Path) -> None:
    path = tmp_path / "polling.db"
    async with await SqliteStorage.open(path) as storage:
        study = await storage.create_study("s", CONFIG)
        reader = await _python(_POLLING_READER, str(path), "0.6")
        assert await _readline(reader) == "ready\n"
        done = asyncio.ensure_future(reader.communicate())
        tid = 0
        while not done.done() and tid < 50_000:
            await storage.write(study.id, [running(tid)])
            await storage.write(study.id, [finished(tid)])
            tid += 1
        out, err = await asyncio.wait_for(done, timeout=20)
        assert reader.returncode == 0, err.decode()
        polls, last_seen = map(int, out.decode().split())
        assert polls > 10
        assert 0 < last_seen <= tid
        assert len(await storage.trials(study.id)) == tid


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    async with await SqliteStorage.open(path):
        pass
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(StorageError, match=r"newer asynchpo \(schema version 99.*upgrade asynchpo"):
        await SqliteStorage.open(path)


async def test_missing_schema_version_is_reported_as_damage(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    async with await SqliteStorage.open(path):
        pass
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM meta")
    conn.close()
    with pytest.raises(StorageError, match="damaged"):
        await SqliteStorage.open(path)


async def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    content = b"these are my notes, not a database\n" * 200
    path.write_bytes(content)
    with pytest.raises(StorageError, match=r"notes\.txt: the file exists but is not a SQLite"):
        await SqliteStorage.open(path)
    assert path.read_bytes() == content


async def test_a_database_of_another_program(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO orders VALUES (1)")
    conn.close()
    content = path.read_bytes()
    with pytest.raises(StorageError, match=r"another program \(it holds orders\)"):
        await SqliteStorage.open(path)
    assert path.read_bytes() == content
    assert _raw_rows(path, "PRAGMA journal_mode") == [("delete",)]


async def test_missing_folder_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "studies.db"
    with pytest.raises(
        StorageError, match=r"folder .*such does not exist; create it first"
    ) as info:
        await SqliteStorage.open(path)
    assert str(path) in str(info.value)
    assert "mkdir" in str(info.value)
    assert not (tmp_path / "no").exists()


async def test_a_folder_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="it is a folder"):
        await SqliteStorage.open(tmp_path)


async def test_in_memory_sqlite() -> None:
    async with await SqliteStorage.open(":memory:") as storage:
        study = await storage.create_study("s", CONFIG)
        await storage.write(study.id, [finished(0)])
        assert await storage.trials(study.id) == [finished(0)]


# --- open_storage -----------------------------------------------------------------------------


async def test_open_storage_none_is_a_fresh_memory_storage() -> None:
    async with open_storage(None) as storage:
        assert isinstance(storage, MemoryStorage)
        await storage.create_study("s", CONFIG)
    with pytest.raises(StorageError, match="closed"):
        await storage.list_studies()
    async with open_storage(None) as other:
        assert await other.list_studies() == []


@pytest.mark.parametrize("as_str", [True, False])
async def test_open_storage_path_opens_sqlite(tmp_path: Path, as_str: bool) -> None:
    path = tmp_path / "s.db"
    async with open_storage(str(path) if as_str else path) as storage:
        assert isinstance(storage, SqliteStorage)
        await storage.create_study("s", CONFIG)
    with pytest.raises(StorageError, match="closed"):
        await storage.list_studies()
    async with open_storage(path) as storage:
        assert [record.name for record in await storage.list_studies()] == ["s"]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_open_storage_leaves_a_given_storage_open(tmp_path: Path, kind: str) -> None:
    mine: Storage = (
        MemoryStorage() if kind == "memory" else await SqliteStorage.open(tmp_path / "x.db")
    )
    async with mine:
        async with open_storage(mine) as storage:
            assert storage is mine
            await storage.create_study("s", CONFIG)
        assert [record.name for record in await mine.list_studies()] == ["s"]


@pytest.mark.parametrize("spec", [42, b"studies.db", 1.5, ["a.db"]])
def test_open_storage_rejects_other_types(spec: object) -> None:
    with pytest.raises(TypeError, match=r"None .*os\.PathLike.*Storage instance, not"):
        open_storage(spec)  # type: ignore[arg-type]


async def test_open_storage_accepts_any_pathlike(tmp_path: Path) -> None:
    class Where(os.PathLike[str]):
        def __fspath__(self) -> str:
            return str(tmp_path / "where.db")

    async with open_storage(Where()) as storage:
        assert isinstance(storage, SqliteStorage)
    assert (tmp_path / "where.db").exists()


def test_interface_names() -> None:
    import asynchpo._storage as package

    assert set(package.__all__) >= {
        "Storage",
        "StudyConfig",
        "StudyRecord",
        "MemoryStorage",
        "SqliteStorage",
        "open_storage",
    }
    assert issubclass(MemoryStorage, Storage)
    assert issubclass(SqliteStorage, Storage)


# The trials table and trigger as schema version 2 wrote them.
_V2_TRIALS = """
    CREATE TABLE trials (
        study_id INTEGER NOT NULL REFERENCES studies (id),
        tid INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'ok', 'fail', 'interrupted')),
        params TEXT NOT NULL, loss REAL, result TEXT NOT NULL, error TEXT,
        created REAL NOT NULL, started REAL, finished REAL, slot INTEGER,
        PRIMARY KEY (study_id, tid)
    ) WITHOUT ROWID
"""
_V2_TRIGGER = """
    CREATE TRIGGER trials_finished_are_final BEFORE UPDATE ON trials
    FOR EACH ROW WHEN OLD.state IN ('fail', 'ok')
    BEGIN SELECT RAISE(ABORT, 'asynchpo: a finished trial cannot be changed'); END
"""
_V2_COLUMNS = "study_id, tid, state, params, loss, result, error, created, started, finished, slot"


_V3_TRIALS = """
    CREATE TABLE trials (
        study_id INTEGER NOT NULL REFERENCES studies (id),
        tid INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN
            ('queued', 'running', 'ok', 'fail', 'interrupted', 'pruned')),
        params TEXT NOT NULL,
        loss REAL,
        result TEXT NOT NULL,
        error TEXT,
        created REAL NOT NULL,
        started REAL,
        finished REAL,
        slot INTEGER,
        reports TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (study_id, tid)
    ) WITHOUT ROWID
    """

_V3_TRIGGER = """
    CREATE TRIGGER trials_finished_are_final BEFORE UPDATE ON trials
    FOR EACH ROW WHEN OLD.state IN ('fail', 'ok', 'pruned')
    BEGIN SELECT RAISE(ABORT, 'asynchpo: a finished trial cannot be changed'); END
    """


def _old_file(path: Path, version: int) -> list[Trial]:
    """A file laid out as schema ``version`` (1, 2 or 3) wrote it: two finished trials and a
    trial left RUNNING by a driver that died."""
    records = [finished(0), finished(1, TrialState.FAIL), running(2, slot=1)]
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(f"PRAGMA application_id = {0x4148504F}")
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute(
            "CREATE TABLE studies (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
            " config TEXT NOT NULL, created REAL NOT NULL)"
        )
        conn.execute(_V3_TRIALS if version == 3 else _V2_TRIALS)
        conn.execute(_V3_TRIGGER if version == 3 else _V2_TRIGGER)
        conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(version),))
        conn.execute("INSERT INTO studies VALUES (1, 's', ?, 1.0)", (encode_config(CONFIG),))
        columns = _V2_COLUMNS + (", reports" if version == 3 else "")
        for trial in records:
            row = encode_trial(trial)[: 11 if version == 3 else 10]
            conn.execute(
                f"INSERT INTO trials ({columns}) VALUES ({', '.join('?' * (len(row) + 1))})",
                (1, *row),
            )
        if version == 1:
            conn.execute("ALTER TABLE trials DROP COLUMN slot")
    if version == 1:
        return [trial.replace(slot=None) for trial in records]
    return records


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_an_old_file_is_upgraded_in_place(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.db"
    before = _old_file(path, version)
    async with await SqliteStorage.open(path) as storage:
        record = await storage.get_study("s")
        assert await storage.trials(record.id) == before
        # The counters start from the stored trials: the next id, and the budget's count.
        driver = await storage.open_driver(record.id, "h", 1, 10.0)
        started, _ = await storage.new_trials(record.id, driver.id, [running(-1, slot=2)], 4)
        assert [trial.id for trial in started] == [3]
        assert await storage.new_trials(record.id, driver.id, [running(-1)], 4) == ([], -1)
        # The trial a driver of the old version left running has no lease: it is taken.
        taken = await storage.take_trial(record.id, driver.id, 4, 5.0, 0)
        assert taken is not None
        assert (taken.id, taken.driver, taken.params) == (2, driver.id, before[2].params)
        pruned = taken.replace(state=TrialState.PRUNED, loss=0.25, reports=((1, 0.5), (3, 0.25)))
        await storage.write(record.id, [pruned])
        stored = await storage.trials(record.id)
        assert stored[2] == pruned
        assert stored[3].slot == 2
        # Finished trials are still final, the new state included.
        with pytest.raises(StorageError, match="already finished"):
            await storage.write(record.id, [taken])
    assert _raw_rows(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("5",)]
