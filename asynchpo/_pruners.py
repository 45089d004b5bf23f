"""Pruners: decide, at each intermediate report, whether a running trial should stop.

The seam. A :class:`Pruner` is told every report (``observe``) and how every trial ended
(``finish``), and is asked about live reports (``should_prune``). Its contract:

- It lives on the event loop: calls never overlap, and each must be quick (the pruners here
  cost O(log n) per report), as it runs between a trial's report and its next step.
- ``observe(trial_id, step, loss)`` comes first for every report, with the steps of one trial
  strictly increasing and every loss finite. ``should_prune`` follows for a live report, with
  the same values; it answers from what was observed so far and may be asked only once per
  report.
- ``finish(trial_id, state)``: the trial ended as ``OK``, ``FAIL`` or ``PRUNED``. ``forget``
  (trial_id): its reports are void, because it runs again from its start (a crash that is
  retried, or a trial that was in flight when a run was interrupted).
- On resume, the scheduler replays every stored finished trial (``observe`` of each report in
  order, then ``finish``), so a pruner's knowledge is a function of the stored reports and
  must not depend on the order in which different trials are replayed.
- A pruner knows nothing of the search space, the storage or the clock.
"""

from __future__ import annotations

import bisect
import math
from abc import ABC, abstractmethod
from collections import defaultdict

from asynchpo import _checks as checks
from asynchpo._trial import TrialState

__all__ = ["MedianPruner", "Pruner", "SuccessiveHalvingPruner"]


class Pruner(ABC):
    """Decides whether a running trial should stop early; see the module docstring."""

    @abstractmethod
    def observe(self, trial_id: int, step: int, loss: float) -> None:
        """Record that ``trial_id`` reported ``loss`` at ``step``."""

    @abstractmethod
    def should_prune(self, trial_id: int, step: int, loss: float) -> bool:
        """Whether ``trial_id``, which just reported ``loss`` at ``step``, should stop."""

    def finish(self, trial_id: int, state: TrialState) -> None:  # noqa: B027 - optional hook
        """``trial_id`` ended in ``state`` (``OK``, ``FAIL`` or ``PRUNED``)."""

    def forget(self, trial_id: int) -> None:  # noqa: B027 - optional hook
        """Drop what ``trial_id`` reported: it runs again from its start."""


def _whole(name: str, value: object, minimum: int) -> int:
    return checks.whole(name, value, at_least=minimum)


class MedianPruner(Pruner):
    """The median stopping rule: stop a trial whose best loss so far is worse than the median
    loss of the completed trials at the same step (Optuna's ``MedianPruner``; Golovin et al.,
    "Google Vizier", 2017).

    :param n_startup_trials: prune nothing until this many trials completed (``OK``).
    :param n_warmup_steps: prune no trial at a step below this.
    :param interval_steps: consider pruning only at steps ``n_warmup_steps + k *
        interval_steps``.
    :param n_min_trials: prune only where at least this many completed trials reported at the
        same step.
    :param percentile: compare with this percentile instead of the median (50); lower prunes
        more.
    """

    def __init__(
        self,
        *,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        n_min_trials: int = 1,
        percentile: float = 50.0,
    ) -> None:
        self.n_startup_trials = _whole("n_startup_trials", n_startup_trials, 0)
        self.n_warmup_steps = _whole("n_warmup_steps", n_warmup_steps, 0)
        self.interval_steps = _whole("interval_steps", interval_steps, 1)
        self.n_min_trials = _whole("n_min_trials", n_min_trials, 1)
        self.percentile: float = checks.number("percentile", percentile, at_least=0, at_most=100)
        self._running: dict[int, list[tuple[int, float]]] = defaultdict(list)
        self._best: dict[int, float] = {}
        # Losses of completed trials by step, each list sorted.
        self._completed_at: dict[int, list[float]] = defaultdict(list)
        self._completed: int = 0

    def __repr__(self) -> str:
        return (
            f"MedianPruner(n_startup_trials={self.n_startup_trials}, "
            f"n_warmup_steps={self.n_warmup_steps}, interval_steps={self.interval_steps}, "
            f"n_min_trials={self.n_min_trials}, percentile={self.percentile:g})"
        )

    def observe(self, trial_id: int, step: int, loss: float) -> None:
        self._running[trial_id].append((step, loss))
        best = self._best.get(trial_id)
        self._best[trial_id] = loss if best is None else min(best, loss)

    def should_prune(self, trial_id: int, step: int, loss: float) -> bool:
        if self._completed < self.n_startup_trials or step < self.n_warmup_steps:
            return False
        if (step - self.n_warmup_steps) % self.interval_steps:
            return False
        others = self._completed_at.get(step)
        if not others or len(others) < self.n_min_trials:
            return False
        return self._best[trial_id] > _percentile(others, self.percentile)

    def finish(self, trial_id: int, state: TrialState) -> None:
        reports = self._running.pop(trial_id, [])
        self._best.pop(trial_id, None)
        if state is TrialState.OK:
            self._completed += 1
            for step, loss in reports:
                bisect.insort(self._completed_at[step], loss)

    def forget(self, trial_id: int) -> None:
        self._running.pop(trial_id, None)
        self._best.pop(trial_id, None)


