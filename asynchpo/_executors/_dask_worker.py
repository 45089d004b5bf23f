"""The worker's side of :class:`~asynchpo.DaskExecutor`: what runs in a Dask task.

Imported only where ``distributed`` is installed: by the executor on the driver, and by the
workers when they unpickle a trial or the plugin below.

Stopping a trial on its worker: Dask cannot interrupt a running task, but a worker tells its
plugins about every change of a task's state. When the task of a trial is released while it
runs (the driver cancelled it, or the driver died and the scheduler forgot its tasks), the
:class:`StopOnRelease` plugin sets the trial's stop event; a coroutine or ``Command`` trial
waits on that event beside its work and is cancelled (a ``Command`` ends its process group).
No message to the scheduler is involved. A plain function runs as the task itself and cannot
be interrupted.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
import anyio.to_thread
import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from asynchpo._executors._base import _CURRENT_TRIAL, Objective, TrialContext, TrialObjective

__all__ = ["PLUGIN_NAME", "StopOnRelease", "run_trial"]

PLUGIN_NAME = "asynchpo-stop-on-release"

# The stop events of the trials running in this worker process, by task key.
_STOPS: dict[str, threading.Event] = {}
_STOPS_LOCK = threading.Lock()
# Task states in which a task no longer runs for anyone.
_GONE = frozenset({"released", "cancelled", "forgotten"})


class StopOnRelease(WorkerPlugin):  # type: ignore[misc] # distributed is untyped here
    """Sets a running trial's stop event when the worker releases its task."""

    name = PLUGIN_NAME

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if finish in _GONE:
            with _STOPS_LOCK:
                stop = _STOPS.get(key)
            if stop is not None:
                stop.set()


def run_trial(
    objective: Objective, params: Any, context: TrialContext, key: str, cancellable: bool
) -> Any:
    """One trial, as a Dask task: the objective's value, or its exception.

    Returns ``None`` when the trial was stopped (nobody waits for its value then).
    """
    token = _CURRENT_TRIAL.set(context)
    try:
        if not cancellable:
            value = objective(params)
            if hasattr(value, "__await__"):
                return anyio.run(_awaited, value)
            return value
        stop = threading.Event()
        with _STOPS_LOCK:
            _STOPS[key] = stop
        try:
            # A release that came before the event was registered would be missed.
            task = distributed.get_worker().state.tasks.get(key)
            if task is None or task.state != "executing":
                stop.set()
            return anyio.run(_until_stopped, objective, params, context, stop)
        finally:
            with _STOPS_LOCK:
                _STOPS.pop(key, None)
    finally:
        _CURRENT_TRIAL.reset(token)


async def _awaited(value: Any) -> Any:
    return await value


async def _until_stopped(
    objective: Objective, params: Any, context: TrialContext, stop: threading.Event
) -> Any:
    outcome: list[Any] = []
    failure: list[BaseException] = []
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            await anyio.to_thread.run_sync(stop.wait)
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        try:
            if isinstance(objective, TrialObjective):
                outcome.append(await objective.evaluate_trial(params, context))
            else:
                outcome.append(await objective(params))
        except Exception as exc:
            failure.append(exc)
        finally:
            stop.set()  # releases the watcher's thread
    if failure:
        raise failure[0]
    return outcome[0] if outcome else None
