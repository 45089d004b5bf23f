"""Multi-objective TPE: hypervolume of asynchpo against Optuna 5's samplers, 1 and 8 in flight.

    .venv/bin/python benchmarks/multiobjective.py [--problems P,...] [--methods M,...]
        [--seeds 20] [--evals 200] [--in-flight 1,8] [--processes 2] [--json PATH]
        [--plot] [--quick]

The issue (17) asks for:

    "`benchmarks/multiobjective.py`: ZDT1, ZDT2, ZDT3 (30-D) and DTLZ2 (3 objectives), 200
    evaluations, 20 seeds, sequential and 8 in flight (virtual time), and one constrained
    problem (e.g. the constrained Binh-Korn or a constrained ZDT variant): median hypervolume
    (fixed reference point per problem) for asynchpo's multi-objective TPE, Optuna 5's
    `TPESampler` and `NSGAIISampler`, and random search. Target: asynchpo's median hypervolume
    higher than Optuna's TPE on every problem, sequential and in flight."

Needs the ``bench`` extra (Optuna 5). ``--quick``: 3 seeds, 100 evaluations (under 2 minutes).

**Problems** (``_mo_problems.py``, where each is defined and cited): ZDT1, ZDT2, ZDT3 with 30
variables in [0, 1], reference point (1.1, 11); DTLZ2 with 3 objectives and 12 variables
(k = 10), reference (1.1, 1.1, 1.1); the constrained Binh and Korn problem (x in [0, 5],
y in [0, 3], 2 objectives, 2 constraints written as values <= 0 when feasible), reference
(140, 50). Every variable is ``hp.uniform`` / ``suggest_float``. All objectives are minimised.

**Score**: the exact hypervolume (``asynchpo._pareto.hypervolume``) of the objective values of
the feasible trials among all the evaluations of a run, against the problem's fixed reference
point; the benchmark computes it from the values it evaluated, the same way for every method.
As a check, it also takes the hypervolume of each library's own ``study.best_trials`` and
reports the runs where the two differ. The tables give the median and the interquartile range
over the seeds, the median as a share of the hypervolume of the whole Pareto front (the
"ideal"), and, for asynchpo-tpe, on how many seeds it beats optuna-tpe (same seed, same
problem, same mode).

**Modes**, on a virtual clock (nothing sleeps), the simulator of ``hpolib.py``: k trials are
asked one after another at time 0 (each later ask sees the earlier ones pending); then the
running trial that ends first (ties: the one asked first) is told and one new trial is asked
at that time while fewer than N have been asked; at the end the remaining ones finish. The i-th
asked trial takes 1 + Exp(1) virtual seconds, drawn from the run's seed in ask order: the same
durations for every method and problem at a seed, so the same schedule. k = 1 is the sequential
mode (ask, evaluate, tell); k = 8 is "8 in flight".

**Methods** (seed = the run's seed):

* ``asynchpo-tpe``: ``tpe.suggest``, asynchpo's TPE, multi-objective when the study has several
  directions; ``random``: ``asynchpo.rand.suggest``. Through the public ask/tell as
  ``hpolib.py`` does: ``async with asynchpo.open_study(None, "s", space=..., algo=...,
  seed=seed, directions=["minimize"] * k) as study``, ``await study.ask()``, then
  ``await study.tell(trial, [f1, f2])``, or with constraints ``await study.tell(trial,
  {"loss": [f1, f2], "constraints": [c1, c2]})`` (memory storage, one event loop per run).
* ``optuna-tpe``: ``TPESampler(seed=seed)``, Optuna 5's defaults as a user would run it: 10
  start-up trials, the independent (not multivariate) TPE, which is Optuna's default with
  several objectives, and ``constant_liar=True``, Optuna 5's default (so with 8 in flight, its
  running trials are penalised); ``optuna-nsga2``: ``NSGAIISampler(seed=seed)`` (population
  50); ``optuna-random``: ``RandomSampler(seed=seed)``. ``optuna.create_study(directions=
  ["minimize"] * k, sampler=...)`` in memory, driven by ``study.ask()`` / ``study.tell(trial,
  values)``; asked, not yet told = running. On the constrained problem, TPE and NSGA-II get a
  ``constraints_func`` that reads the values the benchmark stored in the trial's user
  attributes before ``tell``. (Optuna 5 deprecates ``constraints_func`` in favour of
  ``Trial.set_constraint``; both store the values where the samplers read them.) Random search
  ignores constraints; its trials get ``set_constraint`` so that its ``best_trials`` (the check
  below) are feasible.

Every run is written to ``benchmarks/results/multiobjective.json`` (``--json``): per run the
objective values (and constraint values) of every trial in ask order. ``--plot`` also writes
``benchmarks/results/multiobjective-<problem>.png``: the feasible front of each method's
median-hypervolume seed, per mode (DTLZ2: its points projected on f1 and f2).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import heapq
import json
import math
import time
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from _common import (
    format_table,
    installed,
    number,
    progress,
    quartiles,
    run_in_pool,
    select_methods,
)
from _mo_problems import MO_PROBLEMS, MOProblem, select_mo_problems

import asynchpo
from asynchpo import hp, rand, tpe
from asynchpo._pareto import hypervolume, pareto_front

METHODS = ("asynchpo-tpe", "random", "optuna-tpe", "optuna-nsga2", "optuna-random")
ASYNCHPO_METHODS = ("asynchpo-tpe", "random")
OPTUNA_METHODS = ("optuna-tpe", "optuna-nsga2", "optuna-random")
OURS, THEIRS = "asynchpo-tpe", "optuna-tpe"
DURATION_STREAM = 17  # mixed into the seed of the durations, apart from the methods' streams
RESULTS = Path(__file__).resolve().parent / "results"

FloatArray = npt.NDArray[np.float64]


# --- the methods, as ask/tell searchers -------------------------------------------------------


class Searcher(Protocol):
    """A method seen from the simulator."""

    async def ask(self) -> tuple[object, FloatArray]:
        """A new trial: its handle and its variables as a vector."""
        ...

    async def tell(self, handle: object, objectives: FloatArray, constraints: FloatArray) -> None:
        """The objective and constraint values of a trial asked before."""
        ...

    def front_values(self) -> list[list[float]]:
        """The objective values of the library's own best trials (its Pareto front)."""
        ...


