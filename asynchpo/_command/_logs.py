"""Per-trial log files: a header per attempt, the output as it arrives, a footer."""

from __future__ import annotations

import contextlib
import logging
import mmap
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Final

import anyio
import anyio.to_thread

logger = logging.getLogger("asynchpo")


_LOG_MARK: Final = b"===== asynchpo: trial "
_LOG_ATTEMPT = re.compile(rb"===== asynchpo: trial \d+, attempt (\d+)[,:]")


def _attempts_in(path: Path) -> tuple[int, bool]:
    """The attempt number of a log's last header or footer, and whether it ends mid-line."""
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as view:
        ends_mid_line = view[-1] != ord("\n")
        end = len(view)
        while (at := view.rfind(_LOG_MARK, 0, end)) >= 0:
            match = _LOG_ATTEMPT.match(view, at)
            if match and (at == 0 or view[at - 1] == ord("\n")):
                return int(match[1]), ends_mid_line
            end = at
    return 1, ends_mid_line  # output that no header of ours precedes: count it as one attempt


def _open_log(path: Path) -> tuple[BinaryIO, int, bool]:
    """Open a log to append to: the file, this attempt's number, whether the log ends mid-line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    file = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by _Log
    try:
        previous, ends_mid_line = _attempts_in(path) if file.tell() else (0, False)
    except BaseException:
        file.close()
        raise
    return file, previous + 1, ends_mid_line


class _Log:
    """One trial's log: a header line, the output as it arrives, a footer line saying how it ended.

    Unbuffered, so that ``tail -f`` shows a training run live, and written in a worker thread,
    so that a slow disk never stalls the event loop. A failed write (a full disk) ends the
    logging of this trial with a warning; the trial itself goes on.
    """

    def __init__(self) -> None:
        self.path: Path | None = None
        self.ending = "stopped before the program ended: the trial was cancelled"
        self._file: anyio.AsyncFile[bytes] | None = None
        self._name = ""
        self._line_start = True

    async def open(self, log_dir: Path, trial_id: int, command: str) -> None:
        path = log_dir / f"trial-{trial_id}.log"
        try:
            raw, attempt, ends_mid_line = await anyio.to_thread.run_sync(_open_log, path)
        except (OSError, ValueError) as exc:
            logger.warning("trial %d runs without a log: cannot open %s (%s)", trial_id, path, exc)
            return
        self.path, self._file = path, anyio.wrap_file(raw)
        self._name = f"trial {trial_id}, attempt {attempt}"
        self._line_start = not ends_mid_line
        await self._mark(f"{self._name}, {time.strftime('%Y-%m-%d %H:%M:%S')}: {command}")

    async def write(self, data: bytes) -> None:
        if self._file is None or not data:
            return
        try:
            await self._file.write(data)
        except (OSError, ValueError) as exc:  # ValueError: the other stream's failure closed it
            logger.warning(
                "stopped writing %s (%s); the rest of its output is lost", self.path, exc
            )
            await self._close()
        self._line_start = data.endswith(b"\n")

    async def close(self) -> None:
        await self._mark(f"{self._name}: {self.ending}")
        await self._close()

    async def _mark(self, text: str) -> None:
        await self.write(b"" if self._line_start else b"\n")
        await self.write(f"===== asynchpo: {text} =====\n".encode(errors="replace"))

    async def _close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                await file.aclose()


@contextlib.asynccontextmanager
async def _trial_log(log_dir: Path | None, trial_id: int, command: str) -> AsyncIterator[_Log]:
    log = _Log()
    if log_dir is not None:
        await log.open(Path(log_dir), trial_id, command)
    try:
        yield log
    finally:
        with anyio.CancelScope(shield=True):
            await log.close()
