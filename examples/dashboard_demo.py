"""A search to watch in the dashboard: a simulated training that reports its loss every epoch,
ASHA stopping the unpromising ones, 16 trials in flight, checkpointed to SQLite.

    python examples/dashboard_demo.py &             # about 40 s for 2,000 trials
    asynchpo dashboard runs/dashboard_demo.sqlite   # then open http://127.0.0.1:8080/

(``pip install -e '.[dashboard]'`` for the dashboard.) Run it again: it adds 2,000 trials to the
same study. ``EXAMPLE_TRIALS`` sets how many, ``EXAMPLE_EPOCH_SECONDS`` how long an epoch takes
(0.04 s).
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import anyio

from asynchpo import STATUS_OK, StudyNotFound, TrialContext, fmin, hp, load_trials, pruners, tpe

SPACE = {
    "lr": hp.loguniform("lr", math.log(1e-4), math.log(1e-1)),
    "optimizer": hp.choice("optimizer", ["sgd", "adam", "rmsprop"]),
    "layers": hp.quniform("layers", 1, 6, 1),
    "dropout": hp.uniform("dropout", 0.0, 0.5),
    "batch_size": hp.choice("batch_size", [32, 64, 128, 256]),
}
EPOCHS = 20


async def train(params: dict[str, object], trial: TrialContext) -> dict[str, object]:
    """A validation loss that falls with the epochs, to its lowest near lr = 3e-3 with adam."""
    lr = float(params["lr"])  # type: ignore[arg-type]
    floor = 0.05 + 0.1 * (math.log10(lr) + 2.5) ** 2
    floor += {"sgd": 0.12, "adam": 0.0, "rmsprop": 0.04}[str(params["optimizer"])]
    floor += 0.08 * abs(float(params["dropout"]) - 0.2)  # type: ignore[arg-type]
    floor += 0.02 * abs(float(params["layers"]) - 3)  # type: ignore[arg-type]
    noise = random.Random(trial.trial_id)
    loss = 2.0
    for epoch in range(EPOCHS):
        await anyio.sleep(float(os.environ.get("EXAMPLE_EPOCH_SECONDS", "0.04")))
        # A larger learning rate learns faster, towards a worse floor: curves cross.
        rate = 0.12 + 20 * lr
        loss = floor + (2.0 - floor) * math.exp(-rate * (epoch + 1)) + noise.gauss(0, 0.01)
        await trial.report(epoch, loss)
    return {"loss": loss, "status": STATUS_OK, "accuracy": max(0.0, 1 - loss)}


async def main() -> None:
    storage = "runs/dashboard_demo.sqlite"
    trials = int(os.environ.get("EXAMPLE_TRIALS", "2000"))
    try:
        before = len((await load_trials(storage, "demo")).records)
    except StudyNotFound:
        before = 0
    print(f"searching; watch it with: asynchpo dashboard {storage}", flush=True)
    best = await fmin(
        train,
        SPACE,
        algo=tpe.suggest,
        max_evals=before + trials,
        concurrency=16,
        storage=storage,
        study="demo",
        pruner=pruners.SuccessiveHalvingPruner(min_resource=4, max_resource=EPOCHS),
        show_progressbar=False,
    )
    print(f"best: {best}")


if __name__ == "__main__":
    Path("runs").mkdir(exist_ok=True)
    anyio.run(main)
