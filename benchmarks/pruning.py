"""Pruning: compute and best loss with no pruner, the median rule and ASHA, against Optuna.

    .venv/bin/python benchmarks/pruning.py [--seeds 20] [--budget 100] [--concurrency 1,16]
        [--methods M,...] [--workers 2] [--quick] [--json results.json]

The problem is a simulated learning curve: four hyperparameters (learning rate, weight decay,
dropout, optimizer) give a trial's curve over ``MAX_STEPS`` = 27 steps, each step one unit of
compute; the trial's loss is its curve at the last step. Too high a learning rate is unstable
(seen early), too low a one converges slowly, and dropout slows early progress but lowers the
final loss, so the early ranking of trials is informative but imperfect (the report opens with
how well the loss at steps 1, 3 and 9 predicts the final one over random configurations).

Every method gets the same compute budget B (``--budget`` full-length trials' worth of steps,
100 by default: a usual number of trials without pruning) and is stopped once it has spent it.
Total compute is counted in the objective: every step any trial executes. Time is simulated on
a virtual clock: a step takes one time unit and no real time; the clock moves to the next
step's end only when all ``k`` trials in flight are waiting for it, so ``k`` trials run side by
side in the order of simulated time, and the searcher's own work (suggesting, pruning, storing)
takes no simulated time. With k trials in flight, B lasts B / k time units and a trial needs 27
to complete: at k=16, B/3 is about two trial lengths, so a pruned search can complete trials
within it (with B = 50 it could complete only the trials started in the first time unit).

* ``asynchpo-none``, ``asynchpo-median``, ``asynchpo-asha``: ``await fmin(..., algo=tpe.suggest,
  concurrency=k)`` with no pruner, ``MedianPruner()`` and ``SuccessiveHalvingPruner(
  min_resource=1, reduction_factor=3, max_resource=27)`` (rungs at steps 1, 3 and 9); the
  objective reports every step with ``await trial.report(step, loss)``.
* ``optuna-none``, ``optuna-median``, ``optuna-sha``: ``study.optimize(..., n_jobs=k)`` with
  ``TPESampler(seed=seed)`` and ``NopPruner()``, ``MedianPruner()`` and
  ``SuccessiveHalvingPruner()`` (Optuna's defaults: ``reduction_factor=4``, ``min_resource``
  estimated from the first completed trial); ``trial.report(loss, step)`` every step and
  ``TrialPruned`` when ``trial.should_prune()``.

Both libraries run with their defaults otherwise (asynchpo's TPE without the constant liar,
Optuna 5's with it). The best loss is the best over completed trials (what ``fmin`` and
``study.best_value`` return); "full-length" also counts trials pruned at their last report.

The report gives, per k and method, the median over seeds of the best loss at B/3 and at B,
the compute spent, trials, the pruned fraction and the simulated time; then the compute each
method needed to reach the final best loss of ``asynchpo-none`` (same seed and k), as a
fraction of B; and seed-by-seed comparisons of asynchpo's pruners with Optuna's at equal
compute.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import heapq
import math
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt
from _common import format_table, installed, number, progress, run_in_pool, write_json

from asynchpo import (
    AllTrialsFailed,
    TrialContext,
    TrialPruned,
    Trials,
    fmin,
    hp,
    pruners,
    tpe,
)

ASYNCHPO_METHODS = ("asynchpo-none", "asynchpo-median", "asynchpo-asha")
OPTUNA_METHODS = ("optuna-none", "optuna-median", "optuna-sha")
METHODS = ASYNCHPO_METHODS + OPTUNA_METHODS
BASELINE = "asynchpo-none"

MAX_STEPS = 27
START_LOSS = 2.3
NOISE = 0.005
# A waiting trial forces the clock forward after this many real seconds without progress
# (a safety net; each occurrence is counted in the report as a stall).
STALL_SECONDS = 30.0

Params = Mapping[str, Any]
Curve = npt.NDArray[np.float64]


# --- the problem ------------------------------------------------------------------------------


def learning_curve(params: Params) -> Curve:
    """The loss of a configuration at steps 1 to ``MAX_STEPS`` (deterministic).

    ``final + (START_LOSS - final) * exp(-step / tau)`` plus small noise seeded by the
    parameters. Above the stability edge of the learning rate the asymptote climbs steeply;
    below it convergence slows (``tau`` grows 10**0.8 times per decade); dropout lowers the
    asymptote up to 0.35 but slows convergence; Adam converges twice as fast, with a lower
    edge and a slightly worse asymptote; heavy weight decay underfits.
    """
    x = math.log10(float(params["lr"]))
    r = math.log10(float(params["weight_decay"]))
    d = float(params["dropout"])
    adam = params["optimizer"] == "adam"
    edge = -2.0 if adam else -1.0
    final = (
        0.08
        + 0.08 * (x - (edge - 0.5)) ** 2
        + 0.25 * (d - 0.35) ** 2
        + 0.015 * (r + 4.0) ** 2
        + (0.02 if adam else 0.0)
        + 2.0 * max(x - edge, 0.0)
        + 0.5 * max(r + 2.0, 0.0)
    )
    tau = 2.0 * 10.0 ** (0.8 * max(edge - x, 0.0)) * (1.0 + 2.0 * d) * (0.5 if adam else 1.0)
    steps = np.arange(1, MAX_STEPS + 1, dtype=np.float64)
    key = f"{x:.12g}|{r:.12g}|{d:.12g}|{params['optimizer']}".encode()
    noise = np.random.default_rng(zlib.crc32(key)).normal(0.0, NOISE, MAX_STEPS)
    curve: Curve = final + (START_LOSS - final) * np.exp(-steps / tau) + noise
    return curve


def asynchpo_space() -> dict[str, Any]:
    """The search space for asynchpo."""
    return {
        "lr": hp.loguniform("lr", math.log(1e-4), math.log(1.0)),
        "weight_decay": hp.loguniform("weight_decay", math.log(1e-6), math.log(1e-1)),
        "dropout": hp.uniform("dropout", 0.0, 0.7),
        "optimizer": hp.choice("optimizer", ["sgd", "adam"]),
    }


def suggest_optuna(trial: Any) -> dict[str, Any]:
    """The same space, suggested on an Optuna trial."""
    return {
        "lr": trial.suggest_float("lr", 1e-4, 1.0, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.7),
        "optimizer": trial.suggest_categorical("optimizer", ["sgd", "adam"]),
    }


def random_params(rng: np.random.Generator) -> dict[str, Any]:
    """A configuration drawn from the prior of the space."""
    return {
        "lr": 10.0 ** rng.uniform(-4.0, 0.0),
        "weight_decay": 10.0 ** rng.uniform(-6.0, -1.0),
        "dropout": rng.uniform(0.0, 0.7),
        "optimizer": "adam" if rng.random() < 0.5 else "sgd",
    }


def ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """0-based ranks (the values are continuous: no ties to share)."""
    order = np.argsort(values)
    result = np.empty(len(values), dtype=np.float64)
    result[order] = np.arange(len(values), dtype=np.float64)
    return result


def problem_report(samples: int = 20_000) -> str:
    """How hard the problem is for early stopping, from random configurations."""
    rng = np.random.default_rng(20240901)
    curves = np.array([learning_curve(random_params(rng)) for _ in range(samples)])
    final = curves[:, -1]
    good = final <= np.quantile(final, 0.1)
    best = final <= np.quantile(final, 0.01)
    rows = []
    for step, keep in ((1, 1 / 3), (3, 1 / 9), (9, 1 / 27)):
        early = curves[:, step - 1]
        everyone = float(np.corrcoef(ranks(early), ranks(final))[0, 1])
        among_good = float(np.corrcoef(ranks(early[good]), ranks(final[good]))[0, 1])
        # Share of the best 1% (by final loss) within the best 1/3**rung at this step.
        kept = float(np.mean(early[best] <= np.quantile(early, keep)))
        rows.append(
            [
                f"step {step}",
                f"{everyone:.2f}",
                f"{among_good:.2f}",
                f"1/{round(1 / keep)}",
                f"{kept:.0%}",
            ]
        )
    q = np.quantile(final, [0.0, 0.01, 0.1, 0.5])
    title = (
        f"problem: {MAX_STEPS} steps per full trial; over {samples} random configurations the "
        f"final loss has minimum {q[0]:.4f}, 1% quantile {q[1]:.4f}, 10% quantile {q[2]:.4f}, "
        f"median {q[3]:.3f}. Rank correlation of the loss at a step with the final loss, over "
        "all and over the best 10%; share of the best 1% whose loss at the step is in the best "
        "fraction of all (ASHA's cut at that rung, eta=3)"
    )
    headers = ["loss at", "rank corr.", "within best 10%", "best fraction", "best 1% kept"]
    return f"{title}\n{format_table(headers, rows)}"


# --- the virtual clocks -----------------------------------------------------------------------


class AsyncClock:
    """Simulated time for coroutines: ``await sleep(d)`` returns at simulated ``now + d``.

    The clock moves to the earliest wake-up time only once ``slots`` sleepers wait, that is
    when every trial in flight is blocked on it; sleepers due at the same time wake together.
    """

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.now = 0.0
        self.stalls = 0
        self.draining = False
        self._heap: list[tuple[float, int, anyio.Event]] = []
        self._tickets = 0

    async def sleep(self, duration: float) -> bool:
        """Wait ``duration`` simulated time units; False if the clock was drained instead."""
        if self.draining:
            return False
        event = anyio.Event()
        heapq.heappush(self._heap, (self.now + duration, self._tickets, event))
        self._tickets += 1
        if len(self._heap) >= self.slots:
            self._advance()
        while not event.is_set():
            with anyio.move_on_after(STALL_SECONDS):
                await event.wait()
            if not event.is_set():
                self.stalls += 1
                self._advance()
        return not self.draining

    def _advance(self) -> None:
        if not self._heap:
            return
        due = self._heap[0][0]
        self.now = due
        while self._heap and self._heap[0][0] == due:
            heapq.heappop(self._heap)[2].set()

    def drain(self) -> None:
        """Release every sleeper now and let later sleeps return at once."""
        self.draining = True
        while self._heap:
            heapq.heappop(self._heap)[2].set()


class ThreadClock:
    """:class:`AsyncClock` for threads (Optuna's ``n_jobs``)."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.now = 0.0
        self.stalls = 0
        self.draining = False
        self._heap: list[tuple[float, int]] = []
        self._tickets = 0
        self._woken: set[int] = set()
        self._condition = threading.Condition()

    def sleep(self, duration: float) -> bool:
        """Wait ``duration`` simulated time units; False if the clock was drained instead."""
        with self._condition:
            if self.draining:
                return False
            ticket = self._tickets
            self._tickets += 1
            heapq.heappush(self._heap, (self.now + duration, ticket))
            if len(self._heap) >= self.slots:
                self._advance()
            while ticket not in self._woken:
                if self.draining:
                    return False
                if not self._condition.wait(timeout=STALL_SECONDS):
                    self.stalls += 1
                    self._advance()
            self._woken.discard(ticket)
            return True

    def _advance(self) -> None:
        if not self._heap:
            return
        due = self._heap[0][0]
        self.now = due
        while self._heap and self._heap[0][0] == due:
            self._woken.add(heapq.heappop(self._heap)[1])
        self._condition.notify_all()

    def drain(self) -> None:
        """Release every sleeper now and let later sleeps return at once."""
        with self._condition:
            self.draining = True
            self._condition.notify_all()


# --- one run ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Ledger:
    """What a run spent and found, counted in the objective.

    ``completed`` and ``full`` hold ``(compute spent so far, loss)`` when a trial completes
    (is not pruned) and when a trial reports its last step (pruned there or not).
    """

    budget: int
    spent: int = 0
    trials: int = 0
    pruned: int = 0
    completed: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    full: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.budget


@dataclasses.dataclass(frozen=True)
class Job:
    """One run of one method."""

    method: str
    seed: int
    concurrency: int
    budget: int


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one run found."""

    method: str
    seed: int
    concurrency: int
    budget: int
    completed: list[tuple[int, float]]
    full: list[tuple[int, float]]
    spent: int
    trials: int
    pruned: int
    sim_time: float
    stalls: int
    seconds: float


def asynchpo_pruner(method: str) -> pruners.Pruner | None:
    """The pruner of an asynchpo method."""
    if method == "asynchpo-median":
        return pruners.MedianPruner()
    if method == "asynchpo-asha":
        return pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=3, max_resource=MAX_STEPS
        )
    return None


async def run_asynchpo(job: Job, ledger: Ledger, clock: AsyncClock) -> None:
    """``fmin`` with TPE and the method's pruner until the budget is spent."""

    async def objective(params: dict[str, Any], trial: TrialContext) -> Any:
        curve = learning_curve(params)
        for step in range(1, MAX_STEPS + 1):
            if ledger.exhausted or not await clock.sleep(1.0):
                clock.drain()
                raise TrialPruned("budget spent")
            ledger.spent += 1
            loss = float(curve[step - 1])
            if step == 1:
                ledger.trials += 1
            if step == MAX_STEPS:
                ledger.full.append((ledger.spent, loss))
            try:
                await trial.report(step, loss)
            except TrialPruned:
                ledger.pruned += 1
                raise
        ledger.completed.append((ledger.spent, float(curve[-1])))
        return float(curve[-1])

    def early_stop(trials: Trials, *args: Any) -> tuple[bool, Sequence[Any]]:
        return ledger.exhausted, list(args)

    # AllTrialsFailed: no trial completed within the budget, as the ledger shows.
    with contextlib.suppress(AllTrialsFailed):
        await fmin(
            objective,
            asynchpo_space(),
            algo=tpe.suggest,
            max_evals=None,
            trials=Trials(),
            concurrency=job.concurrency,
            pruner=asynchpo_pruner(job.method),
            seed=job.seed,
            early_stop_fn=early_stop,
            show_progressbar=False,
        )


def run_optuna(job: Job, ledger: Ledger, clock: ThreadClock) -> None:
    """``study.optimize`` with TPE and the method's pruner until the budget is spent."""
    import optuna

    pruner: Any = {
        "optuna-none": optuna.pruners.NopPruner,
        "optuna-median": optuna.pruners.MedianPruner,
        "optuna-sha": optuna.pruners.SuccessiveHalvingPruner,
    }[job.method]()
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=job.seed), pruner=pruner, direction="minimize"
    )

    def objective(trial: Any) -> float:
        curve = learning_curve(suggest_optuna(trial))
        for step in range(1, MAX_STEPS + 1):
            if ledger.exhausted or not clock.sleep(1.0):
                clock.drain()
                trial.study.stop()
                raise optuna.TrialPruned("budget spent")
            loss = float(curve[step - 1])
            with ledger.lock:
                ledger.spent += 1
                if step == 1:
                    ledger.trials += 1
                if step == MAX_STEPS:
                    ledger.full.append((ledger.spent, loss))
            trial.report(loss, step)
            if trial.should_prune():
                with ledger.lock:
                    ledger.pruned += 1
                raise optuna.TrialPruned()
        with ledger.lock:
            ledger.completed.append((ledger.spent, float(curve[-1])))
        return float(curve[-1])

    study.optimize(objective, n_jobs=job.concurrency, gc_after_trial=False)


