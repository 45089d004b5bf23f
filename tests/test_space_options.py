"""What a choice's options are, in ``describe``: stored trials hold option indices, so changing
the options (reordering, renaming, editing a constant inside one) must change the fingerprint and
be named by ``describe_difference``."""

from __future__ import annotations

import collections
import enum
import fractions
import functools
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asynchpo import StudyMismatch, fmin, hp
from asynchpo._exceptions import SpaceError
from asynchpo._space import compile_space, describe_difference


def _values(option: object) -> object:
    """The rendering of a single option."""
    (entry,) = (e for e in compile_space(hp.choice("c", [option])).describe() if e["label"] == "c")
    values = entry["values"]
    assert isinstance(values, list)
    return values[0]


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=False)


Pair = collections.namedtuple("Pair", "a b")


class Layer:
    pass


def _difference(old: object, new: object) -> list[str]:
    return describe_difference(compile_space(old).describe(), compile_space(new).describe())


def _changes_fingerprint(old: object, new: object) -> bool:
    return compile_space(old).fingerprint != compile_space(new).fingerprint


# --- the changes the fingerprint must see -------------------------------------------------------


def test_reordering_options() -> None:
    old = {"opt": hp.choice("opt", ["adam", "sgd"])}
    new = {"opt": hp.choice("opt", ["sgd", "adam"])}
    assert _changes_fingerprint(old, new)
    assert _difference(old, new) == [
        "label 'opt': options stored as ['adam', 'sgd'], now ['sgd', 'adam']"
    ]


def test_renaming_a_constant_option() -> None:
    old = {"opt": hp.pchoice("opt", [(0.5, "adam"), (0.5, "sgd")])}
    new = {"opt": hp.pchoice("opt", [(0.5, "adamw"), (0.5, "sgd")])}
    assert _changes_fingerprint(old, new)
    assert _difference(old, new) == [
        "label 'opt': options stored as ['adam', 'sgd'], now ['adamw', 'sgd']"
    ]


def test_changing_a_constant_inside_a_dict_option() -> None:
    def model(kind: str) -> object:
        return hp.choice(
            "model",
            [{"kind": kind, "layers": hp.randint("layers", 1, 4)}, {"kind": "linear"}],
        )

    assert _changes_fingerprint(model("mlp"), model("cnn"))
    assert _difference(model("mlp"), model("cnn")) == [
        "label 'model': options stored as [{'kind': 'mlp', 'layers': {'param': 'layers'}}, "
        "{'kind': 'linear'}], now [{'kind': 'cnn', 'layers': {'param': 'layers'}}, "
        "{'kind': 'linear'}]"
    ]


def test_long_options_are_described_by_their_first_difference() -> None:
    def options(width: int) -> list[object]:
        return [
            {"kind": f"net{i}", "block": {"width": width if i == 7 else 64, "act": "relu"}}
            for i in range(12)
        ]

    old, new = hp.choice("m", options(64)), hp.choice("m", options(128))
    assert _difference(old, new) == [
        "label 'm': option 7 at ['block']['width'] stored as 64, now 128"
    ]
    letters = [f"option-{c}" for c in "abcdefghijklmnop"]
    assert _difference(hp.choice("m", letters), hp.choice("m", letters[::-1])) == [
        "label 'm': option 0 stored as 'option-a', now 'option-p' "
        "(and 15 more options differ; the same options in another order)"
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("1", 1),
        (1, 1.0),
        (1, True),
        (0, None),
        ([1, 2], (1, 2)),
        ((1, 2), Pair(1, 2)),
        ({"a": 1}, collections.OrderedDict(a=1)),
        ({"a": 1}, {"a": 1, "b": 2}),
        ({1: "x"}, {"1": "x"}),
        ({"param": "x"}, hp.uniform("x", 0, 1)),
        ({"tuple": [1, 2]}, (1, 2)),
        (math.inf, -math.inf),
        (math.inf, "inf"),
        (int, 0),
        (len, abs),
        (math.sqrt, np.sqrt),
        (Path, Path("a")),
        (hp.uniform("x", 0, 1), hp.uniform("y", 0, 1)),
    ],
    ids=repr,
)
def test_different_options_are_described_differently(old: object, new: object) -> None:
    assert _json(_values(old)) != _json(_values(new))
    assert _changes_fingerprint(hp.choice("c", [old]), hp.choice("c", [new]))


def test_renderings() -> None:
    class Color(enum.Enum):
        RED = 1
        BLUE = 2

    where = f"{__name__}.test_renderings.<locals>"
    assert _values("adam") == "adam"
    assert _values([1, 2.5, True, None]) == [1, 2.5, True, None]
    assert _values((1, [2])) == {"tuple": [1, [2]]}
    assert _values({"a": hp.uniform("x", 0, 1), 3: "b", (1, "z"): 0}) == {
        "dict": {"a": {"param": "x"}, "3": "b", "(1, 'z')": 0}
    }
    assert _values({1: "a", "1": "b"}) == {"dict": [["1", "b"], [1, "a"]]}
    assert _values(collections.defaultdict(int, a=1)) == {
        "dict": {"a": 1},
        "type": "collections.defaultdict",
    }
    assert _values(math.nan) == {"float": "nan"}
    assert _values(np.float32(0.5)) == 0.5
    assert _values(np.int64(3)) == 3
    assert _values(np.bool_(True)) is True
    assert _values(Color.BLUE) == {"enum": f"{where}.Color.BLUE"}
    assert _values(Color) == {"class": f"{where}.Color"}
    assert _values(fractions.Fraction) == {"class": "fractions.Fraction"}
    assert _values(fractions.Fraction(1, 3)) == {"object": "fractions.Fraction"}
    assert _values(json.dumps) == {"function": "json.dumps"}
    assert _values(len) == {"function": "builtins.len"}
    assert _values(np.exp) == {"function": "numpy.exp"}
    assert _values(functools.partial(len)) == {"object": "functools.partial"}
    assert _values(math) == {"module": "math"}
    assert _values(hp.choice("inner", [1, 2])) == {"param": "inner"}


