"""``fmin``: hyperopt's entry point, asynchronous, checkpointed and resumable."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final, TypeGuard

import anyio
import anyio.from_thread
import numpy as np

from asynchpo import _checks as checks
from asynchpo._command import Command
from asynchpo._exceptions import AllTrialsFailed, ConfigError
from asynchpo._executors._base import (
    Executor,
    Objective,
    ObjectiveExit,
    TrialContext,
    TrialObjective,
)
from asynchpo._executors._local import LocalExecutor
from asynchpo._log_folder import default_log_folder
from asynchpo._progress import Progress
from asynchpo._pruners import Pruner
from asynchpo._scheduler import RunOptions, Scheduler, StopReason
from asynchpo._space import Space, compile_space
from asynchpo._storage import MemoryStorage, PostgresStorage, SqliteStorage, Storage
from asynchpo._study import (
    DEFAULT_LEASE,
    DEFAULT_STUDY,
    check_objectives,
    check_options,
    open_study,
)
from asynchpo._suggesters import _tpe
from asynchpo._suggesters._base import Suggester, algo_name
from asynchpo._trial import ParamValue, TrialState
from asynchpo._trials import Trials

__all__ = ["fmin", "fmin_sync", "load_trials", "load_trials_sync"]

logger = logging.getLogger("asynchpo")

# Set by fmin_sync: an objective's exit is raised after the event loop ends, not in it.
_EXIT_AFTER_THE_LOOP: ContextVar[bool] = ContextVar("asynchpo_exit_after_the_loop", default=False)

#: The code of the ``SystemExit`` that ``fmin`` raises once SIGTERM stopped it: what a shell
#: reports for a process that SIGTERM ended (128 + 15).
SIGTERM_EXIT_CODE: Final = 143

# hyperopt keywords that have no meaning here, and what to use instead.
_REPLACED_KEYWORDS = {
    "trials_save_file": "use storage='runs.sqlite' (with study='name') to checkpoint every trial "
    "and resume by calling fmin again",
    "max_queue_len": "use concurrency=N: asynchpo keeps N evaluations in flight and suggests "
    "each point when a slot frees",
    "allow_trials_fmin": "remove it: asynchpo always runs the search itself; pass trials=Trials() "
    "to receive the history",
    "pass_expr_memo_ctrl": "remove it: the objective receives the evaluated parameters, "
    "as with hyperopt's default",
}

EarlyStopFn = Callable[..., tuple[bool, Sequence[Any]]]


def _check_arguments(
    fn: object,
    max_evals: object,
    timeout: object,
    loss_threshold: object,
    concurrency: object,
    legacy: Mapping[str, object],
) -> None:
    for keyword in legacy:
        if keyword in _REPLACED_KEYWORDS:
            raise TypeError(
                f"fmin() does not take hyperopt's {keyword!r}: {_REPLACED_KEYWORDS[keyword]}"
            )
        raise TypeError(f"fmin() got an unexpected keyword argument {keyword!r}")
    if not callable(fn):
        raise TypeError(
            f"fn must be the objective, a callable taking the parameters; got {type(fn).__name__}"
        )
    checks.number("timeout", timeout, positive=True, finite=False, allow_none=True, hint="seconds")
    checks.number("loss_threshold", loss_threshold, finite=False, allow_none=True)
    checks.whole("concurrency", concurrency, at_least=1, hint="the evaluations in flight")


def _study_seed(seed: int | None, rstate: np.random.Generator | None) -> int | None:
    if seed is not None and rstate is not None:
        raise ConfigError("pass seed or rstate, not both")
    if rstate is not None:
        checks.instance(
            "rstate",
            rstate,
            np.random.Generator,
            "a numpy.random.Generator (np.random.default_rng(seed))",
        )
        return int(rstate.integers(2**63))
    return seed


def _study_name(study: str | None, trials: Trials | None) -> str:
    """``study``, else the ``Trials``' ``exp_key`` (hyperopt's experiment key), else the default."""
    exp_key = None if trials is None else trials.exp_key
    if study is None:
        return DEFAULT_STUDY if exp_key is None else exp_key
    if exp_key is not None and exp_key != study:
        raise ConfigError(
            f"study={study!r} and Trials(exp_key={exp_key!r}) name two studies; "
            "pass one of them, or the same name"
        )
    return study


class _KeepingResults(Executor):
    """The caller's executor, and what each evaluation returned kept in the ``Trials`` view
    when JSON would change it (a fitted model, a numpy array, bytes), so that hyperopt's
    "return the model" pattern gets the objects back; storage keeps their JSON-safe form."""

    def __init__(self, inner: Executor, view: Trials) -> None:
        self._inner = inner
        self._view = view

    @contextlib.asynccontextmanager
    async def open(self, concurrency: int) -> AsyncIterator[None]:
        async with self._inner.open(concurrency):
            yield

    def check(self, objective: Objective) -> None:
        self._inner.check(objective)

    async def evaluate(self, objective: Objective, params: Any, context: TrialContext) -> Any:
        value = await self._inner.evaluate(objective, params, context)
        self._view._keep_live(context.trial_id, value)
        return value

    def takes_trial(self, objective: Objective) -> bool:
        return self._inner.takes_trial(objective)

    def can_report(self, objective: Objective) -> bool:
        return self._inner.can_report(objective)

    def wants_context(self, objective: Objective) -> TypeGuard[TrialObjective]:
        return self._inner.wants_context(objective)


def _early_stop(fn: EarlyStopFn | None, trials: Trials) -> Callable[[], bool] | None:
    """hyperopt's protocol: ``fn(trials, *args) -> (stop, args)``, args threaded through."""
    if fn is None:
        return None
    state: list[Any] = []

    def check() -> bool:
        stop, args = fn(trials, *state)
        state[:] = list(args)
        return bool(stop)

    return check


