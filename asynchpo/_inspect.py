"""Summaries of every study in a SQLite file (``asynchpo.list_studies``), for the command line
and for scripts; one study is read with ``asynchpo.open_study(path, name)``.

It opens an *existing* SQLite file (it never creates one), reads, and closes it. The file is
in WAL mode, so reading never blocks a run that is writing to it, and a run never blocks a
reader.
"""

from __future__ import annotations

import os

import anyio

from asynchpo._exceptions import StorageError
from asynchpo._storage import SqliteStorage
from asynchpo._study import StudySummary, summarize

__all__ = ["list_studies", "open_existing"]


async def open_existing(path: str | os.PathLike[str]) -> SqliteStorage:
    """Open a SQLite storage that must exist already.

    :raises StorageError: if there is no file at ``path`` (none is created), or it is not an
        asynchpo database.
    """
    target = anyio.Path(path)
    if not await target.exists():
        raise StorageError(f"no storage file at {os.fspath(path)!r}; check the path")
    if not await target.is_file():
        raise StorageError(f"{os.fspath(path)!r} is not a file; pass the path of a .sqlite file")
    return await SqliteStorage.open(path)


async def list_studies(storage: str | os.PathLike[str]) -> list[StudySummary]:
    """A summary of every study in the SQLite file ``storage``, oldest study first: its trials
    by state, best loss, live drivers, and running trials whose driver is gone (``stale``,
    with when it was last seen).

    :raises StorageError: if the file does not exist (it is not created) or is not an
        asynchpo database.
    """
    store = await open_existing(storage)
    try:
        summaries = []
        for record in await store.list_studies():
            trials = await store.trials(record.id)
            # Every driver, dead ones too: a stale trial's driver tells when it was last seen.
            summaries.append(summarize(record, trials, await store.drivers(record.id)))
        return summaries
    finally:
        await store.aclose()
