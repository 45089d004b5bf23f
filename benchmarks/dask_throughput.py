"""DaskExecutor's throughput on a local Dask cluster, against ProcessExecutor on the same machine.

    .venv/bin/python benchmarks/dask_throughput.py [--cpu-trials 2000] [--sleep-trials 1000]
        [--repeats 3] [--quick]

Needs the `dask` extra (``distributed``). The script starts a ``distributed.LocalCluster`` of two
worker processes (its scheduler runs in this process, in a thread of its own) and runs random
search with ``fmin``, each objective a plain top-level function:

1. CPU-bound: ``--cpu-trials`` trials of a busy loop that burns 10 ms of CPU, in memory, at
   concurrency 2 and 4, on two workers of one thread each. Ideal wall time: trials x 10 ms / 2.
2. Waiting: ``--sleep-trials`` trials of ``time.sleep(0.05)`` at concurrency 64, on two
   workers of 32 threads each, in memory and on SQLite. Ideal wall time: trials x 0.05 s / 64.
   One more row runs an ``async def`` that awaits ``anyio.sleep(0.05)`` on Dask: coroutines
   take the cancellable path on the workers (an event loop per trial, stopped by the worker
   plugin when its task is released).

Each setting also runs with ``ProcessExecutor()`` (``concurrency`` worker processes on this
machine), and, for reference, as a bare Dask loop without asynchpo: ``client.submit`` of the
same function, a new task submitted as each one ends, ``concurrency`` in flight.

The tables give the wall time (best of ``--repeats``; the settings run in turn, so that the
machine's noise hits them alike), trials/s, the overhead over the ideal wall time, the ratio of
the wall time to ProcessExecutor's, and the CPU time per trial spent in this process (the
driver; for Dask also the client and the scheduler) and in its child processes (Dask's workers,
or ProcessExecutor's pool), from the best run. Every setting first has an untimed warm-up run,
so that all start with their workers up. Each Dask run connects a new client to the cluster,
as ``fmin`` does when given the cluster; the time that takes is printed (it is in the walls).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from asynchpo import DaskExecutor, Executor, ProcessExecutor, fmin, hp, rand

if TYPE_CHECKING:
    from distributed import LocalCluster

SPACE = {"x": hp.uniform("x", -5, 5)}
CPU_SECONDS = 0.01
SLEEP_SECONDS = 0.05
WORKERS = 2
CPU_CONCURRENCIES = (2, 4)
SLEEP_THREADS = 32
SLEEP_CONCURRENCY = 64

Objective = Callable[[dict[str, float]], Any]


def burn_cpu(params: dict[str, float]) -> float:
    """Busy-loops until this thread has used 10 ms of CPU."""
    started = time.thread_time()
    while time.thread_time() - started < CPU_SECONDS:
        pass
    return params["x"] ** 2


def sleep_briefly(params: dict[str, float]) -> float:
    time.sleep(SLEEP_SECONDS)
    return params["x"] ** 2


async def sleep_briefly_async(params: dict[str, float]) -> float:
    await anyio.sleep(SLEEP_SECONDS)
    return params["x"] ** 2


def children_cpu() -> float:
    """CPU seconds used so far by this process's children (Dask workers, the process pool)."""
    import psutil  # type: ignore[import-untyped]

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return float(total)


@dataclasses.dataclass(frozen=True)
class Measure:
    wall: float
    driver_cpu: float
    workers_cpu: float


@dataclasses.dataclass
class Setting:
    """One row: an objective run by ``fmin`` with an executor, or by a bare Dask loop."""

    label: str
    objective: Objective
    concurrency: int
    executor: Callable[[], Executor] | None = None
    bare_dask: LocalCluster | None = None
    sqlite: bool = False
    reference: Setting | None = None  # the ProcessExecutor row to compare with
    best: Measure | None = None


async def run_fmin(setting: Setting, trials: int, folder: Path) -> None:
    assert setting.executor is not None
    await fmin(
        setting.objective,
        SPACE,
        algo=rand.suggest,
        max_evals=trials,
        concurrency=setting.concurrency,
        executor=setting.executor(),
        storage=folder / f"{time.monotonic_ns()}.sqlite" if setting.sqlite else None,
        show_progressbar=False,
        seed=0,
    )


async def run_bare_dask(cluster: LocalCluster, setting: Setting, trials: int) -> None:
    """``concurrency`` tasks in flight, a new one submitted as each ends: no asynchpo."""
    from distributed import Client, as_completed

    draw = random.Random(0)
    client: Any = await Client(cluster.scheduler_address, asynchronous=True, set_as_default=False)
    try:
        first = min(setting.concurrency, trials)
        futures = [
            client.submit(setting.objective, {"x": draw.uniform(-5, 5)}, pure=False)
            for _ in range(first)
        ]
        submitted = first
        pending = as_completed(futures, loop=client.loop)
        async for future in pending:
            await future
            if submitted < trials:
                pending.add(
                    client.submit(setting.objective, {"x": draw.uniform(-5, 5)}, pure=False)
                )
                submitted += 1
    finally:
        await client.close()


async def run_once(setting: Setting, trials: int, folder: Path) -> Measure:
    workers_before = children_cpu()
    cpu_before = time.process_time()
    started = time.perf_counter()
    if setting.bare_dask is not None:
        await run_bare_dask(setting.bare_dask, setting, trials)
    else:
        await run_fmin(setting, trials, folder)
    wall = time.perf_counter() - started
    return Measure(wall, time.process_time() - cpu_before, children_cpu() - workers_before)


