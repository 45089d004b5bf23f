"""Several drivers on one SQLite study, as real processes with real signals (issue 11).

``asynchpo run`` drivers and ask/tell loops share one budget without a trial too many or
evaluated twice; drivers SIGKILLed at random moments and started again lose and repeat
nothing but the trials they had in flight (run again with the same id and parameters); a
driver on another host keeps its trials until its lease lapses; a driver SIGSTOPped past its
lease has its late results refused, and nothing it sends overwrites the driver that took over.

Every evaluation appends ``<trial id> <driver tag> <params as JSON>`` to one log file (the
``asynchpo run`` drivers through a shell program, the scripted drivers themselves), so the
tests count evaluations per trial and know which process ran each.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).with_name("driver_scripts")
DRIVER = str(SCRIPTS / "study_driver.py")
SPACE = f"{SCRIPTS / 'driver_space.py'}:space"
STUDY = "shared"
BUDGET = 200
# Seconds an evaluation takes: short, yet long enough for every driver to get its share.
SLEEP = "0.01"
# What an ``asynchpo run`` driver evaluates: the log line (tag from the driver's environment,
# which the program inherits), then the loss, x.
EVALUATE = [
    "sh",
    "-c",
    'printf "%s %s %s\\n" "$ASYNCHPO_TRIAL_ID" "$DRIVER_TAG" "$ASYNCHPO_PARAMS" >> "$DRIVER_LOG"'
    f'; sleep {SLEEP}; echo "$1"',
    "sh",
    "{x}",
]
# The same, slow enough that SIGTERM finds trials in flight.
SLOW_EVALUATE = [*EVALUATE[:2], EVALUATE[2].replace(f"sleep {SLEEP}", "sleep 0.2"), *EVALUATE[3:]]


HAS_PROC = Path("/proc/self/task").is_dir()


def _stopped(pid: int) -> bool:
    """Whether every thread of process ``pid`` is stopped (SIGSTOP lands asynchronously)."""
    states = []
    for path in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            states.append(path.read_text().rsplit(")", 1)[1].split()[0])
        except FileNotFoundError:
            continue  # a thread that just ended
    return bool(states) and all(state == "T" for state in states)


@dataclasses.dataclass
class Launched:
    """One started driver process; ``tag`` is unique per start (a restart gets a new one)."""

    tag: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    started: float

    def stdout(self) -> str:
        return self.out.read_text()

    def stderr(self) -> str:
        return self.err.read_text()


class Run:
    """The drivers of one test, their outputs in ``folder``, their evaluations in one log."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / "runs.sqlite"
        self.log = folder / "evaluations.log"
        self.all: list[Launched] = []
        self.killed: set[str] = set()  # the tags of the drivers this test killed

    def cli(self, concurrency: int, algo: str = "rand", max_evals: int = BUDGET) -> list[str]:
        return [
            sys.executable,
            "-m",
            "asynchpo",
            "run",
            "--space",
            SPACE,
            "--storage",
            str(self.db),
            "--study",
            STUDY,
            "--max-evals",
            str(max_evals),
            "--concurrency",
            str(concurrency),
            "--seed",
            "7",
            "--algo",
            algo,
            "--",
            *EVALUATE,
        ]

    def script(self, mode: str, *options: str) -> list[str]:
        return [sys.executable, DRIVER, mode, str(self.db), STUDY, "--log", str(self.log), *options]

    def launch(self, name: str, argv: list[str]) -> Launched:
        tag = f"{name}#{sum(d.tag.startswith(f'{name}#') for d in self.all)}"
        out, err = self.folder / f"{tag}.out", self.folder / f"{tag}.err"
        env = {**os.environ, "DRIVER_TAG": tag, "DRIVER_LOG": str(self.log)}
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env)
        launched = Launched(tag, argv, proc, out, err, time.monotonic())
        self.all.append(launched)
        return launched

    def kill(self, driver: Launched) -> None:
        driver.proc.send_signal(signal.SIGKILL)
        driver.proc.wait()
        self.killed.add(driver.tag)

    def stop(self, driver: Launched) -> None:
        """SIGSTOP ``driver`` at a moment it holds no SQLite write lock (stopped while writing,
        it would block every other driver's writes until it runs again)."""
        while True:
            driver.proc.send_signal(signal.SIGSTOP)
            self.wait_until(lambda: _stopped(driver.proc.pid), f"{driver.tag} stopped")
            try:
                with contextlib.closing(
                    sqlite3.connect(self.db, timeout=0.1, isolation_level=None)
                ) as conn:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("ROLLBACK")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                driver.proc.send_signal(signal.SIGCONT)  # mid-write: let it finish, stop again
            else:
                return

    def wait_until(self, condition: Callable[[], bool], what: str, seconds: float = 45) -> None:
        """Block until ``condition()``; fail on the deadline, or as soon as a driver fails."""
        deadline = time.monotonic() + seconds
        while not condition():
            failed = [d for d in self.all if d.proc.poll() not in (None, 0)]
            failed = [d for d in failed if d.tag not in self.killed]
            if failed or time.monotonic() > deadline:
                states = "\n".join(
                    f"{d.tag} exit {d.proc.poll()}: {d.stderr()[-2000:]}" for d in self.all
                )
                raise AssertionError(f"no {what} after {seconds} s\n{states}")
            time.sleep(0.02)

    def finish(self, drivers: Sequence[Launched], seconds: float = 60) -> None:
        """Wait for ``drivers`` to exit; each must exit 0 with nothing on stderr."""
        deadline = time.monotonic() + seconds
        for driver in drivers:
            try:
                driver.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for other in drivers:
                    other.proc.kill()
                    other.proc.wait()
                raise AssertionError(
                    f"{driver.tag} still runs after {seconds} s: {driver.stderr()[-2000:]}"
                ) from None
        for driver in drivers:
            assert driver.proc.returncode == 0, (driver.tag, driver.stderr())
            assert driver.stderr() == "", (driver.tag, driver.stderr())

    def evaluations(self) -> dict[int, list[tuple[str, dict[str, Any]]]]:
        """Per trial id, every evaluation's driver tag and parameters, in log order."""
        found: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        if not self.log.exists():
            return found
        for line in self.log.read_text().splitlines():
            tid, tag, params = line.split(" ", 2)
            found.setdefault(int(tid), []).append((tag, json.loads(params)))
        return found

    def count(self, tag: str | None = None) -> int:
        """How many evaluations started (by the driver ``tag``, or by any)."""
        if not self.log.exists():
            return 0
        lines = self.log.read_text().splitlines()
        return sum(tag is None or line.split(" ", 2)[1] == tag for line in lines)

    def _query(self, sql: str) -> list[dict[str, Any]]:
        if not self.db.exists() or self.db.stat().st_size == 0:
            return []  # not created yet: connecting would create it
        with contextlib.closing(sqlite3.connect(self.db, timeout=30)) as conn:
            conn.row_factory = sqlite3.Row
            try:
                return [dict(row) for row in conn.execute(sql).fetchall()]
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []  # the first driver is creating the schema
                raise

    def trials(self) -> dict[int, dict[str, Any]]:
        rows = self._query("SELECT * FROM trials ORDER BY tid")
        return {row["tid"]: row for row in rows}

    def drivers(self) -> dict[int, dict[str, Any]]:
        return {row["id"]: row for row in self._query("SELECT * FROM drivers")}

    def tag_of(self, driver_id: int) -> str:
        """The tag of the process that registered driver ``driver_id``."""
        pid = self.drivers()[driver_id]["pid"]
        (launched,) = [d for d in self.all if d.proc.pid == pid]
        return launched.tag


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    """The test's drivers; any still running at the end (a failed test) is killed."""
    drivers = Run(tmp_path)
    try:
        yield drivers
    finally:
        for driver in drivers.all:
            if driver.proc.poll() is None:
                driver.proc.send_signal(signal.SIGCONT)  # a stopped one included
                driver.proc.kill()
                driver.proc.wait()


