"""A long-lived read-only reader (the dashboard) sees runs that start after it opened the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from asynchpo import SqliteStorage, fmin, hp, rand

pytestmark = pytest.mark.timeout(60)

SPACE = {"x": hp.uniform("x", 0, 1)}


async def run(path: Path, max_evals: int, study: str = "s") -> None:
    await fmin(
        lambda p: p["x"], SPACE, algo=rand.suggest, max_evals=max_evals, storage=path, study=study
    )


async def test_a_reader_opened_with_no_writer_sees_a_run_that_starts_later(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    await run(path, 3)
    assert not (tmp_path / "runs.sqlite-wal").exists()  # closed cleanly: read as it is
    reader = await SqliteStorage.open(path, read_only=True)
    try:
        (study,) = await reader.list_studies()
        assert len(await reader.trials(study.id)) == 3
        await run(path, 8)
        assert len(await reader.trials(study.id)) == 8
        await run(path, 5, study="t")
        assert [s.name for s in await reader.list_studies()] == ["s", "t"]
        assert (await reader.changes(study.id, -1)).version >= 8
    finally:
        await reader.aclose()


async def test_a_reader_of_an_empty_file_sees_the_study_a_writer_creates(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    path.touch()
    reader = await SqliteStorage.open(path, read_only=True)
    try:
        assert await reader.list_studies() == []
        await run(path, 4)
        (study,) = await reader.list_studies()
        assert len(await reader.trials(study.id)) == 4
    finally:
        await reader.aclose()
    assert path.stat().st_size > 0


async def test_a_reader_opened_during_a_run_reads_on_after_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    writer = await SqliteStorage.open(path)  # holds the -wal: the reader is live from the start
    try:
        await run(path, 2)
        reader = await SqliteStorage.open(path, read_only=True)
    finally:
        await writer.aclose()
    try:
        await run(path, 6)
        (study,) = await reader.list_studies()
        assert len(await reader.trials(study.id)) == 6
    finally:
        await reader.aclose()
