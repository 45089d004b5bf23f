"""Parallel search: the best loss with 8 and 32 evaluations in flight, against sequential search.

    .venv/bin/python benchmarks/tpe_parallel.py [--seeds 10] [--in-flight 8,32]
        [--methods M,...] [--problems P,...] [--evals N] [--workers 2] [--json results.json]

Evaluation times are simulated on a virtual clock. A run keeps k trials in flight; each takes a
duration drawn from a lognormal distribution (the same durations, in launch order, for every
method with a given seed) and the completions are processed in order of simulated end time.
On each completion the result is given to the method, and a new point is asked for while the
other k - 1 trials are still running. k = 1 is the sequential baseline.

* asynchpo methods are called directly, as ``fmin`` does with ``concurrency=k``:
  ``algo(space, history, pending, trial_rng(seed, trial_id))`` with a ``HistoryBuffer`` of the
  finished trials and the rows in flight as ``pending``. ``asynchpo-tpe`` and
  ``asynchpo-tpe-nolie`` are ``tpe.suggest`` with ``constant_liar=True`` and ``False``.
* ``optuna-tpe`` and ``optuna-tpe-nolie``: ``study.ask()`` / ``study.tell()`` with
  ``TPESampler(seed=seed, constant_liar=True)`` and ``False``; the running trials are the asked
  but not yet told ones.
* ``hyperopt-tpe``: ``hyperopt.tpe.suggest`` on a ``Trials`` that holds the running trials as
  ``JOB_STATE_RUNNING`` documents, as hyperopt's asynchronous back ends do.

The report gives, per problem and method, the median best loss at each k next to the
sequential median and the sequential seed-to-seed spread (interquartile range), and the mean
number of duplicate points per run: trials whose evaluated parameters equal an earlier trial's.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import heapq
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt
from _common import (
    add_run_arguments,
    asynchpo_suggesters,
    asynchpo_tpe,
    format_table,
    installed,
    number,
    params_key,
    progress,
    quartiles,
    run_in_pool,
    select_methods,
    write_json,
)
from _problems import Params, Problem, select_problems

from asynchpo import compile_space
from asynchpo._suggesters._base import FloatArray, HistoryBuffer, Suggester, trial_rng

METHODS = (
    "asynchpo-tpe",
    "asynchpo-tpe-nolie",
    "asynchpo-anneal",
    "random",
    "hyperopt-tpe",
    "optuna-tpe",
    "optuna-tpe-nolie",
)

# The evaluation times: lognormal(mu, sigma), in arbitrary time units.
DURATION_MU = 0.0
DURATION_SIGMA = 0.5


def parallel_suggesters() -> dict[str, Suggester]:
    """The asynchpo methods that import; TPE with and without the constant liar."""
    methods: dict[str, Suggester] = {}
    tpe = asynchpo_tpe()
    if tpe is not None:
        methods["asynchpo-tpe"] = functools.partial(tpe, constant_liar=True)
        methods["asynchpo-tpe-nolie"] = functools.partial(tpe, constant_liar=False)
    others = asynchpo_suggesters()
    others.pop("asynchpo-tpe", None)
    return methods | others


def available_methods() -> list[str]:
    """The methods of :data:`METHODS` that can run in this environment."""
    names = list(parallel_suggesters())
    if installed("hyperopt"):
        names.append("hyperopt-tpe")
    if installed("optuna"):
        names += ["optuna-tpe", "optuna-tpe-nolie"]
    return names


# --- the methods, as ask/tell searchers -------------------------------------------------------


class Searcher(Protocol):
    """A method seen from the simulator: ask for a point, later tell its loss."""

    def ask(self) -> tuple[int, Params]:
        """A new trial: its token and its evaluated parameters."""
        ...

    def tell(self, token: int, loss: float) -> None:
        """The loss of the trial with this token, which is no longer running."""
        ...


class AsynchpoSearcher:
    """An asynchpo suggester, called with the finished trials and the rows in flight."""

    def __init__(self, problem: Problem, algo: Suggester, seed: int) -> None:
        self.space = compile_space(problem.asynchpo_space())
        self.algo = algo
        self.seed = seed
        self.history = HistoryBuffer(len(self.space))
        self.running: dict[int, FloatArray] = {}
        self.next_id = 0

    def ask(self) -> tuple[int, Params]:
        trial_id = self.next_id
        self.next_id += 1
        pending = np.array(list(self.running.values())).reshape(-1, len(self.space))
        rng = trial_rng(self.seed, trial_id)
        row = np.asarray(self.algo(self.space, self.history.snapshot(), pending, rng), float)
        self.running[trial_id] = row
        return trial_id, cast(Params, self.space.evaluate(self.space.to_point(row)))

    def tell(self, token: int, loss: float) -> None:
        self.history.append(token, self.running.pop(token), loss)


class OptunaSearcher:
    """Optuna's TPE through ask and tell; asked-but-not-told trials are the running ones."""

    def __init__(self, problem: Problem, seed: int, constant_liar: bool) -> None:
        import optuna

        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=constant_liar)
        self.study = optuna.create_study(sampler=sampler)
        self.problem = problem
        self.running: dict[int, Any] = {}

    def ask(self) -> tuple[int, Params]:
        trial = self.study.ask()
        params = self.problem.suggest_optuna(trial)
        self.running[trial.number] = trial
        return int(trial.number), params

    def tell(self, token: int, loss: float) -> None:
        self.study.tell(self.running.pop(token), loss)