def complete(
    run: Run, budget: int = BUDGET, offsets: dict[str, float] | None = None
) -> dict[int, dict[str, Any]]:
    """The study holds exactly ``budget`` trials, ids 0..budget-1, all ok, each result the
    evaluation of its stored parameters by the process that stored it (whose loss is x plus
    its offset); returns the rows."""
    rows = run.trials()
    assert sorted(rows) == list(range(budget))
    assert {row["state"] for row in rows.values()} == {"ok"}
    evaluations = run.evaluations()
    assert sorted(evaluations) == list(range(budget))
    for tid, row in rows.items():
        params = json.loads(row["params"])
        x = params["x"]
        tag = run.tag_of(row["driver"])
        assert row["loss"] == pytest.approx(x + (offsets or {}).get(tag, 0.0), abs=1e-9)
        assert tag in {t for t, _ in evaluations[tid]}, (tid, tag, evaluations[tid])
        for _, evaluated in evaluations[tid]:
            assert evaluated["x"] == x
            assert (evaluated["kind"]["k"] == "b") == (params["kind"] == 1)
    return rows


# --- several drivers, nothing killed ----------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("staggered", [False, True], ids=["together", "staggered"])
def test_cli_and_ask_tell_drivers_share_one_budget(run: Run, staggered: bool) -> None:
    algo = "rand" if staggered else "tpe"  # tpe: each suggestion sees the others' trials
    commands = [
        ("run-c1", run.cli(1, algo)),
        (
            "asktell",
            run.script("asktell", "--algo", algo, "--max-evals", str(BUDGET), "--sleep", SLEEP),
        ),
        ("run-c2", run.cli(2, algo)),
        ("run-c4", run.cli(4, algo)),
        ("run-c3", run.cli(3, algo)),
    ]
    launched = []
    for index, (name, argv) in enumerate(commands):
        if staggered and index:
            # Each joins a study that is further along.
            goal = 20 * index - 10
            run.wait_until(lambda: run.count() >= goal, f"{goal} evaluations")  # noqa: B023
        launched.append(run.launch(name, argv))
    run.finish(launched)

    rows = complete(run)
    evaluations = run.evaluations()
    assert all(len(done) == 1 for done in evaluations.values()), [
        (tid, done) for tid, done in evaluations.items() if len(done) > 1
    ]
    assert len({run.tag_of(row["driver"]) for row in rows.values()}) >= 2  # they did share
    for driver in launched:
        out = driver.stdout()
        if driver.tag.startswith("run-"):
            assert f"study {STUDY!r}: {BUDGET} trials, best is trial" in out, out
        else:
            assert out.splitlines()[-1].startswith("done "), out
    registered = run.drivers().values()
    assert sorted(d["pid"] for d in registered) == sorted(d.proc.pid for d in launched)
    assert all(d["ended"] is not None for d in registered)  # each ended itself on exit


