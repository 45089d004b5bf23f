"""SIGTERM stops a search like Ctrl-C: real processes, real signals, a real SQLite file.

Batch schedulers (SLURM, Kubernetes) preempt a job with SIGTERM and SIGKILL it a grace period
later. ``fmin``/``fmin_sync`` in the main thread and ``asynchpo run`` then stop their trials,
record the ones in flight as interrupted (so the next start runs them again) and exit with
code 143. Before ``fmin`` installs its handler, SIGTERM keeps its default action (the process
ends at once): nothing of the run is stored by then.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import anyio
import pytest
from process_tools import alive, wait_dead

from asynchpo import Trial, TrialState, current_trial, fmin, fmin_sync, hp, open_study, rand

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

PY = sys.executable
TESTS = Path(__file__).parent
STUBBORN = [PY, str(TESTS / "command_scripts" / "behaviours.py"), "stubborn"]
TRAIN = str(TESTS / "cli_files" / "train.py")
SPACE = {"x": hp.uniform("x", 0, 1)}
TERMINATED = "interrupted: the process was asked to terminate (SIGTERM)"

# The driver: fmin_sync over study "s" of DB, with concurrency 3. In mode "slow", trials with
# an id >= $FAST_TRIALS sleep for a minute; in "fast" none does; in "command" each trial is a
# program that ignores SIGTERM (it needs SIGKILL, after a grace of 0.5 s). Each trial marks
# its start in MARKS (a program writes its pid there).
DRIVER = """
import os, sys
from pathlib import Path
import anyio
from asynchpo import Command, current_trial, fmin_sync, hp, rand

db, marks, mode, max_evals = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
fast = int(os.environ.get("FAST_TRIALS", "0"))

async def objective(params):
    tid = current_trial().trial_id
    (marks / f"started-{tid}").touch()
    if mode == "slow" and tid >= fast:
        await anyio.sleep(60)
    return params["x"]

if mode == "command":
    # Without the watchdog: only the cancelled trial's own SIGTERM-then-SIGKILL can end it.
    fn = Command(sys.argv[5:] + [str(marks)], grace=0.5, die_with_parent=False)
else:
    fn = objective
fmin_sync(fn, {"x": hp.uniform("x", 0, 1)}, algo=rand.suggest, max_evals=max_evals,
          concurrency=3, storage=db, study="s", seed=5)
print("done", flush=True)
"""


@pytest.fixture
def driver(tmp_path: Path) -> Path:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    (tmp_path / "marks").mkdir()
    return script


def launch(
    script: Path, mode: str, max_evals: int, *extra: str, **env: str
) -> subprocess.Popen[str]:
    folder = script.parent
    return subprocess.Popen(
        [PY, str(script), str(folder / "runs.sqlite"), str(folder / "marks"), mode,
         str(max_evals), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )  # fmt: skip


def ended(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Its exit code (-N: killed by signal N), stdout and stderr, once it ended by itself."""
    try:
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, out, err


def wait_for(folder: Path, pattern: str, count: int, seconds: float = 30) -> list[Path]:
    deadline = time.monotonic() + seconds
    while len(found := sorted(folder.glob(pattern))) < count:
        assert time.monotonic() < deadline, f"no {count} {pattern} in {folder} after {seconds} s"
        time.sleep(0.02)
    return found


async def _stored(db: Path, study: str) -> list[Trial]:
    async with open_study(db, study) as handle:
        return handle.trials


def stored(db: Path, study: str = "s") -> list[Trial]:
    """The study's trials, read as a reader (no driver) would."""
    return anyio.run(_stored, db, study)


def check_consistent(trials: list[Trial], marks: Path) -> None:
    """After a SIGTERM: nothing left running, ids dense, every started trial stored, finished
    trials intact (the loss is the point's x), the others interrupted by the SIGTERM."""
    assert [t.id for t in trials] == list(range(len(trials)))
    started = {int(path.name.split("-")[1]) for path in marks.glob("started-*")}
    assert started <= {t.id for t in trials}
    for t in trials:
        assert t.state in (TrialState.OK, TrialState.INTERRUPTED), t
        if t.state is TrialState.OK:
            assert t.loss == t.params["x"]
        else:
            assert t.error == TERMINATED


# --- fmin_sync in a process of its own --------------------------------------------------------


