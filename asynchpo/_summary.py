"""Study summaries: counts by state, the best trial, live drivers and stale trials.

``summarize`` is pure (records in, a summary out); ``list_studies`` reads every study of an
existing SQLite file (it never creates one) or of a PostgreSQL database (a read-only session)
without disturbing a run that writes to it: the SQLite file is in WAL mode, so readers and
writers never block each other.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping, Sequence

from asynchpo._leases import alive
from asynchpo._log_folder import sqlite_file
from asynchpo._objectives import Objectives
from asynchpo._storage import (
    Driver,
    PostgresStorage,
    SqliteStorage,
    Storage,
    StudyRecord,
    open_storage,
)
from asynchpo._storage._schema import DamagedRecord
from asynchpo._storage._urls import is_postgres_url
from asynchpo._trial import Trial, TrialState, activity

__all__ = ["StudySummary", "list_studies", "open_existing", "summarize", "tally"]


@dataclasses.dataclass(frozen=True, slots=True)
class StudySummary:
    """What a stored study holds, at a glance.

    :param name: the study's name.
    :param counts: the number of trials in each state, by the state's value (``"queued"``,
        ``"running"``, ``"ok"``, ``"fail"``, ``"interrupted"``, ``"pruned"``), every state
        present.
    :param best_loss: the lowest loss of an ``ok`` trial, or ``None`` (a pruned trial's loss
        is a partial one and never the best).
    :param best_trial: the id of that trial, or ``None``.
    :param last_activity: the latest created/started/finished time of any trial (seconds
        since the epoch), or the study's creation time when it has no trial.
    :param algo: the study's search algorithm.
    :param created: when the study was created.
    :param drivers: the drivers whose lease is alive, with how many trials each runs.
    :param stale: running trials whose driver's lease lapsed: they run again when a driver
        next asks.
    :param stale_seen: when the drivers of the stale trials were last seen (the latest).
    :param directions: ``"minimize"`` or ``"maximize"`` per objective (one for a study of one
        objective; with ``"maximize"``, ``best_loss`` is the highest loss).
    :param front: with several objectives, how many trials the Pareto front holds (``0``
        before any succeeded, and always with one objective: see ``best_trial``); the front
        is of the feasible trials while any is.
    """

    name: str
    counts: Mapping[str, int]
    best_loss: float | None
    best_trial: int | None
    last_activity: float
    algo: str
    created: float
    drivers: tuple[tuple[Driver, int], ...] = ()
    stale: int = 0
    stale_seen: float | None = None
    directions: tuple[str, ...] = ("minimize",)
    front: int = 0

    @property
    def total(self) -> int:
        """The number of trials in the study."""
        return sum(self.counts.values())

    @property
    def pruned(self) -> int:
        """The number of trials a pruner stopped early (state ``pruned``)."""
        return self.counts.get(TrialState.PRUNED.value, 0)

    @property
    def live(self) -> int:
        """Running trials whose driver holds its lease."""
        return self.counts.get(TrialState.RUNNING.value, 0) - self.stale


def summarize(
    record: StudyRecord,
    trials: Sequence[Trial],
    drivers: Sequence[Driver] = (),
    now: float | None = None,
) -> StudySummary:
    """The summary of a study from its record, its trials and its drivers."""
    counts = dict.fromkeys(TrialState, 0)
    last = record.created
    running: dict[int, int | None] = {}
    for trial in trials:
        counts[trial.state] += 1
        last = max(last, activity(trial))
        if trial.state is TrialState.RUNNING:
            running[trial.id] = trial.driver
    objectives = Objectives(tuple(record.config.directions))
    best = objectives.best(trials)
    front = len(objectives.front(trials)) if objectives.several else 0
    return dataclasses.replace(
        tally(record, counts, best, last, running, drivers, now), front=front
    )


def tally(
    record: StudyRecord,
    counts: Mapping[TrialState, int],
    best: Trial | None,
    last: float,
    running: Mapping[int, int | None],
    drivers: Sequence[Driver] = (),
    now: float | None = None,
) -> StudySummary:
    """The summary of a study from what a ledger keeps as trials come in: the counts by state,
    the best trial, the latest activity, and the running trials with their drivers. It costs
    what runs, not the study."""
    now = time.time() if now is None else now
    by_id = {driver.id: driver for driver in drivers}
    per_driver: dict[int, int] = {}
    stale = 0
    stale_seen: float | None = None
    for holder_id in running.values():
        holder = by_id.get(holder_id) if holder_id is not None else None
        if holder is not None and alive(holder, now):
            per_driver[holder.id] = per_driver.get(holder.id, 0) + 1
        else:
            stale += 1
            if holder is not None:
                stale_seen = max(stale_seen or holder.seen, holder.seen)
    last = max([record.created, last, *(driver.seen for driver in drivers)])
    live = tuple((driver, per_driver.get(driver.id, 0)) for driver in drivers if alive(driver, now))
    return StudySummary(
        name=record.name,
        counts={state.value: counts.get(state, 0) for state in TrialState},
        best_loss=None if best is None else best.loss,
        best_trial=None if best is None else best.id,
        last_activity=last,
        algo=record.config.algo,
        created=record.created,
        drivers=live,
        stale=stale,
        stale_seen=stale_seen,
        directions=tuple(record.config.directions),
    )


async def open_existing(path: str | os.PathLike[str]) -> Storage:
    """Open, for reading only, a storage that must exist already: a SQLite file (a path or a
    ``sqlite:///`` URL), or a PostgreSQL database (``postgresql://...``, a read-only session
    that creates nothing; a database without asynchpo's tables holds no study). Close it with
    ``aclose``.

    :raises StorageError: if there is no file at ``path`` (none is created), or it is not an
        asynchpo database, or the PostgreSQL server cannot be reached or refuses the user.
    """
    if isinstance(path, str) and is_postgres_url(path):
        return await PostgresStorage.open(path, read_only=True)
    # Read-only: the file must be an existing regular file, and no byte of it changes.
    file = sqlite_file(path)
    assert file is not None
    return await SqliteStorage.open(file, read_only=True)


async def list_studies(storage: str | os.PathLike[str]) -> list[StudySummary]:
    """A summary of every study in ``storage``, oldest study first: its trials by state, best
    loss, live drivers, and running trials whose driver is gone (``stale``, with when it was
    last seen).

    ``storage`` is a SQLite file's path (or ``sqlite:///x.db``), or a PostgreSQL URL
    (``postgresql://user:password@host:5432/database``); it is only read, and a database
    without asynchpo's tables gives ``[]``.

    :raises StorageError: if the file does not exist (it is not created) or is not an
        asynchpo database, or the PostgreSQL server cannot be reached or refuses the user
        (the message shows the password as ``***``).
    """
    async with open_storage(storage, read_only=True) as store:
        summaries = []
        text = os.fspath(storage)
        # A damaged row's message names a SQLite file (with the sqlite3 command to delete it).
        where = None if is_postgres_url(text) else os.fspath(sqlite_file(storage) or text)
        try:
            records = await store.list_studies()
        except DamagedRecord as exc:
            raise exc.located(None, None, where) from None
        for record in records:
            try:
                trials = await store.trials(record.id)
                # Every driver, dead ones too: a stale trial's driver tells when it was last seen.
                drivers = await store.drivers(record.id)
            except DamagedRecord as exc:
                raise exc.located(record.name, record.id, where) from None
            summaries.append(summarize(record, trials, drivers))
        return summaries