class AsynchpoSearcher:
    """An open asynchpo study, through its public ask and tell."""

    def __init__(self, study: asynchpo.Study, problem: MOProblem) -> None:
        self.study = study
        self.problem = problem

    async def ask(self) -> tuple[object, FloatArray]:
        trial = await self.study.ask()
        params = trial.params
        if not isinstance(params, dict):
            raise TypeError(f"asynchpo gave {params!r}, not a dict")
        return trial, self.problem.vector(params)

    async def tell(self, handle: object, objectives: FloatArray, constraints: FloatArray) -> None:
        assert isinstance(handle, asynchpo.RunningTrial)
        losses = [float(v) for v in objectives]
        if self.problem.n_constraints:
            result = {"loss": losses, "constraints": [float(c) for c in constraints]}
            await self.study.tell(handle, result)
        else:
            await self.study.tell(handle, losses)

    def front_values(self) -> list[list[float]]:
        return [list(t.values) for t in self.study.best_trials if t.values is not None]


def _stored_constraints(trial: Any) -> list[float]:
    """Optuna's ``constraints_func``: the values stored with the trial before ``tell``."""
    return list(trial.user_attrs["constraints"])


class OptunaSearcher:
    """An Optuna study through ``ask`` and ``tell``; the asked, untold trials are running."""

    def __init__(self, method: str, problem: MOProblem, seed: int) -> None:
        import optuna

        self.method = method
        self.problem = problem
        constraints = _stored_constraints if problem.n_constraints else None
        with warnings.catch_warnings():  # constraints_func's FutureWarning (Optuna 5)
            warnings.simplefilter("ignore", FutureWarning)
            sampler: Any
            if method == "optuna-tpe":
                sampler = optuna.samplers.TPESampler(seed=seed, constraints_func=constraints)
            elif method == "optuna-nsga2":
                sampler = optuna.samplers.NSGAIISampler(seed=seed, constraints_func=constraints)
            elif method == "optuna-random":
                sampler = optuna.samplers.RandomSampler(seed=seed)
            else:
                raise ValueError(f"not an Optuna method: {method}")
        self.study = optuna.create_study(
            directions=["minimize"] * problem.n_objectives, sampler=sampler
        )

    async def ask(self) -> tuple[object, FloatArray]:
        trial = self.study.ask()
        return trial, self.problem.suggest_optuna(trial)

    async def tell(self, handle: object, objectives: FloatArray, constraints: FloatArray) -> None:
        import optuna

        assert isinstance(handle, optuna.trial.Trial)
        if self.problem.n_constraints:
            values = [float(c) for c in constraints]
            if self.method == "optuna-random":
                # RandomSampler takes no constraints_func: give the values to the trial, so
                # that study.best_trials leaves the infeasible trials out.
                for i, value in enumerate(values):
                    handle.set_constraint(f"c{i + 1}", value)
            else:
                handle.set_user_attr("constraints", values)
        self.study.tell(handle, [float(v) for v in objectives])

    def front_values(self) -> list[list[float]]:
        return [list(t.values) for t in self.study.best_trials]


