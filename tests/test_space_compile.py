"""Compiling spaces: parameters and their derived fields, activation structure, space errors,
``describe``/``fingerprint`` and ``describe_difference``."""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from asynchpo import hp
from asynchpo._exceptions import SpaceError
from asynchpo._space import Kind, Param, Space, compile_space, describe_difference


def _fields(**expected: object) -> dict[str, object]:
    return expected


def _param(space: Space, label: str) -> Param:
    return space.params[space.columns[label]]


@pytest.mark.parametrize(
    ("node", "fields"),
    [
        (
            hp.uniform("x", -1, 3),
            _fields(
                kind=Kind.UNIFORM,
                args=(-1.0, 3.0),
                categorical=False,
                n_options=0,
                log=False,
                q=None,
                low=-1.0,
                high=3.0,
                mu=1.0,
                sigma=4.0,
                integer=False,
                probs=None,
            ),
        ),
        (
            hp.quniform("x", 1, 10, 4),
            _fields(
                kind=Kind.QUNIFORM,
                args=(1.0, 10.0, 4.0),
                log=False,
                q=4.0,
                low=1.0,
                high=10.0,
                mu=5.5,
                sigma=9.0,
                integer=False,
            ),
        ),
        (
            hp.loguniform("x", -9, -1),
            _fields(
                kind=Kind.LOGUNIFORM, log=True, q=None, low=-9.0, high=-1.0, mu=-5.0, sigma=8.0
            ),
        ),
        (
            hp.qloguniform("x", 0, 4, 2),
            _fields(kind=Kind.QLOGUNIFORM, log=True, q=2.0, low=0.0, high=4.0, mu=2.0, sigma=4.0),
        ),
        (
            hp.normal("x", 2, 3),
            _fields(
                kind=Kind.NORMAL,
                args=(2.0, 3.0),
                log=False,
                q=None,
                low=-math.inf,
                high=math.inf,
                mu=2.0,
                sigma=3.0,
            ),
        ),
        (
            hp.qnormal("x", 2, 3, 0.5),
            _fields(kind=Kind.QNORMAL, q=0.5, low=-math.inf, high=math.inf, mu=2.0, sigma=3.0),
        ),
        (
            hp.lognormal("x", 0, 1),
            _fields(kind=Kind.LOGNORMAL, log=True, q=None, low=-math.inf, high=math.inf, mu=0.0),
        ),
        (
            hp.qlognormal("x", 1, 2, 3),
            _fields(kind=Kind.QLOGNORMAL, log=True, q=3.0, mu=1.0, sigma=2.0, low=-math.inf),
        ),
        (
            hp.uniformint("x", 1, 4),
            _fields(
                kind=Kind.UNIFORMINT,
                args=(1.0, 4.0),
                categorical=False,
                q=1.0,
                low=1.0,
                high=4.0,
                mu=2.5,
                sigma=3.0,
                integer=True,
                log=False,
            ),
        ),
        (
            hp.randint("x", 3, 7),
            _fields(
                kind=Kind.RANDINT,
                args=(3.0, 7.0),
                categorical=True,
                n_options=4,
                offset=3,
                low=0.0,
                high=4.0,
                mu=0.0,
                sigma=1.0,
                q=None,
                integer=True,
                probs=None,
            ),
        ),
        (
            hp.choice("x", ["a", "b", "c"]),
            _fields(
                kind=Kind.CHOICE,
                args=(),
                categorical=True,
                n_options=3,
                offset=0,
                probs=None,
                low=0.0,
                high=3.0,
                q=None,
                integer=False,
                log=False,
            ),
        ),
        (
            hp.pchoice("x", [(0.25, "a"), (0.75, "b")]),
            _fields(
                kind=Kind.PCHOICE,
                args=(0.25, 0.75),
                categorical=True,
                n_options=2,
                probs=(0.25, 0.75),
                low=0.0,
                high=2.0,
                q=None,
                integer=False,
            ),
        ),
    ],
)
def test_param_fields(node: hp.Node, fields: dict[str, object]) -> None:
    space = compile_space({"x": node})
    (param,) = space.params
    assert param.label == "x"
    assert param.column == 0
    assert param.parents == ()
    for name, value in fields.items():
        assert getattr(param, name) == value, name


