"""The watchdog process that kills the process groups of running trials if this process dies."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from typing import Final

import anyio
import anyio.to_thread

logger = logging.getLogger("asynchpo")


# The watchdog: a small process that outlives this one by a moment. It reads "+<pgid>" and
# "-<pgid>" lines on its stdin; when the stdin pipe ends (this process exited or was killed,
# even by SIGKILL, since the kernel closes the pipe), it SIGKILLs every group still
# registered, then exits. A group is counted, not just noted: a trial's "+" and an earlier
# trial's late "-" for the same (reused) number must leave it registered.
_WATCHDOG_CODE: Final = """
import os, signal, sys
groups = {}
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        group = int(line[1:])
        groups[group] = groups.get(group, 0) + 1
    elif line[:1] == "-":
        group = int(line[1:])
        if groups.get(group, 0) > 1:
            groups[group] -= 1
        else:
            groups.pop(group, None)
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
"""

# How a trial starts when the watchdog guards it: a shell, in the trial's new process group,
# with the watchdog's pipe as its stdin, registers its own group ("+$$": its pid is the
# group's id) and only then execs the program, with stdin back to /dev/null. So no program
# runs before the watchdog knows its group, and there is no window in which this process can
# die unnoticed:
# - before the write, only this shell exists, and the program never starts if the watchdog
#   pipe is broken (SIGPIPE ends the shell);
# - a write to a pipe is atomic (one short line) and stays in the pipe until read, and the
#   pipe cannot end while this shell holds its write end, so the watchdog reads "+<group>"
#   before it can see the end of its input, whenever this process dies;
# - the watchdog itself is started (and waited for) before the first trial, so there is no
#   trial without one, and a search killed while it starts has no trial yet.
# sh costs about a millisecond per trial, and keeps spawning on the fast vfork path (a
# preexec_fn would force a full fork of this process per trial, and could not be trusted
# with threads).
_LAUNCHER: Final = 'echo "+$$" >&0 && exec "$@" </dev/null'


class _Watchdog:
    """Kills the process groups of running trials if this process dies (see _WATCHDOG_CODE).

    One per process, started before its first trial. Trials register themselves through
    _LAUNCHER; this process writes the releases. It covers everything in a trial's process
    group, children included, on Linux and macOS alike.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._pid = 0
        # Trials may run in several threads' event loops at once (on a Dask worker, say).
        self._lock = threading.Lock()

    def _running(self) -> subprocess.Popen[bytes] | None:
        process = self._process
        if process is None or self._pid != os.getpid() or process.poll() is not None:
            return None
        return process

    def _start(self) -> int:
        with self._lock:
            process = self._running()
            if process is None:
                if self._process is not None and self._pid == os.getpid():
                    logger.warning(
                        "the trial watchdog died (exit code %s); started a new one: trials "
                        "already running may outlive a killed search",
                        self._process.returncode,
                    )
                process = self._process = subprocess.Popen(
                    [sys.executable, "-c", _WATCHDOG_CODE],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C in a terminal must not stop it first
                )
                self._pid = os.getpid()
            assert process.stdin is not None
            return process.stdin.fileno()

    async def pipe(self) -> int:
        """The write end of the watchdog's pipe, once the watchdog runs (started if need be)."""
        process = self._running()
        if process is not None and process.stdin is not None:
            return process.stdin.fileno()
        return await anyio.to_thread.run_sync(self._start)

    def release(self, pgid: int) -> None:
        try:
            with self._lock:
                process = self._running()
                if process is not None and process.stdin is not None:
                    os.write(process.stdin.fileno(), f"-{pgid}\n".encode())
        except OSError:
            logger.warning("the trial watchdog is gone; a trial may outlive a killed search")


_WATCHDOG = _Watchdog()