def run_job(job: Job) -> Outcome:
    """One run (in a worker process)."""
    started = time.perf_counter()
    ledger = Ledger(job.budget)
    clock: AsyncClock | ThreadClock
    if job.method in ASYNCHPO_METHODS:
        clock = AsyncClock(job.concurrency)
        anyio.run(run_asynchpo, job, ledger, clock)
    else:
        clock = ThreadClock(job.concurrency)
        run_optuna(job, ledger, clock)
    return Outcome(
        method=job.method,
        seed=job.seed,
        concurrency=job.concurrency,
        budget=job.budget,
        completed=ledger.completed,
        full=ledger.full,
        spent=ledger.spent,
        trials=ledger.trials,
        pruned=ledger.pruned,
        sim_time=clock.now,
        stalls=clock.stalls,
        seconds=time.perf_counter() - started,
    )


def run_all(jobs: Sequence[Job], workers: int) -> list[Outcome]:
    """Run the jobs on a process pool, reporting each one on stderr as it finishes."""
    return run_in_pool(
        jobs,
        workers,
        run_job,
        lambda job: f"{job.method} k={job.concurrency} seed {job.seed}",
        lambda outcome: (
            f"best {number(best_at(outcome.completed, outcome.budget))}, "
            f"{outcome.trials} trials, {outcome.pruned} pruned ({outcome.seconds:.1f} s)"
        ),
    )


