"""Search quality: the best loss each method reaches within a problem's budget, over many seeds.

    .venv/bin/python benchmarks/tpe_quality.py [--seeds 20] [--methods M,...] [--problems P,...]
        [--evals N] [--workers 2] [--json results.json]

Each (problem, method, seed) job is one sequential search run the way a user runs it:

* asynchpo methods (``asynchpo-tpe`` when ``asynchpo.tpe`` imports, ``asynchpo-anneal``,
  ``random``): ``asynchpo.fmin_sync(objective, space, algo=..., max_evals=..., seed=seed)``,
  in memory;
* ``hyperopt-tpe``: ``hyperopt.fmin(..., algo=hyperopt.tpe.suggest,
  rstate=np.random.default_rng(seed))``;
* ``optuna-tpe``: ``study.optimize`` with ``TPESampler(seed=seed)`` and Optuna's defaults.

The jobs run on a process pool. The report gives, per problem and method, the quartiles of the
best loss over the seeds and the mean rank (the rank among the methods on each seed, averaged),
then the mean ranks of all problems and overall; for the conditional problem, how many runs
ended with their best trial in the best branch. ``--json`` saves every run's losses.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from _common import (
    add_run_arguments,
    asynchpo_suggesters,
    format_table,
    installed,
    mean_ranks,
    number,
    progress,
    quartiles,
    run_in_pool,
    select_methods,
    write_json,
)
from _problems import Params, Problem, select_problems

from asynchpo import compile_space, fmin_sync
from asynchpo._suggesters._base import Suggester

METHODS = ("asynchpo-tpe", "asynchpo-anneal", "random", "hyperopt-tpe", "optuna-tpe")


def available_methods() -> list[str]:
    """The methods of :data:`METHODS` that can run in this environment."""
    names = list(asynchpo_suggesters())
    if installed("hyperopt"):
        names.append("hyperopt-tpe")
    if installed("optuna"):
        names.append("optuna-tpe")
    return names


@dataclasses.dataclass(frozen=True)
class Job:
    """One search: a method on a problem with a seed and a number of evaluations."""

    problem: Problem
    method: str
    seed: int
    evals: int


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one search found."""

    problem: str
    method: str
    seed: int
    losses: list[float]
    best_loss: float
    best_params: Any
    reached: bool | None
    seconds: float


class Recorder:
    """The objective, keeping every evaluated point and loss in order."""

    def __init__(self, objective: Callable[[Params], float]) -> None:
        self.objective = objective
        self.params: list[Any] = []
        self.losses: list[float] = []

    def __call__(self, params: Params) -> float:
        loss = float(self.objective(params))
        self.params.append(params)
        self.losses.append(loss)
        return loss


def run_asynchpo(job: Job, algo: Suggester, recorder: Recorder) -> None:
    """Search with ``asynchpo.fmin_sync``, in memory."""
    space = job.problem.asynchpo_space()
    fmin_sync(recorder, space, algo=algo, max_evals=job.evals, seed=job.seed)


def run_hyperopt(job: Job, recorder: Recorder) -> None:
    """Search with ``hyperopt.fmin`` and its TPE."""
    import hyperopt

    hyperopt.fmin(
        recorder,
        job.problem.hyperopt_space(),
        algo=hyperopt.tpe.suggest,
        max_evals=job.evals,
        trials=hyperopt.Trials(),
        rstate=np.random.default_rng(job.seed),
        show_progressbar=False,
        verbose=False,
    )


def run_optuna(job: Job, recorder: Recorder) -> None:
    """Search with Optuna's default TPE sampler."""
    import optuna

    sampler = optuna.samplers.TPESampler(seed=job.seed)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda trial: recorder(job.problem.suggest_optuna(trial)), n_trials=job.evals)


def run_job(job: Job) -> Outcome:
    """Run one search (in a worker process) and summarize it."""
    recorder = Recorder(job.problem.objective)
    started = time.perf_counter()
    if job.method == "hyperopt-tpe":
        run_hyperopt(job, recorder)
    elif job.method == "optuna-tpe":
        run_optuna(job, recorder)
    else:
        run_asynchpo(job, asynchpo_suggesters()[job.method], recorder)
    seconds = time.perf_counter() - started
    best = int(np.argmin(recorder.losses))
    best_loss, best_params = recorder.losses[best], recorder.params[best]
    success = job.problem.success
    return Outcome(
        problem=job.problem.name,
        method=job.method,
        seed=job.seed,
        losses=recorder.losses,
        best_loss=best_loss,
        best_params=best_params,
        reached=None if success is None else success(best_params, best_loss),
        seconds=seconds,
    )


