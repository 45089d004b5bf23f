"""A storage in a PostgreSQL database, through a pool of asyncpg connections (asyncio only)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

import anyio

from asynchpo._exceptions import StorageError, StudyError, StudyNotFound
from asynchpo._storage import _postgres_schema as sql
from asynchpo._storage._base import Changes, Driver, Storage, StudyConfig, StudyRecord, Written
from asynchpo._storage._schema import (
    FINISHED_STATES,
    Row,
    decode_attachment,
    decode_config,
    decode_driver,
    decode_study,
    decode_trial,
    encode_attachments,
    encode_config,
    encode_trial,
    finished_trial_error,
    study_id_not_found,
)
from asynchpo._storage._urls import PostgresUrl, parse_postgres_url
from asynchpo._trial import Trial, TrialState

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    Conn = PoolConnectionProxy[Any]

logger = logging.getLogger("asynchpo")

__all__ = ["PostgresStorage"]

T = TypeVar("T")

#: How long a driver keeps trying to reach the server again after losing it, by default.
RECONNECT_S: Final = 60.0
#: How long one attempt to connect may take.
CONNECT_S: Final = 10.0
#: Connections per storage object: a driver runs one statement at a time (group commit), and
#: its readers a few more; never one per trial in flight.
POOL_SIZE: Final = 4
# A transaction of asynchpo never idles (it locks, runs a statement, commits): one left open
# (its process stopped with SIGSTOP while holding a study's lock) is ended by the server.
_SESSION: Final = {
    "application_name": "asynchpo",
    "idle_in_transaction_session_timeout": "30s",
}
# The SQLSTATEs of a read that finds no asynchpo schema, and of a write on a read-only session.
_UNDEFINED_TABLE: Final = "42P01"
_READ_ONLY: Final = "25006"
_UNIQUE: Final = "23505"
_FOREIGN_KEY: Final = "23503"
# Advisory lock key (ASCII "AHPO") around creating or upgrading a schema.
_SETUP_LOCK: Final = 0x4148504F

Op = Callable[["Conn", bool], Awaitable[T]]


def _driver_module() -> Any:
    """asyncpg, imported when a PostgreSQL storage is opened (it is an optional extra)."""
    try:
        import asyncpg
    except ImportError:
        raise StorageError(
            "a PostgreSQL storage needs asyncpg, which is not installed; install it with: "
            "pip install 'asynchpo[postgres]'"
        ) from None
    return asyncpg


@final
class PostgresStorage(Storage):
    """Studies and trials in a PostgreSQL database, shared by drivers on any number of
    machines; **asyncio only** (asyncpg).

    Open it with ``await PostgresStorage.open("postgresql://user:password@host/db")`` (or pass
    that URL as ``storage=`` anywhere asynchpo takes a storage) and close it with
    :meth:`aclose`. The tables live in the PostgreSQL schema ``asynchpo`` (``?schema=NAME`` in
    the URL picks another), created on first use by a user allowed to create a schema.

    Each storage object holds a small pool of connections (:data:`POOL_SIZE`): a driver with
    64 trials in flight still sends one statement at a time. Every statement is one round trip
    and one transaction, except taking a waiting trial and queueing points (a lock, then a
    statement that reads after it).

    **Faults.** A lost connection (the server restarted, the connection was killed, the network
    dropped) is retried with a new one for up to ``reconnect_timeout`` seconds, then the call
    fails with one line naming the wait. A statement whose commit was in doubt is checked
    against what is stored before it is sent again, so a record is stored once: a rewrite that
    finds its own finished record, a start that finds its own new trials, are taken as done.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        url: PostgresUrl,
        *,
        read_only: bool,
        reconnect_timeout: float,
        connect_timeout: float = CONNECT_S,
    ) -> None:
        """Wrap a pool that :meth:`open` has set up; call :meth:`open` instead."""
        self._pool: asyncpg.Pool | None = pool
        self._url = url
        self._read_only = read_only
        self._reconnect_timeout = reconnect_timeout
        self._connect_timeout = connect_timeout
        # When the current outage's wait ends (time.monotonic()); None while connected.
        self._outage: float | None = None
        self._pg = _driver_module()
        schema = f'"{url.schema}"'
        self._upsert = sql.UPSERT.format(s=schema)
        self._new_trials = sql.NEW_TRIALS.format(s=schema)
        self._lock_study = sql.LOCK_STUDY.format(s=schema)
        self._take_trial = sql.TAKE_TRIAL.format(s=schema)
        self._enqueue = sql.ENQUEUE.format(s=schema)
        self._changes = sql.CHANGES.format(s=schema)
        self._put_attachments = sql.PUT_ATTACHMENTS.format(s=schema)
        self._s = schema

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        read_only: bool = False,
        pool_size: int = POOL_SIZE,
        reconnect_timeout: float = RECONNECT_S,
        connect_timeout: float = CONNECT_S,
    ) -> PostgresStorage:
        """Connect to the database at ``url``, creating asynchpo's schema if it has none.

        :param url: ``postgresql://user:password@host:port/database`` (asyncpg's parameters
            may follow, e.g. ``?sslmode=require``; ``?schema=NAME`` names the PostgreSQL schema
            of asynchpo's tables). A password may also come from ``PGPASSWORD`` or
            ``~/.pgpass``, which keeps it out of command lines.
        :param read_only: only read: every transaction is read-only (the server refuses
            writes), and nothing is created.
        :param pool_size: the most connections this object opens.
        :param reconnect_timeout: how long a call keeps trying after the connection is lost.
        :param connect_timeout: how long one attempt to connect may take.
        :raises StorageError: in one line (the password masked) if the URL is malformed, the
            server cannot be reached, refuses the user or password, has no such database, is
            older than PostgreSQL 12, or holds asynchpo tables of a newer version. Nothing is
            written then.
        """
        parsed = parse_postgres_url(url)
        if pool_size < 1:
            raise StorageError(f"pool_size must be at least 1, not {pool_size}")
        pg = _driver_module()
        settings = dict(_SESSION)
        if read_only:
            settings["default_transaction_read_only"] = "on"
        pool: asyncpg.Pool | None = None
        try:
            # No connection floor (min_size=0): asyncpg would keep reconnecting in the
            # background during an outage, logging a traceback each time; the connections are
            # opened as statements need them, and the first one here, to check the server.
            pool = await pg.create_pool(
                parsed.dsn,
                min_size=0,
                max_size=pool_size,
                timeout=connect_timeout,
                command_timeout=reconnect_timeout,
                server_settings=settings,
            )
            first = await pool.acquire()
        except BaseException as exc:
            if pool is not None:
                pool.terminate()
            if isinstance(exc, Exception):
                raise connect_error(pg, parsed, exc, connect_timeout) from None
            raise
        storage = cls(
            pool,
            parsed,
            read_only=read_only,
            reconnect_timeout=reconnect_timeout,
            connect_timeout=connect_timeout,
        )
        try:
            try:
                await _check_server(first, parsed)
                await _prepare(pg, first, parsed, read_only=read_only)
            finally:
                await pool.release(first)
        except BaseException:
            await storage.aclose()
            raise
        return storage

    @property
    def url(self) -> str:
        """The database's URL, its password masked."""
        return self._url.shown

    def __repr__(self) -> str:
        state = "closed" if self._pool is None else "open"
        return f"<PostgresStorage {self._url.shown!r}: {state}>"

    # --- studies ------------------------------------------------------------------------

    async def create_study(self, name: str, config: StudyConfig) -> StudyRecord:
        """Create a study. Raises :class:`StudyError` if ``name`` already exists."""
        self._opened()
        config_json = encode_config(config)
        created = time.time()
        insert = f"INSERT INTO {self._s}.studies (name, config, created) VALUES ($1, $2, $3)"

        async def op(conn: Conn, retried: bool) -> int:
            try:
                return int(
                    await conn.fetchval(insert + " RETURNING id", name, config_json, created)
                )
            except self._pg.PostgresError as exc:
                if getattr(exc, "sqlstate", None) != _UNIQUE:
                    raise
                row = await conn.fetchrow(
                    f"SELECT id, config, created FROM {self._s}.studies WHERE name = $1", name
                )
                if retried and row is not None and (row[1], row[2]) == (config_json, created):
                    return int(row[0])  # our own insert, committed before the connection broke
                raise StudyError(
                    f"a study called {name!r} already exists in {self.url}; choose another "
                    "name, or resume it with get_study()"
                ) from None

        study_id = await self._run(f"create study {name!r}", op)
        return StudyRecord(
            id=study_id, name=name, config=decode_config(config_json), created=created
        )

    async def get_study(self, name: str) -> StudyRecord:
        """The stored study called ``name``. Raises :class:`StudyNotFound` if there is none."""
        rows = await self._fetch(
            f"SELECT id, name, config, created FROM {self._s}.studies WHERE name = $1",
            (name,),
            f"read study {name!r}",
            missing=[],
        )
        if not rows:
            raise StudyNotFound(f"there is no study called {name!r} in {self.url}; create it first")
        return decode_study(tuple(rows[0]))

    async def list_studies(self) -> list[StudyRecord]:
        """Every study in this database, oldest first."""
        rows = await self._fetch(
            f"SELECT id, name, config, created FROM {self._s}.studies ORDER BY created, id",
            (),
            "list the studies",
            missing=[],
        )
        return [decode_study(tuple(row)) for row in rows]

    # --- trials -------------------------------------------------------------------------

    async def trials(self, study_id: int) -> list[Trial]:
        """Every trial of the study, ordered by trial id, in one query."""
        return (await self.changes(study_id, -1)).trials

    async def changes(self, study_id: int, since: int) -> Changes:
        """The trials written after version ``since``, ordered by id, in one query."""
        rows = await self._fetch(
            self._changes, (study_id, since), f"read the trials of study {study_id}", missing=[]
        )
        if not rows:
            raise study_id_not_found(study_id, self.url)
        version = rows[0][0]
        if rows[0][1] is None:
            return Changes(version, [])
        return Changes(version, [decode_trial(tuple(row)[1:]) for row in rows])

    async def version(self, study_id: int) -> int:
        """The study's version now: one indexed read."""
        rows = await self._fetch(
            f"SELECT version FROM {self._s}.studies WHERE id = $1",
            (study_id,),
            f"read study {study_id}",
            missing=[],
        )
        if not rows:
            raise study_id_not_found(study_id, self.url)
        return int(rows[0][0])

    async def write(self, study_id: int, trials: Sequence[Trial]) -> Written:
        """Insert new trial records and replace existing ones, all in one transaction.

        A batch that names a trial twice is sent as several statements (PostgreSQL changes a
        row once per statement), each record after the earlier ones for its trial.
        """
        self._opened()
        if not trials:
            await self._require_study(study_id)
            return Written(-1)
        rows = [_postgres_row(encode_trial(trial)) for trial in trials]
        layers = _layers(rows)

        async def op(conn: Conn, retried: bool) -> list[Any]:
            try:
                if len(layers) == 1:
                    return list(await conn.fetch(self._upsert, study_id, *_columns(layers[0])))
                stored: list[Any] = []
                async with conn.transaction():
                    for layer in layers:
                        stored.extend(await conn.fetch(self._upsert, study_id, *_columns(layer)))
                return stored
            except self._pg.PostgresError as exc:
                if getattr(exc, "sqlstate", None) != sql.FINISHED_CODE:
                    raise
                if retried:
                    # The first attempt may have committed before the connection broke.
                    again = await self._stored_as(conn, study_id, rows)
                    if again is not None:
                        return again
                raise await self._finished_error(conn, study_id, rows) from None

        stored = await self._run(f"write {len(rows)} trial record(s) of study {study_id}", op)
        accepted = {row[0] for row in stored}
        given = {row[0] for row in rows}
        if not accepted:
            await self._require_study(study_id)
        refused = tuple(sorted(given - accepted))
        return Written(max((row[1] for row in stored), default=-1), refused)

    async def new_trials(
        self,
        study_id: int,
        driver: int,
        trials: Sequence[Trial],
        max_evals: int | None,
    ) -> tuple[list[Trial], int]:
        """Store ``trials`` as new ``RUNNING`` trials of ``driver`` with the next ids, in one
        statement; see :meth:`Storage.new_trials`."""
        self._opened()
        if not trials:
            return [], -1
        encoded = [encode_trial(trial) for trial in trials]
        params = [row[2] for row in encoded]
        created = [row[6] for row in encoded]
        started = [row[7] for row in encoded]
        slots = [row[9] for row in encoded]

        async def op(conn: Conn, retried: bool) -> list[Any]:
            if retried:
                # Ours if stored under this driver with the same creation time and point.
                rows = await conn.fetch(
                    f"SELECT tid, seq, created, params FROM {self._s}.trials"
                    " WHERE study_id = $1 AND driver = $2 AND created = ANY($3::float8[])",
                    study_id,
                    driver,
                    created,
                )
                mine = {(row[2], row[3]) for row in rows} & set(zip(created, params, strict=True))
                if mine:
                    return [(row[0], row[1]) for row in rows if (row[2], row[3]) in mine]
            return list(
                await conn.fetch(
                    self._new_trials,
                    study_id,
                    driver,
                    max_evals,
                    len(trials),
                    params,
                    created,
                    started,
                    slots,
                )
            )

        stored = sorted(await self._run(f"start {len(trials)} trial(s) of study {study_id}", op))
        if not stored:
            await self._require_study(study_id)
            return [], -1
        begun = [
            trial.replace(id=tid, state=TrialState.RUNNING, driver=driver)
            for trial, (tid, _) in zip(trials, stored, strict=False)
        ]
        return begun, stored[0][1]

    async def take_trial(
        self, study_id: int, driver: int, max_evals: int | None, started: float, slot: int | None
    ) -> Trial | None:
        """Hand the waiting trial with the lowest id to ``driver``; see
        :meth:`Storage.take_trial`."""
        self._opened()

        async def op(conn: Conn, retried: bool) -> Any:
            if retried:
                row = await conn.fetchrow(
                    f"SELECT {sql.TRIAL_SELECT} FROM {self._s}.trials AS t WHERE t.study_id = $1"
                    " AND t.driver = $2 AND t.state = 'running' AND t.started = $3"
                    " AND t.slot IS NOT DISTINCT FROM $4 ORDER BY t.seq DESC LIMIT 1",
                    study_id,
                    driver,
                    started,
                    slot,
                )
                if row is not None:
                    return row
            async with conn.transaction():
                active = await conn.fetchval(self._lock_study, study_id)
                if active is None:
                    return None
                return await conn.fetchrow(
                    self._take_trial, study_id, driver, max_evals, started, slot, active
                )

        row = await self._run(f"take a waiting trial of study {study_id}", op)
        return None if row is None else decode_trial(tuple(row))

    async def enqueue(self, study_id: int, params: Sequence[Mapping[str, Any]]) -> list[Trial]:
        """Add ``QUEUED`` trials for the points not already stored, in one transaction."""
        self._opened()
        now = time.time()
        encoded = [
            encode_trial(Trial(-1, TrialState.QUEUED, point, created=now))[2] for point in params
        ]

        async def op(conn: Conn, retried: bool) -> list[Any] | None:
            async with conn.transaction():
                if await conn.fetchval(self._lock_study, study_id) is None:
                    return None
                if not encoded:
                    return []
                return list(await conn.fetch(self._enqueue, study_id, encoded, now))

        rows = await self._run(f"queue {len(encoded)} point(s) in study {study_id}", op)
        if rows is None:
            raise study_id_not_found(study_id, self.url)
        return sorted((decode_trial(tuple(row)) for row in rows), key=lambda trial: trial.id)

    # --- drivers ------------------------------------------------------------------------

    async def open_driver(self, study_id: int, host: str, pid: int, lease: float) -> Driver:
        """Register a driver of the study, its lease starting now (the server's clock)."""
        rows = await self._fetch(
            f"INSERT INTO {self._s}.drivers (study_id, host, pid, started, seen, lease)"
            f" SELECT id, $2::text, $3::bigint, {sql.NOW}, {sql.NOW}, $4::float8"
            f" FROM {self._s}.studies WHERE id = $1"
            f" RETURNING {sql.DRIVER_COLUMNS}",
            (study_id, _text(host), pid, lease),
            f"register a driver of study {study_id}",
        )
        if not rows:
            raise study_id_not_found(study_id, self.url)
        return decode_driver(tuple(rows[0]))

    async def heartbeat(self, driver: int) -> Driver:
        """Renew the lease of ``driver`` and return its record."""
        rows = await self._fetch(
            f"UPDATE {self._s}.drivers SET seen = {sql.NOW} WHERE id = $1 AND ended IS NULL"
            f" RETURNING {sql.DRIVER_COLUMNS}",
            (driver,),
            f"renew the lease of driver {driver}",
        )
        if not rows:
            rows = await self._fetch(
                f"SELECT {sql.DRIVER_COLUMNS} FROM {self._s}.drivers WHERE id = $1",
                (driver,),
                f"read driver {driver}",
            )
            if not rows:
                raise StorageError(f"there is no driver {driver} in {self.url}")
        return decode_driver(tuple(rows[0]))

    async def end_driver(self, driver: int) -> None:
        """Mark ``driver`` ended, so that its running trials may be taken at once."""
        await self._fetch(
            f"UPDATE {self._s}.drivers SET ended = {sql.NOW} WHERE id = $1 AND ended IS NULL",
            (driver,),
            f"end driver {driver}",
        )

    async def drivers(self, study_id: int) -> list[Driver]:
        """Every driver that registered with the study, oldest first."""
        rows = await self._fetch(
            f"SELECT {sql.DRIVER_COLUMNS} FROM {self._s}.drivers WHERE study_id = $1 ORDER BY id",
            (study_id,),
            f"read the drivers of study {study_id}",
            missing=[],
        )
        return [decode_driver(tuple(row)) for row in rows]

    # --- attachments --------------------------------------------------------------------

    async def put_attachments(
        self, study_id: int, trial_id: int, attachments: Mapping[str, Any]
    ) -> None:
        """Store trial ``trial_id``'s attachments by name, replacing those of the same names;
        in one statement."""
        self._opened()
        rows = encode_attachments(trial_id, attachments)
        if not rows:
            await self._require_study(study_id)
            return
        names = [_text(name) for name, _, _ in rows]
        if len(set(names)) < len(names):
            raise StorageError(
                f"cannot store the attachments of trial {trial_id}: two names are the same once "
                "stored (a name may not differ from another only by unencodable characters)"
            )

        async def op(conn: Conn, retried: bool) -> None:
            try:
                await conn.execute(
                    self._put_attachments,
                    study_id,
                    trial_id,
                    names,
                    [kind for _, kind, _ in rows],
                    [value for _, _, value in rows],
                )
            except self._pg.PostgresError as exc:
                if getattr(exc, "sqlstate", None) == _FOREIGN_KEY:
                    raise study_id_not_found(study_id, self.url) from None
                raise

        await self._run(
            f"store {len(rows)} attachment(s) of trial {trial_id} of study {study_id}"
            " (none was stored)",
            op,
        )

    async def attachments(self, study_id: int, trial_id: int) -> dict[str, Any]:
        """Trial ``trial_id``'s attachments, by name, in the order they were first stored."""
        rows = await self._fetch(
            f"SELECT name, kind, value FROM {self._s}.attachments WHERE study_id = $1 AND tid = $2"
            " ORDER BY position",
            (study_id, trial_id),
            f"read the attachments of trial {trial_id} of study {study_id}",
            missing=[],
        )
        if not rows:
            await self._require_study(study_id)
        return {row[0]: decode_attachment(trial_id, *row) for row in rows}

    def attachment_reader(self, study_id: int) -> Callable[[int], dict[str, Any]]:
        """Reads a trial's attachments without awaiting, also after :meth:`aclose`, through a
        read-only connection of its own per call; pickled without the URL's password."""
        from asynchpo._storage._postgres_attachments import AttachmentReader

        return AttachmentReader(self._url, study_id, connect_timeout=self._connect_timeout)

    # --- the connection -----------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the pool's connections. Idempotent; safe after any failure (a server that
        does not answer within a few seconds has its connections dropped)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(5.0) as scope:
                try:
                    await pool.close()
                except (OSError, self._pg.PostgresError, self._pg.InterfaceError):
                    pool.terminate()
            if scope.cancelled_caught:
                pool.terminate()

    def _opened(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StorageError(f"the storage {self.url} is closed; open it again to go on")
        return self._pool

    async def _run(self, action: str, op: Op[T]) -> T:
        """Run ``op`` on a pooled connection, again on a new one if the connection is lost,
        until ``reconnect_timeout`` seconds after the connection was first lost. ``op`` is told
        whether an earlier attempt may have committed (it had been sent when the connection
        broke).

        The wait is the storage's, not each call's: every call that finds the server gone
        waits until the same deadline (one warning for the outage), and a call made once it
        has passed (closing a run after the error: recording its trials interrupted, ending
        its driver) tries once and fails at once if the server is still gone, so a run stops
        about ``reconnect_timeout`` seconds after it lost the server, not that many per call.
        """
        pool = self._opened()
        sent = False
        delay = 0.05
        while True:
            lost: bool | None = None  # whether the statement's connection was lost
            try:
                async with pool.acquire() as conn:
                    attempt = sent
                    sent = True
                    try:
                        result = await op(conn, attempt)
                    except Exception as exc:
                        lost = self._lost(exc, conn)
                        if lost and not self._closed(conn):
                            # Never back into the pool: a connection the server ended may
                            # not know it yet, and would fail the next statement sent on it.
                            conn.terminate()
                        raise
                if self._outage is not None:
                    self._outage = None
                    logger.info("reached %s again", self.url)
                return result
            except (StorageError, StudyError):
                raise
            except Exception as exc:
                if lost is None:  # no connection, or it failed on its way back to the pool
                    lost = self._lost(exc, None)
                if not lost:
                    raise self._error(action, exc) from None
                now = time.monotonic()
                if self._outage is None or now > self._outage + self._reconnect_timeout:
                    # A new outage (or one given up on long ago): wait for it anew.
                    self._outage = now + self._reconnect_timeout
                    logger.warning(
                        "lost the connection to %s (%s); trying again for up to %g s",
                        self.url,
                        self._url.scrub(_reason(exc)),
                        self._reconnect_timeout,
                    )
                deadline = self._outage
                if now >= deadline:
                    raise StorageError(
                        f"could not {action}: lost the connection to PostgreSQL at {self.url} "
                        f"and could not get it back within {self._reconnect_timeout:g} s (last "
                        f"error: {self._url.scrub(_reason(exc))}); check that the server runs, "
                        "then run again to resume"
                    ) from None
                await anyio.sleep(min(delay, deadline - now))
                delay = min(delay * 2, 1.0)
                if self._pool is None:
                    raise StorageError(
                        f"the storage {self.url} is closed; open it again to go on"
                    ) from None

    def _lost(self, exc: BaseException, conn: Conn | None) -> bool:
        """Whether ``exc`` means the connection (or the server) went away, not the statement."""
        pg = self._pg
        if isinstance(
            exc,
            pg.ConnectionDoesNotExistError
            | pg.PostgresConnectionError
            | pg.AdminShutdownError
            | pg.CrashShutdownError
            | pg.CannotConnectNowError
            | pg.TooManyConnectionsError
            | OSError
            | TimeoutError
            # A connection the server ended, used before asyncpg saw it close: its protocol
            # still waits for the end of the error the server sent ("another operation is
            # in progress"). A statement never reached the server on it.
            | pg.InternalClientError,
        ):
            return True
        return isinstance(exc, pg.InterfaceError) and (conn is None or self._closed(conn))

    def _closed(self, conn: Conn) -> bool:
        """Whether a pooled connection is closed: also when asyncpg, seeing it close, already
        took it back into the pool (its proxy then refuses every call, ``is_closed`` too)."""
        try:
            return conn.is_closed()
        except self._pg.InterfaceError:
            return True

    def _error(self, action: str, exc: Exception) -> StorageError:
        """One line for a failed statement, the password masked."""
        pg = self._pg
        code = getattr(exc, "sqlstate", None)
        if code == _READ_ONLY:
            return StorageError(
                f"could not {action}: {self.url} was opened read-only; open it without "
                "read_only to write"
            )
        if isinstance(exc, pg.PostgresError):
            return StorageError(
                f"could not {action} in {self.url}: PostgreSQL said "
                f"{self._url.scrub(_reason(exc))!r}"
            )
        if isinstance(exc, pg.DataError | OverflowError | UnicodeError | ValueError):
            return StorageError(
                f"could not {action} in {self.url}: a value cannot be stored "
                f"({self._url.scrub(_reason(exc))})"
            )
        return StorageError(
            f"could not {action} in {self.url}: {type(exc).__name__}: "
            f"{self._url.scrub(_reason(exc))}"
        )

    async def _fetch(
        self,
        statement: str,
        args: Sequence[Any],
        action: str,
        *,
        missing: list[Any] | None = None,
    ) -> list[Any]:
        """Rows of one statement. ``missing``: the answer when asynchpo's tables do not exist
        (a reader of a database no run wrote to yet), instead of an error."""

        async def op(conn: Conn, retried: bool) -> list[Any]:
            try:
                return list(await conn.fetch(statement, *args))
            except self._pg.PostgresError as exc:
                if missing is not None and getattr(exc, "sqlstate", None) == _UNDEFINED_TABLE:
                    return missing
                raise

        return await self._run(action, op)

    async def _require_study(self, study_id: int) -> None:
        rows = await self._fetch(
            f"SELECT 1 FROM {self._s}.studies WHERE id = $1",
            (study_id,),
            f"read study {study_id}",
            missing=[],
        )
        if not rows:
            raise study_id_not_found(study_id, self.url)

    async def _stored_as(self, conn: Conn, study_id: int, rows: list[Row]) -> list[Any] | None:
        """``(tid, seq)`` of the batch if every trial holds its last record of the batch (an
        earlier attempt stored it), else ``None``."""
        last = {row[0]: row for row in rows}
        stored = await conn.fetch(
            f"SELECT {sql.TRIAL_SELECT}, t.seq FROM {self._s}.trials AS t"
            " WHERE t.study_id = $1 AND t.tid = ANY($2::bigint[])",
            study_id,
            list(last),
        )
        found = {row[0]: tuple(row) for row in stored}
        for tid, row in last.items():
            have = found.get(tid)
            if have is None or tuple(have[:-1]) != row:
                return None
        return [(tid, found[tid][-1]) for tid in last]

    async def _finished_error(self, conn: Conn, study_id: int, rows: list[Row]) -> StorageError:
        """The error for a batch that hit finished trials, naming them (the batch replayed in
        order: a record may also hit one finished earlier in the same batch)."""
        stored = await conn.fetch(
            f"SELECT tid, state FROM {self._s}.trials WHERE study_id = $1"
            " AND tid = ANY($2::bigint[]) AND state = ANY($3::text[])",
            study_id,
            list({row[0] for row in rows}),
            sorted(FINISHED_STATES),
        )
        finished: dict[int, str] = {row[0]: row[1] for row in stored}
        offenders: list[tuple[int, str]] = []
        for row in rows:
            tid, state = row[0], row[1]
            if tid in finished:
                offenders.append((tid, finished[tid]))
            if state in FINISHED_STATES:
                finished[tid] = state
            else:
                finished.pop(tid, None)
        return finished_trial_error(study_id, offenders, len(rows))


def _text(value: str) -> str:
    """Text PostgreSQL can store: it holds no NUL character, which is kept as ``\\x00``."""
    return value.replace("\x00", "\\x00") if "\x00" in value else value


def _postgres_row(row: Row) -> Row:
    """A record's row as PostgreSQL stores it (see :func:`_text`; JSON never holds a NUL)."""
    error = row[5]
    if error is None or "\x00" not in error:
        return row
    return (*row[:5], _text(error), *row[6:])


def _layers(rows: list[Row]) -> list[list[Row]]:
    """The batch as statements that each change a trial at most once, in the batch's order
    for each trial; one statement unless a trial is named twice."""
    layers: list[list[Row]] = []
    seen: dict[int, int] = {}
    for row in rows:
        depth = seen.get(row[0], 0)
        seen[row[0]] = depth + 1
        if depth == len(layers):
            layers.append([])
        layers[depth].append(row)
    return layers


def _columns(rows: Iterable[Row]) -> list[list[Any]]:
    """The rows as one list per column, for ``unnest``."""
    return [list(column) for column in zip(*rows, strict=True)]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


async def _check_server(conn: Conn, url: PostgresUrl) -> None:
    version = conn.get_server_version()
    if (version.major, version.minor) < sql.MIN_SERVER_VERSION:
        raise StorageError(
            f"cannot use PostgreSQL at {url}: it is version {version.major}.{version.minor}, and "
            f"asynchpo needs {sql.MIN_SERVER_VERSION[0]} or newer; upgrade the server"
        )


async def _prepare(pg: Any, conn: Conn, url: PostgresUrl, *, read_only: bool) -> None:
    """Check asynchpo's schema (create it, or bring it up to date) before anything else."""
    schema = f'"{url.schema}"'
    version = await _stored_version(conn, url, schema)
    if version is not None:
        _refuse_newer(version, url)
        if version == sql.SCHEMA_VERSION:
            return
    if read_only:
        if version is not None:
            raise StorageError(
                f"cannot read {url}: its asynchpo tables are at version {version}, older than "
                f"this asynchpo's {sql.SCHEMA_VERSION}; open it once for writing (any run "
                "does) to upgrade them"
            )
        return  # nothing stored yet: a reader sees no studies
    # Two drivers starting at once on a new database: one creates, the other waits, then
    # finds the tables. A session lock, taken before the transaction begins: a transaction
    # that began before the other's commit could still miss the new tables in its catalog.
    await conn.execute("SELECT pg_advisory_lock($1)", _SETUP_LOCK)
    try:
        async with conn.transaction():
            version = await _stored_version(conn, url, schema)
            if version is None:
                await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                await conn.execute(sql.SCHEMA_DDL.format(s=schema))
                await conn.execute(
                    f"INSERT INTO {schema}.meta (key, value) VALUES ('schema_version', $1)",
                    str(sql.SCHEMA_VERSION),
                )
                logger.info("created asynchpo's tables in %s", url)
                return
            _refuse_newer(version, url)
            while version < sql.SCHEMA_VERSION:
                step = sql.MIGRATIONS.get(version)
                if step is None:
                    raise StorageError(
                        f"cannot open {url}: unknown asynchpo schema version {version}"
                    )
                await conn.execute(step.format(s=schema))
                version += 1
                await conn.execute(
                    f"UPDATE {schema}.meta SET value = $1 WHERE key = 'schema_version'",
                    str(version),
                )
    except pg.InsufficientPrivilegeError as exc:
        raise StorageError(
            f"cannot set up asynchpo's tables in {url}: user {url.user or '(default)'!r} may not "
            f"({_reason(exc)}); have an administrator run: CREATE SCHEMA {url.schema} "
            f"AUTHORIZATION {url.user or 'the_user'}"
        ) from None
    except pg.PostgresError as exc:
        raise StorageError(
            f"cannot set up asynchpo's tables in {url}: PostgreSQL said {url.scrub(_reason(exc))!r}"
        ) from None
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _SETUP_LOCK)


