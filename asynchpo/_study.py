"""The study: a stored search that any number of drivers ask and tell, at once.

``open_study`` creates or resumes a study in a storage and yields a :class:`Study`. A driver
(this process, while the study is open) holds a *lease* on the study that it renews while it
runs; ``ask`` takes a trial (a waiting one, or a new point from the suggester, which sees every
driver's finished trials and running points) and stores it ``RUNNING`` under this driver
before returning it; ``tell`` stores its result. ``fmin`` is a loop over ``ask`` and ``tell``.

Invariants:
- a trial is stored ``RUNNING`` (with its id, taken in that transaction) before ``ask``
  returns it, and its result is stored before ``tell`` returns;
- what the ledger knows is what is stored: it takes in only records the storage accepted or
  returned;
- storage calls that change trials are shielded from cancellation, and there is no await
  between such a call and the ledger's update;
- a late result for a trial another driver took over is refused by the storage (fencing) and
  raises :class:`LeaseLost`; nothing is stored over the other driver's record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import numbers
import os
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, overload

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import numpy as np

from asynchpo import _checks as checks
from asynchpo._checks import given
from asynchpo._exceptions import (
    ConfigError,
    LeaseLost,
    StorageError,
    StudyError,
    StudyMismatch,
    StudyNotFound,
    TrialPruned,
)
from asynchpo._executors._base import checked_report
from asynchpo._kinds import LOG_KINDS
from asynchpo._leases import HOST, alive
from asynchpo._ledger import _NOT_EVALUATED, Ledger, finished_record
from asynchpo._log_folder import default_log_folder, sqlite_file
from asynchpo._objectives import Objectives
from asynchpo._pruners import Pruner
from asynchpo._results import json_safe
from asynchpo._space import (
    Space,
    _canonical,
    compile_space,
    describe_difference,
    option_values,
)
from asynchpo._storage import (
    PostgresStorage,
    SqliteStorage,
    Storage,
    StudyConfig,
    StudyRecord,
    open_storage,
)
from asynchpo._storage._base import Changes, Driver
from asynchpo._storage._group_commit import GroupCommit
from asynchpo._storage._schema import DamagedRecord, check_params, check_space_description
from asynchpo._storage._urls import is_postgres_url, mask_url
from asynchpo._suggesters import _tpe
from asynchpo._suggesters._base import (
    FloatArray,
    Suggester,
    TrialRngs,
    algo_name,
    objectives_supported,
)
from asynchpo._summary import StudySummary, tally
from asynchpo._trial import ParamValue, Trial, TrialState

if TYPE_CHECKING:
    from asynchpo._trials import Trials

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_STUDY",
    "RunningTrial",
    "Study",
    "open_study",
]

logger = logging.getLogger("asynchpo")

DEFAULT_STUDY: Final = "default"

#: Seconds a driver's lease lasts after its last write or heartbeat.
DEFAULT_LEASE: Final = 10.0

# A suggestion that takes longer than this on average is computed in a worker thread, so the
# event loop keeps committing results meanwhile; cheaper ones run inline, where a thread hop
# would cost more than the suggestion itself.
_INLINE_SUGGESTION_BUDGET: Final = 0.001  # seconds

# Own versions taken in past a hole (another driver's statement, or one of ours that stored
# nothing) before the driver reads what changed anyway.
_OWN_VERSIONS_BEFORE_READING: Final = 16

# A running trial's record is rewritten with its reports at most this often.
_REPORTS_CHECKPOINT_EVERY: Final = 1.0  # seconds

# The stored kinds (hyperopt names) of log-scaled parameters.
_LOG_KIND_NAMES = frozenset(kind.value for kind in LOG_KINDS)


# --- a trial in flight ------------------------------------------------------------------------


class RunningTrial:
    """A trial handed out by :meth:`Study.ask`: evaluate ``params``, then ``tell`` the study.

    :ivar id: the trial's id in its study.
    :ivar point: the point in hyperopt's argmin format (option indices for choices).
    :ivar params: the space with the point's values filled in: what an objective receives.
    :ivar record: the trial's ``RUNNING`` record as stored.
    """

    __slots__ = ("_study", "id", "params", "point", "record")

    def __init__(self, study: Study, record: Trial, params: object) -> None:
        self._study = study
        self.id = record.id
        self.record = record
        self.point: dict[str, ParamValue] = dict(record.params)
        self.params = params

    def __repr__(self) -> str:
        return f"<RunningTrial {self.id} of study {self._study.name!r}: {self.point}>"

    @property
    def slot(self) -> int | None:
        """The slot the trial holds, if the driver gave one."""
        return self.record.slot

    async def report(self, step: int, loss: float) -> None:
        """Report the loss after ``step``; see :meth:`Study.report`.

        :raises TrialPruned: the study's pruner stopped the trial: tell it ``pruned=True``.
        """
        await self._study.report(self, step, loss)

    def report_sync(self, step: int, loss: float) -> None:
        """:meth:`report` from a thread that is not the study's event loop."""
        self._study._report_from_thread(self.id, step, loss)


# --- the study --------------------------------------------------------------------------------


