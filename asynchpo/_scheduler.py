"""The scheduler: the one place that owns concurrency.

It runs one worker task per slot in a single task group. A worker loops: take a queued trial or
ask the suggester for a new point (seeing every pending point), commit the trial as
``RUNNING``, evaluate it, commit the result, and only then count it, give it to the
suggester's history and check the stop conditions, before taking the next trial. So a slot is
refilled the moment its trial ends: no batches, no barriers.

Commits go through a group writer: records that workers hand in while a write is in progress
are stored together by the next write, one transaction for all of them, so the checkpoint does
not limit throughput when many trials end at once.

A running trial may report intermediate losses (``trial.report(step, loss)``): each report is
given to the pruner, which may stop the trial there (:class:`TrialPruned` is raised in the
objective), and kept with the trial (its ``RUNNING`` record is rewritten with them at most once
a second; its finished record holds them all). A pruned trial is recorded as ``PRUNED`` with
its last reported loss, and the suggester sees it as a bad result (flagged in
``History.pruned``; for TPE, one of the bad group).

Stop conditions cancel the task group. On the way out, in a shielded scope, trials still in
flight are recorded as ``INTERRUPTED`` so that a later run evaluates them again.

Invariants:
- a trial's ``RUNNING`` record is committed before its evaluation starts;
- a result is committed before it is counted, seen by the suggester or shown;
- a slot is held by at most one trial (each slot is one worker);
- ``finished + in flight <= max_evals``;
- commits are shielded from cancellation, and between a commit and its bookkeeping there is no
  await, so the in-memory state always matches what was stored.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import numpy as np

from asynchpo._exceptions import ExecutorError, TrialCrashed, TrialPruned
from asynchpo._executors._base import (
    _CURRENT_TRIAL,
    Executor,
    Objective,
    TrialContext,
    TrialObjective,
    checked_report,
    current_trial,
)
from asynchpo._progress import Progress
from asynchpo._pruners import Pruner
from asynchpo._results import Outcome, interpret
from asynchpo._space import Space
from asynchpo._storage import Storage
from asynchpo._suggesters._base import FloatArray, HistoryBuffer, Suggester, TrialRngs
from asynchpo._trial import Trial, TrialState

__all__ = ["Run", "StopReason", "current_trial"]

logger = logging.getLogger("asynchpo")

# A suggestion that takes longer than this on average is computed in a worker thread, so the
# event loop keeps committing results meanwhile; cheaper ones run inline, where a thread hop
# would cost more than the suggestion itself.
_INLINE_SUGGESTION_BUDGET = 0.001  # seconds

# A running trial's record is rewritten with its reports at most this often.
_REPORTS_CHECKPOINT_EVERY = 1.0  # seconds


class StopReason:
    """Why a run stopped (the text recorded on interrupted trials)."""

    MAX_EVALS = "max_evals reached"
    TIMEOUT = "timeout reached"
    LOSS_THRESHOLD = "loss_threshold reached"
    EARLY_STOP = "early_stop_fn asked to stop"
    EARLY_STOP_ERROR = "early_stop_fn raised an exception"
    OBJECTIVE_ERROR = "another trial's objective raised an exception"
    CANCELLED = "the run was cancelled"
    EXECUTOR_ERROR = "the executor failed"


@dataclasses.dataclass
class _Batch:
    records: list[Trial] = dataclasses.field(default_factory=list)
    written: bool = False
    error: Exception | None = None


class _GroupWriter:
    """Stores records handed in by many tasks with as few writes as possible (group commit).

    One write is in progress at a time. Records handed in meanwhile join the open batch, and
    their tasks wait for the write in progress to end; then the first of them to run writes
    the whole batch and the others wait for that. So a burst of N results costs a couple of
    writes, not N. Every caller returns only once its records are committed, and raises if
    the write of its batch failed.
    """

    def __init__(self, storage: Storage, study_id: int) -> None:
        self._storage = storage
        self._study_id = study_id
        self._open = _Batch()
        self._busy = False
        self._idle: anyio.Event | None = None

    async def write(self, records: Sequence[Trial]) -> None:
        batch = self._open
        batch.records.extend(records)
        while not batch.written:
            if self._busy:
                if self._idle is None:
                    self._idle = anyio.Event()
                await self._idle.wait()
                continue
            self._busy = True
            self._open = _Batch()
            try:
                await self._storage.write(self._study_id, batch.records)
            except Exception as exc:
                batch.error = exc
            finally:
                batch.written = True
                self._busy = False
                if self._idle is not None:
                    self._idle.set()
                    self._idle = None
        if batch.error is not None:
            raise batch.error


class _Reporter:
    """The scheduler's end of one trial's :meth:`TrialContext.report`."""

    __slots__ = ("_run", "_trial_id")

    def __init__(self, run: Run, trial_id: int) -> None:
        self._run = run
        self._trial_id = trial_id

    async def report(self, step: int, loss: float) -> None:
        checked_step, checked_loss = checked_report(self._trial_id, step, loss)
        await self._run._report(self._trial_id, checked_step, checked_loss)

    def report_sync(self, step: int, loss: float) -> None:
        token, loop_thread = self._run._loop
        if threading.get_ident() == loop_thread:
            raise RuntimeError(
                "report_sync() was called on the event loop: in a coroutine, use "
                "`await trial.report(step, loss)`"
            )
        try:
            anyio.from_thread.run(self.report, step, loss, token=token)
        except (TrialPruned, ValueError):
            raise
        except RuntimeError as exc:  # the event loop is gone: so is the search
            raise TrialPruned(f"trial {self._trial_id}: the search has ended") from exc


@dataclasses.dataclass
class Run:
    """One call of ``fmin`` driving one study. Create it, then ``await run.run(timeout)``.

    :param records: every stored trial of the study, ordered by id (ids are dense from 0).
    :param on_record: called with each record the run commits, in commit order.
    :param early_stop: called after each finished trial; returns True to stop.
    """

    storage: Storage
    study_id: int
    space: Space
    objective: Objective
    executor: Executor
    algo: Suggester
    seed: int
    concurrency: int
    max_evals: int | None
    loss_threshold: float | None
    catch_eval_exceptions: bool
    records: Sequence[Trial]
    on_record: Callable[[Trial], None]
    early_stop: Callable[[], bool] | None = None
    progress: Progress | None = None
    study_name: str = "default"
    slot_env: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
    log_dir: Path | None = None
    retries: int = 0
    pruner: Pruner | None = None

    def __post_init__(self) -> None:
        self._wants_values = isinstance(self.objective, TrialObjective)
        self._writer = _GroupWriter(self.storage, self.study_id)
        self._history = HistoryBuffer(len(self.space))
        self._queue: deque[Trial] = deque()
        self._in_flight: dict[int, Trial] = {}
        # The rows of the trials in flight, by slot, so that the pending points for a
        # suggestion are one fancy-indexing copy rather than a list to stack.
        self._slot_rows = np.full((self.concurrency, len(self.space)), np.nan)
        self._slot_busy = np.zeros(self.concurrency, dtype=np.bool_)
        # Trials taken by a worker but not yet committed as RUNNING (being suggested).
        self._claimed = 0
        # One suggestion at a time: the suggester contract, and the generators of _rngs.
        self._suggest_lock = anyio.Lock(fast_acquire=True)
        self._rngs = TrialRngs(self.seed)
        self._finished = 0
        self._failed = 0
        self._pruned = 0
        # Trials the pruner stopped, until their evaluation ends.
        self._prune_decided: set[int] = set()
        # The reports of the trials in flight, and when each was last written.
        self._reports: dict[int, list[tuple[int, float]]] = {}
        self._reports_written: dict[int, float] = {}
        self._best: float | None = None
        self._next_id = len(self.records)
        self._suggestion_cost = 0.0
        self._stop_reason: str | None = None
        self._error: Exception | None = None
        restart: list[Trial] = []
        queued: list[Trial] = []
        for trial in self.records:
            if trial.state.is_finished:
                self._count(trial)
                if self.pruner is not None:
                    # The pruner's knowledge, rebuilt from the stored reports.
                    for step, loss in trial.reports:
                        self.pruner.observe(trial.id, step, loss)
                    self.pruner.finish(trial.id, trial.state)
            elif trial.state is TrialState.QUEUED:
                queued.append(trial)
            else:
                # RUNNING here means its run died before recording the end: it was interrupted.
                restart.append(trial)
        self._queue.extend(restart + queued)
        self.restarted = len(restart)

    # Counting and stopping ---------------------------------------------------------------

    @property
    def finished(self) -> int:
        """Trials of the study that are finished (``OK`` or ``FAIL``), earlier runs included."""
        return self._finished

    def _count(self, trial: Trial, row: FloatArray | None = None) -> None:
        self._finished += 1
        if row is None:
            row = self.space.to_row(trial.params)
        ok = trial.state is TrialState.OK and trial.loss is not None
        self._history.append(
            trial.id, row, trial.loss if ok else None, pruned=trial.state is TrialState.PRUNED
        )
        if trial.state is TrialState.PRUNED:
            self._pruned += 1
        elif not ok:
            self._failed += 1
        elif self._best is None or trial.loss < self._best:  # type: ignore[operator]
            self._best = trial.loss

    def _stop_condition(self) -> str | None:
        if self.max_evals is not None and self._finished >= self.max_evals:
            return StopReason.MAX_EVALS
        if (
            self.loss_threshold is not None
            and self._best is not None
            and self._best <= self.loss_threshold
        ):
            return StopReason.LOSS_THRESHOLD
        return None

    def _check_stop(self, exception: Exception | None) -> str | None:
        if exception is not None and not self.catch_eval_exceptions:
            self._error = exception
            return StopReason.OBJECTIVE_ERROR
        reason = self._stop_condition()
        if reason is None and self.early_stop is not None:
            try:
                if self.early_stop():
                    reason = StopReason.EARLY_STOP
            except Exception as exc:
                self._error = exc
                reason = StopReason.EARLY_STOP_ERROR
        return reason

    def _draw(self, *, force: bool = False) -> None:
        if self.progress is not None:
            self.progress.update(
                self._finished,
                len(self._in_flight),
                self._failed,
                self._best,
                pruned=self._pruned,
                force=force,
            )

    # The run -----------------------------------------------------------------------------

    async def run(self, timeout: float | None) -> None:
        """Evaluate trials until a stop condition holds or no work is left.

        Raises the objective's own exception when it raised and ``catch_eval_exceptions`` is
        false; re-raises cancellation after recording the trials in flight as interrupted.
        """
        if self._stop_condition() is not None:
            return
        # Where report_sync reaches this run from a worker thread.
        self._loop = (anyio.lowlevel.current_token(), threading.get_ident())
        failure: BaseException | None = None
        try:
            with anyio.move_on_after(math.inf if timeout is None else timeout) as deadline:
                async with anyio.create_task_group() as tg:
                    for slot in range(self.concurrency):
                        tg.start_soon(self._worker, slot, tg.cancel_scope)
            if deadline.cancelled_caught and self._stop_reason is None:
                self._stop_reason = StopReason.TIMEOUT
        except BaseExceptionGroup as group:
            # The task group wraps errors; a single one is re-raised as itself below.
            failure = group.exceptions[0] if len(group.exceptions) == 1 else group
        finally:
            with anyio.CancelScope(shield=True):
                await self._interrupt_in_flight()
            self._draw(force=True)
        if failure is not None:
            raise failure
        if self._error is not None:
            raise self._error
        logger.info(
            "run ended (%s): %d finished trials, best loss %s",
            self._stop_reason or "no more work",
            self._finished,
            self._best,
        )

    async def _worker(self, slot: int, scope: anyio.CancelScope) -> None:
        while self._stop_reason is None:
            # Lets other workers and the deadline in, even if the objective never awaits.
            await anyio.lowlevel.checkpoint()
            taken = await self._take()
            if taken is None:
                return
            trial, row = taken
            running = Trial(
                trial.id,
                TrialState.RUNNING,
                trial.params,
                None,
                {},
                None,
                trial.created,
                time.time(),
                None,
                slot,
            )
            # Shielded: once sent, a write may commit, so the trial must be known to be in
            # flight even when the run is being cancelled (_interrupt_in_flight records it).
            with anyio.CancelScope(shield=True):
                try:
                    await self._writer.write([running])
                finally:
                    self._claimed -= 1
                self._in_flight[running.id] = running
                self._slot_rows[slot] = row
                self._slot_busy[slot] = True
                self.on_record(running)
            logger.debug("trial %d started in slot %d: %s", running.id, slot, running.params)
            self._draw()
            try:
                record, exception = await self._evaluate(running, slot)
            except ExecutorError as exc:
                # Every trial in flight fails the same way: keep the first error, stop, and
                # leave the trials in flight to be recorded as interrupted.
                if self._stop_reason is None:
                    self._error = exc
                    self._stop_reason = StopReason.EXECUTOR_ERROR
                scope.cancel()
                return
            with anyio.CancelScope(shield=True):
                await self._writer.write([record])
            self._acknowledge(record, slot)
            if self._stop_reason is None:
                self._stop_reason = self._check_stop(exception)
            self._draw()
            if self._stop_reason is not None:
                scope.cancel()
                return

    async def _take(self) -> tuple[Trial, FloatArray] | None:
        """The next trial for a free slot, or None when the budget is spent."""
        if self.max_evals is not None:
            in_play = self._finished + len(self._in_flight) + self._claimed
            if in_play >= self.max_evals:
                # Finished and in-flight trials only ever add up to more, so this worker will
                # never be needed again.
                return None
        self._claimed += 1
        try:
            if self._queue:
                trial = self._queue.popleft()
                return trial, self.space.to_row(trial.params)
            trial_id = self._next_id
            self._next_id += 1
            row = await self._suggest(trial_id)
            params = self.space.to_point(row)
            return Trial(trial_id, TrialState.QUEUED, params, created=time.time()), row
        except BaseException:
            self._claimed -= 1
            raise

    async def _suggest(self, trial_id: int) -> FloatArray:
        """A new point for ``trial_id``; it sees every pending point and all finished trials."""
        async with self._suggest_lock:
            history = self._history.snapshot()
            pending = self._slot_rows[self._slot_busy]
            space, algo, rng = self.space, self.algo, self._rngs(trial_id)

            def timed() -> tuple[Any, float]:
                # CPU time of the thread that suggests: what the suggestion costs, whatever
                # else the machine is doing (wall time would count preemption too).
                started = time.thread_time()
                row = algo(space, history, pending, rng)
                return row, time.thread_time() - started

            if self._suggestion_cost > _INLINE_SUGGESTION_BUDGET:
                row, cost = await anyio.to_thread.run_sync(timed)
            else:
                row, cost = timed()
            self._suggestion_cost = 0.8 * self._suggestion_cost + 0.2 * cost
            return np.asarray(row, dtype=float)

    def _context(self, trial: Trial, slot: int) -> TrialContext:
        return TrialContext(
            trial.id,
            slot,
            values=self.space.values(trial.params) if self._wants_values else {},
            env={name: values[slot] for name, values in self.slot_env.items()},
            log_dir=self.log_dir,
            study=self.study_name,
            reporter=_Reporter(self, trial.id),
        )

    async def _report(self, trial_id: int, step: int, loss: float) -> None:
        """Take a report of a trial in flight; raise TrialPruned if it is to stop.

        The reports are kept in memory, and the trial's ``RUNNING`` record is rewritten with
        them at most every ``_REPORTS_CHECKPOINT_EVERY`` seconds (so that readers see live
        learning curves without a write per report; the finished record holds them all).
        """
        trial = self._in_flight.get(trial_id)
        if trial is None or trial_id in self._prune_decided:
            # Abandoned (a cancelled thread reporting) or already told to stop.
            raise TrialPruned(f"trial {trial_id} is no longer running")
        reports = self._reports.setdefault(trial_id, [])
        if reports and step <= reports[-1][0]:
            raise ValueError(
                f"trial {trial_id} reported step {step} after step {reports[-1][0]}: "
                "the steps of a trial must increase"
            )
        reports.append((step, loss))
        now = time.monotonic()
        if now - self._reports_written.get(trial_id, -math.inf) >= _REPORTS_CHECKPOINT_EVERY:
            self._reports_written[trial_id] = now
            record = trial.replace(reports=tuple(reports))
            with anyio.CancelScope(shield=True):
                await self._writer.write([record])
                if trial_id in self._in_flight:
                    self._in_flight[trial_id] = record
                    self.on_record(record)
        pruner = self.pruner
        if pruner is None:
            return
        pruner.observe(trial_id, step, loss)
        if pruner.should_prune(trial_id, step, loss):
            self._prune_decided.add(trial_id)
            logger.debug("trial %d pruned at step %d (loss %s)", trial_id, step, loss)
            raise TrialPruned(f"trial {trial_id} was pruned at step {step} by {pruner!r}")

    def _take_reports(self, trial_id: int) -> tuple[tuple[int, float], ...]:
        """The reports of a trial whose evaluation ended; forgets them."""
        self._reports_written.pop(trial_id, None)
        return tuple(self._reports.pop(trial_id, ()))

    async def _evaluate(self, trial: Trial, slot: int) -> tuple[Trial, Exception | None]:
        """Run the objective; the finished record and the exception it raised, if any.

        A crash (:class:`TrialCrashed`) is run again up to ``retries`` times; every attempt's
        error is kept in the result's ``attempts``. A crash never stops the run.
        """
        params = self.space.evaluate(trial.params)
        context = self._context(trial, slot)
        token = _CURRENT_TRIAL.set(context)
        exception: Exception | None = None
        crashes: list[str] = []
        pruned: TrialPruned | None = None
        try:
            while True:
                try:
                    value: Any = await self.executor.evaluate(self.objective, params, context)
                except ExecutorError:
                    raise  # not the trial's fault: the run stops (see _worker)
                except TrialPruned as exc:
                    pruned = exc
                    outcome = Outcome(None, {"status": "pruned"}, str(exc))
                except TrialCrashed as exc:
                    crashes.append(str(exc))
                    if len(crashes) <= self.retries:
                        logger.warning(
                            "trial %d crashed (attempt %d of %d), running it again: %s",
                            trial.id,
                            len(crashes),
                            self.retries + 1,
                            exc,
                        )
                        self._restart(trial.id)
                        continue
                    outcome = Outcome(None, {"status": "fail"}, str(exc))
                except Exception as exc:
                    exception = exc
                    text = "".join(traceback.format_exception(exc)).rstrip()
                    outcome = Outcome(None, {"status": "fail"}, text)
                else:
                    outcome = interpret(value)
                break
        finally:
            _CURRENT_TRIAL.reset(token)
        reports = self._take_reports(trial.id)
        if pruned is not None or trial.id in self._prune_decided:
            # Stopped by the pruner (even if the objective then returned), or by itself.
            self._prune_decided.discard(trial.id)
            last = reports[-1] if reports else None
            state = TrialState.PRUNED
            loss = None if last is None else last[1]
            result: dict[str, Any] = {"status": "pruned", "loss": loss}
            if last is not None:
                result["step"] = last[0]
            error: str | None = (
                str(pruned) if pruned is not None else f"trial {trial.id} was pruned"
            )
            exception = None
        else:
            state = TrialState.OK if outcome.ok else TrialState.FAIL
            loss, result, error = outcome.loss, outcome.result, outcome.error
        if crashes:
            result["attempts"] = crashes
        record = Trial(
            trial.id,
            state,
            trial.params,
            loss,
            result,
            error,
            trial.created,
            trial.started,
            time.time(),
            trial.slot,
            reports,
        )
        return record, exception

    def _restart(self, trial_id: int) -> None:
        """A trial runs again from its start: its reports so far no longer count."""
        self._take_reports(trial_id)
        if self.pruner is not None:
            self.pruner.forget(trial_id)

    def _acknowledge(self, record: Trial, slot: int) -> None:
        """Count a committed result: history, best loss, pruner, views, logs."""
        del self._in_flight[record.id]
        self._slot_busy[slot] = False
        self._count(record, self._slot_rows[slot])
        if self.pruner is not None:
            self.pruner.finish(record.id, record.state)
        self.on_record(record)
        if record.state is TrialState.FAIL:
            logger.warning("trial %d failed: %s", record.id, record.error)
        elif record.state is TrialState.PRUNED:
            logger.debug("trial %d pruned: last loss %s", record.id, record.loss)
        else:
            logger.debug("trial %d finished: loss %s", record.id, record.loss)

    async def _interrupt_in_flight(self) -> None:
        """Record every trial still in flight as interrupted, so a later run re-runs it."""
        if not self._in_flight:
            return
        reason = self._stop_reason or StopReason.CANCELLED
        now = time.time()
        interrupted = [
            trial.replace(
                state=TrialState.INTERRUPTED,
                finished=now,
                error=f"interrupted: {reason}",
                reports=tuple(self._reports.get(trial.id, trial.reports)),
            )
            for trial in self._in_flight.values()
        ]
        try:
            await self._writer.write(interrupted)
        except Exception:
            # The run is already failing or stopping; stored RUNNING rows are re-run on resume
            # anyway, so losing this write loses no finished result.
            logger.exception("could not record %d trials as interrupted", len(interrupted))
            return
        self._in_flight.clear()
        self._slot_busy[:] = False
        for trial in interrupted:
            self.on_record(trial)
        logger.info("%d trials in flight were interrupted (%s)", len(interrupted), reason)
