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
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

from asynchpo._exceptions import StorageError, StudyNotFound
from asynchpo._results import clean_text
from asynchpo._storage._base import StudyConfig
from asynchpo._trial import Trial, TrialState

__all__ = [
    "APPLICATION_ID",
    "FINISHED_STATES",
    "MIGRATIONS",
    "NOW_SQL",
    "SCHEMA_DDL",
    "SCHEMA_VERSION",
    "TRIAL_COLUMNS",
    "TRIGGER_MESSAGE",
    "Row",
    "decode_config",
    "decode_trial",
    "encode_config",
    "encode_trial",
    "finished_trial_error",
    "new_trials_sql",
    "study_id_not_found",
    "upsert_sql",
]

#: The version of the layout below. Bump it (and add a migration) whenever the DDL changes.
SCHEMA_VERSION: Final = 4

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

    :param row: a stored row.
    :raises StorageError: if the row cannot be read back (a damaged or foreign file).
    """
    try:
        tid, state, params, loss, result, error, created, started, finished, slot, reports = row[
            :11
        ]
        return Trial(
            id=tid,
            state=_STATES[state],
            params=json.loads(params),
            loss=loss,
            result=json.loads(result),
            error=error,
            created=created,
            started=started,
            finished=finished,
            slot=slot,
            reports=tuple((step, loss) for step, loss in json.loads(reports)),
            driver=row[11] if len(row) > 11 else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StorageError(
            f"a stored trial record cannot be read ({exc!r}); the storage is damaged or was "
            "written by another program"
        ) from exc


def encode_config(config: StudyConfig) -> str:
    """``config`` as JSON text.

    :param config: the study's configuration.
    :raises StorageError: if the space holds a value that JSON cannot represent.
    """
    data = {
        "space": [dict(entry) for entry in config.space],
        "fingerprint": config.fingerprint,
        "algo": config.algo,
        "seed": config.seed,
    }
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


def decode_config(text: str) -> StudyConfig:
    """The configuration stored as ``text`` by :func:`encode_config`.

    :param text: the stored JSON.
    :raises StorageError: if it cannot be read back.
    """
    try:
        data = json.loads(text)
        return StudyConfig(
            space=data["space"],
            fingerprint=data["fingerprint"],
            algo=data["algo"],
            seed=data["seed"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StorageError(
            f"a stored study configuration cannot be read ({exc!r}); the storage is damaged "
            "or was written by another program"
        ) from exc


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
