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

Reports: a trial that reports gets a :class:`WorkerReporter` in its context. Each report is
checked here, then sent to the driver as a Dask event on the driver's topic (the worker batches
them to the scheduler, which forwards them to the driver's client); it does not wait for an
answer. When the driver's pruner stops the trial, the driver releases its task: a coroutine or
``Command`` is cancelled at once, and a plain function's next report raises
:class:`TrialPruned`. The task's value is returned with every report the trial made, so the
driver's record is complete even when the last events arrive after the result.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from asynchpo._exceptions import TrialPruned
from asynchpo._executors._base import (
    _CURRENT_TRIAL,
    Objective,
    TrialContext,
    TrialObjective,
    checked_report,
)

__all__ = ["PLUGIN_NAME", "Reported", "StopOnRelease", "WorkerReporter", "run_trial"]

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


@dataclasses.dataclass(frozen=True, slots=True)
class Reported:
    """What a trial that reports returns from its task: its value and all its reports."""

    value: Any
    reports: tuple[tuple[int, float], ...]


class WorkerReporter:
    """Sends a trial's reports from its worker to the driver; see the module docstring."""

    def __init__(self, key: str, topic: str, stop: threading.Event) -> None:
        self._key = key
        self._topic = topic
        self._stop = stop
        self._worker = distributed.get_worker()
        self.reports: list[tuple[int, float]] = []

    def report_sync(self, step: int, loss: float) -> None:
        if self._stop.is_set():
            raise TrialPruned(f"{self._key}: the trial was stopped by the search")
        checked_step, checked_loss = checked_report(-1, step, loss)
        if self.reports and checked_step <= self.reports[-1][0]:
            raise ValueError(
                f"reported step {checked_step} after step {self.reports[-1][0]}: the steps of "
                "a trial must increase"
            )
        self.reports.append((checked_step, checked_loss))
        self._worker.log_event(self._topic, [self._key, checked_step, checked_loss])

    async def report(self, step: int, loss: float) -> None:
        self.report_sync(step, loss)
        await anyio.lowlevel.checkpoint()


def run_trial(
    objective: Objective,
    params: Any,
    context: TrialContext,
    key: str,
    how: tuple[bool, bool, str | None],
) -> Any:
    """One trial, as a Dask task: the objective's value, or its exception.

    :param how: (the objective is a coroutine or a TrialObjective, it takes its trial as a
        second argument, the driver's report topic or None when the trial does not report).
    :returns: the value (a :class:`Reported` if the trial reports), or ``None`` when the
        trial was stopped (nobody waits for its value then).
    """
    in_loop, takes_trial, topic = how
    if not in_loop and topic is None:
        token = _CURRENT_TRIAL.set(context)
        try:
            value = objective(params)
            if hasattr(value, "__await__"):
                return anyio.run(_awaited, value)
            return value
        finally:
            _CURRENT_TRIAL.reset(token)
    stop = threading.Event()
    with _STOPS_LOCK:
        _STOPS[key] = stop
    reporter = None if topic is None else WorkerReporter(key, topic, stop)
    if reporter is not None:
        context = dataclasses.replace(context, reporter=reporter)
    token = _CURRENT_TRIAL.set(context)
    try:
        # A release that came before the event was registered would be missed.
        task = distributed.get_worker().state.tasks.get(key)
        if task is None or task.state != "executing":
            stop.set()
        args = (params, context) if takes_trial else (params,)
        if in_loop:
            value = anyio.run(_until_stopped, objective, args, context, stop)
        else:
            value = objective(*args)
        return value if reporter is None else Reported(value, tuple(reporter.reports))
    finally:
        _CURRENT_TRIAL.reset(token)
        with _STOPS_LOCK:
            _STOPS.pop(key, None)


async def _awaited(value: Any) -> Any:
    return await value


async def _until_stopped(
    objective: Objective, args: tuple[Any, ...], context: TrialContext, stop: threading.Event
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
                outcome.append(await objective.evaluate_trial(args[0], context))
            else:
                outcome.append(await objective(*args))
        except Exception as exc:
            failure.append(exc)
        finally:
            stop.set()  # releases the watcher's thread
    if failure:
        raise failure[0]
    return outcome[0] if outcome else None
