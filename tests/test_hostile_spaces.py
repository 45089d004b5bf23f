"""Hostile spaces: every bad space is a one-line SpaceError naming its label (issue 12, item 9).

Whatever is passed to an ``hp`` function (huge, tiny, NaN, infinite, negative, bool, str,
Decimal, Fraction, numpy scalars, integers of hundreds of digits), the result is either a space
whose prior draws are valid values, or a one-line :class:`SpaceError` naming the label, raised
before any work starts: never another exception. Nesting too deep for the builders is refused
the same way (compile_space, the JSON loader, the command line), never a RecursionError; a space
file that exits or raises while loading makes the command line print one line and exit 2.
"""

from __future__ import annotations

import decimal
import math
import numbers
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import asynchpo._cli
from asynchpo import SpaceError, compile_space, fmin_sync, rand, tpe
from asynchpo import hp as _hp

# The hp functions take any argument here: refusing the wrong ones is what is tested.
hp: Any = _hp

LABEL = "hostile_x"


def _one_line_naming(exc: SpaceError, label: str = LABEL) -> None:
    text = str(exc)
    assert "\n" not in text, text
    assert repr(label) in text, text


# --- the cases of the issue, and their relatives ------------------------------------------------


class _BadFloat:
    """A number type (registered as numbers.Real) whose conversion to float fails."""

    def __float__(self) -> float:
        raise ZeroDivisionError("no float")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


numbers.Real.register(_BadFloat)


BAD: list[tuple[Callable[[], object], str]] = [
    (lambda: hp.uniform(LABEL, 0, 10**400), "too large for a float64"),
    (lambda: hp.quniform(LABEL, -(10**400), 0, 1), "too large for a float64"),
    (lambda: hp.randint(LABEL, 10**400), "too large for a float64"),
    (lambda: hp.uniform(LABEL, 0, Fraction(10**400, 3)), "too large for a float64"),
    (lambda: hp.uniform(LABEL, 0, np.longdouble("1e4000")), "must be finite"),
    (lambda: hp.uniform(LABEL, decimal.Decimal("sNaN"), 1), "cannot be read as a float"),
    (lambda: hp.normal(LABEL, _BadFloat(), 1), "cannot be read as a float"),
    (lambda: hp.uniform(LABEL, np.bool_(False), 1), "must be a number"),
    (lambda: hp.randint(LABEL, 2**63), r"2\*\*62"),
    (lambda: hp.randint(LABEL, -(2**63), 0), r"2\*\*62"),
    (lambda: hp.randint(LABEL, 2**62 + 1), "not exactly a float64"),
    (lambda: hp.randint(LABEL, 0, 2**53 + 1), "not exactly a float64"),
    (lambda: hp.randint(LABEL, np.int64(2**53 + 1)), "not exactly a float64"),
    (lambda: hp.randint(LABEL, -(2**62), 2**62), r"more than the 4611686018427387904 \(2\*\*62\)"),
    (lambda: hp.uniformint(LABEL, 0, 2**63), r"2\*\*62"),
    (lambda: hp.uniformint(LABEL, 0, np.float32(1.5)), "must be a whole number"),
    (lambda: hp.uniformint(LABEL, 0.5, 3), "must be a whole number"),
    (lambda: hp.quniform(LABEL, 0, 1e10, 1e-300), "too small"),
    (lambda: hp.quniform(LABEL, 0, 1, 5e-324), "too small"),
    (lambda: hp.qloguniform(LABEL, 0, 700, 1e-300), "too small"),
    (lambda: hp.qnormal(LABEL, 1e300, 1, 1e-10), "too small"),
    (lambda: hp.pchoice(LABEL, [(1e308, "a"), (1e308, "b")]), "above 1"),
    (lambda: hp.pchoice(LABEL, [(1.5, "a"), (-0.5, "b")]), "above 1"),
    (lambda: hp.loguniform(LABEL, -1e30, 1), "underflows"),
    (lambda: hp.qloguniform(LABEL, -800, 1, 1), "underflows"),
    (lambda: hp.uniform(LABEL, -1.7e308, 1.7e308), "wider than a float64 holds"),
    (lambda: hp.normal(LABEL, 0, 1e307), "overflows float64"),
    (lambda: hp.qnormal(LABEL, 1.7e308, 1e307, 1), "overflows float64"),
    (lambda: hp.lognormal(LABEL, 710, 1), r"exp\(mu\)"),
    (lambda: hp.choice(LABEL, iter(_raising_iterable())), "reading the options raised"),
]


