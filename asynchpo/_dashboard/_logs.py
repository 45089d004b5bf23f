"""The tail of a trial's log, read only from the study's log folders, whatever a stored path
says: the file read is ``trial-<id>.log`` in one of the folders, and it must really be there
(a symbolic link that leads out of the folder, or anything but a regular file, is refused)."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

__all__ = ["TAIL_BYTES", "log_tail"]

#: How much of the end of a log a trial's page shows.
TAIL_BYTES: Final = 64 * 1024


def log_tail(folders: Sequence[Path], trial_id: int, limit: int = TAIL_BYTES) -> dict[str, Any]:
    """``{"log": {"path", "tail", "size", "truncated"}}`` for trial ``trial_id``'s log in the
    first of ``folders`` that holds it, or ``{"log": None, "log_note": why}``."""
    if not folders:
        return {"log": None, "log_note": "the study's storage is not a file: no log folder"}
    name = f"trial-{int(trial_id)}.log"
    for folder in folders:
        try:
            root = folder.resolve(strict=True)
            real = (root / name).resolve(strict=True)
        except (OSError, RuntimeError):
            continue  # no such folder or file (or a link loop)
        if real.parent != root:
            return {"log": None, "log_note": f"{folder / name} leads out of the log folder"}
        try:
            text, size, truncated = _read_end(real, limit)
        except OSError as exc:
            return {"log": None, "log_note": f"cannot read {real}: {exc.strerror or exc}"}
        if text is None:
            return {"log": None, "log_note": f"{real} is not a regular file"}
        return {"log": {"path": str(real), "tail": text, "size": size, "truncated": truncated}}
    where = " or ".join(str(folder) for folder in folders)
    return {"log": None, "log_note": f"no {name} in {where} (only Command trials write logs)"}


def _read_end(path: Path, limit: int) -> tuple[str | None, int, bool]:
    """The last ``limit`` bytes of a regular file (from a line's start when cut), its size,
    and whether it was cut. Opened without following a link and without blocking on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None, 0, False
        size = info.st_size
        start = max(0, size - limit)
        file.seek(start)
        data = file.read(limit)
    if start > 0:
        newline = data.find(b"\n")
        if 0 <= newline < len(data) - 1:
            data = data[newline + 1 :]
    return data.decode("utf-8", "replace"), size, start > 0
