"""Suggestion latency: milliseconds per suggestion on a 10-D space, by history size and pending.

    .venv/bin/python benchmarks/tpe_latency.py [--sizes 100,1000,5000,20000] [--pending 0,64]
        [--repeats 20] [--max-seconds 30] [--methods M,...]

Every method sees the same history: random points of the 10-D space (6 floats, 2 quantized,
2 choices) with losses from a fixed function, plus 0 or 64 running (pending) points. Two times
are reported per size, each the median of up to ``--repeats`` calls after a warm-up call:

* "after new result": one more finished trial is added before each timed call, as in a
  sequential search (so the history grows from N + 1 to N + repeats); a suggester that caches
  work between calls on the same history pays here;
* "burst": calls on the same history, each with a fresh trial generator, as when several slots
  free at once.

The methods:

* asynchpo suggesters (``asynchpo-tpe`` when ``asynchpo.tpe`` imports, ``asynchpo-anneal``,
  ``random``) called directly with a ``HistoryBuffer`` snapshot and ``trial_rng(seed, id)``;
* ``optuna-tpe``: ``TPESampler(seed=0)`` (Optuna's defaults) on a study filled with
  ``study.add_trials`` (finished trials, and pending ones as ``RUNNING``); the timed call is
  ``study.ask(fixed_distributions)``, which samples and suggests all 10 parameters. The asked
  trial is then told ``FAIL`` so that it does not become pending;
* ``hyperopt-tpe``: ``hyperopt.tpe.suggest`` on a ``Trials`` filled with done documents (and
  running ones for the pending points).

A method stops at the first size whose measurements take longer than ``--max-seconds``
(setup included); the bigger sizes show ``-``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
from _common import (
    ASYNCHPO_TPE,
    asynchpo_suggesters,
    format_table,
    installed,
    progress,
    select_methods,
    silence_libraries,
)
from _problems import LATENCY, Params, optuna_distributions, optuna_values

from asynchpo import Space, compile_space
from asynchpo._suggesters._base import FloatArray, HistoryBuffer, Suggester, trial_rng

METHODS = ("asynchpo-tpe", "asynchpo-anneal", "random", "optuna-tpe", "hyperopt-tpe")
SEED = 0


def available_methods() -> list[str]:
    """The methods of :data:`METHODS` that can run in this environment."""
    names = list(asynchpo_suggesters())
    if installed("optuna"):
        names.append("optuna-tpe")
    if installed("hyperopt"):
        names.append("hyperopt-tpe")
    return names


@dataclasses.dataclass(frozen=True)
class Fixture:
    """The shared history: points, their losses, and the pending points."""

    space: Space
    rows: FloatArray
    points: list[dict[str, float | int]]
    losses: list[float]
    pending_rows: FloatArray
    pending_points: list[dict[str, float | int]]


def make_fixture(size: int, n_pending: int) -> Fixture:
    """``size`` random finished points with their losses, and ``n_pending`` running ones."""
    space = compile_space(LATENCY.asynchpo_space())
    rng = np.random.default_rng(SEED)
    rows = space.sample(rng, size)
    points = [space.to_point(row) for row in rows]
    losses = [LATENCY.objective(cast(Params, space.evaluate(point))) for point in points]
    pending_rows = space.sample(rng, n_pending)
    pending_points = [space.to_point(row) for row in pending_rows]
    return Fixture(space, rows, points, losses, pending_rows, pending_points)


def ms(seconds: float) -> str:
    """Seconds as milliseconds for a table: three significant digits, whole above 100."""
    value = 1000 * seconds
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


@dataclasses.dataclass(frozen=True)
class Timing:
    """The measurements of one method at one history size and number of pending points."""

    fresh: list[float]
    burst: list[float]
    seconds: float

    def median(self, kind: str) -> float:
        """The median time of the calls after a new result (``"fresh"``) or in a burst."""
        return statistics.median(self.fresh if kind == "fresh" else self.burst)

    def cells(self) -> list[str]:
        """Table cells: the medians in ms and the numbers of timed calls."""
        calls = f"{len(self.fresh)}+{len(self.burst)}"
        return [ms(self.median("fresh")), ms(self.median("burst")), calls]


class Clock:
    """The time budget of one measurement, setup included."""

    def __init__(self, repeats: int, max_seconds: float) -> None:
        self.repeats = repeats
        self.started = time.perf_counter()
        self.deadline = self.started + max_seconds

    def calls(self, call: Callable[[], float], share: float) -> list[float]:
        """The times ``call`` reports, for up to ``repeats`` calls and at least one, within
        ``share`` of the budget that is left."""
        now = time.perf_counter()
        deadline = now + share * max(0.0, self.deadline - now)
        times = [call()]
        while len(times) < self.repeats and time.perf_counter() < deadline:
            times.append(call())
        return times

    def measure(self, burst: Callable[[], float], fresh: Callable[[], float]) -> Timing:
        """A warm-up call, then burst calls, then calls after a new result (each adds one)."""
        burst()
        burst_times = self.calls(burst, 0.5)
        fresh_times = self.calls(fresh, 1.0)
        return Timing(fresh_times, burst_times, time.perf_counter() - self.started)


def timed(call: Callable[[], object]) -> float:
    """The wall time of one call, in seconds."""
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


# --- asynchpo -----------------------------------------------------------------------------------


def time_asynchpo(algo: Suggester, fx: Fixture, n: int, n_pending: int, clock: Clock) -> Timing:
    """An asynchpo suggester called directly, as the scheduler calls it."""
    space = fx.space
    buffer = HistoryBuffer(len(space), capacity=n + clock.repeats)
    for i in range(n):
        buffer.append(i, fx.rows[i], fx.losses[i])
    pending = fx.pending_rows[:n_pending]
    next_id = iter(range(n, 10**9))

    def burst() -> float:
        history, rng = buffer.snapshot(), trial_rng(SEED, next(next_id))
        return timed(lambda: algo(space, history, pending, rng))

    def fresh() -> float:
        i = len(buffer)
        buffer.append(i, fx.rows[i], fx.losses[i])
        return burst()

    return clock.measure(burst, fresh)


# --- Optuna -------------------------------------------------------------------------------------


def time_optuna(fx: Fixture, n: int, n_pending: int, clock: Clock) -> Timing:
    """Optuna's default TPE: ``study.ask(fixed_distributions)`` on a prefilled study."""
    import optuna
    from optuna.trial import TrialState, create_trial

    distributions = optuna_distributions(LATENCY.spec)

    def finished(i: int) -> Any:
        params = optuna_values(LATENCY.spec, fx.points[i])
        return create_trial(params=params, distributions=distributions, value=fx.losses[i])

    def running(point: dict[str, float | int]) -> Any:
        params = optuna_values(LATENCY.spec, point)
        return create_trial(state=TrialState.RUNNING, params=params, distributions=distributions)

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=SEED))
    study.add_trials([finished(i) for i in range(n)])
    study.add_trials([running(point) for point in fx.pending_points[:n_pending]])
    added = iter(range(n, len(fx.points)))

    def burst() -> float:
        started = time.perf_counter()
        trial = study.ask(distributions)
        elapsed = time.perf_counter() - started
        study.tell(trial, state=TrialState.FAIL)  # so that it does not count as running
        return elapsed

    def fresh() -> float:
        study.add_trial(finished(next(added)))
        return burst()

    return clock.measure(burst, fresh)


