"""One rule for argument checks (issue 13, "one module of argument checks").

``TypeError`` when the object is of the wrong kind (a string, ``None`` or a boolean where a
number is needed, a float where a count is needed), :class:`ConfigError` when the value is
wrong (negative, zero, NaN, infinite, out of range); each message is one line that names the
argument and shows what was given, and the check runs before any work.
"""

from __future__ import annotations

import decimal
import fractions
import functools
import math
import numbers
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asynchpo import (
    Command,
    ConfigError,
    anneal,
    fmin,
    hp,
    no_progress_loss,
    open_study,
    pruners,
    rand,
    tpe,
)
from asynchpo import _checks as checks

SPACE = {"x": hp.uniform("x", -1, 1)}
_T, _C = TypeError, ConfigError  # the wrong kind of object, a wrong value

# Hostile objects, each of the wrong kind for a number (TypeError wherever a number is needed).
NOT_NUMBERS: list[Any] = [
    True,
    False,
    np.True_,
    "2",
    "nan",
    b"1",
    None,
    [1],
    {"a": 1},
    1j,
    object(),
]
# Numbers of the wrong kind for a count (TypeError wherever a whole number is needed).
NOT_WHOLE: list[Any] = [
    2.0,
    1.5,
    math.nan,
    math.inf,
    np.float64(3.0),
    fractions.Fraction(4, 2),
    decimal.Decimal(2),
]
# Numbers that no positive, finite setting accepts (ConfigError).
BAD_POSITIVE: list[Any] = [
    0,
    -1,
    -0.5,
    math.nan,
    math.inf,
    -math.inf,
    np.float64("nan"),
    np.int64(-3),
    fractions.Fraction(-1, 3),
    decimal.Decimal("NaN"),
    decimal.Decimal("-Infinity"),
    10**400,  # too large for a float
]


def _one_line(exc: BaseException, name: str) -> None:
    text = str(exc)
    assert "\n" not in text, text
    assert len(text) < 400, text
    assert name in text, text
    assert "got" in text, text


# --- the module ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [*NOT_NUMBERS, *NOT_WHOLE])
def test_whole_refuses_every_other_kind_with_type_error(value: Any) -> None:
    with pytest.raises(TypeError) as caught:
        checks.whole("count", value, at_least=1)
    assert not isinstance(caught.value, ConfigError)
    _one_line(caught.value, "count")
    assert "count must be a whole number >= 1" in str(caught.value)


