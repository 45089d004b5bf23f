"""The PostgreSQL storage on a real server (``tests/conftest.py`` starts one): the storage
contract unchanged, then what only a server shows: URLs and their passwords, refusals that
write nothing, the schema's versions, and several storage objects racing on one study."""

from __future__ import annotations

import pickle
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import asyncpg
import pytest
from conftest import PASSWORD, PgServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynchpo import PostgresStorage, StorageError, StudyNotFound, TrialState
from asynchpo._storage import _postgres_schema as schema_sql
from asynchpo._storage._urls import mask_url, parse_postgres_url
from asynchpo.testing.storage import CONFIG, StorageContract, done, running, starting

# --- the contract ---------------------------------------------------------------------------


class TestPostgresStorage(StorageContract):
    @pytest.fixture
    async def storage(self, pg_url: str) -> AsyncIterator[PostgresStorage]:
        """On a fresh database of a real server."""
        store = await PostgresStorage.open(pg_url)
        yield store
        await store.aclose()


async def _fetchval(url: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def _has_tables(url: str, schema: str = "asynchpo") -> bool:
    return await _fetchval(url, "SELECT to_regclass($1) IS NOT NULL", f"{schema}.meta") is True


# --- URLs: the password is never shown ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://me:s3cret@db.example:5432/hpo", "postgresql://me:***@db.example:5432/hpo"),
        (
            "postgres://me:p%40ss%2Fw@db/hpo?sslmode=require",
            "postgres://me:***@db/hpo?sslmode=require",
        ),
        ("postgresql://me@db/hpo", "postgresql://me@db/hpo"),
        ("postgresql://db/hpo?user=me&password=s3cret", "postgresql://db/hpo?user=me&password=***"),
        ("postgresql://me:a@b@db/hpo", "postgresql://me:***@db/hpo"),
        ("runs/study.sqlite", "runs/study.sqlite"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


_PASSWORDS = st.text(min_size=1, max_size=30).filter(lambda text: "\x00" not in text)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(password=_PASSWORDS, user=st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True))
def test_a_percent_encoded_password_is_always_masked(password: str, user: str) -> None:
    url = f"postgresql://{user}:{urllib.parse.quote(password, safe='')}@db.example:5432/hpo"
    parsed = parse_postgres_url(url)
    assert parsed.shown == f"postgresql://{user}:***@db.example:5432/hpo"
    assert str(parsed) == parsed.shown
    # Neither the password nor what holds it is part of the repr.
    assert "dsn=" not in repr(parsed)
    assert "secrets=" not in repr(parsed)
    assert parsed.scrub(password) == "***"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://me:pw@db:notaport/hpo", "not a valid PostgreSQL URL"),
        ("postgresql://me:pw@db/hpo?schema=Bad-Name", "schema='Bad-Name' is not a plain"),
        ("postgresql://me:pw@db/hpo#frag", "has a '#' part"),
    ],
)
async def test_a_malformed_url_is_one_line_without_the_password(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message) as info:
        await PostgresStorage.open(url)
    text = str(info.value)
    assert "\n" not in text
    assert "pw@" not in text
    assert "me:***@" in text


# --- refusals: one line, nothing written ----------------------------------------------------


async def test_a_wrong_password_is_one_line(postgres_server: PgServer) -> None:
    wrong = postgres_server.with_password("not-the-secret")
    with pytest.raises(StorageError, match="refused the password") as info:
        await PostgresStorage.open(wrong)
    text = str(info.value)
    assert "not-the-secret" not in text
    assert PASSWORD not in text
    assert "\n" not in text


async def test_the_right_password_connects_and_is_not_shown(postgres_server: PgServer) -> None:
    url = postgres_server.password_url(
        dbname=postgres_server.dbname_of(postgres_server.create_database())
    )
    async with await PostgresStorage.open(url) as store:
        await store.create_study("s", CONFIG)
        assert PASSWORD not in store.url
        assert PASSWORD not in repr(store)
        with pytest.raises(StudyNotFound) as info:
            await store.get_study("missing")
        assert PASSWORD not in str(info.value)