def _raising_iterable() -> Any:
    yield 1
    raise OSError("the options cannot be read")


@pytest.mark.parametrize(("make", "words"), BAD)
def test_bad_arguments_are_one_line_space_errors(make: Callable[[], object], words: str) -> None:
    with pytest.raises(SpaceError, match=words) as caught:
        compile_space({"p": make()})
    _one_line_naming(caught.value)


def test_a_label_that_is_not_text_is_refused() -> None:
    with pytest.raises(SpaceError, match="lone surrogate") as caught:
        hp.uniform("x\udcff", 0, 1)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: hp.randint(LABEL, 2**62),
        lambda: hp.randint(LABEL, -(2**62), 0),
        lambda: hp.randint(LABEL, np.uint64(2**62)),
        lambda: hp.uniformint(LABEL, -(2**62), 2**62),
        lambda: hp.quniform(LABEL, 0, 1, 1e-300),
        lambda: hp.uniform(LABEL, 1e308, 1.7e308),
        lambda: hp.uniform(LABEL, decimal.Decimal("0.1"), Fraction(1, 3)),
        lambda: hp.loguniform(LABEL, math.log(1e-300), 0),
        lambda: hp.pchoice(LABEL, [(np.float32(0.25), "a"), (Fraction(3, 4), "b")]),
    ],
)
def test_extreme_but_valid_arguments_give_a_space_that_works(make: Callable[[], object]) -> None:
    space = compile_space({"p": make()})
    _check_draws(space)
    # The prior's centre of a uniform kind stays finite however large the bounds.
    assert all(math.isfinite(p.mu) and math.isfinite(p.sigma) for p in space.params)
    best = fmin_sync(
        lambda params: 0.0,
        {"p": make()},
        algo=tpe.suggest,
        max_evals=3,
        seed=0,
        show_progressbar=False,
    )
    compile_space({"p": make()}).to_row(best)


def test_options_holding_integers_without_decimal_text_are_described() -> None:
    # Python 3.11 refuses str() of an int of more than 4,300 digits; describe() must not.
    space = {"p": hp.choice(LABEL, [10**5000, -(10**5000), {10**5000: "a"}, 1])}
    compiled = compile_space(space)
    assert compiled.fingerprint != compile_space({"p": hp.choice(LABEL, [1, 2, 3, 4])}).fingerprint
    best = fmin_sync(lambda params: 0.0, space, algo=rand.suggest, max_evals=4, seed=0)
    compiled.evaluate(best)


# --- any argument, any constructor (hypothesis) -------------------------------------------------


def _numpy(draw: st.DrawFn) -> object:
    kind = draw(st.sampled_from(["f64", "f32", "f16", "i64", "u64", "ld", "bool"]))
    if kind == "f64":
        return np.float64(draw(st.floats()))
    if kind == "f32":
        return np.float32(draw(st.floats(width=32)))
    if kind == "f16":
        return np.float16(draw(st.floats(width=16)))
    if kind == "i64":
        return np.int64(draw(st.integers(-(2**63), 2**63 - 1)))
    if kind == "u64":
        return np.uint64(draw(st.integers(0, 2**64 - 1)))
    if kind == "ld":
        return np.longdouble(draw(st.sampled_from(["1e4000", "-1e4000", "1e-4000", "3.5", "nan"])))
    return np.bool_(draw(st.booleans()))