@pytest.mark.parametrize("value", [0, -1, np.int64(-5), np.uint8(0), -(10**400)])
def test_whole_refuses_a_whole_number_out_of_range_with_config_error(value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        checks.whole("count", value, at_least=1)
    _one_line(caught.value, "count")


def test_whole_returns_an_int_and_takes_none_only_when_asked() -> None:
    assert checks.whole("n", np.int64(3)) == 3
    assert type(checks.whole("n", np.int16(3))) is int
    assert checks.whole("n", 10**400) == 10**400  # a huge count is still a count
    assert checks.whole("n", None, allow_none=True) is None
    with pytest.raises(TypeError, match=r"n must be a whole number >= 0, got None \(NoneType\)"):
        checks.whole("n", None)
    with pytest.raises(ConfigError, match=r"n must be a whole number in \[1, 3\], got 4"):
        checks.whole("n", 4, at_least=1, at_most=3)


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_number_refuses_every_other_kind_with_type_error(value: Any) -> None:
    with pytest.raises(TypeError) as caught:
        checks.number("seconds", value, positive=True)
    assert not isinstance(caught.value, ConfigError)
    _one_line(caught.value, "seconds")


@pytest.mark.parametrize("value", BAD_POSITIVE)
def test_number_refuses_a_wrong_value_with_config_error(value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        checks.number("seconds", value, positive=True)
    _one_line(caught.value, "seconds")


def test_number_says_why_a_value_is_wrong() -> None:
    with pytest.raises(ConfigError, match=r"got nan \(float\), which is not a number$"):
        checks.number("x", math.nan)
    with pytest.raises(ConfigError, match=r"got inf \(float\), which is not finite$"):
        checks.number("x", math.inf)
    with pytest.raises(ConfigError, match=r"\(int\), which is too large for a float$"):
        checks.number("x", 10**400)
    with pytest.raises(ConfigError, match=r"x must be a number in \(0, 1\], got 0"):
        checks.number("x", 0, positive=True, at_most=1)
    with pytest.raises(ConfigError, match=r"x must be a number in \[0, 100\], got 120"):
        checks.number("x", 120, at_least=0, at_most=100)
    with pytest.raises(ConfigError, match=r"must be a positive number of seconds or None"):
        checks.number("t", -1, positive=True, hint="seconds", allow_none=True)


def test_number_takes_every_kind_of_real_number() -> None:
    assert checks.number("x", fractions.Fraction(1, 4)) == 0.25
    assert checks.number("x", decimal.Decimal("0.5")) == 0.5
    assert checks.number("x", np.float32(0.5)) == 0.5
    assert checks.number("x", np.int64(2)) == 2.0
    assert checks.number("x", math.inf, finite=False) == math.inf
    assert checks.number("x", None, allow_none=True) is None


def test_flag_one_of_and_instance() -> None:
    assert checks.flag("f", np.True_) is True
    for value in (1, 0, "yes", None):
        with pytest.raises(TypeError, match="f must be True or False, got"):
            checks.flag("f", value)
    assert checks.one_of("w", "ei", ("ei", "uniform")) == "ei"
    with pytest.raises(ConfigError, match=r"^w must be 'ei' or 'uniform', got 'EI' \(str\)$"):
        checks.one_of("w", "EI", ("ei", "uniform"))
    with pytest.raises(TypeError, match=r"^w must be 'a', 'b' or 'c', got 1 \(int\)$"):
        checks.one_of("w", 1, ("a", "b", "c"))
    with pytest.raises(TypeError, match=r"^p must be a Pruner, got 'x' \(str\)$"):
        checks.instance("p", "x", pruners.Pruner, "a Pruner")


def test_a_hostile_repr_is_cut_to_one_short_line() -> None:
    class Hostile:
        def __repr__(self) -> str:
            return "line one\nline two " + "x" * 500

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    with pytest.raises(TypeError) as caught:
        checks.number("x", Hostile())
    _one_line(caught.value, "x")
    with pytest.raises(TypeError, match=r"got <unprintable> \(Broken\)"):
        checks.whole("x", Broken())


def _kind_of_error_for_whole(value: object, at_least: int) -> type[Exception] | None:
    """The oracle: the rule written out independently of the module."""
    if type(value) is bool or not isinstance(value, int | np.integer):
        return TypeError
    return ConfigError if int(value) < at_least else None


_ANYTHING = st.one_of(
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.fractions(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
    st.floats(width=64).map(np.float64),
    st.booleans().map(np.bool_),
)


@settings(max_examples=300, deadline=None)
@given(value=_ANYTHING, at_least=st.integers(-3, 3))
def test_whole_follows_the_rule_for_anything(value: Any, at_least: int) -> None:
    expected = _kind_of_error_for_whole(value, at_least)
    if expected is None:
        assert checks.whole("n", value, at_least=at_least) == int(value)
        return
    with pytest.raises(expected) as caught:
        checks.whole("n", value, at_least=at_least)
    assert type(caught.value) is expected
    _one_line(caught.value, "n")


@settings(max_examples=300, deadline=None)
@given(value=_ANYTHING)
def test_number_follows_the_rule_for_anything(value: Any) -> None:
    is_bool = type(value) in (bool, np.bool_)
    if is_bool or not isinstance(value, numbers.Real | decimal.Decimal):
        expected: type[Exception] | None = TypeError
    else:
        try:
            as_float = float(value)
        except (OverflowError, ValueError):
            as_float = math.nan
        expected = None if math.isfinite(as_float) and as_float > 0 else ConfigError
    if expected is None:
        assert checks.number("x", value, positive=True) == float(value)
        return
    with pytest.raises(expected) as caught:
        checks.number("x", value, positive=True)
    assert type(caught.value) is expected
    _one_line(caught.value, "x")


# --- the public entry points ----------------------------------------------------------------

# (argument, [values that are the wrong kind], [values of the right kind but wrong])
FMIN_ARGUMENTS: list[tuple[str, list[Any], list[Any]]] = [
    ("concurrency", [*NOT_NUMBERS[:-4], *NOT_WHOLE], [0, -1, np.int64(0)]),
    ("max_evals", [True, "3", 3.0, np.float64(3), fractions.Fraction(3)], [-1, np.int8(-1)]),
    ("retries", [True, "1", 1.0, None], [-1]),
    ("seed", [True, "1", 1.5, decimal.Decimal(1)], [-1, np.int64(-7)]),
    ("timeout", [True, "1", b"1"], [0, -1, math.nan, -math.inf, decimal.Decimal("NaN")]),
    ("loss_threshold", [True, "0.1"], [math.nan, np.float64("nan")]),
    ("lease_seconds", [True, "30", None], [0, -1, math.nan, math.inf, 10**400]),
    ("pruner", ["median", pruners.MedianPruner], []),
    ("rstate", [5, np.random.RandomState(0)], []),
]


def _cases(table: list[tuple[str, list[Any], list[Any]]]) -> list[Any]:
    return [
        pytest.param(name, value, error, id=f"{name}={value!r:.30}-{error.__name__}")
        for name, wrong_kind, wrong_value in table
        for values, error in ((wrong_kind, _T), (wrong_value, _C))
        for value in values
    ]


def _check_raised(caught: pytest.ExceptionInfo[BaseException], error: type, name: str) -> None:
    assert type(caught.value) is error, caught.value
    _one_line(caught.value, name)


@pytest.mark.parametrize(("name", "value", "error"), _cases(FMIN_ARGUMENTS))
async def test_fmin_refuses_before_any_work(
    tmp_path: Path, name: str, value: Any, error: type[Exception]
) -> None:
    calls = 0

    def objective(params: dict[str, float]) -> float:
        nonlocal calls
        calls += 1
        return params["x"] ** 2

    db = tmp_path / "runs.sqlite"
    options: dict[str, Any] = {"max_evals": 2, "storage": db, "show_progressbar": False}
    with pytest.raises(error, match=re.escape(name)) as caught:
        await fmin(objective, SPACE, **{**options, name: value})
    _check_raised(caught, error, name)
    assert calls == 0
    assert not db.exists()


ALGO_OPTIONS: list[tuple[Callable[..., Any], str, list[Any], list[Any]]] = [
    (tpe.suggest, "n_startup_jobs", [True, 2.0, "5"], [-1]),
    (tpe.suggest, "n_EI_candidates", [np.float64(24), None], [0]),
    (tpe.suggest, "gamma", ["0.2", None, True], [0, 1.5, math.nan]),
    (tpe.suggest, "prior_weight", ["1"], [0, -1, math.inf]),
    (tpe.suggest, "bandwidth_floor", [[0.1]], [0, 2]),
    (tpe.suggest, "branch_exploration", ["half"], [-0.1, math.nan]),
    (tpe.suggest, "weights", [1, None], ["EI"]),
    (tpe.suggest, "multivariate", [1, "yes"], []),
    (anneal.suggest, "avg_best_idx", ["2", True], [0.5, math.nan]),
    (anneal.suggest, "shrink_coef", [None, "0.1"], [-1, math.inf]),
]


@pytest.mark.parametrize(
    ("suggest", "name", "value", "error"),
    [
        pytest.param(suggest, name, value, error, id=f"{name}={value!r:.20}-{error.__name__}")
        for suggest, name, wrong_kind, wrong_value in ALGO_OPTIONS
        for values, error in ((wrong_kind, _T), (wrong_value, _C))
        for value in values
    ],
)
async def test_algorithm_options_are_refused_before_any_work(
    tmp_path: Path, suggest: Any, name: str, value: Any, error: type[Exception]
) -> None:
    calls = 0

    def objective(params: dict[str, float]) -> float:
        nonlocal calls
        calls += 1
        return params["x"] ** 2

    db = tmp_path / "runs.sqlite"
    algo = functools.partial(suggest, **{name: value})
    with pytest.raises(error, match=re.escape(name)) as caught:
        await fmin(objective, SPACE, algo=algo, max_evals=2, storage=db, show_progressbar=False)
    _check_raised(caught, error, name)
    assert calls == 0
    assert not db.exists()


@pytest.mark.parametrize(
    ("name", "value", "error"),
    _cases(
        [
            ("seed", [True, "1"], [-1]),
            ("max_evals", [2.0, "2"], [-2]),
            ("lease_seconds", ["5", None], [0, math.nan]),
            ("pruner", ["asha"], []),
            ("study", [3, None, b"s"], [""]),
        ]
    ),
)
async def test_open_study_refuses_before_any_work(
    tmp_path: Path, name: str, value: Any, error: type[Exception]
) -> None:
    db = tmp_path / "study.sqlite"
    options: dict[str, Any] = {"space": SPACE, "algo": rand.suggest, "study": "s", name: value}
    with pytest.raises(error, match=re.escape(name)) as caught:
        async with open_study(db, **options):
            pass
    _check_raised(caught, error, name)
    assert not db.exists()


CONSTRUCTORS: list[tuple[Callable[..., Any], str, list[Any], list[Any]]] = [
    (functools.partial(Command, [sys.executable]), "timeout", ["10", True], [0, -1, math.nan]),
    (functools.partial(Command, [sys.executable]), "grace", [None, "5"], [-1, math.inf]),
    (functools.partial(Command, [sys.executable]), "tail_bytes", [2048.0, "4096"], [0, 1023]),
    (functools.partial(Command, [sys.executable]), "die_with_parent", [1, "no"], []),
    (functools.partial(Command, [sys.executable]), "env", [["A=1"], {"A": 1}], []),
    (Command, "argv", ["python train.py", [sys.executable, 3], None], [[]]),
    (pruners.MedianPruner, "n_startup_trials", [True, 1.0, None], [-1]),
    (pruners.MedianPruner, "interval_steps", ["1"], [0]),
    (pruners.MedianPruner, "percentile", ["50", None], [-1, 100.5, math.nan]),
    (pruners.SuccessiveHalvingPruner, "reduction_factor", [3.0, True], [1]),
    (pruners.SuccessiveHalvingPruner, "max_resource", ["9", 9.0], [0]),
    (tpe.TPE, "gamma", ["x"], [0.0]),
    (no_progress_loss, "iteration_stop_count", [2.5, "20", None], [-1]),
    (no_progress_loss, "percent_increase", ["1"], [math.nan, math.inf]),
]


@pytest.mark.parametrize(
    ("make", "name", "value", "error"),
    [
        pytest.param(make, name, value, error, id=f"{name}={value!r:.20}-{error.__name__}")
        for make, name, wrong_kind, wrong_value in CONSTRUCTORS
        for values, error in ((wrong_kind, _T), (wrong_value, _C))
        for value in values
    ],
)
def test_constructors_follow_the_rule(
    make: Callable[..., Any], name: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match=re.escape(name)) as caught:
        make(**{name: value})
    _check_raised(caught, error, name)


def test_dask_executor_follows_the_rule() -> None:
    pytest.importorskip("distributed")
    from asynchpo import DaskExecutor

    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"connect_timeout": "5"}, _T, "connect_timeout"),
        ({"connect_timeout": True}, _T, "connect_timeout"),
        ({"connect_timeout": 0}, _C, "connect_timeout"),
        ({"connect_timeout": math.nan}, _C, "connect_timeout"),
        ({"resources": {"GPU": "1"}}, _T, "resources['GPU']"),
        ({"resources": {"GPU": -1}}, _C, "resources['GPU']"),
        ({"resources": {1: 1}}, _T, "resources"),
        ({"resources": "GPU"}, _T, "resources"),
    ]
    for options, error, name in cases:
        with pytest.raises(error, match=re.escape(name)) as caught:
            DaskExecutor("tcp://127.0.0.1:1", **options)
        _check_raised(caught, error, name)


@settings(max_examples=200, deadline=None)
@given(value=_ANYTHING)
def test_the_percentile_of_median_pruner_follows_the_rule(value: Any) -> None:
    is_bool = type(value) in (bool, np.bool_)
    if is_bool or not isinstance(value, numbers.Real | decimal.Decimal):
        expected: type[Exception] | None = TypeError
    else:
        try:
            as_float = float(value)
        except (OverflowError, ValueError):
            as_float = math.nan
        expected = None if 0 <= as_float <= 100 else ConfigError
    if expected is None:
        assert pruners.MedianPruner(percentile=value).percentile == float(value)
        return
    with pytest.raises(expected, match="percentile") as caught:
        pruners.MedianPruner(percentile=value)
    _check_raised(caught, expected, "percentile")
