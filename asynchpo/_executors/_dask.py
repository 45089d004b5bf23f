"""Evaluations on the workers of a Dask cluster (the ``distributed`` package).

The driver (the process running ``fmin``) keeps the suggester and the checkpoint; each trial is
one Dask task, submitted when a slot frees and awaited on the driver's event loop, so a result
reaches the suggester the moment its task ends, as with the local executors.

What runs on a worker is :func:`_run_on_worker`. Every trial sets ``current_trial()`` there.
A coroutine objective, and a :class:`TrialObjective` such as ``Command``, runs in an event loop
of its own in the task's thread, beside a thread that waits on a Dask ``Event`` named after the
task: the driver sets that event when it cancels the trial, and the trial is cancelled on the
worker (a ``Command`` terminates its process group). A plain function runs as the task itself;
like a thread in this process, it cannot be interrupted and runs to its end.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import numbers
import uuid
from collections.abc import AsyncIterator, Mapping
from types import ModuleType
from typing import Any, final

import anyio
import anyio.to_thread

from asynchpo._exceptions import ConfigError, ExecutorError, TrialCrashed
from asynchpo._executors._base import (
    _CURRENT_TRIAL,
    Executor,
    Objective,
    TrialContext,
    TrialObjective,
)
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
    to its end on its worker, its result discarded. If the driver is killed outright, Dask
    forgets its tasks once it notices the client is gone, and the trials that were in flight
    run again when the study is resumed.

    :param address: the scheduler's address (``"tcp://host:8786"``), a running
        ``distributed.Client`` created with ``asynchronous=True`` on the event loop that runs
        ``fmin`` (left open at the end), or a cluster object such as ``LocalCluster`` or a
        dask-jobqueue cluster (its ``scheduler_address`` is used).
    :param resources: Dask resources each trial needs, such as ``{"GPU": 1}``: trials run only
        on workers started with those resources (``dask worker ... --resources "GPU=2"``),
        and no more of them at once than the resources allow.
    :param connect_timeout: seconds to wait for the scheduler when the run starts.
    :raises ConfigError: when ``distributed`` is not installed, or for a bad argument.
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
            raise ConfigError(
                "DaskExecutor needs the scheduler's address (such as 'tcp://host:8786'), an "
                "asynchronous distributed.Client, or a cluster object such as LocalCluster; "
                f"got {address!r:.200}"
            )
        self._resources = _check_resources(resources)
        if not (
            isinstance(connect_timeout, numbers.Real)
            and not isinstance(connect_timeout, bool)
            and 0 < connect_timeout < math.inf
        ):
            raise ConfigError(
                f"connect_timeout must be a number of seconds > 0, got {connect_timeout!r}"
            )
        self._connect_timeout: float = float(connect_timeout)
        self._client: Any = None

    def __repr__(self) -> str:
        target = self._target if isinstance(self._target, str) else "<Client>"
        return f"DaskExecutor({target!r}, resources={self._resources!r})"

    def check(self, objective: Objective) -> None:
        from distributed.protocol import pickle

        if self.takes_trial(objective):
            raise ConfigError(
                f"{objective!r:.100} takes a trial to report progress, and reports cannot "
                "come back from Dask workers yet: define it as objective(params) to run it on "
                "Dask, or run it locally to prune"
            )

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
        try:
            await self._warn_about_workers(client)
            yield
        finally:
            self._client = None
            if owned:
                with anyio.CancelScope(shield=True), anyio.move_on_after(_CANCEL_WAIT):
                    await client.close()

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

    async def _warn_about_workers(self, client: Any) -> None:
        try:
            identity = await client.scheduler.identity(n_workers=-1)
        except Exception as exc:
            raise ExecutorError(f"the Dask scheduler did not answer ({exc})") from exc
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

    def can_report(self, objective: Objective) -> bool:
        return False

    async def evaluate(self, objective: Objective, params: Any, context: TrialContext) -> Any:
        client = self._client
        if client is None:
            raise RuntimeError("DaskExecutor.evaluate called outside `async with open(...)`")
        distributed = _distributed()
        key = f"asynchpo-trial-{context.trial_id}-{uuid.uuid4().hex[:12]}"
        cancellable = self.wants_context(objective) or is_async_objective(objective)
        cancel_event = f"{key}-cancel" if cancellable else None
        future = client.submit(
            _run_on_worker,
            objective,
            params,
            context,
            cancel_event,
            key=key,
            pure=False,
            resources=self._resources,
            retries=0,
        )
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
        finally:
            if not future.done():
                # This trial was cancelled: stop it on its worker too.
                with anyio.CancelScope(shield=True), anyio.move_on_after(_CANCEL_WAIT):
                    await _cancel(distributed, client, future, cancel_event)


async def _cancel(
    distributed: ModuleType, client: Any, future: Any, cancel_event: str | None
) -> None:
    try:
        if cancel_event is not None:
            await distributed.Event(cancel_event, client=client).set()
        await client.cancel([future], reason="asynchpo stopped the trial")
    except Exception:
        # The scheduler is gone or going: there is nothing left to cancel on it.
        logger.debug("could not cancel Dask task %s", future.key, exc_info=True)


def _check_resources(resources: Mapping[str, float] | None) -> dict[str, float] | None:
    if resources is None:
        return None
    if not isinstance(resources, Mapping) or not resources:
        raise ConfigError(
            f"resources must be a non-empty mapping such as {{'GPU': 1}}, got {resources!r:.200}"
        )
    checked: dict[str, float] = {}
    for name, amount in resources.items():
        if not (
            isinstance(name, str)
            and isinstance(amount, numbers.Real)
            and not isinstance(amount, bool)
            and 0 < amount < math.inf
        ):
            raise ConfigError(
                "resources must map resource names to amounts > 0, such as {'GPU': 1}; "
                f"got {name!r}: {amount!r}"
            )
        checked[name] = float(amount)
    return checked


# --- on the worker --------------------------------------------------------------------------


def _run_on_worker(
    objective: Objective, params: Any, context: TrialContext, cancel_event: str | None
) -> Any:
    """One trial, as a Dask task: the objective's value, or its exception.

    Returns ``None`` when the driver cancelled the trial (nobody waits for the value then).
    """
    token = _CURRENT_TRIAL.set(context)
    try:
        if cancel_event is None:
            value = objective(params)
            if inspect.isawaitable(value):
                return anyio.run(_awaited, value)
            return value
        return _run_cancellable(objective, params, context, cancel_event)
    finally:
        _CURRENT_TRIAL.reset(token)


async def _awaited(value: Any) -> Any:
    return await value


def _run_cancellable(
    objective: Objective, params: Any, context: TrialContext, cancel_event: str
) -> Any:
    import distributed

    # The worker's client, fetched in the task's own thread (where Dask knows the worker);
    # the event's blocking calls then work from any thread.
    event = distributed.Event(cancel_event, client=distributed.get_client())

    async def main() -> Any:
        outcome: list[Any] = []
        failure: list[BaseException] = []
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                await anyio.to_thread.run_sync(event.wait)
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            try:
                if isinstance(objective, TrialObjective):
                    outcome.append(await objective.evaluate_trial(params, context))
                else:
                    outcome.append(await objective(params))
            except Exception as exc:
                failure.append(exc)
            finally:
                # Releases the watcher; then the event is deleted on the scheduler.
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(event.set)
        await anyio.to_thread.run_sync(event.clear)
        if failure:
            raise failure[0]
        return outcome[0] if outcome else None

    return anyio.run(main)
