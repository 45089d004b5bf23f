"""DaskExecutor on real clusters: a LocalCluster with worker processes, and `dask scheduler` /
`dask worker` processes for the tests that kill the scheduler or need unlike workers."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import dask_objectives as objectives
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from distributed import Client, LocalCluster
from process_tools import wait_dead

from asynchpo import (
    AllTrialsFailed,
    Command,
    ConfigError,
    DaskExecutor,
    ExecutorError,
    StudyNotFound,
    Trials,
    TrialState,
    fmin,
    hp,
    pruners,
    rand,
)
from asynchpo._storage import SqliteStorage

SPACE = {"x": hp.uniform("x", -5, 5)}
TESTS = Path(__file__).parent

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2, threads_per_worker=4, processes=True, dashboard_address=":0"
    ) as local:
        yield local


async def _stored(path: Path, study: str = "default") -> list[Any]:
    async with await SqliteStorage.open(path) as storage:
        try:
            record = await storage.get_study(study)
        except StudyNotFound:
            return []
        return await storage.trials(record.id)


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


async def _wait_for(condition: Any, what: str, seconds: float = 20.0) -> None:
    """Test-side wait for something another process does (checked every 50 ms)."""
    with anyio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 - another process changes it
            await anyio.sleep(0.05)
    assert condition(), what


# --- results, concurrency, objective kinds ---------------------------------------------------


async def test_results_are_correct_complete_and_computed_on_the_workers(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    db = tmp_path / "runs.sqlite"
    best = await fmin(
        objectives.quadratic,
        SPACE,
        algo=rand.suggest,
        max_evals=40,
        concurrency=4,
        executor=DaskExecutor(cluster),
        storage=db,
        seed=3,
    )
    stored = await _stored(db)
    assert [t.id for t in stored] == list(range(40))
    assert all(t.state is TrialState.OK for t in stored)
    for trial in stored:
        assert trial.loss == pytest.approx((trial.params["x"] - 1.0) ** 2)
        assert trial.result["trial"] == trial.id  # current_trial() works on the worker
        assert trial.result["pid"] != os.getpid()
    best_trial = min(stored, key=lambda t: t.loss)
    assert best == {"x": best_trial.params["x"]}
    assert _max_overlap([(t.result["start"], t.result["end"]) for t in stored]) <= 4


async def test_in_flight_trials_never_exceed_concurrency(cluster: LocalCluster) -> None:
    trials = Trials()
    await fmin(
        objectives.async_quadratic,
        SPACE,
        algo=rand.suggest,
        max_evals=30,
        concurrency=3,
        executor=DaskExecutor(cluster.scheduler_address),
        trials=trials,
    )
    trials_seen = [t["result"] for t in trials.trials]
    assert len(trials_seen) == 30
    peak = _max_overlap([(r["start"], r["end"]) for r in trials_seen])
    # 8 worker threads could run more; the driver keeps exactly 3 in flight.
    assert 2 <= peak <= 3
    assert {r["trial"] for r in trials_seen} == set(range(30))
    assert all(r["pid"] != os.getpid() for r in trials_seen)


async def test_an_objective_exception_fails_its_trial_and_is_not_retried_by_dask(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    db = tmp_path / "runs.sqlite"
    await fmin(
        objectives.fails_on_negative,
        SPACE,
        algo=rand.suggest,
        max_evals=20,
        concurrency=4,
        executor=DaskExecutor(cluster),
        storage=db,
        catch_eval_exceptions=True,
    )
    stored = await _stored(db)
    failed = [t for t in stored if t.state is TrialState.FAIL]
    assert failed
    assert all(t.params["x"] < 0 for t in failed)
    assert all("ValueError: negative x" in (t.error or "") for t in failed)
    assert all(t.state is TrialState.OK for t in stored if t.params["x"] >= 0)


async def test_objective_exception_is_re_raised_as_itself(cluster: LocalCluster) -> None:
    with pytest.raises(ValueError, match="negative x"):
        await fmin(
            objectives.fails_on_negative,
            {"x": hp.uniform("x", -2, -1)},
            max_evals=5,
            concurrency=2,
            executor=DaskExecutor(cluster),
        )


async def test_a_command_runs_on_the_workers(cluster: LocalCluster, tmp_path: Path) -> None:
    script = (
        "import json, os, sys\n"
        "x = float(sys.argv[1])\n"
        "print(json.dumps(dict(loss=(x - 1) ** 2, ppid=os.getppid())))\n"
    )
    command = Command([sys.executable, "-c", script, "{x}"])
    db = tmp_path / "runs.sqlite"
    await fmin(
        command,
        SPACE,
        algo=rand.suggest,
        max_evals=12,
        concurrency=4,
        executor=DaskExecutor(cluster),
        storage=db,
    )
    stored = await _stored(db)
    assert len(stored) == 12
    assert all(t.state is TrialState.OK for t in stored)
    for trial in stored:
        assert trial.loss == pytest.approx((trial.params["x"] - 1.0) ** 2)
    # Started by a worker process, not by this one.
    assert all(t.result["ppid"] != os.getpid() for t in stored)


# --- reports and pruning -------------------------------------------------------------------


@pytest.mark.parametrize("objective", [objectives.curve_async, objectives.curve_sync])
async def test_trials_on_the_workers_report_and_are_pruned(
    cluster: LocalCluster, tmp_path: Path, objective: Any
) -> None:
    db = tmp_path / "runs.sqlite"
    await fmin(
        objective, SPACE, algo=rand.suggest, max_evals=24, concurrency=4, seed=2,
        executor=DaskExecutor(cluster), storage=db,
        pruner=pruners.SuccessiveHalvingPruner(max_resource=27),
    )  # fmt: skip
    stored = await _stored(db)
    completed = [t for t in stored if t.state is TrialState.OK]
    pruned = [t for t in stored if t.state is TrialState.PRUNED]
    assert len(completed) + len(pruned) == 24
    assert len(pruned) >= 12
    for trial in completed:  # every report, in order, even those whose events came late
        assert trial.reports == tuple(
            (step, objectives.curve_loss(trial.params["x"], step)) for step in range(1, 28)
        )
    for trial in pruned:
        assert 1 <= len(trial.reports) < 27
        assert trial.loss == trial.reports[-1][1]
    assert min(t.loss for t in completed if t.loss is not None) < min(
        t.loss for t in pruned if t.loss is not None
    )


async def test_a_command_on_the_workers_is_pruned_and_stopped(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    command = Command(
        [sys.executable, str(TESTS / "pruning_curve.py"), "{x}", str(tmp_path)], grace=0.5
    )
    points = [{"x": 1.0}, {"x": 1.2}, {"x": 4.5}, {"x": -4.5}]
    db = tmp_path / "runs.sqlite"
    await fmin(
        command, SPACE, algo=rand.suggest, max_evals=4, concurrency=2, storage=db,
        executor=DaskExecutor(cluster), points_to_evaluate=points,
        pruner=pruners.SuccessiveHalvingPruner(reduction_factor=2, max_resource=27),
    )  # fmt: skip
    states = {t.params["x"]: t.state for t in await _stored(db)}
    assert states[1.0] is TrialState.OK
    assert states[4.5] is TrialState.PRUNED
    assert states[-4.5] is TrialState.PRUNED  # it ignores SIGTERM: SIGKILL after the grace
    pids = _pids(tmp_path)
    assert len(pids) == 4

    assert await anyio.to_thread.run_sync(wait_dead, pids) == [], "no program is left"


# --- cancellation -----------------------------------------------------------------------------


async def test_a_timeout_cancels_coroutines_on_the_workers(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    db = tmp_path / "runs.sqlite"
    objective = functools.partial(objectives.sleeps_until_cancelled, str(tmp_path))
    started = time.monotonic()
    with pytest.raises(AllTrialsFailed):  # the timeout came before any result
        await fmin(
            objective, SPACE, max_evals=10, concurrency=3, executor=DaskExecutor(cluster),
            storage=db, timeout=3,
        )  # fmt: skip
    assert time.monotonic() - started < 15
    stored = await _stored(db)
    assert [t.state for t in stored] == [TrialState.INTERRUPTED] * 3
    # Each coroutine was cancelled on its worker, not left to sleep out its minute.
    await _wait_for(
        lambda: all((tmp_path / f"cancelled-{t.id}").exists() for t in stored),
        "every trial's coroutine was cancelled on its worker",
    )
    async with Client(cluster.scheduler_address, asynchronous=True) as client:

        def tasks(dask_scheduler: Any) -> int:
            return len(dask_scheduler.tasks)

        await _wait_for_async(lambda: client.run_on_scheduler(tasks), 0)


async def _wait_for_async(probe: Any, expected: Any, seconds: float = 20.0) -> None:
    with anyio.fail_after(seconds):
        while (value := await probe()) != expected:  # noqa: ASYNC110 - a remote state
            await anyio.sleep(0.05)
    assert value == expected


async def test_a_cancelled_command_leaves_no_process_on_the_workers(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    script = (
        "import os, sys, time\n"
        "open(os.path.join(sys.argv[1], 'pid-%s' % os.environ['ASYNCHPO_TRIAL_ID']), 'w')"
        ".write(str(os.getpid()))\n"
        "time.sleep(60)\n"
    )
    command = Command([sys.executable, "-c", script, str(tmp_path)], grace=1)

    async def started() -> None:
        await _wait_for(lambda: len(list(tmp_path.glob("pid-*"))) == 2, "both commands started")

    async with anyio.create_task_group() as tg:
        tg.start_soon(
            functools.partial(
                fmin, command, SPACE, max_evals=2, concurrency=2, executor=DaskExecutor(cluster)
            )
        )
        await started()
        tg.cancel_scope.cancel()
    pids = _pids(tmp_path)

    assert await anyio.to_thread.run_sync(wait_dead, pids) == [], "the commands were killed"


def _pids(folder: Path) -> list[int]:
    files = [*folder.glob("pid-*"), *folder.glob("*.pid")]
    return [int(path.read_text()) for path in files]


# --- workers dying ----------------------------------------------------------------------------


@pytest.fixture
def fragile_cluster() -> Iterator[LocalCluster]:
    """Dask gives up on a task after it took down two workers."""
    import dask

    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 1}),
        LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0"
        ) as local,
    ):
        yield local


async def test_worker_killed_mid_trial_the_trial_runs_again_and_counts_once(
    fragile_cluster: LocalCluster, tmp_path: Path
) -> None:
    db = tmp_path / "runs.sqlite"
    objective = functools.partial(objectives.kills_its_worker_once, str(tmp_path))
    await fmin(
        objective, SPACE, algo=rand.suggest, max_evals=6, concurrency=2,
        executor=DaskExecutor(fragile_cluster), storage=db,
    )  # fmt: skip
    stored = await _stored(db)
    assert [t.id for t in stored] == list(range(6))
    assert all(t.state is TrialState.OK for t in stored)
    attempts = (tmp_path / "attempt-1").read_text().split()
    assert len(attempts) == 2
    assert attempts[0] != attempts[1]  # two worker processes
    assert stored[1].result["pid"] == int(attempts[1])
    assert "attempts" not in stored[1].result  # Dask re-ran it: no crash reached asynchpo


async def test_a_trial_that_keeps_killing_workers_is_a_crash_and_retries_apply(
    fragile_cluster: LocalCluster, tmp_path: Path
) -> None:
    db = tmp_path / "runs.sqlite"
    objective = functools.partial(objectives.kills_its_worker_always, str(tmp_path))
    await fmin(
        objective, SPACE, algo=rand.suggest, max_evals=4, concurrency=2,
        executor=DaskExecutor(fragile_cluster), storage=db, retries=1,
    )  # fmt: skip
    stored = await _stored(db)
    assert len(stored) == 4
    assert stored[0].state is TrialState.FAIL
    assert "died each time" in (stored[0].error or "")
    assert len(stored[0].result["attempts"]) == 2  # asynchpo's retry, after Dask's
    # Dask ran it twice per asynchpo attempt (allowed-failures = 1).
    assert len((tmp_path / "attempt-0").read_text().split()) == 4
    assert all(t.state is TrialState.OK for t in stored[1:])


# --- a cluster of separate processes: losing the scheduler, resources -------------------------


class _ProcessCluster:
    """`dask scheduler` and `dask worker` as processes of their own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.scheduler_file = folder / "scheduler.json"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.scheduler = self._start(
            "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
            "--no-dashboard",
        )  # fmt: skip

    def _start(self, module: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.folder / f"{module.rsplit('.', 1)[1]}-{len(self.processes)}.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", module, "--scheduler-file", str(self.scheduler_file), *args],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])},
            )
        self.processes.append(process)
        return process

    def add_worker(self, *args: str) -> None:
        self._start("distributed.cli.dask_worker", "--no-dashboard", "--nthreads", "4", *args)

    async def address(self) -> str:
        await _wait_for(self.scheduler_file.exists, "the scheduler wrote its file")
        await _wait_for(lambda: self.scheduler_file.stat().st_size > 0, "a complete file")
        address = json.loads(self.scheduler_file.read_text())["address"]
        assert isinstance(address, str)
        return address

    async def wait_for_workers(self, count: int) -> None:
        async with Client(await self.address(), asynchronous=True) as client:
            with anyio.fail_after(60):
                await client.wait_for_workers(count)

    def close(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.fixture
def process_cluster(tmp_path: Path) -> Iterator[_ProcessCluster]:
    folder = tmp_path / "cluster"
    folder.mkdir()
    started = _ProcessCluster(folder)
    try:
        yield started
    finally:
        started.close()


async def test_losing_the_scheduler_stops_the_run_and_leaves_it_resumable(
    process_cluster: _ProcessCluster, cluster: LocalCluster, tmp_path: Path
) -> None:
    process_cluster.add_worker()
    await process_cluster.wait_for_workers(1)
    db = tmp_path / "runs.sqlite"
    objective = functools.partial(objectives.slow, 0.2)
    finished: list[int] = []

    def early_stop(trials: Any, *args: Any) -> tuple[bool, Any]:
        finished.append(1)
        if len(finished) == 5:
            process_cluster.scheduler.send_signal(signal.SIGKILL)
        return False, args

    with pytest.raises(ExecutorError, match="lost the connection to the Dask scheduler"):
        await fmin(
            objective, SPACE, algo=rand.suggest, max_evals=20, concurrency=3,
            executor=DaskExecutor(await process_cluster.address()), storage=db,
            early_stop_fn=early_stop,
        )  # fmt: skip
    stored = await _stored(db)
    done = [t for t in stored if t.state is TrialState.OK]
    interrupted = [t for t in stored if t.state is TrialState.INTERRUPTED]
    assert len(done) >= 5
    assert interrupted
    assert len(done) + len(interrupted) == len(stored)
    # Resume on another cluster: the interrupted trials run again, with their parameters.
    await fmin(
        objective, SPACE, algo=rand.suggest, max_evals=20, concurrency=3,
        executor=DaskExecutor(cluster), storage=db,
    )  # fmt: skip
    resumed = await _stored(db)
    assert len(resumed) == 20
    assert all(t.state is TrialState.OK for t in resumed)
    for before in done:
        assert resumed[before.id] == before
    for before in interrupted:
        assert resumed[before.id].params == before.params


async def test_resources_send_trials_to_the_workers_that_have_them(
    process_cluster: _ProcessCluster, tmp_path: Path
) -> None:
    process_cluster.add_worker("--resources", "GPU=1")
    process_cluster.add_worker()
    await process_cluster.wait_for_workers(2)
    address = await process_cluster.address()
    async with Client(address, asynchronous=True) as client:
        identity = await client.scheduler.identity(n_workers=-1)
        pids = await client.run(os.getpid)
    gpu_workers = [a for a, w in identity["workers"].items() if w["resources"].get("GPU")]
    assert len(gpu_workers) == 1
    trials = Trials()
    await fmin(
        objectives.quadratic, SPACE, algo=rand.suggest, max_evals=8, concurrency=4,
        executor=DaskExecutor(address, resources={"GPU": 1}), trials=trials,
    )  # fmt: skip
    trials_seen = [t["result"] for t in trials.trials]
    assert {r["pid"] for r in trials_seen} == {pids[gpu_workers[0]]}
    # One GPU: one trial at a time, though four are in flight.
    assert _max_overlap([(r["start"], r["end"]) for r in trials_seen]) == 1


# --- the driver killed and resumed while the cluster runs on -----------------------------------


async def test_driver_killed_then_resumed_reruns_its_in_flight_trials(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    db = tmp_path / "runs.sqlite"
    argv = [sys.executable, str(TESTS / "dask_driver.py"), cluster.scheduler_address, str(db)]
    async with await anyio.open_process(
        [*argv, "16"],
        stderr=None,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])},
    ) as driver:
        assert driver.stdout is not None
        lines = BufferedByteReceiveStream(driver.stdout)
        try:
            with anyio.fail_after(60):
                while await lines.receive_until(b"\n", 1000) != b"finished 4":
                    pass
        finally:
            driver.send_signal(signal.SIGKILL)
            await driver.wait()
    stored = await _stored(db)
    done = {t.id: t for t in stored if t.state is TrialState.OK}
    in_flight = [t for t in stored if t.state is TrialState.RUNNING]
    assert len(done) >= 4
    assert in_flight
    await fmin(
        functools.partial(objectives.slow, 0.2), SPACE, algo=rand.suggest, max_evals=16,
        concurrency=3, executor=DaskExecutor(cluster), storage=db, seed=5,
    )  # fmt: skip
    resumed = await _stored(db)
    assert [t.id for t in resumed] == list(range(len(resumed)))
    assert sum(t.state is TrialState.OK for t in resumed) == 16
    assert all(t.state is TrialState.OK for t in resumed)
    for trial_id, before in done.items():
        assert resumed[trial_id] == before
    for before in in_flight:
        assert resumed[before.id].params == before.params