class HyperoptSearcher:
    """hyperopt's TPE on a ``Trials`` holding the running trials, as its async back ends do.

    ``tpe.suggest`` counts the running trials as observations with an infinite loss.
    """

    def __init__(self, problem: Problem, seed: int) -> None:
        import hyperopt

        self.hyperopt = hyperopt
        self.space = problem.hyperopt_space()
        self.domain = hyperopt.base.Domain(problem.objective, self.space)
        self.trials = hyperopt.Trials()
        self.rstate = np.random.default_rng(seed)
        self.running: dict[int, dict[str, Any]] = {}

    def ask(self) -> tuple[int, Params]:
        hyperopt = self.hyperopt
        [tid] = self.trials.new_trial_ids(1)
        seed = int(self.rstate.integers(2**31 - 1))  # as hyperopt.fmin seeds each suggestion
        [doc] = hyperopt.tpe.suggest([tid], self.domain, self.trials, seed)
        doc["state"] = hyperopt.JOB_STATE_RUNNING
        self.trials.insert_trial_docs([doc])
        self.trials.refresh()
        self.running[tid] = self.trials._dynamic_trials[-1]  # the stored copy of the doc
        point = {label: values[0] for label, values in doc["misc"]["vals"].items() if values}
        params: Params = hyperopt.space_eval(self.space, point)
        return int(tid), params

    def tell(self, token: int, loss: float) -> None:
        doc = self.running.pop(token)
        doc["state"] = self.hyperopt.JOB_STATE_DONE
        doc["result"] = {"loss": loss, "status": self.hyperopt.STATUS_OK}
        self.trials.refresh()


def make_searcher(method: str, problem: Problem, seed: int) -> Searcher:
    """The searcher of a method on a problem."""
    if method == "hyperopt-tpe":
        return HyperoptSearcher(problem, seed)
    if method in ("optuna-tpe", "optuna-tpe-nolie"):
        return OptunaSearcher(problem, seed, constant_liar=method == "optuna-tpe")
    return AsynchpoSearcher(problem, parallel_suggesters()[method], seed)


# --- the simulator ------------------------------------------------------------------------------


def durations(seed: int, n: int) -> npt.NDArray[np.float64]:
    """The evaluation times of the trials of a seed, in launch order (the same for every method)."""
    return np.random.default_rng([seed, 0x7D]).lognormal(DURATION_MU, DURATION_SIGMA, n)


def simulate(
    searcher: Searcher,
    objective: Callable[[Params], float],
    budget: int,
    in_flight: int,
    times: npt.NDArray[np.float64],
) -> list[tuple[str, float]]:
    """Run ``budget`` trials with ``in_flight`` at a time on a virtual clock.

    :returns: each trial's parameter key and loss, in launch order.
    """
    launched: list[tuple[str, float]] = []
    running: dict[int, tuple[int, float]] = {}  # launch index -> (token, loss)
    ends: list[tuple[float, int]] = []  # (end time, launch index): a heap

    def launch(now: float) -> None:
        token, params = searcher.ask()
        loss = float(objective(params))
        index = len(launched)
        launched.append((params_key(params), loss))
        running[index] = (token, loss)
        heapq.heappush(ends, (now + float(times[index]), index))

    while len(launched) < min(in_flight, budget):
        launch(0.0)
    while ends:
        now, index = heapq.heappop(ends)
        token, loss = running.pop(index)
        searcher.tell(token, loss)
        if len(launched) < budget:
            launch(now)
    return launched


def count_duplicates(keys: Sequence[str]) -> int:
    """How many trials repeat the parameters of an earlier trial."""
    return len(keys) - len(set(keys))