def test_randint_and_numeric_entries_have_no_values() -> None:
    entries = compile_space([hp.randint("n", 3), hp.uniform("x", 0, 1)]).describe()
    assert all("values" not in e for e in entries)


def test_a_shared_choice_and_nested_choices_are_each_described_once() -> None:
    inner = hp.choice("inner", ["a", {"k": hp.uniform("k", 0, 1)}])
    space = {"outer": hp.choice("outer", [inner, [inner, 2]])}
    by_label = {e["label"]: e for e in compile_space(space).describe()}
    assert by_label["outer"]["values"] == [{"param": "inner"}, [{"param": "inner"}, 2]]
    assert by_label["inner"]["values"] == ["a", {"k": {"param": "k"}}]


def test_description_survives_json_and_pickle() -> None:
    space = compile_space(
        {"c": hp.choice("c", [Layer, Layer(), (1, math.inf), {2: [None]}, np.float64(2.0)])}
    )
    text = json.dumps(space.describe(), allow_nan=False)
    assert "0x" not in text
    assert describe_difference(json.loads(text), space.describe()) == []
    assert pickle.loads(pickle.dumps(space)).describe() == space.describe()


# --- across processes ---------------------------------------------------------------------------

# Classes, functions, lambdas, enum members and plain objects, defined in the script itself: the
# fingerprint must come out the same in any process that runs it.
_SCRIPT = """
import collections, enum, fractions, json, math
import numpy as np
from asynchpo import hp
from asynchpo._space import compile_space

class Net:
    def forward(self):
        pass

class Act(enum.Enum):
    RELU = "relu"
    GELU = "gelu"

def build():
    return Net()

SPACE = {
    "model": hp.choice("model", [
        {"cls": Net, "factory": build, "act": Act.GELU, "init": lambda: 0},
        {"net": Net(), "method": Net().forward, "loss": json.loads},
        {"frac": fractions.Fraction(1, 3), "nothing": None},
        {"ufunc": np.exp, "value": np.float32(0.25), "keys": {1: "a", (2, 3): frozenset("xyz")}},
        collections.OrderedDict(sqrt=math.sqrt, obj=object()),
    ]),
    "lr": hp.loguniform("lr", -9, -1),
}
FINGERPRINT = compile_space(SPACE).fingerprint
"""


def test_objects_in_options_are_described_the_same_in_another_process() -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(_SCRIPT, namespace)
    here = namespace["FINGERPRINT"]
    description = json.dumps(compile_space(namespace["SPACE"]).describe(), allow_nan=False)
    assert "0x" not in description
    assert "__main__.Net" in description
    assert "__main__.Act.GELU" in description
    # Python randomizes str hashes per process; run the other process with another seed.
    others = [
        subprocess.run(
            [sys.executable, "-c", _SCRIPT + "print(FINGERPRINT)"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    ]
    assert others == [here, here]


# --- comparing descriptions ---------------------------------------------------------------------


def test_old_descriptions_without_values_compare_by_the_other_keys() -> None:
    old = compile_space({"c": hp.choice("c", ["a", "b"]), "x": hp.uniform("x", 0, 1)}).describe()
    for entry in old:
        entry.pop("values", None)
    same = compile_space({"c": hp.choice("c", ["b", "a"]), "x": hp.uniform("x", 0, 1)})
    assert describe_difference(old, same.describe()) == []
    changed = compile_space({"c": hp.choice("c", ["b", "a"]), "x": hp.uniform("x", 0, 2)})
    assert describe_difference(old, changed.describe()) == [
        "label 'x': stored as uniform(0, 1), now uniform(0, 2)"
    ]


def test_values_and_kind_changing_together_give_the_kind_line() -> None:
    assert _difference(hp.choice("c", ["a", "b"]), hp.pchoice("c", [(0.5, "b"), (0.5, "a")])) == [
        "label 'c': stored as choice(2 options), now pchoice(0.5, 0.5)"
    ]


def test_malformed_values_are_refused() -> None:
    good = compile_space(hp.choice("c", [1, 2])).describe()
    bad = {**good[0], "values": "12"}
    with pytest.raises(SpaceError, match="malformed space description entry"):
        describe_difference([bad], good)
    bad = {**good[0], "values": [math.nan]}
    with pytest.raises(SpaceError, match="malformed space description entry"):
        describe_difference([bad], good)


async def test_resuming_with_reordered_options_is_refused(tmp_path: Path) -> None:
    async def objective(params: dict[str, Any]) -> float:
        return 1.0 if params["opt"] == "adam" else 2.0

    db = tmp_path / "runs.sqlite"
    await fmin(objective, {"opt": hp.choice("opt", ["adam", "sgd"])}, max_evals=2, storage=db)
    with pytest.raises(StudyMismatch) as info:
        await fmin(objective, {"opt": hp.choice("opt", ["sgd", "adam"])}, max_evals=4, storage=db)
    assert "label 'opt': options stored as ['adam', 'sgd'], now ['sgd', 'adam']" in str(info.value)
