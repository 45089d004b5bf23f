"""Damaged rows: every reader refuses them with one line that names the study and the trial.

A row changed behind asynchpo's back (by hand with sqlite3, by another program, by a disk
fault SQLite cannot see) must give ``StorageError: the storage is damaged: <what>, in study
'S' trial N (<file>); <what to do>`` from every reader (fmin resume, open_study with and
without a space, load_trials, the CLI), never an AttributeError or TypeError from wherever the
value is first used. A gap in trial ids (a damaged row deleted as the message says) is
harmless: the ledger keys everything by id, and the study goes on without the trial.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from process_tools import run_cli

import asynchpo
from asynchpo import StorageError, StudyMismatch, Trials, fmin_sync, hp, rand
from asynchpo._cli import main
from asynchpo._storage._schema import _TRIGGER_DDL, TRIAL_COLUMNS, delete_trial_sql

SPACE = {
    "x": hp.uniform("x", -1, 1),
    "m": hp.choice("m", [{"k": "a", "d": hp.randint("d", 5)}, {"k": "b"}]),
    "q": hp.quniform("q", 0, 10, 1),
}
STUDY = "S"
TRIALS = 6  # finished trials in the base file; trial 6 is queued


def objective(params: dict[str, Any]) -> object:
    if params["x"] > 0.5:
        return {"status": "fail", "error": "x is too large"}
    return params["x"] ** 2


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study of 6 finished trials (ok and failed) and one queued point."""
    path = tmp_path_factory.mktemp("base") / "base.sqlite"
    fmin_sync(
        objective,
        SPACE,
        algo=rand.suggest,
        max_evals=TRIALS,
        storage=path,
        study=STUDY,
        seed=0,
        show_progressbar=False,
    )
    with asynchpo.open_study_sync(path, STUDY, space=SPACE, algo=rand.suggest) as study:
        study.enqueue([{"x": 0.25, "m": 1, "q": 3.0}])
    return path


def _copy(base: Path, target: Path) -> None:
    source = sqlite3.connect(base)
    copy = sqlite3.connect(target)
    with copy:
        source.backup(copy)
    source.close()
    copy.close()


def corrupt(base: Path, target: Path, sql: str, parameters: tuple[object, ...] = ()) -> bool:
    """A copy of ``base`` at ``target`` with ``sql`` run on it as a hostile hand would: check
    constraints and the finished-trials trigger off. False if SQLite refused the change."""
    _copy(base, target)
    conn = sqlite3.connect(target)
    try:
        conn.execute("PRAGMA ignore_check_constraints = ON")
        conn.execute("DROP TRIGGER trials_finished_are_final")
        conn.execute(sql, parameters)
        conn.execute(_TRIGGER_DDL)
        conn.commit()
    except (sqlite3.Error, OverflowError, UnicodeEncodeError):
        return False
    finally:
        conn.close()
    return True


# --- the readers ------------------------------------------------------------------------------


async def _read_only(path: Path) -> None:
    async with asynchpo.open_study(path, STUDY) as study:
        study.summary()
        assert study.trials_view().trials is not None


def read_only(path: Path) -> None:
    anyio.run(_read_only, path)


def load(path: Path) -> None:
    trials = anyio.run(asynchpo.load_trials, path, STUDY)
    trials.losses()
    assert len(trials.trials) == len(trials)


def resume(path: Path, trials: Trials | None = None) -> None:
    fmin_sync(
        objective,
        SPACE,
        algo=rand.suggest,
        max_evals=TRIALS + 3,
        storage=path,
        study=STUDY,
        seed=0,
        show_progressbar=False,
        trials=trials,
    )


def cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, err.getvalue()


def check_refusal(message: str, trial: int | None) -> None:
    """One line, the storage is damaged, naming the study (and the trial)."""
    assert "\n" not in message.strip(), message
    assert "the storage is damaged: " in message, message
    assert f"study {STUDY!r}" in message, message
    if trial is not None:
        assert f"trial {trial}" in message, message
    assert "restore the file from a backup" in message, message


def every_reader(path: Path, trial: int | None, *, mismatch_ok: bool = False) -> list[str]:
    """Run every reader on ``path``: each succeeds or refuses with the one-line message.
    Returns the refusals."""
    refusals: list[str] = []
    readers: list[Callable[[Path], None]] = [read_only, load]
    for reader in readers:
        try:
            reader(path)
        except StorageError as exc:
            check_refusal(str(exc), trial)
            refusals.append(str(exc))
    for argv in (
        ("show", str(path), STUDY),
        ("trials", str(path), STUDY),
        ("trials", str(path), STUDY, "--format", "json"),
        ("studies", str(path)),
    ):
        code, err = cli(*argv)
        if code != 0:
            assert code == 2, err
            assert err.startswith("asynchpo: error: the storage is damaged: "), err
            check_refusal(err, trial)
            refusals.append(err)
    try:
        resume(path)
    except StorageError as exc:
        check_refusal(str(exc), trial)
        refusals.append(str(exc))
    except StudyMismatch:
        # A changed algo or seed in the configuration reads as another configuration.
        if not mismatch_ok:
            raise
    return refusals


