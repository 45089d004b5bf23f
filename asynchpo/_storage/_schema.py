"""How studies and trials are stored: the SQLite schema and the record codec.

Both storages keep a trial as the same flat row (:data:`Row`), with ``params`` and ``result``
as compact JSON text. :class:`~asynchpo._storage.MemoryStorage` uses the codec too, so that it
accepts and rejects exactly what :class:`~asynchpo._storage.SqliteStorage` does and hands back
records that went through the same JSON round trip.
"""

from __future__ import annotations

import json
import math
import operator
import shlex
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

from asynchpo._exceptions import StorageError, StudyNotFound
from asynchpo._results import clean_text
from asynchpo._storage._base import Driver, StudyConfig, StudyRecord
from asynchpo._trial import Reports, Trial, TrialState

__all__ = [
    "APPLICATION_ID",
    "FINISHED_STATES",
    "MIGRATIONS",
    "NOW_SQL",
    "SCHEMA_DDL",
    "SCHEMA_VERSION",
    "TRIAL_COLUMNS",
    "TRIGGER_MESSAGE",
    "AttachmentRow",
    "DamagedRecord",
    "Row",
    "check_params",
    "check_space_description",
    "damaged_message",
    "decode_attachment",
    "decode_config",
    "decode_driver",
    "decode_study",
    "decode_trial",
    "delete_trial_sql",
    "encode_attachments",
    "encode_config",
    "encode_trial",
    "finished_trial_error",
    "new_trials_sql",
    "study_id_not_found",
    "upsert_sql",
]

#: The version of the layout below. Bump it (and add a migration) whenever the DDL changes.
SCHEMA_VERSION: Final = 5

#: Written to the SQLite header (``PRAGMA application_id``) so that an asynchpo file can be told
#: apart from any other SQLite database without trusting its table names. ASCII ``"AHPO"``.
APPLICATION_ID: Final = 0x4148504F

#: The message of the trigger that guards finished trials; matched to recognise its error.
TRIGGER_MESSAGE: Final = "asynchpo: a finished trial cannot be changed"

#: State values (as stored) of finished trials.
FINISHED_STATES: Final = frozenset(s.value for s in TrialState if s.is_finished)

_STATE_CHECK = ", ".join(f"'{s.value}'" for s in TrialState)
_FINISHED_CHECK = ", ".join(f"'{v}'" for v in sorted(FINISHED_STATES))

# WITHOUT ROWID: the rows live in the primary-key b-tree, so an insert touches one b-tree
# instead of a table and its key index (measured ~15 µs less per single-record write).
_TRIALS_DDL: Final = f"""
    CREATE TABLE {{table}} (
        study_id INTEGER NOT NULL REFERENCES studies (id),
        tid INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ({_STATE_CHECK})),
        params TEXT NOT NULL,
        loss REAL,
        result TEXT NOT NULL,
        error TEXT,
        created REAL NOT NULL,
        started REAL,
        finished REAL,
        slot INTEGER,
        reports TEXT NOT NULL DEFAULT '[]',
        {{extra}}PRIMARY KEY (study_id, tid)
    ) WITHOUT ROWID
    """

# Version 4: the driver that holds (or last held) each trial, and the study version at which
# the row was last written (the change feed reads ``seq > version``).
_V4_TRIAL_COLUMNS: Final = "driver INTEGER,\n        seq INTEGER NOT NULL DEFAULT 0,\n        "

#: SQLite's clock as seconds since the epoch (``unixepoch('subsec')`` needs SQLite 3.42).
NOW_SQL: Final = "((julianday('now') - 2440587.5) * 86400.0)"

#: States that count toward a study's budget (``studies.active``): finished and running.
_ACTIVE_CHECK = ", ".join(
    f"'{s.value}'" for s in TrialState if s.is_finished or s is TrialState.RUNNING
)

