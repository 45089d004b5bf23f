"""The storage seam: the only part of asynchpo that persists anything.

Contract, for every implementation (its tests: :class:`asynchpo.testing.storage.StorageContract`):

- **Many drivers per study.** Any number of *drivers* (processes, machines) may drive one
  study at once. Each registers with :meth:`Storage.open_driver` and holds a *lease*: it is
  alive while ``seen + lease > now``. Its writes renew it (``seen = now``, at most four times
  per lease period, in the same transaction), and :meth:`Storage.heartbeat` renews it when the
  driver has nothing to write. Readers
  (``load_trials``, the CLI, another process) never block a writer.
- **Ids are taken where trials start.** :meth:`Storage.new_trials` gives new trials the next
  dense ids in the same transaction that stores them ``RUNNING``, and refuses any past the
  study's budget (``finished + running < max_evals``, counted over every driver).
  :meth:`Storage.take_trial` hands one waiting trial (``QUEUED``, ``INTERRUPTED``, or
  ``RUNNING`` under a driver whose lease lapsed or ended) to exactly one driver.
- **Fencing.** A record that names a driver is stored only if the stored trial is held by that
  same driver (or by none). A driver whose trial was taken over after its lease lapsed gets its
  record refused (:attr:`Written.refused`), never stored over the new holder's.
- **Atomic batches.** :meth:`Storage.write` stores a batch as one transaction: after a crash
  either every record of the batch is stored or none is (refused records excepted).
- **Finished trials are immutable.** Writing a record, as its holder, for a trial whose stored
  state is ``OK``, ``FAIL`` or ``PRUNED`` raises :class:`StorageError` and stores nothing.
- **A change feed.** Each study has a version that grows with every statement that changes its
  trials; :meth:`Storage.changes` returns the trials changed after a version, so a driver
  reads only what changed, never the whole study per suggestion.
- **Records round-trip.** :meth:`Storage.trials` returns records equal to those written (the
  ``result`` dict goes through JSON: tuples come back as lists).
- **Attachments.** Each trial may have named attachments (hyperopt's ``trial_attachments``),
  kept apart from its record: :meth:`Storage.put_attachments` stores or replaces some by name
  (``bytes`` stay bytes; any other value goes through JSON, and one JSON cannot hold is
  refused with :class:`StorageError`, storing none of the call's), and
  :meth:`Storage.attachments` reads a trial's back. They may be written in any state of the
  trial (a finished one included: they are not part of its record), do not change the study's
  version, and are not fenced; a driver writes a trial's right before its finished record.
  :meth:`Storage.attachment_reader` reads them without awaiting, for code that cannot (the
  hyperopt ``Trials`` view), even after the storage is closed.
- **Not thread-safe.** A storage object is used from one event loop.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from asynchpo._trial import Trial

__all__ = ["Changes", "Driver", "Storage", "StudyConfig", "StudyRecord", "Written"]


@dataclasses.dataclass(frozen=True, slots=True)
class StudyConfig:
    """What a study is fixed to when it is created, and checked against when it resumes.

    :param space: the compiled space's description (a JSON-able list, one entry per label).
    :param fingerprint: a hash of ``space``.
    :param algo: the name of the suggester and its options, e.g. ``"rand"``.
    :param seed: the study's base seed; each trial's generator derives from (seed, trial id).
    :param directions: ``"minimize"`` or ``"maximize"`` per objective (one by default).
    """

    space: Sequence[Mapping[str, Any]]
    fingerprint: str
    algo: str
    seed: int
    directions: tuple[str, ...] = ("minimize",)


@dataclasses.dataclass(frozen=True, slots=True)
class StudyRecord:
    """A stored study: its id in the storage, its name and its configuration."""

    id: int
    name: str
    config: StudyConfig
    created: float


@dataclasses.dataclass(frozen=True, slots=True)
class Driver:
    """A process driving a study, and its lease.

    :param id: the driver's id, unique within the storage.
    :param study_id: the study it drives.
    :param host: the machine it runs on (its host name).
    :param pid: its process id on that machine.
    :param started: when it registered (seconds since the epoch).
    :param seen: when it last wrote or renewed its lease.
    :param lease: how many seconds after ``seen`` its lease lapses.
    :param ended: when it stopped driving (cleanly, or declared dead), or ``None``.
    """

    id: int
    study_id: int
    host: str
    pid: int
    started: float
    seen: float
    lease: float
    ended: float | None = None

    def alive(self, now: float) -> bool:
        """Whether the driver still holds its lease at ``now``."""
        return self.ended is None and now < self.seen + self.lease


@dataclasses.dataclass(frozen=True, slots=True)
class Changes:
    """What changed in a study after a version: its trials' latest records, ordered by id.

    :param version: the study's version these records bring a reader up to.
    :param trials: every trial written after the version asked about.
    """

    version: int
    trials: list[Trial]


@dataclasses.dataclass(frozen=True, slots=True)
class Written:
    """What a :meth:`Storage.write` did.

    :param version: the study's version after the write (``-1`` when nothing was stored).
    :param refused: the ids of records not stored because another driver holds the trial.
    """

    version: int
    refused: tuple[int, ...] = ()


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
    async def write(self, study_id: int, trials: Sequence[Trial]) -> Written:
        """Insert new trial records and replace existing ones, all in one transaction.

        A record replaces the stored record with the same ``id``, unless the stored trial is
        held by another driver than ``record.driver`` (then it is refused, see
        :class:`Written`). Raises :class:`StorageError` (and stores nothing) if any accepted
        record would replace a finished trial. A write renews the lease of every driver its
        records name.
        """

    @abstractmethod
    async def changes(self, study_id: int, since: int) -> Changes:
        """The trials written after version ``since`` (``-1``: every trial), ordered by id.

        Raises :class:`StudyNotFound` if there is no such study.
        """

    @abstractmethod
    async def version(self, study_id: int) -> int:
        """The study's version now: a driver compares it with the version it read up to
        before every suggestion, so it must be cheap. Raises :class:`StudyNotFound`."""

    @abstractmethod
    async def new_trials(
        self,
        study_id: int,
        driver: int,
        trials: Sequence[Trial],
        max_evals: int | None,
    ) -> tuple[list[Trial], int]:
        """Store ``trials`` as new ``RUNNING`` trials held by ``driver``, with the next ids.

        Their ``id`` and ``driver`` fields are replaced. Trials past the budget (``finished
        + running`` of the study reaching ``max_evals``) are not stored: the list returned
        may be shorter, empty once the budget is spent. Returns the stored records and the
        study's version after the statement (``-1`` if none was stored).
        """

    @abstractmethod
    async def take_trial(
        self, study_id: int, driver: int, max_evals: int | None, started: float, slot: int | None
    ) -> Trial | None:
        """Hand the waiting trial with the lowest id to ``driver``, stored ``RUNNING``.

        Waiting trials are ``QUEUED`` and ``INTERRUPTED`` ones (taken only within the budget)
        and ``RUNNING`` ones whose driver's lease lapsed or ended (their budget is already
        counted). The trial keeps its id and parameters; its result, reports and error are
        cleared. ``None`` if there is none.
        """

    @abstractmethod
    async def enqueue(self, study_id: int, params: Sequence[Mapping[str, Any]]) -> list[Trial]:
        """Add ``QUEUED`` trials for the points not already in the study, with the next ids.

        A point equal to a stored trial's parameters is skipped (so two drivers queueing the
        same points add them once). Returns the trials added.
        """

    @abstractmethod
    async def open_driver(self, study_id: int, host: str, pid: int, lease: float) -> Driver:
        """Register a driver of the study with a lease of ``lease`` seconds from now."""

    @abstractmethod
    async def heartbeat(self, driver: int) -> Driver:
        """Renew the lease of ``driver`` (``seen = now``) and return its record."""

    @abstractmethod
    async def end_driver(self, driver: int) -> None:
        """Mark ``driver`` ended: its ``RUNNING`` trials may be taken at once."""

    @abstractmethod
    async def drivers(self, study_id: int) -> list[Driver]:
        """Every driver that registered with the study, oldest first."""

    @abstractmethod
    async def put_attachments(
        self, study_id: int, trial_id: int, attachments: Mapping[str, Any]
    ) -> None:
        """Store ``attachments`` (name -> ``bytes`` or a JSON-able value) for trial
        ``trial_id``, replacing those of the same names, all or none.

        :raises StorageError: (storing none) if a name is not a string or a value is neither
            bytes nor JSON-able.
        :raises StudyNotFound: if there is no such study.
        """

    @abstractmethod
    async def attachments(self, study_id: int, trial_id: int) -> dict[str, Any]:
        """Trial ``trial_id``'s attachments, by name: ``bytes`` as ``bytes``, the others as
        they come back from JSON (tuples as lists). Empty if it has none.

        :raises StudyNotFound: if there is no such study.
        """

    def attachment_reader(self, study_id: int) -> Callable[[int], dict[str, Any]] | None:
        """A function that reads a trial's attachments (as :meth:`attachments`) without
        awaiting, also after :meth:`aclose`; ``None`` if this storage has none (the
        ``Trials`` view then shows only the attachments of trials run in this process)."""
        return None

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