async def measure(settings: Sequence[Setting], trials: int, repeats: int, folder: Path) -> None:
    """Warms each setting up, then runs them all in turn ``repeats`` times, keeping the best."""
    for setting in settings:
        await run_once(setting, max(2 * setting.concurrency, 20), folder)
    for _ in range(repeats):
        for setting in settings:
            result = await run_once(setting, trials, folder)
            if setting.best is None or result.wall < setting.best.wall:
                setting.best = result


def print_table(settings: Sequence[Setting], trials: int, ideal: float) -> None:
    print(
        f"  {'':<36} {'conc.':>5} {'wall s':>7} {'trials/s':>8} {'overhead':>9}"
        f" {'/Process':>8} {'driver CPU':>10} {'workers CPU':>11}"
    )
    for setting in settings:
        best = setting.best
        assert best is not None
        reference = setting.reference.best if setting.reference else None
        ratio = f"{best.wall / reference.wall:.2f}x" if reference else ""
        print(
            f"  {setting.label:<36} {setting.concurrency:>5} {best.wall:>7.2f}"
            f" {trials / best.wall:>8,.0f} {(best.wall / ideal - 1) * 100:>+8.0f}%"
            f" {ratio:>8} {best.driver_cpu / trials * 1000:>7.2f} ms"
            f" {best.workers_cpu / trials * 1000:>8.2f} ms",
            flush=True,
        )


def local_cluster(threads: int) -> LocalCluster:
    """Two worker processes of ``threads`` threads; the scheduler runs in this process."""
    # Imported here, not at the top, so that ProcessExecutor's workers, which run this script
    # as a module, do not import distributed too.
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=WORKERS, processes=True, threads_per_worker=threads, dashboard_address=None
    )


async def connect_seconds(cluster: LocalCluster, times: int = 5) -> float:
    """The median time to connect a client to the cluster and close it, as fmin does."""
    walls = []
    for _ in range(times):
        started = time.perf_counter()
        async with DaskExecutor(cluster).open(1):
            pass
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def rows(
    cluster: LocalCluster, label: str, objective: Objective, concurrency: int, sqlite: bool = False
) -> list[Setting]:
    """The same run with ProcessExecutor, with DaskExecutor, and as a bare Dask loop."""
    local = Setting(
        f"ProcessExecutor {label}", objective, concurrency, ProcessExecutor, sqlite=sqlite
    )
    dask = Setting(
        f"DaskExecutor {label}",
        objective,
        concurrency,
        lambda: DaskExecutor(cluster),
        sqlite=sqlite,
        reference=local,
    )
    if sqlite:
        return [local, dask]
    bare = Setting(
        f"bare Dask loop {label}", objective, concurrency, bare_dask=cluster, reference=local
    )
    return [local, dask, bare]


async def cpu_part(cluster: LocalCluster, trials: int, repeats: int, folder: Path) -> None:
    ideal = trials * CPU_SECONDS / WORKERS
    print(
        f"CPU-bound: {trials} trials of a {CPU_SECONDS * 1000:g} ms busy loop, random search, "
        f"in memory; {WORKERS} Dask workers x 1 thread; ideal wall {ideal:.2f} s; "
        f"best of {repeats}"
    )
    print(f"  connecting a client to the cluster: {await connect_seconds(cluster) * 1000:.0f} ms")
    settings = [
        setting
        for concurrency in CPU_CONCURRENCIES
        for setting in rows(cluster, "(plain def)", burn_cpu, concurrency)
    ]
    await measure(settings, trials, repeats, folder)
    print_table(settings, trials, ideal)


async def sleep_part(cluster: LocalCluster, trials: int, repeats: int, folder: Path) -> None:
    ideal = trials * SLEEP_SECONDS / SLEEP_CONCURRENCY
    print(
        f"Waiting: {trials} trials of a {SLEEP_SECONDS * 1000:g} ms sleep, random search, "
        f"concurrency {SLEEP_CONCURRENCY}; {WORKERS} Dask workers x {SLEEP_THREADS} "
        f"threads; ideal wall {ideal:.2f} s; best of {repeats}"
    )
    print(f"  connecting a client to the cluster: {await connect_seconds(cluster) * 1000:.0f} ms")
    settings = [
        *rows(cluster, "(plain def)", sleep_briefly, SLEEP_CONCURRENCY),
        *rows(cluster, "(plain def) sqlite", sleep_briefly, SLEEP_CONCURRENCY, sqlite=True),
    ]
    settings.append(
        Setting(
            "DaskExecutor (async def)",
            sleep_briefly_async,
            SLEEP_CONCURRENCY,
            lambda: DaskExecutor(cluster),
            reference=settings[0],
        )
    )
    await measure(settings, trials, repeats, folder)
    print_table(settings, trials, ideal)


def main(cpu_trials: int, sleep_trials: int, repeats: int) -> None:
    print(
        "driver CPU: CPU time of this process per trial (fmin; for Dask also the client and "
        "the scheduler)\nworkers CPU: CPU time of the worker processes per trial, objective "
        "included\n/Process: wall time over ProcessExecutor's with the same objective\n"
    )
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if cpu_trials > 0:
            with local_cluster(threads=1) as cluster:
                anyio.run(cpu_part, cluster, cpu_trials, repeats, folder)
        if sleep_trials > 0:
            with local_cluster(threads=SLEEP_THREADS) as cluster:
                anyio.run(sleep_part, cluster, sleep_trials, repeats, folder)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-trials", type=int, default=2000)
    parser.add_argument("--sleep-trials", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 100 trials of each, one repeat"
    )
    options = parser.parse_args()
    if options.quick:
        options.cpu_trials = min(options.cpu_trials, 100)
        options.sleep_trials = min(options.sleep_trials, 100)
        options.repeats = 1
    main(options.cpu_trials, options.sleep_trials, options.repeats)
