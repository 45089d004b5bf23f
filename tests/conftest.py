"""Shared fixtures: a real PostgreSQL server for the PostgreSQL storage's tests.

``postgres_server`` (session scope) starts one private PostgreSQL 16 from the ``pgserver``
package (the ``test`` extra installs it) in a temp folder of its own (``$TMPDIR/asynchpo-pg-*``,
removed at the end), once per pytest run, and yields a :class:`PgServer`. ``pg_url`` (function
scope) gives each test a fresh, empty database of its own on that server and drops it
afterwards.

How the server is run:

- ``pgserver.get_server`` runs ``initdb`` (trust auth) and starts the server; run as root, it
  runs PostgreSQL as a ``pgserver`` system user (created if missing) and opens the folders
  above the data folder to it (``o+rx``). The fixture then stops it and takes the server over
  with pgserver's own ``pg_ctl``, so that tests can stop it (``-m fast``) and start it again on
  the same data folder, socket and port: URLs stay valid across ``stop()`` / ``start()``.
- Admin connections (user ``postgres``, no password) go over a unix socket in the data
  folder, with trust auth. The server also listens on TCP ``127.0.0.1`` at a free port, where
  every connection needs a password (scram-sha-256): role ``asynchpo_pw`` with password
  ``right-secret`` (a superuser, so a password URL can do whatever the admin URL does) is
  there for wrong-password tests, see ``PgServer.password_url``.
- ``fsync = off``: a test server need not survive a power cut; a server process killed (or
  stopped ``-m immediate``) still keeps every commit, since each commit's WAL is written to
  the kernel before the commit returns.

The helpers block; they are safe to call from sync or async tests (their asyncpg work runs
on an event loop of their own, in a thread). From an async test, call ``stop()`` /
``start()`` through ``anyio.to_thread.run_sync`` if the test's own tasks must keep running
(and see the outage) meanwhile.

Skips: outside CI, the PostgreSQL tests are skipped (one line saying why) when pgserver is
not installed. Under CI (``CI=true``) they never skip: a missing pgserver or a server that
cannot start is an error.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import pytest

_T = TypeVar("_T")

PASSWORD_USER = "asynchpo_pw"
PASSWORD = "right-secret"
HOW_TO_ENABLE = "the PostgreSQL tests need pgserver: pip install -e '.[test]'"

# Settings appended to postgresql.conf once the fixture has taken the server over.
_CONF = """
# --- asynchpo test fixture (tests/conftest.py) ---
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
fsync = off
"""

# Unix socket: trust (the admin URL). TCP: a password, always.
_HBA = """# asynchpo test fixture (tests/conftest.py)
local   all   all                    trust
host    all   all   127.0.0.1/32     scram-sha-256
host    all   all   ::1/128          scram-sha-256
"""


def _in_thread(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion on a fresh event loop in a worker thread, so callers
    need not care whether an event loop is already running in theirs."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PgServer:
    """One private PostgreSQL server: its URLs, fresh databases, stop/start, and chaos."""

    def __init__(self, data_dir: Path, socket_dir: Path, port: int, system_user: str | None):
        self.data_dir = data_dir
        self.socket_dir = socket_dir
        self.port = port
        self.system_user = system_user  # the OS user PostgreSQL runs as (None: this one)
        self.log_path = data_dir / "log"
        self.url = self.url_for("postgres")
        self.started_in = 0.0  # seconds the session fixture took to bring the server up
        self._names = itertools.count(1)
        self._token = uuid.uuid4().hex[:6]

    # --- URLs ---------------------------------------------------------------------------

    def url_for(self, dbname: str) -> str:
        """Admin URL (user postgres, unix socket, no password) to database ``dbname``."""
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql://postgres@/{dbname}?host={host}&port={self.port}"

    def password_url(
        self, user: str = PASSWORD_USER, password: str = PASSWORD, dbname: str = "postgres"
    ) -> str:
        """URL over TCP (127.0.0.1), where the server always asks for a password."""
        cred = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return f"postgresql://{cred}@127.0.0.1:{self.port}/{dbname}"

    def with_password(self, password: str, dbname: str = "postgres") -> str:
        """``password_url`` for role ``asynchpo_pw`` (whose right password is PASSWORD)."""
        return self.password_url(PASSWORD_USER, password, dbname)

    @staticmethod
    def dbname_of(url: str) -> str:
        """The database a URL names."""
        return urlsplit(url).path.lstrip("/")

    # --- databases ----------------------------------------------------------------------

    def create_database(self) -> str:
        """A fresh, empty, uniquely named database; returns its admin URL. Starts the server
        first if a test left it stopped."""
        self.ensure_running()
        name = f"t{self._token}_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, dbname: str) -> None:
        """Drop a database, ending any connections to it (a no-op if it is gone)."""
        self.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        """Run SQL as the admin user."""

        async def run() -> None:
            import asyncpg

            conn = await asyncpg.connect(self.url_for(dbname))
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        _in_thread(run)

    def terminate_backends(self, dbname: str) -> int:
        """pg_terminate_backend every connection to ``dbname`` (other than the admin one
        doing it), waiting up to 5 s for each to end; returns how many were ended."""

        async def run() -> int:
            import asyncpg

            conn = await asyncpg.connect(self.url)
            try:
                # Two steps: in one WHERE clause the planner may call pg_terminate_backend
                # before it filters on the database, and end every connection there is.
                pids = await conn.fetch(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    dbname,
                )
                ended = 0
                for row in pids:
                    if await conn.fetchval("SELECT pg_terminate_backend($1, 5000)", row["pid"]):
                        ended += 1
            finally:
                await conn.close()
            return ended

        return _in_thread(run)

    # --- the server process -------------------------------------------------------------

    def _pg_ctl(self, *args: str, timeout: float = 90) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.data_dir), *args]
        # Output to a file, not a pipe: the postmaster inherits it and would hold a pipe open.
        with tempfile.TemporaryFile() as out:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                user=self.system_user,
                timeout=timeout,
                check=False,
            )
            if done.returncode != 0:
                out.seek(0)
                said = out.read().decode(errors="replace").strip()
                log = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(
                    f"{' '.join(command)} exited {done.returncode}: {said}\nserver log tail:\n{log}"
                )

    def start(self) -> None:
        """Start the server on the same data folder, socket and port (waits until ready)."""
        self._pg_ctl("-w", "-t", "60", "-l", str(self.log_path), "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``-m fast``: connections are ended, and a clean shutdown)."""
        self._pg_ctl("-w", "-t", "60", "-m", mode, "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        """Whether the postmaster recorded in postmaster.pid is alive (not a zombie)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, 0)
        except (OSError, ValueError):
            return False
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True  # no /proc here: trust kill(pid, 0)
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"

    def ensure_running(self) -> None:
        if not self.is_running():
            self.start()


