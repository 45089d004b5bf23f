"""Evaluations in this process: coroutines on the event loop, plain functions in threads."""

from __future__ import annotations

import inspect
from typing import Any, final

import anyio
import anyio.to_thread

from asynchpo._executors._base import LimitedExecutor, Objective, ObjectiveExit, TrialContext

__all__ = ["LocalExecutor", "is_async_objective"]


def is_async_objective(objective: Objective) -> bool:
    """True for an ``async def`` function or an object whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(objective):
        return True
    call = getattr(objective, "__call__", None)  # noqa: B004 - we want the bound method itself
    return call is not None and inspect.iscoroutinefunction(call)


@final
class LocalExecutor(LimitedExecutor):
    """The default executor: runs the objective in this process.

    An ``async def`` objective is awaited on the event loop, so thousands of them can wait on
    remote services at once. A plain function runs in a worker thread; at most ``concurrency``
    threads run at once. A cancelled thread cannot be stopped in Python: it is abandoned, runs
    to its end in the background, and its value is discarded (unless it reports: its next
    ``trial.report_sync`` raises :class:`TrialPruned`, which stops it).

    An objective with a second parameter, ``objective(params, trial)``, gets its trial's
    :class:`TrialContext` there, to report its progress.
    """

    async def evaluate(self, objective: Objective, params: Any, context: TrialContext) -> Any:
        try:
            return await self._evaluate(objective, params, context)
        except (SystemExit, KeyboardInterrupt) as exc:
            raise ObjectiveExit(exc) from exc

    async def _evaluate(self, objective: Objective, params: Any, context: TrialContext) -> Any:
        if self.wants_context(objective):
            return await objective.evaluate_trial(params, context)
        args = (params, context) if self.takes_trial(objective) else (params,)
        if is_async_objective(objective):
            return await objective(*args)
        value = await anyio.to_thread.run_sync(
            objective, *args, limiter=self._limiter, abandon_on_cancel=True
        )
        if inspect.isawaitable(value):
            # A plain function that returned a coroutine (e.g. a functools.partial of an
            # async function): await it here, on the loop.
            return await value
        return value