def asynchpo_algo(method: str) -> asynchpo.Suggester:
    """The asynchpo algorithm of a method."""
    if method == "asynchpo-tpe":
        return tpe.suggest
    if method == "random":
        return rand.suggest
    raise ValueError(f"not an asynchpo method: {method}")


# --- the simulator ----------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """The asked trials of one run, in ask order."""

    objectives: list[list[float]] = dataclasses.field(default_factory=list)
    constraints: list[list[float]] = dataclasses.field(default_factory=list)
    ends: list[float] = dataclasses.field(default_factory=list)
    library_front: list[list[float]] = dataclasses.field(default_factory=list)


def durations(seed: int, evals: int) -> FloatArray:
    """The virtual durations of the trials of a run, in ask order: 1 + Exp(1) seconds."""
    rng = np.random.default_rng([DURATION_STREAM, seed])
    return np.asarray(1.0 + rng.exponential(1.0, size=evals), dtype=np.float64)


async def simulate(
    searcher: Searcher, problem: MOProblem, workers: int, evals: int, seed: int
) -> Run:
    """Ask ``evals`` trials with ``workers`` running at once, on a virtual clock (seconds)."""
    run = Run()
    taken = durations(seed, evals)
    running: dict[int, object] = {}  # ask order -> handle
    results: dict[int, tuple[FloatArray, FloatArray]] = {}
    ends: list[tuple[float, int]] = []  # (end time, ask order): a heap

    async def launch(now: float) -> None:
        handle, x = await searcher.ask()
        order = len(run.ends)
        objectives, constraints = problem.evaluate(x)
        end = now + float(taken[order])
        run.objectives.append([float(v) for v in objectives])
        run.constraints.append([float(c) for c in constraints])
        run.ends.append(end)
        running[order] = handle
        results[order] = (objectives, constraints)
        heapq.heappush(ends, (end, order))

    while len(run.ends) < min(workers, evals):
        await launch(0.0)
    while ends:
        now, order = heapq.heappop(ends)
        await searcher.tell(running.pop(order), *results.pop(order))
        if len(run.ends) < evals:
            await launch(now)
    run.library_front = searcher.front_values()
    return run


async def run_asynchpo(method: str, problem: MOProblem, workers: int, evals: int, seed: int) -> Run:
    """A run of an asynchpo method: one in-memory study."""
    async with asynchpo.open_study(
        None,
        "s",
        space=problem.hp_space(hp),
        algo=asynchpo_algo(method),
        seed=seed,
        directions=["minimize"] * problem.n_objectives,
    ) as study:
        return await simulate(AsynchpoSearcher(study, problem), problem, workers, evals, seed)


# --- scoring ----------------------------------------------------------------------------------


