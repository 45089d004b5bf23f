"""The PostgreSQL server of ``benchmarks/drivers.py --storage``: fresh places on it, and its URLs.

:class:`PostgresServer` wraps one server, given by URL (``--storage postgresql://...``) or
started privately with the ``pgserver`` package (``--storage pgserver``, see
:func:`private_server`). Every benchmark cell gets a fresh, empty place on it:

- asynchpo: a new PostgreSQL schema in the URL's database, named by ``?schema=`` in the URL
  (:meth:`PostgresServer.asynchpo_url`), dropped after the cell;
- Optuna: a new database (``CREATE DATABASE``; Optuna's ``RDBStorage`` keeps its tables in a
  database's ``public`` schema), reached through SQLAlchemy's ``postgresql+psycopg2://`` URL
  built from the same URL (:meth:`PostgresServer.optuna_url`), dropped after the cell.

Admin statements go through asyncpg on an event loop of their own (``asyncio.run``), from the
parent process only, never while the drivers run.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import shutil
import tempfile
import urllib.parse
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["PostgresServer", "private_server", "with_query", "without_query"]

# Server settings worth printing next to the numbers (durability and capacity).
SETTINGS = ("fsync", "synchronous_commit", "max_connections", "shared_buffers")
# Connections a private server accepts: 8 Optuna drivers with n_jobs=16 open up to 15 each
# (SQLAlchemy's default pool: 5 + 10 overflow), more than PostgreSQL's default 100.
PRIVATE_MAX_CONNECTIONS = 300


def with_query(url: str, **params: str) -> str:
    """``url`` with each of ``params`` set in its query (replacing any value it had), the rest
    of the query kept as it is."""
    parts = urllib.parse.urlsplit(url)
    query = [
        (key, value)
        for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if key not in params
    ]
    query.extend(params.items())
    text = urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="/")
    return urllib.parse.urlunsplit(parts._replace(query=text))


def without_query(url: str, *keys: str) -> str:
    """``url`` without the query parameters ``keys``."""
    parts = urllib.parse.urlsplit(url)
    query = [
        (key, value)
        for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if key not in keys
    ]
    text = urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="/")
    return urllib.parse.urlunsplit(parts._replace(query=text))


def _with_database(url: str, database: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(database)))


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresServer:
    """One PostgreSQL server, from a ``postgresql://`` (or ``postgres://``) URL.

    :param url: admin URL: its user may create schemas in its database, and databases.
    :param label: how the output names the server.
    :param postmaster_pid: the server's main process, when it runs on this machine under our
        control (pgserver): its CPU time (with its children's) is then measured.
    """

    def __init__(self, url: str, label: str, postmaster_pid: int | None = None) -> None:
        scheme, sep, _ = url.partition("://")
        if not sep or scheme.lower() not in ("postgresql", "postgres"):
            raise ValueError(f"not a postgresql:// URL: {url!r}")
        self.url = without_query(url, "schema")  # asynchpo's own parameter: set per cell
        self.label = label
        self.postmaster_pid = postmaster_pid
        self._names = itertools.count(1)
        self._token = uuid.uuid4().hex[:6]

    # --- URLs ---------------------------------------------------------------------------

    def new_name(self, what: str) -> str:
        """A name not used before in this run: ``bench_<token>_<n>_<what>``."""
        return f"bench_{self._token}_{next(self._names)}_{what}"

    def asynchpo_url(self, schema: str) -> str:
        """The URL with ``?schema=NAME`` (asynchpo's tables in that PostgreSQL schema)."""
        return with_query(self.url, schema=schema)

    def optuna_url(self, database: str) -> str:
        """SQLAlchemy's URL of ``database`` on this server through psycopg2.

        The same user, password, host, port and query (``?host=/socket/dir`` for a unix
        socket, ``sslmode``, ...): libpq reads those parameters as asyncpg does.
        """
        parts = urllib.parse.urlsplit(_with_database(self.url, database))
        return urllib.parse.urlunsplit(parts._replace(scheme="postgresql+psycopg2"))

    # --- admin statements ---------------------------------------------------------------

    def _run(self, sql: str, *, fetch: bool = False) -> Any:
        async def run() -> Any:
            import asyncpg

            conn = await asyncpg.connect(self.url)
            try:
                if fetch:
                    return await conn.fetchval(sql)
                await conn.execute(sql)
                return None
            finally:
                await conn.close()

        return asyncio.run(run())

    def version(self) -> str:
        return str(self._run("SHOW server_version", fetch=True))

    def settings(self) -> dict[str, str]:
        return {name: str(self._run(f"SHOW {name}", fetch=True)) for name in SETTINGS}

    def create_database(self, name: str) -> None:
        self._run(f"CREATE DATABASE {_quote_identifier(name)}")

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any connection left to it."""
        self._run(f"DROP DATABASE IF EXISTS {_quote_identifier(name)} WITH (FORCE)")

    def schema_exists(self, name: str) -> bool:
        found = self._run(f"SELECT count(*) FROM pg_namespace WHERE nspname = '{name}'", fetch=True)
        return bool(found)

    def drop_schema(self, name: str) -> None:
        self._run(f"DROP SCHEMA IF EXISTS {_quote_identifier(name)} CASCADE")

    # --- CPU ----------------------------------------------------------------------------

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far: the postmaster, the backends it has reaped
        and the ones still running (``nan`` when the server is not ours to watch)."""
        if self.postmaster_pid is None:
            return float("nan")
        import psutil  # type: ignore[import-untyped]

        try:
            main = psutil.Process(self.postmaster_pid)
            times = main.cpu_times()
            total = times.user + times.system + times.children_user + times.children_system
            for child in main.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child_times = child.cpu_times()
                    total += child_times.user + child_times.system
        except psutil.Error:
            return float("nan")
        return float(total)


@contextlib.contextmanager
def private_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the ``pgserver`` package in a new temporary folder, stopped and
    deleted on exit.

    PostgreSQL's default, durable settings (``fsync``, ``synchronous_commit`` on), except
    ``max_connections`` (:data:`PRIVATE_MAX_CONNECTIONS`): set with ``ALTER SYSTEM``, then the
    server is restarted. pgserver listens on a unix socket in the data folder only. Run as
    root, pgserver runs PostgreSQL as a ``pgserver`` system user.
    """
    with warnings.catch_warnings():
        # platformdirs warns, at import, when XDG_RUNTIME_DIR is unset (as under root).
        warnings.simplefilter("ignore")
        pgserver: Any = importlib.import_module("pgserver")  # untyped exports

    folder = Path(tempfile.mkdtemp(prefix="asynchpo-bench-pg-"))
    data = folder / "data"
    try:
        booted = pgserver.get_server(data, cleanup_mode="stop")
        PostgresServer(booted.get_uri(), "pgserver")._run(
            f"ALTER SYSTEM SET max_connections = {PRIVATE_MAX_CONNECTIONS}"
        )
        booted.cleanup()  # stops it (the data stay); get_server starts it again
        server = pgserver.get_server(data, cleanup_mode="stop")
        try:
            info = server.get_postmaster_info()
            yield PostgresServer(
                server.get_uri(), f"private pgserver in {data}", postmaster_pid=info.pid
            )
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