# --- the report -------------------------------------------------------------------------------


def best_at(events: Sequence[tuple[int, float]], compute: float) -> float:
    """The best loss among the events that happened within ``compute``; inf if none."""
    return min((loss for spent, loss in events if spent <= compute), default=math.inf)


def compute_to_reach(events: Sequence[tuple[int, float]], target: float) -> float:
    """The compute spent when a loss at or below ``target`` first completed; inf if never."""
    return min((spent for spent, loss in events if loss <= target), default=math.inf)


def median(values: Sequence[float]) -> float:
    """The median (inf values allowed); NaN for none."""
    return float(np.median(np.asarray(values, dtype=np.float64))) if values else math.nan


def loss_cell(x: float) -> str:
    return "none" if x == math.inf else number(x, 4)


def fraction_cell(x: float) -> str:
    return "-" if x != x else (">1" if x == math.inf else f"{x:.2f}")


def summary_table(
    k: int, methods: Sequence[str], runs: Mapping[tuple[str, int], Sequence[Outcome]]
) -> str:
    """Per method at one k: medians over seeds of best losses, compute, trials, pruning."""
    headers = [
        "method",
        "best@B/3",
        "best@B",
        "IQR@B",
        "full-len@B",
        "compute",
        "trials",
        "completed",
        "pruned",
        "sim time",
    ]
    rows = []
    for method in methods:
        found = runs.get((method, k), [])
        if not found:
            continue
        at_b = [best_at(o.completed, o.budget) for o in found]
        iqr = (
            float(np.subtract(*np.percentile(np.asarray(at_b), [75, 25])))
            if all(map(math.isfinite, at_b))
            else math.nan
        )
        pruned = sum(o.pruned for o in found) / max(sum(o.trials for o in found), 1)
        rows.append(
            [
                method,
                loss_cell(median([best_at(o.completed, o.budget / 3) for o in found])),
                loss_cell(median(at_b)),
                number(iqr, 3),
                loss_cell(median([best_at(o.full, o.budget) for o in found])),
                f"{median([o.spent for o in found]):.0f}",
                f"{median([o.trials for o in found]):.0f}",
                f"{median([sum(s <= o.budget for s, _ in o.completed) for o in found]):.0f}",
                f"{pruned:.0%}",
                f"{median([o.sim_time for o in found]):.0f}",
            ]
        )
    budget = next(iter(runs.values()))[0].budget
    title = (
        f"k={k}: medians over seeds; B = {budget} steps; best = best completed trial; "
        "full-len also counts trials pruned at their last step"
    )
    return f"{title}\n{format_table(headers, rows)}"