class Study:
    """A stored study, driven by ask and tell. Open it with :func:`open_study`.

    Many drivers (processes, machines) may drive one study at once: each suggestion sees every
    driver's finished trials and, as pending, their running ones; ids are dense and unique; a
    trial whose driver's lease lapsed runs again (same id and parameters) when a live driver
    next asks. See the module docstring for the invariants.
    """

    def __init__(
        self,
        storage: Storage,
        record: StudyRecord,
        space: Space | None,
        algo: Suggester | None,
        *,
        driver: Driver | None,
        where: str,
        max_evals: int | None = None,
        pruner: Pruner | None = None,
        log_folder: Path | None = None,
    ) -> None:
        """Called by :func:`open_study`; use that."""
        self._log_folder = log_folder
        self._storage = GroupCommit(storage)
        self.record = record
        self.space = space
        self._algo = algo
        self._driver = driver
        self._where = where
        self.max_evals = max_evals
        self._ledger = Ledger(
            space,
            driver=None if driver is None else driver.id,
            pruner=pruner,
            objectives=Objectives(tuple(record.config.directions)),
        )
        self._listeners: list[Callable[[Trial], None]] = []
        self._rngs = TrialRngs(record.config.seed)
        self._suggest_lock = anyio.Lock(fast_acquire=True)
        # One read of the change feed at a time, shared by the tasks that need it meanwhile
        # (16 workers otherwise sent 16 identical reads, 3 in 4 rows read being known ones).
        self._sync_lock = anyio.Lock(fast_acquire=True)
        self._suggestion_cost = 0.0
        self._starting = 0  # new trials being suggested or stored here
        # Versions of our own statements run on from what the ledger read: until a gap shows
        # another driver wrote, the ledger is current without reading.
        self._behind = False
        self._own_versions: set[int] = set()
        self._statements = 0  # own statements that change trials, in flight
        self._others: dict[int, Driver] = {}
        # Every driver of the study as last read (for summaries: when stale trials' driver
        # was last seen).
        self._all_drivers: list[Driver] = []
        self._last_write = time.monotonic()
        self._reports_written: dict[int, float] = {}
        self._loop: tuple[Any, int] | None = None
        self._closed = False

    # what the study is -------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The study's name in its storage."""
        return self.record.name

    @property
    def config(self) -> StudyConfig:
        """What the study was created with: space description, algorithm name, seed."""
        return self.record.config

    @property
    def seed(self) -> int:
        """The study's seed; each trial's generator derives from (seed, trial id)."""
        return self.record.config.seed

    @property
    def labels(self) -> list[str]:
        """The parameter labels, in the space's column order."""
        return [str(entry["label"]) for entry in self.record.config.space]

    @property
    def options(self) -> dict[str, list[object]]:
        """The options of each choice (and pchoice), by label, as the stored space describes
        them: for :meth:`Trial.shown_params`, which shows a choice as its option's value. Empty
        for a study stored before options were described."""
        return option_values(self.record.config.space)

    @property
    def log_labels(self) -> list[str]:
        """The labels of log-scaled parameters."""
        return [
            str(entry["label"])
            for entry in self.record.config.space
            if str(entry.get("kind", "")) in _LOG_KIND_NAMES
        ]

    @property
    def log_folder(self) -> Path | None:
        """Where ``fmin`` puts the per-trial logs of this study's :class:`Command` trials by
        default: beside its SQLite file (``runs/x.sqlite`` -> ``runs/x-logs/<study>/``), for a
        PostgreSQL database ``asynchpo-logs/<study>/`` in the working folder, or ``None`` in
        memory. A run given ``log_dir`` wrote elsewhere."""
        return self._log_folder

    @property
    def driver(self) -> Driver | None:
        """This process's driver record (its id and lease), or ``None`` when reading only."""
        return self._driver

    # what it holds -----------------------------------------------------------------------

    @property
    def trials(self) -> list[Trial]:
        """Every trial as a typed record, ordered by id (as of the last ask, tell or
        :meth:`refresh`)."""
        return self._ledger.trials()

    @property
    def directions(self) -> tuple[str, ...]:
        """``"minimize"`` or ``"maximize"`` per objective (one objective: one direction)."""
        return self._ledger.objectives.directions

    @property
    def best_trial(self) -> Trial | None:
        """The best successful trial (the lowest loss, or the highest when the direction is
        ``"maximize"``; feasible trials first), or ``None``.

        :raises StudyError: when the study has several objectives: there is no single best
            trial then; use :attr:`best_trials`.
        """
        objectives = self._ledger.objectives
        if objectives.several:
            raise StudyError(
                f"study {self.name!r} has {objectives.count} objectives "
                f"(directions={list(objectives.directions)}), so no single best trial; use "
                "best_trials (the Pareto front)"
            )
        return self._ledger.best

    @property
    def best_trials(self) -> list[Trial]:
        """The best trials, by id: the Pareto front of the feasible successful trials (no
        other trial is better in every objective); while no trial is feasible, those of least
        violation. With one objective, the best trial alone (or none)."""
        return self._ledger.front()

    @property
    def finished(self) -> int:
        """How many trials are finished (``OK``, ``FAIL``, ``PRUNED``), all drivers included."""
        return self._ledger.finished

    @property
    def remaining(self) -> int | None:
        """How many more trials ``ask`` may start before ``max_evals`` (finished and running
        trials of every driver count), or ``None`` without ``max_evals``."""
        if self.max_evals is None:
            return None
        return max(0, self.max_evals - self._ledger.active - self._starting)

    def count(self, state: TrialState) -> int:
        """How many trials are in ``state``."""
        return self._ledger.count(state)

    @property
    def in_flight(self) -> frozenset[int]:
        """The ids of the trials this driver runs now."""
        return self._ledger.in_flight

    def summary(self) -> StudySummary:
        """Counts by state, the best loss, the live drivers and the stale trials."""
        drivers = {driver.id: driver for driver in self._all_drivers}
        drivers.update(self._others)
        if self._driver is not None:
            drivers[self._driver.id] = dataclasses.replace(self._driver, seen=time.time())
        ledger = self._ledger
        summary = tally(
            self.record,
            ledger.counts,
            ledger.best,
            ledger.last_activity,
            ledger.running(),
            sorted(drivers.values(), key=lambda d: d.id),
        )
        if not ledger.objectives.several:
            return summary
        return dataclasses.replace(summary, front=len(ledger.front()))

    def trials_view(self) -> Trials:
        """The trials in hyperopt's :class:`Trials` shapes (a snapshot)."""
        from asynchpo._trials import Trials

        view = Trials()
        view._reset(self.labels, self.trials, self.log_labels, self.config.space, self.directions)
        view._read_attachments_from(self._attachment_reader())
        return view

    def _attachment_reader(self) -> Callable[[int], dict[str, Any]] | None:
        """Reads a trial's stored attachments without awaiting (see
        :meth:`Storage.attachment_reader`), for the hyperopt ``Trials`` view."""
        return self._storage.attachment_reader(self.record.id)

    def watch(self, callback: Callable[[Trial], None]) -> None:
        """Call ``callback`` with every record this study stores or reads from now on."""
        self._listeners.append(callback)

    async def refresh(self) -> None:
        """Read what other drivers changed since the last read, and their leases."""
        await self._sync()
        await self._refresh_drivers()

    async def drivers(self) -> list[Driver]:
        """Every driver that registered with the study, oldest first."""
        with self._naming_damage():
            return await self._storage.drivers(self.record.id)

    # asking ------------------------------------------------------------------------------

    @overload
    async def ask(self, n: None = None, *, slot: int | None = None) -> RunningTrial: ...

    @overload
    async def ask(self, n: int, *, slot: int | None = None) -> list[RunningTrial]: ...

    async def ask(
        self, n: int | None = None, *, slot: int | None = None
    ) -> RunningTrial | list[RunningTrial]:
        """Start a trial: a waiting one (queued, interrupted, or left by a driver whose lease
        lapsed), else a new point from the algorithm, which sees every finished trial and every
        running point. It is stored ``RUNNING`` under this driver before it is returned.

        :param n: start ``n`` trials, each suggested knowing the others are pending, and
            return them as a list (shorter, even empty, when ``max_evals`` is reached).
        :param slot: the slot the trial will hold (recorded with it), if the caller has slots.
        :raises StudyError: without ``n``, when ``max_evals`` is reached.
        """
        self._check_driving("ask")
        checks.whole("ask(n): n", n, allow_none=True)
        started: list[RunningTrial] = []
        for _ in range(1 if n is None else int(n)):
            trial = await self._start(slot)
            if trial is None:
                break
            started.append(trial)
        if n is not None:
            return started
        if not started:
            raise StudyError(
                f"study {self.name!r} has reached max_evals={self.max_evals} (finished and "
                "running trials of every driver count); open it with a higher max_evals to "
                "go on"
            )
        return started[0]

    async def _start(self, slot: int | None) -> RunningTrial | None:
        """The next trial for this driver, stored ``RUNNING``; ``None`` once the budget is
        spent."""
        ledger = self._ledger
        if self._behind:
            await self._sync()
        elif (seen := await self._foreign_changes()) is not None:
            await self._sync(seen)
        stale = self._stale_foreign()
        if stale:
            # Read the leases again before taking a trial as stale: drivers that opened since
            # the last read are unknown, and leases read a while ago may have been renewed
            # since (a busy driver's heartbeat never wakes to read them).
            await self._refresh_drivers()
            stale = self._stale_foreign()
        spent = self.max_evals is not None and ledger.active + self._starting >= self.max_evals
        if stale or (ledger.waiting and not spent):
            with anyio.CancelScope(shield=True), self._naming_damage():
                taken = await self._storage.take_trial(
                    self.record.id, self._driver_id, self.max_evals, time.time(), slot
                )
                self._last_write = time.monotonic()
                self._behind = True
                if taken is not None:
                    return self._started(taken, None)
            await self._sync()
            spent = self.max_evals is not None and ledger.active + self._starting >= self.max_evals
        if spent:
            return None
        key = object()
        self._starting += 1
        try:
            row = await self._suggest(ledger.next_id + self._starting - 1)
            ledger.reserve(key, row)
            assert self.space is not None
            now = time.time()
            new = Trial(
                -1,
                TrialState.RUNNING,
                self.space.to_point(row),
                created=now,
                started=now,
                slot=slot,
            )
            with anyio.CancelScope(shield=True):
                self._statements += 1
                try:
                    stored, version = await self._storage.new_trials(
                        self.record.id, self._driver_id, [new], self.max_evals
                    )
                finally:
                    self._statements -= 1
                self._wrote(version)
        finally:
            self._starting -= 1
            ledger.release(key)
        if not stored:
            self._behind = True  # others spent the budget: see their trials
            return None
        return self._started(stored[0], row)

    def _started(self, record: Trial, row: FloatArray | None) -> RunningTrial:
        self._ledger.start(record, row)
        self._notify(record)
        assert self.space is not None
        return RunningTrial(self, record, self.space.evaluate(record.params))

    async def _suggest(self, trial_id: int) -> FloatArray:
        """A new point; it sees every finished trial and every pending point."""
        async with self._suggest_lock:
            ledger = self._ledger
            history = ledger.history()
            pending = ledger.pending()
            # Alone, a trial's generator is keyed by its id, so that a run resumed after a
            # kill suggests what an uninterrupted one would; with other drivers the ids this
            # one guesses may be taken, so the driver's id is mixed in to keep streams apart.
            key = trial_id if not self._others else trial_id + (self._driver_id << 40)
            space, algo, rng = self.space, self._algo, self._rngs(key)
            assert space is not None
            assert algo is not None

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

    # telling -----------------------------------------------------------------------------

    async def tell(
        self,
        trial: RunningTrial | int,
        result: object = None,
        *,
        exception: BaseException | None = None,
        pruned: bool = False,
    ) -> Trial:
        """Store the result of a trial this driver runs; returns its finished record.

        :param trial: the trial from :meth:`ask`, or its id.
        :param result: what an objective may return: a loss, or a dict with ``loss``,
            ``status`` (``STATUS_OK``, ``STATUS_FAIL``) and extra keys.
        :param exception: instead of a result, what the evaluation raised: the trial failed
            (``TrialPruned``: it was pruned).
        :param pruned: the trial was stopped early; its last report is its loss.
        :raises StudyError: for an unknown trial, one already finished, or one this driver
            does not run; :class:`LeaseLost` if another driver took it over.
        """
        self._check_driving("tell")
        tid = self._own_trial(trial)
        given = sum((result is not None, exception is not None, bool(pruned)))
        if given != 1:
            raise StudyError(
                f"tell(trial {tid}) takes one of: result (what the objective returned), "
                "exception= (what it raised) or pruned=True; got "
                + ("none" if given == 0 else "several")
            )
        return await self._finish(
            tid,
            value=_NOT_EVALUATED if result is None else result,
            exception=exception,
            pruned=pruned,
        )

    async def _finish(
        self,
        trial_id: int,
        *,
        value: object = _NOT_EVALUATED,
        exception: BaseException | None = None,
        pruned: bool = False,
        attempts: Sequence[str] = (),
    ) -> Trial:
        """Store the finished record of a trial in flight here (shielded)."""
        ledger = self._ledger
        running = ledger.records[trial_id]
        record = finished_record(
            running,
            value=value,
            exception=exception,
            pruned=pruned or ledger.prune_decided(trial_id),
            reports=ledger.reports(trial_id),
            attempts=attempts,
            objectives=ledger.objectives.count,
            now=time.time(),
        )
        named = _attachments_of(value)
        if named is not None:
            # Stored apart, bytes as bytes (hyperopt's trial_attachments), not in the result.
            record = record.replace(
                result={key: item for key, item in record.result.items() if key != "attachments"}
            )
        self._reports_written.pop(trial_id, None)
        if named and self._ledger.holds(trial_id):
            with anyio.CancelScope(shield=True):
                await self._storage.put_attachments(self.record.id, trial_id, named)
        await self._commit(record)
        return record

    async def _commit(self, record: Trial) -> None:
        """Store one record of a trial this driver holds; :class:`LeaseLost` if fenced."""
        # A read since the trial started may show that another driver took it over: the
        # ledger's record is then that driver's (it names that driver, so the storage's fencing
        # would let it through over theirs, finished or not), and nothing is written.
        lost = not self._ledger.holds(record.id)
        with anyio.CancelScope(shield=True):
            if not lost:
                self._statements += 1
                try:
                    written = await self._storage.write(self.record.id, [record])
                finally:
                    self._statements -= 1
                self._wrote(written.version)
                lost = record.id in written.refused
            if lost:
                self._ledger.lose(record.id)
                self._behind = True
                raise LeaseLost(
                    f"trial {record.id} of study {self.name!r} was taken over by another driver "
                    "after this driver's lease lapsed (it stopped renewing it for "
                    f"{self._lease:g} s or more); its result was not stored, and the trial "
                    "runs under the other driver"
                )
            self._absorb([record])

    def _own_trial(self, trial: RunningTrial | int) -> int:
        if isinstance(trial, RunningTrial):
            if trial._study is not self:
                raise StudyError(f"trial {trial.id} was asked from another Study object")
            tid = trial.id
        elif isinstance(trial, numbers.Integral) and not isinstance(trial, bool):
            tid = int(trial)
        else:
            raise TypeError(
                f"trial must be what ask() returned or a trial id, got {type(trial).__name__}"
            )
        record = self._ledger.records.get(tid)
        if record is None:
            raise StudyError(f"study {self.name!r} has no trial {tid}; tell a trial from ask()")
        if not self._ledger.holds(tid):
            if record.state.is_finished:
                raise StudyError(
                    f"trial {tid} of study {self.name!r} is already finished ({record.state.value}"
                    "); a finished trial never changes"
                )
            if record.driver is not None and record.driver != self._driver_id:
                raise LeaseLost(
                    f"trial {tid} of study {self.name!r} is held by driver {record.driver}, not "
                    f"this one ({self._driver_id}): it was taken over after this driver's lease "
                    "lapsed, or asked by another driver"
                )
            raise StudyError(
                f"trial {tid} of study {self.name!r} is not running here ({record.state.value});"
                " tell only trials this study's ask() returned"
            )
        return tid

    # reports -----------------------------------------------------------------------------

    async def report(self, trial: RunningTrial | int, step: int, loss: float) -> None:
        """Report a trial's loss after ``step`` (an epoch): kept with the trial (its record is
        rewritten at most once a second while it runs) and given to the pruner.

        :raises TrialPruned: the pruner stops the trial here; tell it ``pruned=True`` (or
            with the exception).
        :raises ValueError: for a step or loss that cannot be a report.
        """
        self._check_driving("report")
        tid = self._own_trial(trial)
        checked_step, checked_loss = checked_report(tid, step, loss)
        await self._report(tid, checked_step, checked_loss)

    async def _report(self, trial_id: int, step: int, loss: float) -> None:
        ledger = self._ledger
        prune = ledger.report(trial_id, step, loss)
        now = time.monotonic()
        if now - self._reports_written.get(trial_id, -math.inf) >= _REPORTS_CHECKPOINT_EVERY:
            self._reports_written[trial_id] = now
            record = ledger.records[trial_id].replace(reports=ledger.reports(trial_id))
            try:
                await self._commit(record)
            except LeaseLost as exc:
                raise TrialPruned(str(exc)) from exc
        if prune:
            logger.debug("trial %d pruned at step %d (loss %s)", trial_id, step, loss)
            raise TrialPruned(f"trial {trial_id} was pruned at step {step} by {ledger.pruner!r}")

    def _report_from_thread(self, trial_id: int, step: int, loss: float) -> None:
        if self._loop is None:
            raise RuntimeError("the study is not open")
        token, loop_thread = self._loop
        if threading.get_ident() == loop_thread:
            raise RuntimeError(
                "report_sync() was called on the event loop: in a coroutine, use "
                "`await trial.report(step, loss)`"
            )
        checked_step, checked_loss = checked_report(trial_id, step, loss)
        try:
            anyio.from_thread.run(self._report, trial_id, checked_step, checked_loss, token=token)
        except (TrialPruned, ValueError):
            raise
        except RuntimeError as exc:  # the event loop is gone: so is the search
            raise TrialPruned(f"trial {trial_id}: the search has ended") from exc

    def _restart(self, trial_id: int) -> None:
        """A trial in flight here runs again from its start (a retried crash)."""
        self._reports_written.pop(trial_id, None)
        self._ledger.restart(trial_id)

    # queueing ----------------------------------------------------------------------------

    async def enqueue(self, points: Sequence[Mapping[str, object]]) -> list[Trial]:
        """Queue points to be evaluated before any new suggestion (hyperopt's
        ``points_to_evaluate``): label -> value, the option index for a choice. Points already
        in the study are skipped, so two drivers queueing the same points add them once.

        :returns: the queued trials added.
        :raises SpaceError: naming the label, for a point outside the space.
        """
        self._check_driving("enqueue")
        assert self.space is not None
        if isinstance(points, Mapping) or not isinstance(points, Sequence):
            raise ConfigError(
                "points must be a list of dicts (label -> value, the option index for "
                f"choice), got {type(points).__name__}"
            )
        params = [self.space.to_point(self.space.to_row(point)) for point in points]
        if not params:
            return []
        with anyio.CancelScope(shield=True), self._naming_damage():
            added = await self._storage.enqueue(self.record.id, params)
            self._behind = True
            self._absorb(added)
        return added

    # keeping current ---------------------------------------------------------------------

    def _absorb(self, records: Sequence[Trial], version: int | None = None) -> None:
        ledger = self._ledger
        with self._naming_damage():
            if self.space is None:
                # A reader has no compiled space to check points against: the stored
                # description says which labels and option indices there are.
                for record in records:
                    check_params(self.record.config.space, record)
            ledger.absorb(records, version)
        known = ledger.records
        for record in records:
            # Only what the ledger took in: a read that left before this driver's own latest
            # write brings older records, which must not reach the watchers either.
            if known.get(record.id) is record:
                self._notify(record)

    def _naming_damage(self) -> contextlib.AbstractContextManager[None]:
        return _naming_damage(self.name, self.record.id, self._where)

    def _notify(self, record: Trial) -> None:
        for listener in self._listeners:
            listener(record)

    def _wrote(self, version: int) -> None:
        """Our own statement made ``version`` of the study (and we took in what it stored).

        The ledger is current up to the longest run of versions, from the one it read, that
        are all our own: a gap is a statement of another driver (read before the next
        suggestion) or one of ours whose answer has not been taken in yet.
        """
        self._last_write = time.monotonic()
        ledger = self._ledger
        if version <= ledger.version:
            return
        mine = self._own_versions
        mine.add(version)
        while ledger.version + 1 in mine:
            ledger.version += 1
            mine.discard(ledger.version)

    async def _foreign_changes(self) -> int | None:
        """The study's version, if another driver changed the study since the ledger's
        version; ``None`` otherwise. So every suggestion sees what the others did, at the cost
        of a cheap check (alone, a driver never reads).

        The versions past the ledger's are this driver's own (taken in, or of statements
        still in flight, each making at most one version) or another driver's. More of them
        than ours can explain means another driver wrote; a hole that stays while ours pile
        up behind it (one of ours in flight may store nothing) is read too.
        """
        now = await self._storage.version(self.record.id)
        ahead = now - self._ledger.version
        if ahead <= 0:
            return None
        mine = len(self._own_versions)
        if ahead > mine + self._statements or mine > _OWN_VERSIONS_BEFORE_READING:
            return now
        return None

    async def _sync(self, upto: int | None = None) -> None:
        """Read what changed since the ledger's version. ``upto``: the version the caller saw;
        one read is shared by the tasks that need it meanwhile (16 workers otherwise sent 16
        identical reads): a task whose version was read while it waited reads nothing."""
        async with self._sync_lock:
            if upto is not None and self._ledger.version >= upto and not self._behind:
                return
            with self._naming_damage():
                changes = _checked(
                    await self._storage.changes(self.record.id, self._ledger.version)
                )
            self._behind = False
            self._own_versions = {v for v in self._own_versions if v > changes.version}
            self._absorb(changes.trials, changes.version)

    def _stale_foreign(self) -> bool:
        """Whether a trial runs under a driver whose lease lapsed (or that is gone)."""
        if not self._ledger.has_foreign:
            return False
        foreign = self._ledger.foreign_running()
        now = time.time()
        # Each driver once, not once per trial: _alive reads /proc for a driver on this host.
        for driver_id in set(foreign.values()):
            holder = self._others.get(driver_id) if driver_id is not None else None
            if holder is None or not alive(holder, now):
                return True
        return False

    async def _refresh_drivers(self) -> None:
        """Read the other drivers' leases; a driver (not a reader, which writes nothing) ends
        those whose process is gone from this host."""
        now = time.time()
        others: dict[int, Driver] = {}
        me = None if self._driver is None else self._driver.id
        with self._naming_damage():
            self._all_drivers = await self._storage.drivers(self.record.id)
        for driver in self._all_drivers:
            if driver.id == me or driver.ended is not None:
                continue
            if driver.alive(now) and not alive(driver, now):
                if me is None:
                    continue
                logger.info(
                    "driver %d (pid %d on this host) is gone: its trials run again",
                    driver.id,
                    driver.pid,
                )
                await self._storage.end_driver(driver.id)
                continue
            if driver.alive(now):
                others[driver.id] = driver
        self._others = others

    async def _heartbeat(self, period: float) -> None:
        """Renew the lease while the study is open, riding on writes where there are some."""
        assert self._driver is not None
        while True:
            wait = self._last_write + period - time.monotonic()
            if wait > 0:
                await anyio.sleep(wait)
                continue
            with self._naming_damage():
                self._driver = await self._storage.heartbeat(self._driver.id)
            self._last_write = time.monotonic()
            await self._refresh_drivers()

    @property
    def _driver_id(self) -> int:
        assert self._driver is not None
        return self._driver.id

    @property
    def _lease(self) -> float:
        return DEFAULT_LEASE if self._driver is None else self._driver.lease

    def _check_driving(self, what: str) -> None:
        if self._closed:
            raise StudyError(f"study {self.name!r} is closed; {what}() needs an open study")
        if self._driver is None or self.space is None:
            raise StudyError(
                f"study {self.name!r} was opened for reading only; pass space= (and algo=) to "
                f"open_study to {what}"
            )

    async def _interrupt(self, reason: str) -> int:
        """Record every trial in flight here as ``INTERRUPTED`` (shielded), so that a later
        ask (of any driver) runs it again; returns how many."""
        ledger = self._ledger
        now = time.time()
        interrupted = [
            ledger.records[tid].replace(
                state=TrialState.INTERRUPTED,
                finished=now,
                error=f"interrupted: {reason}",
                reports=ledger.reports(tid),
            )
            for tid in sorted(ledger.in_flight)
        ]
        if not interrupted:
            return 0
        with anyio.CancelScope(shield=True):
            written = await self._storage.write(self.record.id, interrupted)
            self._wrote(written.version)
            for tid in written.refused:
                ledger.lose(tid)
            self._absorb([t for t in interrupted if t.id not in written.refused])
        return len(interrupted) - len(written.refused)


