"""Several driver processes on one study in one SQLite file, against Optuna's shared storage.

    .venv/bin/python benchmarks/drivers.py            # a few minutes; needs the `bench` extra
    .venv/bin/python benchmarks/drivers.py --quick    # 1 and 4 drivers, fewer trials: < 1 min
    .venv/bin/python benchmarks/drivers.py --help     # counts, drivers, --repeats, --no-optuna
    .venv/bin/python benchmarks/drivers.py --storage pgserver   # PostgreSQL: see below

Every cell starts 1, 2, 4 or 8 driver processes together (``multiprocessing``, spawn) on one new
SQLite file in a temporary folder; each does its setup, then waits at a barrier shared with the
others, so that the clock starts when all of them are ready. Random search on a three-label
space; two objectives: a no-op (returns a float) and ``await anyio.sleep(0.01)``.

1. ``fmin``: each process runs ``fmin(objective, space, algo=rand.suggest, concurrency=16,
   storage=path, study=name, max_evals=TOTAL)``; ``max_evals`` is the study's total. trials/s
   is TOTAL over the time from the barrier to the last trial's finish (its ``finished`` stamp,
   set just before its commit). ``exit`` is the time until the last ``fmin`` returned: a
   driver whose budget is taken by trials another driver runs waits for them (they come back
   to it if that driver dies), so it returns later than the last commit.
2. ask/tell: each process opens the study (``open_study(..., max_evals=TOTAL)``, before the
   barrier) and runs 16 tasks in a task group, each looping ``ask``, objective, ``tell``.
   ``tell p50/p99`` is the time from the objective returning to its result being stored: the
   duration of ``await study.tell(trial, value)``.
3. Optuna: the study is created once, then each process runs ``optuna.create_study(
   study_name=..., storage="sqlite:///...", load_if_exists=True, sampler=RandomSampler(i))``
   and ``study.optimize(objective, n_trials=TOTAL / n, n_jobs=16)``, Optuna's documented way
   to share a study; its objective sleeps with ``time.sleep`` (its jobs are threads). Fewer
   trials: the rates are what is compared.
4. Growth: one driver, ``fmin``, no-op, on a study ten times the usual size; the rate over the
   first and the last tenth of its objective calls says whether a trial costs more as the
   study grows.
5. Round trip: one ``ask`` + ``tell`` at concurrency 1 in one process, in memory and on SQLite.
6. Single driver at concurrency 1 (the logic of ``benchmarks/overhead.py``), in this process.

In every asynchpo cell, ``wasted`` is objective calls minus finished trials (0 without kills),
and ``ids`` says whether the finished trials are exactly ids 0..TOTAL-1, all ``ok``.
``CPU ms/trial`` is the CPU time of all the driver processes (every thread, from the barrier to
their return) per finished trial. Across rows: if trials/s falls while it stays flat, the
drivers wait (for SQLite's write lock, or for a CPU); if it grows, each trial costs more work
(e.g. reading the other drivers' trials).

Then the targets of issue 11 with "met" or "NOT MET". The numbers are noisy on a shared
machine: run it twice before reading much into a 20% difference.

PostgreSQL (``--storage``)
--------------------------

    .venv/bin/python benchmarks/drivers.py --storage pgserver           # ~10 min on 2 CPUs
    .venv/bin/python benchmarks/drivers.py --storage pgserver --quick   # < 2 min
    .venv/bin/python benchmarks/drivers.py --storage 'postgresql://user:pw@host/db'

The issue: "`benchmarks/drivers.py --storage postgresql://...`: 1, 4 and 8 drivers x concurrency
16 on one study, no-op and 10 ms objectives: total trials/s, p50/p99 commit latency; Optuna 5's
`RDBStorage` on the same server with the same drivers (its documented distributed setup).
Targets: >= 10x Optuna's throughput at every driver count; >= 1,000 trials/s in total with 4
drivers on a local server."

``--storage URL`` (``postgresql://`` or ``postgres://``; its user must be allowed to create
schemas in its database, and databases) measures on that server; ``--storage pgserver`` starts
a private PostgreSQL server of the ``pgserver`` package in a temporary folder for the run
(PostgreSQL's durable defaults: ``fsync`` and ``synchronous_commit`` on; only
``max_connections`` is raised to 300, since 8 Optuna drivers with ``n_jobs=16`` open up to 15
connections each, more than the default 100 allows) and deletes it afterwards. The output
names the server, its version and those settings. Cells: 1, 4 and 8 drivers (``--quick``: 1
and 4, fewer trials), both objectives, three kinds, each on a fresh, empty place of the same
server, dropped after the cell:

1. ``fmin``: as above, on ``URL?schema=bench_<run>_<n>_...`` (a new PostgreSQL schema in the
   URL's database; a ``schema`` the URL names is replaced). Each driver opens the storage
   before the barrier and passes it to ``fmin`` as ``storage=``, wrapped so that the commit of
   each finished trial is timed: ``commit p50/p99`` is the time from the trial's ``finished``
   stamp (set just before it is written) to the return of the storage ``write`` that
   committed it, waiting for the driver's group commit included. That is the part of ``tell``
   that stores the result, measured below the study rather than around a call.
2. ask/tell: as above, on a new schema; ``commit`` is the duration of ``await study.tell``.
3. Optuna: a new database per cell (``CREATE DATABASE``; Optuna's ``RDBStorage`` keeps its
   tables in the ``public`` schema), SQLAlchemy URL ``postgresql+psycopg2://`` with the same
   user, password, host, port and query (``?host=/socket/dir`` for a unix socket included);
   the same ``create_study(load_if_exists=True)`` + ``optimize(n_jobs=16)`` as on SQLite, with
   an ``RDBStorage`` (what ``storage=URL`` opens) whose ``set_trial_state_values`` is timed:
   ``commit`` is that call for each finished trial, the statement that stores its state and
   value (Optuna's ``tell`` reads the trial before it, untimed). Fewer trials (default 480).

``server CPU ms/trial`` (pgserver only): the CPU time of the PostgreSQL processes (the
postmaster, its backends, live and ended) from the barrier to the last driver's outcome, per
finished trial; on a small machine the server and the drivers share the CPUs. No growth,
round-trip or single-driver rows. Then the targets: asynchpo / Optuna trials/s per driver
count, ``fmin`` and ask/tell each, for both objectives (>= 10x at every driver count), and 4
drivers, no-op, >= 1,000 trials/s (meant for a local server).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import multiprocessing
import platform
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from _common import format_table, installed, progress
from _drivers_worker import SPACE, Job, Kind, Outcome, run_driver
from _postgres_server import PostgresServer, private_server
from overhead import asynchpo_rate

from asynchpo import TrialState, open_study, rand
from asynchpo._storage._urls import is_postgres_url, mask_url

CONCURRENCY = 16
SLEEP_SECONDS = 0.01
OBJECTIVES = {"no-op": 0.0, "sleep 10ms": SLEEP_SECONDS}

# The targets of issue 11.
TARGET_DRIVERS = 4
TARGET_RATE = 2000.0
TARGET_MEMORY_MS = 0.5
TARGET_SQLITE_MS = 2.0
TARGET_SINGLE_MEMORY = 6000.0
TARGET_SINGLE_SQLITE = 2400.0
# The targets of the PostgreSQL issue (--storage).
TARGET_PG_RATIO = 10.0
TARGET_PG_RATE = 1000.0


@dataclasses.dataclass(frozen=True)
class Cell:
    """One measured setting: ``drivers`` processes of one kind on one study."""

    kind: Kind
    objective: str
    drivers: int
    trials: int  # the study's total
    wall: float  # barrier to last finished trial
    exit: float  # barrier to the last driver's return
    calls: int
    cpu: float  # CPU seconds of all the driver processes, barrier to their return
    finished: int
    ids_ok: bool
    tell_seconds: list[float]
    call_times: list[float]  # every process's objective calls, merged, in time order
    started: float
    errors: list[str]
    server_cpu: float = math.nan  # CPU seconds of a pgserver server, barrier to the end

    @property
    def server_cpu_ms(self) -> float:
        """The server's CPU time per finished trial, in ms (pgserver only)."""
        return self.server_cpu / self.finished * 1000 if self.finished else math.nan

    @property
    def rate(self) -> float:
        return self.finished / self.wall if self.wall > 0 else math.nan

    @property
    def cpu_ms(self) -> float:
        """Driver CPU time per finished trial, in ms."""
        return self.cpu / self.finished * 1000 if self.finished else math.nan

    @property
    def wasted(self) -> int:
        return self.calls - self.finished


