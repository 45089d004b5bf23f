"""A training script for the pruning tests: a learning curve, one JSON report per epoch.

Usage: python pruning_curve.py X PID_FOLDER

The loss after epoch e is ``(x - 1)**2 + 1 / e``: bad values of x are bad from the first
epoch. Each run writes its pid to PID_FOLDER/<trial id>.pid, sleeps a little per epoch, and
prints the final loss after 27 epochs. It ignores SIGTERM for a moment when x < -4, to check
that a pruned program that lingers is killed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

EPOCHS = 27


def main() -> None:
    x = float(sys.argv[1])
    folder = Path(sys.argv[2])
    (folder / f"{os.environ['ASYNCHPO_TRIAL_ID']}.pid").write_text(str(os.getpid()))
    if x < -4:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    loss = math_loss(x, 1)
    for epoch in range(1, EPOCHS + 1):
        loss = math_loss(x, epoch)
        print(json.dumps({"step": epoch, "loss": loss}), flush=True)
        time.sleep(0.01)
    print(loss)


def math_loss(x: float, epoch: int) -> float:
    return (x - 1.0) ** 2 + 1.0 / epoch


if __name__ == "__main__":
    main()
