"""The executor seam: where an evaluation of the objective runs.

Contract, for every implementation:

- ``open(concurrency)`` is entered once per ``fmin`` call, before the first evaluation, and
  exited after the last; it sets up and tears down whatever the executor owns (threads,
  processes, a cluster connection). ``concurrency`` is the most evaluations that will be in
  flight at once.
- ``evaluate`` is called from the event loop, up to ``concurrency`` times concurrently. It
  returns what the objective returned, or raises what the objective raised: interpreting the
  value (a float, hyperopt's result dict) is the scheduler's job, not the executor's.
- **Cancellation**: when the task awaiting ``evaluate`` is cancelled, the executor stops the
  evaluation (or, where that is impossible, as with a Python thread, abandons it) and lets the
  cancellation propagate promptly. It never swallows a cancellation.
- When the executor itself fails so that no trial can run (a lost cluster), ``evaluate``
  raises :class:`ExecutorError`: the run stops and the trial is recorded as interrupted, not
  failed. A trial whose worker died is :class:`TrialCrashed`, which ``retries`` may re-run.
- An executor never touches storage or suggesters; it knows only the objective, the evaluated
  parameters and the :class:`TrialContext`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, runtime_checkable

import anyio

from asynchpo._exceptions import ConfigError

if TYPE_CHECKING:
    from asynchpo._space import Space

__all__ = [
    "Executor",
    "LimitedExecutor",
    "Objective",
    "ObjectiveExit",
    "TrialContext",
    "TrialObjective",
    "checked_report",
    "current_trial",
    "takes_trial",
]

Objective = Callable[..., Any]


class ObjectiveExit(Exception):
    """The objective called ``sys.exit()`` or raised ``KeyboardInterrupt`` (argparse inside a
    training function, say). Carried as an ordinary exception, so that the search stops
    cleanly (the trials in flight recorded as interrupted, threads left to end) rather than
    breaking the event loop; ``fmin`` raises :attr:`original` again once it has.
    """

    def __init__(self, original: SystemExit | KeyboardInterrupt) -> None:
        super().__init__(f"the objective raised {original!r}")
        self.original = original


class Reporter(Protocol):
    """Where a trial's reports go (the scheduler's side of :meth:`TrialContext.report`)."""

    async def report(self, step: int, loss: float) -> None: ...

    def report_sync(self, step: int, loss: float) -> None: ...


_NO_REPORTER = (
    "this trial cannot report: reports reach the search from objectives run by the default "
    "executor or DaskExecutor, and from Commands; ProcessExecutor's workers have no way back"
)


@dataclasses.dataclass(frozen=True, slots=True)
class TrialContext:
    """What an evaluation may know about its trial, and how it reports its progress.

    An objective defined with two parameters, ``async def objective(params, trial)``, gets
    its trial's context as ``trial``; any objective can also call :func:`current_trial`.

    :param trial_id: the trial's id within its study.
    :param slot: the slot the trial holds, ``0 <= slot < concurrency``; no two trials in
        flight hold the same slot.
    :param values: every active label's evaluated value (a ``choice`` label gives the chosen
        option), for objectives that address parameters by label.
    :param env: extra environment variables for this trial (from ``slot_env``).
    :param log_dir: the folder for per-trial logs, or ``None``.
    :param study: the study's name.
    :param reporter: where :meth:`report` sends reports; set by ``fmin``, and dropped when
        the context is pickled to another process.
    """

    trial_id: int
    slot: int
    values: Mapping[str, object] = dataclasses.field(default_factory=dict)
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    log_dir: Path | None = None
    study: str = "default"
    reporter: Reporter | None = dataclasses.field(default=None, repr=False, compare=False)

    def __reduce__(self) -> tuple[Any, ...]:
        # The reporter belongs to the search's event loop: it stays behind.
        fields = (self.trial_id, self.slot, dict(self.values), dict(self.env))
        return (TrialContext, (*fields, self.log_dir, self.study))

    @property
    def can_report(self) -> bool:
        """Whether :meth:`report` reaches the search from here."""
        return self.reporter is not None

    async def report(self, step: int, loss: float) -> None:
        """Report the loss after ``step`` (an epoch, a number of batches), from a coroutine.

        The report is given to the pruner (``fmin(..., pruner=...)``), which may stop the
        trial here, and kept with the trial: its stored record is updated with its reports at
        most once a second while it runs (for live learning curves), and holds them all once
        it ends.

        :param step: a whole number >= 0, larger than the trial's previous step.
        :param loss: a finite number; lower is better.
        :raises TrialPruned: the pruner stopped the trial (or the search no longer runs it):
            clean up and let it propagate, or return.
        :raises ValueError: for a step or loss that cannot be a report.
        """
        if self.reporter is None:
            raise RuntimeError(_NO_REPORTER)
        await self.reporter.report(step, loss)

    def report_sync(self, step: int, loss: float) -> None:
        """:meth:`report` for a plain function running in its worker thread."""
        if self.reporter is None:
            raise RuntimeError(_NO_REPORTER)
        self.reporter.report_sync(step, loss)


_CURRENT_TRIAL: ContextVar[TrialContext] = ContextVar("asynchpo_current_trial")


def current_trial() -> TrialContext:
    """The context of the trial being evaluated: its id, its slot, its ``slot_env`` values.

    Call it from inside an objective (an ``async def``, or a plain function in its worker
    thread, here or on a Dask worker) to know which trial it evaluates and which slot (GPU,
    port, ...) the trial holds.

    :raises LookupError: outside an evaluation.
    """
    try:
        return _CURRENT_TRIAL.get()
    except LookupError:
        raise LookupError(
            "current_trial() is only available inside an objective while fmin evaluates it"
        ) from None


@runtime_checkable
class TrialObjective(Protocol):
    """An objective that wants its trial's context (``Command`` is one).

    ``prepare`` is called once by ``fmin`` before any trial runs: it checks that the objective
    can work with this space (and raises :class:`ConfigError` saying why not), so that a
    mistake fails at start rather than as N failed trials. Then each evaluation calls
    ``evaluate_trial`` instead of calling the objective with the parameters alone.
    """

    def prepare(self, space: Space) -> None: ...

    async def evaluate_trial(self, params: Any, context: TrialContext) -> Any: ...


class Executor(ABC):
    """Runs evaluations of an objective somewhere. See the module docstring for the contract."""

    @contextlib.asynccontextmanager
    async def open(self, concurrency: int) -> AsyncIterator[None]:
        """Hold the executor's resources for one run; the default needs none."""
        yield

    def check(self, objective: Objective) -> None:  # noqa: B027 - optional hook, not abstract
        """Raise :class:`ConfigError` if this executor cannot run ``objective`` (called by
        ``fmin`` before any trial); the default accepts anything."""

    @abstractmethod
    async def evaluate(self, objective: Objective, params: Any, context: TrialContext) -> Any:
        """Evaluate ``objective(params)`` and return its value, or raise its exception."""

    def takes_trial(self, objective: Objective) -> bool:
        """Whether ``objective`` is called as ``objective(params, trial)`` (see
        :func:`takes_trial`), remembered for the last one asked about."""
        last: tuple[Objective, bool] | None = getattr(self, "_takes_trial_last", None)
        if last is not None and last[0] is objective:
            return last[1]
        answer = takes_trial(objective)
        self._takes_trial_last = (objective, answer)
        return answer

    def can_report(self, objective: Objective) -> bool:
        """Whether reports of ``objective``'s trials reach the search under this executor."""
        return self.wants_context(objective) or self.takes_trial(objective)

    def wants_context(self, objective: Objective) -> TypeGuard[TrialObjective]:
        """Whether ``objective`` is a :class:`TrialObjective`, remembered for the last one
        asked about (a protocol ``isinstance`` costs ~10 us, too much to pay per trial)."""
        last: tuple[Objective, bool] | None = getattr(self, "_wants_context_last", None)
        if last is not None and last[0] is objective:
            return last[1]
        answer = isinstance(objective, TrialObjective)
        self._wants_context_last = (objective, answer)
        return answer


