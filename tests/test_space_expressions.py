"""Arithmetic on hp nodes and hyperopt's common scope functions (issue 13, item 3).

Expressions are evaluated when a point is evaluated (space_eval, the objective's parameters);
the stored point keeps the parameters' own values; an expression is part of the space's
description, while the fingerprint of a space without expressions stays what it was.
"""

from __future__ import annotations

import copy
import math
import operator
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asynchpo import SpaceError, StudyMismatch, fmin, hp, rand, scope, space_eval, tpe
from asynchpo._space import compile_space, describe_difference

README = Path(__file__).resolve().parents[1] / "README.md"

BINARY: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("+", operator.add),
    ("-", operator.sub),
    ("*", operator.mul),
    ("/", operator.truediv),
    ("//", operator.floordiv),
    ("%", operator.mod),
    ("**", operator.pow),
]


@pytest.mark.parametrize(("symbol", "op"), BINARY, ids=[s for s, _ in BINARY])
def test_every_binary_operator_and_its_reflected_form(
    symbol: str, op: Callable[[Any, Any], Any]
) -> None:
    x = hp.uniform("x", 1, 4)
    y = hp.quniform("y", 1, 9, 1)
    space = {"node_op_number": op(x, 3), "number_op_node": op(3, x), "node_op_node": op(x, y)}
    point = {"x": 2.5, "y": 3.0}
    assert space_eval(space, point) == {
        "node_op_number": op(2.5, 3),
        "number_op_node": op(3, 2.5),
        "node_op_node": op(2.5, 3.0),
    }
    assert symbol in repr(op(x, 3))


def test_unary_operators_and_nested_expressions() -> None:
    x = hp.normal("x", 0, 1)
    space = [-x, +x, abs(x), -(abs(x) + 1) * 2, 10**-x]
    assert space_eval(space, {"x": -1.5}) == [1.5, -1.5, 1.5, -5.0, 10**1.5]


def test_the_issues_examples() -> None:
    space = {
        "lr": 10 ** hp.uniform("e", -3, 0),
        "alpha": 1 + hp.lognormal("a", 0, 1),
        "width": hp.quniform("w", 1, 8, 1) * 8,
        "shift": -hp.uniform("s", 0, 1),
        "n": scope.int(hp.quniform("n", 1, 4, 1)),
        "f": scope.float(hp.randint("r", 5)),
        "g": scope.exp(hp.uniform("g", -1, 1)),
        "h": scope.log(hp.uniform("h", 1, 10)),
        "q": scope.sqrt(hp.uniform("q", 0, 9)),
        "lo": scope.minimum(hp.uniform("m", 0, 1), 0.5),
        "hi": scope.maximum(hp.uniform("m", 0, 1), 0.5),
        "sw": scope.switch(hp.randint("i", 3), "a", {"b": hp.uniform("b", 0, 1)}, ["c"]),
    }
    point = {
        "e": -2.0,
        "a": 1.0,
        "w": 3.0,
        "s": 0.25,
        "n": 3.0,
        "r": 2,
        "g": 1.0,
        "h": math.e,
        "q": 4.0,
        "m": 0.25,
        "i": 1,
        "b": 0.75,
    }
    values: dict[str, Any] = space_eval(space, point)  # type: ignore[assignment]
    assert values == {
        "lr": pytest.approx(0.01),
        "alpha": 2.0,
        "width": 24.0,
        "shift": -0.25,
        "n": 3,
        "f": 2.0,
        "g": math.e,
        "h": 1.0,
        "q": 2.0,
        "lo": 0.25,
        "hi": 0.5,
        "sw": {"b": 0.75},
    }
    assert type(values["n"]) is int
    assert space_eval(space, {**point, "i": 0})["sw"] == "a"  # type: ignore[index]
    assert space_eval(space, {**point, "i": 2})["sw"] == ["c"]  # type: ignore[index]


def test_numpy_numbers_defer_to_the_node() -> None:
    space = [np.float64(10) ** hp.uniform("e", -3, 0), np.int64(2) * hp.uniform("e", -3, 0)]
    assert space_eval(space, {"e": -1.0}) == [pytest.approx(0.1), -2.0]