# The study's counters (version, next id, finished + running) and the writing driver's lease
# are kept by triggers, so that every statement that changes trials keeps them exact, in the
# same transaction, without a round trip of its own. The lease is renewed at most four times
# per lease period: a write whose driver was seen just before leaves its row alone.
_COUNTER_TRIGGERS_DDL: Final = (
    f"""
    CREATE TRIGGER trials_inserted AFTER INSERT ON trials
    BEGIN
        UPDATE studies SET version = max(version, NEW.seq),
            next_tid = max(next_tid, NEW.tid + 1),
            active = active + (NEW.state IN ({_ACTIVE_CHECK}))
        WHERE id = NEW.study_id;
        UPDATE drivers SET seen = {NOW_SQL}
        WHERE id = NEW.driver AND ended IS NULL AND seen < {NOW_SQL} - lease / 4;
    END
    """,
    f"""
    CREATE TRIGGER trials_updated AFTER UPDATE ON trials
    BEGIN
        UPDATE studies SET version = max(version, NEW.seq),
            active = active + (NEW.state IN ({_ACTIVE_CHECK})) - (OLD.state IN ({_ACTIVE_CHECK}))
        WHERE id = NEW.study_id;
        UPDATE drivers SET seen = {NOW_SQL}
        WHERE id = NEW.driver AND ended IS NULL AND seen < {NOW_SQL} - lease / 4;
    END
    """,
)

_DRIVERS_DDL: Final = """
    CREATE TABLE drivers (
        id INTEGER PRIMARY KEY,
        study_id INTEGER NOT NULL REFERENCES studies (id),
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started REAL NOT NULL,
        seen REAL NOT NULL,
        lease REAL NOT NULL,
        ended REAL
    )
    """

#: The states of trials a driver may take (see ``Storage.take_trial``).
WAITING_CHECK: Final = "state IN ('queued', 'interrupted', 'running')"

_INDEX_DDL: Final = (
    "CREATE INDEX trials_changes ON trials (study_id, seq)",
    # Partial: only waiting and running trials, the few that take_trial looks among.
    f"CREATE INDEX trials_waiting ON trials (study_id, tid) WHERE {WAITING_CHECK}",
    "CREATE INDEX drivers_study ON drivers (study_id)",
)

# Immutability lives in the database rather than in Python so that it costs no extra round
# trip: an aborted statement is undone as a whole, which also keeps batches atomic.
_TRIGGER_DDL: Final = f"""
    CREATE TRIGGER trials_finished_are_final
    BEFORE UPDATE ON trials
    FOR EACH ROW WHEN OLD.state IN ({_FINISHED_CHECK})
    BEGIN
        SELECT RAISE(ABORT, '{TRIGGER_MESSAGE}');
    END
    """

# Version 5: trials' named attachments (hyperopt's ``trial_attachments``), bytes as bytes.
# A plain rowid table (not WITHOUT ROWID): its values may be large blobs.
_ATTACHMENTS_DDL: Final = """
    CREATE TABLE attachments (
        study_id INTEGER NOT NULL REFERENCES studies (id),
        tid INTEGER NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('bytes', 'json')),
        value BLOB NOT NULL,
        PRIMARY KEY (study_id, tid, name)
    )
    """

_V2_COLUMNS: Final = (
    "study_id, tid, state, params, loss, result, error, created, started, finished, slot"
)