def run_cell(
    kind: Kind,
    objective: str,
    drivers: int,
    trials: int,
    folder: Path,
    server: PostgresServer | None = None,
) -> Cell:
    """Start ``drivers`` processes on a new study file (or a fresh place on ``server``); wait
    for them; check the study."""
    with _place(kind, objective, drivers, trials, folder, server) as (storage, check):
        return _run_cell(kind, objective, drivers, trials, storage, check, server)


Check = Callable[[int], tuple[int, bool, float]]  # trials -> finished, ids ok, last finish


@contextlib.contextmanager
def _place(
    kind: Kind,
    objective: str,
    drivers: int,
    trials: int,
    folder: Path,
    server: PostgresServer | None,
) -> Iterator[tuple[str, Check]]:
    """The storage the drivers get, and how to check the study: a new SQLite file in
    ``folder``; on PostgreSQL, a new schema (asynchpo) or database (Optuna), dropped after."""
    study = "shared"
    if server is None:
        path = folder / f"{kind}-{objective.replace(' ', '')}-{drivers}-{trials}.sqlite"
        if kind == "optuna":
            storage = f"sqlite:///{path}"
            yield storage, lambda n: _optuna_check(storage, study, n)
        else:
            yield str(path), lambda n: anyio.run(_asynchpo_check, path, study, n)
        return
    name = server.new_name(f"{kind}_{objective.replace(' ', '').replace('-', '')}_{drivers}")
    if kind == "optuna":
        server.create_database(name)
        try:
            url = server.optuna_url(name)
            yield url, lambda n: _optuna_check(url, study, n)
        finally:
            server.drop_database(name)
    else:
        if server.schema_exists(name):
            raise RuntimeError(f"schema {name} exists already: not a fresh place")
        url = server.asynchpo_url(name)
        try:
            yield url, lambda n: anyio.run(_asynchpo_check, url, study, n)
        finally:
            server.drop_schema(name)


