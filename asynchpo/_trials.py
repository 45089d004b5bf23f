"""``Trials``: hyperopt's view of a study's history, for code written against hyperopt.

The records themselves are typed :class:`~asynchpo.Trial` objects (``Trials.records``); the
dict shapes hyperopt code expects (``trials.trials``, ``results``, ``misc.vals``) are built
from them on demand and cached until the next change.

A pruned trial is a finished job (``JOB_STATE_DONE``) whose result is
``{"status": "pruned", "loss": <last reported loss>, "step": <its step>}``: hyperopt code that
picks ``"ok"`` results never takes it for the best, and ``losses()`` still shows where it
stopped. ``'pruned'`` is the one status hyperopt does not have: code that handles
``'ok'`` and ``'fail'`` treats it as neither (not a success, not an error).

hyperopt code never sees a trial that did not run to the end: the hyperopt view (``trials``,
``results``, ``losses()``, ``statuses()``, ``tids``, ``vals``, ``len()``, ``best_trial``,
``argmin``) holds the finished trials (``'ok'``, ``'fail'``, ``'pruned'``) and those running
now (``'running'``); a trial that an early stop, a timeout or Ctrl-C interrupted, or a queued
one that never started, is only in :attr:`Trials.records` (and runs again on resume). So
``min(trials.losses())`` works after a timeout as after a full run.

What an objective returned that JSON cannot hold (a fitted model, a numpy array, bytes)
comes back as itself from the ``Trials`` object of the process that ran the trial; storage
keeps its JSON-safe form (see :func:`asynchpo.fmin`). A result's ``attachments`` are stored
apart with the trial, bytes as bytes, and read back by any ``Trials`` of that stored study
(see :meth:`Trials.trial_attachments`).
"""

from __future__ import annotations

import bisect
import datetime
import math
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from asynchpo._exceptions import AllTrialsFailed, ConfigError, StudyError
from asynchpo._objectives import MINIMIZE, Objectives
from asynchpo._trial import ParamValue, Trial, TrialState

