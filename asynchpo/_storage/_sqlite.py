"""A storage in one SQLite file, driven through aiosqlite (asyncio only)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, final

import aiosqlite
import anyio

from asynchpo._exceptions import StorageError, StudyError, StudyNotFound
from asynchpo._storage._base import Changes, Driver, Storage, StudyConfig, StudyRecord, Written
from asynchpo._storage._schema import (
    APPLICATION_ID,
    FINISHED_STATES,
    MIGRATIONS,
    NOW_SQL,
    SCHEMA_DDL,
    SCHEMA_VERSION,
    TRIAL_COLUMNS,
    TRIGGER_MESSAGE,
    WAITING_CHECK,
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
    new_trials_sql,
    study_id_not_found,
    upsert_sql,
)
from asynchpo._trial import Trial, TrialState

logger = logging.getLogger("asynchpo")

__all__ = ["SqliteStorage"]

#: How long a statement waits for another connection's write lock before failing.
BUSY_TIMEOUT_S: Final = 10.0

# UPSERT arrived in SQLite 3.24.
_MIN_SQLITE: Final = (3, 24, 0)
_IN_MEMORY: Final = ":memory:"

_COLUMNS: Final = ", ".join(f"t.{column}" for column in TRIAL_COLUMNS)

_SELECT_CHANGES: Final = (
    # The LEFT JOIN tells "unknown study" (no row) from "no trials yet" (one row of NULLs)
    # without a second query, and reads the version and the trials from one snapshot.
    # INDEXED BY: without it the planner walks every trial of the study by primary key (to
    # skip sorting by tid), so each read cost O(study size) (3.6 ms at 20,000 trials).
    f"SELECT s.version, {_COLUMNS} FROM studies AS s LEFT JOIN trials AS t INDEXED BY"
    " trials_changes"
    " ON t.study_id = s.id AND t.seq > ? WHERE s.id = ? ORDER BY t.tid"
)

_TAKE_TRIAL: Final = (
    "WITH s AS MATERIALIZED (SELECT active, version + 1 AS seq FROM studies WHERE id = ?1),"
    # INDEXED BY: else the planner scans every trial of the study by primary key, holding
    # the write lock for O(study size) (3.6 ms at 20,000 trials) while other drivers wait.
    " pick AS MATERIALIZED (SELECT t.tid FROM trials AS t INDEXED BY trials_waiting, s"
    " LEFT JOIN drivers AS d ON d.id = t.driver"
    f" WHERE t.study_id = ?1 AND t.{WAITING_CHECK} AND ("
    " (t.state != 'running' AND (?3 IS NULL OR s.active < ?3))"
    " OR (t.state = 'running' AND t.driver IS NOT ?2 AND (d.id IS NULL OR d.ended IS NOT NULL"
    f" OR d.seen + d.lease < {NOW_SQL})))"
    " ORDER BY t.tid LIMIT 1)"
    " UPDATE trials SET state = 'running', loss = NULL, result = '{}', error = NULL,"
    " started = ?4, finished = NULL, slot = ?5, reports = '[]', driver = ?2,"
    " seq = (SELECT seq FROM s)"
    " WHERE study_id = ?1 AND tid = (SELECT tid FROM pick)"
    f" RETURNING {', '.join(TRIAL_COLUMNS)}"
)

_ENQUEUE: Final = (
    "WITH s AS MATERIALIZED (SELECT id, next_tid, version + 1 AS seq FROM studies WHERE id = ?1)"
    f" INSERT INTO trials (study_id, {', '.join(TRIAL_COLUMNS)}, seq)"
    " SELECT s.id, s.next_tid, 'queued', ?2, NULL, '{}', NULL, ?3, NULL, NULL, NULL, '[]',"
    " NULL, s.seq FROM s"
    " WHERE NOT EXISTS (SELECT 1 FROM trials WHERE study_id = ?1 AND params = ?2)"
    f" RETURNING {', '.join(TRIAL_COLUMNS)}"
)

_SELECT_VERSION: Final = "SELECT version FROM studies WHERE id = ?"

_SELECT_ATTACHMENTS: Final = (
    "SELECT name, kind, value FROM attachments WHERE study_id = ? AND tid = ? ORDER BY rowid"
)
# Attachments per statement: 5 parameters each, well below SQLite's 999 before 3.32.
_ATTACHMENTS_PER_STATEMENT: Final = 100

_DRIVER_COLUMNS: Final = "id, study_id, host, pid, started, seen, lease, ended"
_SELECT_STUDY: Final = "SELECT id, name, config, created FROM studies"

# What the caller can do about the usual failures, by primary SQLite result code.
_HINTS: Final = {
    sqlite3.SQLITE_BUSY: (
        f"another connection kept the database locked (asynchpo waits up to {BUSY_TIMEOUT_S:g} s);"
        " look for a process stopped while writing to this file, and keep the file on a local"
        " disk"
    ),
    sqlite3.SQLITE_LOCKED: "the database is locked by another statement on this connection",
    sqlite3.SQLITE_READONLY: (
        "the file or its folder is read-only; asynchpo needs write access to the file and "
        "its folder (SQLite creates -wal and -shm files next to it)"
    ),
    sqlite3.SQLITE_PERM: "access was denied; check the file's permissions",
    sqlite3.SQLITE_FULL: "the disk is full; free some space and resume the study",
    sqlite3.SQLITE_IOERR: (
        "the operating system reported an I/O error (as it does for a full disk or a file "
        "size limit); free some space or check the disk, then resume the study"
    ),
    sqlite3.SQLITE_CORRUPT: "the file is damaged; restore it from a backup or use a new file",
    sqlite3.SQLITE_NOTADB: "the file is not a SQLite database; use a new file",
    sqlite3.SQLITE_CANTOPEN: "check that the path is a file you may write, in a folder that exists",
}


@final
class SqliteStorage(Storage):
    """Studies and trials in one SQLite file, through :mod:`aiosqlite`; **asyncio only**.

    Open it with ``await SqliteStorage.open(path)`` and close it with :meth:`aclose` (or
    ``async with``). One file holds any number of studies. The file is in WAL mode with
    ``synchronous=NORMAL``: other connections and processes can read while a run writes and
    never block it, and a write survives a crash of the process (a power cut may lose the
    last few writes, never corrupt the file).

    Each :meth:`write` is a single SQL statement, hence one round trip to aiosqlite's thread;
    only batches of more than a few hundred records are split into several statements inside
    one explicit transaction. Finished trials are protected by a trigger, so a batch that would
    change one is undone as a whole.

    aiosqlite runs the connection on a thread and hands results back to the running asyncio
    loop, so this class does not work under trio. Use it from one event loop only.
    """

    def __init__(
        self,
        connection: aiosqlite.Connection,
        path: str,
        *,
        rows_per_statement: int,
        read_only: bool = False,
    ) -> None:
        """Wrap a connection that :meth:`open` has set up; call :meth:`open` instead.

        :param connection: an open aiosqlite connection in autocommit mode, schema checked.
        :param path: the database file, as it is named in messages.
        :param rows_per_statement: the most records one upsert statement may take.
        :param read_only: the connection only reads (no second connection is opened).
        """
        self._read_only = read_only
        self._conn: aiosqlite.Connection | None = connection
        # A second connection, used on the event loop's thread for statements that run at
        # once (see _execute).
        self._side: sqlite3.Connection | None = None
        self._path = path
        self._rows_per_statement = rows_per_statement
        # A read-only connection opened while no writer was there reads the file as it was
        # (see _read_only_uri); the file's signature then, to notice a writer coming.
        self._snapshot: tuple[int, int, bool] | None = None

    @classmethod
    async def open(cls, path: str | os.PathLike[str], *, read_only: bool = False) -> SqliteStorage:
        """Open the asynchpo database at ``path``, creating the file if it does not exist.

        The folder must exist: it is not created, so that a typo in a path does not quietly
        start a new study somewhere else. A file that is refused is left exactly as it was.

        :param path: the database file.
        :param read_only: open an existing file for reading only: not a byte of it changes and
            no file is created (it works in a read-only folder). A file without a study, or
            written by an older asynchpo, is read through a copy in memory; writes are refused.
            A file no run writes to is read as it is; once a run opens or changes it, the
            next read goes through a live connection, so a long-lived reader (the dashboard)
            sees the runs that start after it.
        :raises StorageError: if the folder does not exist, the path is not a regular file, the
            file is not a SQLite database, is a database of another program, or was written by
            a newer asynchpo.
        """
        where = _display_path(path)
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise StorageError(
                f"cannot open {where}: asynchpo needs SQLite >= 3.24 but Python is linked "
                f"against SQLite {sqlite3.sqlite_version}; use a Python built with a newer SQLite"
            )
        _check_location(path, where, read_only=read_only)
        # Stay well below SQLITE_MAX_VARIABLE_NUMBER, which was 999 before SQLite 3.32.
        rows_per_statement = 500 if sqlite3.sqlite_version_info >= (3, 32, 0) else 90
        if read_only:
            signature = _signature(where)
            connection, live = await _open_read_only(where)
            storage = cls(connection, where, rows_per_statement=rows_per_statement, read_only=True)
            storage._snapshot = None if live else signature
            return storage
        connection = await _connect(os.fspath(path), where)
        try:
            await _prepare(connection, where, in_memory=os.fspath(path) == _IN_MEMORY)
        except BaseException as exc:
            await _close_quietly(connection)
            if isinstance(exc, sqlite3.Error):
                raise _storage_error(f"open {where}", exc) from exc
            raise
        return cls(connection, where, rows_per_statement=rows_per_statement)

    @property
    def path(self) -> str:
        """The database file (absolute)."""
        return self._path

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"<SqliteStorage {self._path!r}: {state}>"

    async def create_study(self, name: str, config: StudyConfig) -> StudyRecord:
        """Create a study. Raises :class:`StudyError` if ``name`` already exists.

        :param name: the study's name, unique within this file.
        :param config: what the study is fixed to.
        """
        conn = self._connection()
        config_json = encode_config(config)
        created = time.time()
        try:
            row = await conn.execute_insert(
                "INSERT INTO studies (name, config, created) VALUES (?, ?, ?)",
                (name, config_json, created),
            )
        except sqlite3.IntegrityError as exc:
            if _error_code(exc) == sqlite3.SQLITE_CONSTRAINT_UNIQUE:
                raise StudyError(
                    f"a study called {name!r} already exists in {self._path}; choose another "
                    "name, or resume it with get_study()"
                ) from exc
            raise _storage_error(f"create study {name!r} in {self._path}", exc) from exc
        except sqlite3.Error as exc:
            raise _storage_error(f"create study {name!r} in {self._path}", exc) from exc
        if row is None:  # pragma: no cover - last_insert_rowid() always returns a row
            raise StorageError(f"SQLite did not report the id of the new study {name!r}")
        return StudyRecord(id=row[0], name=name, config=decode_config(config_json), created=created)

    async def get_study(self, name: str) -> StudyRecord:
        """The stored study called ``name``. Raises :class:`StudyNotFound` if there is none.

        :param name: the study's name.
        """
        rows = await self._fetch(f"{_SELECT_STUDY} WHERE name = ?", (name,), f"read study {name!r}")
        if not rows:
            raise StudyNotFound(
                f"there is no study called {name!r} in {self._path}; create it first"
            )
        return _study_record(rows[0])

    async def list_studies(self) -> list[StudyRecord]:
        """Every study in this file, oldest first."""
        rows = await self._fetch(f"{_SELECT_STUDY} ORDER BY created, id", (), "list the studies")
        return [_study_record(row) for row in rows]

    async def trials(self, study_id: int) -> list[Trial]:
        """Every trial of the study, ordered by trial id, in one query.

        :param study_id: the id of a stored study.
        :raises StudyNotFound: if there is no study with that id.
        """
        return (await self.changes(study_id, -1)).trials

    async def changes(self, study_id: int, since: int) -> Changes:
        """The trials written after version ``since``, ordered by id, in one query.

        :param study_id: the id of a stored study.
        :param since: a version a reader is up to; ``-1`` for every trial.
        :raises StudyNotFound: if there is no study with that id.
        """
        rows = await self._fetch(
            _SELECT_CHANGES, (since, study_id), f"read the trials of study {study_id}"
        )
        if not rows:
            raise study_id_not_found(study_id, self._path)
        version = rows[0][0]
        if rows[0][1] is None:
            return Changes(version, [])
        return Changes(version, [decode_trial(row[1:]) for row in rows])

    async def version(self, study_id: int) -> int:
        """The study's version now, read on the calling thread through the second connection
        (see :meth:`_execute`): a driver checks it before every suggestion, and a round trip
        to the database thread would cost more than the read itself (a few microseconds; WAL
        readers never wait for writers). Falls back to the database thread when that
        connection cannot read at once."""
        reader = self._reader()
        if reader is not None:
            try:
                row = reader.execute(_SELECT_VERSION, (study_id,)).fetchone()
            except sqlite3.Error:
                pass  # busy (a WAL recovery) or damaged: the thread's connection says which
            else:
                if row is None:
                    raise study_id_not_found(study_id, self._path)
                return int(row[0])
        rows = await self._fetch(_SELECT_VERSION, (study_id,), f"read study {study_id}")
        if not rows:
            raise study_id_not_found(study_id, self._path)
        return int(rows[0][0])

    def _reader(self) -> sqlite3.Connection | None:
        """The second connection, used on the calling (event loop's) thread for statements
        that either run at once or not at all: it never waits for a lock (``timeout=0``)."""
        if (
            self._side is None
            and self._path != _IN_MEMORY
            and not self._read_only
            and self._conn is not None
        ):
            try:
                side = sqlite3.connect(
                    self._path, isolation_level=None, timeout=0, check_same_thread=False
                )
                side.execute("PRAGMA synchronous = NORMAL")
                side.execute("PRAGMA foreign_keys = ON")
            except sqlite3.Error:
                return None
            self._side = side
        return self._side

    async def _execute(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Run one statement and return its rows: on this thread when the database is free
        at once, else on the database thread, which waits for the lock.

        A statement that takes the write lock does so before it changes anything, so one
        that finds the lock taken has done nothing and goes to the thread. Run here, the
        statement costs tens of microseconds of the event loop; two round trips to the
        thread per trial cost more than the statements themselves.
        """
        side = self._reader()
        if side is not None:
            try:
                return side.execute(sql, parameters).fetchall()
            except sqlite3.OperationalError as exc:
                if _error_code(exc) & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
        return list(await self._connection().execute_fetchall(sql, parameters))

    async def write(self, study_id: int, trials: Sequence[Trial]) -> Written:
        """Insert new trial records and replace existing ones, all in one transaction.

        :param study_id: the id of a stored study.
        :param trials: the records; a later record for the same id replaces an earlier one.
        :returns: the study's version after the write, and the ids of records refused because
            another driver holds their trial.
        :raises StorageError: (storing nothing) if a record cannot be encoded, would replace a
            finished trial, or SQLite fails.
        :raises StudyNotFound: if there is no study with that id.

        If the awaiting task is cancelled, the statement already handed to SQLite still runs:
        the batch is then stored whole, or (if it needed several statements) not at all.
        """
        conn = self._connection()
        if not trials:
            await self._require_study(study_id)
            return Written(-1)
        rows = [encode_trial(trial) for trial in trials]
        try:
            if len(rows) <= self._rows_per_statement:
                stored = await self._execute(upsert_sql(len(rows)), _parameters(study_id, rows))
            else:
                stored = await self._write_in_chunks(conn, study_id, rows)
        except sqlite3.Error as exc:
            raise await self._write_error(study_id, rows, exc) from exc
        accepted = {row[0] for row in stored}
        if len(accepted) < len({row[0] for row in rows}) and not accepted:
            await self._require_study(study_id)
        refused = tuple(sorted({row[0] for row in rows} - accepted))
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
        self._connection()  # refuses a closed storage
        if not trials:
            return [], -1
        parameters: list[Any] = [study_id, driver, max_evals]
        for trial in trials:
            row = encode_trial(trial)
            parameters.extend((row[2], row[6], row[7], row[9]))
        try:
            stored = sorted(await self._execute(new_trials_sql(len(trials)), parameters))
        except sqlite3.Error as exc:
            raise _storage_error(
                f"start {len(trials)} trial(s) of study {study_id} in {self._path}", exc
            ) from exc
        if not stored:
            await self._require_study(study_id)
            return [], -1
        started = [
            trial.replace(id=tid, state=TrialState.RUNNING, driver=driver)
            for trial, (tid, _) in zip(trials, stored, strict=False)
        ]
        return started, stored[0][1]

    async def take_trial(
        self, study_id: int, driver: int, max_evals: int | None, started: float, slot: int | None
    ) -> Trial | None:
        """Hand the waiting trial with the lowest id to ``driver``; see
        :meth:`Storage.take_trial`."""
        rows = await self._fetch(
            _TAKE_TRIAL,
            (study_id, driver, max_evals, started, slot),
            f"take a waiting trial of study {study_id}",
        )
        return decode_trial(rows[0]) if rows else None

    async def enqueue(self, study_id: int, params: Sequence[Mapping[str, Any]]) -> list[Trial]:
        """Add ``QUEUED`` trials for the points not already stored, in one transaction."""
        conn = self._connection()
        await self._require_study(study_id)
        now = time.time()
        encoded = [
            encode_trial(Trial(-1, TrialState.QUEUED, point, created=now))[2] for point in params
        ]
        added: list[Trial] = []
        try:
            await conn.execute_fetchall("BEGIN IMMEDIATE")
            for text in encoded:
                rows = await conn.execute_fetchall(_ENQUEUE, (study_id, text, now))
                added.extend(decode_trial(row) for row in rows)
            await conn.execute_fetchall("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                await conn.execute_fetchall("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _storage_error(
                    f"queue {len(encoded)} point(s) in study {study_id} in {self._path}", exc
                ) from exc
            raise
        return added

    async def open_driver(self, study_id: int, host: str, pid: int, lease: float) -> Driver:
        """Register a driver of the study, its lease starting now."""
        await self._require_study(study_id)
        rows = await self._fetch(
            "INSERT INTO drivers (study_id, host, pid, started, seen, lease)"
            f" VALUES (?, ?, ?, {NOW_SQL}, {NOW_SQL}, ?) RETURNING {_DRIVER_COLUMNS}",
            (study_id, host, pid, lease),
            f"register a driver of study {study_id}",
        )
        return decode_driver(rows[0])

    async def heartbeat(self, driver: int) -> Driver:
        """Renew the lease of ``driver`` and return its record."""
        rows = await self._fetch(
            f"UPDATE drivers SET seen = {NOW_SQL} WHERE id = ? AND ended IS NULL"
            f" RETURNING {_DRIVER_COLUMNS}",
            (driver,),
            f"renew the lease of driver {driver}",
        )
        if not rows:
            rows = await self._fetch(
                f"SELECT {_DRIVER_COLUMNS} FROM drivers WHERE id = ?",
                (driver,),
                f"read driver {driver}",
            )
            if not rows:
                raise StorageError(f"there is no driver {driver} in {self._path}")
        return decode_driver(rows[0])

    async def end_driver(self, driver: int) -> None:
        """Mark ``driver`` ended, so that its running trials may be taken at once."""
        await self._fetch(
            f"UPDATE drivers SET ended = {NOW_SQL} WHERE id = ? AND ended IS NULL",
            (driver,),
            f"end driver {driver}",
        )

    async def drivers(self, study_id: int) -> list[Driver]:
        """Every driver that registered with the study, oldest first."""
        rows = await self._fetch(
            f"SELECT {_DRIVER_COLUMNS} FROM drivers WHERE study_id = ? ORDER BY id",
            (study_id,),
            f"read the drivers of study {study_id}",
        )
        return [decode_driver(row) for row in rows]

    async def put_attachments(
        self, study_id: int, trial_id: int, attachments: Mapping[str, Any]
    ) -> None:
        """Store trial ``trial_id``'s attachments by name (bytes as a blob, others as JSON
        text), replacing those of the same names; in one transaction."""
        conn = self._connection()
        rows = encode_attachments(trial_id, attachments)
        if not rows:
            await self._require_study(study_id)
            return
        step = _ATTACHMENTS_PER_STATEMENT
        statements = []
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            parameters: list[Any] = []
            for name, kind, value in chunk:
                parameters.extend((study_id, trial_id, name, kind, value))
            statements.append(
                (
                    "INSERT INTO attachments (study_id, tid, name, kind, value) VALUES "
                    + ",".join(["(?, ?, ?, ?, ?)"] * len(chunk))
                    + " ON CONFLICT (study_id, tid, name) DO UPDATE SET kind = excluded.kind,"
                    " value = excluded.value",
                    parameters,
                )
            )
        try:
            if len(statements) == 1:
                await conn.execute_fetchall(*statements[0])
            else:
                try:
                    await conn.execute_fetchall("BEGIN IMMEDIATE")
                    for sql, parameters in statements:
                        await conn.execute_fetchall(sql, parameters)
                    await conn.execute_fetchall("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        await conn.execute_fetchall("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            if (
                isinstance(exc, sqlite3.IntegrityError)
                and _error_code(exc) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
            ):
                raise study_id_not_found(study_id, self._path) from exc
            raise _storage_error(
                f"store {len(rows)} attachment(s) of trial {trial_id} of study {study_id} in "
                f"{self._path} (none was stored)",
                exc,
            ) from exc

    async def attachments(self, study_id: int, trial_id: int) -> dict[str, Any]:
        """Trial ``trial_id``'s attachments, by name, in the order they were first stored."""
        rows = await self._fetch(
            _SELECT_ATTACHMENTS,
            (study_id, trial_id),
            f"read the attachments of trial {trial_id} of study {study_id}",
        )
        if not rows:
            await self._require_study(study_id)
        return {row[0]: decode_attachment(trial_id, *row) for row in rows}

    def attachment_reader(self, study_id: int) -> Callable[[int], dict[str, Any]] | None:
        """Reads a trial's attachments from the file through a connection of its own, which
        only reads (no byte of the file changes); ``None`` for ``:memory:``. A file written
        by an asynchpo older than attachments has none."""
        if self._path == _IN_MEMORY:
            return None
        path = self._path
        # A partial, not a lambda: a Trials holding it is pickled by hyperopt code.
        return functools.partial(read_attachments, path, study_id)

    async def aclose(self) -> None:
        """Close the connection and stop its thread. Idempotent; safe after any failure."""
        conn, self._conn = self._conn, None
        side, self._side = self._side, None
        if side is not None:
            side.close()
        if conn is None:
            return
        try:
            await conn.close()
        except sqlite3.Error as exc:
            raise _storage_error(f"close {self._path}", exc) from exc
        except ValueError:
            # aiosqlite says "no active connection" when its thread already stopped.
            pass

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StorageError(f"the storage {self._path} is closed; open it again to go on")
        return self._conn

    async def _fetch(self, sql: str, parameters: Sequence[Any], action: str) -> list[Any]:
        if self._snapshot is not None:
            await self._follow()
        conn = self._connection()
        try:
            return list(await conn.execute_fetchall(sql, parameters))
        except sqlite3.Error as exc:
            raise _storage_error(f"{action} in {self._path}", exc) from exc

    async def _follow(self) -> None:
        """Read through a live connection once the file changed since a read-only open that
        read it as it was: a reader opened before a run started (the dashboard) sees the run.
        Costs one ``stat`` per read until then."""
        try:
            signature = _signature(self._path)
        except OSError:
            return  # gone or unreadable: the next read through the old connection says so
        if signature == self._snapshot:
            return
        try:
            connection, live = await _open_read_only(self._path)
        except StorageError as exc:
            # A writer part way through creating the file: read it as it was, and try again.
            logger.debug("still reading %s as it was: %s", self._path, exc)
            return
        old, self._conn = self._conn, connection
        self._snapshot = None if live else signature
        if old is not None:
            await _close_quietly(old)

    async def _require_study(self, study_id: int) -> None:
        rows = await self._fetch(
            "SELECT 1 FROM studies WHERE id = ?", (study_id,), f"read study {study_id}"
        )
        if not rows:
            raise study_id_not_found(study_id, self._path)

    async def _write_in_chunks(
        self, conn: aiosqlite.Connection, study_id: int, rows: list[Row]
    ) -> list[Any]:
        # Too many records for one statement: several statements in one explicit transaction.
        step = self._rows_per_statement
        try:
            # Inside the try: a cancellation while BEGIN is queued must still roll back.
            await conn.execute_fetchall("BEGIN IMMEDIATE")
            stored: list[Any] = []
            for start in range(0, len(rows), step):
                chunk = rows[start : start + step]
                stored.extend(
                    await conn.execute_fetchall(
                        upsert_sql(len(chunk)), _parameters(study_id, chunk)
                    )
                )
            await conn.execute_fetchall("COMMIT")
            return stored
        except BaseException:
            # aiosqlite queues the ROLLBACK behind whatever is still running on its thread,
            # so it also runs if this task is being cancelled; in autocommit mode an open
            # transaction would otherwise swallow every later write.
            # "no transaction is active" only means COMMIT got through or BEGIN failed.
            with contextlib.suppress(sqlite3.Error):
                await conn.execute_fetchall("ROLLBACK")
            raise

    async def _write_error(
        self, study_id: int, rows: list[Row], exc: sqlite3.Error
    ) -> StorageError | StudyNotFound:
        """The error to raise for a failed batch, with the offending trial ids if known."""
        if TRIGGER_MESSAGE in str(exc):
            # Error path only: one more query to name the trials, replaying the batch in
            # order because a record may also hit one finished earlier in the same batch.
            try:
                stored = await self._fetch(
                    "SELECT tid, state FROM trials WHERE study_id = ? AND state IN "
                    f"({', '.join('?' * len(FINISHED_STATES))})",
                    (study_id, *sorted(FINISHED_STATES)),
                    "read finished trials",
                )
            except StorageError:
                stored = []
            finished: dict[int, str] = dict(stored)
            offenders: list[tuple[int, str]] = []
            for row in rows:
                tid, state = row[0], row[1]
                if tid in finished:
                    offenders.append((tid, finished[tid]))
                # Later records see this one, as in MemoryStorage.
                if state in FINISHED_STATES:
                    finished[tid] = state
                else:
                    finished.pop(tid, None)
            return finished_trial_error(study_id, offenders, len(rows))
        if (
            isinstance(exc, sqlite3.IntegrityError)
            and _error_code(exc) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
        ):
            return study_id_not_found(study_id, self._path)
        return _storage_error(
            f"write {len(rows)} trial record(s) of study {study_id} to {self._path} "
            "(nothing of the batch was stored)",
            exc,
        )


def read_attachments(where: str, study_id: int, trial_id: int) -> dict[str, Any]:
    """Trial ``trial_id``'s attachments in the asynchpo file ``where``, read at once on this
    thread through a connection that only reads (see :meth:`SqliteStorage.attachment_reader`).

    :raises StorageError: if the file cannot be read.
    """
    try:
        target = _read_only_uri(where)
    except OSError as exc:
        raise StorageError(
            f"cannot read the attachments of trial {trial_id} from {where}: "
            f"{exc.strerror or exc}; check that the file is still there"
        ) from exc
    if target is None:
        return {}
    try:
        with contextlib.closing(
            sqlite3.connect(target, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        ) as conn:
            try:
                rows = conn.execute(_SELECT_ATTACHMENTS, (study_id, trial_id)).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return {}  # written before attachments were stored
                raise
    except sqlite3.Error as exc:
        raise _storage_error(
            f"read the attachments of trial {trial_id} of study {study_id} in {where}", exc
        ) from exc
    return {row[0]: decode_attachment(trial_id, *row) for row in rows}


async def _prepare(conn: aiosqlite.Connection, where: str, *, in_memory: bool) -> None:
    """Check that the database is an asynchpo one this code can use, creating it if empty."""
    # Reading the header first: a file that is not a database fails here, and a database of
    # another program is recognised before anything in it is changed.
    ours = await _is_ours(conn, where)
    if ours:
        # Refuse a newer or damaged file before anything writes to it (WAL mode is stored in
        # the file): a refused file keeps every byte.
        _refuse_newer(await _stored_version(conn, where), where)
    await _enable_wal(conn, where, in_memory=in_memory)
    if not ours:
        try:
            await conn.execute_fetchall("BEGIN IMMEDIATE")
            # Another process may have created the schema since the check above.
            if not await _is_ours(conn, where):
                for statement in SCHEMA_DDL:
                    await conn.execute_fetchall(statement)
                await conn.execute_fetchall(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                await conn.execute_fetchall(f"PRAGMA application_id = {APPLICATION_ID}")
            await conn.execute_fetchall("COMMIT")
        except BaseException:
            # The connection is closed next, which rolls back anyway.
            with contextlib.suppress(sqlite3.Error):
                await conn.execute_fetchall("ROLLBACK")
            raise
    await _check_version(conn, where)
    await conn.execute_fetchall("PRAGMA synchronous = NORMAL")
    await conn.execute_fetchall(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    await conn.execute_fetchall("PRAGMA foreign_keys = ON")


async def _enable_wal(conn: aiosqlite.Connection, where: str, *, in_memory: bool) -> None:
    """Put the database in WAL mode (a setting stored in the file, so usually already done)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while (mode := str(await _pragma(conn, "journal_mode")).lower()) != "wal":
        if in_memory:
            return
        try:
            mode = str(await _pragma(conn, "journal_mode = WAL")).lower()
        except sqlite3.OperationalError as exc:
            # Leaving rollback mode needs an exclusive lock and SQLite reports "locked" at
            # once, without its busy handler, while another connection is opening the file.
            if _error_code(exc) & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.005)
            continue
        if mode != "wal":
            raise StorageError(
                f"cannot open {where}: SQLite refused to put it in WAL mode (journal mode "
                f"stays {mode!r}); put the file on a local file system"
            )


async def _is_ours(conn: aiosqlite.Connection, where: str) -> bool:
    """Whether the database is asynchpo's; ``False`` if it is empty; raise if it is foreign."""
    try:
        # One statement, so that the header and the schema are read from one snapshot even
        # while another process is creating the schema.
        rows = list(
            await conn.execute_fetchall(
                "SELECT application_id, name FROM pragma_application_id"
                " LEFT JOIN sqlite_master ORDER BY name"
            )
        )
    except sqlite3.DatabaseError as exc:
        if _error_code(exc) == sqlite3.SQLITE_NOTADB:
            raise StorageError(
                f"cannot open {where}: the file exists but is not a SQLite database (nor an "
                "asynchpo storage); pass the path of a new file, or of a file asynchpo created"
            ) from exc
        raise
    if rows[0][0] == APPLICATION_ID:
        return True
    names = [name for _, name in rows if name is not None]
    if names:
        shown = [name for name in names if not name.startswith("sqlite_")] or names
        listed = ", ".join(shown[:5]) + (", ..." if len(shown) > 5 else "")
        raise StorageError(
            f"cannot open {where}: it is a SQLite database of another program (it holds "
            f"{listed}), not an asynchpo storage; asynchpo will not change it, so pass the path "
            "of a new file"
        )
    return False


async def _stored_version(conn: aiosqlite.Connection, where: str) -> int:
    """The schema version of an asynchpo file (read only); raise if it is unreadable."""
    try:
        rows = list(
            await conn.execute_fetchall("SELECT value FROM meta WHERE key = 'schema_version'")
        )
        return int(rows[0][0])
    except (sqlite3.OperationalError, IndexError, ValueError, TypeError) as exc:
        raise StorageError(
            f"cannot open {where}: it is marked as an asynchpo storage but its schema version "
            "is missing or unreadable, so the file is damaged; restore it from a backup or use "
            "a new file"
        ) from exc


def _refuse_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"cannot open {where}: it was written by a newer asynchpo (schema version "
            f"{version}; this asynchpo knows up to {SCHEMA_VERSION}); upgrade asynchpo "
            "(pip install -U asynchpo) to open it"
        )


async def _check_version(conn: aiosqlite.Connection, where: str) -> None:
    version = await _stored_version(conn, where)
    _refuse_newer(version, where)
    while version < SCHEMA_VERSION:
        # Each step is one transaction: a crash leaves the file at one version or the next.
        steps = MIGRATIONS.get(version)
        if steps is None:
            raise StorageError(f"cannot open {where}: unknown schema version {version}")
        try:
            await conn.execute("BEGIN IMMEDIATE")
            for statement in steps:
                await conn.execute(statement)
            await conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version + 1),)
            )
            await conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                await conn.execute("ROLLBACK")
            raise StorageError(
                f"cannot upgrade {where} from schema version {version} to {version + 1}: {exc}; "
                "make sure no older asynchpo is writing to it, then open it again"
            ) from exc
        version += 1


async def _connect(target: str, where: str, *, uri: bool = False) -> aiosqlite.Connection:
    """An aiosqlite connection in autocommit mode; a failure leaves no thread behind."""
    connection = aiosqlite.connect(
        target,
        uri=uri,
        isolation_level=None,  # autocommit: each statement is its own transaction
        timeout=BUSY_TIMEOUT_S,
        cached_statements=512,
    )
    try:
        return await connection
    except BaseException as exc:
        # aiosqlite asks its thread to stop but does not wait: a thread that ends after the
        # event loop closed fails with "Event loop is closed" on top of this error.
        await _thread_ended(connection)
        if isinstance(exc, sqlite3.Error):
            raise _storage_error(f"open {where}", exc) from exc
        raise


async def _thread_ended(connection: aiosqlite.Connection) -> None:
    thread = getattr(connection, "_thread", None)
    if not isinstance(thread, threading.Thread) or thread.ident is None:
        return
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(thread.join, BUSY_TIMEOUT_S)


def _signature(where: str) -> tuple[int, int, bool]:
    """What changes when a writer opens or changes the file: its size and time, and whether
    a -wal file is next to it."""
    stat = os.stat(where)
    return stat.st_size, stat.st_mtime_ns, os.path.lexists(where + "-wal")


async def _open_read_only(where: str) -> tuple[aiosqlite.Connection, bool]:
    """A connection that only reads the existing file ``where``: no byte of it changes and no
    file is created next to it, so that reading works in a read-only folder too. And whether
    it is live (reads what writers write after) rather than a view of the file as it is."""
    target = _read_only_uri(where)
    if target is None:
        # An empty file holds no study; SQLite would read it as an empty database.
        return await _in_memory_copy(None, where), False
    conn = await _connect(target, where, uri=True)
    try:
        ours = await _is_ours(conn, where)
        version = await _stored_version(conn, where) if ours else None
        if version is not None:
            _refuse_newer(version, where)
        if version != SCHEMA_VERSION:
            # An empty database or an older schema: read it through an upgraded copy in memory
            # rather than changing the file.
            return await _in_memory_copy(conn, where), False
    except BaseException as exc:
        await _close_quietly(conn)
        if isinstance(exc, sqlite3.Error):
            raise _storage_error(f"read {where}", exc) from exc
        raise
    return conn, "immutable=1" not in target


def _read_only_uri(where: str) -> str | None:
    """The URI that opens ``where`` for reading only; ``None`` for an empty file."""
    if os.path.getsize(where) == 0:
        return None
    # Without a -wal file no connection is writing (asynchpo's writers keep one while open):
    # the file is read as it is, without the -wal and -shm files that a WAL reader creates
    # and, being read-only, could not remove. With one (or a rollback journal), the reader
    # goes through it, as SQLite's locks and recovery require.
    journal = any(os.path.lexists(where + suffix) for suffix in ("-wal", "-journal"))
    immutable = "" if journal else "&immutable=1"
    return f"file:{urllib.parse.quote(where)}?mode=ro{immutable}"


async def _in_memory_copy(source: aiosqlite.Connection | None, where: str) -> aiosqlite.Connection:
    """A read-only in-memory copy of ``source`` (closed here), brought to the current schema."""
    memory = await _connect(_IN_MEMORY, where)
    try:
        if source is not None:
            await source.backup(memory)
            await source.close()
        await _prepare(memory, where, in_memory=True)
        await memory.execute_fetchall("PRAGMA query_only = ON")
    except BaseException as exc:
        await _close_quietly(memory)
        if source is not None:
            await _close_quietly(source)
        if isinstance(exc, sqlite3.Error):
            raise _storage_error(f"read {where}", exc) from exc
        raise
    return memory


async def _pragma(conn: aiosqlite.Connection, pragma: str) -> Any:
    rows = list(await conn.execute_fetchall(f"PRAGMA {pragma}"))
    return rows[0][0] if rows else None


async def _close_quietly(conn: aiosqlite.Connection) -> None:
    # The open already failed; its error is the one worth reporting.
    with contextlib.suppress(sqlite3.Error, ValueError):
        await conn.close()


def _display_path(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    return text if text == _IN_MEMORY else os.path.abspath(text)


def _check_location(path: str | os.PathLike[str], where: str, *, read_only: bool) -> None:
    """Raise a clear error for paths SQLite could only answer with "unable to open", or that
    are no regular file (a FIFO would block SQLite's thread)."""
    if os.fspath(path) == _IN_MEMORY:
        if read_only:
            raise StorageError("cannot open ':memory:' for reading: it holds no study")
        return
    target = Path(where)
    try:
        if target.is_dir():
            raise StorageError(
                f"cannot open {where}: it is a folder; pass the path of a database file in it, "
                f"e.g. {target / 'studies.db'}"
            )
        if not target.parent.is_dir():
            raise StorageError(
                f"cannot open {where}: the folder {target.parent} does not exist; create it "
                f"first (e.g. Path({str(target.parent)!r}).mkdir(parents=True)) or fix the path"
            )
        if target.is_symlink() and not target.exists():
            raise StorageError(
                f"cannot open {where}: it is a symbolic link to {os.readlink(target)!r}, which "
                "does not exist; pass the path of the database file itself, or fix the link"
            )
        exists = target.exists()
        if exists and not target.is_file():
            raise StorageError(
                f"cannot open {where}: it is not a regular file (a FIFO, socket or device); "
                "pass the path of a database file"
            )
    except OSError as exc:
        # A name longer than the system allows, a path through a file, a loop of links...
        raise StorageError(
            f"cannot open {where}: {exc.strerror or exc}; pass the path of a database file in "
            "a folder that exists"
        ) from exc
    except ValueError as exc:  # a NUL character in the path
        raise StorageError(f"cannot open {where!r}: {exc}; fix the path") from exc
    if read_only and not exists:
        raise StorageError(f"no storage file at {where}; check the path")


def _parameters(study_id: int, rows: Iterable[Row]) -> list[Any]:
    parameters: list[Any] = [study_id]
    for row in rows:
        parameters.extend(row)
    return parameters


def _study_record(row: Sequence[Any]) -> StudyRecord:
    return decode_study(row)


def _error_code(exc: sqlite3.Error) -> int:
    """SQLite's extended result code, or -1 for errors raised by Python's sqlite3 itself."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code if isinstance(code, int) else -1


def _storage_error(action: str, exc: sqlite3.Error) -> StorageError:
    hint = _HINTS.get(_error_code(exc) & 0xFF)
    return StorageError(
        f"could not {action}: SQLite said {str(exc)!r}" + (f"; {hint}" if hint else "")
    )
