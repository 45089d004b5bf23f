"""Where a study's per-trial logs go: the one definition, used by ``fmin`` (which writes them)
and by the readers that show them (``Study.log_folder``, the dashboard).

- a SQLite file (a path, or ``sqlite:///x.db``): beside it, ``runs/x.sqlite`` ->
  ``runs/x-logs/<study>/``;
- a PostgreSQL database (``postgresql://...``): no file to sit beside, so
  ``./asynchpo-logs/<study>/`` under the working folder of the process that asks;
- memory: none.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Final

from asynchpo._exceptions import StorageError
from asynchpo._storage._urls import is_postgres_url, is_sqlite_url, sqlite_url_path

__all__ = ["POSTGRES_LOGS", "default_log_folder", "sqlite_file", "study_folder"]

#: The folder, under the working folder, of the logs of studies stored in PostgreSQL.
POSTGRES_LOGS: Final = "asynchpo-logs"

_PLAIN_FOLDER: Final = re.compile(r"[a-z0-9_][a-z0-9._-]{0,99}")
_HASHED_FOLDER: Final = re.compile(r".*-[0-9a-f]{12}")


def default_log_folder(storage: str | os.PathLike[str] | None, study: str) -> Path | None:
    """The study's log folder, absolute (so that a trial running elsewhere, a Dask worker,
    writes where this says), for the storage ``storage`` names:

    - a SQLite file (a path, or ``sqlite:///x.db``): beside it (``runs/x.sqlite`` ->
      ``runs/x-logs/<study>/``);
    - a PostgreSQL URL: ``asynchpo-logs/<study>/`` in the working folder;
    - ``None``, an in-memory database, or a malformed ``sqlite:`` URL (opening it says
      what is wrong): ``None``.
    """
    if storage is None:
        return None
    if isinstance(storage, str) and is_postgres_url(storage):
        return Path.cwd().absolute() / POSTGRES_LOGS / study_folder(study)
    try:
        file = sqlite_file(storage)
    except StorageError:
        return None
    if file is None or os.fspath(file) == ":memory:":
        return None
    path = Path(file).absolute()
    if not path.name:  # "/": opening the storage refuses it as a folder
        return None
    return path.with_name(f"{path.stem}-logs") / study_folder(study)


def sqlite_file(storage: str | os.PathLike[str]) -> str | os.PathLike[str] | None:
    """The SQLite file a storage string names: a path as it is, the file of a
    ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URL; ``None`` for a PostgreSQL
    URL (no file).

    :raises StorageError: for a ``sqlite:`` URL of another form.
    """
    if isinstance(storage, str):
        if is_postgres_url(storage):
            return None
        if is_sqlite_url(storage):
            return sqlite_url_path(storage)
    return storage


def study_folder(study: str) -> str:
    """The name of a study's log folder: one path component, never shared with another study.

    A short lowercase name of letters, digits, ``_``, ``.`` and ``-`` is its own folder name.
    Any other name (a ``/``, ``..``, an absolute path, a capital letter that a case-insensitive
    file system would fold, other characters, a long name) keeps its safe characters, at most
    64, followed by ``-`` and a hash of the whole name; a plain name that looks hashed is
    hashed again, so two names never share a folder.
    """
    if _PLAIN_FOLDER.fullmatch(study) and not _HASHED_FOLDER.fullmatch(study):
        return study
    digest = hashlib.sha256(study.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    kept = re.sub(r"[^A-Za-z0-9._-]+", "_", study)[:64].lstrip(".-")
    return f"{kept}-{digest}" if kept else f"study-{digest}"