# --- killed and restarted ---------------------------------------------------------------------


def _running_by_pid(run: Run, rows: dict[int, dict[str, Any]]) -> dict[int, dict[int, str]]:
    """The running trials in ``rows`` (id -> params), by the pid of the driver running each."""
    pids = {driver_id: row["pid"] for driver_id, row in run.drivers().items()}
    found: dict[int, dict[int, str]] = {}
    for tid, row in rows.items():
        if row["state"] == "running":
            found.setdefault(pids[row["driver"]], {})[tid] = row["params"]
    return found


# A kill after the first: (name, "running", more evaluations to wait for), or (None,
# "startup", seconds after the restart of the driver killed last).
Kill = tuple[str | None, str, float]


def _kill_plan(seed: int) -> tuple[int, float, list[Kill]]:
    """Drawn up front, so that a seed always means the same kills: the evaluations to wait
    for before the first kill, which busy driver it kills (a fraction), and three more."""
    rng = random.Random(seed)
    goal, pick = rng.randint(10, 40), rng.random()
    kills: list[Kill] = []
    for _ in range(3):
        name = rng.choice(["asktell", "run-c1", "run-c2", "run-c3", "run-c4"])
        if rng.random() < 0.5:
            kills.append((None, "startup", rng.uniform(0.02, 0.3)))
        else:
            kills.append((name, "running", rng.randint(1, 25)))
    return goal, pick, kills


