"""A search driving a Dask cluster from its own process, for the test that kills it.

Usage: python dask_driver.py SCHEDULER_ADDRESS DB MAX_EVALS [MARKS_FOLDER]

Prints ``finished <n>`` (flushed) after each finished trial, once it is committed. With a
MARKS_FOLDER, the objective is instead a coroutine that marks its start and its cancellation
there and sleeps a minute (``dask_objectives.sleeps_until_cancelled``).
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import anyio
import dask_objectives as objectives

from asynchpo import DaskExecutor, fmin, hp, rand

SPACE = {"x": hp.uniform("x", -5, 5)}


def main() -> None:
    address, db, max_evals = sys.argv[1:4]
    objective: Any = functools.partial(objectives.slow, 0.2)
    if len(sys.argv) > 4:
        objective = functools.partial(objectives.sleeps_until_cancelled, sys.argv[4])

    def report(trials: Any, *args: Any) -> tuple[bool, Any]:
        finished = sum(loss is not None for loss in trials.losses())
        print(f"finished {finished}", flush=True)
        return False, args

    anyio.run(
        functools.partial(
            fmin,
            objective,
            SPACE,
            algo=rand.suggest,
            max_evals=int(max_evals),
            concurrency=3,
            executor=DaskExecutor(address),
            storage=db,
            seed=5,
            early_stop_fn=report,
            show_progressbar=False,
        )
    )


if __name__ == "__main__":
    main()
