"""Whatever an objective returns or raises becomes that trial's result or failure, stored.

asynchpo never raises from interpreting a result, and nothing it stores can make a later
resume or reader fail: each case runs ``fmin`` on a real SQLite file, resumes it with the same
objective, and reads it back with ``load_trials``.
"""

from __future__ import annotations

import json
import numbers
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from process_tools import run_cli

from asynchpo import AllTrialsFailed, TrialState, fmin, hp, load_trials
from asynchpo._results import MAX_VALUES, interpret, json_safe

SPACE = {"x": hp.uniform("x", 0, 1)}
CLI_SPACE = str(Path(__file__).with_name("cli_files") / "space.json")


class Unprintable:
    """An object whose ``repr`` and ``str`` raise."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __repr__


class NoEquality:
    """A status whose ``==`` raises."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no ==")

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "NoEquality()"


class NoFloat:
    """A number (registered as ``numbers.Real``) whose ``float()`` raises."""

    def __float__(self) -> float:
        raise RuntimeError("no float")

    def __repr__(self) -> str:
        return "NoFloat()"


numbers.Real.register(NoFloat)


class Unreadable(Mapping[str, Any]):
    """A mapping whose every read raises."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("no item")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("no iteration")

    def __len__(self) -> int:
        raise RuntimeError("no len")


def self_referencing() -> dict[str, Any]:
    value: dict[str, Any] = {"loss": 0.25}
    value["self"] = value
    return value


def deeply_nested(depth: int = 100_000) -> dict[str, Any]:
    value: dict[str, Any] = {"loss": 0.5}
    inner = value
    for _ in range(depth):
        inner["deeper"] = {}
        inner = inner["deeper"]
    return value


def shared_parts(levels: int = 60) -> dict[str, Any]:
    """A result whose lists share their parts: 2**60 values when unfolded."""
    inner: list[Any] = [0.5]
    for _ in range(levels):
        inner = [inner, inner]
    return {"loss": 0.5, "tree": inner}


FAIL, OK = TrialState.FAIL, TrialState.OK

# (name, what the objective returns, the trial's state, a part of its error)
RETURNED: list[tuple[str, Callable[[], object], TrialState, str]] = [
    ("int 10**400", lambda: 10**400, FAIL, "(an int of 401 digits)"),
    ("loss 10**400", lambda: {"loss": 10**400}, FAIL, "(too large for a float)"),
    ("huge Fraction", lambda: Fraction(10**400, 3), FAIL, "too large for a float"),
    ("longdouble 1e4000", lambda: np.longdouble("1e4000"), FAIL, "1e+4000"),
    ("repr raises", Unprintable, FAIL, "<unprintable Unprintable>"),
    ("status == raises", lambda: {"loss": 1.0, "status": NoEquality()}, FAIL, "NoEquality()"),
    ("float() raises", NoFloat, FAIL, "float() of it raised RuntimeError: no float"),
    ("loss float() raises", lambda: {"loss": NoFloat()}, FAIL, "RuntimeError: no float"),
    ("error str raises", lambda: {"status": "fail", "error": Unprintable()}, FAIL, "<unprintable"),
    ("mapping reads raise", Unreadable, FAIL, "cannot be read (RuntimeError"),
    ("lone surrogate error", lambda: {"status": "fail", "error": "\udcff"}, FAIL, "\\udcff"),
    ("self-referencing dict", self_referencing, OK, ""),
    ("100,000-deep dict", deeply_nested, OK, ""),
    ("unprintable extra", lambda: {"loss": 0.75, "note": Unprintable()}, OK, ""),
    ("5000-digit extra", lambda: {"loss": 0.75, "n": 10**5000}, OK, ""),
    ("2**60 shared values", shared_parts, OK, ""),
]  # fmt: skip


def assert_readable(text: str | None) -> None:
    assert isinstance(text, str)
    text.encode("utf-8")  # no lone surrogate: any terminal, file or database can hold it


def assert_storable(result: Mapping[str, Any]) -> None:
    """``result`` is plain JSON in strict UTF-8 that any Python reads back."""
    text = json.dumps(result, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")
    assert json.loads(text) == result


@pytest.mark.parametrize("catch", [True, False], ids=["catch", "no-catch"])
@pytest.mark.parametrize(
    ("make", "state", "error"), [case[1:] for case in RETURNED], ids=[case[0] for case in RETURNED]
)
async def test_a_hostile_result_is_a_stored_trial_and_the_study_resumes(
    tmp_path: Path, make: Callable[[], object], state: TrialState, error: str, catch: bool
) -> None:
    db = tmp_path / "s.sqlite"

    def objective(params: dict[str, float]) -> object:
        return make()

    for max_evals in (2, 3):  # the run, then a resume with the same objective
        options: dict[str, Any] = {"storage": db, "seed": 0, "catch_eval_exceptions": catch}
        if state is TrialState.FAIL:
            with pytest.raises(AllTrialsFailed):
                await fmin(objective, SPACE, max_evals=max_evals, **options)
        else:
            assert set(await fmin(objective, SPACE, max_evals=max_evals, **options)) == {"x"}
    records = (await load_trials(db)).records
    assert [(r.id, r.state) for r in records] == [(0, state), (1, state), (2, state)]
    for record in records:
        assert_storable(record.result)
        if state is TrialState.FAIL:
            assert_readable(record.error)
            assert error in (record.error or ""), record.error
        else:
            assert record.error is None
            assert record.loss == record.result["loss"]


async def test_what_cannot_be_stored_as_is_is_stored_as_a_note(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    await fmin(lambda p: self_referencing(), SPACE, max_evals=1, storage=db, seed=0)
    await fmin(lambda p: deeply_nested(), SPACE, max_evals=2, storage=db, seed=0)
    await fmin(lambda p: {"loss": 1.0, "n": 10**5000}, SPACE, max_evals=3, storage=db, seed=0)
    first, second, third = (await load_trials(db)).records
    assert first.result["self"] == "<a reference to the dict that holds it>"
    depth, inner = 0, second.result["deeper"]
    while isinstance(inner, dict) and "deeper" in inner:
        depth, inner = depth + 1, inner["deeper"]
    assert inner == "<dict nested more than 100 deep>", inner
    assert depth == 99  # 100 levels below the result
    assert third.result["n"] == "<an int of about 5001 digits>"


def test_a_result_is_copied_up_to_a_bounded_number_of_values() -> None:
    copied = json_safe(shared_parts())
    text = json.dumps(copied)
    assert "left out: the result holds more than 100000 values" in text
    assert len(text) < 20 * MAX_VALUES  # bounded, whatever the result unfolds to
    big = json_safe({"loss": 1.0, "a": np.zeros(MAX_VALUES + 1), "b": np.zeros(3)})
    assert big["a"] == (
        f"<float64 array of shape ({MAX_VALUES + 1},) left out: "
        f"the result holds more than {MAX_VALUES} values>"
    )
    assert big["b"] == [0.0, 0.0, 0.0]


def raise_with_undecodable_name(params: dict[str, float]) -> float:
    raise ValueError("cannot open \udcff.csv")


async def test_an_exception_with_a_lone_surrogate_is_stored_when_caught(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    for max_evals in (2, 3):
        with pytest.raises(AllTrialsFailed):
            await fmin(
                raise_with_undecodable_name,
                SPACE,
                max_evals=max_evals,
                storage=db,
                seed=0,
                catch_eval_exceptions=True,
            )
    records = (await load_trials(db)).records
    assert [r.state for r in records] == [TrialState.FAIL] * 3
    for record in records:
        assert_readable(record.error)
        assert "ValueError: cannot open \\udcff.csv" in (record.error or "")


async def test_an_exception_with_a_lone_surrogate_is_re_raised_and_the_study_resumes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.sqlite"
    for count in (1, 2):
        # The objective's own exception reaches the caller (not an encoding error of the
        # storage), its trial is stored as failed, and the next call runs a new trial.
        with pytest.raises(ValueError, match="cannot open") as caught:
            await fmin(raise_with_undecodable_name, SPACE, max_evals=5, storage=db, seed=0)
        assert type(caught.value) is ValueError
        records = (await load_trials(db)).records
        assert [r.state for r in records] == [TrialState.FAIL] * count
        assert "cannot open \\udcff.csv" in (records[-1].error or "")
    await fmin(lambda p: 1.0, SPACE, max_evals=3, storage=db, seed=0)
    records = (await load_trials(db)).records
    assert [r.state for r in records] == [TrialState.FAIL, TrialState.FAIL, TrialState.OK]
    with sqlite3.connect(db) as connection:  # the column holds valid UTF-8 text
        errors = [row[0] for row in connection.execute("SELECT error FROM trials ORDER BY tid")]
    assert errors[:2] == [records[0].error, records[1].error]


class NoSourceLoader:
    """A module loader whose ``get_source`` raises: formatting a traceback through it raises."""

    def get_source(self, name: str) -> str:
        raise RuntimeError("no source")


def objective_with_unreadable_source() -> Callable[[dict[str, float]], float]:
    namespace: dict[str, Any] = {"__name__": "hostile_module", "__loader__": NoSourceLoader()}
    code = "def objective(params):\n    raise KeyError('missing')\n"
    exec(compile(code, "/nonexistent/hostile_module.py", "exec"), namespace)
    objective: Callable[[dict[str, float]], float] = namespace["objective"]
    return objective


@pytest.mark.parametrize("catch", [True, False], ids=["catch", "no-catch"])
async def test_an_exception_whose_traceback_cannot_be_formatted_is_stored(
    tmp_path: Path, catch: bool
) -> None:
    db = tmp_path / "s.sqlite"
    objective = objective_with_unreadable_source()
    raised = AllTrialsFailed if catch else KeyError
    for max_evals in (1, 2):
        with pytest.raises(raised):
            await fmin(
                objective,
                SPACE,
                max_evals=max_evals,
                storage=db,
                seed=0,
                catch_eval_exceptions=catch,
            )
    records = (await load_trials(db)).records
    assert [r.state for r in records] == [TrialState.FAIL] * 2
    for record in records:
        assert_readable(record.error)
        assert "KeyError: 'missing'" in (record.error or "")
        assert "traceback could not be formatted: RuntimeError: no source" in (record.error or "")


@pytest.mark.parametrize("case", RETURNED, ids=[case[0] for case in RETURNED])
def test_interpret_and_json_safe_are_total(
    case: tuple[str, Callable[[], object], Any, str],
) -> None:
    value = case[1]()
    outcome = interpret(value)
    assert_storable(outcome.result)
    assert_storable({"value": json_safe(value)})
    if outcome.error is not None:
        assert_readable(outcome.error)


DEEP_JSON = '{"loss": 1, "deep": ' + "[" * 3000 + "]" * 3000 + "}"
PROGRAMS = {
    "a 401-digit loss": (
        "print('{\"loss\": 1' + '0' * 400 + '}')",
        "(an int of 401 digits) with status 'ok' (too large for a float)",
    ),
    "3000-deep JSON on stdout": (f"print({DEEP_JSON!r})", "reported no result"),
    "3000-deep JSON in the result file": (
        f"import os; open(os.environ['ASYNCHPO_RESULT_FILE'], 'w').write({DEEP_JSON!r})",
        "wrote $ASYNCHPO_RESULT_FILE but it is not JSON",
    ),
}


@pytest.mark.parametrize(("code", "error"), PROGRAMS.values(), ids=PROGRAMS)
def test_a_program_reporting_a_hostile_result_fails_its_trials_and_resumes(
    tmp_path: Path, code: str, error: str
) -> None:
    program = tmp_path / "train.py"
    program.write_text(code + "\n")
    db = tmp_path / "r.sqlite"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args)

    for max_evals in ("2", "3"):
        done = cli(
            "run", "--space", CLI_SPACE, "--storage", str(db), "--study", "s",
            "--max-evals", max_evals, "--", sys.executable, str(program),
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        assert "asynchpo: error: no trial of study 's' succeeded" in done.stderr
        assert error in done.stderr, done.stderr
    shown = cli("trials", str(db), "s", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert [(row["id"], row["state"]) for row in rows] == [(0, "fail"), (1, "fail"), (2, "fail")]
