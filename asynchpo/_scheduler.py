"""The scheduler: the one place that owns concurrency.

It drives a :class:`~asynchpo._study.Study` with one worker task per slot in a single task
group. A worker loops: ask the study for a trial (a waiting one, or a new point that sees every
pending point; the study stores it ``RUNNING`` first), evaluate it with the executor, tell the
study its result (stored before it is counted, seen by the suggester or shown), and check the
stop conditions, before asking again. So a slot is refilled the moment its trial ends: no
batches, no barriers. The bookkeeping is the study's (its ledger); the scheduler keeps only
the workers, cancellation, retries and stop conditions.

A running trial may report intermediate losses (``trial.report(step, loss)``), which go to
the study: it keeps them with the trial and asks the pruner, which may stop the trial there
(:class:`TrialPruned` is raised in the objective).

Stop conditions cancel the task group. On the way out, in a shielded scope, trials still in
flight are recorded as ``INTERRUPTED`` so that a later run (or another driver) evaluates them
again.

Invariants:
- a trial's ``RUNNING`` record is committed before its evaluation starts;
- a result is committed before it is counted, seen by the suggester or shown;
- a slot is held by at most one trial (each slot is one worker);
- ``finished + running <= max_evals``, over every driver of the study;
- commits are shielded from cancellation, and between a commit and its bookkeeping there is no
  await, so the in-memory state always matches what was stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from asynchpo._exceptions import ExecutorError, LeaseLost, TrialCrashed, TrialPruned
from asynchpo._executors._base import (
    _CURRENT_TRIAL,
    Executor,
    Objective,
    ObjectiveExit,
    TrialContext,
    TrialObjective,
    current_trial,
)
from asynchpo._ledger import _NOT_EVALUATED, stop_reason
from asynchpo._progress import REDRAW_EVERY, Progress, trial_line
from asynchpo._results import clean_text, error_text
from asynchpo._study import RunningTrial, Study, single_storage_error
from asynchpo._trial import TrialState

__all__ = ["RunOptions", "Scheduler", "StopReason", "current_trial"]

logger = logging.getLogger("asynchpo")


# How often a worker whose budget is taken up by other drivers' trials looks for a change.
_OTHERS_CHECK_EVERY = 0.1  # seconds


def _cancelled_by_us() -> bool:
    """Whether the running task is being cancelled by a cancel scope around it (the search's
    stop rules, a timeout, Ctrl-C or SIGTERM all cancel through one), rather than by an
    objective that raised or let out a cancellation of its own. A foreign cancellation of
    this asyncio task (``current_task().cancel()`` inside the objective) is withdrawn, so that
    the task goes on."""
    if anyio.current_effective_deadline() == -math.inf:
        return True
    try:
        task = asyncio.current_task()
    except RuntimeError:  # not asyncio
        return False
    if task is not None:
        while task.cancelling():
            task.uncancel()
    return False


class StopReason(enum.StrEnum):
    """Why a run stopped (the text recorded on interrupted trials)."""

    MAX_EVALS = "max_evals reached"
    TIMEOUT = "timeout reached"
    LOSS_THRESHOLD = "loss_threshold reached"
    EARLY_STOP = "early_stop_fn asked to stop"
    EARLY_STOP_ERROR = "early_stop_fn raised an exception"
    OBJECTIVE_ERROR = "another trial's objective raised an exception"
    CANCELLED = "the run was cancelled"
    INTERRUPTED = "the run was interrupted (Ctrl-C)"
    EXECUTOR_ERROR = "the executor failed"
    TERMINATED = "the process was asked to terminate (SIGTERM)"


@dataclasses.dataclass(frozen=True, slots=True)
class RunOptions:
    """How one run drives its study.

    :param concurrency: evaluations in flight at once (one worker per slot).
    :param max_evals: stop once the study has this many finished trials.
    :param loss_threshold: stop once the best loss is at or below this.
    :param catch_eval_exceptions: record an objective's exception as a failed trial and go on.
    :param early_stop: called after each finished trial; returns True to stop.
    :param progress: the progress line, if one is drawn.
    :param slot_env: environment values by slot.
    :param log_dir: the folder for per-trial logs.
    :param retries: how many times a crashed evaluation runs again.
    :param verbose: write a line per finished trial to stderr.
    """

    concurrency: int
    max_evals: int | None = None
    loss_threshold: float | None = None
    catch_eval_exceptions: bool = False
    early_stop: Callable[[], bool] | None = None
    progress: Progress | None = None
    slot_env: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
    log_dir: Path | None = None
    retries: int = 0
    verbose: bool = False


@dataclasses.dataclass
class _Evaluation:
    """What one evaluation produced, before it becomes a record."""

    value: Any = _NOT_EVALUATED
    exception: BaseException | None = None
    pruned: bool = False
    attempts: list[str] = dataclasses.field(default_factory=list)


class Scheduler:
    """Drives ``study`` with ``options.concurrency`` workers; ``await run(timeout)``."""

    def __init__(
        self, study: Study, objective: Objective, executor: Executor, options: RunOptions
    ) -> None:
        self.study = study
        self.objective = objective
        self.executor = executor
        self.options = options
        self._wants_values = isinstance(objective, TrialObjective)
        self._stop_reason: str | None = None
        self._error: BaseException | None = None
        self._scope: anyio.CancelScope | None = None  # the workers' group, while it runs
        #: How many trials in flight the run recorded as interrupted when it stopped.
        self.interrupted = 0
        # Ends the progress line's timer once the last worker has returned.
        self._timer = anyio.CancelScope()
        self._workers = 0

    def stop(self, reason: str) -> None:
        """Ask the run to stop for ``reason`` (the workers see it before their next trial)."""
        if self._stop_reason is None:
            self._stop_reason = reason

    def _draw(self, *, force: bool = False) -> None:
        progress = self.options.progress
        if progress is not None:
            study = self.study
            progress.update(
                study.finished,
                study._ledger.running_here,
                study.count(TrialState.FAIL),
                None if study._ledger.best is None else study._ledger.best.loss,
                pruned=study.count(TrialState.PRUNED),
                force=force,
            )

    def _stop_condition(self) -> str | None:
        options = self.options
        return stop_reason(self.study._ledger, options.max_evals, options.loss_threshold)

    def _check_stop(self, exception: BaseException | None) -> str | None:
        if isinstance(exception, ObjectiveExit) or (
            exception is not None and not self.options.catch_eval_exceptions
        ):
            self._error = exception
            return StopReason.OBJECTIVE_ERROR
        reason = self._stop_condition()
        early_stop = self.options.early_stop
        if reason is None and early_stop is not None:
            try:
                if early_stop():
                    reason = StopReason.EARLY_STOP
            except Exception as exc:
                self._error = exc
                reason = StopReason.EARLY_STOP_ERROR
        return reason

    def _say(self, text: str) -> None:
        progress = self.options.progress
        if progress is not None:
            progress.message(text)
        else:
            print(text, file=sys.stderr, flush=True)

    async def _redraw(self) -> None:
        """Redraw the progress line every ``REDRAW_EVERY`` seconds: its clock and running
        count move while long trials run, not only when one ends."""
        with self._timer:
            while True:
                await anyio.sleep(REDRAW_EVERY)
                self._draw(force=True)

    async def _slot(self, slot: int, scope: anyio.CancelScope) -> None:
        try:
            await self._worker(slot, scope)
        finally:
            self._workers -= 1
            if not self._workers:
                self._timer.cancel()

    # The run -----------------------------------------------------------------------------

    async def run(self, timeout: float | None, scope: anyio.CancelScope | None = None) -> None:
        """Evaluate trials until a stop condition holds or no work is left.

        Raises the objective's own exception when it raised and ``catch_eval_exceptions`` is
        false; re-raises cancellation after recording the trials in flight as interrupted.
        """
        if self._stop_condition() is not None:
            return
        failure: BaseException | None = None
        try:
            with anyio.move_on_after(math.inf if timeout is None else timeout) as deadline:
                async with anyio.create_task_group() as tg:
                    self._scope = tg.cancel_scope
                    self._workers = self.options.concurrency
                    for slot in range(self.options.concurrency):
                        tg.start_soon(self._slot, slot, tg.cancel_scope)
                    if self.options.progress is not None:
                        tg.start_soon(self._redraw)
            if deadline.cancelled_caught and self._stop_reason is None:
                self._stop_reason = StopReason.TIMEOUT
        except BaseExceptionGroup as group:
            # The task group wraps errors; a single one is re-raised as itself below, and so is
            # the first of several storage errors (workers that hit a full disk at once).
            failure = group.exceptions[0] if len(group.exceptions) == 1 else group
            failure = single_storage_error(group) or failure
        finally:
            with anyio.CancelScope(shield=True):
                reason = self._stop_reason or StopReason.CANCELLED
                try:
                    count = await self.study._interrupt(reason)
                except Exception as exc:
                    # The run is already failing or stopping; stored RUNNING rows are re-run
                    # on resume anyway, so losing this write loses no finished result. One
                    # line: the error that ends the run (a full disk, most likely the same)
                    # reaches the caller on its own.
                    failing = failure is not None or self._error is not None
                    logger.log(
                        logging.DEBUG if failing else logging.WARNING,
                        "could not record the trials in flight as interrupted: %s",
                        exc,
                    )
                else:
                    self.interrupted = count
                    if count:
                        logger.info("%d trials in flight were interrupted (%s)", count, reason)
            self._draw(force=True)
        if failure is not None:
            raise failure
        if self._error is not None:
            raise self._error
        best = self.study._ledger.best
        logger.info(
            "run ended (%s): %d finished trials, best loss %s",
            self._stop_reason or "no more work",
            self.study.finished,
            None if best is None else best.loss,
        )

    def cancel(self, reason: str) -> None:
        """Stop the run now for ``reason``: the trials in flight are interrupted. Before the
        run starts, it starts no trial."""
        self.stop(reason)
        if self._scope is not None:
            self._scope.cancel()

    async def _worker(self, slot: int, scope: anyio.CancelScope) -> None:
        study = self.study
        while self._stop_reason is None:
            # Lets other workers and the deadline in, even if the objective never awaits.
            await anyio.lowlevel.checkpoint()
            trial = await study._start(slot)
            if trial is None:
                if not await self._wait_for_others():
                    return
                continue
            logger.debug("trial %d started in slot %d: %s", trial.id, slot, trial.point)
            self._draw()
            try:
                evaluation = await self._evaluate(trial, slot)
            except ExecutorError as exc:
                # Every trial in flight fails the same way: keep the first error, stop, and
                # leave the trials in flight to be recorded as interrupted.
                if self._stop_reason is None:
                    self._error = exc
                    self._stop_reason = StopReason.EXECUTOR_ERROR
                scope.cancel()
                return
            try:
                record = await study._finish(
                    trial.id,
                    value=evaluation.value,
                    exception=evaluation.exception,
                    pruned=evaluation.pruned,
                    attempts=evaluation.attempts,
                )
            except LeaseLost as exc:
                logger.warning("%s", exc)
                continue
            if self.options.verbose:
                best = study._ledger.best
                self._say(trial_line(record, None if best is None else best.loss))
            if record.state is TrialState.FAIL:
                raised = evaluation.exception
                if raised is not None and not isinstance(raised, TrialCrashed):
                    # The objective's frames, not the ones it was called through.
                    logger.warning("trial %d failed: %s", record.id, user_traceback(raised))
                elif not self.options.verbose:  # else its verbose line said it all
                    logger.warning("trial %d failed: %s", record.id, record.error)
            elif record.state is TrialState.PRUNED:
                logger.debug("trial %d pruned: last loss %s", record.id, record.loss)
            else:
                logger.debug("trial %d finished: loss %s", record.id, record.loss)
            exception = evaluation.exception
            if (
                isinstance(exception, TrialPruned | TrialCrashed)
                or record.state is TrialState.PRUNED
            ):
                exception = None
            if self._stop_reason is None:
                self._stop_reason = self._check_stop(exception)
            self._draw()
            if self._stop_reason is not None:
                scope.cancel()
                return

    async def _wait_for_others(self) -> bool:
        """The budget is taken up by trials running under other drivers: wait until one of
        them ends (the study's version moves) or could have come back (its driver's lease
        lapsing), and say whether to ask again.

        Other processes cannot wake this one, so the wait checks the study's version (a
        read of a few microseconds) every ``_OTHERS_CHECK_EVERY`` seconds.
        """
        study = self.study
        max_evals = self.options.max_evals
        foreign = study._ledger.foreign_running()
        if not foreign or (max_evals is not None and study.finished >= max_evals):
            return False
        deadlines = [
            holder.seen + holder.lease
            for driver in set(foreign.values())
            if driver is not None and (holder := study._others.get(driver)) is not None
        ]
        deadline = min([*deadlines, time.time() + study._lease / 3])
        known = study._ledger.version
        while time.time() < deadline:
            await anyio.sleep(min(_OTHERS_CHECK_EVERY, max(0.0, deadline - time.time())))
            if await study._storage.version(study.record.id) != known:
                break
        study._behind = True
        return True

    def _context(self, trial: RunningTrial, slot: int) -> TrialContext:
        options = self.options
        space = self.study.space
        assert space is not None
        return TrialContext(
            trial.id,
            slot,
            values=space.values(trial.point) if self._wants_values else {},
            env={name: values[slot] for name, values in options.slot_env.items()},
            log_dir=options.log_dir,
            study=self.study.name,
            reporter=trial,
        )

    async def _evaluate(self, trial: RunningTrial, slot: int) -> _Evaluation:
        """Run the objective until it returns, raises, or crashes past its retries.

        A crash (:class:`TrialCrashed`) is run again up to ``retries`` times; every attempt's
        error is kept in the result's ``attempts``. A crash never stops the run.
        """
        context = self._context(trial, slot)
        token = _CURRENT_TRIAL.set(context)
        evaluation = _Evaluation()
        cancelled = anyio.get_cancelled_exc_class()
        try:
            while True:
                try:
                    try:
                        evaluation.value = await self.executor.evaluate(
                            self.objective, trial.params, context
                        )
                    except cancelled as exc:
                        if _cancelled_by_us():
                            raise
                        # A cancellation the search did not ask for (a library's own timeout
                        # or cancel scope leaking out of the objective): no answer, a crash.
                        raise TrialCrashed(
                            f"trial {trial.id}: the objective raised {type(exc).__name__} "
                            "although the search did not cancel it (a timeout or cancel "
                            "scope inside the objective let it out?); catch it in the "
                            "objective, or return STATUS_FAIL"
                        ) from exc
                except ExecutorError:
                    raise  # not the trial's fault: the run stops (see _worker)
                except TrialPruned as exc:
                    evaluation.exception = exc
                    evaluation.pruned = True
                except TrialCrashed as exc:
                    evaluation.attempts.append(str(exc))
                    if len(evaluation.attempts) <= self.options.retries:
                        logger.warning(
                            "trial %d crashed (attempt %d of %d), running it again: %s",
                            trial.id,
                            len(evaluation.attempts),
                            self.options.retries + 1,
                            exc,
                        )
                        self.study._restart(trial.id)
                        continue
                    evaluation.exception = exc
                except Exception as exc:
                    evaluation.exception = exc
                break
        finally:
            _CURRENT_TRIAL.reset(token)
        return evaluation


# Where the frames of asynchpo and the libraries it runs objectives through live: a traceback
# shown to a person leaves them out, as they say nothing about the objective's error.
_INTERNAL_FOLDERS = (
    *(
        os.path.dirname(module.__file__) + os.sep
        for module in (sys.modules["asynchpo"], anyio, asyncio)
        if module.__file__ is not None
    ),
    os.path.join(os.path.dirname(os.path.dirname(asyncio.__file__ or "")), "concurrent", ""),
)


def _user_frames(shown: traceback.TracebackException) -> None:
    kept = [frame for frame in shown.stack if not frame.filename.startswith(_INTERNAL_FOLDERS)]
    if kept:  # an error raised inside asynchpo itself keeps its frames
        shown.stack = traceback.StackSummary.from_list(kept)
    for linked in (shown.__cause__, shown.__context__):
        if linked is not None:
            _user_frames(linked)


def user_traceback(exception: BaseException) -> str:
    """The traceback of an objective's ``exception`` with the frames of asynchpo, anyio and
    asyncio left out: the objective's own frames and the error; never raises."""
    try:
        shown = traceback.TracebackException.from_exception(exception)
        _user_frames(shown)
        return clean_text("".join(shown.format()).rstrip())
    except Exception:
        return error_text(exception)
