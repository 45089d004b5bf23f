"""Objectives for the Dask tests: importable by the worker processes of a test cluster.

Markers go to files in a folder the test gives (``params["dir"]`` is not a parameter, so each
objective is built with :func:`functools.partial`), since the workers are other processes.
"""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import anyio

from asynchpo import TrialContext, current_trial


def quadratic(params: dict[str, Any]) -> dict[str, Any]:
    """A plain function: the loss, where it ran, and when."""
    started = time.time()
    time.sleep(0.05)
    return {
        "loss": (params["x"] - 1.0) ** 2,
        "status": "ok",
        "pid": os.getpid(),
        "trial": current_trial().trial_id,
        "start": started,
        "end": time.time(),
    }


async def async_quadratic(params: dict[str, Any]) -> dict[str, Any]:
    """A coroutine: the loss, where it ran, and which trial it was told it is."""
    started = time.time()
    await anyio.sleep(0.05)
    return {
        "loss": (params["x"] - 1.0) ** 2,
        "status": "ok",
        "pid": os.getpid(),
        "trial": current_trial().trial_id,
        "start": started,
        "end": time.time(),
    }


def fails_on_negative(params: dict[str, Any]) -> float:
    if params["x"] < 0:
        raise ValueError(f"negative x: {params['x']}")
    return float(params["x"])


def kills_its_worker_once(folder: str, params: dict[str, Any]) -> dict[str, Any]:
    """The first attempt of trial 1 SIGKILLs its worker process; every later one returns."""
    trial = current_trial().trial_id
    marker = Path(folder, f"attempt-{trial}")
    with marker.open("a") as file:
        file.write(f"{os.getpid()}\n")
    if trial == 1 and len(marker.read_text().split()) == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return {"loss": float(params["x"]), "status": "ok", "pid": os.getpid()}


def kills_its_worker_always(folder: str, params: dict[str, Any]) -> float:
    """Trial 0 SIGKILLs every worker that runs it; the others return."""
    trial = current_trial().trial_id
    with Path(folder, f"attempt-{trial}").open("a") as file:
        file.write(f"{os.getpid()}\n")
    if trial == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return float(params["x"])


async def sleeps_until_cancelled(folder: str, params: dict[str, Any]) -> float:
    """Writes ``started-<id>``, sleeps a minute, writes ``cancelled-<id>`` when cancelled."""
    trial = current_trial().trial_id
    _mark(folder, f"started-{trial}", str(os.getpid()))
    try:
        await anyio.sleep(60)
    except anyio.get_cancelled_exc_class():
        _mark(folder, f"cancelled-{trial}")
        raise
    return float(params["x"])


def _mark(folder: str, name: str, text: str = "") -> None:
    Path(folder, name).write_text(text)


def slow(delay: float, params: dict[str, Any]) -> float:
    time.sleep(delay)
    return float((params["x"] - 1.0) ** 2)


def curve_loss(x: float, epoch: int) -> float:
    """A learning curve whose final loss is (x - 1)**2: bad points are bad from the start."""
    return (x - 1.0) ** 2 + 1.0 / epoch


async def curve_async(params: dict[str, Any], trial: TrialContext) -> float:
    """27 epochs of 10 ms, reporting after each."""
    loss = math.inf
    for epoch in range(1, 28):
        await anyio.sleep(0.01)
        loss = curve_loss(params["x"], epoch)
        await trial.report(epoch, loss)
    return loss


def curve_sync(params: dict[str, Any], trial: TrialContext) -> float:
    """curve_async as a plain function."""
    loss = math.inf
    for epoch in range(1, 28):
        time.sleep(0.01)
        loss = curve_loss(params["x"], epoch)
        trial.report_sync(epoch, loss)
    return loss