def _import_pgserver() -> Any:
    try:
        with warnings.catch_warnings():
            # platformdirs warns, at import, when XDG_RUNTIME_DIR is unset (as under root).
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as err:
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"pgserver is not importable ({err}) under CI=true; {HOW_TO_ENABLE}", pytrace=False
            )
        pytest.skip(f"pgserver is not installed; {HOW_TO_ENABLE}")
    return pgserver


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole run (see the module docstring)."""
    pgserver = _import_pgserver()
    began = time.perf_counter()
    # Not under tmp_path_factory: as root, every pytest run that starts chmods
    # /tmp/pytest-of-root back to 0700, which locks the pgserver user out of a data folder
    # there (pg_ctl then fails "could not access directory"), e.g. while another run starts.
    base = Path(tempfile.mkdtemp(prefix="asynchpo-pg-"))
    try:
        yield from _serve(pgserver, base, began)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _serve(pgserver: Any, base: Path, began: float) -> Iterator[PgServer]:
    booted = pgserver.get_server(base / "data", cleanup_mode="stop")
    info = booted.get_postmaster_info()
    socket_dir = Path(info.socket_dir if info.socket_dir is not None else booted.pgdata)
    data_dir = Path(booted.pgdata)
    system_user = booted.system_user
    # pgserver started it socket-only (-h ""): stop it (its own clean-up, which leaves the
    # data) and start it again ourselves, listening on TCP too, under our configuration.
    booted.cleanup()
    server = PgServer(data_dir, socket_dir, _free_port(), system_user)
    with open(data_dir / "postgresql.conf", "a") as conf:
        conf.write(_CONF.format(port=server.port, socket_dir=socket_dir))
    (data_dir / "pg_hba.conf").write_text(_HBA)
    server.start()
    try:
        server.execute(f"CREATE ROLE {PASSWORD_USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
        server.started_in = time.perf_counter() - began
        yield server
    finally:
        if server.is_running():
            server.stop()


@pytest.fixture
def pg_url(postgres_server: PgServer) -> Iterator[str]:
    """Admin URL of a fresh, empty database of this test's own (dropped afterwards)."""
    url = postgres_server.create_database()
    yield url
    if postgres_server.is_running():
        postgres_server.drop_database(postgres_server.dbname_of(url))