class _Termination:
    """SIGTERM or Ctrl-C (SIGINT) while ``fmin`` runs in the main thread: the run stops.

    Batch schedulers (SLURM, Kubernetes) preempt a job with SIGTERM, and SIGKILL it a grace
    period later: by then the trials in flight must be stored as interrupted, so that the
    next run (or another driver) runs them again. Ctrl-C stops the run the same way, and
    ``fmin`` then raises a short :class:`_Interrupted` rather than letting the event loop's
    cancellation out as a long chain of tracebacks.
    """

    def __init__(self) -> None:
        self.received = False  # SIGTERM
        self.interrupted = False  # SIGINT
        self._scheduler: Scheduler | None = None

    def attach(self, scheduler: Scheduler) -> None:
        """Stop ``scheduler`` on SIGTERM or SIGINT; if one came already, it starts no trial."""
        self._scheduler = scheduler
        if self.received or self.interrupted:
            scheduler.cancel(StopReason.TERMINATED if self.received else StopReason.INTERRUPTED)

    def stop(self, signum: int = signal.SIGTERM) -> None:
        if signum == signal.SIGINT:
            self.interrupted = True
            reason = StopReason.INTERRUPTED
        else:
            if not self.received:
                # INFO, as for Ctrl-C: the caller says what it wants to (the CLI does).
                logger.info(
                    "SIGTERM: stopping the run; the trials in flight are recorded as "
                    "interrupted and run again on resume"
                )
            self.received = True
            reason = StopReason.TERMINATED
        if self._scheduler is not None:
            self._scheduler.cancel(reason)


class _SignalRoute:
    """The ``fmin`` calls that a signal stops: all those running on the main thread's event
    loop. Several may run there at once, each ending when it likes, and the loop holds one
    handler per signal: the first call in sets it, the last one out removes it."""

    def __init__(self, signum: int, previous: Any) -> None:
        self.signum = signum
        self.runs: list[_Termination] = []
        self.previous = previous  # the handler to set again after the last one
        self.delivered = 0

    def deliver(self) -> None:
        # An event-loop callback, not a signal handler: it may cancel scopes.
        self.delivered += 1
        if self.signum == signal.SIGINT and self.delivered > 1:
            # A second Ctrl-C while the runs store their trials: stop at once, as asyncio does.
            raise KeyboardInterrupt
        for run in list(self.runs):
            run.stop(self.signum)


_SIGNAL_ROUTES: dict[tuple[asyncio.AbstractEventLoop, int], _SignalRoute] = {}


