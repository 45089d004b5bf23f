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
from asynchpo._storage._base import StudyConfig
from asynchpo._trial import Trial, TrialState

__all__ = [
    "APPLICATION_ID",
    "FINISHED_STATES",
    "MIGRATIONS",
    "SCHEMA_DDL",
    "SCHEMA_VERSION",
    "TRIGGER_MESSAGE",
    "Row",
    "decode_config",
    "decode_trial",
    "encode_config",
    "encode_trial",
    "finished_trial_error",
    "study_id_not_found",
    "upsert_sql",
]

#: The version of the layout below. Bump it (and add a migration) whenever the DDL changes.
SCHEMA_VERSION: Final = 3

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
        PRIMARY KEY (study_id, tid)
    ) WITHOUT ROWID
    """

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
        created REAL NOT NULL
    )
    """,
    _TRIALS_DDL.format(table="trials"),
    _TRIGGER_DDL,
)

_TRIAL_COLUMNS: Final = (
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
)

#: Statements that bring a database of the version in the key up to the next version.
MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: ("ALTER TABLE trials ADD COLUMN slot INTEGER",),
    # A new state in the CHECK constraint and the reports column: SQLite cannot change a
    # constraint in place, so the table is rebuilt (its trigger goes with the old table).
    2: (
        _TRIALS_DDL.format(table="trials_v3"),
        f"INSERT INTO trials_v3 ({_V2_COLUMNS}) SELECT {_V2_COLUMNS} FROM trials",
        "DROP TABLE trials",
        "ALTER TABLE trials_v3 RENAME TO trials",
        _TRIGGER_DDL,
    ),
}

#: A trial as stored, in :data:`_TRIAL_COLUMNS` order (the study id is kept separately).
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
]


@lru_cache(maxsize=1024)
def upsert_sql(rows: int) -> str:
    """One statement that inserts or replaces ``rows`` trial records of one study.

    A single statement is atomic in SQLite, so a whole batch costs one round trip.

    :param rows: how many records the statement takes; each takes ``1 + len(Row)`` parameters.
    """
    columns = ("study_id", *_TRIAL_COLUMNS)
    placeholders = "(" + ",".join("?" * len(columns)) + ")"
    updates = ", ".join(f"{c} = excluded.{c}" for c in _TRIAL_COLUMNS[1:])
    return (
        f"INSERT INTO trials ({', '.join(columns)}) VALUES "
        + ",".join([placeholders] * rows)
        + f" ON CONFLICT (study_id, tid) DO UPDATE SET {updates}"
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
    return (
        tid,
        trial.state.value,
        params,
        loss,
        result,
        trial.error,
        trial.created,
        trial.started,
        trial.finished,
        trial.slot,
        _encode_reports(tid, trial.reports),
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
        tid, state, params, loss, result, error, created, started, finished, slot, reports = row
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