def test_kind_values_are_hyperopt_names() -> None:
    assert Kind("uniformint") is Kind.UNIFORMINT
    assert {k.value for k in Kind} == {
        "choice", "pchoice", "randint", "uniform", "quniform", "loguniform", "qloguniform",
        "normal", "qnormal", "lognormal", "qlognormal", "uniformint",
    }  # fmt: skip


def test_pchoice_probs_are_normalized_for_suggesters() -> None:
    third = 1 / 3
    space = compile_space(hp.pchoice("p", [(third, 0), (third, 1), (third + 5e-7, 2)]))
    (param,) = space.params
    assert param.args == (third, third, third + 5e-7)
    assert param.probs is not None
    assert math.fsum(param.probs) == pytest.approx(1.0, abs=1e-15)


def test_dicts_are_walked_in_insertion_order() -> None:
    space = compile_space({"b": hp.uniform("b", 0, 1), "a": [hp.normal("c", 0, 1)], "z": 3})
    assert space.labels == ("b", "c")
    assert dict(space.columns) == {"b": 0, "c": 1}
    assert len(space) == 2


def test_a_space_of_constants_has_no_params() -> None:
    space = compile_space({"a": 1, "b": [2, (3, "x")]})
    assert len(space) == 0
    assert space.labels == ()
    assert space.describe() == []
    assert space.evaluate({}) == {"a": 1, "b": [2, (3, "x")]}


def test_a_single_node_is_a_space() -> None:
    space = compile_space(hp.uniform("x", 0, 1))
    assert space.labels == ("x",)
    assert space.evaluate({"x": 0.25}) == 0.25


def test_conditional_parents() -> None:
    space = compile_space(
        {
            "model": hp.choice(
                "model",
                [
                    {"kind": "linear", "c": hp.loguniform("c", -5, 5)},
                    {
                        "kind": "tree",
                        "depth": hp.randint("depth", 1, 10),
                        "split": hp.pchoice(
                            "split", [(0.5, "gini"), (0.5, ("entropy", hp.uniform("t", 0, 1)))]
                        ),
                    },
                ],
            ),
            "seed": 0,
        }
    )
    assert space.labels == ("model", "c", "depth", "split", "t")
    assert _param(space, "model").parents == ()
    assert _param(space, "c").parents == ((0, 0),)
    assert _param(space, "depth").parents == ((0, 1),)
    assert _param(space, "split").parents == ((0, 1),)
    assert _param(space, "t").parents == ((3, 1),)


def test_a_node_reused_in_two_branches_is_one_param() -> None:
    lr = hp.loguniform("lr", -9, -1)
    space = compile_space(hp.choice("opt", [{"lr": lr}, {"lr": lr, "m": 0.9}, {"other": 1}]))
    assert space.labels == ("opt", "lr")
    assert _param(space, "lr").parents == ((0, 0), (0, 1))


def test_an_equal_definition_is_the_same_param() -> None:
    space = compile_space(
        hp.choice("opt", [{"lr": hp.uniform("lr", 0, 1)}, {"lr": hp.uniform("lr", 0.0, 1.0)}])
    )
    assert space.labels == ("opt", "lr")
    assert _param(space, "lr").parents == ((0, 0), (0, 1))


def test_a_param_also_at_top_level_is_always_active() -> None:
    x = hp.uniform("x", 0, 1)
    space = compile_space({"c": hp.choice("c", [x, 1]), "x": x})
    assert _param(space, "x").parents == ()


def test_reused_choice_keeps_its_children_once() -> None:
    inner = hp.choice("inner", [hp.uniform("a", 0, 1), hp.uniform("b", 0, 1)])
    space = compile_space({"one": inner, "two": [inner]})
    assert space.labels == ("inner", "a", "b")
    assert _param(space, "a").parents == ((0, 0),)
    assert _param(space, "b").parents == ((0, 1),)