def reach_table(
    k: int, methods: Sequence[str], runs: Mapping[tuple[str, int], Sequence[Outcome]]
) -> str:
    """Per method: compute to reach the final best of the no-pruning runs, as a share of B."""
    headers = ["method", "reference", "reached", "median", "per seed (compute / B)"]
    rows = []
    for method in methods:
        found = runs.get((method, k), [])
        for reference in dict.fromkeys([BASELINE, f"{method.split('-')[0]}-none"]):
            if reference == method:
                continue
            targets = {o.seed: best_at(o.completed, o.budget) for o in runs.get((reference, k), [])}
            fractions = [
                compute_to_reach(o.completed, targets[o.seed]) / o.budget
                for o in found
                if o.seed in targets
            ]
            if not fractions:
                continue
            reached = sum(f <= 1 for f in fractions)
            rows.append(
                [
                    method,
                    reference,
                    f"{reached}/{len(fractions)}",
                    fraction_cell(median(fractions)),
                    " ".join(fraction_cell(f) for f in sorted(fractions)),
                ]
            )
    title = (
        f"k={k}: compute a method needs before a completed trial is at least as good as the "
        "reference's best at B (same seed), as a fraction of B; >1: not within B"
    )
    return f"{title}\n{format_table(headers, rows, left=(0, 1, 4))}"


