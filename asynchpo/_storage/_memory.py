"""An in-process storage: the reference implementation of the contract and a test double."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any, final

from asynchpo._exceptions import StorageError, StudyError, StudyNotFound
from asynchpo._storage._base import Storage, StudyConfig, StudyRecord
from asynchpo._storage._schema import (
    decode_config,
    decode_trial,
    encode_config,
    encode_trial,
    finished_trial_error,
    study_id_not_found,
)
from asynchpo._trial import Trial

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

    async def write(self, study_id: int, trials: Sequence[Trial]) -> None:
        """Insert new trial records and replace existing ones, all or nothing.

        :param study_id: the id of a stored study.
        :param trials: the records; a later record for the same id replaces an earlier one.
        :raises StorageError: (storing nothing) if a record cannot be encoded or would replace
            a finished trial.
        :raises StudyNotFound: if there is no study with that id.
        """
        stored = self._rows(study_id)
        # Stage the batch first and apply it only once every record passed.
        staged: dict[int, Trial] = {}
        offenders: list[tuple[int, str]] = []
        for trial in trials:
            record = _stored_form(trial)
            tid = record.id
            previous = staged[tid] if tid in staged else stored.get(tid)
            if previous is not None and previous.state.is_finished:
                offenders.append((tid, previous.state.value))
            staged[tid] = record
        if offenders:
            raise finished_trial_error(study_id, offenders, len(trials))
        stored.update(staged)

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
    return dataclasses.replace(trial, params=dict(trial.params), result=_copy_plain(trial.result))