# --- opening ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _naming_damage(study: str, study_id: int | None, where: str) -> Iterator[None]:
    """Turn a damaged row's error into the one that names the study, the trial and the file."""
    try:
        yield
    except DamagedRecord as exc:
        # The message names a SQLite file, with the sqlite3 command that deletes a damaged row.
        file = None if where == _NOT_A_FILE or is_postgres_url(where) else where
        raise exc.located(study, study_id, file) from None


_NOT_A_FILE: Final = "this storage"


def _checked(changes: Changes) -> Changes:
    """``changes``, once its version (the study's counter, a column of its row) is a number."""
    if type(changes.version) is not int:
        raise DamagedRecord(
            f"the study's version counter is {changes.version!r}, not a whole number (set it "
            "with: UPDATE studies SET version = (SELECT max(seq) FROM trials WHERE study_id = "
            "studies.id))"
        )
    return changes


def _storage_label(spec: object) -> str:
    """How messages name the storage ``spec``: a path as given, a URL with its password
    masked."""
    if isinstance(spec, str | os.PathLike):
        return mask_url(os.fspath(spec))
    if isinstance(spec, PostgresStorage):
        return spec.url
    return _NOT_A_FILE


def _log_folder_of(store: Storage, study: str) -> Path | None:
    """The default log folder of ``study`` in the opened storage ``store`` (see
    :func:`default_log_folder`)."""
    if isinstance(store, SqliteStorage):
        return default_log_folder(store.path, study)
    if isinstance(store, PostgresStorage):
        return default_log_folder(store.url, study)
    return None


