"""Typed, immutable records: the trial and its lifecycle.

A trial moves through ``QUEUED -> RUNNING -> OK | FAIL | PRUNED``. A trial that was ``RUNNING``
when its run was cancelled or its process died becomes ``INTERRUPTED`` and is run again, with
the same id and parameters, when the study resumes. ``OK``, ``FAIL`` and ``PRUNED`` trials are
*finished*: their record never changes again. While it runs, a trial may report its loss at
intermediate steps (epochs); a pruner may stop it early, and it is then ``PRUNED`` with its
last reported loss.

Parameters are stored in hyperopt's argmin format: one entry per *active* label, the option
index for ``choice``/``pchoice``, the value otherwise.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["ParamValue", "Params", "Reports", "Trial", "TrialState", "activity", "best_trial"]

ParamValue = float | int
Params = Mapping[str, ParamValue]
#: The losses a trial reported while it ran, as ``(step, loss)`` pairs in increasing step order.
Reports = tuple[tuple[int, float], ...]


# Result keys that are not metrics: they have columns of their own, or are not for a table.
_NOT_METRICS = frozenset({"loss", "status", "error", "attachments", "constraints"})


class TrialState(enum.Enum):
    """Where a trial is in its lifecycle."""

    QUEUED = "queued"
    RUNNING = "running"
    OK = "ok"
    FAIL = "fail"
    INTERRUPTED = "interrupted"
    PRUNED = "pruned"

    @property
    def is_finished(self) -> bool:
        """True for ``OK``, ``FAIL`` and ``PRUNED``: the record is final and counts toward
        ``max_evals``."""
        return self is TrialState.OK or self is TrialState.FAIL or self is TrialState.PRUNED


@dataclasses.dataclass(frozen=True, slots=True)
class Trial:
    """One evaluation of the objective at one point of the space.

    :param id: the trial id, unique within its study, counting from 0 (hyperopt's ``tid``).
    :param state: where the trial is in its lifecycle.
    :param params: the point, in hyperopt's argmin format (active labels only).
    :param loss: the loss of an ``OK`` trial, the last reported loss of a ``PRUNED`` one;
        ``None`` otherwise.
    :param result: what the objective returned, as a dict (``loss``, ``status`` and any extra
        keys), or ``{}`` while the trial has no result.
    :param error: why a ``FAIL`` or ``INTERRUPTED`` trial did not produce a loss.
    :param created: when the trial was created (seconds since the epoch).
    :param started: when its latest evaluation started, or ``None`` if it never started.
    :param finished: when it finished or was interrupted, or ``None``.
    :param slot: the slot its latest evaluation held (``0 <= slot < concurrency``), or
        ``None`` if it never started.
    :param reports: the ``(step, loss)`` pairs its latest evaluation reported, in order.
    :param driver: the id of the driver (the process driving the study) that holds the trial
        while it runs, or that ran it last; ``None`` for a trial no driver has started.
    """

    id: int
    state: TrialState
    params: Params
    loss: float | None = None
    result: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    slot: int | None = None
    reports: Reports = ()
    driver: int | None = None

    @property
    def ok(self) -> bool:
        """True for a successful trial: ``OK`` with a loss (or, with several objectives, its
        losses). Only these can be the best."""
        return self.state is TrialState.OK and (self.loss is not None or self.values is not None)

    @property
    def values(self) -> tuple[float, ...] | None:
        """The objective's values of a successful trial, as it returned them: ``(loss,)``
        with one objective, one per objective with several (its result's ``loss`` list);
        ``None`` for any other trial."""
        if self.state is not TrialState.OK:
            return None
        if self.loss is not None:
            return (self.loss,)
        stored = self.result.get("loss")
        if isinstance(stored, list) and len(stored) > 1 and all(_is_number(v) for v in stored):
            return tuple(float(v) for v in stored)
        return None

    @property
    def constraints(self) -> tuple[float, ...]:
        """The constraint values its result carries (feasible when every one is ``<= 0``);
        empty without constraints."""
        stored = self.result.get("constraints")
        if isinstance(stored, list) and all(_is_number(v) for v in stored):
            return tuple(float(v) for v in stored)
        return ()

    @property
    def violation(self) -> float:
        """How far the trial is from feasible: the sum of its positive constraint values; 0
        for a feasible trial (or one without constraints)."""
        return sum(value for value in self.constraints if value > 0)

    @property
    def feasible(self) -> bool:
        """Whether every constraint value is ``<= 0`` (true without constraints)."""
        return self.violation == 0

    @property
    def duration(self) -> float | None:
        """Seconds from the start to the end of the latest evaluation, if it has ended."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @property
    def metrics(self) -> dict[str, Any]:
        """What the objective returned besides its loss and status: the extra keys of its
        result (``{"accuracy": 0.94}``, a :class:`Command`'s ``log``), in the result's order.

        ``error`` and ``attachments`` are not metrics, nor is the ``step`` a ``PRUNED`` trial's
        result holds (its last report tells it). The one definition used by the command line,
        :meth:`Trials.to_dataframe` and the report.
        """
        return {
            key: value
            for key, value in self.result.items()
            if key not in _NOT_METRICS and not (key == "step" and self.state is TrialState.PRUNED)
        }

    def shown_params(self, options: Mapping[str, Sequence[object]]) -> dict[str, Any]:
        """The trial's point as a person reads it: each choice's option index becomes the
        option's value; other values as they are. ``params`` (hyperopt's argmin and
        ``misc.vals``) keep the indices.

        :param options: the options of each choice, by label: :attr:`Study.options` or
            :attr:`Space.options`. A label it does not hold, or an index outside its options,
            is shown as stored.
        """
        out: dict[str, Any] = {}
        for label, value in self.params.items():
            values = options.get(label)
            if (
                values is not None
                and isinstance(value, int)
                and not isinstance(value, bool)
                and 0 <= value < len(values)
            ):
                out[label] = values[value]
            else:
                out[label] = value
        return out

    def replace(self, **changes: Any) -> Trial:
        """A copy of this record with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def activity(trial: Trial) -> float:
    """The latest moment a trial's record tells of: created, started or finished."""
    return max(trial.created, trial.started or 0.0, trial.finished or 0.0)


def best_trial(trials: Iterable[Trial], *, maximize: bool = False) -> Trial | None:
    """The best successful trial of a single-objective study, or ``None``: the feasible one
    with the lowest loss (the highest with ``maximize``), the lowest id among equals; while no
    trial is feasible, the one of least violation.

    "Best" lives in ``_objectives.Objectives``, which calls this for one objective: a pruned
    trial's loss was measured part way and a failed trial has none, so neither is ever the best.
    """
    sign = -1.0 if maximize else 1.0
    best: Trial | None = None
    best_key: tuple[float, float, int] | None = None
    for trial in trials:
        loss = trial.loss
        if loss is None or trial.state is not TrialState.OK:
            continue
        key = (trial.violation, sign * loss, trial.id)
        if best_key is None or key < best_key:
            best, best_key = trial, key
    return best