# --- hyperopt -----------------------------------------------------------------------------------


def _hyperopt_doc(
    trials: Any, domain: Any, point: dict[str, float | int], loss: float | None
) -> dict[str, Any]:
    """A trial document of a flat space: done with ``loss``, or running for None."""
    import hyperopt

    [tid] = trials.new_trial_ids(1)
    misc = {
        "tid": tid,
        "cmd": domain.cmd,
        "workdir": domain.workdir,
        "idxs": {label: [tid] for label in point},
        "vals": {label: [value] for label, value in point.items()},
    }
    if loss is None:
        result, state = {"status": hyperopt.STATUS_RUNNING}, hyperopt.JOB_STATE_RUNNING
    else:
        result, state = {"loss": loss, "status": hyperopt.STATUS_OK}, hyperopt.JOB_STATE_DONE
    [doc] = trials.new_trial_docs([tid], [None], [result], [misc])
    doc["state"] = state
    return dict(doc)


def time_hyperopt(fx: Fixture, n: int, n_pending: int, clock: Clock) -> Timing:
    """hyperopt's ``tpe.suggest`` on a ``Trials`` holding the history."""
    import hyperopt

    domain = hyperopt.base.Domain(LATENCY.objective, LATENCY.hyperopt_space())
    trials = hyperopt.Trials()
    docs = [_hyperopt_doc(trials, domain, fx.points[i], fx.losses[i]) for i in range(n)]
    docs += [_hyperopt_doc(trials, domain, p, None) for p in fx.pending_points[:n_pending]]
    trials.insert_trial_docs(docs)
    trials.refresh()
    rstate = np.random.default_rng(SEED)
    added = iter(range(n, len(fx.points)))

    def burst() -> float:
        new_ids = trials.new_trial_ids(1)
        seed = int(rstate.integers(2**31 - 1))
        return timed(lambda: hyperopt.tpe.suggest(new_ids, domain, trials, seed))

    def fresh() -> float:
        i = next(added)
        trials.insert_trial_docs([_hyperopt_doc(trials, domain, fx.points[i], fx.losses[i])])
        trials.refresh()
        return burst()

    return clock.measure(burst, fresh)


# --- the benchmark ------------------------------------------------------------------------------


