"""Evaluations on the workers of a Dask cluster (the ``distributed`` package).

The driver (the process running ``fmin``) keeps the suggester and the checkpoint; each trial is
one Dask task, submitted when a slot frees and awaited on the driver's event loop, so a result
reaches the suggester the moment its task ends, as with the local executors. What runs on a
worker, and how a trial is stopped there, is in :mod:`asynchpo._executors._dask_worker`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import uuid
from collections.abc import AsyncIterator, Mapping
from types import ModuleType
from typing import Any, final

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectSendStream

from asynchpo import _checks as checks
from asynchpo._checks import given
from asynchpo._exceptions import ConfigError, ExecutorError, TrialCrashed, TrialPruned
from asynchpo._executors._base import Executor, Objective, TrialContext
from asynchpo._executors._local import is_async_objective

__all__ = ["DaskExecutor"]

logger = logging.getLogger("asynchpo")

_INSTALL_HINT = "install it with: pip install 'asynchpo[dask]'"
# How long the driver waits for the scheduler when it cancels a trial on the way out.
_CANCEL_WAIT = 5.0


def _distributed() -> ModuleType:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(
            f"DaskExecutor needs the `distributed` package, which is not installed; {_INSTALL_HINT}"
        ) from exc
    return distributed  # type: ignore[no-any-return]


@final
class DaskExecutor(Executor):
    """Runs each trial as a task on a Dask cluster: ``await fmin(train, space,
    executor=DaskExecutor("tcp://scheduler:8786"), concurrency=64, storage="runs.sqlite")``.

    ``fmin`` keeps the search and the SQLite checkpoint on this machine (the driver) and up
    to ``concurrency`` trials running on the cluster; each result feeds the suggester when it
    arrives. Plain functions, coroutines and :class:`Command` objectives all run on the
    workers. The objective is sent with cloudpickle, so a function defined in the driver's
    script works; what it imports (and ``asynchpo`` itself) must be installed on the workers,
    and a ``Command``'s program must exist there.

    **Failures.** An exception in the objective is the trial's failure, as anywhere else;
    Dask never retries it. A worker that dies during a trial (killed, out of memory) is
    Dask's to handle: the scheduler runs the task again on another worker, and the driver only
    ever sees the one result, so nothing is counted twice. When the same task has taken down
    ``distributed.scheduler.allowed-failures`` workers (Dask's setting, 3 by default), Dask
    gives up and the trial is :class:`TrialCrashed`, which ``fmin(retries=k)`` runs again
    like any crash. Losing the scheduler stops the run with :class:`ExecutorError`; the trials
    in flight are recorded as interrupted, and running ``fmin`` again resumes the study.

    **Cancellation.** A stop condition, the run's timeout or Ctrl-C cancels the Dask tasks of
    the trials in flight. Coroutines and ``Command`` programs on the workers are stopped (a
    ``Command`` gets SIGTERM, then SIGKILL); a plain function cannot be interrupted and runs
    to its end on its worker, its result discarded. If the driver is killed outright, the
    scheduler forgets its tasks once it notices the client is gone, which stops them the same
    way; the trials that were in flight run again when the study is resumed.

    **Installation.** asynchpo must be installed where the scheduler runs too (Dask
    unpickles each task there): the run checks this at start.

    :param address: the scheduler's address (``"tcp://host:8786"``), a running
        ``distributed.Client`` created with ``asynchronous=True`` on the event loop that runs
        ``fmin`` (left open at the end), or a cluster object such as ``LocalCluster`` or a
        dask-jobqueue cluster (its ``scheduler_address`` is used).
    :param resources: Dask resources each trial needs, such as ``{"GPU": 1}``: trials run only
        on workers started with those resources (``dask worker ... --resources "GPU=2"``),
        and no more of them at once than the resources allow.
    :param connect_timeout: seconds to wait for the scheduler when the run starts.
    :raises TypeError: for an argument of the wrong kind (``connect_timeout="5"``).
    :raises ConfigError: when ``distributed`` is not installed, or for a value that cannot work.
    """

    def __init__(
        self,
        address: Any,
        *,
        resources: Mapping[str, float] | None = None,
        connect_timeout: float = 30.0,
    ) -> None:
        distributed = _distributed()
        if isinstance(address, distributed.Client):
            self._target: Any = address
        elif isinstance(address, str) and address.strip():
            self._target = address.strip()
        elif isinstance(getattr(address, "scheduler_address", None), str):
            self._target = address.scheduler_address
        else:
            raise (ConfigError if isinstance(address, str) else TypeError)(
                "DaskExecutor needs the scheduler's address (such as 'tcp://host:8786'), an "
                "asynchronous distributed.Client, or a cluster object such as LocalCluster; "
                f"got {address!r:.200}"
            )
        self._resources = _check_resources(resources)
        self._connect_timeout: float = checks.number(
            "connect_timeout", connect_timeout, positive=True, hint="seconds"
        )
        self._client: Any = None
        self._topic: str = ""
        # The trials in flight that report, by task key: where their report events go.
        self._report_streams: dict[str, MemoryObjectSendStream[tuple[int, float]]] = {}

    def __repr__(self) -> str:
        target = self._target if isinstance(self._target, str) else "<Client>"
        return f"DaskExecutor({target!r}, resources={self._resources!r})"

    def check(self, objective: Objective) -> None:
        from distributed.protocol import pickle

        try:
            pickle.dumps(objective)
        except Exception as exc:
            raise ConfigError(
                f"DaskExecutor sends the objective to the workers with cloudpickle, and "
                f"{objective!r:.200} cannot be pickled ({exc}); keep what it holds picklable "
                "(no open files, locks or connections: create those inside the objective)"
            ) from exc

    @contextlib.asynccontextmanager
    async def open(self, concurrency: int) -> AsyncIterator[None]:
        distributed = _distributed()
        if isinstance(self._target, str):
            client = await self._connect(distributed, self._target)
            owned = True
        else:
            client = self._target
            owned = False
            if not client.asynchronous or client.status != "running":
                raise ConfigError(
                    "the Client given to DaskExecutor must be running and asynchronous on "
                    "this event loop: create it with `client = await Client(address, "
                    "asynchronous=True)` in the coroutine that awaits fmin, or give "
                    "DaskExecutor the scheduler's address instead"
                )
        self._client = client
        self._topic = f"asynchpo-reports-{client.id}"
        client.subscribe_topic(self._topic, self._on_report)
        try:
            await self._check_cluster(client)
            yield
        finally:
            self._client = None
            with contextlib.suppress(Exception):
                client.unsubscribe_topic(self._topic)
            if owned:
                with anyio.CancelScope(shield=True), anyio.move_on_after(_CANCEL_WAIT):
                    await client.close()

    def _on_report(self, event: tuple[float, Any]) -> None:
        """A report event from a worker: ``(time, [task key, step, loss])``."""
        key, step, loss = event[1]
        stream = self._report_streams.get(key)
        if stream is not None:
            with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                stream.send_nowait((step, loss))

    async def _connect(self, distributed: ModuleType, address: str) -> Any:
        try:
            with anyio.fail_after(self._connect_timeout + 1):
                return await distributed.Client(
                    address,
                    asynchronous=True,
                    timeout=self._connect_timeout,
                    set_as_default=False,
                )
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(
                f"could not connect to the Dask scheduler at {address!r} within "
                f"{self._connect_timeout:g} s ({exc}); start one with `dask scheduler` and "
                f"workers with `dask worker {address}`, or fix the address"
            ) from exc

    async def _check_cluster(self, client: Any) -> None:
        """asynchpo on the scheduler and the workers, the stop plugin on the workers; warn
        about a cluster that cannot run the trials yet."""
        from asynchpo._executors._dask_worker import StopOnRelease

        try:
            versions = await client.get_versions(packages=["asynchpo"])
            identity = await client.scheduler.identity(n_workers=-1)
        except Exception as exc:
            raise ExecutorError(f"the Dask scheduler did not answer ({exc})") from exc
        missing = [
            where
            for where, info in [
                ("the scheduler", versions.get("scheduler", {})),
                *[(f"worker {a}", v) for a, v in versions.get("workers", {}).items()],
            ]
            if info.get("packages", {}).get("asynchpo") is None
        ]
        if missing:
            raise ConfigError(
                f"asynchpo is not installed on {', '.join(missing[:5])} of the Dask cluster: "
                "the scheduler unpickles every trial and the workers run them, so install "
                "asynchpo (and what the objective imports) in their environments"
            )
        await client.register_plugin(StopOnRelease(), name=StopOnRelease.name)
        workers = identity.get("workers", {})
        if not workers:
            logger.warning("the Dask cluster has no workers yet: trials wait until one joins")
        elif self._resources and not any(
            all(
                worker.get("resources", {}).get(name, 0) >= amount
                for name, amount in self._resources.items()
            )
            for worker in workers.values()
        ):
            logger.warning(
                "no worker of the Dask cluster offers the resources %s: trials wait until one "
                "joins (start it with `dask worker ADDRESS --resources %s`)",
                self._resources,
                ",".join(f"{name}={amount:g}" for name, amount in self._resources.items()),
            )

    async def evaluate(self, objective: Objective, params: Any, context: TrialContext) -> Any:
        client = self._client
        if client is None:
            raise RuntimeError("DaskExecutor.evaluate called outside `async with open(...)`")
        from asynchpo._executors._dask_worker import run_trial

        key = f"asynchpo-trial-{context.trial_id}-{uuid.uuid4().hex[:12]}"
        wants_context = self.wants_context(objective)
        takes_trial = not wants_context and self.takes_trial(objective)
        in_loop = wants_context or is_async_objective(objective)
        reports = context.can_report and (wants_context or takes_trial)
        future = client.submit(
            run_trial,
            objective,
            params,
            context,
            key,
            (in_loop, takes_trial, self._topic if reports else None),
            key=key,
            pure=False,
            resources=self._resources,
            retries=0,
        )
        try:
            if not reports:
                return await self._result(future, context)
            return await self._result_with_reports(future, context, key)
        finally:
            if not future.done():
                # This trial was cancelled: release its task, which stops it on its worker.
                with anyio.CancelScope(shield=True), anyio.move_on_after(_CANCEL_WAIT):
                    await _cancel(client, future)

    async def _result_with_reports(self, future: Any, context: TrialContext, key: str) -> Any:
        """The value of a trial that reports, relaying its reports to the search as they
        arrive; when the pruner stops it, its task is released (which stops it on its
        worker) and :class:`TrialPruned` is raised."""
        send, receive = anyio.create_memory_object_stream[tuple[int, float]](math.inf)
        self._report_streams[key] = send
        pruned: list[TrialPruned] = []
        relayed = -1

        async def relay() -> None:
            nonlocal relayed
            async with receive:
                async for step, loss in receive:
                    relayed = step
                    try:
                        await context.report(step, loss)
                    except TrialPruned as exc:
                        pruned.append(exc)
                        await _cancel(self._client, future)
                        return

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(relay)
                try:
                    outcome = await self._result(future, context)
                except (ExecutorError, TrialPruned):
                    if pruned:
                        raise pruned[0] from None
                    raise
                finally:
                    tg.cancel_scope.cancel()
        finally:
            del self._report_streams[key]
            send.close()
        if pruned:
            raise pruned[0]
        # The task's value carries every report: relay those whose events came too late.
        for step, loss in outcome.reports:
            if step > relayed:
                await context.report(step, loss)
        return outcome.value

    async def _result(self, future: Any, context: TrialContext) -> Any:
        """The value of a trial's task, or the objective's exception, or what went wrong."""
        distributed = _distributed()
        try:
            return await future
        except distributed.KilledWorker as exc:
            raise TrialCrashed(
                f"trial {context.trial_id} was running on Dask workers that died each time "
                "(Dask gave up after distributed.scheduler.allowed-failures tries): a crash, "
                f"os._exit, or the worker's memory limit; {exc}"
            ) from exc
        except Exception as exc:
            if future.status == "error":
                if isinstance(exc, RuntimeError) and "deserializ" in str(exc):
                    raise ExecutorError(
                        f"Dask could not unpickle trial {context.trial_id} ({exc}): install "
                        "what the objective needs where the scheduler and the workers run"
                    ) from exc
                raise  # the objective's own exception, raised on the worker
            # The task did not fail: Dask could not run it or return its result.
            if (
                isinstance(exc, distributed.client.FutureCancelledError)
                and exc.reason != "scheduler-connection-lost"
            ):
                raise ExecutorError(
                    f"the Dask task of trial {context.trial_id} was cancelled outside "
                    f"asynchpo ({exc.reason}); the run stops, and the trial runs again when "
                    "the study is resumed"
                ) from exc
            raise ExecutorError(
                f"lost the connection to the Dask scheduler ({exc}), so no trial can run; "
                "the trials in flight are recorded as interrupted: check the scheduler, then "
                "run fmin again with the same study to resume"
            ) from exc


async def _cancel(client: Any, future: Any) -> None:
    try:
        await client.cancel([future], reason="asynchpo stopped the trial")
    except Exception:
        # The scheduler is gone or going: there is nothing left to cancel on it.
        logger.debug("could not cancel Dask task %s", future.key, exc_info=True)


def _check_resources(resources: Mapping[str, float] | None) -> dict[str, float] | None:
    if resources is None:
        return None
    if not isinstance(resources, Mapping) or not resources:
        raise (ConfigError if isinstance(resources, Mapping) else TypeError)(
            f"resources must be a non-empty mapping such as {{'GPU': 1}}, got {given(resources)}"
        )
    checked: dict[str, float] = {}
    for name, amount in resources.items():
        if not isinstance(name, str):
            raise TypeError(
                f"resources must map resource names (strings) to amounts, such as {{'GPU': 1}}; "
                f"got the name {given(name)}"
            )
        checked[name] = checks.number(
            f"resources[{name!r}]",
            amount,
            positive=True,
            fix="resources map resource names to amounts > 0, such as {'GPU': 1}",
        )
    return checked