# --- jobs and the report ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Job:
    """One simulated run."""

    problem: Problem
    method: str
    seed: int
    in_flight: int
    evals: int


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one simulated run found."""

    problem: str
    method: str
    seed: int
    in_flight: int
    losses: list[float]
    best_loss: float
    duplicates: int
    seconds: float


def run_job(job: Job) -> Outcome:
    """Simulate one run (in a worker process)."""
    started = time.perf_counter()
    searcher = make_searcher(job.method, job.problem, job.seed)
    trials = simulate(
        searcher, job.problem.objective, job.evals, job.in_flight, durations(job.seed, job.evals)
    )
    losses = [loss for _, loss in trials]
    return Outcome(
        problem=job.problem.name,
        method=job.method,
        seed=job.seed,
        in_flight=job.in_flight,
        losses=losses,
        best_loss=min(losses),
        duplicates=count_duplicates([key for key, _ in trials]),
        seconds=time.perf_counter() - started,
    )


def run_all(jobs: Sequence[Job], workers: int) -> list[Outcome]:
    """Run the jobs on a process pool, reporting each one on stderr as it finishes."""
    return run_in_pool(
        jobs,
        workers,
        run_job,
        lambda job: f"{job.problem.name} {job.method} k={job.in_flight} seed {job.seed}",
        lambda outcome: (
            f"best {number(outcome.best_loss)}, {outcome.duplicates} duplicates "
            f"({outcome.seconds:.1f} s)"
        ),
    )


def problem_report(
    problem: Problem,
    evals: int,
    methods: Sequence[str],
    levels: Sequence[int],
    outcomes: Sequence[Outcome],
) -> str:
    """The table of one problem: medians per level of parallelism, spread, duplicates."""
    runs: dict[tuple[str, int], list[Outcome]] = defaultdict(list)
    for o in outcomes:
        if o.problem == problem.name:
            runs[o.method, o.in_flight].append(o)

    def median(method: str, k: int) -> str:
        found = runs[method, k]
        return number(quartiles([o.best_loss for o in found])[1], 4) if found else "-"

    def spread(method: str) -> str:
        found = runs[method, 1]
        if not found:
            return "-"
        q25, _, q75 = quartiles([o.best_loss for o in found])
        return number(q75 - q25, 3)

    def duplicates(method: str, k: int) -> str:
        found = runs[method, k]
        return f"{np.mean([o.duplicates for o in found]):.1f}" if found else "-"

    headers = ["method", "k=1 median", "k=1 IQR"]
    headers += [f"k={k} median" for k in levels]
    headers += [f"dups k={k}" for k in (1, *levels)]
    rows = [
        [
            method,
            median(method, 1),
            spread(method),
            *(median(method, k) for k in levels),
            *(duplicates(method, k) for k in (1, *levels)),
        ]
        for method in methods
    ]
    title = (
        f"{problem.name}: {evals} evals, minimum {number(problem.minimum)}; "
        "median best loss over seeds, mean duplicate points per run"
    )
    return f"{title}\n{format_table(headers, rows)}"


def parse_levels(text: str) -> list[int]:
    """The ``--in-flight`` list: whole numbers above 1."""
    levels = sorted({int(part) for part in text.split(",") if part.strip()})
    if not levels or levels[0] < 2:
        raise SystemExit(f"--in-flight takes numbers of trials in flight above 1, got {text!r}")
    return levels


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_run_arguments(parser, METHODS, default_seeds=10)
    parser.add_argument(
        "--in-flight", default="8,32", help="trials in flight besides 1 (default 8,32)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the report."""
    options = parse_arguments(argv)
    methods = select_methods(options.methods, METHODS, available_methods())
    problems = select_problems(options.problems)
    levels = parse_levels(options.in_flight)
    evals = {p.name: options.evals or p.budget for p in problems}
    jobs = [
        Job(problem, method, seed, k, evals[problem.name])
        for problem in problems
        for k in sorted((1, *levels), reverse=True)  # the slowest first, for the pool
        for seed in range(options.seeds)
        for method in methods
    ]
    progress(f"{len(jobs)} runs: methods {', '.join(methods)}; {options.workers} workers")
    started = time.perf_counter()
    outcomes = run_all(jobs, options.workers)
    progress(f"done in {time.perf_counter() - started:.0f} s")
    print(
        f"evaluation times: lognormal(mu={DURATION_MU}, sigma={DURATION_SIGMA}); "
        f"{options.seeds} seeds; k = trials in flight\n"
    )
    print(
        "\n\n".join(problem_report(p, evals[p.name], methods, levels, outcomes) for p in problems)
    )
    if options.json is not None:
        payload = {
            "seeds": options.seeds,
            "in_flight": [1, *levels],
            "evals": evals,
            "runs": [dataclasses.asdict(o) for o in outcomes],
        }
        write_json(options.json, payload)


if __name__ == "__main__":
    main()
