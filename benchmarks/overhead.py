"""Orchestration overhead: how many trials per second asynchpo sustains, against Optuna.

    python benchmarks/overhead.py            # needs the `bench` extra for the Optuna rows

1. A no-op async objective with random search, 5,000 trials: trials/s in memory and on SQLite,
   at concurrency 1 and 64.
2. An objective that awaits ``anyio.sleep(0.05)``: 2,000 trials at concurrency 100, whose
   ideal wall time is 2,000 / 100 * 0.05 s = 1.0 s.
3. Optuna with random sampling, in memory and with SQLite storage, on the same space, for the
   ratio (fewer trials on SQLite, where it is slow; the rate is what is compared).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from asynchpo import fmin, hp, rand

SPACE = {
    "x": hp.uniform("x", -5, 5),
    "lr": hp.loguniform("lr", math.log(1e-5), math.log(1e-1)),
    "kind": hp.choice("kind", ["a", "b", "c"]),
}


async def noop(params: dict[str, Any]) -> float:
    return float(params["x"]) ** 2


async def sleepy(params: dict[str, Any]) -> float:
    await anyio.sleep(0.05)
    return float(params["x"]) ** 2


async def asynchpo_rate(trials: int, concurrency: int, storage: Path | None) -> float:
    started = time.perf_counter()
    await fmin(
        noop,
        SPACE,
        algo=rand.suggest,
        max_evals=trials,
        concurrency=concurrency,
        storage=storage,
        seed=0,
    )
    return trials / (time.perf_counter() - started)


def optuna_rate(trials: int, storage: str | None) -> float | None:
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -5, 5)
        trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        trial.suggest_categorical("kind", ["a", "b", "c"])
        return float(x) ** 2

    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return trials / (time.perf_counter() - started)


async def main(trials: int, sleep_trials: int, optuna_sqlite_trials: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        rows: list[tuple[str, float]] = []
        for storage_name in ("memory", "sqlite"):
            for concurrency in (1, 64):
                storage = None if storage_name == "memory" else Path(folder) / f"{concurrency}.db"
                rate = await asynchpo_rate(trials, concurrency, storage)
                rows.append((f"asynchpo  {storage_name:<6} concurrency {concurrency:>2}", rate))
        print(f"no-op objective, random search, {trials} trials:")
        for label, rate in rows:
            print(f"  {label}: {rate:>9,.0f} trials/s")

        optuna_memory = optuna_rate(trials, None)
        optuna_sqlite = optuna_rate(optuna_sqlite_trials, f"sqlite:///{folder}/optuna.db")
        if optuna_memory is None or optuna_sqlite is None:
            print("  optuna: not installed (pip install -e '.[bench]')")
        else:
            print(
                f"  optuna    memory concurrency  1: {optuna_memory:>9,.0f} trials/s",
                f"({trials} trials)",
            )
            print(
                f"  optuna    sqlite concurrency  1: {optuna_sqlite:>9,.0f} trials/s "
                f"({optuna_sqlite_trials} trials)"
            )
            ours = dict(rows)
            print(
                "  ratio asynchpo/optuna, sqlite, concurrency 1: "
                f"{ours['asynchpo  sqlite concurrency  1'] / optuna_sqlite:,.0f}x; "
                f"memory: {ours['asynchpo  memory concurrency  1'] / optuna_memory:,.1f}x"
            )

        ideal = sleep_trials / 100 * 0.05
        for storage_name in ("memory", "sqlite"):
            storage = None if storage_name == "memory" else Path(folder) / "sleep.db"
            started = time.perf_counter()
            await fmin(
                sleepy,
                SPACE,
                algo=rand.suggest,
                max_evals=sleep_trials,
                concurrency=100,
                storage=storage,
                seed=0,
            )
            wall = time.perf_counter() - started
            print(
                f"sleep(0.05) objective, {sleep_trials} trials, concurrency 100, {storage_name}: "
                f"{wall:.3f} s wall, ideal {ideal:.3f} s ({(wall / ideal - 1) * 100:+.1f}%)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--sleep-trials", type=int, default=2000)
    parser.add_argument("--optuna-sqlite-trials", type=int, default=300)
    options = parser.parse_args()
    anyio.run(main, options.trials, options.sleep_trials, options.optuna_sqlite_trials)