async def _stored_version(conn: Conn, url: PostgresUrl, schema: str) -> int | None:
    """The version of asynchpo's tables in the schema, ``None`` if it has none."""
    if await conn.fetchval("SELECT to_regclass($1)", f"{schema}.meta") is None:
        return None
    text = await conn.fetchval(f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'")
    try:
        return int(text)
    except (TypeError, ValueError):
        raise StorageError(
            f"cannot open {url}: the schema {url.schema} holds asynchpo's meta table without a "
            "readable schema version, so it is damaged; restore it from a backup or use another "
            "schema (?schema=NAME)"
        ) from None


def _refuse_newer(version: int, url: PostgresUrl) -> None:
    if version > sql.SCHEMA_VERSION:
        raise StorageError(
            f"cannot open {url}: its asynchpo tables were written by a newer asynchpo (schema "
            f"version {version}; this asynchpo knows up to {sql.SCHEMA_VERSION}); upgrade "
            "asynchpo (pip install -U asynchpo) to open it"
        )


def connect_error(pg: Any, url: PostgresUrl, exc: Exception, timeout: float) -> StorageError:
    """One line for a failed first connection: what went wrong, and what to change."""
    reason = url.scrub(_reason(exc))
    user = repr(url.user) if url.user else "the default user"
    if isinstance(exc, pg.InvalidPasswordError):
        return StorageError(
            f"PostgreSQL at {url} refused the password of {user}; check the password (in the "
            "URL, PGPASSWORD or ~/.pgpass)"
        )
    if isinstance(exc, pg.InvalidAuthorizationSpecificationError):
        return StorageError(
            f"PostgreSQL at {url} refused {user}: {reason}; check the user name in the URL and "
            "the server's pg_hba.conf"
        )
    if isinstance(exc, pg.InvalidCatalogNameError):
        database = repr(url.database) if url.database else "the default database"
        return StorageError(
            f"PostgreSQL at {url} has no database {database}: create it (createdb "
            f"{url.database or '<name>'}) or fix the database name in the URL"
        )
    if isinstance(exc, TimeoutError):
        return StorageError(
            f"no answer from PostgreSQL at {url} within {timeout:g} s; check the host and port "
            "in the URL, and that the network lets you through"
        )
    if isinstance(exc, OSError):
        return StorageError(
            f"cannot reach PostgreSQL at {url}: {reason}; check that the server runs and that "
            "the host and port in the URL are right"
        )
    if isinstance(exc, pg.PostgresError):
        return StorageError(f"PostgreSQL at {url} refused the connection: {reason}")
    return StorageError(
        f"cannot connect to PostgreSQL at {url}: {reason}; write the URL as "
        "postgresql://user:password@host:5432/database"
    )
