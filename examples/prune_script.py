"""Tune ``examples/train_mlp.py`` with pruning: unpromising runs are stopped after a few epochs.

    python examples/prune_script.py

The training script prints its validation loss after every epoch as a line
``{"step": <epoch>, "loss": <val_loss>}``; asynchronous successive halving (ASHA) reads those
lines and stops a run whose loss at epoch 1, 3 or 9 is not among the best third of the runs
that got that far. The search runs 40 trials of up to 27 epochs, 4 at a time, in the study
``prune_script`` of ``runs/prune_script.sqlite`` (run it again to add 40 more), and prints how
many epochs it ran against the 27 per trial a search without pruning would have run.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import anyio

from asynchpo import (
    Command,
    StudyNotFound,
    Trials,
    TrialState,
    fmin,
    hp,
    load_trials,
    pruners,
    space_eval,
)

TRAIN = Path(__file__).with_name("train_mlp.py")
STORAGE = Path("runs/prune_script.sqlite")
STUDY = "prune_script"
EPOCHS = 27
TRIALS_PER_RUN = int(os.environ.get("EXAMPLE_TRIALS", "40"))

space = {
    "lr": hp.loguniform("lr", math.log(1e-3), math.log(3.0)),
    "hidden": hp.uniformint("hidden", 4, 128),
    "weight_decay": hp.loguniform("weight_decay", math.log(1e-6), math.log(1e-1)),
}

train = Command(
    [
        *(sys.executable, str(TRAIN), "--lr", "{lr}", "--hidden", "{hidden}"),
        *("--weight-decay", "{weight_decay}", "--epochs", str(EPOCHS)),
    ],
    timeout=120,
)


async def main() -> None:
    STORAGE.parent.mkdir(exist_ok=True)
    try:
        before = len((await load_trials(STORAGE, STUDY)).records)
    except StudyNotFound:
        before = 0
    trials = Trials()
    best = await fmin(
        train,
        space,
        max_evals=before + TRIALS_PER_RUN,
        concurrency=4,
        storage=STORAGE,
        study=STUDY,
        seed=0,
        trials=trials,
        pruner=pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=3, max_resource=EPOCHS
        ),
    )
    records = trials.records[before:]
    pruned = sum(t.state is TrialState.PRUNED for t in records)
    epochs = sum(len(t.reports) for t in records)
    print(
        f"{len(records)} trials, {pruned} pruned: {epochs} epochs run instead of "
        f"{len(records) * EPOCHS} ({epochs / (len(records) * EPOCHS):.0%})"
    )
    print(
        f"Best parameters: {space_eval(space, best)}, "
        f"validation loss {trials.best_trial['result']['loss']:.4f}"
    )


if __name__ == "__main__":
    anyio.run(main)
