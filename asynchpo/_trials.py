"""``Trials``: hyperopt's view of a study's history, for code written against hyperopt.

The records themselves are typed :class:`~asynchpo.Trial` objects (``Trials.records``); the
dict shapes hyperopt code expects (``trials.trials``, ``results``, ``misc.vals``) are built
from them on demand and cached until the next change.

A pruned trial is a finished job (``JOB_STATE_DONE``) whose result is
``{"status": "pruned", "loss": <last reported loss>, "step": <its step>}``: hyperopt code that
picks ``"ok"`` results never takes it for the best, and ``losses()`` still shows where it
stopped.
"""

from __future__ import annotations

import bisect
import datetime
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from asynchpo._exceptions import AllTrialsFailed
from asynchpo._trial import ParamValue, Trial, TrialState, best_trial

__all__ = [
    "JOB_STATE_CANCEL",
    "JOB_STATE_DONE",
    "JOB_STATE_ERROR",
    "JOB_STATE_NEW",
    "JOB_STATE_RUNNING",
    "Trials",
]

JOB_STATE_NEW = 0
JOB_STATE_RUNNING = 1
JOB_STATE_DONE = 2
JOB_STATE_ERROR = 3
JOB_STATE_CANCEL = 4

_JOB_STATES = {
    TrialState.QUEUED: JOB_STATE_NEW,
    TrialState.RUNNING: JOB_STATE_RUNNING,
    TrialState.OK: JOB_STATE_DONE,
    TrialState.FAIL: JOB_STATE_DONE,
    TrialState.PRUNED: JOB_STATE_DONE,
    TrialState.INTERRUPTED: JOB_STATE_CANCEL,
}
_PENDING_STATUS = {
    TrialState.QUEUED: "new",
    TrialState.RUNNING: "running",
    TrialState.INTERRUPTED: "new",
}


