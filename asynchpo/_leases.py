"""Which drivers are alive: leases, and a faster answer for drivers on this machine.

A driver holds a lease on its study while ``seen + lease`` is in the future (see the storage
contract). A driver that ran on this machine and whose process is gone (or a zombie) is dead
at once, whatever its lease says: a run resumed after a kill takes the killed run's trials
without waiting, which keeps a seeded ``concurrency=1`` search deterministic across kills.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Final

from asynchpo._storage import Driver

__all__ = ["HOST", "alive", "process_exists"]

#: This machine's name, as drivers record it.
HOST: Final = socket.gethostname()


def alive(driver: Driver, now: float) -> bool:
    """Whether a driver holds its lease, and (on this machine) its process still exists."""
    if not driver.alive(now):
        return False
    return driver.host != HOST or process_exists(driver.pid)


def process_exists(pid: int) -> bool:
    """Whether process ``pid`` of this machine still runs (a zombie does not)."""
    if pid == os.getpid():
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
