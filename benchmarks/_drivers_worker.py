"""The driver processes of ``benchmarks/drivers.py``: one function per process, started by spawn.

Each process gets a :class:`Job`, does its setup (imports, event loop, for ask/tell also opening
the study), waits at a barrier shared with the other drivers of the cell and the parent, then
drives the shared study and puts one :class:`Outcome` on the results queue. Times that are
compared across processes are ``time.time()`` values: the same clock in every process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import traceback
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import anyio
import anyio.to_thread

from asynchpo import Storage, fmin, hp, open_study, rand
from asynchpo._storage import StorageWrapper, Written, open_storage
from asynchpo._trial import Trial

__all__ = ["SPACE", "Job", "Outcome", "run_driver"]

SPACE = {
    "x": hp.uniform("x", -5, 5),
    "lr": hp.loguniform("lr", math.log(1e-5), math.log(1e-1)),
    "kind": hp.choice("kind", ["a", "b", "c"]),
}

Kind = Literal["fmin", "asktell", "optuna"]


class Barrier(Protocol):
    """What this module needs of ``multiprocessing.Barrier``."""

    def wait(self, timeout: float | None = None) -> int: ...

    def abort(self) -> None: ...


class Queue(Protocol):
    """What this module needs of ``multiprocessing.Queue``."""

    def put(self, obj: Any) -> None: ...


@dataclasses.dataclass(frozen=True)
class Job:
    """One driver process's work.

    :param kind: ``fmin``, ``asktell`` (16 tasks looping ask/objective/tell) or ``optuna``.
    :param index: the driver's number in its cell (Optuna's sampler seed).
    :param storage: the SQLite file (Optuna: its ``sqlite:///`` URL), or the PostgreSQL URL
        (Optuna: SQLAlchemy's ``postgresql+psycopg2://`` URL).
    :param study: the study's name.
    :param trials: asynchpo: the study's total (``max_evals``); Optuna: this process's
        ``n_trials``.
    :param concurrency: evaluations in flight in this process.
    :param sleep: seconds the objective sleeps; 0 for a no-op.
    :param commit_times: also time each finished trial's commit (see :class:`Outcome`):
        ``fmin`` then gets a storage opened before the barrier, wrapped in
        :class:`_TimedWrites`; Optuna an ``RDBStorage`` that times
        ``set_trial_state_values``.
    """

    kind: Kind
    index: int
    storage: str
    study: str
    trials: int
    concurrency: int
    sleep: float
    commit_times: bool = False


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one driver process measured.

    :param calls: objective calls in this process.
    :param started: ``time.time()`` when it left the barrier.
    :param ended: ``time.time()`` when its last trial was stored (fmin: when fmin returned).
    :param cpu: CPU seconds this process used (all its threads) from the barrier to ``ended``.
    :param tell_seconds: ask/tell: each ``tell``'s duration; with ``Job.commit_times``,
        ``fmin``: for each finished trial, from its ``finished`` stamp (set just before it is
        written) to the return of the storage's ``write`` that committed it; Optuna: each
        ``RDBStorage.set_trial_state_values`` call that finishes a trial.
    :param call_times: ``time.time()`` of each objective call, in order.
    :param error: the traceback if the driver failed.
    """

    index: int
    calls: int = 0
    started: float = math.nan
    ended: float = math.nan
    cpu: float = math.nan
    tell_seconds: list[float] = dataclasses.field(default_factory=list)
    call_times: list[float] = dataclasses.field(default_factory=list)
    error: str | None = None


class _Counter:
    """Objective calls and when they started (appends are atomic under the GIL)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def hit(self) -> None:
        self.times.append(time.time())


def run_driver(job: Job, barrier: Barrier, results: Queue) -> None:
    """The body of one driver process: always puts exactly one :class:`Outcome`."""
    counter = _Counter()
    try:
        if job.kind == "optuna":
            outcome = _optuna(job, barrier, counter)
        else:
            outcome = anyio.run(_asynchpo, job, barrier, counter)
    except BaseException:
        barrier.abort()  # a driver that cannot start fails the cell at once, not at a timeout
        outcome = Outcome(
            job.index,
            calls=len(counter.times),
            call_times=counter.times,
            error=traceback.format_exc(),
        )
    results.put(outcome)


async def _asynchpo(job: Job, barrier: Barrier, counter: _Counter) -> Outcome:
    async def objective(params: dict[str, Any]) -> float:
        counter.hit()
        if job.sleep:
            await anyio.sleep(job.sleep)
        return float(params["x"]) ** 2

    if job.kind == "fmin":
        async with contextlib.AsyncExitStack() as stack:
            storage: str | Storage = job.storage
            timed: _TimedWrites | None = None
            if job.commit_times:
                opened = await stack.enter_async_context(open_storage(job.storage))
                storage = timed = _TimedWrites(opened)
            await anyio.to_thread.run_sync(barrier.wait)
            started, cpu = time.time(), time.process_time()
            await fmin(
                objective,
                SPACE,
                algo=rand.suggest,
                max_evals=job.trials,
                concurrency=job.concurrency,
                storage=storage,
                study=job.study,
                seed=0,
                show_progressbar=False,
            )
            ended, cpu = time.time(), time.process_time() - cpu
        return Outcome(
            job.index,
            len(counter.times),
            started,
            ended,
            cpu,
            tell_seconds=[] if timed is None else timed.seconds,
            call_times=counter.times,
        )

    tell_seconds: list[float] = []
    async with open_study(
        job.storage, job.study, space=SPACE, algo=rand.suggest, seed=0, max_evals=job.trials
    ) as study:

        async def worker() -> None:
            while True:
                asked = await study.ask(1)  # empty once the study's max_evals is reached
                if not asked:
                    return
                trial = asked[0]
                value = await objective(trial.params)  # type: ignore[arg-type]
                t0 = time.perf_counter()
                await study.tell(trial, value)
                tell_seconds.append(time.perf_counter() - t0)

        await anyio.to_thread.run_sync(barrier.wait)
        started, cpu = time.time(), time.process_time()
        async with anyio.create_task_group() as tg:
            for _ in range(job.concurrency):
                tg.start_soon(worker)
        ended, cpu = time.time(), time.process_time() - cpu
    return Outcome(job.index, len(counter.times), started, ended, cpu, tell_seconds, counter.times)


def _optuna(job: Job, barrier: Barrier, counter: _Counter) -> Outcome:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)

    def objective(trial: Any) -> float:
        counter.hit()  # from Optuna's n_jobs threads: list.append is atomic
        x = trial.suggest_float("x", -5, 5)
        trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        trial.suggest_categorical("kind", ["a", "b", "c"])
        if job.sleep:
            time.sleep(job.sleep)
        return float(x) ** 2

    commits: list[float] = []
    study = optuna.create_study(
        study_name=job.study,
        storage=_timed_rdb_storage(job.storage, commits) if job.commit_times else job.storage,
        load_if_exists=True,
        sampler=optuna.samplers.RandomSampler(seed=job.index),
    )
    barrier.wait()
    started, cpu = time.time(), time.process_time()
    study.optimize(objective, n_trials=job.trials, n_jobs=job.concurrency)
    return Outcome(
        job.index,
        len(counter.times),
        started,
        time.time(),
        time.process_time() - cpu,
        tell_seconds=commits,
        call_times=counter.times,
    )


class _TimedWrites(StorageWrapper):
    """Times the commit of each finished trial: from its ``finished`` stamp to the return of
    the ``write`` that stored it. The study wraps this storage in its group commit, so the
    time includes waiting for a group to form, as ``tell`` does."""

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage)
        self.seconds: list[float] = []

    async def write(self, study_id: int, trials: Sequence[Trial]) -> Written:
        written = await self.storage.write(study_id, trials)
        now = time.time()
        self.seconds.extend(
            now - t.finished for t in trials if t.state.is_finished and t.finished is not None
        )
        return written


def _timed_rdb_storage(url: str, seconds: list[float]) -> Any:
    """Optuna's ``RDBStorage`` at ``url`` (what ``storage=url`` opens), whose calls that
    store a trial's final state and values are timed into ``seconds``."""
    import optuna

    class TimedRDBStorage(optuna.storages.RDBStorage):
        def set_trial_state_values(
            self, trial_id: int, state: Any, values: Sequence[float] | None = None
        ) -> bool:
            t0 = time.perf_counter()
            stored: bool = super().set_trial_state_values(trial_id, state, values)
            if state.is_finished():
                seconds.append(time.perf_counter() - t0)  # list.append: atomic
            return stored

    return TimedRDBStorage(url)
