"""Evaluations in a pool of worker processes, for CPU-bound Python objectives."""

from __future__ import annotations

import pickle
from typing import Any, final

import anyio
import anyio.to_process

from asynchpo._exceptions import ConfigError, TrialCrashed
from asynchpo._executors._base import LimitedExecutor, Objective, TrialContext

__all__ = ["ProcessExecutor"]


@final
class ProcessExecutor(LimitedExecutor):
    """Runs a plain, picklable function in worker processes, ``concurrency`` at most at once.

    Use it when the objective is CPU-bound Python, so that trials use every core instead of
    sharing one interpreter: ``await fmin(train, space, executor=ProcessExecutor(),
    concurrency=8)``. The function and its parameters are pickled to the workers, so the
    function must be importable there: define it at the top level of a module or of the
    script (a script's own functions work, as with :mod:`multiprocessing`), not as a lambda
    or a nested function. Workers are reused between trials.

    A worker that dies during a trial (a segfault, ``os._exit``, the OOM killer) fails only
    that trial, with :class:`TrialCrashed` (retried with ``fmin(retries=k)``); the next trial
    gets a fresh worker. Cancelling a trial (a stop condition, a timeout, Ctrl-C) kills its
    worker process.
    """

    def __init__(self) -> None:
        super().__init__()
        self._checked: set[int] = set()

    def check(self, objective: Objective) -> None:
        if id(objective) in self._checked or self.wants_context(objective):
            return
        if self.takes_trial(objective):
            raise ConfigError(
                f"{objective!r:.100} takes a trial to report progress, and reports cannot "
                "come back from ProcessExecutor's workers: run it with the default executor "
                "(in threads or as a coroutine), or as a Command that prints its reports"
            )
        try:
            pickle.dumps(objective)
        except Exception as exc:
            raise ConfigError(
                f"ProcessExecutor needs a picklable objective, and {objective!r} is not "
                f"({exc}); define it with `def` at the top level of a module or script"
            ) from exc
        self._checked.add(id(objective))

    async def evaluate(self, objective: Objective, params: Any, context: TrialContext) -> Any:
        if self.wants_context(objective):
            # A Command (say) starts its own process; running it from a worker would only add
            # a hop, so it runs here, as with LocalExecutor.
            return await objective.evaluate_trial(params, context)
        self.check(objective)
        try:
            return await anyio.to_process.run_sync(
                objective, params, cancellable=True, limiter=self._limiter
            )
        except anyio.BrokenWorkerProcess as exc:
            raise TrialCrashed(
                f"the worker process evaluating trial {context.trial_id} died before "
                "returning (a crash, os._exit, or a kill such as the OOM killer)"
            ) from exc
