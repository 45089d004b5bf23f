"""A search whose trials sleep, in its own process, for the orphan test to SIGKILL.

    python orchestrator.py DB PID_FOLDER

Runs two trials at once; each starts two children that ignore SIGTERM, writes the three pids
to PID_FOLDER and sleeps for a minute.
"""

from __future__ import annotations

import sys
from pathlib import Path

from asynchpo import Command, fmin_sync, hp, rand

BEHAVIOURS = Path(__file__).with_name("behaviours.py")


def main() -> None:
    db, pid_folder = sys.argv[1:3]
    command = Command([sys.executable, str(BEHAVIOURS), "family", pid_folder])
    fmin_sync(
        command,
        {"x": hp.uniform("x", 0, 1)},
        algo=rand.suggest,
        max_evals=2,
        concurrency=2,
        storage=db,
    )


if __name__ == "__main__":
    main()