async def test_an_unknown_database_is_one_line(postgres_server: PgServer) -> None:
    with pytest.raises(
        StorageError, match=r"no database 'nope_db': create it \(createdb nope_db\)"
    ):
        await PostgresStorage.open(postgres_server.url_for("nope_db"))


async def test_an_unreachable_server_is_one_line() -> None:
    with pytest.raises(
        StorageError, match=r"cannot reach PostgreSQL at postgresql://u:\*\*\*@127\.0\.0\.1:1/db"
    ) as info:
        await PostgresStorage.open("postgresql://u:hunter22@127.0.0.1:1/db", connect_timeout=5)
    assert "hunter22" not in str(info.value)


async def test_a_server_too_old_is_refused_before_anything_is_written(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema_sql, "MIN_SERVER_VERSION", (99, 0))
    with pytest.raises(
        StorageError, match=r"it is version 1\d\.\d+, and asynchpo needs 99 or newer"
    ):
        await PostgresStorage.open(pg_url)
    assert not await _has_tables(pg_url)


async def test_tables_of_a_newer_asynchpo_are_refused_and_kept(pg_url: str) -> None:
    async with await PostgresStorage.open(pg_url) as store:
        await store.create_study("s", CONFIG)
    conn = await asyncpg.connect(pg_url)
    await conn.execute("UPDATE asynchpo.meta SET value = '99' WHERE key = 'schema_version'")
    await conn.close()
    with pytest.raises(StorageError, match=r"written by a newer asynchpo \(schema version 99"):
        await PostgresStorage.open(pg_url)
    assert await _fetchval(pg_url, "SELECT value FROM asynchpo.meta") == "99"
    assert await _fetchval(pg_url, "SELECT count(*) FROM asynchpo.studies") == 1


async def test_a_user_who_may_not_create_the_schema_is_told_what_to_ask(
    pg_url: str, postgres_server: PgServer
) -> None:
    dbname = postgres_server.dbname_of(pg_url)
    postgres_server.execute("DROP ROLE IF EXISTS asynchpo_plain")
    postgres_server.execute("CREATE ROLE asynchpo_plain LOGIN PASSWORD 'plain-pw'")
    postgres_server.execute(f'REVOKE CREATE ON DATABASE "{dbname}" FROM PUBLIC', dbname)
    url = postgres_server.password_url("asynchpo_plain", "plain-pw", dbname)
    with pytest.raises(
        StorageError, match="CREATE SCHEMA asynchpo AUTHORIZATION asynchpo_plain"
    ) as info:
        await PostgresStorage.open(url)
    assert "plain-pw" not in str(info.value)
    assert not await _has_tables(pg_url)


# --- schema versions --------------------------------------------------------------------------