def _first_kill(
    run: Run, goal: int, pick: float, current: dict[str, Launched]
) -> tuple[str, dict[int, dict[str, Any]]]:
    """Wait until the study is well under way and a command driver has trials in flight;
    returns the name of one such driver and the trials as they were then."""
    run.wait_until(lambda: run.count() >= goal, f"{goal} evaluations")
    busy: list[str] = []
    rows: dict[int, dict[str, Any]] = {}

    def found() -> bool:
        rows.clear()
        rows.update(run.trials())
        holders = _running_by_pid(run, rows)
        busy[:] = sorted(n for n, d in current.items() if n != "asktell" and d.proc.pid in holders)
        return bool(busy)

    run.wait_until(found, "a command driver with trials in flight")
    return busy[int(pick * len(busy))], rows


def _next_kill(
    run: Run, kill: Kill, current: dict[str, Launched], previous: str
) -> tuple[str, dict[int, dict[str, Any]]]:
    """Wait for the moment of ``kill``; returns the name of the driver to kill and the trials
    as they were just before."""
    name, mode, value = kill
    if mode == "startup":  # again, right at its start-up: import, registration, first trials
        target = current[previous]
        time.sleep(max(0.0, target.started + value - time.monotonic()))
        return previous, run.trials()
    assert name is not None
    target = current[name]
    goal = run.count() + value
    run.wait_until(
        lambda: run.count() >= goal or target.proc.poll() is not None, f"{goal} evaluations"
    )
    return name, run.trials()


@pytest.mark.timeout(120)
# 3: a busy driver, then three times at its start-up (0.19, 0.02, 0.09 s after it);
# 30: a busy driver, at its start-up (0.2 s), run-c1 while running, at its start-up (0.06 s);
# 36: a busy driver, the ask/tell driver while running, then twice at its start-up (0.2 s).
@pytest.mark.parametrize("seed", [3, 30, 36])
def test_drivers_killed_at_random_moments_and_restarted(run: Run, seed: int) -> None:
    commands = {
        "run-c1": run.cli(1),
        "run-c2": run.cli(2),
        "run-c4": run.cli(4),
        "run-c3": run.cli(3),
        "asktell": run.script("asktell", "--max-evals", str(BUDGET), "--sleep", SLEEP),
    }
    current = {name: run.launch(name, argv) for name, argv in commands.items()}
    finished_then: dict[int, dict[str, Any]] = {}  # finished rows seen after a kill
    held: dict[int, str] = {}  # trial id -> params, running in a driver just before its kill

    goal, pick, kills = _kill_plan(seed)
    name, before = _first_kill(run, goal, pick, current)
    for kill in [None, *kills]:
        if kill is not None:
            name, before = _next_kill(run, kill, current, name)
        target = current[name]
        if target.proc.poll() is not None:
            continue  # the study was done before this moment
        run.kill(target)
        held.update(_running_by_pid(run, before).get(target.proc.pid, {}))
        finished_then.update({t: r for t, r in run.trials().items() if r["state"] == "ok"})
        current[name] = run.launch(name, commands[name])  # the same command again

    run.finish(list(current.values()))
    rows = complete(run)
    assert held  # the first kill hit a driver with trials in flight
    for tid, row in finished_then.items():
        assert rows[tid] == row  # a finished trial never changed
    for tid, params in held.items():
        assert rows[tid]["params"] == params  # run again under its own id and parameters
    for tid, done in run.evaluations().items():
        final = run.tag_of(rows[tid]["driver"])
        tags = [tag for tag, _ in done]
        assert tags.count(final) == 1, (tid, done)
        # Any other evaluation was in flight in a driver that was killed.
        assert set(tags) - {final} <= run.killed, (tid, done, run.killed)
        assert all(params == done[0][1] for _, params in done), (tid, done)


