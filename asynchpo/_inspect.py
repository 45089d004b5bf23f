"""Read-only views of stored studies, for the command line and for scripts.

Everything here opens an *existing* SQLite file (it never creates one), reads, and closes it.
The file is in WAL mode, so reading never blocks a run that is writing to it, and a run never
blocks a reader.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import anyio

from asynchpo._exceptions import StorageError
from asynchpo._storage import SqliteStorage, StudyRecord
from asynchpo._study import StudySummary, summarize
from asynchpo._trial import Params, Trial

__all__ = [
    "StudySummary",
    "display_params",
    "labels_of",
    "list_studies",
    "load_study",
    "open_existing",
    "summarize",
]

_SCALARS = (str, int, float, bool, type(None))


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
    """A summary of every study in the SQLite file ``storage``, oldest study first.

    :raises StorageError: if the file does not exist (it is not created) or is not an
        asynchpo database.
    """
    store = await open_existing(storage)
    try:
        summaries = []
        for record in await store.list_studies():
            trials = await store.trials(record.id)
            summaries.append(summarize(record, trials, await store.drivers(record.id)))
        return summaries
    finally:
        await store.aclose()


async def load_study(storage: str | os.PathLike[str], name: str) -> tuple[StudyRecord, list[Trial]]:
    """A stored study's record and its trials, ordered by id.

    :raises StorageError: if the file does not exist.
    :raises StudyNotFound: if it has no study called ``name``.
    """
    store = await open_existing(storage)
    try:
        record = await store.get_study(name)
        return record, await store.trials(record.id)
    finally:
        await store.aclose()


def labels_of(record: StudyRecord) -> list[str]:
    """The study's parameter labels, in the space's column order."""
    return [str(entry["label"]) for entry in record.config.space]


def display_params(record: StudyRecord, params: Params) -> dict[str, Any]:
    """A trial's parameters for people: a choice's option index becomes the option's value
    when that value is a JSON scalar (a string, number, bool or null); everything else is
    shown as stored (the value, or the option index)."""
    values: dict[str, Sequence[object]] = {}
    for entry in record.config.space:
        shown = entry.get("values")
        if isinstance(shown, list):
            values[str(entry["label"])] = shown
    out: dict[str, Any] = {}
    for label, value in params.items():
        options = values.get(label)
        if options is not None and isinstance(value, int) and 0 <= value < len(options):
            option = options[value]
            out[label] = option if isinstance(option, _SCALARS) else value
        else:
            out[label] = value
    return out