async def test_an_older_schema_is_upgraded_in_place(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upgrade path, with a next version whose step adds a column: the stored study and
    its trials are kept, and two storages opening at once upgrade it once."""
    async with await PostgresStorage.open(pg_url) as store:
        study = await store.create_study("s", CONFIG)
        await store.write(study.id, [done(running(0), 0.5), running(1)])
    step = "ALTER TABLE {s}.studies ADD COLUMN note text NOT NULL DEFAULT 'upgraded'"
    monkeypatch.setattr(schema_sql, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(schema_sql.MIGRATIONS, 1, step)
    stores: list[PostgresStorage] = []

    async def open_one() -> None:
        stores.append(await PostgresStorage.open(pg_url))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(open_one)
    try:
        assert await _fetchval(pg_url, "SELECT value FROM asynchpo.meta") == "2"
        assert await _fetchval(pg_url, "SELECT note FROM asynchpo.studies") == "upgraded"
        trials = await stores[0].trials(study.id)
        assert [(t.id, t.state) for t in trials] == [(0, TrialState.OK), (1, TrialState.RUNNING)]
    finally:
        for store in stores:
            await store.aclose()


async def test_a_failed_upgrade_changes_nothing(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await PostgresStorage.open(pg_url) as store:
        await store.create_study("s", CONFIG)
    monkeypatch.setattr(schema_sql, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(
        schema_sql.MIGRATIONS,
        1,
        "ALTER TABLE {s}.studies ADD COLUMN note text; ALTER TABLE {s}.nothing ADD COLUMN x int",
    )
    with pytest.raises(StorageError, match="cannot set up asynchpo's tables"):
        await PostgresStorage.open(pg_url)
    assert await _fetchval(pg_url, "SELECT value FROM asynchpo.meta") == "1"
    columns = await _fetchval(
        pg_url,
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'asynchpo'"
        " AND table_name = 'studies' AND column_name = 'note'",
    )
    assert columns == 0


async def test_a_reader_of_an_older_schema_is_told_to_upgrade(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await PostgresStorage.open(pg_url) as store:
        await store.create_study("s", CONFIG)
    monkeypatch.setattr(schema_sql, "SCHEMA_VERSION", 2)
    with pytest.raises(StorageError, match="open it once for writing"):
        await PostgresStorage.open(pg_url, read_only=True)
    assert await _fetchval(pg_url, "SELECT value FROM asynchpo.meta") == "1"


# --- reading only ---------------------------------------------------------------------------


async def test_a_reader_creates_nothing_and_writes_nothing(pg_url: str) -> None:
    async with await PostgresStorage.open(pg_url, read_only=True) as reader:
        assert await reader.list_studies() == []
        with pytest.raises(StudyNotFound):
            await reader.get_study("s")
        with pytest.raises(StudyNotFound):
            await reader.trials(1)
        assert not await _has_tables(pg_url)
        # Once a run creates the tables, the same reader sees its study.
        async with await PostgresStorage.open(pg_url) as writer:
            study = await writer.create_study("s", CONFIG)
            await writer.write(study.id, [running(0)])
        assert [record.name for record in await reader.list_studies()] == ["s"]
        assert [t.id for t in await reader.trials(study.id)] == [0]
        with pytest.raises(StorageError, match="opened read-only"):
            await reader.write(study.id, [running(1)])
        with pytest.raises(StorageError, match="opened read-only"):
            await reader.create_study("t", CONFIG)
    assert await _fetchval(pg_url, "SELECT count(*) FROM asynchpo.trials") == 1


async def test_schemas_keep_studies_apart(pg_url: str) -> None:
    separator = "&" if "?" in pg_url else "?"
    async with (
        await PostgresStorage.open(pg_url) as default,
        await PostgresStorage.open(f"{pg_url}{separator}schema=team_b") as other,
    ):
        await default.create_study("s", CONFIG)
        assert await other.list_studies() == []
        await other.create_study("s", CONFIG)
        assert other.url.endswith("schema=team_b")
    assert await _has_tables(pg_url, "team_b")


async def test_a_nul_in_an_error_is_kept_visible(pg_url: str) -> None:
    async with await PostgresStorage.open(pg_url) as store:
        study = await store.create_study("s", CONFIG)
        failed = done(running(0)).replace(state=TrialState.FAIL, loss=None, error="bad\x00byte")
        await store.write(study.id, [failed])
        (stored,) = await store.trials(study.id)
        assert stored.error == "bad\\x00byte"


# --- several storage objects on one study: what row locks must get right ---------------------


async def _open_many(url: str, count: int) -> list[PostgresStorage]:
    return [await PostgresStorage.open(url) for _ in range(count)]


async def test_racing_drivers_take_dense_ids_within_the_budget(pg_url: str) -> None:
    stores = await _open_many(pg_url, 4)
    try:
        study = await stores[0].create_study("s", CONFIG)
        drivers = [
            await store.open_driver(study.id, "h", i, 1000.0) for i, store in enumerate(stores)
        ]
        got: list[int] = []

        async def start(store: PostgresStorage, driver: int) -> None:
            while True:
                batch = [starting(0.5), starting(0.25)]
                trials, _ = await store.new_trials(study.id, driver, batch, 150)
                if not trials:
                    return
                got.extend(trial.id for trial in trials)

        async with anyio.create_task_group() as tg:
            for store, driver in zip(stores, drivers, strict=True):
                for _ in range(3):
                    tg.start_soon(start, store, driver.id)
        assert sorted(got) == list(range(150))
        assert [t.id for t in await stores[1].trials(study.id)] == list(range(150))
    finally:
        for store in stores:
            await store.aclose()


async def test_racing_drivers_take_each_waiting_trial_once(pg_url: str) -> None:
    stores = await _open_many(pg_url, 4)
    try:
        study = await stores[0].create_study("s", CONFIG)
        await stores[0].enqueue(study.id, [{"x": i / 100} for i in range(60)])
        drivers = [
            await store.open_driver(study.id, "h", i, 1000.0) for i, store in enumerate(stores)
        ]
        taken: list[tuple[int, int]] = []

        async def take(store: PostgresStorage, driver: int) -> None:
            while (trial := await store.take_trial(study.id, driver, None, 1.0, 0)) is not None:
                taken.append((trial.id, driver))

        async with anyio.create_task_group() as tg:
            for store, driver in zip(stores, drivers, strict=True):
                for _ in range(2):
                    tg.start_soon(take, store, driver.id)
        assert sorted(tid for tid, _ in taken) == list(range(60))
        stored = await stores[0].trials(study.id)
        assert {(t.id, t.driver) for t in stored} == set(taken)
        assert all(t.state is TrialState.RUNNING for t in stored)
    finally:
        for store in stores:
            await store.aclose()


async def test_the_change_feed_misses_nothing_while_drivers_race(pg_url: str) -> None:
    """A reader that follows ``changes(since)`` while four storages write ends with exactly
    the stored trials: versions follow the order of commits, never the order of starts."""
    stores = await _open_many(pg_url, 5)
    reader = stores[-1]
    try:
        study = await stores[0].create_study("s", CONFIG)
        drivers = [
            await store.open_driver(study.id, "h", i, 1000.0) for i, store in enumerate(stores[:4])
        ]
        seen: dict[int, Any] = {}
        writing = anyio.Event()

        async def drive(store: PostgresStorage, driver: int) -> None:
            for _ in range(25):
                trials, _ = await store.new_trials(study.id, driver, [starting(0.1)], None)
                await store.write(study.id, [done(trial, 0.5) for trial in trials])

        async def follow() -> None:
            since = -1
            while True:
                last = writing.is_set()
                changes = await reader.changes(study.id, since)
                for trial in changes.trials:
                    seen[trial.id] = trial
                since = changes.version
                if last:
                    return
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            tg.start_soon(follow)
            async with anyio.create_task_group() as writers:
                for store, driver in zip(stores[:4], drivers, strict=True):
                    writers.start_soon(drive, store, driver.id)
            writing.set()
        final = await reader.trials(study.id)
        assert len(final) == 100
        assert [seen[t.id] for t in final] == final
    finally:
        for store in stores:
            await store.aclose()


async def test_two_storages_creating_the_tables_at_once(pg_url: str) -> None:
    stores: list[PostgresStorage] = []

    async def open_one() -> None:
        stores.append(await PostgresStorage.open(pg_url))

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(open_one)
    try:
        await stores[0].create_study("s", CONFIG)
        assert [r.name for r in await stores[3].list_studies()] == ["s"]
    finally:
        for store in stores:
            await store.aclose()


# --- attachments read without awaiting (the hyperopt Trials view) ----------------------------


async def test_the_attachment_reader_reads_after_close_and_pickles_no_password(
    postgres_server: PgServer, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_server.password_url(dbname=postgres_server.dbname_of(pg_url))
    async with await PostgresStorage.open(url) as store:
        study = await store.create_study("s", CONFIG)
        await store.put_attachments(study.id, 0, {"model": b"\x00weights", "meta": {"n": 1}})
        reader = store.attachment_reader(study.id)
    assert reader is not None
    # After the storage is closed, from inside a running event loop, without awaiting.
    assert reader(0) == {"model": b"\x00weights", "meta": {"n": 1}}
    assert reader(1) == {}
    assert PASSWORD not in repr(reader)
    frozen = pickle.dumps(reader)
    assert PASSWORD.encode() not in frozen
    # Unpickled, it connects without the password it was given: PGPASSWORD supplies it.
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    assert pickle.loads(frozen)(0)["model"] == b"\x00weights"
    monkeypatch.setenv("PGPASSWORD", "wrong")
    with pytest.raises(StorageError, match="refused the password") as info:
        pickle.loads(frozen)(0)
    assert PASSWORD not in str(info.value)