@pytest.mark.timeout(120)
def test_a_killed_driver_on_another_host_keeps_its_trial_until_its_lease_lapses(run: Run) -> None:
    budget, lease = 40, 2.0
    # Registered under another host name, so that no driver here can see its process is gone.
    remote = run.launch(
        "remote",
        run.script(
            "asktell",
            *("--max-evals", str(budget), "--lease", str(lease), "--hold", str(run.folder)),
            *("--fake-host", "elsewhere.invalid"),
        ),
    )
    run.wait_until(lambda: "start 0" in remote.stdout(), "start of trial 0")
    local = [
        run.launch("run-c2", run.cli(2, max_evals=budget)),
        run.launch("run-c3", run.cli(3, max_evals=budget)),
    ]
    # The local drivers run (and would take trial 0 at once if they could tell it was gone).
    run.wait_until(lambda: run.count() >= 4, "the local drivers' evaluations")
    run.kill(remote)
    (run.folder / "release-all").touch()
    run.finish(local)

    rows = complete(run, budget)
    (remote_driver,) = [d for d in run.drivers().values() if d["pid"] == remote.proc.pid]
    taken = rows[0]
    assert run.tag_of(taken["driver"]).startswith("run-")
    # Taken only once the lease lapsed (SQLite's clock counts milliseconds).
    assert taken["started"] >= remote_driver["seen"] + lease - 0.01
    assert remote_driver["host"] == "elsewhere.invalid"
    assert remote_driver["ended"] is None  # nobody here could tell it was gone
    done = run.evaluations()[0]
    assert [tag for tag, _ in done] == [remote.tag, run.tag_of(taken["driver"])]
    assert done[0][1] == done[1][1]


# --- stopped past the lease (SIGSTOP / SIGCONT) -----------------------------------------------

needs_proc = pytest.mark.skipif(not HAS_PROC, reason="tells a stopped process from /proc")


@needs_proc
@pytest.mark.timeout(120)
def test_an_ask_tell_driver_stopped_past_its_lease_has_its_result_refused(run: Run) -> None:
    options = ("--max-evals", "3", "--lease", "1")
    a = run.launch(
        "A", run.script("asktell", *options, "--hold", str(run.folder), "--offset", "1000")
    )
    run.wait_until(lambda: "start 0" in a.stdout(), "start of trial 0 in A")
    run.stop(a)
    try:
        # B (fmin) finds the budget taken by A's trial, waits for A's lease to lapse, takes
        # trial 0 over and finishes the study.
        b = run.launch("B", run.script("fmin", *options))
        run.finish([b])
        after_b = run.trials()
        (run.folder / "release-0").touch()
    finally:
        a.proc.send_signal(signal.SIGCONT)
    run.finish([a])
    assert "lease lost: trial 0 of study 'shared' was taken over" in a.stdout(), a.stdout()
    assert a.stdout().splitlines()[-1] == "done 3"

    rows = complete(run, 3)
    assert rows == after_b  # A's late result overwrote nothing
    assert run.tag_of(rows[0]["driver"]) == b.tag
    assert rows[0]["loss"] < 1000  # B's loss, not A's (x + 1000)
    done = run.evaluations()[0]
    assert [tag for tag, _ in done] == [a.tag, b.tag]
    assert done[0][1] == done[1][1]


def _refused_or_written(run: Run, driver: Launched, tid: int) -> Callable[[], bool]:
    """Whether ``driver`` logged that its result of ``tid`` was refused, or the trial finished
    (which it must not before the test lets the driver that took it over finish it)."""
    return lambda: (
        f"trial {tid} of study 'shared' was taken over" in driver.stderr()
        or run.trials()[tid]["state"] != "running"
    )