def _takes_over_sigint(handler: object) -> bool:
    """Whether ``fmin`` may handle Ctrl-C: only in place of Python's default handler or the
    one ``asyncio.run`` (and ``anyio.run``) sets, which cancels the main task; a handler the
    program set itself, or an ignored SIGINT (a background job), is left as it is."""
    if handler is signal.default_int_handler:
        return True
    # asyncio.Runner sets functools.partial(runner._on_sigint, main_task=...).
    method = handler.func if isinstance(handler, functools.partial) else handler
    owner = getattr(method, "__self__", None)
    return isinstance(owner, asyncio.Runner) and getattr(method, "__name__", "") == "_on_sigint"


@contextlib.asynccontextmanager
async def _stop_on_signals() -> AsyncIterator[_Termination]:
    """SIGTERM and Ctrl-C stop the run the block attaches, if it runs in the main thread
    (only there can a signal handler be set) on asyncio's event loop; the handlers it
    replaced are set again once no ``fmin`` runs there any more."""
    termination = _Termination()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # another event loop: the signals are left as they are
        loop = None
    if loop is None or sys.platform == "win32" or not _in_main_thread():
        yield termination
        return
    routes: list[_SignalRoute] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        route = _SIGNAL_ROUTES.get((loop, signum))
        if route is None:
            previous = signal.getsignal(signum)
            if signum == signal.SIGINT and not _takes_over_sigint(previous):
                continue
            route = _SIGNAL_ROUTES[loop, signum] = _SignalRoute(signum, previous)
            loop.add_signal_handler(signum, route.deliver)
        route.runs.append(termination)
        routes.append(route)
    try:
        yield termination
    finally:
        for route in routes:
            route.runs.remove(termination)
            if not route.runs:
                del _SIGNAL_ROUTES[loop, route.signum]
                loop.remove_signal_handler(route.signum)
                # The loop leaves SIG_DFL behind, not the handler it replaced.
                if route.previous is not None:
                    signal.signal(route.signum, route.previous)