async def _create_or_check(
    storage: Storage,
    name: str,
    space: Space,
    algo: str,
    seed: int | None,
    where: str,
    objectives: Objectives,
) -> StudyRecord:
    """Create the study, or load it and check that it was made with the same configuration."""
    try:
        record = await storage.get_study(name)
    except StudyNotFound:
        config = StudyConfig(
            space=space.describe(),
            fingerprint=space.fingerprint,
            algo=algo,
            seed=secrets.randbits(63) if seed is None else seed,
            directions=objectives.directions,
        )
        try:
            return await storage.create_study(name, config)
        except StudyError:
            # Another driver created it between the two calls: check it like any other.
            record = await storage.get_study(name)
    stored = record.config
    check_space_description(stored)
    # The fingerprint is the hash of the space: one that matches while the other does not
    # was changed after the study was created.
    same_space = _canonical(list(stored.space)) == _canonical(space.describe())
    if (stored.fingerprint == space.fingerprint) != same_space:
        raise DamagedRecord(
            "the configuration's space does not match its fingerprint (one of them was "
            "changed after the study was created)"
        )
    fix = "Use a new study name for the new configuration, or restore the original to resume."
    if stored.fingerprint != space.fingerprint:
        lines = describe_difference(stored.space, space.describe()) or ["the spaces differ"]
        details = "".join(f"\n  - {line}" for line in lines)
        raise StudyMismatch(
            f"study {name!r} in {where} was created with a different search space:{details}\n{fix}"
        )
    if stored.algo != algo:
        raise StudyMismatch(
            f"study {name!r} in {where} was created with algo {stored.algo!r}, "
            f"and this call uses {algo!r}. {fix}"
        )
    stored_objectives = Objectives(tuple(stored.directions))
    if stored_objectives != objectives:
        raise StudyMismatch(
            f"study {name!r} in {where} was created with directions "
            f"{list(stored_objectives.directions)}, and this call uses "
            f"{list(objectives.directions)}. Pass directions={list(stored_objectives.directions)} "
            f"to resume it. {fix}"
        )
    if seed is not None and seed != stored.seed:
        raise StudyMismatch(
            f"study {name!r} in {where} was created with seed {stored.seed}, and this call "
            f"passes seed {seed}. To resume it, pass the same seed, or none (no seed and no "
            "rstate): its new trials still differ, each trial's draws come from the stored "
            "seed and its own id. To search under another seed, use a new study name."
        )
    return record


