"""Storage errors from the environment (a full disk, a path that is no database file) reach the
user as one line: a single ``StorageError`` from the API, ``asynchpo: error: ...`` and exit code
2 from the command line; never a traceback, a logged one, an ``ExceptionGroup`` or a thread
failing after the event loop closed. The trials already stored stay intact."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from process_tools import run_cli

from asynchpo import SqliteStorage, StorageError, fmin, hp, open_study
from asynchpo._storage import Driver, Storage, Written
from asynchpo._storage._wrapper import StorageWrapper
from asynchpo._trial import Trial

FILES = Path(__file__).with_name("cli_files")
SPACE = str(FILES / "space.json")
#: SQLite reports a write past RLIMIT_FSIZE as SQLITE_FULL or SQLITE_IOERR: both hints say so.
FULL_DISK = re.compile(r"disk is full|full disk")
PROGRAM = ["--", sys.executable, str(FILES / "train.py"), "--lr", "{lr}", "--layers", "{layers}"]


def cli(*args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m asynchpo ARGS``, with files limited to ``limit`` bytes if given (SQLite then
    fails to write as on a full disk: SIGXFSZ is ignored, so a write gets EFBIG)."""

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return run_cli(*args, timeout=40, preexec_fn=limited)


def run_args(storage: Path | str, max_evals: int, concurrency: int = 2) -> list[str]:
    return [
        "run",
        "--space",
        SPACE,
        "--storage",
        str(storage),
        "--study",
        "s",
        "--max-evals",
        str(max_evals),
        "--concurrency",
        str(concurrency),
        "--seed",
        "3",
        *PROGRAM,
    ]


def assert_one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("asynchpo: error: "), done.stderr
    for word in words:
        assert word in lines[0], done.stderr


