"""An in-process storage: the reference implementation of the contract and a test double."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import final

from asynchpo._exceptions import StorageError, StudyError, StudyNotFound
from asynchpo._storage._base import Storage, StudyConfig, StudyRecord
from asynchpo._storage._schema import (
    FINISHED_STATES,
    Row,
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
        self._trials: dict[int, dict[int, Row]] = {}
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
        rows = self._rows(study_id)
        return [decode_trial(rows[tid]) for tid in sorted(rows)]

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
        staged: dict[int, Row] = {}
        offenders: list[tuple[int, str]] = []
        for trial in trials:
            row = encode_trial(trial)
            tid = row[0]
            previous = staged[tid] if tid in staged else stored.get(tid)
            if previous is not None and previous[1] in FINISHED_STATES:
                offenders.append((tid, previous[1]))
            staged[tid] = row
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

    def _rows(self, study_id: int) -> dict[int, Row]:
        self._check_open()
        try:
            return self._trials[study_id]
        except KeyError:
            raise study_id_not_found(study_id, "this MemoryStorage") from None
