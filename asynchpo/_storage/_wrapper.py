"""``StorageWrapper``: a storage that hands every call to another one.

Speed-ups and instruments (group commit, counting writes in a test) subclass it and override
only what they change, so the wrapped storage's contract holds for everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from asynchpo._storage._base import Changes, Driver, Storage, StudyConfig, StudyRecord, Written
from asynchpo._trial import Trial

__all__ = ["StorageWrapper"]


class StorageWrapper(Storage):
    """Delegates every method to ``storage``. :meth:`aclose` does nothing: the wrapped
    storage belongs to whoever opened it."""

    def __init__(self, storage: Storage) -> None:
        """Wrap ``storage``."""
        self.storage = storage

    async def create_study(self, name: str, config: StudyConfig) -> StudyRecord:
        return await self.storage.create_study(name, config)

    async def get_study(self, name: str) -> StudyRecord:
        return await self.storage.get_study(name)

    async def list_studies(self) -> list[StudyRecord]:
        return await self.storage.list_studies()

    async def trials(self, study_id: int) -> list[Trial]:
        return await self.storage.trials(study_id)

    async def write(self, study_id: int, trials: Sequence[Trial]) -> Written:
        return await self.storage.write(study_id, trials)

    async def changes(self, study_id: int, since: int) -> Changes:
        return await self.storage.changes(study_id, since)

    async def version(self, study_id: int) -> int:
        return await self.storage.version(study_id)

    async def new_trials(
        self,
        study_id: int,
        driver: int,
        trials: Sequence[Trial],
        max_evals: int | None,
    ) -> tuple[list[Trial], int]:
        return await self.storage.new_trials(study_id, driver, trials, max_evals)

    async def take_trial(
        self, study_id: int, driver: int, max_evals: int | None, started: float, slot: int | None
    ) -> Trial | None:
        return await self.storage.take_trial(study_id, driver, max_evals, started, slot)

    async def enqueue(self, study_id: int, params: Sequence[Mapping[str, Any]]) -> list[Trial]:
        return await self.storage.enqueue(study_id, params)

    async def open_driver(self, study_id: int, host: str, pid: int, lease: float) -> Driver:
        return await self.storage.open_driver(study_id, host, pid, lease)

    async def heartbeat(self, driver: int) -> Driver:
        return await self.storage.heartbeat(driver)

    async def end_driver(self, driver: int) -> None:
        await self.storage.end_driver(driver)

    async def drivers(self, study_id: int) -> list[Driver]:
        return await self.storage.drivers(study_id)

    async def put_attachments(
        self, study_id: int, trial_id: int, attachments: Mapping[str, Any]
    ) -> None:
        await self.storage.put_attachments(study_id, trial_id, attachments)

    async def attachments(self, study_id: int, trial_id: int) -> dict[str, Any]:
        return await self.storage.attachments(study_id, trial_id)

    def attachment_reader(self, study_id: int) -> Callable[[int], dict[str, Any]] | None:
        return self.storage.attachment_reader(study_id)

    async def aclose(self) -> None:
        """Does nothing: the wrapped storage is closed by whoever opened it."""
