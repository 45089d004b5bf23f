"""The pipes of a trial's stdout and stderr, and the pumps that drain them to its log."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import anyio
import anyio.lowlevel

from asynchpo._command._logs import _Log

# A pipe holds 64 KiB on Linux: one read takes what a full pipe has.
_CHUNK: Final = 64 * 1024
# How many lines of stderr (or stdout) an error message shows, and how much of each.
_SHOWN_LINES: Final = 20
_SHOWN_WIDTH: Final = 300
# How long to keep reading once the process group is gone: enough for what is still in the
# pipes, and a bound on a process that left the group (setsid) but kept the pipes open.
_PIPE_LINGER: Final = 2.0


def _clip(text: str, width: int = _SHOWN_WIDTH) -> str:
    return text if len(text) <= width else text[:width] + "…"


class _Tail:
    """The last ``size`` bytes of a stream: what a result or an error message is read from."""

    __slots__ = ("_data", "_size", "cut")

    def __init__(self, size: int) -> None:
        self._data = bytearray()
        self._size = size
        self.cut = False

    def add(self, chunk: bytes) -> None:
        self._data += chunk
        excess = len(self._data) - self._size
        if excess > 0:
            del self._data[:excess]
            self.cut = True

    def lines(self) -> list[str]:
        lines = self._data.decode("utf-8", errors="replace").splitlines()
        return lines[1:] if self.cut else lines  # a cut tail starts in the middle of a line

    def shown(self, name: str) -> str:
        """The last lines, indented, for an error message."""
        lines = [line for line in self.lines() if line.strip()][-_SHOWN_LINES:]
        if not lines:
            return f"{name} was empty"
        body = "\n".join(f"  | {_clip(line)}" for line in lines)
        return f"last lines of {name}:\n{body}"


class _Pipe:
    """A pipe for one of the child's outputs: it gets the write end, we read the other."""

    def __init__(self) -> None:
        self.read, self.write = os.pipe()
        os.set_blocking(self.read, False)

    def close_write(self) -> None:
        if self.write >= 0:
            os.close(self.write)
            self.write = -1

    def close(self) -> None:
        self.close_write()
        os.close(self.read)


_LINE_ENDS: Final = re.compile(rb"[\r\n]")
OnLine = Callable[[bytes], Awaitable[None]]


async def _pump(fd: int, tail: _Tail, log: _Log, on_line: OnLine | None = None) -> None:
    """Copy a pipe to the log until it ends, keeping its tail; give ``on_line`` each line.

    The log gets whole lines (up to a newline or carriage return), so that lines of stdout and
    stderr never mix mid-line; a partial line is held until its end arrives, the pipe ends, or
    it outgrows one chunk.
    """
    partial = b""
    while True:
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            await anyio.wait_readable(fd)
            continue
        if not chunk:
            await log.write(partial)
            if on_line is not None and partial:
                await on_line(partial)
            return
        tail.add(chunk)
        data = partial + chunk
        end = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        if end == 0 and len(data) > _CHUNK:
            end = len(data)
        partial = data[end:]
        await log.write(data[:end])
        if on_line is not None and end:
            for line in _LINE_ENDS.split(data[:end]):
                if line:
                    await on_line(line)
        await anyio.lowlevel.checkpoint()


async def _drain(
    pipes: Sequence[tuple[int, _Tail, OnLine | None]],
    log: _Log,
    scope: anyio.CancelScope,
    done: anyio.Event,
) -> None:
    try:
        with scope:
            async with anyio.create_task_group() as tg:
                for fd, tail, on_line in pipes:
                    tg.start_soon(_pump, fd, tail, log, on_line)
    finally:
        done.set()
