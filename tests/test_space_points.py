"""Points (hyperopt's argmin format): ``to_point``/``to_row`` and ``space_eval``."""

from __future__ import annotations

import collections
import math
import time
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asynchpo import hp
from asynchpo._exceptions import SpaceError
from asynchpo._space import Space, compile_space, space_eval

ALL_KINDS = {
    "lr": hp.loguniform("lr", math.log(1e-5), math.log(1e-1)),
    "model": hp.choice(
        "model",
        [
            {"kind": "linear", "alpha": hp.uniform("alpha", 0, 1)},
            {
                "kind": "tree",
                "depth": hp.uniformint("depth", 1, 10),
                "leaf": hp.qloguniform("leaf", 0, math.log(1000), 5),
                "split": hp.pchoice(
                    "split",
                    [(0.2, "gini"), (0.8, ("entropy", hp.quniform("t", 1, 10, 4)))],
                ),
            },
            [hp.randint("k", 3, 30), hp.normal("w", 0, 2)],
        ],
    ),
    "noise": hp.qnormal("noise", 0, 1, 0.1),
    "scale": hp.lognormal("scale", 0, 1),
    "steps": hp.qlognormal("steps", 3, 1, 10),
    "seed": hp.randint("seed", 5),
    "tag": ("fixed", 1),
}


@st.composite
def points(draw: st.DrawFn, space: Space) -> dict[str, float | int]:
    """A point of ``space`` in its support, its active labels only."""
    point: dict[str, float | int] = {}
    for p in space.params:
        if p.parents and not any(
            point.get(space.labels[parent]) == option for parent, option in p.parents
        ):
            continue
        if p.categorical:
            point[p.label] = draw(st.integers(p.offset, p.offset + p.n_options - 1))
            continue
        lo, hi = (math.exp(p.low), math.exp(p.high)) if p.log else (p.low, p.high)
        lo, hi = max(lo, -1e6), min(hi, 1e6)
        if p.q is not None:
            k = draw(st.integers(round(lo / p.q), round(hi / p.q)))
            point[p.label] = k * p.q
        else:
            point[p.label] = draw(st.floats(lo, hi))
    return point


SPACE = compile_space(ALL_KINDS)


@settings(max_examples=200, deadline=None)
@given(points(SPACE))
def test_to_row_and_to_point_round_trip(point: dict[str, float | int]) -> None:
    row = SPACE.to_row(point)
    assert row.shape == (len(SPACE),)
    assert SPACE.to_point(row) == point
    assert np.array_equal(SPACE.to_row(SPACE.to_point(row)), row, equal_nan=True)
    assert np.array_equal(SPACE.snap(row[None, :])[0], row, equal_nan=True)
    assert np.array_equal(SPACE.active(row[None, :])[0], ~np.isnan(row))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_sampled_rows_round_trip(seed: int) -> None:
    for row in SPACE.sample(np.random.default_rng(seed), 20):
        point = SPACE.to_point(row)
        assert np.array_equal(SPACE.to_row(point), row, equal_nan=True)
        SPACE.evaluate(point)


def test_to_point_types() -> None:
    space = compile_space(
        {
            "c": hp.choice("c", ["a", "b"]),
            "r": hp.randint("r", 3, 7),
            "p": hp.pchoice("p", [(0.5, 0), (0.5, 1)]),
            "u": hp.uniformint("u", 1, 4),
            "x": hp.uniform("x", 0, 1),
        }
    )
    point = space.to_point(np.array([1.0, 5.0, 0.0, 3.0, 0.5]))
    assert point == {"c": 1, "r": 5, "p": 0, "u": 3.0, "x": 0.5}
    assert [type(v) for v in point.values()] == [int, int, int, float, float]


def test_to_point_keeps_active_labels_only() -> None:
    row = SPACE.sample(np.random.default_rng(0), 1)[0]
    row[SPACE.columns["model"]] = 2
    row[SPACE.columns["k"]] = 4
    row[SPACE.columns["w"]] = 0.5
    # stale values of inactive parameters are not reported, NaN or not
    row[SPACE.columns["alpha"]] = 0.3
    point = SPACE.to_point(row)
    assert set(point) == {"lr", "model", "k", "w", "noise", "scale", "steps", "seed"}