def test_parents_come_before_children_even_when_met_later() -> None:
    # x is met first under a, and only later under b: b must still get a smaller column.
    x = hp.uniform("x", 0, 1)
    space = compile_space(
        {"a": hp.choice("a", [{"x": x}, 1]), "b": hp.choice("b", [1, {"x": x}]), "y": 2}
    )
    assert space.labels == ("a", "b", "x")
    assert _param(space, "x").parents == ((0, 0), (1, 1))
    for param in space.params:
        assert all(parent < param.column for parent, _ in param.parents)


BAD_SPACES = [
    (
        {"a": hp.uniform("x", 0, 1), "b": hp.uniform("x", 0, 2)},
        r"two different parameters are labelled 'x': hp\.uniform\('x', 0, 1\) and "
        r"hp\.uniform\('x', 0, 2\); give each its own label",
    ),
    (
        [hp.uniform("x", 0, 1), hp.loguniform("x", 0, 1)],
        r"labelled 'x': .* \(the same definition may be reused in several places\)",
    ),
    (
        hp.choice("c", [hp.uniform("c", 0, 1)]),
        r"two different parameters are labelled 'c': hp\.choice\('c', .*hp\.uniform\('c', 0, 1\)",
    ),
    (
        {"a": hp.choice("m", [1, 2]), "b": hp.choice("m", [1, 2, 3])},
        r"two different parameters are labelled 'm'",
    ),
    (
        hp.Node("x"),
        r"Node 'x' is not a parameter; build parameters with the functions of asynchpo\.hp",
    ),
]