def _hyperopt_time(timestamp: float | None) -> datetime.datetime | None:
    # hyperopt stores naive UTC datetimes rounded to milliseconds.
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Trials:
    """The history of a search, in hyperopt's shapes.

    Pass one to :func:`fmin` to have it filled in; pass the same object to another ``fmin``
    call (without ``storage``) to continue the search in memory, as in hyperopt. With
    ``storage``, ``fmin`` fills it with the stored study's trials, earlier runs included.
    """

    def __init__(self) -> None:
        self._records: list[Trial] = []
        self._labels: tuple[str, ...] = ()
        self._log_labels: tuple[str, ...] = ()
        self._docs: list[dict[str, Any]] | None = None
        self._last_finished: Trial | None = None
        # Set by fmin when this object backs an in-memory study (storage=None).
        self._memory: object | None = None

    # Filled in by fmin and load_trials -------------------------------------------------

    def _reset(
        self, labels: Sequence[str], records: Sequence[Trial], log_labels: Sequence[str] = ()
    ) -> None:
        self._labels = tuple(labels)
        self._log_labels = tuple(log_labels)
        self._records = sorted(records, key=lambda trial: trial.id)
        self._docs = None
        finished = [trial for trial in self._records if trial.state.is_finished]
        self._last_finished = max(finished, key=lambda t: t.finished or 0.0, default=None)

    def _update(self, trial: Trial) -> None:
        """Insert or replace one record, keeping the list ordered by id. Ids are dense unless a
        (damaged) row was deleted by hand, so the record is usually at the index of its id."""
        records, tid = self._records, trial.id
        if 0 <= tid < len(records) and records[tid].id == tid:
            records[tid] = trial
        elif not records or records[-1].id < tid:
            records.append(trial)
        else:
            at = bisect.bisect_left(records, tid, key=lambda record: record.id)
            if at < len(records) and records[at].id == tid:
                records[at] = trial
            else:
                records.insert(at, trial)
        if trial.state.is_finished:
            self._last_finished = trial
        self._docs = None

    # Typed access ---------------------------------------------------------------------

    @property
    def records(self) -> list[Trial]:
        """Every trial as a typed :class:`~asynchpo.Trial` record, ordered by id."""
        return list(self._records)

    @property
    def last_finished(self) -> Trial | None:
        """The trial that finished most recently, or ``None``."""
        return self._last_finished

    # hyperopt's API -------------------------------------------------------------------

    @property
    def trials(self) -> list[dict[str, Any]]:
        """One hyperopt trial document per trial, ordered by ``tid``."""
        if self._docs is None:
            self._docs = [self._document(trial) for trial in self._records]
        return self._docs

    def _document(self, trial: Trial) -> dict[str, Any]:
        vals: dict[str, list[ParamValue]] = {}
        idxs: dict[str, list[int]] = {}
        for label in self._labels:
            if label in trial.params:
                vals[label] = [trial.params[label]]
                idxs[label] = [trial.id]
            else:
                vals[label] = []
                idxs[label] = []
        if trial.state.is_finished:
            result: dict[str, Any] = dict(trial.result)
        else:
            result = {"status": _PENDING_STATUS[trial.state]}
        if trial.error is not None:
            result.setdefault("error", trial.error)
        return {
            "state": _JOB_STATES[trial.state],
            "tid": trial.id,
            "spec": None,
            "result": result,
            "misc": {
                "tid": trial.id,
                "cmd": ("domain_attachment", "FMinIter_Domain"),
                "workdir": None,
                "idxs": idxs,
                "vals": vals,
            },
            "exp_key": None,
            "owner": None,
            "version": 0,
            "book_time": _hyperopt_time(trial.started),
            "refresh_time": _hyperopt_time(trial.finished),
        }

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.trials)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.trials[index]

    def refresh(self) -> None:
        """Does nothing: the view is always current (kept for hyperopt code)."""

    @property
    def tids(self) -> list[int]:
        """The trial ids."""
        return [trial.id for trial in self._records]

    @property
    def results(self) -> list[dict[str, Any]]:
        """Each trial's result dict."""
        return [doc["result"] for doc in self.trials]

    @property
    def miscs(self) -> list[dict[str, Any]]:
        """Each trial's ``misc`` dict (``tid``, ``idxs``, ``vals``)."""
        return [doc["misc"] for doc in self.trials]

    @property
    def specs(self) -> list[None]:
        """Each trial's ``spec`` (always ``None``, as in hyperopt's ``fmin``)."""
        return [None for _ in self._records]

    @property
    def vals(self) -> dict[str, list[ParamValue]]:
        """Label -> the values it took, over the trials where it was active."""
        return {
            label: [t.params[label] for t in self._records if label in t.params]
            for label in self._labels
        }

    @property
    def idxs(self) -> dict[str, list[int]]:
        """Label -> the ids of the trials where it was active."""
        return {label: [t.id for t in self._records if label in t.params] for label in self._labels}

    def losses(self, bandit: object = None) -> list[float | None]:
        """Each trial's loss, ``None`` where it has none (a pruned trial's is the last loss it
        reported)."""
        return [doc["result"].get("loss") for doc in self.trials]

    def statuses(self, bandit: object = None) -> list[str]:
        """Each trial's status string (``'ok'``, ``'fail'``, ``'pruned'``, ``'new'``,
        ``'running'``)."""
        return [doc["result"].get("status") for doc in self.trials]

    @property
    def best_trial(self) -> dict[str, Any]:
        """The document of the successful trial with the lowest loss (never a pruned one: its
        loss is a partial result).

        :raises AllTrialsFailed: when no trial succeeded.
        """
        best = best_trial(self._records)
        if best is None:
            raise AllTrialsFailed(
                f"none of the {len(self._records)} trials succeeded, so there is no best trial; "
                "check the trials' errors (Trials.records[i].error)"
            )
        # Without a cached view, build the one document rather than all of them.
        return self._document(best) if self._docs is None else self._docs[best.id]

    @property
    def argmin(self) -> dict[str, ParamValue]:
        """The best trial's point, in hyperopt's format (choice indices; active labels only)."""
        vals = self.best_trial["misc"]["vals"]
        return {label: values[0] for label, values in vals.items() if values}

    def to_dataframe(self) -> Any:
        """One row per trial: ``tid``, ``state``, ``loss``, ``status``, ``duration`` (seconds),
        ``started`` and ``finished`` (UTC timestamps), ``error``, ``slot``; when any trial
        reported intermediate losses, ``reports`` (how many it reported) and ``last_step``
        (the step of its last report, ``NaN`` if none); then one column per label (``NaN``
        where the label was inactive; option indices for choices, as in ``argmin``). A pruned
        trial has state ``"pruned"`` and its last reported loss; its reports are in
        :attr:`records` (``Trial.reports``).

        Needs pandas (``pip install 'asynchpo[pandas]'``); without it, :attr:`records` gives
        the same data as typed records.
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "Trials.to_dataframe needs pandas: pip install 'asynchpo[pandas]' "
                "(or use Trials.records, the typed records, without pandas)"
            ) from exc
        reported = any(trial.reports for trial in self._records)
        extra = ["reports", "last_step"] if reported else []
        rows = []
        for trial in self._records:
            row: dict[str, Any] = {
                "tid": trial.id,
                "state": trial.state.value,
                "loss": trial.loss,
                "status": trial.result.get("status"),
                "duration": trial.duration,
                "started": trial.started,
                "finished": trial.finished,
                "error": trial.error,
                "slot": trial.slot,
            }
            if reported:
                row["reports"] = len(trial.reports)
                row["last_step"] = trial.reports[-1][0] if trial.reports else None
            for label in self._labels:
                row[label] = trial.params.get(label, math.nan)
            rows.append(row)
        columns = [
            "tid",
            "state",
            "loss",
            "status",
            "duration",
            "started",
            "finished",
            "error",
            "slot",
            *extra,
            *self._labels,
        ]
        frame = pd.DataFrame(rows, columns=columns)
        if reported:
            frame["last_step"] = frame["last_step"].astype("Int64")
        for column in ("started", "finished"):
            frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
        return frame

    def plot(
        self, path: str | Path, *, title: str = "asynchpo study", curves: bool = False
    ) -> Path:
        """Draw the study's report to ``path``: a ``.png``, or an ``.html`` page holding the
        figure and the data in one file.

        The figure shows the loss per trial with the best-so-far line, the loss against each
        parameter (log axes for log-scaled ones), the trials over time by slot and, when
        trials reported intermediate losses, their learning curves; pruned trials are drawn
        apart, in a muted colour. With ``curves=True`` it draws the learning curves alone
        (loss against step per trial, the best in red), larger. Needs matplotlib:
        ``pip install 'asynchpo[plot]'``.

        :raises ValueError: with ``curves=True``, when no trial reported a loss at a step.
        """
        from asynchpo._plot import plot_curves, plot_trials

        if curves:
            return plot_curves(self._records, path, title=title)
        return plot_trials(
            self._records, self._labels, path, log_labels=self._log_labels, title=title
        )

    def average_best_error(self, bandit: object = None) -> float:
        """The loss of the best trial (hyperopt's name)."""
        return float(self.best_trial["result"]["loss"])

    def count_by_state_unsynced(self, arg: int | Sequence[int]) -> int:
        """How many trials are in the given hyperopt job state(s)."""
        states = {arg} if isinstance(arg, int) else set(arg)
        return sum(1 for trial in self._records if _JOB_STATES[trial.state] in states)

    count_by_state_synced = count_by_state_unsynced
