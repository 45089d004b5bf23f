"""What one driver knows of its study: pure bookkeeping, with no event loop and no I/O.

A :class:`Ledger` holds the latest record of every trial it has seen (read from storage or
written by its own driver) and what follows from them: the counts by state, the best trial,
the history a suggester learns from, the points pending (running anywhere, or being suggested
here), the trials waiting to be taken, and the reports of its own trials in flight with the
pruner's view of them. The :class:`~asynchpo._study.Study` feeds it; it never awaits.

Invariants:
- a trial enters the history once, when its finished record is first absorbed;
- a finished record is final: a later non-finished record of the same trial is ignored;
- a trial this driver runs is known from its own records: a stored record of it counts only
  if it is finished or shows another driver holding it (a takeover);
- the pruner sees each finished trial's reports exactly once: live for this driver's trials,
  replayed from the stored record for the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import numpy as np

from asynchpo._exceptions import SpaceError, TrialCrashed, TrialPruned
from asynchpo._objectives import MINIMIZE, Objectives
from asynchpo._pruners import Pruner
from asynchpo._results import error_text, interpret, safe_str
from asynchpo._space import Space
from asynchpo._storage._schema import DamagedRecord
from asynchpo._suggesters._base import FloatArray, History, HistoryBuffer
from asynchpo._trial import Reports, Trial, TrialState, activity

__all__ = ["Ledger", "PendingRows", "finished_record", "stop_reason"]


class PendingRows:
    """The rows of the points pending, by key, packed so that a snapshot is one slice copy.

    Removal swaps the last row into the freed place, so adding and removing are O(1).
    """

    def __init__(self, width: int) -> None:
        self._rows = np.empty((8, width))
        self._keys: list[object] = []
        self._where: dict[object, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def add(self, key: object, row: FloatArray) -> None:
        """Add (or replace) the row pending under ``key``."""
        at = self._where.get(key)
        if at is None:
            at = len(self._keys)
            if at == len(self._rows):
                self._rows = np.concatenate([self._rows, np.empty_like(self._rows)])
            self._keys.append(key)
            self._where[key] = at
        self._rows[at] = row

    def discard(self, key: object) -> None:
        """Remove the row of ``key``, if it is pending."""
        at = self._where.pop(key, None)
        if at is None:
            return
        last = len(self._keys) - 1
        if at != last:
            moved = self._keys[last]
            self._rows[at] = self._rows[last]
            self._keys[at] = moved
            self._where[moved] = at
        self._keys.pop()

    def snapshot(self) -> FloatArray:
        """A copy of the pending rows, ``(m, width)``."""
        return self._rows[: len(self._keys)].copy()


_NOT_EVALUATED: Final = object()


def finished_record(
    trial: Trial,
    *,
    value: Any = _NOT_EVALUATED,
    exception: BaseException | None = None,
    pruned: bool = False,
    reports: Reports = (),
    attempts: Sequence[str] = (),
    objectives: int = 1,
    now: float,
) -> Trial:
    """The finished record of a running ``trial`` from what its evaluation produced.

    :param value: what the objective returned (hyperopt's result protocol), if it returned.
    :param exception: what it raised instead: :class:`TrialPruned` means pruned,
        :class:`TrialCrashed` a crash (its message is the error), anything else a failure
        whose error is the traceback.
    :param pruned: the pruner stopped the trial (even if the objective then returned).
    :param reports: every ``(step, loss)`` it reported.
    :param attempts: the errors of earlier attempts that crashed and were retried.
    :param objectives: how many objectives the study has (the result's ``loss`` is a list of
        as many with more than one).
    :param now: the time it finished.
    """
    loss: float | None
    error: str | None
    result: dict[str, Any]
    if pruned or isinstance(exception, TrialPruned):
        last = reports[-1] if reports else None
        state = TrialState.PRUNED
        loss = None if last is None else last[1]
        result = {"status": "pruned", "loss": loss}
        if last is not None:
            result["step"] = last[0]
        error = safe_str(exception) if isinstance(exception, TrialPruned) else None
        error = error or f"trial {trial.id} was pruned"
    elif exception is not None:
        state, loss, result = TrialState.FAIL, None, {"status": "fail"}
        if isinstance(exception, TrialCrashed):
            error = safe_str(exception)
        else:
            error = error_text(exception)
    elif value is _NOT_EVALUATED:
        raise ValueError("finished_record needs the value, an exception or pruned=True")
    else:
        outcome = interpret(value, objectives)
        state = TrialState.OK if outcome.ok else TrialState.FAIL
        loss, result, error = outcome.loss, outcome.result, outcome.error
    if attempts:
        result["attempts"] = list(attempts)
    return trial.replace(
        state=state, loss=loss, result=result, error=error, finished=now, reports=reports
    )


class Ledger:
    """One driver's view of its study. See the module docstring for the invariants.

    :param space: the study's compiled space; ``None`` for a reader that only counts (no
        history and no pending points then).
    :param driver: the id of the driver this ledger belongs to (``None`` for a reader).
    :param pruner: the driver's pruner, fed every finished trial's reports once.
    """

    def __init__(
        self,
        space: Space | None,
        *,
        driver: int | None = None,
        pruner: Pruner | None = None,
        objectives: Objectives = MINIMIZE,
    ) -> None:
        self.space = space
        width = 0 if space is None else len(space)
        self.driver = driver
        self.pruner = pruner
        #: What the study optimises: its directions.
        self.objectives = objectives
        #: The study version the ledger has read up to (every change up to it is absorbed).
        self.version = -1
        self._records: dict[int, Trial] = {}
        self._history = HistoryBuffer(width, objectives=objectives.count)
        self._counts = dict.fromkeys(TrialState, 0)
        self._best: Trial | None = None
        self._front: list[Trial] | None = []  # None: to compute again
        self._last = 0.0  # the latest moment any record tells of
        self._next_id = 0
        self._pending = PendingRows(width)
        # The rows of trials running (computed once, dropped when they finish).
        self._rows: dict[int, FloatArray] = {}
        # Own trials in flight (held by this driver): the ledger's own word on them.
        self._own: set[int] = set()
        self._waiting: set[int] = set()  # QUEUED and INTERRUPTED
        self._foreign: dict[int, int | None] = {}  # RUNNING under another driver -> driver
        self._reports: dict[int, list[tuple[int, float]]] = {}
        self._prune_decided: set[int] = set()
        self._observed: set[int] = set()

    # What the study holds -----------------------------------------------------------------

    @property
    def records(self) -> Mapping[int, Trial]:
        """The latest record of every trial, by id."""
        return self._records

    def trials(self) -> list[Trial]:
        """Every trial, ordered by id."""
        return [self._records[tid] for tid in sorted(self._records)]

    def count(self, state: TrialState) -> int:
        """How many trials are in ``state``."""
        return self._counts[state]

    @property
    def finished(self) -> int:
        """Finished trials (``OK``, ``FAIL``, ``PRUNED``), of every driver and run."""
        return (
            self._counts[TrialState.OK]
            + self._counts[TrialState.FAIL]
            + self._counts[TrialState.PRUNED]
        )

    @property
    def active(self) -> int:
        """Finished and running trials: what counts toward ``max_evals``."""
        return self.finished + self._counts[TrialState.RUNNING]

    @property
    def best(self) -> Trial | None:
        """The best trial of a single-objective study (see :mod:`asynchpo._objectives`);
        ``None`` with several objectives, which have :meth:`front` instead."""
        return self._best

    def front(self) -> list[Trial]:
        """The best trials: the Pareto front of the feasible successful trials (one
        objective: the best trial), by id; computed again only after a trial finished."""
        if self._front is None:
            self._front = self.objectives.front(
                trial for trial in self._records.values() if trial.ok
            )
        return list(self._front)

    @property
    def next_id(self) -> int:
        """The id the next new trial would get, as far as this ledger knows."""
        return self._next_id

    @property
    def in_flight(self) -> frozenset[int]:
        """The ids of this driver's trials in flight."""
        return frozenset(self._own)

    @property
    def running_here(self) -> int:
        """How many trials this driver has in flight."""
        return len(self._own)

    def holds(self, trial_id: int) -> bool:
        """Whether this driver runs ``trial_id`` now."""
        return trial_id in self._own

    @property
    def waiting(self) -> bool:
        """Whether queued or interrupted trials wait to be taken."""
        return bool(self._waiting)

    @property
    def has_foreign(self) -> bool:
        """Whether trials run under other drivers."""
        return bool(self._foreign)

    @property
    def last_activity(self) -> float:
        """The latest created, started or finished time of any trial (0 without trials)."""
        return self._last

    @property
    def counts(self) -> Mapping[TrialState, int]:
        """How many trials are in each state."""
        return self._counts

    def running(self) -> dict[int, int | None]:
        """Every running trial, this driver's and the others' (trial id -> driver id)."""
        return {**self._foreign, **dict.fromkeys(self._own, self.driver)}

    def foreign_running(self) -> dict[int, int | None]:
        """Trials running under other drivers (trial id -> driver id)."""
        return dict(self._foreign)

    def history(self) -> History:
        """The finished trials, as the suggester sees them."""
        return self._history.snapshot()

    def pending(self) -> FloatArray:
        """The points running anywhere or being suggested here."""
        return self._pending.snapshot()

    # Taking in records -------------------------------------------------------------------

    def absorb(self, trials: Iterable[Trial], version: int | None = None) -> list[Trial]:
        """Take in records read from storage or written by this driver; returns the records
        that newly finished. ``version``: the study version the records bring the ledger to."""
        finished: list[Trial] = []
        for trial in trials:
            if self._take(trial):
                finished.append(trial)
        if version is not None and version > self.version:
            self.version = version
        return finished

    def start(self, trial: Trial, row: FloatArray | None = None) -> None:
        """A trial this driver just stored ``RUNNING`` (new or taken): now in flight here.
        ``row``: its point as a row, when the caller has it already."""
        self._own.add(trial.id)
        if row is not None:
            self._rows[trial.id] = row
        self._set(self._records.get(trial.id), trial)

    def _take(self, trial: Trial) -> bool:
        tid = trial.id
        previous = self._records.get(tid)
        if previous is not None and previous.state.is_finished:
            return False  # finished records are final
        if self.space is not None and tid not in self._rows:
            # Checked before anything changes: a stored point outside the space (a damaged
            # row) is refused here, not wherever the point is first used.
            self._rows[tid] = self._checked_row(trial)
        if (
            trial.state is TrialState.RUNNING
            and self.driver is not None
            and trial.driver == self.driver
            and tid not in self._own
        ):
            return False  # an older read of a trial this driver no longer runs
        if tid in self._own and not trial.state.is_finished:
            if trial.driver == self.driver or trial.driver is None:
                # This driver's word on its own trial in flight is the latest.
                if trial.state is not TrialState.RUNNING:
                    self._own.discard(tid)
                else:
                    self._set(previous, trial)
                    return False
            else:
                self.lose(tid)  # another driver took it over
        self._set(previous, trial)
        if trial.state.is_finished:
            self._own.discard(tid)
            self._count_finished(trial)
            return True
        return False

    def _set(self, previous: Trial | None, trial: Trial) -> None:
        tid = trial.id
        if previous is not None:
            self._counts[previous.state] -= 1
        self._counts[trial.state] += 1
        self._records[tid] = trial
        self._last = max(self._last, activity(trial))
        self._next_id = max(self._next_id, tid + 1)
        self._waiting.discard(tid)
        self._foreign.pop(tid, None)
        if trial.state is TrialState.RUNNING:
            if self.space is not None:
                self._pending.add(tid, self._row(trial))
            if tid not in self._own:
                self._foreign[tid] = trial.driver
        else:
            self._pending.discard(tid)
            if trial.state in (TrialState.QUEUED, TrialState.INTERRUPTED):
                self._waiting.add(tid)

    def _count_finished(self, trial: Trial) -> None:
        tid = trial.id
        objectives = self.objectives
        values = trial.values
        if values is not None and len(values) != objectives.count:
            values = None  # a record of another study's shape: not a success here
        if self.space is not None:
            minimised = None if values is None else objectives.minimised(values)
            self._history.append(
                tid,
                self._row(trial),
                None if minimised is None else minimised[0],
                pruned=trial.state is TrialState.PRUNED,
                values=minimised,
                violation=trial.violation,
            )
        if values is not None:
            self._front = None
            if not objectives.several and (
                self._best is None or objectives.best((self._best, trial)) is trial
            ):
                self._best = trial
        pruner = self.pruner
        if pruner is not None:
            if tid not in self._observed:
                # Another driver's (or an earlier run's) trial: its stored reports, replayed.
                for step, loss in trial.reports:
                    pruner.observe(tid, step, loss)
            pruner.finish(tid, trial.state)
        self._observed.discard(tid)
        self._reports.pop(tid, None)
        self._prune_decided.discard(tid)
        self._rows.pop(tid, None)

    def _checked_row(self, trial: Trial) -> FloatArray:
        assert self.space is not None
        try:
            return self.space.to_row(trial.params)
        except SpaceError as exc:
            raise DamagedRecord(
                f"the params do not fit the study's space ({exc})", trial=trial.id
            ) from None

    def _row(self, trial: Trial) -> FloatArray:
        row = self._rows.get(trial.id)
        if row is None:
            assert self.space is not None
            row = self._rows[trial.id] = self.space.to_row(trial.params)
        return row

    def lose(self, trial_id: int) -> None:
        """Forget this driver's hold on a trial another driver took over."""
        self._own.discard(trial_id)
        self._reports.pop(trial_id, None)
        self._prune_decided.discard(trial_id)
        if trial_id in self._observed and self.pruner is not None:
            self.pruner.forget(trial_id)
        self._observed.discard(trial_id)

    # Suggestions in progress -------------------------------------------------------------

    def reserve(self, key: object, row: FloatArray) -> None:
        """A point being started here: pending for other suggestions until :meth:`release`."""
        self._pending.add(key, row)

    def release(self, key: object) -> None:
        """The point reserved under ``key`` is started (or dropped)."""
        self._pending.discard(key)

    # Reports of own trials in flight -----------------------------------------------------

    def report(self, trial_id: int, step: int, loss: float) -> bool:
        """Keep a report of a trial in flight here; True if the pruner says stop.

        :raises TrialPruned: the trial is no longer run by this driver, or was told to stop.
        :raises ValueError: the step does not follow the trial's previous step.
        """
        if trial_id not in self._own or trial_id in self._prune_decided:
            raise TrialPruned(f"trial {trial_id} is no longer running")
        reports = self._reports.setdefault(trial_id, [])
        if reports and step <= reports[-1][0]:
            raise ValueError(
                f"trial {trial_id} reported step {step} after step {reports[-1][0]}: "
                "the steps of a trial must increase"
            )
        reports.append((step, loss))
        pruner = self.pruner
        if pruner is None:
            return False
        self._observed.add(trial_id)
        pruner.observe(trial_id, step, loss)
        if pruner.should_prune(trial_id, step, loss):
            self._prune_decided.add(trial_id)
            return True
        return False

    def reports(self, trial_id: int) -> Reports:
        """The reports of a trial in flight here, so far."""
        return tuple(self._reports.get(trial_id, ()))

    def prune_decided(self, trial_id: int) -> bool:
        """Whether the pruner told this trial to stop."""
        return trial_id in self._prune_decided

    def restart(self, trial_id: int) -> None:
        """A trial in flight runs again from its start: its reports so far no longer count."""
        self._reports.pop(trial_id, None)
        self._prune_decided.discard(trial_id)
        if trial_id in self._observed and self.pruner is not None:
            self.pruner.forget(trial_id)
        self._observed.discard(trial_id)


def stop_reason(ledger: Ledger, max_evals: int | None, loss_threshold: float | None) -> str | None:
    """Why a run over this study should stop now, or ``None``."""
    if max_evals is not None and ledger.finished >= max_evals:
        return "max_evals reached"
    best = ledger.best
    if loss_threshold is None or best is None or best.loss is None or not best.feasible:
        return None
    # A maximised loss reaches its threshold from below.
    sign = -1.0 if ledger.objectives.directions[0] == "maximize" else 1.0
    if sign * best.loss <= sign * loss_threshold:
        return "loss_threshold reached"
    return None