@pytest.mark.parametrize("started", [1, 5])
def test_sigterm_records_the_trials_in_flight_and_the_study_resumes(
    driver: Path, started: int
) -> None:
    # Trials 0 and 1 end at once, the others sleep: with 5 started, 0 and 1 are finished and
    # 2, 3, 4 in flight; with 1, the signal lands while the first trials start or finish.
    db, marks = driver.parent / "runs.sqlite", driver.parent / "marks"
    process = launch(driver, "slow", 8, FAST_TRIALS="2")
    try:
        wait_for(marks, "started-*", started)
    finally:
        process.send_signal(signal.SIGTERM)
    code, out, err = ended(process)
    assert code == 143, err
    assert "done" not in out  # fmin raised SystemExit(143): nothing after it ran
    assert "Traceback" not in err
    before = stored(db)
    check_consistent(before, marks)
    if started == 5:
        assert [t.state for t in before] == [TrialState.OK] * 2 + [TrialState.INTERRUPTED] * 3

    # Running again resumes: the interrupted trials run with their ids and parameters, the
    # finished ones stay as they were, and the study reaches max_evals.
    code, out, err = ended(launch(driver, "fast", 8))
    assert code == 0, err
    after = stored(db)
    assert [(t.id, t.state) for t in after] == [(i, TrialState.OK) for i in range(8)]
    for old in before:
        new = after[old.id]
        assert new.params == old.params
        if old.state is TrialState.OK:
            assert new == old


