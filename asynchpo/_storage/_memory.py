"""An in-process storage: the reference implementation of the contract and a test double."""

from __future__ import annotations

import bisect
import dataclasses
import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, final

from asynchpo._exceptions import StorageError, StudyError, StudyNotFound
from asynchpo._storage._base import Changes, Driver, Storage, StudyConfig, StudyRecord, Written
from asynchpo._storage._schema import (
    AttachmentRow,
    decode_attachment,
    decode_config,
    decode_trial,
    encode_attachments,
    encode_config,
    encode_trial,
    finished_trial_error,
    study_id_not_found,
)
from asynchpo._trial import Trial, TrialState

__all__ = ["MemoryStorage"]


@final
class MemoryStorage(Storage):
    """Studies and trials kept in dicts; nothing survives the process.

    It enforces the whole :class:`Storage` contract the way :class:`SqliteStorage` does: records
    go through the same JSON encoding (so the same values are rejected and tuples come back as
    lists), finished trials are immutable, a batch is stored whole or not at all, and unknown
    studies raise :class:`StudyNotFound`. After :meth:`aclose` every method raises
    :class:`StorageError`.
    """

    def __init__(self) -> None:
        """Create an empty storage."""
        # Studies keep their config as JSON and are rebuilt on each read, so that a caller
        # mutating a returned space cannot change what is stored.
        self._studies: dict[int, tuple[str, str, float]] = {}
        self._ids_by_name: dict[str, int] = {}
        self._trials: dict[int, dict[int, Trial]] = {}
        # Per study: its version, a log of (version, trial id) for the change feed, the next
        # trial id and the number of finished + running trials (the budget's count).
        self._versions: dict[int, int] = {}
        self._logs: dict[int, list[tuple[int, int]]] = {}
        self._next_tids: dict[int, int] = {}
        self._active_counts: dict[int, int] = {}
        self._drivers: dict[int, Driver] = {}
        # Attachments as stored (encoded), by (study id, trial id), then by name.
        self._attachments: dict[tuple[int, int], dict[str, AttachmentRow]] = {}
        self._next_id = 1
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._studies)} studies"
        return f"<MemoryStorage: {state}>"

    async def create_study(self, name: str, config: StudyConfig) -> StudyRecord:
        """Create a study. Raises :class:`StudyError` if ``name`` already exists.

        :param name: the study's name, unique within this storage.
        :param config: what the study is fixed to.
        """
        self._check_open()
        if name in self._ids_by_name:
            raise StudyError(
                f"a study called {name!r} already exists in this storage; choose another name, "
                "or resume it with get_study()"
            )
        config_json = encode_config(config)
        study_id = self._next_id
        self._next_id += 1
        self._studies[study_id] = (name, config_json, time.time())
        self._ids_by_name[name] = study_id
        self._trials[study_id] = {}
        self._versions[study_id] = 0
        self._logs[study_id] = []
        self._next_tids[study_id] = 0
        self._active_counts[study_id] = 0
        return self._record(study_id)

    async def get_study(self, name: str) -> StudyRecord:
        """The stored study called ``name``. Raises :class:`StudyNotFound` if there is none.

        :param name: the study's name.
        """
        self._check_open()
        try:
            study_id = self._ids_by_name[name]
        except KeyError:
            raise StudyNotFound(
                f"there is no study called {name!r} in this storage; create it first"
            ) from None
        return self._record(study_id)

    def reseed(self, name: str, seed: int) -> None:
        """Give the study called ``name`` (if any) a new seed.

        Only for an in-memory study that a hyperopt ``Trials`` carries from one ``fmin`` call
        to the next: hyperopt continues such a search under the new call's ``rstate``.
        Finished trials keep what they were; a stored study never changes its seed (it is
        what makes a resumed run repeat its draws).
        """
        study_id = self._ids_by_name.get(name)
        if study_id is None:
            return
        stored, config_json, created = self._studies[study_id]
        config = decode_config(config_json, study=stored)
        if config.seed != seed:
            config = dataclasses.replace(config, seed=seed)
            self._studies[study_id] = (stored, encode_config(config), created)

    async def list_studies(self) -> list[StudyRecord]:
        """Every study in this storage, oldest first."""
        self._check_open()
        return [self._record(study_id) for study_id in self._studies]

    async def trials(self, study_id: int) -> list[Trial]:
        """Every trial of the study, ordered by trial id.

        :param study_id: the id of a stored study.
        :raises StudyNotFound: if there is no study with that id.
        """
        stored = self._rows(study_id)
        return [_copy(stored[tid]) for tid in sorted(stored)]

    async def changes(self, study_id: int, since: int) -> Changes:
        """The trials written after version ``since``, ordered by id."""
        stored = self._rows(study_id)
        log = self._logs[study_id]
        start = bisect.bisect_right(log, (since, math.inf))
        changed = sorted({tid for _, tid in log[start:]})
        return Changes(self._versions[study_id], [_copy(stored[tid]) for tid in changed])

    async def version(self, study_id: int) -> int:
        """The study's version now."""
        self._rows(study_id)
        return self._versions[study_id]

    async def write(self, study_id: int, trials: Sequence[Trial]) -> Written:
        """Insert new trial records and replace existing ones, all or nothing.

        :param study_id: the id of a stored study.
        :param trials: the records; a later record for the same id replaces an earlier one.
        :returns: the version after the write and the ids refused (held by another driver).
        :raises StorageError: (storing nothing) if a record cannot be encoded or would replace
            a finished trial.
        :raises StudyNotFound: if there is no study with that id.
        """
        stored = self._rows(study_id)
        # Stage the batch first and apply it only once every record passed.
        staged: dict[int, Trial] = {}
        offenders: list[tuple[int, str]] = []
        refused: set[int] = set()
        for trial in trials:
            record = _stored_form(trial)
            tid = record.id
            previous = staged[tid] if tid in staged else stored.get(tid)
            if (
                previous is not None
                and previous.driver is not None
                and previous.driver != record.driver
            ):
                refused.add(tid)  # fenced: another driver holds it
                continue
            if previous is not None and previous.state.is_finished:
                offenders.append((tid, previous.state.value))
            staged[tid] = record
        if offenders:
            raise finished_trial_error(study_id, offenders, len(trials))
        if not staged:
            return Written(-1, tuple(sorted(refused)))
        version = self._bump(study_id)
        for record in staged.values():
            self._store(study_id, record, version)
        return Written(version, tuple(sorted(refused - staged.keys())))

    async def new_trials(
        self,
        study_id: int,
        driver: int,
        trials: Sequence[Trial],
        max_evals: int | None,
    ) -> tuple[list[Trial], int]:
        """Store ``trials`` as new ``RUNNING`` trials of ``driver`` with the next ids."""
        self._rows(study_id)
        active = self._active_counts[study_id]
        room = len(trials) if max_evals is None else max(0, max_evals - active)
        if room <= 0:
            return [], -1
        first = self._next_tids[study_id]
        started = [
            _stored_form(trial.replace(id=first + i, state=TrialState.RUNNING, driver=driver))
            for i, trial in enumerate(trials[:room])
        ]
        version = self._bump(study_id)
        for trial in started:
            self._store(study_id, trial, version)
        return [_copy(trial) for trial in started], version

    async def take_trial(
        self, study_id: int, driver: int, max_evals: int | None, started: float, slot: int | None
    ) -> Trial | None:
        """Hand the waiting trial with the lowest id to ``driver``."""
        stored = self._rows(study_id)
        now = time.time()
        within_budget = max_evals is None or self._active_counts[study_id] < max_evals
        for tid in sorted(stored):
            trial = stored[tid]
            if trial.state in (TrialState.QUEUED, TrialState.INTERRUPTED):
                if not within_budget:
                    continue
            elif (
                trial.state is not TrialState.RUNNING
                or trial.driver == driver
                or (
                    trial.driver is not None
                    and (holder := self._drivers.get(trial.driver)) is not None
                    and holder.alive(now)
                )
            ):
                continue
            taken = trial.replace(
                state=TrialState.RUNNING,
                loss=None,
                result={},
                error=None,
                started=started,
                finished=None,
                slot=slot,
                reports=(),
                driver=driver,
            )
            self._store(study_id, taken, self._bump(study_id))
            return _copy(taken)
        return None

    async def enqueue(self, study_id: int, params: Sequence[Mapping[str, Any]]) -> list[Trial]:
        """Add ``QUEUED`` trials for the points not already stored."""
        stored = self._rows(study_id)
        now = time.time()
        known = [trial.params for trial in stored.values()]
        added: list[Trial] = []
        for point in params:
            record = _stored_form(Trial(-1, TrialState.QUEUED, point, created=now))
            if record.params in known:
                continue
            known.append(record.params)
            record = record.replace(id=self._next_tids[study_id])
            self._store(study_id, record, self._bump(study_id))
            added.append(_copy(record))
        return added

    async def open_driver(self, study_id: int, host: str, pid: int, lease: float) -> Driver:
        """Register a driver of the study, its lease starting now."""
        self._rows(study_id)
        now = time.time()
        driver = Driver(len(self._drivers) + 1, study_id, host, pid, now, now, float(lease))
        self._drivers[driver.id] = driver
        return driver

    async def heartbeat(self, driver: int) -> Driver:
        """Renew the lease of ``driver`` and return its record."""
        self._check_open()
        record = self._drivers.get(driver)
        if record is None:
            raise StorageError(f"there is no driver {driver} in this MemoryStorage")
        if record.ended is None:
            record = dataclasses.replace(record, seen=time.time())
            self._drivers[driver] = record
        return record

    async def end_driver(self, driver: int) -> None:
        """Mark ``driver`` ended, so that its running trials may be taken at once."""
        self._check_open()
        record = self._drivers.get(driver)
        if record is not None and record.ended is None:
            self._drivers[driver] = dataclasses.replace(record, ended=time.time())

    async def drivers(self, study_id: int) -> list[Driver]:
        """Every driver that registered with the study, oldest first."""
        self._rows(study_id)
        return [driver for driver in self._drivers.values() if driver.study_id == study_id]

    async def put_attachments(
        self, study_id: int, trial_id: int, attachments: Mapping[str, Any]
    ) -> None:
        """Store trial ``trial_id``'s attachments by name (bytes as bytes, others as JSON),
        replacing those of the same names; all or none."""
        self._rows(study_id)
        rows = encode_attachments(trial_id, attachments)
        if rows:
            stored = self._attachments.setdefault((study_id, trial_id), {})
            stored.update((row[0], row) for row in rows)

    async def attachments(self, study_id: int, trial_id: int) -> dict[str, Any]:
        """Trial ``trial_id``'s attachments, by name."""
        self._rows(study_id)
        return self._read_attachments(study_id, trial_id)

    def attachment_reader(self, study_id: int) -> Callable[[int], dict[str, Any]]:
        """Reads a trial's attachments at once; works after :meth:`aclose` too."""
        # A partial, not a lambda: a Trials holding it is pickled by hyperopt code.
        return functools.partial(self._read_attachments, study_id)

    def _read_attachments(self, study_id: int, trial_id: int) -> dict[str, Any]:
        stored = self._attachments.get((study_id, trial_id), {})
        return {name: decode_attachment(trial_id, *row) for name, row in stored.items()}

    def _bump(self, study_id: int) -> int:
        self._versions[study_id] += 1
        return self._versions[study_id]

    def _store(self, study_id: int, record: Trial, version: int) -> None:
        stored = self._trials[study_id]
        previous = stored.get(record.id)
        self._active_counts[study_id] += _active(record) - (
            0 if previous is None else _active(previous)
        )
        self._next_tids[study_id] = max(self._next_tids[study_id], record.id + 1)
        stored[record.id] = record
        self._logs[study_id].append((version, record.id))
        holder = self._drivers.get(record.driver) if record.driver is not None else None
        if holder is not None and holder.ended is None:
            # A write renews its driver's lease (at most four times a lease period), as the
            # SQLite trigger does.
            now = time.time()
            if holder.seen < now - holder.lease / 4:
                self._drivers[holder.id] = dataclasses.replace(holder, seen=now)

    async def aclose(self) -> None:
        """Mark the storage closed. Idempotent; the data is kept but no longer reachable."""
        self._closed = True

    def _record(self, study_id: int) -> StudyRecord:
        name, config_json, created = self._studies[study_id]
        return StudyRecord(
            id=study_id, name=name, config=decode_config(config_json), created=created
        )

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("this MemoryStorage is closed; open a new storage to go on")

    def _rows(self, study_id: int) -> dict[int, Trial]:
        self._check_open()
        try:
            return self._trials[study_id]
        except KeyError:
            raise study_id_not_found(study_id, "this MemoryStorage") from None


