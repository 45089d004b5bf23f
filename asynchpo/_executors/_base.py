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
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, runtime_checkable

import anyio

if TYPE_CHECKING:
    from asynchpo._space import Space

__all__ = [
    "Executor",
    "LimitedExecutor",
    "Objective",
    "TrialContext",
    "TrialObjective",
    "current_trial",
]

Objective = Callable[..., Any]


@dataclasses.dataclass(frozen=True, slots=True)
class TrialContext:
    """What an evaluation may know about its trial.

    :param trial_id: the trial's id within its study.
    :param slot: the slot the trial holds, ``0 <= slot < concurrency``; no two trials in
        flight hold the same slot.
    :param values: every active label's evaluated value (a ``choice`` label gives the chosen
        option), for objectives that address parameters by label.
    :param env: extra environment variables for this trial (from ``slot_env``).
    :param log_dir: the folder for per-trial logs, or ``None``.
    :param study: the study's name.
    """

    trial_id: int
    slot: int
    values: Mapping[str, object] = dataclasses.field(default_factory=dict)
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    log_dir: Path | None = None
    study: str = "default"


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

    def wants_context(self, objective: Objective) -> TypeGuard[TrialObjective]:
        """Whether ``objective`` is a :class:`TrialObjective`, remembered for the last one
        asked about (a protocol ``isinstance`` costs ~10 us, too much to pay per trial)."""
        last: tuple[Objective, bool] | None = getattr(self, "_wants_context_last", None)
        if last is not None and last[0] is objective:
            return last[1]
        answer = isinstance(objective, TrialObjective)
        self._wants_context_last = (objective, answer)
        return answer


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
