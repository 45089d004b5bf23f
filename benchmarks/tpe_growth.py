"""TPE on a growing study: suggestions per second as the history grows, with 256 in flight.

    .venv/bin/python benchmarks/tpe_growth.py [--sizes 1000,10000,100000] [--calls 1000]
        [--pending 256] [--e2e-trials 20000] [--concurrency 256]

Two measurements, on the same 10-D space (6 floats, 2 quantized, 2 choices):

1. **Suggester.** The default ``tpe.suggest`` called directly on a history of N finished
   trials (random points, losses from a fixed function) with ``--pending`` points in flight.
   Before every call one more result is appended to the history and one pending point is
   replaced, as in a study where every suggestion follows a result: a suggester that caches
   work per history pays for each new result here. Reported: calls per second over
   ``--calls`` calls, and the slowest call.
2. **End to end.** ``fmin`` with a no-op async objective, in memory, ``--concurrency`` trials in
   flight, until ``--e2e-trials`` trials: trials (= suggestions) per second in windows of the
   run, so a rate that falls as the study grows shows.

The issue's target: at least 500 suggestions/s with 256 in flight at 100,000 trials. Wall
rates fall on a busy machine; the CPU time per suggestion (of the whole process, every thread)
is what a suggestion costs whatever else runs: 1 / CPU time is the rate on one free core.
"""

from __future__ import annotations

import argparse
import itertools
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import format_table, progress

from asynchpo import compile_space, fmin, hp, tpe
from asynchpo._suggesters._base import FloatArray, HistoryBuffer, trial_rng

SPACE = {
    "lr": hp.loguniform("lr", math.log(1e-5), math.log(1e-1)),
    "wd": hp.loguniform("wd", math.log(1e-6), math.log(1e-2)),
    "momentum": hp.uniform("momentum", 0.5, 0.99),
    "dropout": hp.uniform("dropout", 0.0, 0.7),
    "warmup": hp.uniform("warmup", 0.0, 0.2),
    "x": hp.uniform("x", -5.0, 5.0),
    "epochs": hp.quniform("epochs", 10, 100, 5),
    "units": hp.qloguniform("units", math.log(16), math.log(1024), 16),
    "optimizer": hp.choice("optimizer", ["sgd", "adam", "rmsprop", "adagrad"]),
    "activation": hp.choice("activation", ["relu", "gelu", "tanh"]),
}


def _loss(rows: FloatArray) -> FloatArray:
    centred = rows - np.nanmean(rows, axis=0)
    losses: FloatArray = np.nansum(centred**2 / (1.0 + np.abs(rows)), axis=1)
    return losses


def suggester_rate(size: int, calls: int, n_pending: int) -> tuple[float, float, float]:
    """Calls per second, the slowest call (ms) and the CPU time of the process (all its
    threads) per call (ms) at a history of ``size`` trials."""
    space = compile_space(SPACE)
    rng = np.random.default_rng(size)
    rows = space.sample(rng, size + calls + n_pending)
    losses = _loss(rows)
    buffer = HistoryBuffer(len(space))
    for i in range(size):
        buffer.append(i, rows[i], float(losses[i]))
    pending = rows[size + calls :].copy()
    suggest = tpe.suggest
    suggest(space, buffer.snapshot(), pending, trial_rng(0, size))  # warm-up
    slowest = 0.0
    cpu = time.process_time()
    started = time.perf_counter()
    for k in range(calls):
        buffer.append(size + k, rows[size + k], float(losses[size + k]))
        call = time.perf_counter()
        row = suggest(space, buffer.snapshot(), pending, trial_rng(0, size + calls + k))
        slowest = max(slowest, time.perf_counter() - call)
        pending[k % n_pending] = row
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return calls / elapsed, 1000.0 * slowest, 1000.0 * cpu / calls


async def _end_to_end(
    trials: int, concurrency: int, storage: str | None
) -> list[tuple[float, float]]:
    stamps: list[tuple[float, float]] = []

    async def noop(params: dict[str, Any]) -> float:
        stamps.append((time.perf_counter(), time.process_time()))
        return float(params["x"]) ** 2

    await fmin(
        noop,
        SPACE,
        algo=tpe.suggest,
        max_evals=trials,
        concurrency=concurrency,
        seed=0,
        storage=storage,
        show_progressbar=False,
    )
    return stamps


def end_to_end_rates(
    trials: int, concurrency: int, storage: str | None
) -> list[tuple[int, int, float, float]]:
    """Trials per second in windows, and the process's CPU time per trial (ms) there:
    ``(first trial, last trial, rate, CPU)``."""
    import anyio

    stamps = anyio.run(_end_to_end, trials, concurrency, storage)
    edges = sorted({0, 1000, 2000, 5000, 10000, 20000, 50000, 100000, len(stamps) - 1})
    edges = [e for e in edges if e < len(stamps)]
    windows = []
    for low, high in itertools.pairwise(edges):
        # A window of at least 1,000 trials ending at ``high``.
        start = max(0, min(low, high - 1000))
        elapsed = stamps[high][0] - stamps[start][0]
        cpu = 1000.0 * (stamps[high][1] - stamps[start][1]) / (high - start)
        windows.append((start, high, (high - start) / elapsed if elapsed > 0 else math.inf, cpu))
    return windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="history sizes")
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per size")
    parser.add_argument("--pending", type=int, default=256, help="points in flight")
    parser.add_argument("--e2e-trials", type=int, default=20000, help="0 to skip the fmin run")
    parser.add_argument("--concurrency", type=int, default=256, help="fmin's concurrency")
    parser.add_argument(
        "--sqlite", action="store_true", help="checkpoint the fmin run to a new SQLite file"
    )
    args = parser.parse_args()

    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        progress(f"suggester at {size} trials ...")
        rate, slowest, cpu = suggester_rate(size, args.calls, args.pending)
        rows.append(
            [f"{size:,}", f"{args.pending}", f"{rate:,.0f}", f"{slowest:.1f}", f"{cpu:.2f}"]
        )
    print(f"tpe.suggest, a new result before each call, {args.calls} calls per size")
    print(format_table(["history", "pending", "suggestions/s", "slowest ms", "CPU ms/call"], rows))

    if args.e2e_trials:
        progress(f"fmin to {args.e2e_trials} trials at concurrency {args.concurrency} ...")
        with tempfile.TemporaryDirectory() as folder:
            storage = str(Path(folder) / "growth.sqlite") if args.sqlite else None
            started, cpu = time.perf_counter(), time.process_time()
            windows = end_to_end_rates(args.e2e_trials, args.concurrency, storage)
            total, cpu = time.perf_counter() - started, time.process_time() - cpu
        kind = "SQLite" if args.sqlite else "memory"
        print()
        print(
            f"fmin, no-op objective, {kind} storage, concurrency {args.concurrency}: "
            f"{args.e2e_trials:,} trials in {total:.1f} s ({cpu:.1f} s of CPU)"
        )
        print(
            format_table(
                ["trials", "trials/s", "CPU ms/trial"],
                [
                    [f"{low:,}-{high:,}", f"{rate:,.0f}", f"{cpu:.2f}"]
                    for low, high, rate, cpu in windows
                ],
            )
        )


if __name__ == "__main__":
    main()