@pytest.mark.parametrize(("space", "message"), BAD_SPACES)
def test_bad_spaces_are_refused(space: object, message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        compile_space(space)


def test_a_container_holding_itself_is_refused() -> None:
    looped: list[object] = [hp.uniform("x", 0, 1)]
    looped.append({"again": looped})
    with pytest.raises(SpaceError, match=r"the space contains itself: a list holds"):
        compile_space(looped)


def test_a_choice_inside_its_own_options_is_refused() -> None:
    options: list[object] = [1]
    node = hp.choice("c", [options])
    options.append(node)
    with pytest.raises(SpaceError, match=r"parameter 'c' appears inside one of its own options"):
        compile_space(node)


def test_long_definitions_are_shortened_in_messages() -> None:
    big = hp.choice("x", list(range(1000)))
    with pytest.raises(SpaceError) as caught:
        compile_space([big, hp.uniform("x", 0, 1)])
    assert len(str(caught.value)) < 400


def test_compile_space_returns_a_space_unchanged() -> None:
    space = compile_space(hp.uniform("x", 0, 1))
    assert compile_space(space) is space


def test_space_repr_and_pickle() -> None:
    space = compile_space({"c": hp.choice("c", [1, hp.randint("n", 3)]), "x": hp.normal("x", 0, 1)})
    assert repr(space) == "Space({'c': choice(2 options), 'n': randint(0, 3), 'x': normal(0, 1)})"
    again = pickle.loads(pickle.dumps(space))
    assert again.params == space.params
    assert again.fingerprint == space.fingerprint
    assert again.evaluate({"c": 1, "n": 2, "x": 0.5}) == {"c": 2, "x": 0.5}


def test_columns_cannot_be_changed() -> None:
    space = compile_space({"x": hp.uniform("x", 0, 1)})
    with pytest.raises(TypeError):
        space.columns["y"] = 1  # type: ignore[index]


def test_space_refuses_params_out_of_order() -> None:
    space = compile_space(hp.choice("c", [hp.uniform("x", 0, 1)]))
    with pytest.raises(SpaceError, match="out of order"):
        Space(tuple(reversed(space.params)), space._template)


# --- describe and fingerprint -----------------------------------------------------------------

DESCRIBED = {
    "lr": hp.loguniform("lr", -9, -1),
    "model": hp.choice(
        "model",
        [{"c": hp.quniform("c", 1, 10, 4)}, {"depth": hp.randint("depth", 2, 8)}],
    ),
    "p": hp.pchoice("p", [(0.5, "a"), (0.5, "b")]),
}


def test_describe() -> None:
    assert compile_space(DESCRIBED).describe() == [
        {"label": "lr", "kind": "loguniform", "args": [-9.0, -1.0], "parents": []},
        {
            "label": "model",
            "kind": "choice",
            "args": [],
            "parents": [],
            "options": 2,
            "values": [{"c": {"param": "c"}}, {"depth": {"param": "depth"}}],
        },
        {"label": "c", "kind": "quniform", "args": [1.0, 10.0, 4.0], "parents": [["model", 0]]},
        {
            "label": "depth",
            "kind": "randint",
            "args": [2.0, 8.0],
            "parents": [["model", 1]],
            "options": 6,
        },
        {
            "label": "p",
            "kind": "pchoice",
            "args": [0.5, 0.5],
            "parents": [],
            "options": 2,
            "values": ["a", "b"],
        },
    ]


def test_describe_is_json_and_a_fresh_copy() -> None:
    space = compile_space(DESCRIBED)
    description = space.describe()
    assert json.loads(json.dumps(description)) == description
    description[0]["label"] = "changed"
    assert space.describe()[0]["label"] == "lr"


def test_fingerprint_is_pinned_and_stable_across_processes() -> None:
    code = (
        "from asynchpo import hp\n"
        "from asynchpo._space import compile_space\n"
        "print(compile_space({'x': hp.uniform('x', 0, 1), "
        "'c': hp.choice('c', [1, hp.normal('n', 0, 2)])}).fingerprint)\n"
    )
    here = compile_space(
        {"x": hp.uniform("x", 0, 1), "c": hp.choice("c", [1, hp.normal("n", 0, 2)])}
    ).fingerprint
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout.strip()
    assert here == other
    # Pinned: if this changes, every stored study stops resuming.
    assert here == "ee78426f46acfd3361a2263f2d3d9a9f77531bc4620161ed20bf16efa4096c63"


def test_fingerprint_is_the_sha256_of_canonical_json() -> None:
    import hashlib

    space = compile_space(DESCRIBED)
    text = json.dumps(space.describe(), sort_keys=True, separators=(",", ":"))
    assert space.fingerprint == hashlib.sha256(text.encode()).hexdigest()
    assert compile_space(DESCRIBED).fingerprint == space.fingerprint


@pytest.mark.parametrize(
    "changed",
    [
        {**DESCRIBED, "lr": hp.loguniform("lr", -8, -1)},
        {**DESCRIBED, "lr": hp.uniform("lr", -9, -1)},
        {**DESCRIBED, "lr": hp.loguniform("rate", -9, -1)},
        {**DESCRIBED, "extra": hp.normal("extra", 0, 1)},
        {k: v for k, v in DESCRIBED.items() if k != "p"},
        {**DESCRIBED, "p": hp.pchoice("p", [(0.4, "a"), (0.6, "b")])},
        {**DESCRIBED, "p": hp.choice("p", ["a", "b"])},
        {
            **DESCRIBED,
            "model": hp.choice("model", [{"c": hp.quniform("c", 1, 10, 4)}, {}, {}]),
        },
        {
            **DESCRIBED,
            "model": hp.choice(
                "model",
                [{"depth": hp.randint("depth", 2, 8)}, {"c": hp.quniform("c", 1, 10, 4)}],
            ),
        },
        {"p": DESCRIBED["p"], "lr": DESCRIBED["lr"], "model": DESCRIBED["model"]},
    ],
)
def test_fingerprint_sees_every_change(changed: dict[str, object]) -> None:
    assert compile_space(changed).fingerprint != compile_space(DESCRIBED).fingerprint


def test_fingerprint_ignores_constants_outside_choices_and_int_or_float_arguments() -> None:
    same = {
        "lr": hp.loguniform("lr", -9.0, -1.0),
        "model": hp.choice(
            "model",
            [{"c": hp.quniform("c", 1, 10.0, 4)}, {"depth": hp.randint("depth", 2, 8)}],
        ),
        "p": hp.pchoice("p", [(0.5, "a"), (0.5, "b")]),
        "note": "constants are not parameters",
    }
    assert compile_space(same).fingerprint == compile_space(DESCRIBED).fingerprint


# --- describe_difference ------------------------------------------------------------------------


def _difference(old: object, new: object) -> list[str]:
    return describe_difference(compile_space(old).describe(), compile_space(new).describe())


def test_no_difference_between_equal_descriptions() -> None:
    assert _difference(DESCRIBED, DESCRIBED) == []
    stored = json.loads(json.dumps(compile_space(DESCRIBED).describe()))
    assert describe_difference(stored, compile_space(DESCRIBED).describe()) == []


def test_difference_lines() -> None:
    old = {
        "lr": hp.loguniform("lr", -9, -1),
        "x": hp.uniform("x", 0, 1),
        "model": hp.choice("model", [{"layers": hp.randint("layers", 4)}, {"k": 1}]),
        "c": hp.choice("c", ["a", "b"]),
    }
    new = {
        "lr": hp.loguniform("lr", -8, -1),
        "model": hp.choice("model", [{"k": 1}, {"layers": hp.randint("layers", 4)}]),
        "c": hp.choice("c", ["a", "b", "z"]),
        "depth": hp.uniformint("depth", 1, 5),
    }
    assert _difference(old, new) == [
        "label 'lr': stored as loguniform(-9, -1), now loguniform(-8, -1)",
        "label 'model': options stored as [{'layers': {'param': 'layers'}}, {'k': 1}], "
        "now [{'k': 1}, {'layers': {'param': 'layers'}}]",
        "label 'layers': stored under model=0, now under model=1",
        "label 'c': stored as choice(2 options), now choice(3 options)",
        "label 'depth' is new",
        "label 'x' was removed",
    ]


def test_difference_in_placement_and_kind() -> None:
    x = hp.uniform("x", 0, 1)
    old = {"x": x, "c": hp.choice("c", [1, 2])}
    new = {"c": hp.choice("c", [{"x": x}, {"x": x}]), "p": 1}
    assert _difference(old, new) == [
        "label 'c': options stored as [1, 2], now [{'x': {'param': 'x'}}, {'x': {'param': 'x'}}]",
        "label 'x': stored at the top level, now under c=0 or c=1",
    ]
    assert _difference({"x": x}, {"x": hp.quniform("x", 0, 1, 0.1)}) == [
        "label 'x': stored as uniform(0, 1), now quniform(0, 1, 0.1)",
    ]
    assert _difference(
        {"p": hp.pchoice("p", [(0.3, 1), (0.7, 2)])}, {"p": hp.choice("p", [1, 2])}
    ) == [
        "label 'p': stored as pchoice(0.3, 0.7), now choice(2 options)",
    ]


def test_difference_in_order_only() -> None:
    a, b = hp.uniform("a", 0, 1), hp.uniform("b", 0, 1)
    assert _difference({"a": a, "b": b}, {"b": b, "a": a}) == [
        "the parameters are in a different order: stored ['a', 'b'], now ['b', 'a']",
    ]


def test_difference_refuses_malformed_descriptions() -> None:
    good = compile_space(DESCRIBED).describe()
    for bad in (
        {"label": "x"},
        {"label": "x", "kind": "uniform", "args": ["0", 1], "parents": []},
        {"label": "x", "kind": "uniform", "args": [0, 1], "parents": [["c"]]},
        {"label": 3, "kind": "uniform", "args": [0, 1], "parents": []},
        {"label": "x", "kind": "choice", "args": [], "parents": [], "options": "2"},
    ):
        with pytest.raises(SpaceError, match="malformed space description entry"):
            describe_difference([bad], good)
