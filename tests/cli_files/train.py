"""A training script for the CLI tests: prints a loss computed from its arguments.

    python train.py --lr LR [--layers N] [--sleep S]

With ``CLI_TEST_MARKS`` set to a folder, it writes ``started-<trial id>`` there once it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--layers", type=int, default=1)
parser.add_argument("--sleep", type=float, default=0.0)
args = parser.parse_args()

marks = os.environ.get("CLI_TEST_MARKS")
if marks:
    Path(marks, f"started-{os.environ['ASYNCHPO_TRIAL_ID']}").touch()
time.sleep(args.sleep)
params = json.loads(os.environ["ASYNCHPO_PARAMS"])
penalty = 0.5 if params.get("opt", {}).get("name") == "sgd" else 0.0
print("training...")
print(abs(args.lr - 0.01) + args.layers / 10 + penalty)