def feasible_points(
    problem: MOProblem,
    objectives: Sequence[Sequence[float]],
    constraints: Sequence[Sequence[float]],
) -> FloatArray:
    """The objective values of the feasible trials, ``(m, k)``."""
    points = np.asarray(objectives, dtype=np.float64).reshape(-1, problem.n_objectives)
    if not problem.n_constraints:
        return points
    values = np.asarray(constraints, dtype=np.float64).reshape(-1, problem.n_constraints)
    return np.asarray(points[np.all(values <= 0, axis=1)], dtype=np.float64)


def run_hypervolume(problem: MOProblem, points: FloatArray) -> float:
    """The hypervolume of feasible points against the problem's reference (0 for none)."""
    if len(points) == 0:
        return 0.0
    return hypervolume(points, np.asarray(problem.reference))


# --- jobs -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Job:
    """One simulated run."""

    problem: str
    method: str
    workers: int
    seed: int
    evals: int


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One run: every trial's objective and constraint values, in ask order."""

    problem: str
    method: str
    workers: int
    seed: int
    objectives: list[list[float]]
    constraints: list[list[float]]
    hypervolume: float
    feasible: int
    library_hypervolume: float  # of the library's own best_trials
    seconds: float  # CPU seconds of the run (objective, method and bookkeeping)


def _rounded(rows: list[list[float]]) -> list[list[float]]:
    return [[float(f"{v:.8g}") for v in row] for row in rows]


def run_job(job: Job) -> Outcome:
    """Simulate one run (in a worker process)."""
    started = time.process_time()  # this process's CPU time: the cost, whatever the load
    problem = MO_PROBLEMS[job.problem]
    if job.method in ASYNCHPO_METHODS:
        run = asyncio.run(run_asynchpo(job.method, problem, job.workers, job.evals, job.seed))
    elif job.method in OPTUNA_METHODS:
        searcher = OptunaSearcher(job.method, problem, job.seed)
        run = asyncio.run(simulate(searcher, problem, job.workers, job.evals, job.seed))
    else:
        raise ValueError(f"unknown method {job.method}")
    seconds = time.process_time() - started
    points = feasible_points(problem, run.objectives, run.constraints)
    library = np.asarray(run.library_front, dtype=np.float64).reshape(-1, problem.n_objectives)
    return Outcome(
        problem=job.problem,
        method=job.method,
        workers=job.workers,
        seed=job.seed,
        objectives=_rounded(run.objectives),
        constraints=_rounded(run.constraints),
        hypervolume=run_hypervolume(problem, points),
        feasible=len(points),
        library_hypervolume=run_hypervolume(problem, library),
        seconds=seconds,
    )


# --- the report -------------------------------------------------------------------------------


