"""How studies and trials are stored in PostgreSQL: the schema and the statements.

The records are the same flat rows as SQLite's (``_schema.Row``, JSON as text, so that both
storages accept, refuse and hand back exactly the same values). What differs is concurrency:
SQLite has one writer at a time, PostgreSQL locks rows. So every statement that changes the
trials of a study first locks and bumps that study's row (``UPDATE studies ... RETURNING
version``), and stamps the rows it writes with the version it got: writers of one study take
turns, versions follow the order of commits, and a reader that saw version V has seen every row
stamped V or lower (the change feed is ``seq > since``). Statements that choose rows by what
other drivers wrote (taking a waiting trial, skipping queued points already stored) read after
the lock, in a second statement of the same transaction, which sees every commit before it.

Everything lives in one PostgreSQL schema (``asynchpo`` unless the URL names another), so the
database may hold anything else beside it. All names below are formatted with that schema's
quoted name as ``{s}``.
"""

from __future__ import annotations

from typing import Final

from asynchpo._storage._schema import FINISHED_STATES, TRIGGER_MESSAGE
from asynchpo._trial import TrialState

__all__ = [
    "CHANGES",
    "DELETE_TRIAL",
    "DRIVER_COLUMNS",
    "ENQUEUE",
    "FINISHED_CODE",
    "LOCK_STUDY",
    "MIGRATIONS",
    "MIN_SERVER_VERSION",
    "NEW_TRIALS",
    "NOW",
    "PUT_ATTACHMENTS",
    "SCHEMA_DDL",
    "SCHEMA_VERSION",
    "TAKE_TRIAL",
    "TRIAL_SELECT",
    "UPSERT",
]

#: The version of the layout below. Bump it (and add a step to :data:`MIGRATIONS`) whenever the
#: DDL changes. Counted apart from the SQLite file's version: the two layouts differ.
SCHEMA_VERSION: Final = 1

#: The oldest server the statements run on (transition tables in statement triggers need 10,
#: ``EXECUTE FUNCTION`` 11); 12 is the oldest release the tests were written against.
MIN_SERVER_VERSION: Final = (12, 0)

#: The SQLSTATE the guard of finished trials raises with (a code of asynchpo's own).
FINISHED_CODE: Final = "AHP01"

#: The server's clock as seconds since the epoch: leases are judged by one clock, the
#: server's, whatever the clocks of the drivers' machines say.
NOW: Final = "extract(epoch FROM clock_timestamp())::float8"

_STATES: Final = ", ".join(f"'{state.value}'" for state in TrialState)
_FINISHED: Final = ", ".join(f"'{value}'" for value in sorted(FINISHED_STATES))
_ACTIVE: Final = ", ".join(
    f"'{state.value}'" for state in TrialState if state.is_finished or state is TrialState.RUNNING
)
_WAITING: Final = "state IN ('queued', 'interrupted', 'running')"

_COLUMNS: Final = (
    "tid, state, params, loss, result, error, created, started, finished, slot, reports, driver"
)
#: A trial's columns in ``_schema.TRIAL_COLUMNS`` order, as ``decode_trial`` reads them.
TRIAL_SELECT: Final = ", ".join(f"t.{column}" for column in _COLUMNS.split(", "))
DRIVER_COLUMNS: Final = "id, study_id, host, pid, started, seen, lease, ended"

# The study's counters (next id, finished + running) and the writers' leases follow the
# trials in statement triggers, so that every statement keeps them exact in its own
# transaction without a round trip. A lease is renewed at most four times per period.
_COUNTERS: Final = f"""
    CREATE FUNCTION {{s}}.trials_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {{s}}.studies AS s
        SET next_tid = greatest(s.next_tid, n.top + 1), active = s.active + n.active
        FROM (
            SELECT study_id, max(tid) AS top, count(*) FILTER (WHERE state IN ({_ACTIVE}))
                AS active
            FROM new_rows GROUP BY study_id
        ) AS n
        WHERE s.id = n.study_id;
        UPDATE {{s}}.drivers SET seen = {NOW}
        WHERE id IN (SELECT driver FROM new_rows) AND ended IS NULL
            AND seen < {NOW} - lease / 4;
        RETURN NULL;
    END
    $$;
    CREATE FUNCTION {{s}}.trials_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {{s}}.studies AS s SET active = s.active + d.delta
        FROM (
            SELECT study_id, sum(change) AS delta FROM (
                SELECT study_id, (state IN ({_ACTIVE}))::int AS change FROM new_rows
                UNION ALL
                SELECT study_id, -(state IN ({_ACTIVE}))::int FROM old_rows
            ) AS changes GROUP BY study_id
        ) AS d
        WHERE s.id = d.study_id AND d.delta <> 0;
        UPDATE {{s}}.drivers SET seen = {NOW}
        WHERE id IN (SELECT driver FROM new_rows) AND ended IS NULL
            AND seen < {NOW} - lease / 4;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER trials_inserted AFTER INSERT ON {{s}}.trials
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION {{s}}.trials_inserted();
    CREATE TRIGGER trials_updated AFTER UPDATE ON {{s}}.trials
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION {{s}}.trials_updated();
"""

