"""The scheduler: the one place that owns concurrency.

It keeps ``concurrency`` evaluations in flight. Two tasks share its state on the event loop:

- the **launcher** waits for free slots, takes queued trials or asks the suggester for new
  points (seeing every pending point), commits the trials as ``RUNNING``, then starts their
  evaluations;
- the **collector** receives finished evaluations, commits their results, and only then counts
  them, gives them to the suggester's history, frees their slots and checks the stop conditions.

Both batch: whatever finished (or freed) while the other was busy is committed in one write, so
the checkpoint does not limit throughput. Stop conditions cancel the task group; on the way out,
in a shielded scope, results that arrived are committed and trials still in flight are recorded
as ``INTERRUPTED`` so that a later run evaluates them again.

Invariants:
- a trial's ``RUNNING`` record is committed before its evaluation starts;
- a result is committed before it is counted, seen by the suggester or shown;
- a slot is held by at most one trial in flight;
- ``finished + in flight <= max_evals``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import numpy as np
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from asynchpo._executors._base import Executor, Objective, TrialContext
from asynchpo._progress import Progress
from asynchpo._results import Outcome, interpret
from asynchpo._space import Space
from asynchpo._storage import Storage
from asynchpo._suggesters._base import FloatArray, HistoryBuffer, Suggester, trial_rng
from asynchpo._trial import Trial, TrialState

__all__ = ["Run", "StopReason"]

logger = logging.getLogger("asynchpo")

# A suggestion that takes longer than this on average is computed in a worker thread, so the
# event loop keeps committing results meanwhile; cheaper ones run inline, where a thread hop
# would cost more than the suggestion itself.
_INLINE_SUGGESTION_BUDGET = 0.001  # seconds


class StopReason:
    """Why a run stopped (the text recorded on interrupted trials)."""

    MAX_EVALS = "max_evals reached"
    TIMEOUT = "timeout reached"
    LOSS_THRESHOLD = "loss_threshold reached"
    EARLY_STOP = "early_stop_fn asked to stop"
    EARLY_STOP_ERROR = "early_stop_fn raised an exception"
    OBJECTIVE_ERROR = "another trial's objective raised an exception"
    CANCELLED = "the run was cancelled"


@dataclasses.dataclass(frozen=True, slots=True)
class _Done:
    """An evaluation that ended, before its result is committed."""

    trial: Trial
    slot: int
    outcome: Outcome
    exception: Exception | None
    ended: float


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

    def __post_init__(self) -> None:
        self._history = HistoryBuffer(len(self.space))
        self._queue: deque[Trial] = deque()
        self._in_flight: dict[int, tuple[Trial, FloatArray]] = {}
        self._finished = 0
        self._failed = 0
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

    def _count(self, trial: Trial) -> None:
        self._finished += 1
        row = self.space.to_row(trial.params)
        self._history.append(trial.id, row, trial.loss if trial.state is TrialState.OK else None)
        if trial.state is TrialState.OK and trial.loss is not None:
            if self._best is None or trial.loss < self._best:
                self._best = trial.loss
        else:
            self._failed += 1

    def _budget(self) -> float:
        """How many more trials may be started."""
        if self.max_evals is None:
            return math.inf
        return self.max_evals - self._finished - len(self._in_flight)

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

    def _draw(self, *, force: bool = False) -> None:
        if self.progress is not None:
            self.progress.update(
                self._finished, len(self._in_flight), self._failed, self._best, force=force
            )

    # The run -----------------------------------------------------------------------------

    async def run(self, timeout: float | None) -> None:
        """Evaluate trials until a stop condition holds.

        Raises the objective's own exception when it raised and ``catch_eval_exceptions`` is
        false; re-raises cancellation after recording the trials in flight as interrupted.
        """
        if self._stop_condition() is not None:
            return
        free_send, free_receive = anyio.create_memory_object_stream[int](self.concurrency)
        for slot in range(self.concurrency):
            free_send.send_nowait(slot)
        done_send, done_receive = anyio.create_memory_object_stream[_Done](math.inf)
        failure: BaseException | None = None
        try:
            with anyio.move_on_after(math.inf if timeout is None else timeout) as deadline:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._collect, done_receive, free_send, tg.cancel_scope)
                    await self._launch(tg, free_receive, done_send)
            if deadline.cancelled_caught and self._stop_reason is None:
                self._stop_reason = StopReason.TIMEOUT
        except BaseExceptionGroup as group:
            # The task group wraps errors; a single one is re-raised as itself below.
            failure = group.exceptions[0] if len(group.exceptions) == 1 else group
        finally:
            with anyio.CancelScope(shield=True):
                await self._settle(done_receive)
            self._draw(force=True)
            free_send.close()
            free_receive.close()
            done_send.close()
            done_receive.close()
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

    async def _launch(
        self,
        tg: anyio.abc.TaskGroup,
        free: MemoryObjectReceiveStream[int],
        done: MemoryObjectSendStream[_Done],
    ) -> None:
        while True:
            slots = [await free.receive()]
            while True:
                try:
                    slots.append(free.receive_nowait())
                except anyio.WouldBlock:
                    break
            budget = self._budget()
            if budget <= 0 or self._stop_reason is not None:
                # The budget never grows back, so the freed slots are not needed again.
                return
            slots = slots[: int(min(budget, len(slots)))]
            starting = [self._queue.popleft() for _ in range(min(len(slots), len(self._queue)))]
            rows = [self.space.to_row(trial.params) for trial in starting]
            if len(starting) < len(slots):
                fresh_rows = await self._suggest(len(slots) - len(starting), rows)
                now = time.time()
                for row in fresh_rows:
                    params = self.space.to_point(row)
                    starting.append(Trial(self._next_id, TrialState.QUEUED, params, created=now))
                    self._next_id += 1
                rows.extend(fresh_rows)
            now = time.time()
            running = [
                trial.replace(state=TrialState.RUNNING, started=now, finished=None, error=None)
                for trial in starting
            ]
            # Shielded: once the write is sent it may commit, so the trials must be known to be
            # in flight even if the run is being cancelled (_settle then interrupts them).
            with anyio.CancelScope(shield=True):
                await self.storage.write(self.study_id, running)
                for trial, row in zip(running, rows, strict=True):
                    self._in_flight[trial.id] = (trial, row)
                    self.on_record(trial)
            for trial, slot in zip(running, slots, strict=True):
                logger.debug("trial %d started in slot %d: %s", trial.id, slot, trial.params)
                tg.start_soon(self._evaluate, trial, slot, done)
            self._draw()

    async def _suggest(self, count: int, burst: list[FloatArray]) -> list[FloatArray]:
        """``count`` new points; each sees all pending points and the ones before it."""
        history = self._history.snapshot()
        pending_rows = [row for _, row in self._in_flight.values()] + burst
        first_id = self._next_id
        space, algo, seed = self.space, self.algo, self.seed

        def work() -> tuple[list[FloatArray], float]:
            started = time.perf_counter()
            pending = np.array(pending_rows).reshape(len(pending_rows), len(space))
            fresh: list[FloatArray] = []
            for trial_id in range(first_id, first_id + count):
                row = np.asarray(algo(space, history, pending, trial_rng(seed, trial_id)))
                fresh.append(row)
                pending = np.vstack([pending, row[None, :]])
            return fresh, (time.perf_counter() - started) / count

        if self._suggestion_cost > _INLINE_SUGGESTION_BUDGET:
            fresh, cost = await anyio.to_thread.run_sync(work)
        else:
            fresh, cost = work()
        self._suggestion_cost = 0.8 * self._suggestion_cost + 0.2 * cost
        return fresh

    async def _evaluate(self, trial: Trial, slot: int, done: MemoryObjectSendStream[_Done]) -> None:
        params = self.space.evaluate(trial.params)
        exception: Exception | None = None
        try:
            value: Any = await self.executor.evaluate(
                self.objective, params, TrialContext(trial.id, slot)
            )
        except Exception as exc:
            exception = exc
            text = "".join(traceback.format_exception(exc)).rstrip()
            outcome = Outcome(None, {"status": "fail"}, text)
        else:
            outcome = interpret(value)
        done.send_nowait(_Done(trial, slot, outcome, exception, time.time()))

    def _finish(self, done: _Done) -> Trial:
        outcome = done.outcome
        return done.trial.replace(
            state=TrialState.OK if outcome.ok else TrialState.FAIL,
            loss=outcome.loss,
            result=outcome.result,
            error=outcome.error,
            finished=done.ended,
        )

    def _acknowledge(self, done: _Done, record: Trial) -> None:
        """Count a committed result: history, best loss, views, logs."""
        del self._in_flight[record.id]
        self._count(record)
        self.on_record(record)
        if record.state is TrialState.FAIL:
            logger.warning("trial %d failed: %s", record.id, record.error)
        else:
            logger.debug("trial %d finished: loss %s", record.id, record.loss)

    async def _collect(
        self,
        receive: MemoryObjectReceiveStream[_Done],
        free: MemoryObjectSendStream[int],
        scope: anyio.CancelScope,
    ) -> None:
        while True:
            batch = [await receive.receive()]
            while True:
                try:
                    batch.append(receive.receive_nowait())
                except anyio.WouldBlock:
                    break
            records = [self._finish(done) for done in batch]
            # Shielded for the same reason as in _launch: a sent write may commit.
            with anyio.CancelScope(shield=True):
                await self.storage.write(self.study_id, records)
            # No await from here on: every committed record is acknowledged, one at a time,
            # and the stop conditions see the history grow one trial at a time (hyperopt's
            # early_stop_fn protocol).
            for done, record in zip(batch, records, strict=True):
                self._acknowledge(done, record)
                if self._stop_reason is None:
                    self._stop_reason = self._check_stop(done)
            self._draw()
            if self._stop_reason is not None:
                scope.cancel()
                return
            # Slots are freed only now, so that no trial starts after a stop condition held.
            for done in batch:
                free.send_nowait(done.slot)

    def _check_stop(self, done: _Done) -> str | None:
        if done.exception is not None and not self.catch_eval_exceptions:
            self._error = done.exception
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

    async def _settle(self, receive: MemoryObjectReceiveStream[_Done]) -> None:
        """Commit what ended but was not committed, and interrupt what is still in flight."""
        reason = self._stop_reason or StopReason.CANCELLED
        batch: list[_Done] = []
        while True:
            try:
                batch.append(receive.receive_nowait())
            except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.EndOfStream):
                break
        records = [self._finish(done) for done in batch]
        ended = {record.id for record in records}
        now = time.time()
        interrupted = [
            trial.replace(
                state=TrialState.INTERRUPTED, finished=now, error=f"interrupted: {reason}"
            )
            for trial_id, (trial, _) in self._in_flight.items()
            if trial_id not in ended
        ]
        if not records and not interrupted:
            return
        try:
            await self.storage.write(self.study_id, records + interrupted)
        except Exception:
            # The run is already failing or stopping; the stored RUNNING rows are re-run on
            # resume anyway, so losing this write loses no finished result.
            logger.exception("could not record the end of %d trials", len(records + interrupted))
            return
        for done, record in zip(batch, records, strict=True):
            self._acknowledge(done, record)
        for trial in interrupted:
            del self._in_flight[trial.id]
            self.on_record(trial)
        if interrupted:
            logger.info("%d trials in flight were interrupted (%s)", len(interrupted), reason)