def mode_name(workers: int) -> str:
    """How a table names a mode."""
    return "sequential" if workers == 1 else f"{workers} in flight (virtual time)"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The target at one problem and mode."""

    problem: str
    workers: int
    ours: float
    theirs: float
    wins: int
    seeds: int

    @property
    def met(self) -> bool:
        return self.ours > self.theirs

    def line(self) -> str:
        return (
            f"target {self.problem}, {mode_name(self.workers)}: median hypervolume "
            f"{OURS} {number(self.ours, 6)} vs {THEIRS} {number(self.theirs, 6)}: "
            f"{'met' if self.met else 'NOT MET'} ({OURS} higher on {self.wins}/{self.seeds} "
            "seeds)"
        )


def cell_report(
    problem: MOProblem,
    workers: int,
    evals: int,
    methods: Sequence[str],
    runs: Mapping[tuple[str, int], Outcome],
    seeds: Sequence[int],
) -> tuple[str, Verdict | None]:
    """The table of one problem and mode, and its target verdict (None without both methods)."""
    headers = ["method", "median HV", "q25", "q75", "IQR", "% of ideal", "CPU s/run"]
    if problem.n_constraints:
        headers.insert(6, "feasible")
    rows = []
    medians: dict[str, float] = {}
    for method in methods:
        here = [runs[method, s] for s in seeds if (method, s) in runs]
        if not here:
            continue
        q25, q50, q75 = quartiles([o.hypervolume for o in here])
        medians[method] = q50
        row = [
            method,
            number(q50, 6),
            number(q25, 6),
            number(q75, 6),
            number(q75 - q25, 3),
            f"{100 * q50 / problem.ideal:.2f}",
            f"{float(np.median([o.seconds for o in here])):.2f}",
        ]
        if problem.n_constraints:
            row.insert(6, f"{float(np.median([o.feasible for o in here])):.0f}")
        rows.append(row)
    constraints = f", {problem.n_constraints} constraints" if problem.n_constraints else ""
    title = (
        f"{problem.name} ({len(problem.lows)} variables, {problem.n_objectives} objectives"
        f"{constraints}), {mode_name(workers)}: {evals} evaluations, {len(seeds)} seeds; "
        f"reference {tuple(problem.reference)}, ideal HV {number(problem.ideal, 6)}"
    )
    text = f"{title}\n{format_table(headers, rows, left=(0,))}"
    if OURS not in medians or THEIRS not in medians:
        return text, None
    paired = [s for s in seeds if (OURS, s) in runs and (THEIRS, s) in runs]
    wins = sum(runs[OURS, s].hypervolume > runs[THEIRS, s].hypervolume for s in paired)
    verdict = Verdict(problem.name, workers, medians[OURS], medians[THEIRS], wins, len(paired))
    return f"{text}\n  {verdict.line()}", verdict


def plot_fronts(
    problem: MOProblem,
    levels: Sequence[int],
    methods: Sequence[str],
    outcomes: Sequence[Outcome],
    path: Path,
) -> None:
    """One PNG: a panel per mode, each method's feasible front at its median-HV seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(levels), figsize=(5 * len(levels), 4), squeeze=False)
    for axis, workers in zip(axes[0], levels, strict=True):
        for method in methods:
            here = sorted(
                (o for o in outcomes if o.method == method and o.workers == workers),
                key=lambda o: o.hypervolume,
            )
            if not here:
                continue
            median = here[(len(here) - 1) // 2]
            points = feasible_points(problem, median.objectives, median.constraints)
            front = points[pareto_front(points)] if len(points) else points
            front = front[np.argsort(front[:, 0])] if len(front) else front
            style = ".-" if problem.n_objectives == 2 else "."  # 3 objectives: a projection
            axis.plot(front[:, 0], front[:, 1], style, label=f"{method} (seed {median.seed})")
        axis.set_xlim(right=problem.reference[0])
        axis.set_ylim(top=problem.reference[1])
        axis.set_title(mode_name(workers))
        axis.set_xlabel("f1")
        axis.set_ylabel("f2")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize="x-small")
    figure.suptitle(f"{problem.name}: feasible front of the median-hypervolume seed")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


# --- the command line -------------------------------------------------------------------------