PLAIN = st.one_of(st.integers(-20, 20), st.floats(-20, 20, allow_nan=False))
EXTREME_INTS = st.sampled_from(
    [2**53, 2**53 + 1, 2**62, 2**62 + 1, 2**63, -(2**62), -(2**63), 10**400, -(10**400), 10**5000]
)
HOSTILE: st.SearchStrategy[object] = st.one_of(
    PLAIN,
    PLAIN,
    st.floats(),
    st.floats(allow_subnormal=True, min_value=-1e-300, max_value=1e-300),
    st.integers(),
    EXTREME_INTS,
    st.integers(-(2**80), 2**80),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.decimals(),
    st.sampled_from([decimal.Decimal("sNaN"), decimal.Decimal("-Infinity")]),
    st.fractions(),
    st.builds(Fraction, st.integers(-(10**400), 10**400), st.integers(1, 10**400)),
    st.composite(lambda draw: _numpy(draw))(),
    st.builds(_BadFloat),
    st.lists(PLAIN, max_size=2),
)

NUMERIC = {
    "uniform": 2,
    "quniform": 3,
    "loguniform": 2,
    "qloguniform": 3,
    "normal": 2,
    "qnormal": 3,
    "lognormal": 2,
    "qlognormal": 3,
    "randint": 2,
    "uniformint": 2,
}


@st.composite
def hostile_nodes(draw: st.DrawFn) -> tuple[str, tuple[object, ...]]:
    """An hp function's name and the arguments after the label."""
    name = draw(st.sampled_from([*NUMERIC, "randint1", "choice", "pchoice"]))
    if name == "randint1":
        return "randint", (draw(HOSTILE),)
    if name == "choice":
        return name, (draw(st.one_of(st.lists(HOSTILE, max_size=3), HOSTILE)),)
    if name == "pchoice":
        pairs = draw(
            st.one_of(
                st.lists(st.tuples(HOSTILE, HOSTILE), max_size=3),
                st.lists(st.tuples(st.floats(0, 1), PLAIN), min_size=1, max_size=3),
                HOSTILE,
            )
        )
        return name, (pairs,)
    return name, tuple(draw(st.lists(HOSTILE, min_size=NUMERIC[name], max_size=NUMERIC[name])))


def _check_draws(space: Any) -> None:
    """A few prior draws, each a valid value of the space (the space's own checks say so)."""
    (param,) = space.params
    assert len(space.fingerprint) == 64  # describe() renders every option
    for row in space.sample(np.random.default_rng(0), 8):
        point = space.to_point(row)
        value = point[param.label]
        assert value == value, point  # never NaN
        if param.kind.value in ("lognormal", "qlognormal") and math.isinf(value):
            continue  # a far tail of a wide lognormal overflows: its honest float64 value
        space.to_row(point)  # in bounds, on the grid, an option index
        space.evaluate(point)
        if param.kind.value == "randint":
            assert isinstance(value, int)
            assert param.args[0] <= value < param.args[1]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_nodes())
@example(("uniform", (0, 10**400)))
@example(("pchoice", ([(1e308, 0), (1e308, 1)],)))
@example(("loguniform", (-1e30, 1)))
@example(("uniformint", (0, np.float32(1.5))))
@example(("randint", (2**62 + 1,)))
@example(("quniform", (0, 1, 1e-300)))
@example(("qlognormal", (705, 3, 0.01)))
@example(("choice", ([10**5000, {10**5000: 1}],)))
def test_any_arguments_give_a_working_space_or_a_space_error(
    node: tuple[str, tuple[object, ...]],
) -> None:
    name, args = node
    try:
        space = compile_space({"p": getattr(hp, name)(LABEL, *args)})
    except SpaceError as exc:
        _one_line_naming(exc)
        return
    _check_draws(space)


# --- nesting ------------------------------------------------------------------------------------


def _chain(n: int) -> object:
    space: object = hp.uniform("leaf", 0, 1)
    for i in range(n):
        space = hp.choice(f"c{i}", [space, i])
    return space


def _lists(n: int) -> object:
    space: object = hp.uniform("leaf", 0, 1)
    for _ in range(n):
        space = [space]
    return space


def _tuple_key(n: int) -> object:
    key: object = ()
    for _ in range(n):
        key = (key,)
    return {key: hp.uniform("leaf", 0, 1)}