# --- the cases of the issue -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        (
            "UPDATE trials SET params = '[1, 2]' WHERE tid = 2",
            "the params are [1, 2] (a JSON list)",
        ),
        ("UPDATE trials SET loss = 'abc' WHERE tid = 2", "the loss is 'abc' (text), not a number"),
        ("UPDATE trials SET state = 'done' WHERE tid = 2", "the state is 'done' (text)"),
        ("UPDATE trials SET params = '{' WHERE tid = 2", "the params '{' (text) is not valid JSON"),
        ("UPDATE trials SET result = '[1]' WHERE tid = 2", "the result is [1] (a JSON list)"),
        ("UPDATE trials SET reports = '[[1, \"a\"]]' WHERE tid = 2", "[1, 'a'] (a JSON list), not"),
        (
            "UPDATE trials SET created = 'x' WHERE tid = 2",
            "the created time is 'x' (text), not seconds since 1970",
        ),
        ("UPDATE trials SET error = X'FF00' WHERE tid = 2", "the error is a blob of 2 bytes"),
        (
            "UPDATE trials SET params = json_set(params, '$.zz', 1) WHERE tid = 2",
            "label 'zz', which the study's space does not have",
        ),
        (
            "UPDATE trials SET params = json_set(params, '$.m', 7) WHERE tid = 2",
            "7 (an integer) for label 'm', not one of its option indices (0 to 1)",
        ),
    ],
)
def test_a_damaged_trial_row_is_named_by_every_reader(
    base: Path, tmp_path: Path, sql: str, what: str
) -> None:
    path = tmp_path / "damaged.sqlite"
    assert corrupt(base, path, sql)
    refusals = every_reader(path, 2)
    # studies reads no params, so it may show a study whose params do not fit; the rest refuse.
    assert len(refusals) >= 6, refusals
    # A driver checks the point against the compiled space, and says so in its own words.
    assert what in refusals[0], refusals[0]
    # The message says how to delete the trial, with the file named.
    assert f"sqlite3 {path} " in refusals[0]


def test_a_point_outside_the_space_is_refused_where_the_space_is_known(
    base: Path, tmp_path: Path
) -> None:
    """A value outside its bounds cannot break a reader without the space (it is shown as
    stored); the driver, which would learn from it, refuses it."""
    path = tmp_path / "damaged.sqlite"
    assert corrupt(
        base, path, "UPDATE trials SET params = json_set(params, '$.x', 70) WHERE tid = 2"
    )
    with pytest.raises(StorageError) as caught:
        resume(path)
    check_refusal(str(caught.value), 2)
    assert "label 'x': 70 is outside [-1, 1]" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ("json_set(config, '$.space', json('[1, 2, 3, 4]'))", "space entry 0 that is 1"),
        ("json_remove(config, '$.seed')", "the configuration lacks 'seed'"),
        ("json_set(config, '$.space[1].options', 'two')", "has 'two' (text) options"),
        ("'[]'", "the configuration is [] (a JSON list)"),
        ("json_set(config, '$.space[0].args[1]', 2.0)", "does not match its fingerprint"),
        ("json_set(config, '$.fingerprint', 'abc')", "does not match its fingerprint"),
    ],
)
def test_a_damaged_configuration_is_named_by_every_reader(
    base: Path, tmp_path: Path, change: str, what: str
) -> None:
    path = tmp_path / "damaged.sqlite"
    assert corrupt(base, path, f"UPDATE studies SET config = {change}")
    refusals = every_reader(path, None)
    assert refusals
    assert any(what in message for message in refusals), refusals


@pytest.mark.parametrize(
    ("sql", "what"),
    [
        ("UPDATE studies SET created = 'x'", "the study's created time is 'x' (text)"),
        ("UPDATE studies SET version = 'x'", "the study's version counter is 'x'"),
        ("UPDATE drivers SET seen = 'x'", "driver 1 has the seen time 'x' (text)"),
        ("UPDATE drivers SET ended = X'00'", "driver 1 has the ended time a blob of 1 bytes"),
        ("UPDATE drivers SET host = X'00'", "driver 1 has the host a blob of 1 bytes, not text"),
        ("UPDATE drivers SET lease = -1", "driver 1 has a lease of -1.0 (a float)"),
        ("UPDATE trials SET tid = 'abc' WHERE tid = 2", "a trial's id is 'abc' (text)"),
    ],
)
def test_a_damaged_study_or_driver_row_is_named_by_every_reader(
    base: Path, tmp_path: Path, sql: str, what: str
) -> None:
    path = tmp_path / "damaged.sqlite"
    assert corrupt(base, path, sql)
    refusals = every_reader(path, None)
    assert len(refusals) >= 6, refusals
    assert what in refusals[0], refusals[0]


