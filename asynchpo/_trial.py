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
from collections.abc import Mapping
from typing import Any

__all__ = ["ParamValue", "Params", "Reports", "Trial", "TrialState"]

ParamValue = float | int
Params = Mapping[str, ParamValue]
#: The losses a trial reported while it ran, as ``(step, loss)`` pairs in increasing step order.
Reports = tuple[tuple[int, float], ...]


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

    @property
    def duration(self) -> float | None:
        """Seconds from the start to the end of the latest evaluation, if it has ended."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    def replace(self, **changes: Any) -> Trial:
        """A copy of this record with ``changes`` applied."""
        return dataclasses.replace(self, **changes)
