"""What the dashboard sends: a study's trials as rows of JSON, kept current record by record,
and the JSON of summaries, studies and single trials. Pure bookkeeping: no I/O, no event loop.

The page receives a study once (every trial, one row each: 100,000 trials are about 12 MB that
the browser parses at once) and then, every second, only the trials that changed since the
cursor it holds (:meth:`Columns.changed_since`), so an update costs what changed, not the
study. The record of what changed is one list of trial ids in the order they were taken in: a
cursor is a position in it, offset by a number drawn when the server starts, so that a page that
outlives its server asks for everything again instead of merging the wrong changes.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from asynchpo import Study, StudySummary, Trial, json_safe

__all__ = [
    "MAX_CURVES",
    "About",
    "Columns",
    "changes_json",
    "error_line",
    "param_columns",
    "study_json",
    "summary_json",
    "trial_payload",
    "trial_row",
]

#: The most learning curves a page holds: the best 50 reporting trials and the latest others.
MAX_CURVES: Final = 500
_BEST_CURVES: Final = 50
#: The most characters of a metric shown in a table cell, or of an error's line.
_CELL: Final = 200
_LOG_KINDS: Final = frozenset({"loguniform", "qloguniform", "lognormal", "qlognormal"})
_CHOICE_KINDS: Final = frozenset({"choice", "pchoice"})


class Columns:
    """The latest record of each trial of one study, each as its row of the page's JSON, and
    the order in which they changed.

    Give it every record the study reads (``study.watch(columns.take)``); :attr:`cursor` grows
    by one per record taken, and :meth:`changed_since` answers from the position of a cursor.
    A trial's row is encoded once per record, so the page of a study that grows costs the
    encoding of its new trials, and joining the rest.
    """

    def __init__(self, labels: Sequence[str], t0: float, records: Iterable[Trial] = ()) -> None:
        self.labels = tuple(labels)
        self.t0 = t0
        self._records: dict[int, Trial] = {}
        self._rows: dict[int, bytes] = {}
        self._reporting: set[int] = set()
        self._changed: list[int] = []  # trial ids, one per record taken, in order
        # Cursors from another server (or an earlier one) fall outside this one's range.
        self._base = secrets.randbelow(2**40) * 2**12
        for record in records:
            self.take(record)

    def take(self, record: Trial) -> None:
        """Keep ``record`` as its trial's latest."""
        self._records[record.id] = record
        self._rows.pop(record.id, None)
        if record.reports:
            self._reporting.add(record.id)
        else:
            self._reporting.discard(record.id)
        self._changed.append(record.id)

    @property
    def cursor(self) -> int:
        """Where a page that has every record taken so far stands."""
        return self._base + len(self._changed)

    def records(self) -> list[Trial]:
        """Every trial's latest record, by id."""
        return [self._records[key] for key in sorted(self._records)]

    def reporting(self) -> list[Trial]:
        """The trials that reported, by id."""
        return [self._records[key] for key in sorted(self._reporting)]

    def get(self, trial_id: int) -> Trial | None:
        """Trial ``trial_id``'s latest record, if there is one."""
        return self._records.get(trial_id)

    def changed_since(self, cursor: int) -> list[Trial] | None:
        """The latest records of the trials that changed after ``cursor``, by id; ``None`` for
        a cursor this object did not hand out (the page must start again)."""
        at = cursor - self._base
        if not 0 <= at <= len(self._changed):
            return None
        return [self._records[key] for key in sorted(set(self._changed[at:]))]

    def rows(self, records: Iterable[Trial] | None = None) -> bytes:
        """The JSON of the trials part of a payload: ``records`` (default: every trial)."""
        cache = self._rows
        encoded = []
        for trial in self.records() if records is None else records:
            row = cache.get(trial.id)
            if row is None or self._records.get(trial.id) is not trial:
                row = encode(trial_row(trial, self.labels, self.t0))
                if self._records.get(trial.id) is trial:
                    cache[trial.id] = row
            encoded.append(row)
        head = encode({"t0": self.t0, "labels": list(self.labels)})
        return head[:-1] + b',"rows":[' + b",".join(encoded) + b"]}"


