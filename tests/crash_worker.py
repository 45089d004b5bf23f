"""A search run in its own process, for the crash tests to kill.

Usage: python crash_worker.py DB STUDY MAX_EVALS CONCURRENCY ALGO DELAY [sync]

Prints ``start <x>`` (flushed) when an evaluation starts, so the test knows how far it got.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio

from asynchpo import anneal, fmin, fmin_sync, hp, rand

SPACE = {
    "x": hp.uniform("x", -5, 5),
    "kind": hp.choice("kind", [{"k": "a"}, {"k": "b", "y": hp.quniform("y", 0, 10, 1)}]),
}


def main() -> None:
    db, study, max_evals, concurrency, algo_name, delay = sys.argv[1:7]
    use_sync = len(sys.argv) > 7 and sys.argv[7] == "sync"
    algo = {"rand": rand.suggest, "anneal": anneal.suggest}[algo_name]

    async def objective(params: dict[str, object]) -> float:
        print(f"start {params['x']!r}", flush=True)
        await anyio.sleep(float(delay))
        x = float(params["x"])  # type: ignore[arg-type]
        return (x - 1.0) ** 2

    kwargs: dict[str, Any] = {
        "algo": algo,
        "max_evals": int(max_evals),
        "concurrency": int(concurrency),
        "storage": db,
        "study": study,
        "seed": 123,
    }
    if use_sync:
        fmin_sync(objective, SPACE, **kwargs)
    else:
        anyio.run(lambda: fmin(objective, SPACE, **kwargs))
    print("done", flush=True)


if __name__ == "__main__":
    main()
