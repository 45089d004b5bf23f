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
- An executor never touches storage or suggesters; it knows only the objective, the evaluated
  parameters and the :class:`TrialContext`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import Any

__all__ = ["Executor", "Objective", "TrialContext"]

Objective = Callable[..., Any]


@dataclasses.dataclass(frozen=True, slots=True)
class TrialContext:
    """What an executor knows about the trial it evaluates.

    :param trial_id: the trial's id within its study.
    :param slot: the slot the trial holds, ``0 <= slot < concurrency``; no two trials in
        flight hold the same slot.
    """

    trial_id: int
    slot: int


class Executor(ABC):
    """Runs evaluations of an objective somewhere. See the module docstring for the contract."""

    @contextlib.asynccontextmanager
    async def open(self, concurrency: int) -> AsyncIterator[None]:
        """Hold the executor's resources for one run; the default needs none."""
        yield

    @abstractmethod
    async def evaluate(self, objective: Objective, params: Any, context: TrialContext) -> Any:
        """Evaluate ``objective(params)`` and return its value, or raise its exception."""