def finished_rows(path: Path) -> list[tuple[Any, ...]]:
    """Integrity checked, the finished trials as stored."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return conn.execute(
            "SELECT tid, state, params, loss, result FROM trials"
            " WHERE state IN ('ok', 'fail') ORDER BY tid"
        ).fetchall()
    finally:
        conn.close()


# A full disk ----------------------------------------------------------------------------------

_API_DRIVER = textwrap.dedent(
    """
    import resource, signal, sys
    from asynchpo import StorageError, fmin_sync, hp

    path, limit, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

    def objective(x):
        return {"loss": x, "notes": "n" * 3000}

    space = hp.uniform("x", 0, 1)
    fmin_sync(objective, space, max_evals=4, storage=path, study="s", seed=0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        fmin_sync(objective, space, max_evals=500, storage=path, study="s", seed=0,
                  concurrency=concurrency)
    except StorageError as exc:
        print("StorageError:", exc)
    """
)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_full_disk_is_one_storage_error_through_the_api(tmp_path: Path, concurrency: int) -> None:
    path = tmp_path / "full.db"
    done = subprocess.run(
        [sys.executable, "-c", _API_DRIVER, str(path), "120000", str(concurrency)],
        capture_output=True,
        text=True,
        timeout=40,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Nothing logged: no traceback of the failed "interrupted" write before the error.
    assert done.stderr == ""
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    assert lines[0].startswith("StorageError: could not ")
    assert FULL_DISK.search(lines[0]), lines[0]
    rows = finished_rows(path)
    assert [row[0] for row in rows[:4]] == [0, 1, 2, 3]


def test_a_full_disk_is_one_line_from_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "full.db"
    first = cli(*run_args(path, 4))
    assert first.returncode == 0, first.stderr
    before = finished_rows(path)
    assert len(before) == 4
    done = cli(*run_args(path, 400), limit=path.stat().st_size + 8000)
    assert_one_line_error(done, str(path))
    assert FULL_DISK.search(done.stderr), done.stderr
    assert finished_rows(path)[:4] == before
    # The study goes on once there is room again.
    again = cli(*run_args(path, 8))
    assert again.returncode == 0, again.stderr
    assert finished_rows(path)[:4] == before


# Several workers failing at once --------------------------------------------------------------


class FailingWrites(StorageWrapper):
    """Fails the next ``armed`` writes, slowly enough for the other workers to fail too."""

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage)
        self.armed = 0

    async def write(self, study_id: int, trials: Sequence[Trial]) -> Written:
        if self.armed:
            self.armed -= 1
            await asyncio.sleep(0.01)
            raise StorageError("could not write: the disk is full (simulated)")
        return await self.storage.write(study_id, trials)


async def test_workers_failing_at_once_raise_one_storage_error(tmp_path: Path) -> None:
    concurrency = 2
    async with await SqliteStorage.open(tmp_path / "s.db") as sqlite:
        storage = FailingWrites(sqlite)
        calls = 0

        async def objective(x: float) -> float:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)
            if calls == 2 * concurrency:
                storage.armed = concurrency
            return x

        with pytest.raises(StorageError, match="simulated") as caught:
            await fmin(
                objective,
                hp.uniform("x", 0, 1),
                max_evals=50,
                storage=storage,
                study="s",
                seed=0,
                concurrency=concurrency,
            )
        assert type(caught.value) is StorageError


class FailingHeartbeat(StorageWrapper):
    async def heartbeat(self, driver: int) -> Driver:
        raise StorageError("could not renew the lease: the disk is full (simulated)")


async def test_a_failed_lease_renewal_is_a_storage_error_not_a_group(tmp_path: Path) -> None:
    async with await SqliteStorage.open(tmp_path / "s.db") as sqlite:
        with pytest.raises(StorageError, match="simulated") as caught:
            async with open_study(
                FailingHeartbeat(sqlite), "s", space=hp.uniform("x", 0, 1), lease_seconds=0.3
            ):
                await asyncio.sleep(2)
        assert type(caught.value) is StorageError


# Paths that are no database file --------------------------------------------------------------


def _bad_path(tmp_path: Path, kind: str) -> str:
    if kind == "fifo":
        os.mkfifo(tmp_path / "pipe")
        return str(tmp_path / "pipe")
    if kind == "dangling symlink":
        (tmp_path / "link.db").symlink_to(tmp_path / "gone" / "runs.db")
        return str(tmp_path / "link.db")
    if kind == "name too long":
        return str(tmp_path / ("n" * 300 + ".db"))
    if kind == "root":
        return "/"
    if kind == "folder":
        return str(tmp_path)
    assert kind == "missing folder"
    return str(tmp_path / "missing" / "runs.db")


KINDS = ["fifo", "dangling symlink", "name too long", "root", "folder", "missing folder"]

_API_OPEN = textwrap.dedent(
    """
    import sys
    import anyio
    from asynchpo import StorageError, StudyNotFound, fmin_sync, hp, list_studies, load_trials

    path = sys.argv[1]
    for name, call in [
        ("fmin", lambda: fmin_sync(lambda x: x, hp.uniform("x", 0, 1), max_evals=2,
                                   storage=path, study="s")),
        ("list_studies", lambda: anyio.run(list_studies, path)),
        ("load_trials", lambda: anyio.run(load_trials, path, "s")),
    ]:
        try:
            call()
        except (StorageError, StudyNotFound) as exc:
            print(name, type(exc).__name__ + ":", exc)
        else:
            print(name, "no error")
    """
)


@pytest.mark.parametrize("kind", KINDS)
def test_a_path_that_is_no_database_file_is_one_storage_error(tmp_path: Path, kind: str) -> None:
    path = _bad_path(tmp_path, kind)
    done = subprocess.run(
        [sys.executable, "-c", _API_OPEN, path],
        capture_output=True,
        text=True,
        timeout=40,
        check=False,
    )
    # No traceback, and no aiosqlite thread failing after the loop closed.
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["fmin", "list_studies", "load_trials"]
    assert lines[0].startswith("fmin StorageError: cannot open "), lines
    for line in lines[1:]:
        assert line.split()[1] in ("StorageError:", "StudyNotFound:"), lines
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_a_path_that_is_no_database_file_is_one_line_from_the_cli(
    tmp_path: Path, kind: str
) -> None:
    path = _bad_path(tmp_path, kind)
    for args in (
        run_args(path, 2),
        ["studies", path],
        ["show", path, "s"],
    ):
        done = cli(*args)
        assert_one_line_error(done)
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "gone").exists()