def _percentile(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile of sorted values, interpolated linearly (numpy's default)."""
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class SuccessiveHalvingPruner(Pruner):
    """Asynchronous successive halving (ASHA; Li et al., "A System for Massively Parallel
    Hyperparameter Tuning", MLSys 2020), as a pruner.

    Rung ``k`` of a bracket is at step ``min_resource * reduction_factor ** (s + k)``, where
    ``s`` is the bracket's early-stopping rate. When a trial first reports at or past a rung's
    step, that loss is its value at the rung, and it continues only if the value is among the
    best ``1 / reduction_factor`` of all values recorded at that rung so far (its own
    included). Nothing waits for a rung to fill: a decision uses what has arrived, which is
    what makes it asynchronous. Before ``reduction_factor`` trials have reached a rung, only a
    trial better than every one before it continues (as in Optuna's implementation).

    With ``brackets > 1`` (Hyperband's idea), trial ``i`` goes to bracket ``i % brackets``,
    whose early-stopping rate is ``min_early_stopping_rate + bracket``: later brackets give
    every trial more steps before the first cut, which guards against curves that start slow.

    :param min_resource: the step of the first rung: every trial runs at least this far.
    :param reduction_factor: ``eta``; a rung keeps one trial in ``eta``.
    :param min_early_stopping_rate: ``s`` of the first bracket.
    :param brackets: how many brackets trials are spread over.
    :param max_resource: the step at which trials end by themselves, if known: no rung is
        placed at or beyond it, so a trial that ran its course is never pruned at its end.
    """

    def __init__(
        self,
        *,
        min_resource: int = 1,
        reduction_factor: int = 3,
        min_early_stopping_rate: int = 0,
        brackets: int = 1,
        max_resource: int | None = None,
    ) -> None:
        self.min_resource = _whole("min_resource", min_resource, 1)
        self.reduction_factor = _whole("reduction_factor", reduction_factor, 2)
        self.min_early_stopping_rate = _whole("min_early_stopping_rate", min_early_stopping_rate, 0)
        self.brackets = _whole("brackets", brackets, 1)
        self.max_resource = (
            None if max_resource is None else _whole("max_resource", max_resource, 1)
        )
        # Sorted values recorded at each (bracket, rung).
        self._rungs: dict[tuple[int, int], list[float]] = defaultdict(list)
        # Per trial: its values at the rungs it reached, in rung order.
        self._reached: dict[int, list[float]] = defaultdict(list)
        # Per trial: the rungs its latest report crossed (decided on by should_prune).
        self._crossed: dict[int, range] = {}

    def __repr__(self) -> str:
        return (
            f"SuccessiveHalvingPruner(min_resource={self.min_resource}, "
            f"reduction_factor={self.reduction_factor}, "
            f"min_early_stopping_rate={self.min_early_stopping_rate}, brackets={self.brackets}, "
            f"max_resource={self.max_resource})"
        )

    def rung_step(self, trial_id: int, rung: int) -> float:
        """The step of ``rung`` in the bracket of ``trial_id`` (infinite past
        ``max_resource``)."""
        rate = self.min_early_stopping_rate + trial_id % self.brackets
        step = float(self.min_resource * self.reduction_factor ** (rate + rung))
        if self.max_resource is not None and step >= self.max_resource:
            return math.inf
        return step

    def observe(self, trial_id: int, step: int, loss: float) -> None:
        reached = self._reached[trial_id]
        first = len(reached)
        bracket = trial_id % self.brackets
        while step >= self.rung_step(trial_id, len(reached)):
            bisect.insort(self._rungs[bracket, len(reached)], loss)
            reached.append(loss)
        self._crossed[trial_id] = range(first, len(reached))

    def should_prune(self, trial_id: int, step: int, loss: float) -> bool:
        bracket = trial_id % self.brackets
        for rung in self._crossed.pop(trial_id, range(0)):
            values = self._rungs[bracket, rung]
            keep = max(len(values) // self.reduction_factor, 1)
            if loss > values[keep - 1]:
                return True
        return False

    def finish(self, trial_id: int, state: TrialState) -> None:
        # Its values stay in the rungs: later trials compete with them.
        self._reached.pop(trial_id, None)
        self._crossed.pop(trial_id, None)

    def forget(self, trial_id: int) -> None:
        bracket = trial_id % self.brackets
        for rung, loss in enumerate(self._reached.pop(trial_id, [])):
            values = self._rungs[bracket, rung]
            del values[bisect.bisect_left(values, loss)]
        self._crossed.pop(trial_id, None)