async def test_killing_the_driver_stops_its_coroutines_on_the_workers(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    argv = [sys.executable, str(TESTS / "dask_driver.py"), cluster.scheduler_address]
    async with await anyio.open_process(
        [*argv, str(tmp_path / "runs.sqlite"), "3", str(tmp_path)],
        stdout=None,
        stderr=None,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])},
    ) as driver:
        started = [tmp_path / f"started-{trial_id}" for trial_id in range(3)]
        try:
            await _wait_for(lambda: all(p.exists() for p in started), "3 trials started", 60)
        finally:
            driver.send_signal(signal.SIGKILL)
            await driver.wait()
    # The scheduler forgets the dead client's tasks, and the workers stop them.
    cancelled = [tmp_path / f"cancelled-{trial_id}" for trial_id in range(3)]
    await _wait_for(lambda: all(p.exists() for p in cancelled), "the trials were stopped")
    assert all(p.exists() for p in cancelled)  # each coroutine saw its cancellation


# --- bad input ----------------------------------------------------------------------------------


def test_without_distributed_the_executor_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ConfigError, match=r"pip install 'asynchpo\[dask\]'"):
        DaskExecutor("tcp://127.0.0.1:8786")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        # TypeError for the wrong kind of object, ConfigError for a wrong value.
        ({"address": 8786}, TypeError, "scheduler's address"),
        ({"address": ""}, ConfigError, "scheduler's address"),
        ({"address": "tcp://h:1", "resources": {"GPU": 0}}, ConfigError, "amounts > 0"),
        ({"address": "tcp://h:1", "resources": {}}, ConfigError, "non-empty mapping"),
        ({"address": "tcp://h:1", "resources": ["GPU"]}, TypeError, "non-empty mapping"),
        ({"address": "tcp://h:1", "connect_timeout": 0}, ConfigError, "connect_timeout"),
    ],
)
def test_bad_arguments_are_refused(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        DaskExecutor(**kwargs)


async def test_an_unreachable_scheduler_fails_before_any_trial(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    with pytest.raises(ExecutorError, match="could not connect to the Dask scheduler"):
        await fmin(
            objectives.quadratic, SPACE, max_evals=3, storage=db,
            executor=DaskExecutor("tcp://127.0.0.1:9", connect_timeout=1),
        )  # fmt: skip
    assert await _stored(db) == []


async def test_an_unpicklable_objective_fails_before_any_trial(cluster: LocalCluster) -> None:
    import threading

    lock = threading.Lock()

    def objective(params: dict[str, Any]) -> float:
        with lock:
            return float(params["x"])

    with pytest.raises(ConfigError, match="cannot be pickled"):
        await fmin(objective, SPACE, max_evals=3, executor=DaskExecutor(cluster))


async def test_a_synchronous_client_is_refused_with_the_fix(cluster: LocalCluster) -> None:
    with (
        Client(cluster.scheduler_address, set_as_default=False) as client,
        pytest.raises(ConfigError, match="asynchronous=True"),
    ):
        await fmin(objectives.quadratic, SPACE, max_evals=3, executor=DaskExecutor(client))


async def test_an_asynchronous_client_is_used_and_left_open(cluster: LocalCluster) -> None:
    async with Client(cluster.scheduler_address, asynchronous=True) as client:
        await fmin(objectives.quadratic, SPACE, max_evals=4, executor=DaskExecutor(client))
        assert client.status == "running"
        assert await client.submit(sum, [1, 2]) == 3


async def test_a_cluster_without_asynchpo_is_refused_with_where_it_is_missing() -> None:
    class Scheduler:
        async def identity(self, n_workers: int) -> dict[str, Any]:
            return {"workers": {}}

    class Cluster:
        """What a Client reports when the scheduler and one worker lack asynchpo."""

        scheduler = Scheduler()

        async def get_versions(self, packages: list[str]) -> dict[str, Any]:
            have = {"packages": {"asynchpo": "0.1.0"}}
            lack = {"packages": {"asynchpo": None}}
            return {"scheduler": lack, "workers": {"tcp://w1:1": have, "tcp://w2:1": lack}}

    executor = DaskExecutor("tcp://h:1")
    with pytest.raises(ConfigError, match=r"not installed on the scheduler, worker tcp://w2:1"):
        await executor._check_cluster(Cluster())
