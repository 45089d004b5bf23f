"""Helpers for tests that check what happened to real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path


def run_cli(
    *args: str,
    timeout: float = 30,
    env: Mapping[str, str] | None = None,
    preexec_fn: Callable[[], object] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m asynchpo ARGS`` to its end, in ``cwd``, its output as text (``env`` over
    this one's)."""
    return subprocess.run(
        [sys.executable, "-m", "asynchpo", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
        check=False,
        preexec_fn=preexec_fn,
        cwd=cwd,
    )


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (a killed orphan may wait to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel, zombies included
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_dead(pids: list[int], within: float = 5.0) -> list[int]:
    """The pids still alive after waiting up to ``within`` seconds (a kill lands quickly).

    Blocks: an async test runs it in a thread.
    """
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [pid for pid in pids if alive(pid)]