def checked_report(trial_id: int, step: object, loss: object) -> tuple[int, float]:
    """``(step, loss)`` as a report's types, or ValueError saying what is wrong with them."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError(
            f"trial {trial_id} reported step {step!r}: a step is a whole number >= 0 (an epoch, "
            "a number of batches)"
        )
    if isinstance(loss, bool) or not isinstance(loss, numbers.Real) or not math.isfinite(loss):
        raise ValueError(
            f"trial {trial_id} reported loss {loss!r} at step {step}: a loss is a finite "
            "number; for a diverged run, raise an exception or return STATUS_FAIL"
        )
    return int(step), float(loss)


def takes_trial(objective: Objective) -> bool:
    """Whether ``objective`` takes its trial as a second argument: ``fn(params, trial)``.

    True when its second positional parameter is required, or is named ``trial``; so a
    hyperopt objective ``fn(params)``, or ``fn(params, scale=2.0)``, is called as before.

    :raises ConfigError: when it needs more than two arguments, so that neither call works.
    """
    try:
        signature = inspect.signature(objective)
    except (TypeError, ValueError):  # a builtin without a signature: called the hyperopt way
        return False
    positional = [
        parameter
        for parameter in signature.parameters.values()
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in signature.parameters.values() if _required(p)]
    if len(required) > 2:
        names = ", ".join(p.name for p in required)
        raise ConfigError(
            f"the objective {objective!r:.100} requires {len(required)} arguments ({names}); "
            "fmin calls it as fn(params) or fn(params, trial): give the others defaults, or "
            "bind them with functools.partial"
        )
    return len(positional) >= 2 and (_required(positional[1]) or positional[1].name == "trial")


def _required(parameter: inspect.Parameter) -> bool:
    return parameter.default is parameter.empty and parameter.kind not in (
        parameter.VAR_POSITIONAL,
        parameter.VAR_KEYWORD,
    )


class LimitedExecutor(Executor):
    """An executor whose workers (threads, processes) are capped at ``concurrency`` by a
    capacity limiter that lives for one run."""

    def __init__(self) -> None:
        self._limiter: anyio.CapacityLimiter | None = None

    @contextlib.asynccontextmanager
    async def open(self, concurrency: int) -> AsyncIterator[None]:
        self._limiter = anyio.CapacityLimiter(concurrency)
        try:
            yield
        finally:
            self._limiter = None
