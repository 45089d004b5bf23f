"""A SIGKILLed search leaves no ``Command`` trial process behind, whenever the kill lands.

The window that matters is the start of a run and of a resume: the watchdog being started,
trials being spawned. Each kill time of a sweep over that window SIGKILLs a real driver
process (8 ``Command`` trials at once on a SQLite study, programs that ignore SIGTERM and
start children); afterwards no process of those trials may remain, every time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from asynchpo import Command, TrialContext, TrialCrashed

DRIVER = Path(__file__).with_name("command_scripts") / "kill_sweep_driver.py"
# Kill times, in seconds after the search is told to start: a sweep over its first 300 ms (a
# loaded test machine took 30-270 ms from "go" to the eighth trial's children).
KILL_TIMES = [i * 0.3 / 11 for i in range(12)]
# How many drivers import ahead of the one being killed.
AHEAD = 3

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds processes through /proc"
)


def marked(mark: str) -> list[int]:
    """The pids of live processes that have ``mark`` in their environment."""
    needle = f"KILL_SWEEP_MARK={mark}".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()  # a zombie's is empty
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def start_driver(db: Path, mark: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(DRIVER), str(db), mark],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # a killed process cleans up nothing
    )


def kill_at(driver: subprocess.Popen[bytes], delay: float) -> None:
    """Start the driver's search, and SIGKILL the driver ``delay`` seconds later."""
    assert driver.stdin is not None
    assert driver.stdout is not None
    assert driver.stdout.readline() == b"ready\n"  # imported: the search starts on "go"
    driver.stdin.write(b"go\n")
    driver.stdin.flush()
    time.sleep(delay)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    driver.stdin.close()
    driver.stdout.close()


def survivors(mark: str, within: float = 2.0) -> list[int]:
    """The trial processes still alive once the watchdog has had ``within`` seconds to act
    (none must be seen again for 0.2 s, so that a process spawned at the kill is counted)."""
    deadline = time.monotonic() + within
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        if marked(mark):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 0.2:
            return []
        time.sleep(0.01)
    left = marked(mark)
    for pid in left:  # leave nothing behind, even when the test fails
        os.kill(pid, signal.SIGKILL)
    return left


@pytest.mark.timeout(90)  # about 25 s; a failing run waits 2 s per kill
def test_no_trial_process_outlives_a_driver_killed_as_a_run_or_a_resume_starts(
    tmp_path: Path,
) -> None:
    # Each case runs a search (killed), then resumes it (killed): the resume starts again the
    # trials the kill interrupted. A driver opens its study only on "go", so drivers are
    # started (and import) a few cases ahead, while the earlier ones are being killed.
    cases = [
        (phase, delay, tmp_path / f"sweep-{case}.sqlite", f"{uuid.uuid4().hex}-{phase}")
        for case, delay in enumerate(KILL_TIMES)
        for phase in ("run", "resume")
    ]
    drivers = [start_driver(db, mark, tmp_path) for _, _, db, mark in cases[:AHEAD]]
    failures = []
    try:
        for i, (phase, delay, _, mark) in enumerate(cases):
            kill_at(drivers[i], delay)
            if i + AHEAD < len(cases):
                _, _, db, next_mark = cases[i + AHEAD]
                drivers.append(start_driver(db, next_mark, tmp_path))
            left = survivors(mark)
            if left:
                failures.append(f"{phase} killed after {delay * 1000:.0f} ms: {len(left)} left")
    finally:
        for driver in drivers:
            if driver.poll() is None:
                driver.kill()
                driver.wait()
    assert failures == []


# --- the launcher that registers a trial before its program runs --------------------------------

SHOW_STDIN = (
    "import json, os; print(json.dumps(dict(loss=0, stdin=os.readlink('/proc/self/fd/0'))))"
)


async def test_the_program_runs_with_stdin_from_dev_null_and_as_itself() -> None:
    # The launcher's stdin is the watchdog's pipe: the program must not inherit it, and must
    # be the process fmin started (its pid is the group's id, the one the watchdog kills).
    command = Command([sys.executable, "-c", SHOW_STDIN])
    result = await command.evaluate_trial({}, TrialContext(0, 0, values={}, env={}))
    assert result["stdin"] == "/dev/null"


async def test_a_program_that_cannot_start_is_a_crash_that_says_why(tmp_path: Path) -> None:
    # prepare() found it; the trial's own PATH (slot_env) does not have it.
    command = Command(["true"])
    with pytest.raises(TrialCrashed, match=r"could not start 'true': it is not on the program"):
        await command.evaluate_trial({}, TrialContext(0, 0, values={}, env={"PATH": "/nowhere"}))
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho 0\n")
    with pytest.raises(TrialCrashed, match=r"could not start '\./script': it is not executable"):
        await Command(["./script"], cwd=tmp_path).evaluate_trial({}, TrialContext(0, 0))
    script.chmod(0o755)
    result = await Command(["./script"], cwd=tmp_path).evaluate_trial({}, TrialContext(0, 0))
    assert result == {"loss": 0.0}
    script.unlink()
    with pytest.raises(TrialCrashed, match=r"could not start '\./script': no such file"):
        await Command(["./script"], cwd=tmp_path).evaluate_trial({}, TrialContext(0, 0))
