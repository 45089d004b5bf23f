"""The ``hp`` DSL: node values, their reprs, and every argument error they refuse."""

from __future__ import annotations

import dataclasses
import math
import pickle
from collections.abc import Callable

import pytest

from asynchpo import hp
from asynchpo._exceptions import AsynchpoError, SpaceError


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (hp.uniform("x", 0, 1), "hp.uniform('x', 0, 1)"),
        (hp.quniform("x", 1, 10, 4), "hp.quniform('x', 1, 10, 4)"),
        (hp.loguniform("lr", -9.5, -1), "hp.loguniform('lr', -9.5, -1)"),
        (hp.qloguniform("x", 0, 3, 0.5), "hp.qloguniform('x', 0, 3, 0.5)"),
        (hp.normal("x", 0, 1e-3), "hp.normal('x', 0, 0.001)"),
        (hp.qnormal("x", -2, 3, 1), "hp.qnormal('x', -2, 3, 1)"),
        (hp.lognormal("x", 0, 1), "hp.lognormal('x', 0, 1)"),
        (hp.qlognormal("x", 1, 2, 0.25), "hp.qlognormal('x', 1, 2, 0.25)"),
        (hp.randint("n", 10), "hp.randint('n', 10)"),
        (hp.randint("n", 3, 7), "hp.randint('n', 3, 7)"),
        (hp.uniformint("k", 1, 4), "hp.uniformint('k', 1, 4)"),
        (hp.choice("c", ["a", 2, None]), "hp.choice('c', ['a', 2, None])"),
        (
            hp.choice("c", [{"x": hp.uniform("x", 0, 1)}, 3]),
            "hp.choice('c', [{'x': hp.uniform('x', 0, 1)}, 3])",
        ),
        (
            hp.pchoice("p", [(0.25, "a"), (0.75, "b")]),
            "hp.pchoice('p', [(0.25, 'a'), (0.75, 'b')])",
        ),
    ],
)
def test_repr_reads_like_the_call(node: hp.Node, expected: str) -> None:
    assert repr(node) == expected


def test_nodes_are_immutable_values() -> None:
    node = hp.uniform("x", 0, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.label = "y"  # type: ignore[misc]
    assert node == hp.uniform("x", 0.0, 1.0)
    assert node != hp.uniform("x", 0, 2)
    assert node != hp.loguniform("x", 0, 1)
    assert hash(node) == hash(hp.uniform("x", 0.0, 1.0))
    assert node.args == (0.0, 1.0)
    assert all(type(a) is float for a in node.args)


def test_choice_keeps_its_options_as_a_tuple() -> None:
    options: list[object] = [1, {"a": 2}]
    node = hp.choice("c", options)
    options.append(3)  # the node does not see later changes to the caller's list
    assert node.options == (1, {"a": 2})
    assert hp.choice("c", [1, 2]) == hp.choice("c", (1, 2))


def test_pchoice_splits_probabilities_and_options() -> None:
    node = hp.pchoice("p", [(0.2, "a"), [0.8, "b"]])  # type: ignore[list-item]
    assert node.probs == (0.2, 0.8)
    assert node.options == ("a", "b")


def test_randint_with_one_argument_counts_from_zero() -> None:
    assert hp.randint("n", 5).args == (0.0, 5.0)
    assert hp.randint("n", 5) == hp.randint("n", 0, 5)
    assert hp.randint("n", low=2, high=4).args == (2.0, 4.0)


def test_nodes_pickle() -> None:
    space = hp.choice("c", [hp.uniform("x", 0, 1), hp.pchoice("p", [(1.0, "z")])])
    assert pickle.loads(pickle.dumps(space)) == space


def test_numpy_numbers_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    node = hp.quniform("x", np.int64(1), np.float32(2.5), np.float64(0.5))
    assert node.args == (1.0, 2.5, 0.5)


def test_space_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="low"):
        hp.uniform("x", 1, 0)
    assert issubclass(SpaceError, AsynchpoError)


def test_pchoice_tolerates_rounding_in_the_sum() -> None:
    hp.pchoice("p", [(0.1, "a"), (0.2, "b"), (0.7 - 5e-7, "c")])
    with pytest.raises(SpaceError, match="sum to"):
        hp.pchoice("p", [(0.1, "a"), (0.2, "b"), (0.7 + 2e-6, "c")])