def _scopes(n: int) -> object:
    space: object = hp.uniform("leaf", 0, 1)
    for _ in range(n):
        space = hp.scope.float(space)
    return space


@pytest.mark.parametrize("build", [_chain, _lists, _tuple_key, _scopes])
def test_nesting_too_deep_is_a_space_error(build: Callable[[int], object]) -> None:
    for depth in (101, 1000, 5000):
        space = build(depth)
        with pytest.raises(SpaceError, match="more than 100 levels deep") as caught:
            compile_space(space).fingerprint  # noqa: B018
        assert "\n" not in str(caught.value)
    if build is _chain:
        assert "label 'c" in str(caught.value)


@pytest.mark.parametrize("build", [_chain, _lists, _scopes])
def test_nesting_at_the_limit_works_end_to_end(build: Callable[[int], object]) -> None:
    space = compile_space(build(99))
    assert len(space.describe()) == len(space.params)
    assert len(space.fingerprint) == 64
    best = fmin_sync(
        lambda params: 0.0, build(99), algo=rand.suggest, max_evals=3, seed=0,
        show_progressbar=False,
    )  # fmt: skip
    space.evaluate({**{f"c{i}": 0 for i in range(99)}, "leaf": 0.5, **best})


def _deep_json(levels: int) -> str:
    text = '{"leaf": ["uniform", 0, 1]}'
    for i in range(levels):
        text = f'{{"k{i}": ["choice", [{text}, {i}]]}}'
    return text


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # ~900 JSON levels: json.loads itself may or may not manage, depending on the stack.
        (_deep_json(300), "too deeply to read|more than 100 levels deep"),
        (_deep_json(200), "more than 100 levels deep"),
        ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "too deeply to read"),
        ('{"hostile_x": ["randint", ' + "9" * 401 + "]}", "too large for a float64"),
        ('{"hostile_x": ["pchoice", [[1e308, 0], [1e308, 1]]]}', "above 1"),
        ('{"hostile_x": ["loguniform", -1e30, 1]}', "underflows"),
    ],
)
def test_a_bad_json_space_is_one_line_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, words: str
) -> None:
    (tmp_path / "space.json").write_text(text, encoding="utf-8")
    with pytest.raises(SpaceError, match=words):
        asynchpo._cli.load_space(str(tmp_path / "space.json"))
    code = _run_cli(tmp_path, str(tmp_path / "space.json"))
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(words, err), err
    if "hostile_x" in text:
        assert "'hostile_x'" in err


def _run_cli(tmp_path: Path, space: str) -> int:
    return asynchpo._cli.main(
        [
            "run", "--space", space, "--storage", str(tmp_path / "s.sqlite"), "--study", "s",
            "--max-evals", "1", "--", "true",
        ]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("import sys\nsys.exit(5)\n", r"exited \(SystemExit 5\) while loading"),
        ("raise SystemExit('usage: train.py')\n", r"exited \(SystemExit usage: train.py\)"),
        ("raise KeyboardInterrupt\n", r"interrupted \(KeyboardInterrupt\)"),
        ("import asyncio\nraise asyncio.CancelledError\n", "raised CancelledError"),
        (
            "class E(BaseException):\n    def __str__(self):\n        raise ValueError\n"
            "raise E()\n",
            "raised E: \\(its message cannot be shown\\)",
        ),
        ("def __getattr__(name):\n    raise OSError('no')\n", "reading 'space' .* raised OSError"),
        ("from asynchpo import hp\nspace = hp.randint('hostile_x', 2**63)\n", r"2\*\*62"),
        ("space = [[[[1]]]]\n" + "for _ in range(2000):\n    space = [space]\n", "levels deep"),
    ],
)
def test_a_space_file_that_exits_or_raises_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, words: str
) -> None:
    (tmp_path / "space_file.py").write_text(body, encoding="utf-8")
    code = _run_cli(tmp_path, f"{tmp_path / 'space_file.py'}:space")
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("asynchpo: error: ")
    assert re.search(words, err), err
    assert not (tmp_path / "s.sqlite").exists()  # refused before any work