def run_all(jobs: Sequence[Job], workers: int) -> list[Outcome]:
    """Run the jobs on a process pool, reporting each one on stderr as it finishes."""
    return run_in_pool(
        jobs,
        workers,
        run_job,
        lambda job: f"{job.problem.name} {job.method} seed {job.seed}",
        lambda outcome: f"best {number(outcome.best_loss)} ({outcome.seconds:.1f} s)",
    )


def problem_report(
    problem: Problem, evals: int, methods: Sequence[str], outcomes: Sequence[Outcome]
) -> tuple[str, dict[str, float]]:
    """The table of one problem, and each method's mean rank on it."""
    mine = [o for o in outcomes if o.problem == problem.name]
    best = {m: {o.seed: o.best_loss for o in mine if o.method == m} for m in methods}
    ranks = mean_ranks({m: runs for m, runs in best.items() if runs})
    headers = ["method", "runs", "q25", "median", "q75", "mean rank"]
    if problem.success is not None:
        headers.append("reached best branch")
    rows: list[list[str]] = []
    for method in methods:
        runs = [o for o in mine if o.method == method]
        if not runs:
            rows.append([method, "0", *["-"] * (len(headers) - 2)])
            continue
        q25, median, q75 = quartiles([o.best_loss for o in runs])
        row = [method, str(len(runs)), number(q25), number(median), number(q75)]
        row.append(f"{ranks[method]:.2f}")
        if problem.success is not None:
            row.append(f"{sum(bool(o.reached) for o in runs)}/{len(runs)}")
        rows.append(row)
    n_params = len(compile_space(problem.asynchpo_space()))
    title = f"{problem.name}: {n_params} params, {evals} evals, minimum {number(problem.minimum)}"
    return f"{title}\n{format_table(headers, rows)}", ranks


def report(
    problems: Sequence[Problem],
    evals: dict[str, int],
    methods: Sequence[str],
    outcomes: Sequence[Outcome],
) -> str:
    """Every problem's table, then the mean ranks of each method per problem and overall."""
    sections: list[str] = []
    all_ranks: dict[str, dict[str, float]] = {}
    for problem in problems:
        text, all_ranks[problem.name] = problem_report(
            problem, evals[problem.name], methods, outcomes
        )
        sections.append(text)
    headers = ["method", *(p.name for p in problems), "overall"]
    rows = []
    for method in methods:
        ranks = [all_ranks[p.name].get(method, float("nan")) for p in problems]
        overall = float(np.mean(ranks)) if ranks else float("nan")
        rows.append([method, *(f"{r:.2f}" for r in ranks), f"{overall:.2f}"])
    sections.append(
        "mean rank (1 = best of the methods on a seed, averaged over seeds)\n"
        + format_table(headers, rows)
    )
    return "\n\n".join(sections)


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add_run_arguments(parser, METHODS, default_seeds=20)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the report."""
    options = parse_arguments(argv)
    methods = select_methods(options.methods, METHODS, available_methods())
    problems = select_problems(options.problems)
    evals = {p.name: options.evals or p.budget for p in problems}
    jobs = [
        Job(problem, method, seed, evals[problem.name])
        for problem in problems
        for seed in range(options.seeds)
        for method in methods
    ]
    progress(f"{len(jobs)} runs: methods {', '.join(methods)}; {options.workers} workers")
    started = time.perf_counter()
    outcomes = run_all(jobs, options.workers)
    progress(f"done in {time.perf_counter() - started:.0f} s")
    print(report(problems, evals, methods, outcomes))
    if options.json is not None:
        write_json(
            options.json,
            {
                "seeds": options.seeds,
                "evals": evals,
                "runs": [dataclasses.asdict(o) for o in outcomes],
            },
        )


if __name__ == "__main__":
    main()