def check_options(
    study: object, seed: object, max_evals: object, pruner: object, lease_seconds: object
) -> tuple[int | None, float]:
    """The options ``open_study`` and ``fmin`` share, checked before any work: the seed (or
    ``None``) and the lease in seconds, or :class:`ConfigError` saying what is wrong."""
    if not isinstance(study, str):
        raise TypeError(f"study must be a non-empty string (the study's name), got {given(study)}")
    if not study:
        raise ConfigError("study must be a non-empty string (the study's name), got ''")
    if "\x00" in study:
        # It names the study to programs (ASYNCHPO_STUDY), and no environment can hold a NUL.
        raise ConfigError(f"study {study!r} holds a NUL character; choose a name without one")
    checked_seed = None if seed is None else checks.whole("seed", seed)
    checks.whole("max_evals", max_evals, allow_none=True)
    if pruner is not None:
        checks.instance(
            "pruner",
            pruner,
            Pruner,
            "a Pruner such as pruners.SuccessiveHalvingPruner() or pruners.MedianPruner()",
        )
    lease = checks.number("lease_seconds", lease_seconds, positive=True, hint="seconds")
    return checked_seed, lease


def check_objectives(
    directions: object, direction: object, algo: object, pruner: object
) -> Objectives:
    """The objectives ``open_study`` and ``fmin`` were asked for, checked before any work
    against the algorithm and the pruner: :class:`ConfigError` saying what is wrong."""
    objectives = Objectives.parse(directions, direction)
    if pruner is not None and "maximize" in objectives.directions:
        raise ConfigError(
            "pruners compare reported losses as losses to minimise, and this study maximises: "
            "report and return the negated value with the default direction, or remove pruner="
        )
    if not objectives.several:
        return objectives
    if pruner is not None:
        raise ConfigError(
            f"pruning needs a single objective, and this study has {objectives.count} "
            f"(directions={list(objectives.directions)}): remove pruner=, or search one "
            "objective"
        )
    if algo is not None and not objectives_supported(algo):
        raise ConfigError(
            f"algo {algo_name(algo)!r} searches a single objective, and this study has "
            f"{objectives.count}: use tpe.suggest (multi-objective TPE) or rand.suggest"
        )
    return objectives