__all__ = [
    "JOB_STATE_CANCEL",
    "JOB_STATE_DONE",
    "JOB_STATE_ERROR",
    "JOB_STATE_NEW",
    "JOB_STATE_RUNNING",
    "Trials",
    "generate_trials_to_calculate",
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
# Trials that did not run to the end: out of hyperopt's view (they run again on resume).
_NOT_RUN = frozenset({TrialState.QUEUED, TrialState.INTERRUPTED})
_PLAIN_SCALARS = (str, int, bool, type(None))
# How many values, and how deep, _plain looks before it calls a result not plain.
_PLAIN_BUDGET = 1_000
_PLAIN_DEPTH = 20


def _plain(value: object, budget: list[int], depth: int = 0) -> bool:
    """True if ``value`` surely comes back from JSON as it is (so storage keeps it whole)."""
    budget[0] -= 1
    if budget[0] < 0 or depth > _PLAIN_DEPTH:
        return False
    kind = type(value)
    if kind is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    if kind is int:
        return int.bit_length(value) <= 64  # type: ignore[arg-type]
    if kind in _PLAIN_SCALARS:
        return True
    if kind is dict:
        return all(
            type(key) is str and _plain(item, budget, depth + 1)
            for key, item in value.items()  # type: ignore[attr-defined]
        )
    if kind is list:
        return all(_plain(item, budget, depth + 1) for item in value)  # type: ignore[attr-defined]
    return False


class _Attachments(MutableMapping[str, Any]):
    """One trial's attachments (hyperopt's ``trials.trial_attachments(trial)``): a dict-like
    view of ``Trials.attachments`` under hyperopt's keys ``ATTACH::<tid>::<name>``. The
    trial's stored attachments are read into it (once) on first use."""

    def __init__(self, trials: Trials, tid: int) -> None:
        self._trials = trials
        self._tid = tid
        self._prefix = f"ATTACH::{tid}::"

    def _load(self) -> dict[str, Any]:
        self._trials._load_attachments(self._tid)
        return self._trials.attachments

    def __getitem__(self, name: str) -> Any:
        return self._load()[self._prefix + name]

    def __setitem__(self, name: str, value: Any) -> None:
        if not isinstance(name, str):
            raise TypeError(f"an attachment's name must be a string, got {name!r}")
        self._load()[self._prefix + name] = value

    def __delitem__(self, name: str) -> None:
        del self._load()[self._prefix + name]

    def __iter__(self) -> Iterator[str]:
        size = len(self._prefix)
        return iter([key[size:] for key in self._load() if key.startswith(self._prefix)])

    def __len__(self) -> int:
        return sum(1 for key in self._load() if key.startswith(self._prefix))


def _hyperopt_time(timestamp: float | None) -> datetime.datetime | None:
    # hyperopt stores naive UTC datetimes rounded to milliseconds.
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Trials:
    """The history of a search, in hyperopt's shapes.

    Pass one to :func:`fmin` to have it filled in; pass the same object to another ``fmin``
    call (without ``storage``) to continue the search in memory, as in hyperopt: that call's
    ``rstate`` or ``seed`` drives its new trials. With ``storage``, ``fmin`` fills it with the
    stored study's trials, earlier runs included.

    :param exp_key: hyperopt's experiment key. Here it names the study: ``fmin`` given this
        object and no ``study=`` uses ``study=exp_key`` (with ``storage``, the study of that
        name in the file; in memory, the study of that name in this object).
    :param refresh: accepted for hyperopt code; the view is always current.
    """

    def __init__(self, exp_key: str | None = None, refresh: bool = True) -> None:
        if exp_key is not None and (not isinstance(exp_key, str) or not exp_key):
            raise ConfigError(
                f"exp_key must be a non-empty string (it names the study), got {exp_key!r}"
            )
        self.exp_key = exp_key
        #: hyperopt's attachments: ``ATTACH::<tid>::<name>`` keys for trial attachments (see
        #: :meth:`trial_attachments`), any other key for the search's own. Kept in memory; a
        #: trial's stored attachments are read in when its ``trial_attachments`` is first used.
        self.attachments: dict[str, Any] = {}
        self._records: list[Trial] = []
        # What the study optimises (set by fmin and load_trials from the stored study).
        self._objectives = MINIMIZE
        self._labels: tuple[str, ...] = ()
        self._log_labels: tuple[str, ...] = ()
        # The options of each choice, by label: what a person reads instead of an index.
        self._options: dict[str, list[object]] = {}
        # The study's space description, when known (for the HTML report's axes).
        self._space: Sequence[Mapping[str, object]] | None = None
        self._docs: list[dict[str, Any]] | None = None
        self._shown: list[Trial] | None = None
        self._last_finished: Trial | None = None
        # Set by fmin when this object backs an in-memory study (storage=None).
        self._memory: object | None = None
        # What the objective returned, by trial id, where JSON would change it: hyperopt's
        # "return the model" pattern gets the objects back from this process's Trials.
        self._live: dict[int, Mapping[str, Any]] = {}
        # Points fmin evaluates first (generate_trials_to_calculate), then forgets.
        self._to_calculate: list[Mapping[str, object]] = []
        # The (storage, study) the live values and attachments belong to.
        self._bound: object = None
        # Reads a trial's stored attachments (set by fmin and load_trials), and the trials
        # whose stored attachments were read into ``attachments`` already.
        self._attachment_reader: Callable[[int], dict[str, Any]] | None = None
        self._attachments_read: set[int] = set()

    # Filled in by fmin and load_trials -------------------------------------------------

    def _reset(
        self,
        labels: Sequence[str],
        records: Sequence[Trial],
        log_labels: Sequence[str] = (),
        space: Sequence[Mapping[str, object]] | None = None,
        directions: Sequence[str] | None = None,
    ) -> None:
        """``space``: the study's space description (``Study.config.space``), for the values
        of its choices' options (``None`` keeps the ones known); ``directions``: the study's
        (``None`` keeps the ones known)."""
        from asynchpo._space import option_values

        if directions is not None:
            self._objectives = Objectives(tuple(directions))
        self._labels = tuple(labels)
        self._log_labels = tuple(log_labels)
        if space is not None:
            self._options = option_values(space)
            self._space = space
        self._records = sorted(records, key=lambda trial: trial.id)
        self._docs = self._shown = None
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
        self._docs = self._shown = None

    def _bind(self, key: object) -> None:
        """Keep live values and attachments only while the trials come from one study."""
        if key != self._bound:
            self._bound = key
            self._live.clear()
            self.attachments.clear()
            self._attachment_reader = None
            self._attachments_read.clear()

    def _read_attachments_from(self, reader: Callable[[int], dict[str, Any]] | None) -> None:
        """Read trials' stored attachments with ``reader`` (a study's
        ``attachment_reader()``), each trial's on first use."""
        self._attachment_reader = reader

    def _load_attachments(self, tid: int) -> None:
        """Bring trial ``tid``'s stored attachments into :attr:`attachments`, once; those
        this object holds already (the objects the objective returned, or set here) win."""
        reader = self._attachment_reader
        if reader is None or tid in self._attachments_read:
            return
        stored = reader(tid)
        self._attachments_read.add(tid)
        for name, value in stored.items():
            self.attachments.setdefault(f"ATTACH::{tid}::{name}", value)

    def _keep_live(self, tid: int, value: object) -> None:
        """Remember what trial ``tid``'s objective returned, if JSON would change it, and
        move a result's ``attachments`` into the trial's attachments (as hyperopt does)."""
        if not isinstance(value, Mapping):
            return
        try:
            # A shallow copy, read once: the objects it holds are the objective's own, and a
            # mapping whose reads raise (stored as a failed trial) is not kept.
            live = dict(value.items())
            attachments = live.get("attachments")
            named = dict(attachments.items()) if isinstance(attachments, Mapping) else None
            plain = attachments is None and _plain(live, [_PLAIN_BUDGET])
        except Exception:
            return
        if named is not None:
            # Straight into the dict: reading the stored ones (none yet) would cost a read.
            for name, item in named.items():
                key = name if isinstance(name, str) else repr(name)
                self.attachments[f"ATTACH::{tid}::{key}"] = item
        if not plain:
            self._live[tid] = live
            self._docs = None

    @property
    def _view(self) -> list[Trial]:
        """The records hyperopt code sees: none that did not run to the end."""
        if self._shown is None:
            self._shown = [trial for trial in self._records if trial.state not in _NOT_RUN]
        return self._shown

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
        """One hyperopt trial document per trial that ran to the end or runs now, ordered by
        ``tid``."""
        if self._docs is None:
            self._docs = [self._document(trial) for trial in self._view]
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
            live = self._live.get(trial.id)
            if live is not None:
                # The objects themselves; loss and status as they were read and stored.
                result.update((k, v) for k, v in live.items() if k not in ("loss", "status"))
                result.pop("attachments", None)
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
            "exp_key": self.exp_key,
            "owner": None,
            "version": 0,
            "book_time": _hyperopt_time(trial.started),
            "refresh_time": _hyperopt_time(trial.finished),
        }

    def __len__(self) -> int:
        return len(self._view)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.trials)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.trials[index]

    def refresh(self) -> None:
        """Does nothing: the view is always current (kept for hyperopt code)."""

    def delete_all(self) -> None:
        """Forget every trial and attachment (hyperopt's ``delete_all``): the next ``fmin``
        given this object without ``storage`` starts a new search. A stored study is not
        changed: with ``storage``, the next ``fmin`` reads its trials back in."""
        self._reset(self._labels, (), self._log_labels)
        self._memory = None
        self._live.clear()
        self.attachments.clear()
        self._attachment_reader = None
        self._attachments_read.clear()
        self._to_calculate = []

    def trial_attachments(self, trial: Mapping[str, Any] | int) -> MutableMapping[str, Any]:
        """The attachments of ``trial`` (a trial document, or its ``tid``): a dict-like object
        to store and read named values, such as a model's bytes, as in hyperopt.

        An objective returning ``{"attachments": {name: value}, ...}`` puts them here, and
        they are stored with the trial (``bytes`` as bytes; other values as JSON holds them).
        So a ``Trials`` from :func:`load_trials`, or from ``fmin`` with ``storage``, in any
        process, reads a trial's stored attachments back (when first asked for that trial);
        the process that ran the trial gets the objects themselves. Setting or deleting an
        attachment here changes this object only (kept in memory, under hyperopt's keys in
        :attr:`attachments`), never the storage.
        """
        tid = trial.get("tid") if isinstance(trial, Mapping) else trial
        if isinstance(tid, bool) or not isinstance(tid, int):
            raise TypeError(
                f"trial_attachments takes a trial document (with its 'tid') or a tid, got {trial!r}"
            )
        return _Attachments(self, tid)

    @property
    def tids(self) -> list[int]:
        """The trial ids."""
        return [trial.id for trial in self._view]

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
        return [None for _ in self._view]

    @property
    def vals(self) -> dict[str, list[ParamValue]]:
        """Label -> the values it took, over the trials where it was active."""
        return {
            label: [t.params[label] for t in self._view if label in t.params]
            for label in self._labels
        }

    @property
    def idxs(self) -> dict[str, list[int]]:
        """Label -> the ids of the trials where it was active."""
        return {label: [t.id for t in self._view if label in t.params] for label in self._labels}

    def losses(self, bandit: object = None) -> list[float | None]:
        """Each trial's loss, ``None`` where it has none (a pruned trial's is the last loss it
        reported)."""
        return [doc["result"].get("loss") for doc in self.trials]

    def statuses(self, bandit: object = None) -> list[str]:
        """Each trial's status string: ``'ok'``, ``'fail'``, ``'running'`` (in flight now)
        or ``'pruned'`` (stopped early by a pruner; neither a success nor an error)."""
        return [doc["result"].get("status") for doc in self.trials]

    @property
    def best_trial(self) -> dict[str, Any]:
        """The document of the successful trial with the lowest loss (the highest when the
        study maximises; feasible trials first; never a pruned one: its loss is a partial
        result).

        :raises AllTrialsFailed: when no trial succeeded.
        :raises StudyError: when the study has several objectives (see :attr:`best_trials`).
        """
        objectives = self._objectives
        if objectives.several:
            raise StudyError(
                f"the study has {objectives.count} objectives "
                f"(directions={list(objectives.directions)}), so no single best trial; use "
                "best_trials (the Pareto front)"
            )
        best = objectives.best(self._records)
        if best is None:
            raise AllTrialsFailed(
                f"none of the {len(self._view)} trials succeeded, so there is no best trial; "
                "check the trials' errors (Trials.records[i].error)"
            )
        # Without a cached view, build the one document rather than all of them.
        return self._document_of(best)

    @property
    def best_trials(self) -> list[dict[str, Any]]:
        """The documents of the best trials, by id: the Pareto front of the feasible
        successful trials (while none is feasible, those of least violation); with one
        objective, the best trial's alone. Empty when no trial succeeded."""
        return [self._document_of(trial) for trial in self._objectives.front(self._records)]

    def _document_of(self, trial: Trial) -> dict[str, Any]:
        if self._docs is None:
            return self._document(trial)
        at = bisect.bisect_left(self._view, trial.id, key=lambda record: record.id)
        return self._docs[at]

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
        where the label was inactive; for a choice, the option's value, as a person reads
        it, where ``argmin`` and ``misc.vals`` keep the option index; an option that is a
        dict or a list is shown as the space describes it, its parameters as
        ``{"param": label}``); then one column per extra key of the results (the metrics an
        objective returns besides ``loss`` and ``status``, e.g. ``accuracy``; a Command's
        ``log``), prefixed ``result.`` where a column of that name exists already. A pruned
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
        fixed = ["tid", "state", "loss", "status", "duration", "started", "finished"]
        fixed += ["error", "slot", *extra]
        found = [trial.metrics for trial in self._records]
        names = list(dict.fromkeys(key for keys in found for key in keys))
        taken = {*fixed, *self._labels}
        metric_columns = [f"result.{name}" if name in taken else name for name in names]
        rows = []
        for trial, values in zip(self._records, found, strict=True):
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
            shown = trial.shown_params(self._options)
            for label in self._labels:
                row[label] = shown.get(label, math.nan)
            for name, column in zip(names, metric_columns, strict=True):
                row[column] = values.get(name)
            rows.append(row)
        frame = pd.DataFrame(rows, columns=[*fixed, *self._labels, *metric_columns])
        if reported:
            frame["last_step"] = frame["last_step"].astype("Int64")
        for column in ("started", "finished"):
            frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
        return frame

    def plot(
        self, path: str | Path, *, title: str = "asynchpo study", curves: bool = False
    ) -> Path:
        """Draw the study's report to ``path``: a ``.png``, ``.svg`` or ``.pdf``, or an
        ``.html`` page: the dashboard's study page in one self-contained file (every chart and
        the trial table, the data embedded; it opens from ``file://``, needs no matplotlib).

        The figure shows the loss per trial with the best-so-far line, the loss against each
        parameter (log axes for log-scaled ones), the trials over time by slot and, when
        trials reported intermediate losses, their learning curves; pruned trials are drawn
        apart, in a muted colour. A choice is drawn against its options' values, not their
        indices; the HTML table adds start, finish, duration and the metrics the objective
        returned. With ``curves=True`` it draws the learning curves alone
        (loss against step per trial, the best in red), larger. Needs matplotlib:
        ``pip install 'asynchpo[plot]'``.

        :raises ValueError: with ``curves=True``, when no trial reported a loss at a step.
        """
        from asynchpo._plot import plot_curves, plot_trials

        if Path(path).suffix.lower() in (".html", ".htm"):
            return self._write_report(Path(path), title)
        if curves:
            return plot_curves(self._records, path)
        return plot_trials(
            self._records,
            self._labels,
            path,
            log_labels=self._log_labels,
            options=self._options,
            directions=self._objectives.directions,
        )

    def _write_report(self, path: Path, title: str) -> Path:
        from asynchpo._dashboard._model import About, Columns, study_json
        from asynchpo._dashboard._report import render_report
        from asynchpo._storage import StudyConfig, StudyRecord
        from asynchpo._summary import summarize

        space = self._space
        if space is None:  # a Trials filled by hand: what the labels tell
            log = set(self._log_labels)
            space = [
                {"label": label, "kind": "loguniform" if label in log else ""}
                for label in self._labels
            ]
        created = min((trial.created for trial in self._records), default=time.time())
        objectives = self._objectives
        config = StudyConfig(space, "", "", 0, directions=objectives.directions)
        record = StudyRecord(0, title, config, created)
        front = tuple(t.id for t in objectives.front(self._records)) if objectives.several else ()
        summary = summarize(record, self._records)
        about = About(title, "", "", None, created, space, summary, front)
        columns = Columns(about.labels, created, self._records)
        page = render_report(study_json(about, columns).decode())
        path.write_text(page, encoding="utf-8")
        return path

    def average_best_error(self, bandit: object = None) -> float:
        """The loss of the best trial (hyperopt's name)."""
        return float(self.best_trial["result"]["loss"])

    def count_by_state_unsynced(self, arg: int | Sequence[int]) -> int:
        """How many trials are in the given hyperopt job state(s), of all the records (an
        interrupted trial is ``JOB_STATE_CANCEL``, a queued one ``JOB_STATE_NEW``)."""
        states = {arg} if isinstance(arg, int) else set(arg)
        return sum(1 for trial in self._records if _JOB_STATES[trial.state] in states)

    count_by_state_synced = count_by_state_unsynced


def generate_trials_to_calculate(points: Sequence[Mapping[str, object]]) -> Trials:
    """A :class:`Trials` that makes :func:`fmin` evaluate ``points`` first (hyperopt's).

    :param points: label -> value dicts, the option index for a choice, as for
        ``points_to_evaluate``. ``fmin`` queues them when it starts (before its own
        ``points_to_evaluate``); a point already in the study is not queued again. Until then
        they are not trials: ``len()`` is 0.
    :raises ConfigError: when ``points`` is not a list of dicts.
    """
    if isinstance(points, Mapping) or not isinstance(points, Sequence):
        raise ConfigError(
            "points must be a list of dicts (label -> value, the option index for a choice), "
            f"got {type(points).__name__}"
        )
    for point in points:
        if not isinstance(point, Mapping):
            raise ConfigError(
                "points must be a list of dicts (label -> value, the option index for a "
                f"choice), got an item {point!r:.80}"
            )
    trials = Trials()
    trials._to_calculate = [dict(point) for point in points]
    return trials