BAD_NODES: list[tuple[Callable[[], object], str]] = [
    # labels
    (lambda: hp.uniform(3, 0, 1), r"hp\.uniform: the label must be a non-empty string, got 3"),  # type: ignore[arg-type]
    (lambda: hp.uniform("", 0, 1), r"label must be a non-empty string, got ''; name every"),
    (lambda: hp.choice("  ", [1]), r"hp\.choice: the label must be a non-empty string"),
    (lambda: hp.choice(None, [1]), r"hp\.choice: the label must be .* got None"),  # type: ignore[arg-type]
    (lambda: hp.pchoice(b"p", [(1.0, 1)]), r"hp\.pchoice: the label .* got b'p'"),  # type: ignore[arg-type]
    (lambda: hp.randint(1.5, 3), r"hp\.randint: the label must be"),  # type: ignore[arg-type]
    # ranges
    (lambda: hp.uniform("x", 1, 0), r"hp\.uniform\('x'\): low \(1\) must be less than high \(0\)"),
    (lambda: hp.uniform("x", 1, 1), r"low \(1\) must be less than high \(1\); swap them"),
    (lambda: hp.quniform("x", 5, 2, 1), r"hp\.quniform\('x'\): low \(5\) must be less than"),
    (lambda: hp.uniformint("x", 3, 3), r"hp\.uniformint\('x'\): low \(3\) must be less"),
    (
        lambda: hp.loguniform("lr", -1, -9),
        r"hp\.loguniform\('lr'\): low \(-1\) must be less than high \(-9\); both are logarithms",
    ),
    (lambda: hp.qloguniform("lr", 2, 1, 1), r"both are logarithms: e\.g\. low=math\.log"),
    (
        lambda: hp.loguniform("lr", 0, 1000),
        r"exp\(high\) = exp\(1000\) overflows; .* pass math\.log\(x\)",
    ),
    # quanta and scales
    (lambda: hp.quniform("x", 0, 1, 0), r"hp\.quniform\('x'\): q must be positive, got 0"),
    (lambda: hp.qnormal("x", 0, 1, -0.5), r"hp\.qnormal\('x'\): q must be positive, got -0\.5"),
    (lambda: hp.qlognormal("x", 0, 1, 0), r"q must be positive, got 0; q is the step"),
    (lambda: hp.normal("x", 0, 0), r"hp\.normal\('x'\): sigma must be positive, got 0"),
    (lambda: hp.lognormal("x", 0, -1), r"hp\.lognormal\('x'\): sigma must be positive, got -1"),
    (lambda: hp.qnormal("x", 0, 0, 1), r"sigma must be positive, got 0; sigma is the standard"),
    # non-finite and non-numeric arguments
    (lambda: hp.uniform("x", math.nan, 1), r"hp\.uniform\('x'\): low must be finite, got nan"),
    (lambda: hp.uniform("x", 0, math.inf), r"high must be finite, got inf; pass a finite"),
    (lambda: hp.normal("x", -math.inf, 1), r"hp\.normal\('x'\): mu must be finite, got -inf"),
    (lambda: hp.normal("x", 0, math.inf), r"sigma must be finite"),
    (lambda: hp.quniform("x", 0, 1, math.nan), r"q must be finite, got nan"),
    (lambda: hp.uniform("x", "0", 1), r"hp\.uniform\('x'\): low must be a number, got '0'"),  # type: ignore[arg-type]
    (lambda: hp.uniform("x", None, 1), r"low must be a number, got None; pass an int or float"),  # type: ignore[arg-type]
    (lambda: hp.uniform("x", False, True), r"low must be a number, got False"),
    (
        lambda: hp.uniform("x", 0, hp.uniform("y", 1, 2)),  # type: ignore[arg-type]
        r"high must be a number, got hp\.uniform\('y', 1, 2\); .* cannot be the bound",
    ),
    # randint
    (lambda: hp.randint("n", 0), r"hp\.randint\('n'\): upper must be positive, got 0"),
    (lambda: hp.randint("n", -3), r"upper must be positive, got -3; randint\(label, upper\)"),
    (lambda: hp.randint("n", 5, 3), r"hp\.randint\('n'\): high \(3\) must be greater than low"),
    (lambda: hp.randint("n", 5, 5), r"high \(5\) must be greater than low \(5\)"),
    (lambda: hp.randint("n", 2.5), r"hp\.randint\('n'\): high must be a whole number, got 2\.5"),  # type: ignore[arg-type]
    (lambda: hp.randint("n", 0.5, 3), r"low must be a whole number, got 0\.5"),  # type: ignore[arg-type]
    (lambda: hp.randint("n", "7"), r"hp\.randint\('n'\): upper must be a number"),  # type: ignore[arg-type]
    # choice and pchoice
    (lambda: hp.choice("c", []), r"hp\.choice\('c'\): there are no options; give at least one"),
    (lambda: hp.choice("c", ()), r"there are no options"),
    (lambda: hp.choice("c", "abc"), r"hp\.choice\('c'\): options must be a list or tuple"),
    (lambda: hp.choice("c", 3), r"options must be a list or tuple, got 3"),  # type: ignore[arg-type]
    (lambda: hp.pchoice("p", []), r"hp\.pchoice\('p'\): there are no options"),
    (
        lambda: hp.pchoice("p", [(0.5, "a"), (0.6, "b")]),
        r"hp\.pchoice\('p'\): the probabilities sum to 1\.1, not 1; scale them",
    ),
    (lambda: hp.pchoice("p", [(0.5, "a")]), r"the probabilities sum to 0\.5, not 1"),
    (
        lambda: hp.pchoice("p", [(-0.5, "a"), (1.5, "b")]),
        r"hp\.pchoice\('p'\): the probability of option 0 is negative \(-0\.5\)",
    ),
    (
        lambda: hp.pchoice("p", ["a", "b"]),  # type: ignore[list-item]
        r"hp\.pchoice\('p'\): option 0 must be a \(probability, option\) pair, got 'a'",
    ),
    (lambda: hp.pchoice("p", [(1.0, "a", 3)]), r"option 0 must be a \(probability, option\) pair"),  # type: ignore[list-item]
    (
        lambda: hp.pchoice("p", [("half", "a")]),  # type: ignore[list-item]
        r"the probability of option 0 must be a number, got 'half'",
    ),
    (lambda: hp.pchoice("p", [(math.nan, "a")]), r"the probability of option 0 must be finite"),
    (lambda: hp.pchoice("p", {0.5: "a"}), r"expected a list of \(probability, option\) pairs"),  # type: ignore[arg-type]
    (lambda: hp.PChoice("p", (1.0,), ("a", "b")), r"1 probabilities for 2 options"),
    # direct construction still validates
    (lambda: hp.Numeric("x", "bogus", (1.0, 2.0)), r"unknown parameter kind 'bogus' for label"),
    (lambda: hp.Numeric("x", "uniform", (1.0,)), r"expected 2 arguments \(low, high\), got 1"),
    (lambda: hp.Numeric("x", "qnormal", (0.0, 1.0)), r"expected 3 arguments \(mu, sigma, q\)"),
]