def duel_table(
    k: int, pairs: Sequence[tuple[str, str]], runs: Mapping[tuple[str, int], Sequence[Outcome]]
) -> str:
    """Seed-by-seed: asynchpo's pruner against Optuna's at equal compute."""
    headers = [
        "asynchpo",
        "optuna",
        "at",
        "asynchpo better",
        "ties",
        "optuna better",
        "median diff",
    ]
    rows = []
    for ours, theirs in pairs:
        mine = {o.seed: o for o in runs.get((ours, k), [])}
        other = {o.seed: o for o in runs.get((theirs, k), [])}
        seeds = sorted(set(mine) & set(other))
        if not seeds:
            continue
        for label, share in (("B/3", 1 / 3), ("B", 1.0)):
            a = [best_at(mine[s].completed, mine[s].budget * share) for s in seeds]
            b = [best_at(other[s].completed, other[s].budget * share) for s in seeds]
            diffs = [x - y for x, y in zip(a, b, strict=True)]
            finite = [d for d in diffs if math.isfinite(d)]
            rows.append(
                [
                    ours,
                    theirs,
                    label,
                    str(sum(x < y for x, y in zip(a, b, strict=True))),
                    str(sum(x == y for x, y in zip(a, b, strict=True))),
                    str(sum(x > y for x, y in zip(a, b, strict=True))),
                    number(median(finite), 3) if finite else "-",
                ]
            )
    title = (
        f"k={k}: best completed loss at equal compute, seed by seed "
        "(median diff = asynchpo - optuna; negative favours asynchpo)"
    )
    return f"{title}\n{format_table(headers, rows, left=(0, 1, 2))}"