# Immutability lives in the database, as in SQLite: a statement that would change a finished
# trial is undone whole, whoever sent it (another program, an older asynchpo, psql).
_FINAL: Final = f"""
    CREATE FUNCTION {{s}}.trials_final() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{TRIGGER_MESSAGE}' USING ERRCODE = '{FINISHED_CODE}',
            DETAIL = format('trial %s of study %s is %s', OLD.tid, OLD.study_id, OLD.state);
    END
    $$;
    CREATE TRIGGER trials_finished_are_final BEFORE UPDATE ON {{s}}.trials
        FOR EACH ROW WHEN (OLD.state IN ({_FINISHED}))
        EXECUTE FUNCTION {{s}}.trials_final();
"""

#: The current layout, created in an empty schema in one transaction.
SCHEMA_DDL: Final = f"""
    CREATE TABLE {{s}}.meta (
        key text PRIMARY KEY,
        value text NOT NULL
    );
    CREATE TABLE {{s}}.studies (
        id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name text NOT NULL UNIQUE,
        config text NOT NULL,
        created float8 NOT NULL,
        version bigint NOT NULL DEFAULT 0,
        next_tid bigint NOT NULL DEFAULT 0,
        active bigint NOT NULL DEFAULT 0
    );
    CREATE TABLE {{s}}.drivers (
        id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        study_id bigint NOT NULL REFERENCES {{s}}.studies (id),
        host text NOT NULL,
        pid bigint NOT NULL,
        started float8 NOT NULL,
        seen float8 NOT NULL,
        lease float8 NOT NULL,
        ended float8
    );
    CREATE INDEX drivers_study ON {{s}}.drivers (study_id);
    CREATE TABLE {{s}}.trials (
        study_id bigint NOT NULL REFERENCES {{s}}.studies (id),
        tid bigint NOT NULL,
        state text NOT NULL CHECK (state IN ({_STATES})),
        params text NOT NULL,
        loss float8,
        result text NOT NULL,
        error text,
        created float8 NOT NULL,
        started float8,
        finished float8,
        slot bigint,
        reports text NOT NULL DEFAULT '[]',
        driver bigint,
        seq bigint NOT NULL,
        PRIMARY KEY (study_id, tid)
    );
    CREATE INDEX trials_changes ON {{s}}.trials (study_id, seq);
    CREATE INDEX trials_waiting ON {{s}}.trials (study_id, tid) WHERE {_WAITING};
    CREATE TABLE {{s}}.attachments (
        study_id bigint NOT NULL REFERENCES {{s}}.studies (id),
        tid bigint NOT NULL,
        name text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('bytes', 'json')),
        value bytea NOT NULL,
        position bigint GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (study_id, tid, name)
    );
    {_FINAL}
    {_COUNTERS}
"""

#: Statements that bring a schema of the version in the key up to the next version, each
#: run in one transaction with the version's update (none yet: version 1 is the first).
MIGRATIONS: Final[dict[int, str]] = {}

#: Insert or replace records: $1 the study, then one array per column. A record replaces a
#: stored trial only if the same driver holds it, or none (fencing): the ids returned are
#: those stored. The ids of one statement must be distinct (PostgreSQL cannot change a row
#: twice in one statement); the caller splits a batch that repeats an id.
UPSERT: Final = f"""
    WITH s AS (UPDATE {{s}}.studies SET version = version + 1 WHERE id = $1 RETURNING version)
    INSERT INTO {{s}}.trials AS t (study_id, {_COLUMNS}, seq)
    SELECT $1::bigint, v.tid, v.state, v.params, v.loss, v.result, v.error, v.created, v.started,
        v.finished, v.slot, v.reports, v.driver, s.version
    FROM s, unnest($2::bigint[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::text[],
        $8::float8[], $9::float8[], $10::float8[], $11::bigint[], $12::text[], $13::bigint[])
        AS v ({_COLUMNS})
    ON CONFLICT (study_id, tid) DO UPDATE SET state = excluded.state,
        params = excluded.params, loss = excluded.loss, result = excluded.result,
        error = excluded.error, created = excluded.created, started = excluded.started,
        finished = excluded.finished, slot = excluded.slot, reports = excluded.reports,
        driver = excluded.driver, seq = excluded.seq
    WHERE t.driver IS NULL OR t.driver = excluded.driver
    RETURNING t.tid, t.seq
"""

# How many new trials fit: all of them without a budget, else what finished + running leaves.
_FITTING: Final = (
    "CASE WHEN $3::bigint IS NULL THEN $4::bigint ELSE least($4::bigint, $3::bigint - active) END"
)