#: Statements that create the current schema in an empty database.
SCHEMA_DDL: Final[tuple[str, ...]] = (
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE studies (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        config TEXT NOT NULL,
        created REAL NOT NULL,
        version INTEGER NOT NULL DEFAULT 0,
        next_tid INTEGER NOT NULL DEFAULT 0,
        active INTEGER NOT NULL DEFAULT 0
    )
    """,
    _TRIALS_DDL.format(table="trials", extra=_V4_TRIAL_COLUMNS),
    _TRIGGER_DDL,
    _DRIVERS_DDL,
    *_COUNTER_TRIGGERS_DDL,
    *_INDEX_DDL,
    _ATTACHMENTS_DDL,
)

#: A trial's columns as :data:`Row` holds them, in order.
TRIAL_COLUMNS: Final = (
    "tid",
    "state",
    "params",
    "loss",
    "result",
    "error",
    "created",
    "started",
    "finished",
    "slot",
    "reports",
    "driver",
)

#: Statements that bring a database of the version in the key up to the next version.
MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: ("ALTER TABLE trials ADD COLUMN slot INTEGER",),
    # A new state in the CHECK constraint and the reports column: SQLite cannot change a
    # constraint in place, so the table is rebuilt (its trigger goes with the old table).
    2: (
        _TRIALS_DDL.format(table="trials_v3", extra=""),
        f"INSERT INTO trials_v3 ({_V2_COLUMNS}) SELECT {_V2_COLUMNS} FROM trials",
        "DROP TABLE trials",
        "ALTER TABLE trials_v3 RENAME TO trials",
        _TRIGGER_DDL,
    ),
    3: (
        "ALTER TABLE studies ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE studies ADD COLUMN next_tid INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE studies ADD COLUMN active INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE trials ADD COLUMN driver INTEGER",
        "ALTER TABLE trials ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
        "UPDATE studies SET next_tid = (SELECT coalesce(max(tid) + 1, 0) FROM trials"
        f" WHERE study_id = studies.id), active = (SELECT count(*) FROM trials"
        f" WHERE study_id = studies.id AND state IN ({_ACTIVE_CHECK}))",
        _DRIVERS_DDL,
        *_COUNTER_TRIGGERS_DDL,
        *_INDEX_DDL,
    ),
    4: (_ATTACHMENTS_DDL,),
}

#: A trial as stored, in :data:`TRIAL_COLUMNS` order (the study id is kept separately).
Row = tuple[
    int,
    str,
    str,
    float | None,
    str,
    str | None,
    float,
    float | None,
    float | None,
    int | None,
    str,
    int | None,
]


def _placeholders(first: int, count: int) -> str:
    return "(" + ",".join(f"?{n}" for n in range(first, first + count)) + ")"


@lru_cache(maxsize=1024)
def upsert_sql(rows: int) -> str:
    """One statement that inserts or replaces ``rows`` trial records of one study.

    A single statement is atomic in SQLite, so a whole batch costs one round trip. Parameter
    1 is the study id, then ``len(Row)`` per record. Every row gets the study's next version
    as its ``seq``; a record is only stored over a trial held by the same driver (or by none):
    the ids it returns are those stored, so the others were refused (fencing).

    :param rows: how many records the statement takes.
    """
    width = len(TRIAL_COLUMNS)
    values = ",".join(_placeholders(2 + i * width, width) for i in range(rows))
    sources = ", ".join(f"v.column{i + 1}" for i in range(width))
    updates = ", ".join(f"{c} = excluded.{c}" for c in (*TRIAL_COLUMNS[1:], "seq"))
    return (
        "WITH s AS MATERIALIZED (SELECT version + 1 AS seq FROM studies WHERE id = ?1)"
        f" INSERT INTO trials (study_id, {', '.join(TRIAL_COLUMNS)}, seq)"
        f" SELECT ?1, {sources}, s.seq FROM (VALUES {values}) AS v, s WHERE true"
        f" ON CONFLICT (study_id, tid) DO UPDATE SET {updates}"
        " WHERE trials.driver IS NULL OR trials.driver IS excluded.driver"
        " RETURNING tid, seq"
    )


@lru_cache(maxsize=256)
def new_trials_sql(rows: int) -> str:
    """One statement that stores ``rows`` new ``RUNNING`` trials with the study's next ids.

    Parameters: 1 the study id, 2 the driver, 3 ``max_evals`` (or NULL), then per trial its
    params, created, started and slot. Trials past the budget are not inserted; those stored
    are a prefix of the ones given, numbered from the study's next id.
    """
    values = ",".join(
        f"({i}, " + ",".join(f"?{4 + i * 4 + k}" for k in range(4)) + ")" for i in range(rows)
    )
    return (
        "WITH s AS MATERIALIZED (SELECT id, next_tid, active, version + 1 AS seq FROM studies"
        " WHERE id = ?1)"
        f" INSERT INTO trials (study_id, {', '.join(TRIAL_COLUMNS)}, seq)"
        " SELECT s.id, s.next_tid + v.column1, 'running', v.column2, NULL, '{}', NULL,"
        " v.column3, v.column4, NULL, v.column5, '[]', ?2, s.seq"
        f" FROM s, (VALUES {values}) AS v"
        " WHERE ?3 IS NULL OR s.active + v.column1 < ?3"
        " RETURNING tid, seq"
    )


# One encoder reused for every record: ``json.dumps`` with non-default options would build a
# new encoder on each call, which is a measurable part of a write.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_STATES: Final = {s.value: s for s in TrialState}
_JSON_TYPES_HINT: Final = (
    "store only str, int, finite float, bool, None, list and dict with str keys "
    "(for a numpy scalar use .item())"
)


def encode_trial(trial: Trial) -> Row:
    """The stored row of ``trial``.

    :param trial: the record to store.
    :raises StorageError: if the id is not an integer, the loss is not a number or is NaN, or
        ``params`` or ``result`` hold a value that JSON cannot represent.
    """
    tid = trial.id
    if type(tid) is not int:
        try:
            tid = operator.index(tid)
        except TypeError as exc:
            raise StorageError(
                f"cannot store a trial whose id is {tid!r} ({type(tid).__name__}); "
                "trial ids are integers"
            ) from exc
    params = _to_json(tid, "params", trial.params)
    result = _to_json(tid, "result", trial.result)
    loss = trial.loss
    if loss is not None:
        try:
            loss = float(loss)
        except (TypeError, ValueError) as exc:
            raise StorageError(
                f"cannot store trial {tid}: its loss {loss!r} is not a number"
            ) from exc
        if math.isnan(loss):
            # SQLite turns NaN into NULL, so it would come back as "no loss".
            raise StorageError(
                f"cannot store trial {tid}: its loss is NaN; record such a trial as FAIL "
                "with loss=None instead"
            )
    error = trial.error
    if isinstance(error, str):
        # SQLite takes only text UTF-8 can encode: a lone surrogate (from undecodable bytes in
        # a file name, say) is stored as its escape, e.g. "\\udcff".
        error = clean_text(error)
    return (
        tid,
        trial.state.value,
        params,
        loss,
        result,
        error,
        trial.created,
        trial.started,
        trial.finished,
        trial.slot,
        _encode_reports(tid, trial.reports),
        trial.driver,
    )


def _encode_reports(tid: int, reports: Sequence[tuple[int, float]]) -> str:
    if not reports:
        return "[]"
    try:
        return _ENCODER.encode([[int(step), float(loss)] for step, loss in reports])
    except (TypeError, ValueError) as exc:
        raise StorageError(
            f"cannot store trial {tid}: its reports must be (step, finite loss) pairs ({exc})"
        ) from exc


def decode_trial(row: Sequence[Any]) -> Trial:
    """The trial stored as ``row`` (the columns of :data:`Row`, in order).

    Every column is checked, so that a damaged row (edited by hand, written by another
    program) is refused here, naming the trial and what is wrong, rather than failing later
    wherever the value is first used.

    :param row: a stored row.
    :raises DamagedRecord: if the row cannot be read back.
    """
    if len(row) < 11:
        raise DamagedRecord(f"a trial row has {len(row)} columns instead of {len(TRIAL_COLUMNS)}")
    tid, state, params, loss, result, error, created, started, finished, slot, reports = row[:11]
    driver = row[11] if len(row) > 11 else None
    if type(tid) is not int:
        raise DamagedRecord(f"a trial's id is {_shown(tid)}, not a whole number")
    kind = _STATES.get(state) if isinstance(state, str) else None
    if kind is None:
        raise DamagedRecord(
            f"the state is {_shown(state)}, not one of {', '.join(_STATES)}", trial=tid
        )
    point = _json_object(tid, "params", params)
    for label, value in point.items():
        if not _is_number(value):
            raise DamagedRecord(
                f"the params hold {_shown(value)} for label {label!r}, not a finite number",
                trial=tid,
            )
    if loss is not None and not (_is_number(loss) or (type(loss) is float and loss == loss)):
        raise DamagedRecord(f"the loss is {_shown(loss)}, not a number", trial=tid)
    stored_result = _json_object(tid, "result", result)
    if error is not None and not isinstance(error, str):
        raise DamagedRecord(f"the error is {_shown(error)}, not text", trial=tid)
    for column, moment in (("created", created), ("started", started), ("finished", finished)):
        if not (_is_time(moment) or (moment is None and column != "created")):
            raise DamagedRecord(
                f"the {column} time is {_shown(moment)}, not seconds since 1970", trial=tid
            )
    for column, number in (("slot", slot), ("driver", driver)):
        if number is not None and type(number) is not int:
            raise DamagedRecord(f"the {column} is {_shown(number)}, not a whole number", trial=tid)
    return Trial(
        id=tid,
        state=kind,
        params=point,
        loss=loss,
        result=stored_result,
        error=error,
        created=created,
        started=started,
        finished=finished,
        slot=slot,
        reports=_decode_reports(tid, reports),
        driver=driver,
    )


class DamagedRecord(StorageError):
    """A stored row that cannot be read back: what is wrong, and which trial (if a trial's).

    Raised by the decoders, which do not know the study's name or the file; the study that
    read the row turns it into the full message with :meth:`located`.
    """

    def __init__(self, what: str, *, trial: int | None = None, study: str | None = None) -> None:
        self.what = what
        self.trial = trial
        self.study = study
        super().__init__(damaged_message(what, study=study, trial=trial))

    def located(self, study: str | None, study_id: int | None, where: str | None) -> StorageError:
        """The error to raise, naming the study (unless the row named its own) and the file."""
        return StorageError(
            damaged_message(
                self.what,
                study=study if self.study is None else self.study,
                study_id=study_id,
                trial=self.trial,
                where=where,
            )
        )


def damaged_message(
    what: str,
    *,
    study: str | None = None,
    study_id: int | None = None,
    trial: int | None = None,
    where: str | None = None,
) -> str:
    """One line: the storage is damaged, what is wrong, where, and what to do."""
    text = f"the storage is damaged: {what}"
    if study is not None:
        text += f", in study {study!r}" + ("" if trial is None else f" trial {trial}")
    elif trial is not None:
        text += f", in trial {trial}"
    if where is not None:
        text += f" ({where})"
    text += "; restore the file from a backup"
    if trial is not None and study_id is not None and where is not None:
        text += (
            ", or delete the trial (the study then goes on without it) with: sqlite3 "
            f'{shlex.quote(where)} "{delete_trial_sql(study_id, trial)}"'
        )
    return text


def delete_trial_sql(study_id: int, trial: int) -> str:
    """SQL that deletes a (damaged) trial and recounts the study's budget counter, which the
    triggers keep on insert and update only; no quotes but single ones, for a shell."""
    return (
        f"DELETE FROM trials WHERE study_id = {study_id} AND tid = {trial}; UPDATE studies SET"
        f" active = (SELECT count(*) FROM trials WHERE study_id = {study_id} AND state IN"
        f" ({_ACTIVE_CHECK})) WHERE id = {study_id}"
    )


def _shown(value: object) -> str:
    """A stored value for a message: its repr, cut short, and its kind."""
    if isinstance(value, bytes | bytearray):
        return f"a blob of {len(value)} bytes"
    if value is None:
        return "NULL"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({_KINDS.get(type(value), type(value).__name__)})"


_KINDS: Final[dict[type, str]] = {
    str: "text",
    int: "an integer",
    float: "a float",
    bool: "a boolean",
    list: "a JSON list",
    dict: "a JSON object",
}


def _is_number(value: object) -> bool:
    """An int or finite float, as JSON and SQLite give them (a bool is not a number here)."""
    if type(value) is int:
        try:
            return math.isfinite(value)
        except OverflowError:
            return False
    return type(value) is float and math.isfinite(value)


# Times are shown as dates: beyond these, datetime cannot represent them.
_LATEST_TIME: Final = 32503680000.0  # 3000-01-01


def _is_time(value: object) -> bool:
    """Seconds since the epoch that a date can show."""
    return _is_number(value) and 0 <= value < _LATEST_TIME  # type: ignore[operator]


def _no_constant(name: str) -> Any:
    # asynchpo writes JSON with allow_nan=False: NaN or Infinity was not written by it.
    raise ValueError(f"{name} is not JSON")


def _json_value(tid: int | None, column: str, text: object) -> Any:
    if not isinstance(text, str):
        raise DamagedRecord(f"the {column} is {_shown(text)}, not JSON text", trial=tid)
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise DamagedRecord(
            f"the {column} {_shown(text)} is not valid JSON ({reason})", trial=tid
        ) from None


def _json_object(tid: int, column: str, text: object) -> dict[str, Any]:
    value = _json_value(tid, column, text)
    if not isinstance(value, dict):
        raise DamagedRecord(
            f"the {column} are {_shown(value)}, not a JSON object"
            if column == "params"
            else f"the {column} is {_shown(value)}, not a JSON object",
            trial=tid,
        )
    return value


def _decode_reports(tid: int, text: object) -> Reports:
    value = _json_value(tid, "reports", text)
    if not isinstance(value, list):
        raise DamagedRecord(f"the reports are {_shown(value)}, not a JSON list", trial=tid)
    out: list[tuple[int, float]] = []
    for pair in value:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or type(pair[0]) is not int
            or not _is_number(pair[1])
        ):
            raise DamagedRecord(
                f"the reports hold {_shown(pair)}, not a [step, loss] pair", trial=tid
            )
        if out and pair[0] <= out[-1][0]:
            raise DamagedRecord(
                f"the reports go from step {out[-1][0]} to step {pair[0]}; steps must increase",
                trial=tid,
            )
        out.append((pair[0], float(pair[1])))
    return tuple(out)


def encode_config(config: StudyConfig) -> str:
    """``config`` as JSON text.

    :param config: the study's configuration.
    :raises StorageError: if the space holds a value that JSON cannot represent.
    """
    data: dict[str, Any] = {
        "space": [dict(entry) for entry in config.space],
        "fingerprint": config.fingerprint,
        "algo": config.algo,
        "seed": config.seed,
    }
    if tuple(config.directions) != ("minimize",):
        # Only when not hyperopt's single minimised loss: older studies read back unchanged.
        data["directions"] = list(config.directions)
    try:
        return _ENCODER.encode(data)
    except (TypeError, ValueError, RecursionError) as exc:
        where, why = next(
            (found for key, value in data.items() if (found := _locate_unstorable(value, key))),
            ("the configuration", "a value"),
        )
        raise StorageError(
            f"cannot store the study configuration: {where} holds {why}, which JSON cannot "
            f"represent; {_JSON_TYPES_HINT}"
        ) from exc


def decode_config(text: object, *, study: str | None = None) -> StudyConfig:
    """The configuration stored as ``text`` by :func:`encode_config`, checked.

    :param text: the stored JSON.
    :param study: the study's name, for the message.
    :raises DamagedRecord: if it cannot be read back.
    """

    def damaged(what: str) -> DamagedRecord:
        return DamagedRecord(f"the configuration {what}", study=study)

    if not isinstance(text, str):
        raise damaged(f"is {_shown(text)}, not JSON text")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise damaged(f"is not valid JSON ({reason})") from None
    if not isinstance(data, dict):
        raise damaged(f"is {_shown(data)}, not a JSON object")
    missing = [key for key in ("space", "fingerprint", "algo", "seed") if key not in data]
    if missing:
        raise damaged(f"lacks {', '.join(map(repr, missing))}")
    space, fingerprint, algo, seed = data["space"], data["fingerprint"], data["algo"], data["seed"]
    if not isinstance(space, list):
        raise damaged(f"has a space of {_shown(space)}, not a JSON list")
    for index, entry in enumerate(space):
        if not isinstance(entry, dict):
            raise damaged(f"has a space entry {index} that is {_shown(entry)}, not a JSON object")
    if not isinstance(fingerprint, str):
        raise damaged(f"has a fingerprint of {_shown(fingerprint)}, not text")
    if not isinstance(algo, str):
        raise damaged(f"has an algo of {_shown(algo)}, not text")
    if type(seed) is not int or seed < 0:
        raise damaged(f"has a seed of {_shown(seed)}, not a whole number >= 0")
    directions = data.get("directions", ["minimize"])
    if (
        not isinstance(directions, list)
        or not directions
        or not all(d in ("minimize", "maximize") for d in directions)
    ):
        raise damaged(
            f"has the directions {_shown(directions)}, not a list of 'minimize' or 'maximize'"
        )
    return StudyConfig(
        space=space, fingerprint=fingerprint, algo=algo, seed=seed, directions=tuple(directions)
    )


def check_space_description(config: StudyConfig, *, study: str | None = None) -> None:
    """Check a study's stored space description as a study relies on it (the entries of
    ``Space.describe``; the storage itself keeps any JSON objects).

    :raises DamagedRecord: naming the entry and what is wrong with it.
    """
    labels: set[str] = set()
    for index, entry in enumerate(config.space):
        problem = _space_entry_problem(entry, labels)
        if problem is not None:
            raise DamagedRecord(
                f"the configuration has a space entry {index} that {problem}", study=study
            )
        labels.add(entry["label"])


def _space_entry_problem(entry: object, labels: set[str]) -> str | None:
    """What is wrong with one stored space entry (see ``Space.describe``), or ``None``."""
    if not isinstance(entry, dict):
        return f"is {_shown(entry)}, not a JSON object"
    for key in ("label", "kind", "args", "parents"):
        if key not in entry:
            return f"lacks {key!r}"
    label, kind, args, parents = entry["label"], entry["kind"], entry["args"], entry["parents"]
    if not isinstance(label, str) or label in labels:
        return f"has the label {_shown(label)}, not a new text label"
    if not isinstance(kind, str):
        return f"has the kind {_shown(kind)}, not text"
    if not isinstance(args, list) or not all(_is_number(a) for a in args):
        return f"has the args {_shown(args)}, not a list of numbers"
    if not isinstance(parents, list) or not all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and type(p[1]) is int
        for p in parents
    ):
        return f"has the parents {_shown(parents)}, not [label, option] pairs"
    options = entry.get("options")
    if options is not None and (type(options) is not int or options < 1):
        return f"has {_shown(options)} options, not a whole number >= 1"
    values = entry.get("values")
    if values is not None and (not isinstance(values, list) or len(values) != options):
        return f"has the option values {_shown(values)}, not a list of one per option"
    return None


def decode_study(row: Sequence[Any]) -> StudyRecord:
    """The study stored as ``row`` (id, name, config, created), checked.

    :raises DamagedRecord: if the row cannot be read back.
    """
    study_id, name, config_text, created = row
    if not isinstance(name, str):
        raise DamagedRecord(f"study {study_id} has the name {_shown(name)}, not text")
    config = decode_config(config_text, study=name)
    if not _is_time(created):
        raise DamagedRecord(
            f"the study's created time is {_shown(created)}, not seconds since 1970", study=name
        )
    return StudyRecord(id=study_id, name=name, config=config, created=created)


def decode_driver(row: Sequence[Any]) -> Driver:
    """The driver stored as ``row`` (the columns of :class:`Driver`, in order), checked.

    :raises DamagedRecord: if the row cannot be read back.
    """
    driver_id, study_id, host, pid, started, seen, lease, ended = row
    problem = None
    if not isinstance(host, str):
        problem = f"the host {_shown(host)}, not text"
    elif type(pid) is not int:
        problem = f"the pid {_shown(pid)}, not a whole number"
    elif not (_is_number(lease) and lease > 0):
        problem = f"a lease of {_shown(lease)}, not a number of seconds"
    else:
        for column, moment in (("started", started), ("seen", seen), ("ended", ended)):
            if not (_is_time(moment) or (moment is None and column == "ended")):
                problem = f"the {column} time {_shown(moment)}, not seconds since 1970"
                break
    if problem is not None:
        raise DamagedRecord(
            f"driver {driver_id} has {problem} (delete the row with: DELETE FROM drivers WHERE "
            f"id = {driver_id}; its trials then run again)"
        )
    return Driver(driver_id, study_id, host, pid, started, seen, lease, ended)


def check_params(space: Sequence[Mapping[str, Any]], trial: Trial) -> None:
    """Check a stored trial's params against the study's stored space description, as far as
    a reader without the compiled space relies on it: every label is one of the space's, and a
    choice's value is one of its option indices.

    :param space: the study's stored space description (``StudyConfig.space``).
    :param trial: a decoded trial.
    :raises DamagedRecord: naming the trial and the label.
    """
    entries = {entry["label"]: entry for entry in space}
    for label, value in trial.params.items():
        entry = entries.get(label)
        if entry is None:
            raise DamagedRecord(
                f"the params give label {label!r}, which the study's space does not have",
                trial=trial.id,
            )
        if entry.get("kind") in ("choice", "pchoice"):
            options = entry.get("options")
            count = options if isinstance(options, int) else 0
            if type(value) is not int or not 0 <= value < count:
                raise DamagedRecord(
                    f"the params give {_shown(value)} for label {label!r}, not one of its "
                    f"option indices (0 to {count - 1})",
                    trial=trial.id,
                )


#: An attachment as stored: its name, its kind (``"bytes"`` or ``"json"``) and its value.
AttachmentRow = tuple[str, str, bytes]


def encode_attachments(tid: int, attachments: Mapping[str, Any]) -> list[AttachmentRow]:
    """The stored rows of trial ``tid``'s named attachments: ``bytes`` (and ``bytearray``,
    ``memoryview``) are kept as they are, anything else as compact JSON text.

    :raises StorageError: if a name is not a string, or a value is neither bytes nor a value
        JSON can represent.
    """
    if not isinstance(attachments, Mapping):
        raise StorageError(
            f"cannot store the attachments of trial {tid}: they must be a dict of name -> "
            f"value, got {type(attachments).__name__}"
        )
    rows: list[AttachmentRow] = []
    for name, value in attachments.items():
        if not isinstance(name, str):
            raise StorageError(
                f"cannot store the attachments of trial {tid}: the name {name!r} is not a "
                "string; name each attachment with a string"
            )
        if isinstance(value, bytes | bytearray | memoryview):
            rows.append((clean_text(name), "bytes", bytes(value)))
            continue
        try:
            text = _ENCODER.encode(value)
        except (TypeError, ValueError, RecursionError) as exc:
            where, why = _locate_unstorable(value, f"attachment {name!r}") or (name, "a value")
            raise StorageError(
                f"cannot store the attachments of trial {tid}: {where} holds {why}, which "
                f"neither bytes nor JSON can represent; pickle it to bytes, or {_JSON_TYPES_HINT}"
            ) from exc
        rows.append((clean_text(name), "json", text.encode("utf-8")))
    return rows


def decode_attachment(tid: int, name: object, kind: object, value: object) -> Any:
    """The attachment stored as ``(name, kind, value)`` for trial ``tid``: bytes as bytes,
    JSON as the value it holds.

    :raises DamagedRecord: if the row cannot be read back.
    """
    if not isinstance(value, bytes):
        raise DamagedRecord(f"the attachment {name!r} is {_shown(value)}, not a blob", trial=tid)
    if kind == "bytes":
        return value
    if kind == "json":
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise DamagedRecord(
                f"the attachment {name!r} is marked JSON but is not UTF-8 text", trial=tid
            ) from None
        return _json_value(tid, f"attachment {name!r}", text)
    raise DamagedRecord(
        f"the attachment {name!r} has the kind {_shown(kind)}, not 'bytes' or 'json'", trial=tid
    )


def finished_trial_error(
    study_id: int, offenders: Iterable[tuple[int, str]], batch_size: int
) -> StorageError:
    """The error for a batch that would change finished trials.

    :param study_id: the study written to.
    :param offenders: ``(trial id, stored state value)`` of each finished trial the batch hit.
    :param batch_size: how many records the rejected batch had.
    """
    first_state = dict(reversed(list(offenders)))  # one mention per trial, its first hit
    listed = ", ".join(f"{tid} ({state})" for tid, state in first_state.items()) or "unknown"
    return StorageError(
        f"cannot write to study {study_id}: trial(s) {listed} already finished, and a finished "
        f"trial never changes; nothing of this batch of {batch_size} record(s) was stored"
    )


def study_id_not_found(study_id: int, where: str) -> StudyNotFound:
    """The error for a study id that does not exist in the storage.

    :param study_id: the unknown id.
    :param where: the storage, as it should be named in the message.
    """
    return StudyNotFound(
        f"there is no study with id {study_id} in {where}; take the id from the StudyRecord "
        "that create_study() or get_study() returns"
    )


def _to_json(tid: int, field: str, value: Mapping[str, Any]) -> str:
    # The encoder only knows dict; a read-only Mapping (e.g. MappingProxyType) is copied.
    data = value if type(value) is dict else dict(value)
    try:
        return _ENCODER.encode(data)
    except (TypeError, ValueError, RecursionError) as exc:
        where, why = _locate_unstorable(data, field) or (field, "a value")
        raise StorageError(
            f"cannot store trial {tid}: {where} holds {why}, which JSON cannot represent; "
            f"{_JSON_TYPES_HINT}"
        ) from exc


def _locate_unstorable(value: object, path: str) -> tuple[str, str] | None:
    """Where in ``value`` JSON fails, as ``(path, description)``; only run after a failure."""
    try:
        return _find_unstorable(value, path, set())
    except RecursionError:
        return path, "data nested too deeply"


def _find_unstorable(value: object, path: str, active: set[int]) -> tuple[str, str] | None:
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"the float {value!r}")
    if isinstance(value, dict | list | tuple):
        if id(value) in active:
            return path, "a reference to itself"
        active.add(id(value))
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}[{key!r}]"
                if not isinstance(key, str | int | float | bool) and key is not None:
                    return where, f"a key of type {type(key).__name__}"
                found = _find_unstorable(item, where, active)
                if found is not None:
                    return found
        else:
            for index, item in enumerate(value):
                found = _find_unstorable(item, f"{path}[{index}]", active)
                if found is not None:
                    return found
        active.discard(id(value))
        return None
    return path, f"a value of type {type(value).__name__}"