_SCALARS = (str, int, bool, type(None))


def _active(trial: Trial) -> int:
    """1 if ``trial`` counts toward the budget (finished or running), else 0."""
    return int(trial.state.is_finished or trial.state is TrialState.RUNNING)


def _plain(value: object) -> bool:
    """True if ``value`` would come back from JSON unchanged (so no round trip is needed)."""
    kind = type(value)
    if kind is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    if kind in _SCALARS:
        return True
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())  # type: ignore[attr-defined]
    if kind is list:
        return all(_plain(item) for item in value)  # type: ignore[attr-defined]
    return False


def _stored_form(trial: Trial) -> Trial:
    """The record as SQLite would return it: through JSON, unless that changes nothing.

    Records made by the scheduler are plain already, so the common case costs a type walk
    instead of an encode and a decode; anything else (tuples, numpy values, mapping proxies,
    a bad loss) takes the same codec as SQLite, and so the same errors.
    """
    loss = trial.loss
    if (
        type(trial.id) is int
        and (loss is None or (type(loss) is float and math.isfinite(loss)))
        and _plain(trial.params)
        and _plain(trial.result)
        and _plain_reports(trial.reports)
    ):
        # A copy, so that a caller mutating its dicts cannot change what is stored.
        return _copy(trial)
    return decode_trial(encode_trial(trial))


def _plain_reports(reports: Any) -> bool:
    """Reports as the scheduler makes them: a tuple of (int step, finite float loss) tuples."""
    return type(reports) is tuple and all(
        type(report) is tuple
        and len(report) == 2
        and type(report[0]) is int
        and type(report[1]) is float
        and math.isfinite(report[1])
        for report in reports
    )


def _copy_plain(value: Any) -> Any:
    if type(value) is dict:
        return {key: _copy_plain(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy_plain(item) for item in value]
    return value


def _copy(trial: Trial) -> Trial:
    """A record that shares no mutable part with ``trial`` (whose values are plain)."""
    return Trial(
        trial.id,
        trial.state,
        dict(trial.params),
        trial.loss,
        _copy_plain(trial.result),
        trial.error,
        trial.created,
        trial.started,
        trial.finished,
        trial.slot,
        trial.reports,
        trial.driver,
    )