def verdict(
    levels: Sequence[int], methods: Sequence[str], runs: Mapping[tuple[str, int], Sequence[Outcome]]
) -> str:
    """The issue's two targets, checked from the runs."""
    lines = ["targets:"]
    for k in levels:
        asha = runs.get(("asynchpo-asha", k), [])
        baseline = {o.seed: best_at(o.completed, o.budget) for o in runs.get((BASELINE, k), [])}
        if asha and baseline:
            fractions = [
                compute_to_reach(o.completed, baseline[o.seed]) / o.budget
                for o in asha
                if o.seed in baseline
            ]
            within = sum(f <= 1 / 3 for f in fractions)
            value = median(fractions)
            lines.append(
                f"  k={k}: asynchpo-asha reaches the no-pruning best with <= B/3 in "
                f"{within}/{len(fractions)} seeds; median compute {fraction_cell(value)} B -> "
                f"{'MET' if value <= 1 / 3 else 'NOT MET'} (median <= 1/3)"
            )
        sha = runs.get(("optuna-sha", k), [])
        if asha and sha:
            for label, share in (("B/3", 1 / 3), ("B", 1.0)):
                ours = median([best_at(o.completed, o.budget * share) for o in asha])
                theirs = median([best_at(o.completed, o.budget * share) for o in sha])
                if ours == theirs == math.inf:
                    outcome = "neither completed a trial"
                else:
                    outcome = "at least as good" if ours <= theirs else "WORSE"
                lines.append(
                    f"  k={k}: at {label}, median best asynchpo-asha {loss_cell(ours)} vs "
                    f"optuna-sha {loss_cell(theirs)} -> {outcome}"
                )
    return "\n".join(lines)


