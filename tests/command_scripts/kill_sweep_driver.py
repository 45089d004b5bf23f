"""A search of 8 ``Command`` trials at once, for the kill-sweep test to SIGKILL.

    python kill_sweep_driver.py DB MARK

Imports everything, prints ``ready``, and waits for a line on stdin before it starts (or
resumes) the search, so that the test can time its SIGKILL from the start of the search
itself. Each trial is a shell that ignores SIGTERM and starts two children that do too;
every one of them has ``MARK`` in its environment (``KILL_SWEEP_MARK``), and nothing else
does.
"""

from __future__ import annotations

import sys

from asynchpo import Command, fmin_sync, hp, rand

# Ignores SIGTERM (the children inherit that), starts two children, waits for them.
PROGRAM = "trap '' TERM; sleep 60 & sleep 60 & wait"


def main() -> None:
    db, mark = sys.argv[1:3]
    command = Command(["/bin/sh", "-c", PROGRAM], env={"KILL_SWEEP_MARK": mark}, grace=0.1)
    print("ready", flush=True)
    sys.stdin.readline()
    fmin_sync(
        command,
        {"x": hp.uniform("x", 0, 1)},
        algo=rand.suggest,
        max_evals=8,
        concurrency=8,
        storage=db,
        show_progressbar=False,
    )


if __name__ == "__main__":
    main()