def _catches_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has a handler for SIGTERM (its SigCgt mask, on Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    raise AssertionError(f"no SigCgt in /proc/{pid}/status")


def wait_until_handled(process: subprocess.Popen[str]) -> None:
    """Until ``fmin`` in ``process`` handles SIGTERM (Python itself does not catch it)."""
    deadline = time.monotonic() + 30
    while not _catches_sigterm(process.pid):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "fmin never handled SIGTERM"
        time.sleep(0.005)


HAS_PROC = Path("/proc/self/status").exists()


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc")
def test_sigterm_as_soon_as_fmin_handles_it_exits_143_before_any_trial_ends(
    driver: Path,
) -> None:
    db, marks = driver.parent / "runs.sqlite", driver.parent / "marks"
    process = launch(driver, "slow", 8)  # every trial sleeps
    try:
        wait_until_handled(process)
    finally:
        process.send_signal(signal.SIGTERM)
    code, _, err = ended(process)
    assert code == 143, err
    assert "Traceback" not in err
    trials = stored(db)  # 0 to 3 trials had started: none finished, none left running
    check_consistent(trials, marks)
    assert all(t.state is TrialState.INTERRUPTED for t in trials)


def test_sigterm_before_fmin_handles_it_has_its_default_action(driver: Path) -> None:
    # While Python starts, nothing handles SIGTERM yet: the process ends at once, killed by
    # the signal (a shell reports 143 as well), and nothing was stored.
    process = launch(driver, "slow", 8)
    process.send_signal(signal.SIGTERM)
    code, _, _ = ended(process)
    assert code == -signal.SIGTERM
    assert not (driver.parent / "runs.sqlite").exists()


def test_sigterm_ends_command_trials_that_ignore_it_after_their_grace(driver: Path) -> None:
    marks = driver.parent / "marks"
    process = launch(driver, "command", 3, *STUBBORN)
    pids: list[int] = []
    try:
        # Each program writes its pid once its SIGTERM handler (SIG_IGN) is in place.
        pids = [int(path.read_text()) for path in wait_for(marks, "*.pid", 3)]
        assert all(alive(pid) for pid in pids)
    finally:
        process.send_signal(signal.SIGTERM)
    try:
        code, _, err = ended(process)
        assert code == 143, err
        # They ignore SIGTERM and no watchdog runs: only SIGKILL, after the grace, ends them.
        assert wait_dead(pids) == []
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    trials = stored(driver.parent / "runs.sqlite")
    assert [(t.id, t.state, t.error) for t in trials] == [
        (i, TrialState.INTERRUPTED, TERMINATED) for i in range(3)
    ]


# --- asynchpo run -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [
        "started",  # with 3 trials in flight
        pytest.param("handled", marks=pytest.mark.skipif(not HAS_PROC, reason="needs /proc")),
    ],
)
def test_sigterm_stops_asynchpo_run_with_exit_code_143(tmp_path: Path, when: str) -> None:
    db, marks = tmp_path / "runs.sqlite", tmp_path / "marks"
    marks.mkdir()
    args = [
        "run", "--space", str(TESTS / "cli_files" / "space.json"), "--storage", str(db),
        "--study", "s", "--concurrency", "3", "--seed", "7", "--max-evals",
    ]  # fmt: skip
    program = ["--", PY, TRAIN, "--lr", "{lr}", "--layers", "{layers}"]
    process = subprocess.Popen(
        [PY, "-m", "asynchpo", *args, "6", *program, "--sleep", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CLI_TEST_MARKS": str(marks)},
    )
    try:
        if when == "started":
            wait_for(marks, "started-*", 3)
        else:  # as soon as the search handles it: no trial has ended, some may run
            wait_until_handled(process)
    finally:
        process.send_signal(signal.SIGTERM)
    code, out, err = ended(process)
    assert code == 143, err
    assert out == ""
    assert err.strip().splitlines() == [
        "asynchpo: terminated (SIGTERM); the trials in flight were recorded as interrupted, "
        "run the same command again to resume"
    ]
    before = stored(db)
    if when == "handled":
        assert len(before) <= 3
    assert [(t.id, t.state, t.error) for t in before] == [
        (i, TrialState.INTERRUPTED, TERMINATED)
        for i in range(3 if when == "started" else len(before))
    ]

    resumed = subprocess.run(
        [PY, "-m", "asynchpo", *args, "4", *program],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    after = stored(db)
    assert [(t.id, t.state) for t in after] == [(i, TrialState.OK) for i in range(4)]
    assert [t.params for t in after[: len(before)]] == [t.params for t in before]


# --- in this process: the handler is fmin's only while it runs -------------------------------


class Recorder:
    """A SIGTERM handler that records the signals it gets (instead of ending the tests)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.calls += 1


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    handler = Recorder()
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield handler
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_fmin_sync_handles_sigterm_while_it_runs_and_restores_the_handler(
    tmp_path: Path, recorder: Recorder
) -> None:
    db = tmp_path / "runs.sqlite"
    seen: list[object] = []
    terminate_at = [2]  # once: trial 2 runs again on resume

    async def objective(params: dict[str, float]) -> float:
        seen.append(signal.getsignal(signal.SIGTERM))
        if current_trial().trial_id in terminate_at:
            terminate_at.clear()
            os.kill(os.getpid(), signal.SIGTERM)
            await anyio.sleep(5)  # cancelled by fmin, unless it let the signal through
        return params["x"]

    with pytest.raises(SystemExit) as raised:
        fmin_sync(objective, SPACE, algo=rand.suggest, max_evals=10, storage=db, seed=1)
    assert raised.value.code == 143
    assert recorder.calls == 0  # fmin's handler got it
    assert len(seen) == 3
    assert all(handler is not recorder for handler in seen)
    assert signal.getsignal(signal.SIGTERM) is recorder
    trials = stored(db, "default")
    assert [(t.id, t.state) for t in trials] == [
        (0, TrialState.OK), (1, TrialState.OK), (2, TrialState.INTERRUPTED)
    ]  # fmt: skip
    assert trials[2].error == TERMINATED

    # Without a SIGTERM, the run ends as usual (trial 2 runs again), and the handler is back.
    fmin_sync(objective, SPACE, algo=rand.suggest, max_evals=4, storage=db)
    assert signal.getsignal(signal.SIGTERM) is recorder
    assert [t.state for t in stored(db, "default")] == [TrialState.OK] * 4


async def test_awaited_fmin_restores_the_handler(recorder: Recorder) -> None:
    seen: list[object] = []

    async def objective(params: dict[str, float]) -> float:
        seen.append(signal.getsignal(signal.SIGTERM))
        return params["x"]

    await fmin(objective, SPACE, algo=rand.suggest, max_evals=2)
    assert len(seen) == 2
    assert all(handler is not recorder for handler in seen)
    assert signal.getsignal(signal.SIGTERM) is recorder


async def test_sigterm_stops_an_fmin_that_outlives_another_one(recorder: Recorder) -> None:
    # Two searches at once on one event loop; the first ends, then SIGTERM comes: the second
    # still stops on it, and the handler is the program's again once both are done.
    first_done = anyio.Event()

    async def slow(params: dict[str, float]) -> float:
        await first_done.wait()
        os.kill(os.getpid(), signal.SIGTERM)
        await anyio.sleep(5)  # cancelled by fmin, unless it let the signal through
        return params["x"]

    async def first() -> None:
        await fmin(lambda params: params["x"], SPACE, algo=rand.suggest, max_evals=2)
        first_done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        with pytest.raises(SystemExit) as raised:
            await fmin(slow, SPACE, algo=rand.suggest, max_evals=2)
    assert raised.value.code == 143
    assert recorder.calls == 0
    assert signal.getsignal(signal.SIGTERM) is recorder


def test_fmin_in_another_thread_leaves_sigterm_alone(recorder: Recorder) -> None:
    seen: list[object] = []
    errors: list[BaseException] = []

    def objective(params: dict[str, float]) -> float:
        seen.append(signal.getsignal(signal.SIGTERM))
        return params["x"]

    def search() -> None:
        try:
            fmin_sync(objective, SPACE, algo=rand.suggest, max_evals=2)
        except BaseException as exc:  # pragma: no cover - shown by the assert below
            errors.append(exc)

    thread = threading.Thread(target=search)
    thread.start()
    thread.join(30)
    assert errors == []
    assert seen == [recorder, recorder]  # a handler can only be set from the main thread
    assert signal.getsignal(signal.SIGTERM) is recorder