@contextlib.asynccontextmanager
async def open_study(
    storage: str | os.PathLike[str] | Storage | None = None,
    study: str = DEFAULT_STUDY,
    *,
    space: object = None,
    algo: Suggester | None = None,
    seed: int | None = None,
    max_evals: int | None = None,
    pruner: Pruner | None = None,
    lease_seconds: float = DEFAULT_LEASE,
    directions: Sequence[str] | None = None,
    direction: str | None = None,
) -> AsyncIterator[Study]:
    """Create or resume a study and drive it with ask and tell::

        async with asynchpo.open_study("runs.sqlite", "exp1", space=space, seed=0) as study:
            trial = await study.ask()
            await study.tell(trial, train(trial.params))

    Any number of processes may open the same study at once; each is a *driver* with a lease
    that it renews while the study is open (every ``lease_seconds / 3`` seconds, or with its
    writes). On exit, trials still in flight here are recorded ``INTERRUPTED``, so that a
    later ask runs them again.

    :param storage: ``None`` (memory), a path to a SQLite file (or ``sqlite:///x.db``), a
        PostgreSQL URL (``postgresql://user:password@host:5432/database``), or a
        :class:`Storage`.
    :param study: the study's name in the storage.
    :param space: the search space (``hp.*`` expressions). Without it, an existing study is
        opened for reading only (``trials``, ``best_trial``, ``summary()``).
    :param algo: the search algorithm; default ``tpe.suggest``. Checked against the stored one.
    :param seed: the study's seed; default: the stored one, else a random one.
    :param max_evals: this driver starts no trial once the study has this many finished and
        running trials (over every driver).
    :param pruner: stops unpromising trials at their reports (see ``report``).
    :param lease_seconds: how long this driver's trials stay its own after it last renewed its
        lease; a driver stopped longer (killed, suspended) loses them to the others.
    :param directions: ``"minimize"`` or ``"maximize"`` per objective, for several
        objectives: the objective then returns a list of as many losses (see ``tell``).
    :param direction: ``"maximize"`` for a single objective to maximise (values are stored and
        shown as returned).
    :raises StudyMismatch: the stored study was created with another space, algo, seed or
        directions.
    :raises StudyNotFound: without ``space``, when there is no such study.
    """
    base_seed, lease = check_options(study, seed, max_evals, pruner, lease_seconds)
    compiled: Space | None = None
    if space is not None:
        compiled = space if isinstance(space, Space) else compile_space(space)
        algo = _tpe.suggest if algo is None else algo
        if not callable(algo):
            raise TypeError(f"algo must be a suggest function such as rand.suggest, got {algo!r}")
    objectives = check_objectives(directions, direction, algo, pruner)
    where = _storage_label(storage)
    # Reading never creates a file (opening a missing SQLite file would); a PostgreSQL URL
    # names no file, and reading creates nothing there either.
    file = sqlite_file(storage) if isinstance(storage, str | os.PathLike) else None
    if (
        compiled is None
        and file is not None
        # lexists: False (not an OSError) for a name too long or a path through a file.
        and not await anyio.to_thread.run_sync(os.path.lexists, file)
    ):
        raise StudyNotFound(f"no storage file at {where!r}; check the path")
    # Reading changes no byte of the file (nor creates -wal or -shm files next to it).
    async with open_storage(storage, read_only=compiled is None) as store:
        if compiled is None:
            with _naming_damage(study, None, where):
                record = await store.get_study(study)
                check_space_description(record.config)
            handle = Study(
                store,
                record,
                None,
                None,
                driver=None,
                where=where,
                log_folder=_log_folder_of(store, study),
            )
            with handle._naming_damage():
                everything = _checked(await store.changes(record.id, -1))
            handle._absorb(everything.trials, everything.version)
            with handle._naming_damage():
                handle._all_drivers = await store.drivers(record.id)
            handle._others = {d.id: d for d in handle._all_drivers if alive(d, time.time())}
            try:
                yield handle
            finally:
                handle._closed = True
            return
        assert algo is not None
        with _naming_damage(study, None, where):
            record = await _create_or_check(
                store, study, compiled, algo_name(algo), base_seed, where, objectives
            )
        with _naming_damage(study, record.id, where):
            driver = await store.open_driver(record.id, HOST, os.getpid(), lease)
        handle = Study(
            store,
            record,
            compiled,
            algo,
            driver=driver,
            where=where,
            max_evals=None if max_evals is None else int(max_evals),
            pruner=pruner,
            log_folder=_log_folder_of(store, study),
        )
        handle._loop = (anyio.lowlevel.current_token(), threading.get_ident())
        closing_cleanly = False
        try:
            await handle._refresh_drivers()
            with handle._naming_damage():
                everything = _checked(await store.changes(record.id, -1))
            handle._absorb(everything.trials, everything.version)
            failure: BaseException | None = None
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(handle._heartbeat, lease / 3)
                    try:
                        yield handle
                    except BaseException as exc:
                        # Raised again below as itself, not wrapped in the heartbeat's group.
                        failure = exc
                    finally:
                        tg.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                # The heartbeat failed (a storage error): raised as itself, not as a group.
                single = single_storage_error(group)
                if single is None:
                    raise
                raise single  # noqa: B904 - its cause (SQLite's error) is the one to show
            if failure is not None:
                raise failure
            closing_cleanly = True
        finally:
            handle._closed = True
            with anyio.CancelScope(shield=True):
                try:
                    count = await handle._interrupt("the study was closed")
                    if count:
                        logger.info("%d trials in flight were interrupted", count)
                except StorageError as exc:
                    if closing_cleanly:
                        raise
                    # The study is closing on an error of its own (often the same full disk):
                    # that one reaches the caller; RUNNING rows are re-run on resume anyway.
                    logger.debug("could not record the trials in flight as interrupted: %s", exc)
                finally:
                    try:
                        await store.end_driver(driver.id)
                    except StorageError as exc:
                        if closing_cleanly:
                            raise
                        logger.debug("could not end driver %d: %s", driver.id, exc)


def _attachments_of(value: object) -> dict[str, Any] | None:
    """The ``attachments`` an objective's result carries, as storage takes them: ``bytes``
    as they are, other values as JSON can hold them (their text form where it cannot), names
    as strings. ``None`` when the result has no mapping of attachments (or cannot be read)."""
    if not isinstance(value, Mapping):
        return None
    try:
        attachments = value.get("attachments")
        if not isinstance(attachments, Mapping):
            return None
        named = dict(attachments.items())
    except Exception:
        return None  # the result is stored as a failed trial saying why
    return {
        name if isinstance(name, str) else repr(name): (
            bytes(item) if isinstance(item, bytes | bytearray | memoryview) else json_safe(item)
        )
        for name, item in named.items()
    }


def single_storage_error(group: BaseExceptionGroup[Any]) -> StorageError | None:
    """The first error of a task group's ``group`` when every error in it is a storage error
    (workers that hit the same full disk at once), to raise as itself; else ``None``."""
    errors, others = group.split(StorageError)
    if errors is None or others is not None:
        return None
    first: BaseException = errors
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    assert isinstance(first, StorageError)
    return first
