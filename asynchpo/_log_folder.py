"""Where a study's per-trial logs go: the one definition, used by ``fmin`` (which writes them)
and by the readers that show them (``Study.log_folder``, the dashboard)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Final

__all__ = ["default_log_folder", "study_folder"]

_PLAIN_FOLDER: Final = re.compile(r"[a-z0-9_][a-z0-9._-]{0,99}")
_HASHED_FOLDER: Final = re.compile(r".*-[0-9a-f]{12}")


def default_log_folder(storage: str | os.PathLike[str] | None, study: str) -> Path | None:
    """The study's log folder beside the SQLite file ``storage`` (``runs/x.sqlite`` ->
    ``runs/x-logs/<study>/``), absolute, so that a trial running elsewhere (a Dask worker)
    writes where this says; ``None`` without a file."""
    if storage is None:
        return None
    path = Path(storage).absolute()
    if not path.name:  # "/": opening the storage refuses it as a folder
        return None
    return path.with_name(f"{path.stem}-logs") / study_folder(study)


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