class _Interrupted(KeyboardInterrupt, SystemExit):
    """Ctrl-C stopped ``fmin``, which stored its trials: a ``KeyboardInterrupt``, so that
    ``except KeyboardInterrupt`` catches it as before, and a ``SystemExit`` whose code is
    its message, so that, uncaught, it ends the program with that one line on stderr
    (and exit status 1) instead of a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = message


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


async def fmin(
    fn: Objective,
    space: object,
    algo: Suggester | None = None,
    max_evals: int | None = None,
    timeout: float | None = None,
    loss_threshold: float | None = None,
    trials: Trials | None = None,
    rstate: np.random.Generator | None = None,
    *,
    seed: int | None = None,
    concurrency: int = 1,
    storage: str | os.PathLike[str] | Storage | None = None,
    study: str | None = None,
    points_to_evaluate: Sequence[Mapping[str, object]] | None = None,
    early_stop_fn: EarlyStopFn | None = None,
    catch_eval_exceptions: bool = False,
    show_progressbar: bool | None = None,
    return_argmin: bool = True,
    verbose: bool = False,
    executor: Executor | None = None,
    slot_env: Mapping[str, Sequence[str]] | None = None,
    retries: int = 0,
    log_dir: str | os.PathLike[str] | None = None,
    pruner: Pruner | None = None,
    lease_seconds: float = DEFAULT_LEASE,
    directions: Sequence[str] | None = None,
    direction: str | None = None,
    **hyperopt_only: object,
) -> Any:
    """Minimize ``fn`` over ``space`` with up to ``concurrency`` evaluations in flight.

    The same call as hyperopt's ``fmin``, awaited. Each result is committed to ``storage``,
    counted, and given to the algorithm the moment it arrives, and a new trial starts in the
    freed slot. Calling ``fmin`` again with the same ``storage`` and ``study`` resumes the
    study: finished trials are kept, interrupted ones run again with the same parameters.

    :param fn: the objective. It receives the parameters (``space`` with values filled in)
        and returns a loss, or a dict with ``loss`` and ``status`` (``STATUS_OK`` or
        ``STATUS_FAIL``) and any extra keys. An ``async def`` is awaited on the event loop;
        a plain function runs in a worker thread. Defined with a second parameter,
        ``fn(params, trial)``, it gets the trial's :class:`TrialContext`, to report its loss
        at intermediate steps (``await trial.report(step, loss)``, or ``report_sync`` in a
        thread) for the ``pruner``.
    :param space: a search space made of ``hp.*`` expressions in dicts, lists and tuples.
    :param algo: the search algorithm: ``tpe.suggest`` (the default), ``rand.suggest``,
        ``anneal.suggest``, with options bound by ``functools.partial``, or a ``tpe.TPE(...)``.
    :param max_evals: stop once the study has this many finished (ok or failed) trials,
        those of earlier runs included.
    :param timeout: stop after this many seconds; trials in flight are interrupted.
    :param loss_threshold: stop once a trial reaches a loss at or below this.
    :param trials: a :class:`Trials` to fill in. Without ``storage`` it is the in-memory
        store: passing it to another ``fmin`` call continues the search, that call's
        ``rstate`` or ``seed`` driving its new trials. Its ``exp_key`` names the study when
        ``study`` is not given; points of :func:`generate_trials_to_calculate` are evaluated
        first. Its results hold what the objective returned, objects JSON cannot hold
        included (a fitted model); storage keeps their JSON-safe form.
    :param rstate: a ``numpy.random.Generator`` to draw the study's seed from (hyperopt).
    :param seed: the study's seed; each trial's generator derives from (seed, trial id).
        Default: the stored seed of an existing study, else a random one.
    :param concurrency: how many evaluations are kept in flight.
    :param storage: ``None`` (memory), a path to a SQLite file (or ``sqlite:///x.db``), a
        PostgreSQL URL (``postgresql://user:password@host:5432/database``; its password is
        shown as ``***`` wherever the URL is named), or a storage object.
    :param study: the study's name within the storage; default ``"default"``.
    :param points_to_evaluate: points (label -> value; option index for choices) that are
        evaluated first.
    :param early_stop_fn: hyperopt's ``fn(trials, *args) -> (stop, args)``, called after each
        finished trial; see :func:`no_progress_loss`.
    :param catch_eval_exceptions: record an objective's exception as a failed trial and go on,
        instead of stopping the run and raising it.
    :param show_progressbar: draw a progress line on stderr; by default, when stderr is a
        terminal.
    :param return_argmin: return the best point (choice indices, as hyperopt); if false,
        return the best parameters evaluated (``space_eval``).
    :param verbose: write a line per finished trial to stderr (its loss, or its error), above
        the progress line if one is drawn; logging is left as it is.
    :param executor: where evaluations run; default in this process (coroutines on the
        loop, functions in threads); ``ProcessExecutor()`` for CPU-bound functions.
    :param slot_env: environment values by slot, e.g. ``{"CUDA_VISIBLE_DEVICES": ["0", "1"]}``
        with ``concurrency=2`` pins one GPU per trial. A trial in slot ``i`` gets the ``i``-th
        value: commands in their environment, Python objectives in ``current_trial().env``.
    :param retries: run a trial whose evaluation crashed or timed out (not one that returned
        ``STATUS_FAIL``) again, up to this many times; every attempt's error is kept.
    :param log_dir: where per-trial logs of command objectives go; default: beside the
        SQLite file (``runs/x.sqlite`` -> ``runs/x-logs/<study>/``; a study name that is not a
        short lowercase file name, such as ``../x`` or ``Exp 1``, becomes a safe folder name
        with a hash, e.g. ``Exp_1-<hash>``), none in memory.
    :param pruner: stops unpromising trials at their reports, such as
        ``pruners.SuccessiveHalvingPruner()`` (ASHA) or ``pruners.MedianPruner()``. A pruned
        trial is recorded as ``PRUNED`` with its last reported loss, counts toward
        ``max_evals``, is never the best trial, and the algorithm sees it as a bad result
        (TPE puts it in its bad group). On resume the pruner is rebuilt from the stored reports.
    :param lease_seconds: several processes may run ``fmin`` on one study at once (each a
        *driver*); each renews a lease on its running trials while it runs, and a driver that
        stops renewing it for this long (killed, suspended) loses them to the others, which
        run them again.
    :param directions: ``"minimize"`` or ``"maximize"`` per objective, for several
        objectives: ``fn`` then returns a list of as many losses (or ``{"loss": [...],
        "status": STATUS_OK}``), and ``fmin`` returns the points of the Pareto front. A result
        may also carry ``"constraints": [c1, ...]``, with any number of objectives: a trial is
        feasible when every value is ``<= 0``, and the best trials are feasible ones.
    :param direction: ``"maximize"`` to maximise a single objective (its values are stored
        and shown as returned; ``loss_threshold`` is then a value to reach from below).
    :returns: the best point found in the whole study; with several objectives, the list of
        the Pareto front's points, by trial id.
    :raises TypeError: before any work, for an argument of the wrong kind
        (``concurrency="2"``, ``max_evals=1.5``, ``timeout=True``).
    :raises ConfigError: before any work, for an argument whose value cannot work
        (``concurrency=0``, ``timeout=-1``, ``lease_seconds=nan``).
    :raises AllTrialsFailed: when no trial of the study succeeded.
    :raises KeyboardInterrupt: on Ctrl-C while ``fmin`` ran in the main thread on asyncio's
        event loop (``fmin_sync``, ``asyncio.run``, ``anyio.run``): the run stops as on
        SIGTERM below, and then a ``KeyboardInterrupt`` that is also a ``SystemExit`` is
        raised, whose message says how many trials finished and were interrupted. Caught, it
        is a ``KeyboardInterrupt``; uncaught, it ends the program with that one line on stderr
        and exit status 1, not a traceback. A second Ctrl-C stops at once.
    :raises SystemExit: with code 143, when the process got SIGTERM while ``fmin`` ran in the
        main thread on asyncio's event loop (as ``fmin_sync`` does), from a batch scheduler
        preempting the job or a ``kill``: the run stops as on Ctrl-C (trials in flight are
        stopped, a ``Command``'s process group gets SIGTERM and SIGKILL after its grace, and
        they are recorded as interrupted, to run again on the next start), and
        ``SystemExit(143)`` is raised once the study is stored consistently and closed.
        SIGTERM stops every ``fmin`` running there at once. ``fmin`` handles SIGTERM from
        its start to its return, then sets the previous handler again; before and after
        that (and in other threads) SIGTERM does what the program set up, by default end
        the process at once, which loses nothing: ``fmin`` stores nothing outside that span.
    """
    _check_arguments(fn, max_evals, timeout, loss_threshold, concurrency, hyperopt_only)
    slots = _check_slot_env(slot_env, int(concurrency))
    checks.whole("retries", retries)
    compiled = compile_space(space)
    algo = _tpe.suggest if algo is None else algo
    if not callable(algo):
        raise TypeError(f"algo must be a suggest function such as rand.suggest, got {algo!r}")
    algo_name(algo)  # refuses options bound by position, before any work
    base_seed = _study_seed(seed, rstate)
    study_name = _study_name(study, trials)
    check_options(study_name, base_seed, max_evals, pruner, lease_seconds)
    objectives = check_objectives(directions, direction, algo, pruner)
    if objectives.several and loss_threshold is not None:
        raise ConfigError(
            f"loss_threshold needs a single objective, and this search has {objectives.count}; "
            "stop it with max_evals, timeout or early_stop_fn instead"
        )
    if isinstance(fn, Command):
        fn.prepare(compiled, objectives=objectives.count)
    elif isinstance(fn, TrialObjective):
        fn.prepare(compiled)
    view = trials if trials is not None else Trials()
    if storage is None:
        # Like hyperopt, the Trials object is the in-memory store: reusing it continues, and
        # this call's seed (or rstate) drives its new trials.
        if not isinstance(view._memory, MemoryStorage):
            view._memory = MemoryStorage()
        storage = view._memory
        if base_seed is not None:
            storage.reseed(study_name, base_seed)
    view._bind(
        (storage if not isinstance(storage, str | os.PathLike) else os.fspath(storage), study_name)
    )
    executor = LocalExecutor() if executor is None else executor
    if not isinstance(executor, Executor):
        raise TypeError(
            f"executor must be an asynchpo Executor such as ProcessExecutor(), got {executor!r}"
        )
    if not executor.wants_context(fn):
        executor.takes_trial(fn)  # refuses a signature that fits neither call, before any work
    executor.check(fn)
    _check_pruner(pruner, executor, fn)
    executor = _KeepingResults(executor, view)
    logs = _log_folder(log_dir, storage, study_name)

    study_context = open_study(
        storage,
        study_name,
        space=compiled,
        algo=algo,
        seed=base_seed,
        max_evals=None if max_evals is None else int(max_evals),
        pruner=pruner,
        lease_seconds=lease_seconds,
        directions=objectives.directions,
    )
    try:
        async with _stop_on_signals() as termination, study_context as handle:
            if view._to_calculate:
                await handle.enqueue(view._to_calculate)
                view._to_calculate = []
            if points_to_evaluate:
                await handle.enqueue(points_to_evaluate)
            view._reset(
                handle.labels,
                handle.trials,
                handle.log_labels,
                handle.config.space,
                handle.directions,
            )
            view._read_attachments_from(handle._attachment_reader())
            handle.watch(view._update)
            progress = (
                Progress(max_evals, handle.finished)
                if (sys.stderr.isatty() if show_progressbar is None else show_progressbar)
                else None
            )
            options = RunOptions(
                concurrency=int(concurrency),
                max_evals=None if max_evals is None else int(max_evals),
                loss_threshold=None if loss_threshold is None else float(loss_threshold),
                catch_eval_exceptions=catch_eval_exceptions,
                early_stop=_early_stop(early_stop_fn, view),
                progress=progress,
                slot_env=slots,
                log_dir=logs,
                retries=int(retries),
                verbose=bool(verbose),
            )
            scheduler = Scheduler(handle, fn, executor, options)
            termination.attach(scheduler)
            if handle.trials:
                logger.info(
                    "resuming study %r: %d finished trials restored, %d waiting to run again",
                    study_name,
                    handle.finished,
                    handle.count(TrialState.INTERRUPTED)
                    + handle.count(TrialState.RUNNING)
                    + handle.count(TrialState.QUEUED),
                )
            try:
                async with executor.open(int(concurrency)):
                    await scheduler.run(timeout)
            finally:
                if progress is not None:
                    progress.close()
    except ObjectiveExit as exc:
        # The objective called sys.exit() (or raised KeyboardInterrupt): the study is stored
        # and closed; now the exit goes on (fmin_sync raises it after its event loop ends).
        if _EXIT_AFTER_THE_LOOP.get():
            raise
        raise exc.original from None

    if termination.received:
        # Only now: the trials in flight are stored as interrupted and the study is closed.
        raise SystemExit(SIGTERM_EXIT_CODE)
    if termination.interrupted:
        resume = (
            "pass the same trials to fmin to go on"
            if storage is view._memory
            else "call fmin again with the same storage and study to resume"
        )
        interrupted = _Interrupted(
            f"interrupted (KeyboardInterrupt): {handle.finished} trials finished, "
            f"{scheduler.interrupted} in flight recorded as interrupted; {resume}"
        )
        if _EXIT_AFTER_THE_LOOP.get():
            raise ObjectiveExit(interrupted)  # fmin_sync raises it after its loop ends
        raise interrupted from None
    if objectives.several:
        return _front(view, compiled, return_argmin)
    return _best(view, compiled, return_argmin)


def _check_slot_env(
    slot_env: Mapping[str, Sequence[str]] | None, concurrency: int
) -> dict[str, tuple[str, ...]]:
    """``slot_env`` checked: every variable needs a string value for each slot."""
    if slot_env is None:
        return {}
    if not isinstance(slot_env, Mapping):
        raise ConfigError(
            "slot_env must map variable names to one value per slot, e.g. "
            f'{{"CUDA_VISIBLE_DEVICES": ["0", "1"]}}; got {type(slot_env).__name__}'
        )
    checked: dict[str, tuple[str, ...]] = {}
    for name, values in slot_env.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"slot_env: variable names must be non-empty strings, got {name!r}")
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise ConfigError(
                f"slot_env[{name!r}] must be a list with one value per slot, got {values!r}"
            )
        if len(values) < concurrency:
            raise ConfigError(
                f"slot_env[{name!r}] has {len(values)} values for concurrency={concurrency}; "
                "give one value per slot, or lower concurrency"
            )
        if not all(isinstance(value, str) for value in values):
            raise ConfigError(f"slot_env[{name!r}] values must be strings, got {list(values)!r}")
        checked[name] = tuple(values)
    return checked


def _log_folder(log_dir: str | os.PathLike[str] | None, storage: object, study: str) -> Path | None:
    """Where per-trial logs go: ``log_dir``, else the study's default folder (beside a SQLite
    file, ``asynchpo-logs/<study>/`` for PostgreSQL: see :func:`default_log_folder`), else
    nowhere.

    Absolute, so that a trial running elsewhere (a Dask worker) writes where this says.
    """
    if log_dir is not None:
        return Path(log_dir).absolute()
    if isinstance(storage, SqliteStorage):
        return default_log_folder(storage.path, study)
    if isinstance(storage, PostgresStorage):
        return default_log_folder(storage.url, study)
    if isinstance(storage, str | os.PathLike):
        return default_log_folder(storage, study)
    return None


def _check_pruner(pruner: object, executor: Executor, fn: Objective) -> None:
    if pruner is None:
        return
    if not executor.can_report(fn):
        raise ConfigError(
            f"pruner={pruner!r} needs reports, and {fn!r:.100} cannot send any under "
            f"{type(executor).__name__}: define it as `async def objective(params, trial)` "
            "and call `await trial.report(step, loss)` (or `trial.report_sync` in a plain "
            "function), or make it a Command that prints its reports"
        )


def _best(view: Trials, space: Space, return_argmin: bool) -> Any:
    if not any(trial.state is TrialState.OK for trial in view.records):
        raise AllTrialsFailed(
            f"the study has {len(view)} trials and none succeeded, so there is no best point; "
            "look at the errors in Trials.records or raise max_evals"
        )
    argmin: dict[str, ParamValue] = view.argmin
    return argmin if return_argmin else space.evaluate(argmin)


def _front(view: Trials, space: Space, return_argmin: bool) -> list[Any]:
    """The points of the Pareto front, by trial id (see :func:`_best`)."""
    front = view.best_trials
    if not front:
        raise AllTrialsFailed(
            f"the study has {len(view)} trials and none succeeded, so there is no Pareto front; "
            "look at the errors in Trials.records or raise max_evals"
        )
    points = [
        {label: values[0] for label, values in doc["misc"]["vals"].items() if values}
        for doc in front
    ]
    return points if return_argmin else [space.evaluate(point) for point in points]


def fmin_sync(*args: Any, **kwargs: Any) -> Any:
    """:func:`fmin` for code that is not async: runs it in a new event loop and returns.

    Ctrl-C stops the search cleanly: trials in flight are recorded as interrupted and a
    ``KeyboardInterrupt`` is raised once the checkpoint is consistent (see :func:`fmin`: left
    uncaught, it ends the script with one line). SIGTERM does the same
    when called in the main thread, and raises ``SystemExit(143)`` (see :func:`fmin`), so an
    uncaught one ends a script with exit code 143.
    """
    token = _EXIT_AFTER_THE_LOOP.set(True)
    try:
        return anyio.run(functools.partial(fmin, *args, **kwargs))
    except ObjectiveExit as exc:
        # Raised once the event loop has ended cleanly (its worker threads stopped): raised
        # inside it, SystemExit would break the loop and leave the process hanging.
        raise exc.original from None
    except RuntimeError as exc:
        if str(exc).startswith("Already running"):
            raise ConfigError(
                "fmin_sync cannot run inside a running event loop; use `await fmin(...)`"
            ) from exc
        raise
    finally:
        _EXIT_AFTER_THE_LOOP.reset(token)


async def load_trials(
    storage: str | os.PathLike[str] | Storage, study: str = DEFAULT_STUDY
) -> Trials:
    """The trials of a stored study as :class:`Trials`, without running anything.

    ``storage`` is a SQLite file's path, a ``sqlite:///`` or ``postgresql://`` URL, or a
    :class:`Storage`; it is only read (a PostgreSQL session is read-only).

    :raises StudyNotFound: if the storage has no study called ``study``, or there is no file
        at the path ``storage`` (none is created).
    """
    async with open_study(storage, study) as handle:
        return handle.trials_view()


def load_trials_sync(
    storage: str | os.PathLike[str] | Storage, study: str = DEFAULT_STUDY
) -> Trials:
    """:func:`load_trials` for code that is not async: returns the stored study's trials.

    Runs on an event loop in a thread of its own, so it works in scripts and inside Jupyter,
    where an event loop already runs.

    :raises StudyNotFound: if the storage has no study called ``study``, or there is no file
        at the path ``storage`` (none is created).
    """
    with anyio.from_thread.start_blocking_portal() as portal:
        return portal.call(load_trials, storage, study)
