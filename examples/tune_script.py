"""Tune a training script: ``examples/train_mlp.py``, one process per trial, 4 at a time.

Each run adds 24 trials to the study in ``runs/tune_script.sqlite``; each trial's output is in
``runs/tune_script-logs/tune_script/trial-<id>.log``. Run it again and it resumes the stored
study: nothing finished is lost or run twice.

The script needs nothing from asynchpo: it takes its hyperparameters on the command line and
prints its validation loss as the last line of stdout (see its docstring).
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import anyio

from asynchpo import Command, StudyNotFound, Trials, fmin, hp, load_trials, space_eval, tpe

TRAIN = Path(__file__).with_name("train_mlp.py")
STORAGE = Path("runs/tune_script.sqlite")
STUDY = "tune_script"
TRIALS_PER_RUN = 24

space = {
    "lr": hp.loguniform("lr", math.log(1e-3), math.log(3.0)),
    "hidden": hp.uniformint("hidden", 4, 128),
    "epochs": hp.uniformint("epochs", 5, 40),
    "weight_decay": hp.loguniform("weight_decay", math.log(1e-6), math.log(1e-1)),
}

train = Command(
    [
        sys.executable,
        str(TRAIN),
        "--lr",
        "{lr}",
        "--hidden",
        "{hidden}",
        "--epochs",
        "{epochs}",
        "--weight-decay",
        "{weight_decay}",
    ],
    timeout=120,  # a trial that hangs is stopped (and recorded as crashed) after two minutes
)


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    STORAGE.parent.mkdir(exist_ok=True)
    try:
        finished = sum(t.state.is_finished for t in (await load_trials(STORAGE, STUDY)).records)
        print(f"Resuming study {STUDY!r} in {STORAGE}: {finished} trials already finished.")
    except StudyNotFound:
        finished = 0
        print(f"Starting study {STUDY!r} in {STORAGE}.")
    trials = Trials()
    best = await fmin(
        train,
        space,
        algo=tpe.suggest,
        max_evals=finished + TRIALS_PER_RUN,
        concurrency=4,
        storage=STORAGE,
        study=STUDY,
        seed=0,
        trials=trials,
    )
    result = trials.best_trial["result"]
    print(f"Best parameters: {space_eval(space, best)}")
    print(
        f"Validation loss {result['loss']:.4f}, accuracy {result['accuracy']:.3f}, "
        f"after {len(trials)} trials; its output: {result.get('log')}"
    )


if __name__ == "__main__":
    anyio.run(main)