def test_to_point_refuses_broken_rows() -> None:
    row = SPACE.to_row(SPACE.to_point(SPACE.sample(np.random.default_rng(0), 1)[0]))
    with pytest.raises(SpaceError, match=r"label 'lr' is active but its value is NaN"):
        SPACE.to_point(np.where(np.arange(len(row)) == SPACE.columns["lr"], np.nan, row))
    bad = row.copy()
    bad[SPACE.columns["seed"]] = 1.5
    with pytest.raises(SpaceError, match=r"label 'seed': 1\.5 is not a whole number; snap"):
        SPACE.to_point(bad)
    with pytest.raises(SpaceError, match=r"expected a row of shape \(13,\), got \(1, 13\)"):
        SPACE.to_point(row[None, :])


def test_to_row_accepts_hyperopt_values() -> None:
    point = {
        "lr": np.float64(1e-3),
        "model": np.int64(2),
        "k": np.int64(3),
        "w": -1,
        "noise": 0.30000000000000004,  # 3 * 0.1
        "scale": 2.0,
        "steps": np.float32(20.0),
        "seed": 4.0,
    }
    row = SPACE.to_row(point)
    assert SPACE.to_point(row)["model"] == 2
    assert row[SPACE.columns["seed"]] == 4.0


def test_to_row_ignores_inactive_labels() -> None:
    point = {
        "lr": 1e-3,
        "model": 0,
        "alpha": 0.5,
        "depth": 3.0,  # inactive: model is 0
        "t": "anything",  # inactive values are not even checked
        "noise": 0.0,
        "scale": 1.0,
        "steps": 10.0,
        "seed": 0,
    }
    row = SPACE.to_row(point)
    assert np.isnan(row[SPACE.columns["depth"]])
    assert "depth" not in SPACE.to_point(row)


def test_to_row_allows_rounding_at_the_bounds() -> None:
    space = compile_space({"lr": hp.loguniform("lr", math.log(1e-5), math.log(1e-1))})
    assert math.exp(math.log(1e-5)) != 1e-5
    assert space.to_row({"lr": 1e-5})[0] == 1e-5
    assert space.to_row({"lr": 0.1 * (1 + 1e-12)})[0] == 0.1 * (1 + 1e-12)


BASE = {"lr": 1e-3, "model": 1, "depth": 3.0, "leaf": 5.0, "split": 1, "t": 4.0}
BASE |= {"noise": 0.1, "scale": 1.0, "steps": 10.0, "seed": 0}

