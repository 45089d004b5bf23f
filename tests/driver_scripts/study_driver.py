"""One driver of a shared study, for tests/test_drivers.py to start, stop and kill.

    python study_driver.py {asktell,fmin} DB STUDY --max-evals N [options]

``asktell`` drives the study with a plain ask/tell loop (``open_study_sync``, one trial at a
time) until ``ask`` has nothing left; ``fmin`` runs ``fmin_sync`` with ``--concurrency``
workers. The space is ``driver_space.space``; every evaluation:

- appends ``<trial id> <tag> <params as JSON>`` to ``--log`` (one ``write``, so lines of
  several processes do not mix; the tag is ``$DRIVER_TAG``, else the pid), the same line the
  ``asynchpo run`` drivers' shell program writes;
- prints ``start <trial id>`` (flushed);
- with ``--hold DIR``, waits until the file ``DIR/release-<trial id>`` or ``DIR/release-all``
  exists;
- sleeps ``--sleep`` seconds and returns the loss ``x + --offset``.

A result refused because another driver took the trial over prints ``lease lost: ...``
(ask/tell) or is logged as a warning on stderr (fmin). ``--fake-host NAME`` makes this
driver register under another host name, so that the others cannot see that its process is
gone and must wait for its lease to lapse. Prints ``done <finished trials>`` at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

parser = argparse.ArgumentParser()
parser.add_argument("mode", choices=["asktell", "fmin"])
parser.add_argument("db")
parser.add_argument("study")
parser.add_argument("--max-evals", type=int, required=True)
parser.add_argument("--concurrency", type=int, default=1)
parser.add_argument("--lease", type=float, default=10.0)
parser.add_argument("--algo", choices=["rand", "tpe"], default="rand")
parser.add_argument("--seed", type=int, default=7)
parser.add_argument("--log")
parser.add_argument("--hold")
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--offset", type=float, default=0.0)
parser.add_argument("--fake-host")
args = parser.parse_args()

if args.fake_host:
    # Before asynchpo is imported: it reads the host name once, at import.
    fake_host: str = args.fake_host
    socket.gethostname = lambda: fake_host

import anyio  # noqa: E402
import anyio.to_thread  # noqa: E402
from driver_space import space  # noqa: E402

from asynchpo import (  # noqa: E402
    LeaseLost,
    TrialContext,
    Trials,
    TrialState,
    fmin_sync,
    open_study_sync,
    rand,
    tpe,
)

ALGO = {"rand": rand.suggest, "tpe": tpe.suggest}[args.algo]


def log_start(trial_id: int, params: Any) -> None:
    if args.log:
        tag = os.environ.get("DRIVER_TAG", str(os.getpid()))
        line = f"{trial_id} {tag} {json.dumps(params, sort_keys=True)}\n"
        fd = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    print(f"start {trial_id}", flush=True)


def loss(params: Any) -> float:
    return float(params["x"]) + float(args.offset)


def wait_released(trial_id: int) -> None:
    while args.hold and not any(
        Path(args.hold, name).exists() for name in (f"release-{trial_id}", "release-all")
    ):
        time.sleep(0.02)


def run_ask_tell() -> int:
    with open_study_sync(
        args.db,
        args.study,
        space=space,
        algo=ALGO,
        seed=args.seed,
        max_evals=args.max_evals,
        lease_seconds=args.lease,
    ) as study:
        while asked := study.ask(1):
            trial = asked[0]
            log_start(trial.id, trial.params)
            wait_released(trial.id)
            time.sleep(args.sleep)
            try:
                study.tell(trial, loss(trial.params))
            except LeaseLost as exc:
                print(f"lease lost: {exc}", flush=True)
        return study.study.finished


def run_fmin() -> int:
    async def objective(params: dict[str, Any], trial: TrialContext) -> float:
        log_start(trial.trial_id, params)
        await anyio.to_thread.run_sync(wait_released, trial.trial_id)
        await anyio.sleep(args.sleep)
        return loss(params)

    trials = Trials()
    fmin_sync(
        objective,
        space,
        algo=ALGO,
        max_evals=args.max_evals,
        concurrency=args.concurrency,
        storage=args.db,
        study=args.study,
        seed=args.seed,
        lease_seconds=args.lease,
        trials=trials,
    )
    return sum(trial.state is TrialState.OK for trial in trials.records)


def main() -> None:
    finished = run_ask_tell() if args.mode == "asktell" else run_fmin()
    print(f"done {finished}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
