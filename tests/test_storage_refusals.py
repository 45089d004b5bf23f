"""A refused open, and every open that only reads, changes no byte of the file and creates no
file next to it (-wal, -shm, -journal): a file of a newer asynchpo in rollback-journal mode, an
empty file, a file that is no database, an existing study read by ``show``/``trials``/
``studies``, ``open_study`` without a space, ``list_studies`` and ``load_trials``."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from process_tools import run_cli
from test_storage import _old_file

from asynchpo import (
    SqliteStorage,
    StorageError,
    StudyNotFound,
    fmin,
    hp,
    list_studies,
    load_trials,
    open_study,
)

SIDE_FILES = ("-wal", "-shm", "-journal")


def snapshot(path: Path) -> tuple[bytes, list[str]]:
    """The file's bytes and which files sit next to it."""
    return path.read_bytes(), [s for s in SIDE_FILES if Path(f"{path}{s}").exists()]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args)


async def _study_file(path: Path, trials: int = 3) -> None:
    await fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        max_evals=trials,
        storage=path,
        study="s",
        seed=0,
    )


def _newer_in_rollback_mode(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
        with conn:
            conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    assert not Path(f"{path}-wal").exists()
    assert path.read_bytes()[18:20] == b"\x01\x01"  # rollback journal, in the header


async def _api_calls(path: Path) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    async def write_open() -> None:
        async with await SqliteStorage.open(path):
            pass

    async def read_open() -> None:
        async with await SqliteStorage.open(path, read_only=True):
            pass

    async def read_study() -> None:
        async with open_study(path, "s"):
            pass

    async def run() -> None:
        await fmin(lambda x: x, hp.uniform("x", 0, 1), max_evals=9, storage=path, study="s")

    return [
        ("SqliteStorage.open", write_open),
        ("SqliteStorage.open(read_only=True)", read_open),
        ("open_study", read_study),
        ("list_studies", lambda: list_studies(path)),
        ("load_trials", lambda: load_trials(path, "s")),
        ("fmin", run),
    ]


async def test_a_newer_file_in_rollback_mode_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    await _study_file(path)
    _newer_in_rollback_mode(path)
    before = snapshot(path)
    for name, call in await _api_calls(path):
        with pytest.raises(StorageError, match=r"newer asynchpo \(schema version 99"):
            await call()
        assert snapshot(path) == before, name
    for args in (["studies", str(path)], ["show", str(path), "s"], ["trials", str(path), "s"]):
        done = cli(*args)
        assert done.returncode == 2, done.stderr
        assert "newer asynchpo" in done.stderr
        assert snapshot(path) == before, args


async def test_an_empty_file_says_no_study_and_stays_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    assert await list_studies(path) == []
    with pytest.raises(StudyNotFound, match="no study called 's'"):
        await load_trials(path, "s")
    with pytest.raises(StudyNotFound, match="no study called 's'"):
        async with open_study(path, "s"):
            pass
    async with await SqliteStorage.open(path, read_only=True) as storage:
        assert await storage.list_studies() == []
    assert snapshot(path) == (b"", [])
    done = cli("studies", str(path))
    assert done.returncode == 0, done.stderr
    assert "no studies in" in done.stdout
    for command in ("show", "trials"):
        done = cli(command, str(path), "s")
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("asynchpo: error: there is no study called 's'")
        assert len(done.stderr.splitlines()) == 1
    assert snapshot(path) == (b"", [])


async def test_a_file_that_is_no_database_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"my notes, not a database\n" * 300)
    before = snapshot(path)
    for name, call in await _api_calls(path):
        with pytest.raises(StorageError, match="not a SQLite database"):
            await call()
        assert snapshot(path) == before, name
    for args in (["studies", str(path)], ["show", str(path), "s"]):
        done = cli(*args)
        assert done.returncode == 2, done.stderr
        assert snapshot(path) == before


async def test_reading_a_study_changes_no_byte_and_creates_no_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    await _study_file(path, trials=4)
    before = snapshot(path)
    assert before[1] == []
    summaries = await list_studies(path)
    assert [(s.name, s.counts) for s in summaries] == [("s", summaries[0].counts)]
    assert len(await load_trials(path, "s")) == 4
    async with open_study(path, "s") as study:
        assert len(study.trials) == 4
    async with await SqliteStorage.open(path, read_only=True) as storage:
        record = await storage.get_study("s")
        trials = await storage.trials(record.id)
        assert len(trials) == 4
        # Reading only: a write is refused, and leaves the file alone.
        with pytest.raises(StorageError, match="readonly"):
            await storage.write(record.id, [trials[0].replace(id=9)])
    assert snapshot(path) == before
    for args in (["studies", str(path)], ["show", str(path), "s"], ["trials", str(path), "s"]):
        done = cli(*args)
        assert done.returncode == 0, done.stderr
        assert snapshot(path) == before, args


async def test_reading_while_a_run_writes_sees_its_trials(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    await _study_file(path, trials=2)
    async with await SqliteStorage.open(path) as writer:
        record = await writer.get_study("s")
        stored = await writer.trials(record.id)
        await writer.write(record.id, [stored[0].replace(id=2)])
        assert snapshot(path)[1] == ["-wal", "-shm"]
        trials = await load_trials(path, "s")
        assert len(trials) == 3
        # The writer goes on after the read.
        await writer.write(record.id, [stored[0].replace(id=3)])
        assert len(await writer.trials(record.id)) == 4
    assert len(await load_trials(path, "s")) == 4


@pytest.mark.parametrize("version", [1, 3])
async def test_an_old_file_is_read_through_a_copy(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.db"
    records = _old_file(path, version)
    before = snapshot(path)
    # Reading does not upgrade the file: it reads an upgraded copy in memory.
    async with await SqliteStorage.open(path, read_only=True) as storage:
        record = await storage.get_study("s")
        assert await storage.trials(record.id) == records
    assert snapshot(path) == before
    # Opening it to run upgrades it, as before.
    async with await SqliteStorage.open(path) as storage:
        assert await storage.trials(record.id) == records


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="permissions do not bind root; needs an unprivileged user",
)
async def test_a_read_only_study_in_a_read_only_folder_can_be_read(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "runs.db"
    await _study_file(path, trials=3)
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        before = snapshot(path)
        assert len(await load_trials(path, "s")) == 3
        assert [s.name for s in await list_studies(path)] == ["s"]
        for args in (["studies", str(path)], ["show", str(path), "s"], ["trials", str(path), "s"]):
            done = cli(*args)
            assert done.returncode == 0, done.stderr
        assert snapshot(path) == before
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