def _run_cell(
    kind: Kind,
    objective: str,
    drivers: int,
    trials: int,
    storage: str,
    check: Check,
    server: PostgresServer | None,
) -> Cell:
    study = "shared"
    if kind == "optuna":
        _optuna_create(storage, study)  # once, so that the drivers only load it
    per_process = trials // drivers if kind == "optuna" else trials
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(drivers + 1)
    results = context.Queue()
    job = Job(
        kind,
        0,
        storage,
        study,
        per_process,
        CONCURRENCY,
        OBJECTIVES[objective],
        commit_times=server is not None,
    )
    processes = [
        context.Process(
            target=run_driver,
            args=(dataclasses.replace(job, index=i), barrier, results),
            daemon=True,
        )
        for i in range(drivers)
    ]
    for process in processes:
        process.start()
    server_cpu = math.nan
    try:
        # Broken when a driver failed before the start: its outcome holds the traceback.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=120)
            if server is not None:
                server_cpu = -server.cpu_seconds()
        outcomes: list[Outcome] = [results.get(timeout=900) for _ in processes]
        if server is not None:
            server_cpu += server.cpu_seconds()
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    errors = [o.error for o in outcomes if o.error is not None]
    started = min((o.started for o in outcomes if not math.isnan(o.started)), default=math.nan)
    ended = max((o.ended for o in outcomes), default=math.nan)
    try:
        finished, ids_ok, last = check(drivers * per_process if kind == "optuna" else trials)
    except Exception:
        if not errors:
            raise
        finished, ids_ok, last = 0, False, math.nan  # the drivers' errors say why
    return Cell(
        kind,
        objective,
        drivers,
        drivers * per_process,
        last - started,
        ended - started,
        sum(o.calls for o in outcomes),
        sum(o.cpu for o in outcomes),
        finished,
        ids_ok,
        [s for o in outcomes for s in o.tell_seconds],
        sorted(t for o in outcomes for t in o.call_times),
        started,
        errors,
        server_cpu,
    )


async def _asynchpo_check(path: Path | str, study: str, trials: int) -> tuple[int, bool, float]:
    """Finished trials, whether they are exactly ids 0..trials-1 all ok, the last finish."""
    async with open_study(path, study) as handle:  # read-only: no space
        records = handle.trials
    finished = [t for t in records if t.state.is_finished]
    ids_ok = [t.id for t in records] == list(range(trials)) and all(
        t.state is TrialState.OK for t in records
    )
    last = max((t.finished or math.nan for t in finished), default=math.nan)
    return len(finished), ids_ok, last


def _optuna_create(storage: str, study: str) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rdb = optuna.storages.RDBStorage(storage)  # what storage=URL opens
    try:
        optuna.create_study(study_name=study, storage=rdb)
    finally:
        rdb.engine.dispose()  # no connection left open to a database dropped after the cell