BAD_POINTS = [
    ({**BASE, "extra": 1}, r"unknown label 'extra' in the point; the space's labels are \["),
    ({k: v for k, v in BASE.items() if k != "t"}, r"label 't' is active but missing"),
    ({k: v for k, v in BASE.items() if k != "lr"}, r"give a value for every active label"),
    ({**BASE, "model": 3}, r"label 'model': 3 is not an option index \(0 to 2\), the support"),
    ({**BASE, "model": -1}, r"label 'model': -1 is not an option index"),
    ({**BASE, "model": 0.5}, r"label 'model': 0\.5 is not an option index"),
    ({**BASE, "split": 2}, r"label 'split': 2 is not an option index \(0 to 1\), .*pchoice"),
    ({**BASE, "seed": 5}, r"label 'seed': 5 is not an integer in \[0, 5\), .* randint\(0, 5\)"),
    ({**BASE, "seed": 1.5}, r"label 'seed': 1\.5 is not an integer in"),
    ({**BASE, "t": 5.0}, r"label 't': 5\.0 is not a multiple of q=4 as quniform\(1, 10, 4\)"),
    ({**BASE, "t": 12.0}, r"label 't': 12\.0 is outside the values quniform\(1, 10, 4\) can"),
    ({**BASE, "depth": 3.5}, r"label 'depth': 3\.5 is not a multiple of q=1"),
    ({**BASE, "depth": 11.0}, r"outside the values uniformint\(1, 10\) can take \(1 to 10\)"),
    ({**BASE, "leaf": 1005.0}, r"label 'leaf': 1005\.0 is outside the values qloguniform"),
    ({**BASE, "noise": 0.15}, r"label 'noise': 0\.15 is not a multiple of q=0\.1"),
    ({**BASE, "steps": -10.0}, r"label 'steps': -10\.0 is outside the values qlognormal"),
    ({**BASE, "scale": -1.0}, r"label 'scale': -1\.0 is outside \[0, inf\], the support of"),
    (
        {**BASE, "lr": 0.5},
        r"label 'lr': 0\.5 is outside \[9\.99\d*e-06, 0\.1\d*\], the support of loguniform",
    ),
    ({**BASE, "lr": math.nan}, r"label 'lr': expected a finite number, got nan"),
    ({**BASE, "lr": math.inf}, r"label 'lr': expected a finite number, got inf"),
    ({**BASE, "lr": "0.1"}, r"label 'lr': expected a number, got '0\.1'"),
    ({**BASE, "model": True}, r"label 'model': expected a number, got True"),
    ({**BASE, "model": None}, r"label 'model': expected a number, got None"),
]