# --- JSON ----------------------------------------------------------------------------------


def summary_json(summary: StudySummary) -> dict[str, Any]:
    """A study's summary as the pages read it (see ``docs/dashboard.md``)."""
    return {
        "name": summary.name,
        "algo": summary.algo,
        "created": summary.created,
        "last_activity": summary.last_activity,
        "counts": dict(summary.counts),
        "total": summary.total,
        "best_loss": _number(summary.best_loss),
        "best_trial": summary.best_trial,
        "directions": list(summary.directions),
        "front": summary.front,
        "live": summary.live,
        "stale": summary.stale,
        "stale_seen": summary.stale_seen,
        "drivers": [
            {
                "id": driver.id,
                "host": driver.host,
                "pid": driver.pid,
                "running": running,
                "started": driver.started,
                "seen": driver.seen,
            }
            for driver, running in summary.drivers
        ],
    }


def param_columns(description: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each parameter of a stored space description: its label, kind, whether its axis is
    logarithmic, and for a choice the text of each option (its column holds option indices)."""
    out = []
    for entry in description:
        kind = str(entry.get("kind", ""))
        values = entry.get("values")
        options = None
        if kind in _CHOICE_KINDS:
            count = entry.get("options")
            if isinstance(values, list):
                options = [option_text(value) for value in values]
            elif isinstance(count, int):  # described before options were
                options = [str(index) for index in range(count)]
        out.append(
            {
                "label": str(entry["label"]),
                "kind": kind,
                "log": kind in _LOG_KINDS,
                "options": options,
            }
        )
    return out


def option_text(value: object) -> str:
    """How an option reads on an axis or in a cell: a string as itself, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def error_line(error: str | None) -> str | None:
    """The line of an error a table shows: a traceback's last line (the exception), else the
    first line; at most 200 characters."""
    if error is None:
        return None
    lines = [line for line in error.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return _cut(line.strip())


def trial_row(trial: Trial, labels: Sequence[str], t0: float) -> list[Any]:
    """A trial as a row of the page's JSON: ``[id, state, loss, started, finished, [values
    by label], {metrics} or null, error line or null, reports]``, times in seconds after
    ``t0`` (to the millisecond), parameter and metric numbers to 9 significant digits.

    A trial of several objectives, or with constraints, has two more: ``[values] or null``
    (the objective's values, one per objective, as it returned them; ``loss`` is ``null``
    then) and ``[constraints] or null``."""
    params = trial.params
    metrics = trial.metrics
    values = trial.values
    constraints = trial.constraints
    extra: list[Any] = []
    if (values is not None and len(values) > 1) or constraints:
        extra = [
            None if values is None else [_number(v) for v in values],
            [_number(v) for v in constraints] if constraints else None,
        ]
    return [
        trial.id,
        trial.state.value,
        _number(trial.loss),
        None if trial.started is None else round(trial.started - t0, 3),
        None if trial.finished is None else round(trial.finished - t0, 3),
        [_short(params.get(label)) for label in labels],
        {key: _cell(value) for key, value in metrics.items()} if metrics else None,
        error_line(trial.error),
        len(trial.reports),
        *extra,
    ]


def curves(records: Sequence[Trial], *, limit: int = MAX_CURVES) -> dict[str, Any]:
    """The learning curves of at most ``limit`` of ``records``: of the trials that report, the
    50 successful ones with the lowest loss (the best among them) and the most recent others."""
    reporting = [trial for trial in records if trial.reports]
    if len(reporting) > limit:
        by_loss = sorted(
            (trial for trial in reporting if trial.ok and trial.loss is not None),
            key=lambda trial: (trial.loss, trial.id),
        )
        chosen = {trial.id for trial in by_loss[: min(_BEST_CURVES, limit)]}
        for trial in reversed(reporting):
            if len(chosen) >= limit:
                break
            chosen.add(trial.id)
        reporting = [trial for trial in reporting if trial.id in chosen]
    return {
        "trials": {
            str(trial.id): [[step, _number(loss)] for step, loss in trial.reports]
            for trial in reporting
        },
        "max": limit,
    }


@dataclasses.dataclass(frozen=True, slots=True)
class About:
    """What the study page says of a study besides its trials."""

    name: str
    storage: str
    algo: str
    seed: int | None
    created: float
    space: Sequence[Mapping[str, Any]]  # the stored space description
    summary: StudySummary
    #: With several objectives, the ids of the trials of the Pareto front.
    front: tuple[int, ...] = ()

    @classmethod
    def of(cls, study: Study, storage: str) -> About:
        """A stored study's, as of its last read."""
        return cls(
            name=study.name,
            storage=storage,
            algo=study.config.algo,
            seed=study.seed,
            created=study.record.created,
            space=study.config.space,
            summary=study.summary(),
            front=tuple(t.id for t in study.best_trials) if len(study.directions) > 1 else (),
        )

    @property
    def directions(self) -> list[str]:
        return list(self.summary.directions)

    @property
    def labels(self) -> list[str]:
        return [str(entry["label"]) for entry in self.space]


def study_json(about: About, columns: Columns) -> bytes:
    """Everything the study page draws, as JSON: the study, its directions, its summary, the
    ids of its Pareto front (several objectives), every trial (rows, see :func:`trial_row`)
    and the learning curves."""
    head = encode(
        {
            "name": about.name,
            "storage": about.storage,
            "algo": about.algo,
            "seed": about.seed,
            "created": about.created,
            "directions": about.directions,
            "params": param_columns(about.space),
            "summary": summary_json(about.summary),
            "front": list(about.front),
            "cursor": columns.cursor,
            "curves": curves(columns.reporting()),
        }
    )
    return head[:-1] + b',"trials":' + columns.rows() + b"}"


def changes_json(about: About, columns: Columns, records: Sequence[Trial]) -> bytes:
    """What changed, as JSON: the summary now and the latest records of the trials that
    changed (``records``), with their learning curves."""
    head = encode(
        {
            "cursor": columns.cursor,
            "summary": summary_json(about.summary),
            "front": list(about.front),
            "curves": curves([trial for trial in records if trial.reports]),
        }
    )
    return head[:-1] + b',"trials":' + columns.rows(records) + b"}"


def trial_payload(study: Study, trial: Trial, log: Mapping[str, Any]) -> dict[str, Any]:
    """One trial as its page shows it: every value, the whole result and error, its reports,
    and ``log`` (``{"log": ..., "log_note": ...}``, see :func:`~._logs.log_tail`)."""
    return {
        "study": study.name,
        "id": trial.id,
        "state": trial.state.value,
        "loss": _number(trial.loss),
        "values": None if trial.values is None else [_number(v) for v in trial.values],
        "constraints": [_number(v) for v in trial.constraints],
        "created": trial.created,
        "started": trial.started,
        "finished": trial.finished,
        "duration": trial.duration,
        "slot": trial.slot,
        "driver": trial.driver,
        "params": json_safe(trial.shown_params(study.options)),
        "point": json_safe(dict(trial.params)),
        "result": json_safe(dict(trial.result)),
        "error": trial.error,
        "reports": [[step, _number(loss)] for step, loss in trial.reports],
        **log,
    }


def gzip_body(body: bytes) -> bytes:
    """``body`` compressed for a response. Level 5: the JSON of 100,000 trials shrinks about
    eight times, several times faster than at level 9."""
    return gzip.compress(body, compresslevel=5, mtime=0)


def encode(payload: Any) -> bytes:
    """``payload`` as strict JSON (a float JSON cannot hold, NaN or infinite, is refused)."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


# --- values --------------------------------------------------------------------------------


def _number(value: object) -> Any:
    """A number JSON holds as itself; a NaN or an infinity as its text."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _short(value: object) -> Any:
    """A parameter's value for a chart or a cell: a float to 9 significant digits."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.9g}")
    return _number(value)


def _cell(value: object) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return _cut(value) if isinstance(value, str) else value
    if isinstance(value, float):
        return _short(value)
    return _cut(json.dumps(json_safe(value), ensure_ascii=False, default=str))


def _cut(text: str) -> str:
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"