def measure(method: str, fx: Fixture, n: int, n_pending: int, clock: Clock) -> Timing:
    """One method at one history size and number of pending points."""
    if method == "optuna-tpe":
        return time_optuna(fx, n, n_pending, clock)
    if method == "hyperopt-tpe":
        return time_hyperopt(fx, n, n_pending, clock)
    return time_asynchpo(asynchpo_suggesters()[method], fx, n, n_pending, clock)


Key = tuple[str, int, int]  # (method, size, pending)


def run(
    methods: Sequence[str],
    sizes: Sequence[int],
    pendings: Sequence[int],
    repeats: int,
    max_seconds: float,
) -> dict[Key, Timing]:
    """Every measurement, each method up to the first size that exceeds the budget."""
    fx = make_fixture(max(sizes) + repeats, max(pendings))
    results: dict[Key, Timing] = {}
    for method in methods:
        for n in sizes:
            over = False
            for n_pending in pendings:
                timing = measure(method, fx, n, n_pending, Clock(repeats, max_seconds))
                results[method, n, n_pending] = timing
                over = over or timing.seconds > max_seconds
                fresh, burst, _ = timing.cells()
                progress(
                    f"{method} N={n} pending={n_pending}: {fresh} ms after a new result, "
                    f"{burst} ms burst ({timing.seconds:.1f} s)"
                )
            if over:
                progress(f"{method}: over {max_seconds:g} s at N={n}; skipping bigger sizes")
                break
    return results


def report(
    results: dict[Key, Timing],
    methods: Sequence[str],
    sizes: Sequence[int],
    pendings: Sequence[int],
) -> str:
    """The latency table, then Optuna's time over each asynchpo method's."""
    headers = ["trials", "pending", "method", "after new result", "burst", "calls"]
    rows = []
    for n in sizes:
        for n_pending in pendings:
            for method in methods:
                timing = results.get((method, n, n_pending))
                cells = timing.cells() if timing else ["-", "-", "-"]
                rows.append([f"{n:,}", str(n_pending), method, *cells])
    sections = [
        "ms per suggestion, median; calls = timed calls after a new result + in a burst\n"
        + format_table(headers, rows, left=(2,))
    ]
    ours = [m for m in methods if m not in ("optuna-tpe", "hyperopt-tpe")]
    if ASYNCHPO_TPE in ours:
        ours = [ASYNCHPO_TPE]
    if "optuna-tpe" in methods and ours:
        sections.append(ratio_table(results, ours, sizes, pendings))
    return "\n\n".join(sections)


def ratio_table(
    results: dict[Key, Timing],
    ours: Sequence[str],
    sizes: Sequence[int],
    pendings: Sequence[int],
) -> str:
    """Optuna's median time over each asynchpo method's, after a new result and in bursts."""
    headers = ["trials", "pending"]
    for method in ours:
        headers += [f"{method} new", f"{method} burst"]
    rows = []
    for n in sizes:
        for n_pending in pendings:
            row = [f"{n:,}", str(n_pending)]
            theirs = results.get(("optuna-tpe", n, n_pending))
            for method in ours:
                mine = results.get((method, n, n_pending))
                if theirs is None or mine is None:
                    row += ["-", "-"]
                    continue
                for kind in ("fresh", "burst"):
                    ratio = theirs.median(kind) / mine.median(kind)
                    row.append(f"{ratio:.1f}x")
            rows.append(row)
    return "ratio of median times, Optuna / asynchpo\n" + format_table(headers, rows, left=())


def parse_numbers(text: str, name: str) -> list[int]:
    """A comma-separated list of whole numbers >= 0, sorted."""
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise SystemExit(f"{name} takes comma-separated whole numbers, got {text!r}") from None
    if not values or values[0] < 0:
        raise SystemExit(f"{name} takes comma-separated whole numbers >= 0, got {text!r}")
    return values


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000,20000", help="finished trials")
    parser.add_argument("--pending", default="0,64", help="pending points (default 0,64)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per kind (20)")
    parser.add_argument(
        "--max-seconds", type=float, default=30.0, help="budget per size and method (30)"
    )
    parser.add_argument("--methods", help=f"comma-separated, among {', '.join(METHODS)}")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the tables."""
    options = parse_arguments(argv)
    silence_libraries()
    methods = select_methods(options.methods, METHODS, available_methods())
    sizes = parse_numbers(options.sizes, "--sizes")
    pendings = parse_numbers(options.pending, "--pending")
    if options.repeats < 1:
        raise SystemExit("--repeats must be at least 1")
    results = run(methods, sizes, pendings, options.repeats, options.max_seconds)
    print(f"10-D space ({', '.join(compile_space(LATENCY.asynchpo_space()).labels)})\n")
    print(report(results, methods, sizes, pendings))


if __name__ == "__main__":
    main()