def test_matches_hyperopt_space_eval() -> None:
    hyperopt = pytest.importorskip("hyperopt")
    pyll = pytest.importorskip("hyperopt.pyll")

    def build(hp_: Any, scope_: Any) -> object:
        x = hp_.uniform("x", 1, 4)
        return {
            "ops": [x + 2, 2 + x, x - 2, 2 - x, x * 3, 3 * x, x / 4, 4 / x, x // 2, 7 // x],
            "pow": [x**2, 10 ** hp_.uniform("e", -3, 0), -x],
            "fn": [scope_.exp(x), scope_.log(x), scope_.sqrt(x), scope_.int(x * 2)],
            "mm": [scope_.minimum(x, 2), scope_.maximum(x, 2)],
            "choice": hp_.choice(
                "c", [1 + hp_.lognormal("c1", 0, 1), hp_.quniform("q", 0, 8, 2) * 8]
            ),
        }

    for point in (
        {"x": 2.5, "e": -2.0, "c": 0, "c1": 1.0},
        {"x": 1.25, "e": -0.5, "c": 1, "q": 4.0},
    ):
        ours = space_eval(build(hp, scope), point)
        theirs = hyperopt.space_eval(build(hyperopt.hp, pyll.scope), point)
        assert _plain(ours) == pytest.approx(_plain(theirs))


def _plain(value: object) -> list[float]:
    """Every number of an evaluated space, in order, as floats."""
    if isinstance(value, dict):
        return [x for key in sorted(value) for x in _plain(value[key])]
    if isinstance(value, (list, tuple)):
        return [x for item in value for x in _plain(item)]
    return [float(value)]  # type: ignore[arg-type]


async def test_the_objective_gets_values_and_the_point_keeps_the_parameters() -> None:
    seen: list[dict[str, float]] = []

    def objective(params: dict[str, float]) -> float:
        seen.append(params)
        return params["lr"]

    space = {"lr": 10 ** hp.uniform("e", -3, 0), "width": scope.int(hp.quniform("w", 1, 8, 1)) * 8}
    best = await fmin(objective, space, algo=tpe.suggest, max_evals=12, seed=3)
    assert len(seen) == 12
    for params in seen:
        assert 1e-3 <= params["lr"] <= 1.0
        assert params["width"] % 8 == 0
        assert type(params["width"]) is int
    # The point holds the exponent and the quniform value, as hyperopt's argmin does.
    assert set(best) == {"e", "w"}
    assert -3 <= best["e"] <= 0
    assert space_eval(space, best)["lr"] == pytest.approx(min(p["lr"] for p in seen))  # type: ignore[index]


def test_fingerprints_of_spaces_without_expressions_do_not_change() -> None:
    # Computed on main before expressions existed: stored studies must keep resuming.
    spaces = {
        "a88744656e30a1e6d77491168c2436486f88b1fcc1f2b0c357f77208be42c780": {
            "lr": hp.loguniform("lr", math.log(1e-5), 0),
            "n": hp.quniform("n", 1, 9, 1),
            "k": hp.randint("k", 4),
        },
        "fb6d2b9d92ef38f3a4c04c8c31b4698bf54d19a262ab2e9cf1419c2158891885": hp.choice(
            "model",
            [
                {"kind": "svm", "C": hp.lognormal("C", 0, 1)},
                ("rf", hp.uniformint("depth", 1, 8)),
                None,
            ],
        ),
        "5daec3b8f84e1a2dbd45582dad7e56e2e98d2bf7a466cdbba384ad28ad6e61f8": {
            "layers": scope.int(hp.quniform("layers", 1, 4, 1)),
            "c": hp.choice("c", [scope.float(hp.randint("r", 3)), 2]),
        },
    }
    for fingerprint, space in spaces.items():
        compiled = compile_space(space)
        assert compiled.fingerprint == fingerprint
        assert all("expressions" not in entry for entry in compiled.describe())


def test_an_expression_is_part_of_the_fingerprint() -> None:
    def space(base: float, offset: float = 1) -> object:
        return {
            "lr": base ** hp.uniform("e", -3, 0),
            "c": hp.choice("c", [offset + hp.lognormal("c1", 0, 1), 2]),
        }

    same = compile_space(space(10)).fingerprint
    assert compile_space(space(10)).fingerprint == same
    assert compile_space(space(2)).fingerprint != same
    assert compile_space(space(10, 2)).fingerprint != same
    bare = {"lr": hp.uniform("e", -3, 0), "c": hp.choice("c", [2, 2])}
    assert compile_space(bare).fingerprint != same

    lines = describe_difference(
        compile_space(space(10)).describe(), compile_space(space(2)).describe()
    )
    assert len(lines) == 1
    assert lines[0].startswith("label 'e': used in the expressions ")
    assert '[10,{"param":"e"}]' in lines[0]
    assert '[2,{"param":"e"}]' in lines[0]
    lines = describe_difference(compile_space(bare).describe(), compile_space(space(10)).describe())
    assert "label 'e': used in the expressions none, now " in lines[0]


async def test_resuming_with_a_changed_expression_is_refused(tmp_path: Path) -> None:
    storage = tmp_path / "runs.sqlite"

    async def run(base: float) -> None:
        await fmin(
            lambda p: p["lr"],
            {"lr": base ** hp.uniform("e", -3, 0)},
            algo=rand.suggest,
            max_evals=2,
            seed=0,
            storage=storage,
            study="s",
        )

    await run(10)
    await run(10)  # unchanged: resumes
    with pytest.raises(StudyMismatch, match=r"label 'e': used in the expressions"):
        await run(2)


def test_a_compiled_space_with_expressions_pickles_and_copies() -> None:
    space = {"x": 10 ** hp.uniform("e", -3, 0), "s": scope.switch(hp.randint("i", 2), 1, 2)}
    compiled = compile_space(space)
    again = pickle.loads(pickle.dumps(compiled))
    assert again.fingerprint == compiled.fingerprint
    assert again.evaluate({"e": -1.0, "i": 1}) == {"x": pytest.approx(0.1), "s": 2}
    assert compile_space(copy.deepcopy(space)).fingerprint == compiled.fingerprint
    assert copy.deepcopy(scope) is not None
    assert pickle.loads(pickle.dumps(scope)) is not None


# --- what is not supported: a SpaceError naming it and pointing to the README ----------------


def _points_to_readme(message: str) -> None:
    assert "see 'Porting from hyperopt' in the README" in message
    assert "## Porting from hyperopt" in README.read_text(encoding="utf-8")


def test_an_unknown_scope_function_is_a_space_error() -> None:
    with pytest.raises(SpaceError, match=r"^scope\.sin is not supported") as info:
        scope.sin(hp.uniform("x", 0, 1))
    _points_to_readme(str(info.value))
    assert not hasattr(scope, "sin")  # still an AttributeError for hasattr and getattr
    assert getattr(scope, "tanh", None) is None


@pytest.mark.parametrize(
    "build",
    [
        lambda x: x + "a",
        lambda x: "a" * x,
        lambda x: x * [1, 2],
        lambda x: [1] * x,
        lambda x: x**None,
        lambda x: x - True,
        lambda x: scope.exp("e"),
        lambda x: scope.minimum(x, {"a": 1}),
        lambda x: scope.switch(x),
    ],
)
def test_arithmetic_on_unsupported_objects_is_a_space_error(build: Callable[[Any], Any]) -> None:
    with pytest.raises(SpaceError) as info:
        build(hp.uniform("x", 0, 1))
    if "switch" not in str(info.value):
        _points_to_readme(str(info.value))


def test_a_node_has_no_value_before_a_point_is_evaluated() -> None:
    for convert in (float, int, math.exp, math.log):
        with pytest.raises(SpaceError, match=r"has no value until a point is evaluated"):
            convert(hp.uniform("x", 1, 2))


@pytest.mark.parametrize(
    ("build", "point", "message"),
    [
        (
            lambda: scope.log(hp.uniform("x", -1, 1)),
            {"x": -0.5},
            r"scope\.log\(.*failed.*-0\.5.*domain",
        ),
        (lambda: 1 / hp.uniform("x", -1, 1), {"x": 0.0}, r"failed.*ZeroDivisionError"),
        (lambda: 10 ** hp.uniform("x", 0, 1000), {"x": 999.0}, r"failed.*OverflowError"),
        (lambda: hp.choice("c", ["a", "b"]) * 2, {"c": 0}, r"expected numbers, got 'a'"),
        (
            lambda: scope.switch(hp.randint("i", 5), 1, 2),
            {"i": 3},
            r"index 3 is not an option index",
        ),
        (
            lambda: scope.switch(hp.uniform("i", 0, 1), 1, 2),
            {"i": 0.5},
            r"index 0\.5 is not an option",
        ),
    ],
)
def test_a_value_an_expression_cannot_take_is_a_space_error(
    build: Callable[[], object], point: dict[str, object], message: str
) -> None:
    space = build()
    with pytest.raises(SpaceError, match=message):
        space_eval(space, point)


def test_the_supported_list_in_the_message_is_what_works() -> None:
    try:
        scope.nosuch  # noqa: B018
    except SpaceError as exc:
        named = re.findall(r"scope\.(\w+)", str(exc))[1:]
    assert set(named) == {"int", "float", "exp", "log", "sqrt", "minimum", "maximum", "switch"}
    for name in named:
        assert callable(getattr(scope, name))