@needs_proc
@pytest.mark.timeout(120)
def test_an_fmin_driver_stopped_past_its_lease_overwrites_nothing(run: Run) -> None:
    """A (fmin, two trials in flight) is stopped until B has taken both over; resumed, A
    loses trial 1 (refused by the storage), reads the study, starts trial 4, and only then
    ends trial 0, which its own ledger already shows as B's: nothing may be written."""
    held_a, held_b = run.folder / "a", run.folder / "b"
    held_a.mkdir()
    held_b.mkdir()
    for tid in (2, 3):
        (held_b / f"release-{tid}").touch()  # B's own new trials run through
    a = run.launch(
        "A",
        run.script(
            "fmin",
            *("--max-evals", "5", "--concurrency", "2", "--lease", "1"),
            *("--hold", str(held_a), "--offset", "1000"),
        ),
    )
    run.wait_until(lambda: {"start 0", "start 1"} <= set(a.stdout().split("\n")), "A's starts")
    run.stop(a)
    try:
        b = run.launch(
            "B",
            run.script(
                "fmin",
                *("--max-evals", "4", "--concurrency", "2", "--lease", "1"),
                *("--hold", str(held_b)),
            ),
        )
        run.wait_until(
            lambda: {"start 0", "start 1"} <= set(b.stdout().split("\n")), "B taking 0 and 1"
        )
        (held_a / "release-1").touch()
        (held_a / "release-4").touch()
    finally:
        a.proc.send_signal(signal.SIGCONT)
    run.wait_until(_refused_or_written(run, a, 1), "A's result of trial 1 refused")
    run.wait_until(lambda: "start 4" in a.stdout(), "A's trial 4 (after it read the study)")
    (held_a / "release-0").touch()
    run.wait_until(_refused_or_written(run, a, 0), "A's result of trial 0 refused")
    running = run.trials()
    assert [running[tid]["state"] for tid in (0, 1)] == ["running", "running"]
    assert {run.tag_of(running[tid]["driver"]) for tid in (0, 1)} == {b.tag}
    (held_b / "release-all").touch()

    b.proc.wait(timeout=60)
    assert b.proc.returncode == 0, b.stderr()
    a.proc.wait(timeout=60)
    assert a.proc.returncode == 0, a.stderr()
    warnings = a.stderr().strip().splitlines()
    assert len(warnings) == 2, warnings  # the two late results, and nothing else
    rows = complete(run, 5, {a.tag: 1000.0})
    for tid in (0, 1, 2, 3):
        assert run.tag_of(rows[tid]["driver"]) == b.tag
        assert rows[tid]["loss"] < 1000  # B's loss, never A's (x + 1000)
    assert run.tag_of(rows[4]["driver"]) == a.tag
    done = run.evaluations()
    for tid in (0, 1):
        assert sorted(tag for tag, _ in done[tid]) == [a.tag, b.tag]
        assert done[tid][0][1] == done[tid][1][1]


# --- SIGTERM ----------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_sigterm_interrupts_one_drivers_trials_and_another_runs_them(run: Run) -> None:
    """``asynchpo run`` stopped by SIGTERM records its trials in flight INTERRUPTED and exits
    143; a driver still running on the study runs them, with the same ids and parameters."""
    budget = 40
    # B holds its first two trials until released: until then it cannot take A's.
    b = run.launch(
        "B",
        run.script(
            "fmin",
            *("--max-evals", str(budget), "--concurrency", "2", "--hold", str(run.folder)),
            *("--sleep", SLEEP),
        ),
    )
    run.wait_until(lambda: b.stdout().count("start ") == 2, "B's two trials")
    a = run.launch("A", [*run.cli(3, max_evals=budget)[: -len(EVALUATE)], *SLOW_EVALUATE])
    run.wait_until(lambda: run.count(a.tag) >= 6, "A's evaluations")
    a.proc.send_signal(signal.SIGTERM)
    a.proc.wait(timeout=60)
    assert a.proc.returncode == 143, a.stderr()
    assert a.stderr().strip().splitlines() == [
        "asynchpo: terminated (SIGTERM); the trials in flight were recorded as interrupted, "
        "run the same command again to resume"
    ]
    rows = run.trials()
    (a_driver,) = [d for d in run.drivers().values() if d["pid"] == a.proc.pid]
    assert a_driver["ended"] is not None
    interrupted = {t: r for t, r in rows.items() if r["state"] == "interrupted"}
    assert interrupted  # A had trials in flight
    assert all(r["driver"] == a_driver["id"] for r in interrupted.values())
    assert all("SIGTERM" in r["error"] for r in interrupted.values())
    assert not [
        t for t, r in rows.items() if r["state"] == "running" and r["driver"] == a_driver["id"]
    ]

    (run.folder / "release-all").touch()
    run.finish([b])
    final = complete(run, budget)
    for tid, row in interrupted.items():
        assert run.tag_of(final[tid]["driver"]) == b.tag
        assert final[tid]["params"] == row["params"]
    for tid, done in run.evaluations().items():
        tags = [tag for tag, _ in done]
        assert len(tags) == 1 or (tid in interrupted and tags == [a.tag, b.tag]), (tid, done)
