"""Command's overhead: trials per second of a command that only prints a number.

    python benchmarks/command_overhead.py [--trials 500] [--repeats 2]

For each command (``/bin/echo 1.0`` and ``python -c 'print(1.0)'``) and concurrency (1, 16):

- bare: the same command started with ``asyncio.create_subprocess_exec`` and read with
  ``communicate()``, ``concurrency`` at a time, in a plain event loop: the cost of the command
  itself, the rate to compare with;
- Command: ``fmin_sync(Command(argv), ...)`` with random search and in-memory storage, so
  every trial is suggested, started in its own session, drained, parsed and recorded;
- Command with ``die_with_parent=False``: without the watchdog that kills each trial's process
  group if this process dies (with it, each trial starts through ``/bin/sh``, which
  registers the group before it execs the program: about a millisecond per trial).

The ratio is Command's rate over the bare rate (the target is 90%). Each rate is the best
of ``--repeats`` runs, run in turn, so that the machine's noise hits all of them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import shutil
import sys
import time
from collections.abc import Callable, Sequence

import anyio

from asynchpo import Command, fmin_sync, hp, rand

SPACE = {"x": hp.uniform("x", 0, 1)}
CONCURRENCIES = (1, 16)


async def _bare(argv: Sequence[str], trials: int, concurrency: int) -> None:
    remaining = trials

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            process = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            out, _ = await process.communicate()
            float(out)

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)


def bare_rate(argv: Sequence[str], trials: int, concurrency: int) -> float:
    started = time.perf_counter()
    anyio.run(_bare, argv, trials, concurrency)
    return trials / (time.perf_counter() - started)


def command_rate(
    argv: Sequence[str], trials: int, concurrency: int, die_with_parent: bool = True
) -> float:
    started = time.perf_counter()
    fmin_sync(
        Command(argv, die_with_parent=die_with_parent),
        SPACE,
        algo=rand.suggest,
        max_evals=trials,
        concurrency=concurrency,
        seed=0,
    )
    return trials / (time.perf_counter() - started)


def main(trials: int, repeats: int) -> None:
    commands = [[sys.executable, "-c", "print(1.0)"]]
    echo = shutil.which("echo")
    if echo is not None:
        commands.insert(0, [echo, "1.0"])
    methods: dict[str, Callable[[Sequence[str], int, int], float]] = {
        "bare": bare_rate,
        "Command": command_rate,
        "no watchdog": functools.partial(command_rate, die_with_parent=False),
    }
    print(f"{trials} trials of a command that prints 1.0; trials/s (best of {repeats})")
    header = f"{'command':<22} {'conc.':>5}"
    header += "".join(f" {name:>16}" for name in methods)
    print(f"{header}   Command/bare   no watchdog/bare")
    for argv in commands:
        name = "python -c print(1.0)" if argv[0] == sys.executable else "echo 1.0"
        for concurrency in CONCURRENCIES:
            best = dict.fromkeys(methods, 0.0)
            for _ in range(repeats):
                for method, rate in methods.items():
                    best[method] = max(best[method], rate(argv, trials, concurrency))
            row = f"{name:<22} {concurrency:>5}"
            row += "".join(f" {best[method]:>16,.0f}" for method in methods)
            row += f"   {best['Command'] / best['bare']:>12.0%}"
            row += f"   {best['no watchdog'] / best['bare']:>20.0%}"
            print(row, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    options = parser.parse_args()
    main(options.trials, options.repeats)