def report(
    levels: Sequence[int], methods: Sequence[str], outcomes: Sequence[Outcome], seeds: int
) -> str:
    """The whole report."""
    runs: dict[tuple[str, int], list[Outcome]] = defaultdict(list)
    for o in outcomes:
        runs[o.method, o.concurrency].append(o)
    pairs = [
        (ours, theirs)
        for ours, theirs in (("asynchpo-asha", "optuna-sha"), ("asynchpo-median", "optuna-median"))
        if ours in methods and theirs in methods
    ]
    parts = [problem_report()]
    for k in levels:
        parts.append(summary_table(k, methods, runs))
        parts.append(reach_table(k, [m for m in methods if m != BASELINE], runs))
        if pairs:
            parts.append(duel_table(k, pairs, runs))
    parts.append(verdict(levels, methods, runs))
    stalls = sum(o.stalls for o in outcomes)
    wall = sum(o.seconds for o in outcomes)
    parts.append(
        f"{len(outcomes)} runs, {seeds} seeds; {wall:.0f} s of run time in all; "
        f"virtual clock stalls: {stalls}"
    )
    return "\n\n".join(parts)


# --- the command line -------------------------------------------------------------------------


def parse_levels(text: str) -> list[int]:
    """The ``--concurrency`` list."""
    levels = sorted({int(part) for part in text.split(",") if part.strip()})
    if not levels or levels[0] < 1:
        raise SystemExit(f"--concurrency takes whole numbers >= 1, got {text!r}")
    return levels


def parse_methods(text: str | None) -> list[str]:
    """The ``--methods`` list; Optuna's only if it is installed."""
    available = [m for m in METHODS if m in ASYNCHPO_METHODS or installed("optuna")]
    if text is None:
        return available
    chosen = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown}; choose among {list(METHODS)}")
    missing = [m for m in chosen if m not in available]
    if missing:
        raise SystemExit(f"method(s) {missing} need Optuna, which is not installed")
    return chosen


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0 to N-1 (default 20)")
    parser.add_argument(
        "--budget",
        type=int,
        default=100,
        help=f"compute budget B in full trials of {MAX_STEPS} steps (default 100)",
    )
    parser.add_argument("--concurrency", default="1,16", help="values of k (default 1,16)")
    parser.add_argument("--methods", help=f"comma-separated, among {', '.join(METHODS)}")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 seeds, a budget of 40 full trials"
    )
    parser.add_argument("--json", type=Path, help="save every run's results to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the report."""
    options = parse_arguments(argv)
    if options.quick:
        options.seeds, options.budget = 2, 40
    methods = parse_methods(options.methods)
    levels = parse_levels(options.concurrency)
    budget = options.budget * MAX_STEPS
    # Optuna's runs are the slowest: start them first, so the pool ends evenly.
    jobs = [
        Job(method, seed, k, budget)
        for method in sorted(methods, key=lambda m: m not in OPTUNA_METHODS)
        for k in sorted(levels, reverse=True)
        for seed in range(options.seeds)
    ]
    progress(f"{len(jobs)} runs: methods {', '.join(methods)}; {options.workers} workers")
    started = time.perf_counter()
    outcomes = run_all(jobs, options.workers)
    progress(f"done in {time.perf_counter() - started:.0f} s")
    print(
        f"budget B = {options.budget} full trials = {budget} steps of compute; k = trials in "
        f"flight; {options.seeds} seeds; TPE in every method\n"
    )
    print(report(levels, methods, outcomes, options.seeds))
    if options.json is not None:
        payload = {
            "seeds": options.seeds,
            "budget": budget,
            "max_steps": MAX_STEPS,
            "concurrency": levels,
            "runs": [dataclasses.asdict(o) for o in outcomes],
        }
        write_json(options.json, payload)


if __name__ == "__main__":
    main()
