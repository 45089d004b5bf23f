"""Quickstart: a concurrent search of an async objective, checkpointed to SQLite.

Each run adds 100 trials to the study in ``runs/quickstart.sqlite``, 8 in flight at once.
Run it again and it resumes the stored study: nothing finished is lost or run twice.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import anyio

from asynchpo import StudyNotFound, fmin, hp, load_trials, space_eval, tpe

STORAGE = Path("runs/quickstart.sqlite")
STUDY = "quickstart"
TRIALS_PER_RUN = 100

space = {
    "lr": hp.loguniform("lr", math.log(1e-5), math.log(1e-1)),
    "model": hp.choice(
        "model",
        [
            {
                "kind": "mlp",
                "layers": hp.uniformint("layers", 1, 4),
                "dropout": hp.uniform("dropout", 0, 0.5),
            },
            {"kind": "tree", "depth": hp.quniform("depth", 2, 12, 1)},
        ],
    ),
}


async def objective(params: dict[str, Any]) -> float:
    """Stands in for a remote training job: waits on I/O, then reports a validation loss."""
    model = params["model"]
    await anyio.sleep(0.05)
    lr_term = (math.log10(params["lr"]) + 3) ** 2  # best near lr = 1e-3
    if model["kind"] == "mlp":
        return float(lr_term + 0.3 * abs(model["layers"] - 3) + (model["dropout"] - 0.2) ** 2)
    return float(lr_term + 0.5 + 0.05 * abs(model["depth"] - 8))


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    STORAGE.parent.mkdir(exist_ok=True)
    try:
        finished = sum(t.state.is_finished for t in (await load_trials(STORAGE, STUDY)).records)
        print(f"Resuming study {STUDY!r} in {STORAGE}: {finished} trials already finished.")
    except StudyNotFound:
        finished = 0
        print(f"Starting study {STUDY!r} in {STORAGE}.")
    best = await fmin(
        objective,
        space,
        algo=tpe.suggest,
        max_evals=finished + TRIALS_PER_RUN,
        concurrency=8,
        storage=STORAGE,
        study=STUDY,
        seed=0,
    )
    print(f"Best point (hyperopt's argmin): {best}")
    print(f"Best parameters: {space_eval(space, best)}")


if __name__ == "__main__":
    anyio.run(main)