def test_a_gap_in_trial_ids_is_harmless(base: Path, tmp_path: Path) -> None:
    """Deleting a damaged trial as the message says leaves a gap: the study resumes, runs the
    trial's share of the budget again, and every view keeps one record per id, in order."""
    path = tmp_path / "gap.sqlite"
    assert corrupt(base, path, "UPDATE trials SET loss = 'abc' WHERE tid = 2")
    with pytest.raises(StorageError) as caught:
        resume(path)
    assert delete_trial_sql(1, 2) in str(caught.value)
    conn = sqlite3.connect(path)
    conn.executescript(delete_trial_sql(1, 2))
    conn.close()
    trials = Trials()
    resume(path, trials)
    ids = [0, 1, *range(3, TRIALS + 4)]  # the queued trial 6, then 7, 8, 9
    assert trials.tids == ids
    assert len(trials) == TRIALS + 3
    assert anyio.run(asynchpo.load_trials, path, STUDY).tids == ids
    assert every_reader(path, None) == []


def test_the_trials_view_keeps_one_record_per_id_across_a_gap(base: Path, tmp_path: Path) -> None:
    path = tmp_path / "gap.sqlite"
    assert corrupt(base, path, "DELETE FROM trials WHERE tid = 4")
    trials = Trials()
    fmin_sync(
        objective,
        SPACE,
        algo=rand.suggest,
        max_evals=TRIALS + 2,
        storage=path,
        study=STUDY,
        seed=0,
        show_progressbar=False,
        trials=trials,
    )
    assert trials.tids == sorted(set(trials.tids))
    assert 4 not in trials.tids
    assert [t["tid"] for t in trials.trials] == trials.tids


def test_the_cli_prints_one_line_and_no_traceback(base: Path, tmp_path: Path) -> None:
    path = tmp_path / "damaged.sqlite"
    assert corrupt(base, path, "UPDATE trials SET params = '[1, 2]' WHERE tid = 3")
    for command in ("show", "trials"):
        done = run_cli(command, str(path), STUDY, timeout=60)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        check_refusal(done.stderr, 3)


# --- hostile rows, generated ------------------------------------------------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["x", "m", "d", "q", "zz", "loss", "status"]), inner)
    ),
    max_leaves=6,
)


def _json_text(value: object) -> str:
    return json.dumps(value, allow_nan=True)


_PARAMS = st.dictionaries(
    st.sampled_from(["x", "m", "d", "q", "zz"]),
    st.integers(-3, 12) | st.floats(-2, 12) | _SCALARS,
    max_size=5,
).map(_json_text)
_REPORTS = st.lists(
    st.lists(st.integers(-2, 5) | st.floats(-1, 1) | _SCALARS, min_size=0, max_size=3),
    max_size=3,
).map(_json_text)
_VALUES = (
    _SCALARS
    | st.binary(max_size=4)
    | _JSON.map(_json_text)
    | _PARAMS
    | _REPORTS
    | st.sampled_from(["queued", "running", "ok", "fail", "interrupted", "pruned", "{", "[["])
)


@contextlib.contextmanager
def _fresh(tmp_path: Path, name: str) -> Iterator[Path]:
    path = tmp_path / name
    try:
        yield path
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    column=st.sampled_from(TRIAL_COLUMNS),
    trial=st.integers(0, TRIALS),
    value=_VALUES,
)
def test_hostile_trial_rows(
    base: Path, tmp_path: Path, column: str, trial: int, value: object
) -> None:
    with _fresh(tmp_path, "hostile.sqlite") as path:
        assume(corrupt(base, path, f"UPDATE trials SET {column} = ? WHERE tid = ?", (value, trial)))
        # A damaged id cannot be named as a trial id; another whole number is a gap.
        every_reader(path, None if column == "tid" else trial)


def _mutations() -> st.SearchStrategy[Callable[[dict[str, Any]], None]]:
    """A change of one part of a stored configuration: a key set to a hostile value, or
    removed, at the top level or in one space entry."""
    keys = st.sampled_from(
        [
            "space",
            "fingerprint",
            "algo",
            "seed",
            "label",
            "kind",
            "args",
            "parents",
            "options",
            "values",
        ]
    )

    @st.composite
    def mutation(draw: st.DrawFn) -> Callable[[dict[str, Any]], None]:
        key = draw(keys)
        entry = draw(st.none() | st.integers(0, 3))
        remove = draw(st.booleans())
        value = draw(_JSON)

        def apply(config: dict[str, Any]) -> None:
            target = config if entry is None else config["space"][entry]
            if remove:
                target.pop(key, None)
            else:
                target[key] = value

        return apply

    return mutation()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(change=_mutations())
def test_hostile_configurations(
    base: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None]
) -> None:
    conn = sqlite3.connect(base)
    config = json.loads(conn.execute("SELECT config FROM studies").fetchone()[0])
    conn.close()
    change(config)
    with _fresh(tmp_path, "hostile.sqlite") as path:
        assume(corrupt(base, path, "UPDATE studies SET config = ?", (_json_text(config),)))
        every_reader(path, None, mismatch_ok=True)


def test_copy_helper_keeps_the_base_intact(base: Path, tmp_path: Path) -> None:
    shutil.copy(base, tmp_path / "plain.sqlite")
    assert every_reader(tmp_path / "plain.sqlite", None) == []