def available_methods() -> list[str]:
    """The methods that can run here."""
    names = list(ASYNCHPO_METHODS)
    if installed("optuna"):
        names += list(OPTUNA_METHODS)
    return names


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--problems", help=f"comma-separated, among {', '.join(MO_PROBLEMS)}")
    parser.add_argument("--methods", help=f"comma-separated, among {', '.join(METHODS)}")
    parser.add_argument("--seeds", type=int, help="seeds 0 to N-1 (default 20; --quick 3)")
    parser.add_argument("--evals", type=int, help="evaluations per run (default 200; --quick 100)")
    parser.add_argument(
        "--in-flight", default="1,8", help="trials in flight k, 1 = sequential (default 1,8)"
    )
    parser.add_argument("--processes", type=int, default=2, help="pool processes (default 2)")
    parser.add_argument("--json", type=Path, help="where to write every run (default in results/)")
    parser.add_argument("--plot", action="store_true", help="write a PNG of the fronts per problem")
    parser.add_argument(
        "--quick", action="store_true", help="3 seeds, 100 evaluations (explicit options apply)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark, print the tables and the targets, write the JSON (and the plots)."""
    options = parse_arguments(argv)
    problems = select_mo_problems(options.problems)
    methods = select_methods(options.methods, METHODS, available_methods())
    levels = sorted({int(part) for part in options.in_flight.split(",") if part.strip()})
    if not levels or levels[0] < 1:
        raise SystemExit(f"--in-flight takes positive numbers, got {options.in_flight!r}")
    seeds = list(range(options.seeds or (3 if options.quick else 20)))
    evals = options.evals or (100 if options.quick else 200)
    suffix = "-quick" if options.quick else ""
    json_path = options.json or RESULTS / f"multiobjective{suffix}.json"

    def cost(job: Job) -> int:  # the slow runs first
        return {"optuna-tpe": 0, "asynchpo-tpe": 1}.get(job.method, 2)

    jobs = sorted(
        (
            Job(p.name, method, workers, seed, evals)
            for p in problems
            for workers in levels
            for method in methods
            for seed in seeds
        ),
        key=cost,
    )
    progress(
        f"{len(jobs)} runs: problems {', '.join(p.name for p in problems)}; methods "
        f"{', '.join(methods)}; k {levels}; {len(seeds)} seeds; {evals} evaluations; "
        f"{options.processes} processes"
    )
    started = time.perf_counter()
    outcomes = run_in_pool(
        jobs,
        options.processes,
        run_job,
        lambda j: f"{j.problem} {j.method} k={j.workers} seed {j.seed}",
        lambda o: f"HV {number(o.hypervolume, 6)} ({o.seconds:.1f} CPU s)",
    )
    elapsed = time.perf_counter() - started
    progress(f"runs done in {elapsed:.0f} s")

    seconds: dict[str, float] = defaultdict(float)
    for o in outcomes:
        seconds[o.method] += o.seconds
    print(
        f"Multi-objective benchmark: {len(seeds)} seeds, {evals} evaluations per run, "
        f"k = {levels}; {len(outcomes)} of {len(jobs)} runs in {elapsed:.0f} s on "
        f"{options.processes} processes (CPU seconds per method: "
        + ", ".join(f"{m} {seconds[m]:.0f}" for m in methods)
        + ")\nHV = hypervolume of the feasible trials' objective values against the fixed "
        "reference point (higher is better); IQR = q75 - q25 over the seeds; % of ideal = "
        "median HV / HV of the whole Pareto front\n"
    )
    verdicts: list[Verdict] = []
    for problem in problems:
        for workers in levels:
            runs = {
                (o.method, o.seed): o
                for o in outcomes
                if o.problem == problem.name and o.workers == workers
            }
            text, verdict = cell_report(problem, workers, evals, methods, runs, seeds)
            print(text)
            print()
            if verdict is not None:
                verdicts.append(verdict)
        if options.plot:
            path = RESULTS / f"multiobjective{suffix}-{problem.name}.png"
            here = [o for o in outcomes if o.problem == problem.name]
            plot_fronts(problem, levels, methods, here, path)
            progress(f"wrote {path}")
    if verdicts:
        met = sum(v.met for v in verdicts)
        print(
            f"Targets ({OURS} median HV > {THEIRS} median HV): {met}/{len(verdicts)} met"
            + (
                ""
                if met == len(verdicts)
                else "; NOT MET: "
                + ", ".join(f"{v.problem} {mode_name(v.workers)}" for v in verdicts if not v.met)
            )
        )
    mismatches = [
        o
        for o in outcomes
        if not math.isclose(o.hypervolume, o.library_hypervolume, rel_tol=1e-9, abs_tol=1e-12)
    ]
    print(
        f"Check: the hypervolume of each library's own best_trials equals the benchmark's in "
        f"{len(outcomes) - len(mismatches)}/{len(outcomes)} runs"
        + "".join(
            f"\n  differs: {o.problem} {o.method} k={o.workers} seed {o.seed}: "
            f"{number(o.library_hypervolume, 8)} vs {number(o.hypervolume, 8)}"
            for o in mismatches[:10]
        )
    )
    payload = {
        "problems": [p.name for p in problems],
        "references": {p.name: list(p.reference) for p in problems},
        "methods": methods,
        "workers": levels,
        "seeds": len(seeds),
        "evals": evals,
        "runs": [dataclasses.asdict(o) for o in outcomes],
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(payload, separators=(",", ":")) + "\n", encoding="utf-8")
    progress(f"wrote {json_path}")


if __name__ == "__main__":
    main()
