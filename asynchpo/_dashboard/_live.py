"""The dashboard's view of a storage: each study opened for reading once, then kept current
through its change feed (``Study.refresh`` reads only what changed since the last read).

The storage is opened read-only: the dashboard changes no byte of a SQLite file, and a search
writing to it never waits for the dashboard (SQLite in WAL mode: readers and the writer do not
block each other); a PostgreSQL database (``postgresql://...``) is read in read-only sessions,
and the page names it with its password as ``***``. Reads are shared: however many pages
poll, a study is read at most every :data:`REFRESH_S` seconds.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Final

import anyio
import anyio.to_thread

from asynchpo import (
    AsynchpoError,
    PostgresStorage,
    SqliteStorage,
    Storage,
    Study,
    is_postgres_url,
    open_study,
)
from asynchpo._dashboard._model import (
    About,
    Columns,
    gzip_body,
    study_json,
    summary_json,
)

__all__ = ["REFRESH_S", "Source", "Watched", "open_reading"]

#: The least time between two reads of a study's changes, whatever the number of pages.
REFRESH_S: Final = 0.25


async def open_reading(storage: str | os.PathLike[str]) -> tuple[Storage, str]:
    """Open ``storage`` for reading only, and how to name it: a SQLite file's absolute path,
    or a PostgreSQL URL with its password masked.

    :raises StorageError: the file does not exist or is not an asynchpo database, or the
        database cannot be reached or refuses the user (one line, the password masked).
    """
    if is_postgres_url(storage):
        database = await PostgresStorage.open(os.fspath(storage), read_only=True)
        return database, database.url
    shown = os.path.abspath(storage)  # noqa: ASYNC240 - no I/O: the working folder is known
    return await SqliteStorage.open(storage, read_only=True), shown


class Watched:
    """One study, read once in full and then kept current; with its columns for the pages."""

    def __init__(self, study: Study, storage: str) -> None:
        self.study = study
        self.storage = storage
        self.columns = Columns(study.labels, study.record.created, study.trials)
        study.watch(self.columns.take)
        self._lock = anyio.Lock()
        self._read_at = time.monotonic()
        self._payload: tuple[int, bool, bytes] | None = None

    async def current(self) -> None:
        """Read what changed, unless it was read less than :data:`REFRESH_S` ago."""
        async with self._lock:
            if time.monotonic() - self._read_at < REFRESH_S:
                return
            await self.study.refresh()
            self._read_at = time.monotonic()

    def about(self) -> About:
        return About.of(self.study, self.storage)

    async def payload(self, *, gzipped: bool = False) -> bytes:
        """The study page's JSON (every trial), built once per change of the study (the last
        one kept, plain or compressed: in a worker thread, so that polls go on meanwhile)."""
        cursor = self.columns.cursor
        cached = self._payload
        if cached is None or cached[:2] != (cursor, gzipped):
            body = study_json(self.about(), self.columns)
            if gzipped:
                body = await anyio.to_thread.run_sync(gzip_body, body)
            cached = self._payload = (cursor, gzipped, body)
        return cached[2]


class Source:
    """A storage of studies (a SQLite file, a PostgreSQL database), opened for reading, and the
    studies read from it so far.

    Use as an async context manager; it closes every study and the file on exit.
    """

    def __init__(
        self, path: str | os.PathLike[str], log_dir: str | os.PathLike[str] | None
    ) -> None:
        self.path = path
        self.log_dir = None if log_dir is None else Path(log_dir).absolute()
        # How the page names the storage: the file's absolute path, or the URL with its
        # password masked (set when it is opened).
        self.storage = "" if is_postgres_url(path) else os.path.abspath(path)
        self._store: Storage | None = None
        self._stack = contextlib.AsyncExitStack()
        self._studies: dict[str, Watched] = {}
        self._opening = anyio.Lock()

    async def __aenter__(self) -> Source:
        self._store, self.storage = await open_reading(self.path)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self._stack.aclose()
        finally:
            if self._store is not None:
                await self._store.aclose()

    async def names(self) -> list[str]:
        """The names of the storage's studies, oldest first."""
        return [record.name for record in await self._opened().list_studies()]

    async def study(self, name: str) -> Watched:
        """Study ``name``, current to within :data:`REFRESH_S` seconds.

        :raises StudyNotFound: there is no such study.
        :raises StorageError: the file cannot be read, or holds a damaged record.
        """
        watched = self._studies.get(name)
        if watched is None:
            async with self._opening:
                watched = self._studies.get(name)
                if watched is None:
                    study = await self._stack.enter_async_context(open_study(self._opened(), name))
                    watched = self._studies[name] = Watched(study, self.storage)
                    return watched
        await watched.current()
        return watched

    async def warm(self) -> None:
        """Read every study and build its page's data (compressed, as browsers ask for it)."""
        for name in await self.names():
            try:
                watched = await self.study(name)
            except AsynchpoError:
                continue  # the study's page and the studies page say what is wrong
            await watched.payload(gzipped=True)

    async def summaries(self) -> list[dict[str, Any]]:
        """Every study's summary, oldest study first; a study that cannot be read says why."""
        out = []
        for name in await self.names():
            try:
                watched = await self.study(name)
            except AsynchpoError as exc:
                out.append({"name": name, "error": str(exc)})
                continue
            out.append(summary_json(watched.study.summary()))
        return out

    def log_folders(self, watched: Watched) -> list[Path]:
        """Where trial logs of the study may be: ``--log-dir`` (as ``fmin(log_dir=...)``
        writes), then the study's default folder (beside a SQLite file; for PostgreSQL,
        ``asynchpo-logs/<study>`` in the working folder)."""
        folders = [] if self.log_dir is None else [self.log_dir]
        if watched.study.log_folder is not None:
            folders.append(watched.study.log_folder)
        return folders

    def _opened(self) -> Storage:
        assert self._store is not None, "use Source in `async with`"
        return self._store