def _optuna_check(storage: str, study: str, trials: int) -> tuple[int, bool, float]:
    import optuna

    rdb = optuna.storages.RDBStorage(storage)
    try:
        records = optuna.load_study(study_name=study, storage=rdb).get_trials(deepcopy=False)
    finally:
        rdb.engine.dispose()
    complete = [t for t in records if t.state == optuna.trial.TrialState.COMPLETE]
    ids_ok = sorted(t.number for t in complete) == list(range(trials))
    last = max(
        (t.datetime_complete.timestamp() for t in complete if t.datetime_complete is not None),
        default=math.nan,
    )
    return len(complete), ids_ok, last


def percentile_ms(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    return float(np.percentile(np.asarray(values), q)) * 1000


def tenth_rates(cell: Cell) -> tuple[float, float]:
    """Objective calls per second over the first and the last tenth of the calls."""
    times = cell.call_times
    tenth = len(times) // 10
    if tenth < 2:
        return math.nan, math.nan
    first = (tenth - 1) / (times[tenth - 1] - times[0])
    last = (tenth - 1) / (times[-1] - times[-tenth])
    return first, last


async def round_trips(storage: Path | None, count: int) -> list[float]:
    """Seconds per ``ask`` + ``tell`` of one trial at a time (after 50 untimed ones)."""
    seconds: list[float] = []
    async with open_study(storage, "round-trip", space=SPACE, algo=rand.suggest, seed=0) as study:
        for i in range(count + 50):
            started = time.perf_counter()
            trial = await study.ask()
            await study.tell(trial, 0.5)
            if i >= 50:
                seconds.append(time.perf_counter() - started)
    return seconds


async def single_driver(trials: int, folder: Path) -> tuple[float, float]:
    """``benchmarks/overhead.py``'s no-op rate at concurrency 1: in memory, on SQLite."""
    memory = await asynchpo_rate(trials, 1, None)
    sqlite = await asynchpo_rate(trials, 1, folder / "single.sqlite")
    return memory, sqlite


def fmt(x: float, spec: str = ",.0f") -> str:
    return "-" if x != x else format(x, spec)


def ids_cell(cell: Cell) -> str:
    return "ok" if cell.ids_ok else "WRONG"


def status(met: bool) -> str:
    return "met" if met else "NOT MET"


@dataclasses.dataclass
class Results:
    drivers: list[int]
    trials: int
    optuna_trials: int
    cells: dict[tuple[Kind, str, int, int], Cell]
    big: Cell
    trips: dict[str, list[float]]  # storage -> seconds per ask+tell
    single: dict[str, float]  # storage -> trials/s

    def select(self, kind: Kind) -> list[Cell]:
        trials = self.optuna_trials if kind == "optuna" else self.trials
        return [
            self.cells[kind, o, n, trials]
            for o in OBJECTIVES
            for n in self.drivers
            if (kind, o, n, trials) in self.cells
        ]

    def trip_ms(self, storage: str) -> float:
        return float(np.mean(self.trips[storage])) * 1000


def best_of(
    repeats: int,
    kind: Kind,
    objective: str,
    drivers: int,
    trials: int,
    folder: Path,
    server: PostgresServer | None = None,
) -> Cell:
    """The fastest of ``repeats`` runs of a cell, unless one went wrong: then that one."""
    best: Cell | None = None
    for repeat in range(repeats):
        cell = run_cell(kind, objective, drivers, trials, folder / f"{repeat}", server)
        for error in cell.errors:
            progress(f"  a driver failed:\n{error}")
        if cell.errors or cell.wasted or not cell.ids_ok:
            return cell
        if best is None or cell.rate > best.rate:
            best = cell
    assert best is not None
    return best


def measure(options: argparse.Namespace, drivers: list[int], with_optuna: bool) -> Results:
    cells: dict[tuple[Kind, str, int, int], Cell] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for repeat in range(options.repeats):
            (folder / f"{repeat}").mkdir()
        plan: list[tuple[Kind, int]] = [("fmin", options.trials), ("asktell", options.trials)]
        if with_optuna:
            plan.append(("optuna", options.optuna_trials))
        for kind, trials in plan:
            for objective in OBJECTIVES:
                for n in drivers:
                    progress(f"{kind}: {objective}, {n} driver(s), {trials} trials")
                    cells[kind, objective, n, trials] = best_of(
                        options.repeats, kind, objective, n, trials, folder
                    )
        progress(f"growth: fmin, no-op, 1 driver, {options.big_trials} trials")
        big = best_of(1, "fmin", "no-op", 1, options.big_trials, folder)
        progress("round trips")
        trips = {
            "memory": anyio.run(round_trips, None, options.round_trips),
            "sqlite": anyio.run(round_trips, folder / "round-trip.sqlite", options.round_trips),
        }
        progress("single driver, concurrency 1")
        memory, sqlite = anyio.run(single_driver, options.single_trials, folder)
    return Results(
        drivers,
        options.trials,
        options.optuna_trials,
        cells,
        big,
        trips,
        {"memory": memory, "sqlite": sqlite},
    )


def print_fmin(results: Results) -> None:
    print(
        f"1. fmin(concurrency={CONCURRENCY}) in each driver process, max_evals={results.trials} "
        "for the study"
    )
    print(
        format_table(
            ["objective", "drivers", "trials", "wall s", "trials/s", "exit s", "CPU ms/trial",
             "calls", "wasted", "ids"],
            [
                [c.objective, str(c.drivers), str(c.finished), fmt(c.wall, ".2f"), fmt(c.rate),
                 fmt(c.exit, ".2f"), fmt(c.cpu_ms, ".3f"), str(c.calls), str(c.wasted),
                 ids_cell(c)]
                for c in results.select("fmin")
            ],
        )
    )  # fmt: skip
    print(
        "  wall: barrier to the last trial's finish; exit: barrier to the last fmin's return\n"
        "  CPU ms/trial: CPU time of all the driver processes (every thread) per trial, "
        f"on {multiprocessing.cpu_count()} CPUs\n"
    )


def print_ask_tell(results: Results) -> None:
    print(
        f"2. ask/tell: {CONCURRENCY} tasks per driver process looping ask, objective, tell; "
        f"max_evals={results.trials} for the study"
    )
    print(
        format_table(
            ["objective", "drivers", "trials", "wall s", "trials/s", "CPU ms/trial",
             "tell p50 ms", "tell p99 ms", "calls", "wasted", "ids"],
            [
                [c.objective, str(c.drivers), str(c.finished), fmt(c.wall, ".2f"), fmt(c.rate),
                 fmt(c.cpu_ms, ".3f"), fmt(percentile_ms(c.tell_seconds, 50), ".2f"),
                 fmt(percentile_ms(c.tell_seconds, 99), ".2f"), str(c.calls), str(c.wasted),
                 ids_cell(c)]
                for c in results.select("asktell")
            ],
        )
    )  # fmt: skip
    print("  tell: from the objective's return to its result stored\n")


def print_optuna(results: Results) -> None:
    import optuna

    print(
        f"3. Optuna {optuna.__version__}: create_study(load_if_exists=True) + "
        f"optimize(n_jobs={CONCURRENCY}) in each driver process, n_trials = total / drivers"
    )
    rows = []
    for cell in results.select("optuna"):
        ours = results.cells["fmin", cell.objective, cell.drivers, results.trials]
        rows.append(
            [cell.objective, str(cell.drivers), str(cell.finished), fmt(cell.wall, ".2f"),
             fmt(cell.rate), fmt(cell.cpu_ms, ".2f"), str(cell.calls), str(cell.wasted),
             fmt(ours.rate / cell.rate, ",.0f") + "x"]
        )  # fmt: skip
    print(
        format_table(
            ["objective", "drivers", "trials", "wall s", "trials/s", "CPU ms/trial", "calls",
             "wasted", "fmin / optuna"],
            rows,
        )
    )  # fmt: skip
    print("  fmin / optuna: the fmin row's trials/s over this one's\n")


def print_growth(results: Results) -> None:
    print("4. growth: fmin, no-op, 1 driver")
    cells = [results.cells.get(("fmin", "no-op", 1, results.trials)), results.big]
    rows = []
    for cell in cells:
        if cell is not None:
            first, last = tenth_rates(cell)
            rows.append(
                [str(cell.finished), fmt(cell.wall, ".2f"), fmt(cell.rate), fmt(first),
                 fmt(last), fmt(cell.cpu_ms, ".3f"), str(cell.wasted), ids_cell(cell)]
            )  # fmt: skip
    print(
        format_table(
            ["trials", "wall s", "trials/s", "first tenth /s", "last tenth /s", "CPU ms/trial",
             "wasted", "ids"],
            rows,
            left=(),
        )
    )  # fmt: skip
    print("  first/last tenth: objective calls per second over the first/last tenth of them\n")


def print_round_trips(results: Results) -> None:
    count = len(results.trips["memory"])
    print(f"5. round trip: ask + tell of one trial, concurrency 1, one process, {count} times")
    print(
        format_table(
            ["storage", "mean ms", "p50 ms", "p99 ms"],
            [
                [name, fmt(results.trip_ms(name), ".3f"), fmt(percentile_ms(s, 50), ".3f"),
                 fmt(percentile_ms(s, 99), ".3f")]
                for name, s in results.trips.items()
            ],
        )
    )  # fmt: skip
    print()


def print_targets(results: Results, single_trials: int) -> None:
    memory, sqlite = results.single["memory"], results.single["sqlite"]
    print(
        f"6. single driver, fmin at concurrency 1, no-op, {single_trials} trials, in this "
        f"process (benchmarks/overhead.py's logic): memory {memory:,.0f} trials/s, "
        f"sqlite {sqlite:,.0f} trials/s\n"
    )
    asynchpo_cells = [*results.select("fmin"), *results.select("asktell"), results.big]
    wasted = sum(c.wasted for c in asynchpo_cells)
    broken = sum(not c.ids_ok for c in asynchpo_cells)
    memory_ms, sqlite_ms = results.trip_ms("memory"), results.trip_ms("sqlite")
    print("targets")
    kinds: tuple[tuple[Kind, str], ...] = (("fmin", "fmin"), ("asktell", "ask/tell"))
    for kind, label in kinds:
        cell = results.cells.get((kind, "no-op", TARGET_DRIVERS, results.trials))
        if cell is not None:
            print(
                f"  {TARGET_DRIVERS} drivers on one file, {label}, no-op: {cell.rate:,.0f} "
                f"trials/s (>= {TARGET_RATE:,.0f}): {status(cell.rate >= TARGET_RATE)}"
            )
    print(
        f"  ask+tell in memory: mean {memory_ms:.3f} ms (<= {TARGET_MEMORY_MS} ms): "
        f"{status(memory_ms <= TARGET_MEMORY_MS)}"
    )
    print(
        f"  ask+tell on SQLite: mean {sqlite_ms:.3f} ms (<= {TARGET_SQLITE_MS} ms): "
        f"{status(sqlite_ms <= TARGET_SQLITE_MS)}"
    )
    print(
        f"  wasted evaluations, all asynchpo cells: {wasted} (= 0): {status(wasted == 0)}; "
        f"cells whose trials are not exactly ids 0..N-1, all ok: {broken}"
    )
    print(
        f"  single driver, concurrency 1: memory {memory:,.0f} trials/s "
        f"(>= {TARGET_SINGLE_MEMORY:,.0f}): {status(memory >= TARGET_SINGLE_MEMORY)}; "
        f"sqlite {sqlite:,.0f} trials/s (>= {TARGET_SINGLE_SQLITE:,.0f}): "
        f"{status(sqlite >= TARGET_SINGLE_SQLITE)}"
    )
    failures = sum(len(c.errors) for c in [*results.cells.values(), results.big])
    if failures:
        print(f"  {failures} driver process(es) failed: their tracebacks are on stderr")


# --- PostgreSQL (--storage) ------------------------------------------------------------------


@dataclasses.dataclass
class PgResults:
    server: str  # how the output names the server
    drivers: list[int]
    trials: int
    optuna_trials: int
    cells: dict[tuple[Kind, str, int], Cell]

    def select(self, kind: Kind) -> list[Cell]:
        return [
            self.cells[kind, o, n]
            for o in OBJECTIVES
            for n in self.drivers
            if (kind, o, n) in self.cells
        ]


def measure_postgres(
    options: argparse.Namespace, server: PostgresServer, drivers: list[int], with_optuna: bool
) -> PgResults:
    cells: dict[tuple[Kind, str, int], Cell] = {}
    plan: list[tuple[Kind, int]] = [("fmin", options.trials), ("asktell", options.trials)]
    if with_optuna:
        plan.append(("optuna", options.optuna_trials))
    with tempfile.TemporaryDirectory() as name:  # unused by PostgreSQL cells; best_of's folder
        folder = Path(name)
        for kind, trials in plan:
            for objective in OBJECTIVES:
                for n in drivers:
                    progress(f"{kind}: {objective}, {n} driver(s), {trials} trials")
                    cells[kind, objective, n] = best_of(
                        options.repeats, kind, objective, n, trials, folder, server
                    )
    return PgResults(server.label, drivers, options.trials, options.optuna_trials, cells)


def _pg_row(cell: Cell) -> list[str]:
    """The columns every PostgreSQL table shares, after objective and drivers."""
    return [
        str(cell.finished), fmt(cell.wall, ".2f"), fmt(cell.rate), fmt(cell.cpu_ms, ".3f"),
        fmt(cell.server_cpu_ms, ".3f"), fmt(percentile_ms(cell.tell_seconds, 50), ".2f"),
        fmt(percentile_ms(cell.tell_seconds, 99), ".2f"), str(cell.calls), str(cell.wasted),
        ids_cell(cell),
    ]  # fmt: skip


PG_HEADERS = [
    "objective", "drivers", "trials", "wall s", "trials/s", "CPU ms/trial", "server CPU ms/trial",
    "commit p50 ms", "commit p99 ms", "calls", "wasted", "ids",
]  # fmt: skip


def print_postgres(results: PgResults, with_optuna: bool) -> None:
    cpus = multiprocessing.cpu_count()
    print(
        f"1. fmin(concurrency={CONCURRENCY}) in each driver process, max_evals={results.trials} "
        "for the study, one new PostgreSQL schema per cell"
    )
    rows = [[c.objective, str(c.drivers), *_pg_row(c)] for c in results.select("fmin")]
    print(format_table(PG_HEADERS, rows))
    print(
        "  commit: from a trial's finished stamp (set just before it is written) to the return\n"
        "  of the storage write that committed it (group commit included)\n"
    )
    print(
        f"2. ask/tell: {CONCURRENCY} tasks per driver process looping ask, objective, tell; "
        f"max_evals={results.trials} for the study, one new PostgreSQL schema per cell"
    )
    rows = [[c.objective, str(c.drivers), *_pg_row(c)] for c in results.select("asktell")]
    print(format_table(PG_HEADERS, rows))
    print("  commit: the duration of await study.tell(trial, value)\n")
    if with_optuna:
        import optuna

        print(
            f"3. Optuna {optuna.__version__} RDBStorage (postgresql+psycopg2): "
            f"create_study(load_if_exists=True) + optimize(n_jobs={CONCURRENCY}) in each driver "
            "process, n_trials = total / drivers, one new database per cell"
        )
        rows = []
        for c in results.select("optuna"):
            ratios = [
                _ratio(results.cells.get((kind, c.objective, c.drivers)), c)
                for kind in ("fmin", "asktell")
            ]
            rows.append([c.objective, str(c.drivers), *_pg_row(c), *ratios])
        print(format_table([*PG_HEADERS, "fmin / optuna", "ask/tell / optuna"], rows))
        print(
            "  commit: the duration of RDBStorage.set_trial_state_values(COMPLETE, values), the\n"
            "  statement Optuna's tell stores the result with (its tell reads the trial first)\n"
            "  x / optuna: that asynchpo row's trials/s over this one's\n"
        )
    else:
        print("3. Optuna: not run (--no-optuna, or not installed: pip install -e '.[bench]')\n")
    print(
        f"  CPU ms/trial: CPU time of all the driver processes (every thread) per trial; server "
        f"CPU: the PostgreSQL processes' (pgserver only); on {cpus} CPUs shared by both\n"
    )
    print_postgres_targets(results, with_optuna)


def _ratio(ours: Cell | None, theirs: Cell | None) -> str:
    """``ours`` trials/s over ``theirs``, as ``12.3x``; ``-`` if either is missing or failed."""
    if ours is None or theirs is None or ours.errors or theirs.errors:
        return "-"
    ratio = ours.rate / theirs.rate if theirs.rate > 0 else math.nan
    return "-" if math.isnan(ratio) else f"{ratio:.1f}x"


def print_postgres_targets(results: PgResults, with_optuna: bool) -> None:
    print(f"targets (server: {results.server})")
    kinds: tuple[tuple[Kind, str], ...] = (("fmin", "fmin"), ("asktell", "ask/tell"))
    if with_optuna:
        for objective in OBJECTIVES:
            for kind, label in kinds:
                ratios = {
                    n: _ratio(
                        results.cells.get((kind, objective, n)),
                        results.cells.get(("optuna", objective, n)),
                    )
                    for n in results.drivers
                }
                shown = ", ".join(f"{n} driver(s) {r}" for n, r in ratios.items())
                # A cell that failed ("-") is not a met target.
                met = all(r != "-" and float(r[:-1]) >= TARGET_PG_RATIO for r in ratios.values())
                print(
                    f"  {label} / Optuna, {objective}, >= {TARGET_PG_RATIO:.0f}x at every driver "
                    f"count: {shown}: {status(met)}"
                )
    else:
        print(f"  >= {TARGET_PG_RATIO:.0f}x Optuna: not measured (no Optuna cells)")
    for kind, label in kinds:
        cell = results.cells.get((kind, "no-op", TARGET_DRIVERS))
        if cell is not None:
            print(
                f"  {TARGET_DRIVERS} drivers on one study, {label}, no-op: {fmt(cell.rate)} "
                f"trials/s (>= {TARGET_PG_RATE:,.0f} on a local server): "
                f"{status(cell.rate >= TARGET_PG_RATE)}"
            )
    asynchpo_cells = [*results.select("fmin"), *results.select("asktell")]
    wasted = sum(c.wasted for c in asynchpo_cells)
    broken = sum(not c.ids_ok for c in asynchpo_cells)
    print(
        f"  wasted evaluations, all asynchpo cells: {wasted} (= 0): {status(wasted == 0)}; "
        f"cells whose trials are not exactly ids 0..N-1, all ok: {broken}"
    )
    optuna_broken = sum(not c.ids_ok for c in results.select("optuna"))
    if optuna_broken:
        print(f"  Optuna cells without exactly trials 0..N-1 all complete: {optuna_broken}")
    failures = sum(len(c.errors) for c in results.cells.values())
    if failures:
        print(f"  {failures} driver process(es) failed: their tracebacks are on stderr")


def main_postgres(options: argparse.Namespace, drivers: list[int], with_optuna: bool) -> None:
    with contextlib.ExitStack() as stack:
        if options.storage == "pgserver":
            progress("starting a private PostgreSQL server (pgserver)")
            server = stack.enter_context(private_server())
        else:
            server = PostgresServer(options.storage, f"the server at {mask_url(options.storage)}")
        settings = ", ".join(f"{k} {v}" for k, v in server.settings().items())
        print(
            f"python {platform.python_version()}, PostgreSQL {server.version()} "
            f"({server.label}; {settings}), {multiprocessing.cpu_count()} CPUs; concurrency "
            f"{CONCURRENCY} per driver process; random search\n"
        )
        results = measure_postgres(options, server, drivers, with_optuna)
    print_postgres(results, with_optuna)


def main(options: argparse.Namespace) -> None:
    drivers = [int(d) for d in options.drivers.split(",")]
    with_optuna = not options.no_optuna and installed("optuna")
    if options.storage is not None:
        main_postgres(options, drivers, with_optuna)
        return
    print(
        f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{multiprocessing.cpu_count()} CPUs; concurrency {CONCURRENCY} per driver process; "
        "random search; one new SQLite file per cell\n"
    )
    results = measure(options, drivers, with_optuna)
    print_fmin(results)
    print_ask_tell(results)
    if with_optuna:
        print_optuna(results)
    else:
        print("3. Optuna: not run (--no-optuna, or not installed: pip install -e '.[bench]')\n")
    print_growth(results)
    print_round_trips(results)
    print_targets(results, options.single_trials)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--drivers",
        help="driver processes per cell (default 1,2,4,8; PostgreSQL 1,4,8; --quick: 1,4)",
    )
    parser.add_argument("--trials", type=int, help="asynchpo trials per cell (default 8000)")
    parser.add_argument(
        "--big-trials", type=int, help="trials of the growth cell (default 10 x --trials)"
    )
    parser.add_argument(
        "--optuna-trials",
        type=int,
        help="Optuna trials per cell, over all drivers (default 160; PostgreSQL 480)",
    )
    parser.add_argument("--round-trips", type=int, help="timed ask+tell (default 3000)")
    parser.add_argument(
        "--single-trials", type=int, help="trials of the single-driver rows (default 5000)"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="run each cell N times, keep the fastest (default 1)"
    )
    parser.add_argument(
        "--storage",
        help="measure PostgreSQL instead of SQLite: a postgresql:// URL (a user that may create "
        "schemas and databases), or 'pgserver' for a private server of the pgserver package",
    )
    parser.add_argument("--no-optuna", action="store_true", help="skip the Optuna cells")
    parser.add_argument(
        "--quick", action="store_true", help="smaller counts (under a minute on 2 CPUs)"
    )
    options = parser.parse_args(argv)
    postgres = options.storage is not None
    if postgres and options.storage != "pgserver" and not is_postgres_url(options.storage):
        parser.error("--storage takes a postgresql:// (or postgres://) URL, or pgserver")
    defaults: dict[str, Any] = {
        "drivers": "1,4" if options.quick else "1,4,8" if postgres else "1,2,4,8",
        "trials": 1000 if options.quick else 8000,
        "optuna_trials": (80 if options.quick else 480)
        if postgres
        else 40
        if options.quick
        else 160,
        "round_trips": 1000 if options.quick else 3000,
        "single_trials": 2000 if options.quick else 5000,
    }
    for key, value in defaults.items():
        if getattr(options, key) is None:
            setattr(options, key, value)
    if options.big_trials is None:
        options.big_trials = 10 * options.trials
    return options


if __name__ == "__main__":
    main(parse())