@pytest.mark.parametrize(("make", "message"), BAD_NODES)
def test_bad_nodes_are_refused_with_a_fix(make: Callable[[], object], message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        make()


def test_choice_takes_any_ordered_collection() -> None:
    np = pytest.importorskip("numpy")
    assert hp.choice("c", range(3)).options == (0, 1, 2)
    assert hp.choice("c", np.array([1, 2])).options == (1, 2)
    with pytest.raises(SpaceError, match=r"options must be a list or tuple, got \{1, 2\}"):
        hp.choice("c", {1, 2})  # type: ignore[arg-type]
    with pytest.raises(SpaceError, match=r"options must be a list or tuple, got \{'a': 1\}"):
        hp.choice("c", {"a": 1})  # type: ignore[arg-type]


# --- scope.int and scope.float (hyperopt.pyll.scope) ------------------------------------------


def test_scope_converts_values_when_a_point_is_evaluated() -> None:
    from asynchpo import scope, space_eval

    space = {
        "layers": scope.int(hp.quniform("layers", 1, 8, 1)),
        "ratio": scope.float(hp.randint("ratio", 5)),
        "nested": scope.int(hp.choice("nested", [1.7, hp.uniform("u", 0, 3)])),
    }
    values = space_eval(space, {"layers": 3.0, "ratio": 2, "nested": 1, "u": 2.6})
    assert values == {"layers": 3, "ratio": 2.0, "nested": 2}
    assert type(values["layers"]) is int
    assert type(values["ratio"]) is float
    assert space_eval(space, {"layers": 8.0, "ratio": 0, "nested": 0}) == {
        "layers": 8,
        "ratio": 0.0,
        "nested": 1,  # int() truncates, as in hyperopt
    }
    assert repr(scope.int(hp.uniform("x", 0, 1))) == "scope.int(hp.uniform('x', 0, 1))"


async def test_fmin_gives_the_objective_converted_values() -> None:
    from asynchpo import fmin, rand, scope

    seen: list[int] = []

    def objective(params: dict[str, int]) -> float:
        seen.append(params["layers"])
        return float(params["layers"])

    best = await fmin(
        objective,
        {"layers": scope.int(hp.quniform("layers", 1, 8, 1))},
        algo=rand.suggest,
        max_evals=10,
        seed=1,
    )
    assert all(type(value) is int for value in seen)
    # The stored point keeps the parameter's own value, a float for quniform.
    assert best == {"layers": float(min(seen))}
    assert type(best["layers"]) is float


def test_unknown_scope_functions_are_refused() -> None:
    from asynchpo.hp import Apply

    with pytest.raises(SpaceError, match=r"scope\.sin is not supported"):
        Apply("sin", (1,))