@pytest.mark.parametrize(("point", "message"), BAD_POINTS)
def test_to_row_refuses_points_outside_the_space(point: dict[str, object], message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        SPACE.to_row(point)


# --- space_eval -------------------------------------------------------------------------------


class Pair(NamedTuple):
    first: object
    second: object


def test_evaluate_fills_in_nested_structures() -> None:
    value = SPACE.evaluate(BASE)
    assert value == {
        "lr": 1e-3,
        "model": {
            "kind": "tree",
            "depth": 3,
            "leaf": 5.0,
            "split": ("entropy", 4.0),
        },
        "noise": 0.1,
        "scale": 1.0,
        "steps": 10.0,
        "seed": 0,
        "tag": ("fixed", 1),
    }
    assert isinstance(value, dict)
    assert type(value["model"]["depth"]) is int
    assert type(value["seed"]) is int
    assert type(value["model"]["leaf"]) is float
    assert type(value["model"]["split"]) is tuple
    assert list(value) == list(ALL_KINDS)


def test_evaluate_list_branch_and_randint() -> None:
    point = {**BASE, "model": 2, "k": np.int64(7), "w": np.float64(0.5)}
    value = SPACE.evaluate(point)
    assert isinstance(value, dict)
    assert value["model"] == [7, 0.5]
    assert type(value["model"]) is list
    assert type(value["model"][0]) is int
    assert type(value["model"][1]) is float


def test_evaluate_keeps_container_subclasses() -> None:
    space = {
        "ordered": collections.OrderedDict([("b", hp.uniform("b", 0, 1)), ("a", 1)]),
        "default": collections.defaultdict[str, object](list, {"x": hp.uniformint("x", 0, 3)}),
        "pair": Pair(hp.choice("c", ["no", "yes"]), 2),
        "choice of choices": hp.choice(
            "outer", [hp.choice("inner", [("deep", hp.randint("r", 4)), "shallow"]), "none"]
        ),
    }
    value = space_eval(space, {"b": 0.5, "x": 2.0, "c": 1, "outer": 0, "inner": 0, "r": 3})
    assert isinstance(value, dict)
    assert type(value["ordered"]) is collections.OrderedDict
    assert list(value["ordered"].items()) == [("b", 0.5), ("a", 1)]
    assert type(value["default"]) is collections.defaultdict
    assert value["default"]["x"] == 2
    assert value["default"]["missing"] == []  # the factory survived
    assert value["pair"] == Pair("yes", 2)
    assert type(value["pair"]) is Pair
    assert value["choice of choices"] == ("deep", 3)
    other = space_eval(space, {"b": 0.5, "x": 2.0, "c": 0, "outer": 1})
    assert isinstance(other, dict)
    assert other["choice of choices"] == "none"
    assert other["pair"] == Pair("no", 2)


def test_evaluate_returns_constants_as_is_in_fresh_containers() -> None:
    marker = object()
    space = compile_space({"m": marker, "list": [1, hp.uniform("x", 0, 1)]})
    first = space.evaluate({"x": 0.5})
    assert isinstance(first, dict)
    assert first["m"] is marker
    first["list"].append("mutated")
    second = space.evaluate({"x": 0.5})
    assert isinstance(second, dict)
    assert second["list"] == [1, 0.5]


def test_evaluate_ignores_inactive_and_unknown_labels() -> None:
    point = {**BASE, "model": 0, "alpha": 0.25, "k": "not checked", "hyperopt_extra": 1}
    value = SPACE.evaluate(point)
    assert isinstance(value, dict)
    assert value["model"] == {"kind": "linear", "alpha": 0.25}


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ({**BASE, "model": 3}, r"label 'model': 3 is not an option index; expected 0 to 2"),
        ({**BASE, "model": -1}, r"label 'model': -1 is not an option index"),
        ({**BASE, "model": 1.5}, r"label 'model': expected a whole number, got 1\.5"),
        ({**BASE, "depth": 2.5}, r"label 'depth': expected a whole number, got 2\.5"),
        ({**BASE, "lr": "fast"}, r"label 'lr': expected a number, got 'fast'"),
        ({k: v for k, v in BASE.items() if k != "leaf"}, r"label 'leaf' is active but missing"),
    ],
)
def test_evaluate_refuses_unusable_points(point: dict[str, object], message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        SPACE.evaluate(point)


def test_space_eval_takes_a_raw_or_compiled_space() -> None:
    raw = {"x": hp.uniformint("x", 0, 5)}
    assert space_eval(raw, {"x": 4.0}) == {"x": 4}
    assert space_eval(compile_space(raw), {"x": 4.0}) == {"x": 4}
    assert space_eval(raw, {"x": 3.9999999999999996}) == {"x": 4}


def test_hyperopt_agrees_on_space_eval() -> None:
    # Tuples only: hyperopt turns every list into a tuple, where asynchpo keeps lists.
    hyperopt = pytest.importorskip("hyperopt")
    theirs = {
        "a": hyperopt.hp.choice(
            "a", [{"x": hyperopt.hp.uniform("x", 0, 1)}, (1, hyperopt.hp.randint("r", 2, 9))]
        ),
        "u": hyperopt.hp.uniformint("u", 1, 4),
        "p": hyperopt.hp.pchoice("p", [(0.5, "s"), (0.5, ("t", hyperopt.hp.normal("n", 0, 1)))]),
    }
    ours = {
        "a": hp.choice("a", [{"x": hp.uniform("x", 0, 1)}, (1, hp.randint("r", 2, 9))]),
        "u": hp.uniformint("u", 1, 4),
        "p": hp.pchoice("p", [(0.5, "s"), (0.5, ("t", hp.normal("n", 0, 1)))]),
    }
    for point in (
        {"a": 0, "x": 0.25, "u": 2.0, "p": 0},
        {"a": 1, "r": 5, "u": 4.0, "p": 1, "n": -0.5},
    ):
        assert space_eval(ours, point) == hyperopt.space_eval(theirs, point)


# --- speed --------------------------------------------------------------------------------------


def test_points_are_cheap_enough_to_convert_every_trial() -> None:
    space = compile_space({f"x{i}": hp.uniform(f"x{i}", 0, 1) for i in range(30)})
    row = space.sample(np.random.default_rng(0), 1)[0]
    point = space.to_point(row)
    calls = 300
    start = time.perf_counter()
    for _ in range(calls):
        space.to_row(space.to_point(row))
        space.evaluate(point)
    per_param = (time.perf_counter() - start) / calls / len(space)
    # a few microseconds per parameter; generous for slow CI machines
    assert per_param < 50e-6