#: Start new trials: $1 the study, $2 the driver, $3 max_evals (or NULL), $4 how many, then
#: arrays of their params, created, started and slot. The study's row is locked and its next
#: ids and budget read in the same statement, so ids are dense over every driver; trials past
#: the budget are not stored (a prefix of those given is).
NEW_TRIALS: Final = f"""
    WITH s AS (
        UPDATE {{s}}.studies SET version = version + 1, next_tid = next_tid + {_FITTING}
        WHERE id = $1 AND ($3::bigint IS NULL OR active < $3::bigint)
        RETURNING version, next_tid - {_FITTING} AS first, {_FITTING} AS fitting
    )
    INSERT INTO {{s}}.trials (study_id, {_COLUMNS}, seq)
    SELECT $1::bigint, s.first + v.n - 1, 'running', v.params, NULL, '{{{{}}}}', NULL,
        v.created, v.started, NULL, v.slot, '[]', $2::bigint, s.version
    FROM s, unnest($5::text[], $6::float8[], $7::float8[], $8::bigint[])
        WITH ORDINALITY AS v (params, created, started, slot, n)
    WHERE v.n <= s.fitting
    RETURNING tid, seq
"""

#: Lock a study's row (the first statement of a transaction that reads before it writes).
LOCK_STUDY: Final = "SELECT active FROM {s}.studies WHERE id = $1 FOR UPDATE"

#: After :data:`LOCK_STUDY`: hand the waiting trial with the lowest id to driver $2. $1 the
#: study, $3 max_evals, $4 started, $5 slot, $6 the study's finished + running.
TAKE_TRIAL: Final = f"""
    WITH pick AS (
        SELECT t.tid FROM {{s}}.trials AS t LEFT JOIN {{s}}.drivers AS d ON d.id = t.driver
        WHERE t.study_id = $1 AND t.{_WAITING} AND (
            (t.state <> 'running' AND ($3::bigint IS NULL OR $6::bigint < $3::bigint))
            OR (t.state = 'running' AND t.driver IS DISTINCT FROM $2::bigint AND (
                d.id IS NULL OR d.ended IS NOT NULL OR d.seen + d.lease < {NOW})))
        ORDER BY t.tid LIMIT 1
    ), s AS (
        UPDATE {{s}}.studies SET version = version + 1
        WHERE id = $1 AND EXISTS (SELECT 1 FROM pick) RETURNING version
    )
    UPDATE {{s}}.trials AS t SET state = 'running', loss = NULL, result = '{{{{}}}}',
        error = NULL, started = $4, finished = NULL, slot = $5, reports = '[]', driver = $2,
        seq = s.version
    FROM s, pick WHERE t.study_id = $1 AND t.tid = pick.tid
    RETURNING {TRIAL_SELECT}
"""

#: After :data:`LOCK_STUDY`: queue the points ($2, JSON texts, created at $3) that no trial of
#: study $1 has yet, each once, with the next ids.
ENQUEUE: Final = f"""
    WITH given AS (
        SELECT p, min(n) AS n FROM unnest($2::text[]) WITH ORDINALITY AS u (p, n)
        WHERE NOT EXISTS (SELECT 1 FROM {{s}}.trials WHERE study_id = $1 AND params = u.p)
        GROUP BY p
    ), fresh AS (
        SELECT p, row_number() OVER (ORDER BY n) - 1 AS i FROM given
    ), s AS (
        UPDATE {{s}}.studies SET version = version + 1
        WHERE id = $1 AND EXISTS (SELECT 1 FROM fresh) RETURNING version, next_tid
    )
    INSERT INTO {{s}}.trials AS t (study_id, {_COLUMNS}, seq)
    SELECT $1::bigint, s.next_tid + f.i, 'queued', f.p, NULL, '{{{{}}}}', NULL, $3::float8,
        NULL, NULL, NULL, '[]', NULL, s.version
    FROM s, fresh AS f
    RETURNING {TRIAL_SELECT}
"""

#: Every trial of study $1 stamped after version $2, and the study's version, in one
#: snapshot; one row of NULL trial columns for a study without such trials, none for no study.
CHANGES: Final = f"""
    SELECT s.version, {TRIAL_SELECT}
    FROM {{s}}.studies AS s LEFT JOIN {{s}}.trials AS t ON t.study_id = s.id AND t.seq > $2
    WHERE s.id = $1 ORDER BY t.tid
"""

#: Store attachments of trial $2 of study $1: arrays of names, kinds and values.
PUT_ATTACHMENTS: Final = """
    INSERT INTO {s}.attachments (study_id, tid, name, kind, value)
    SELECT $1::bigint, $2::bigint, a.name, a.kind, a.value
    FROM unnest($3::text[], $4::text[], $5::bytea[]) AS a (name, kind, value)
    ON CONFLICT (study_id, tid, name) DO UPDATE SET kind = excluded.kind, value = excluded.value
"""

#: SQL that deletes a (damaged) trial and recounts the study's budget, for a message.
DELETE_TRIAL: Final = (
    "DELETE FROM {s}.trials WHERE study_id = {study} AND tid = {tid}; UPDATE {s}.studies SET"
    f" active = (SELECT count(*) FROM {{s}}.trials WHERE study_id = {{study}} AND state IN"
    f" ({_ACTIVE})) WHERE id = {{study}}"
)
