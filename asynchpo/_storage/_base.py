"""The storage seam: the only part of asynchpo that persists anything.

Contract, for every implementation:

- **One writer per study.** A study is driven by one ``fmin`` at a time; several studies may
  share one storage (one SQLite file). Readers (``load_trials``, another process) may read while
  a run writes and never block it.
- **Atomic batches.** :meth:`Storage.write` stores a batch of trial records as one transaction:
  after a crash either every record of the batch is stored or none is.
- **Finished trials are immutable.** Writing a record for a trial whose stored state is ``OK``
  or ``FAIL`` raises :class:`StorageError` and stores nothing of the batch.
- **Records round-trip.** :meth:`Storage.trials` returns records equal to those written (the
  ``result`` dict goes through JSON: tuples come back as lists).
- **Not thread-safe.** A storage object is used from one event loop.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from asynchpo._trial import Trial

__all__ = ["Storage", "StudyConfig", "StudyRecord"]


@dataclasses.dataclass(frozen=True, slots=True)
class StudyConfig:
    """What a study is fixed to when it is created, and checked against when it resumes.

    :param space: the compiled space's description (a JSON-able list, one entry per label).
    :param fingerprint: a hash of ``space``.
    :param algo: the name of the suggester and its options, e.g. ``"rand"``.
    :param seed: the study's base seed; each trial's generator derives from (seed, trial id).
    """

    space: Sequence[Mapping[str, Any]]
    fingerprint: str
    algo: str
    seed: int


@dataclasses.dataclass(frozen=True, slots=True)
class StudyRecord:
    """A stored study: its id in the storage, its name and its configuration."""

    id: int
    name: str
    config: StudyConfig
    created: float


class Storage(ABC):
    """Durable record of studies and their trials. See the module docstring for the contract."""

    @abstractmethod
    async def create_study(self, name: str, config: StudyConfig) -> StudyRecord:
        """Create a study. Raises :class:`StudyError` if ``name`` already exists."""

    @abstractmethod
    async def get_study(self, name: str) -> StudyRecord:
        """The stored study called ``name``. Raises :class:`StudyNotFound` if there is none."""

    @abstractmethod
    async def list_studies(self) -> list[StudyRecord]:
        """Every study in this storage, oldest first."""

    @abstractmethod
    async def trials(self, study_id: int) -> list[Trial]:
        """Every trial of the study, ordered by trial id."""

    @abstractmethod
    async def write(self, study_id: int, trials: Sequence[Trial]) -> None:
        """Insert new trial records and replace existing ones, all in one transaction.

        A record replaces the stored record with the same ``id``. Raises
        :class:`StorageError` (and stores nothing) if any of them is stored as finished.
        """

    @abstractmethod
    async def aclose(self) -> None:
        """Release the storage's resources. Idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
