"""hyperopt's own space_eval cases, ported: the same spaces and points, with the import changed.

From hyperopt 0.2.7: ``tests/unit/test_fmin.py::test_space_eval`` (its space also opens
``tests/unit/test_webpage.py``), and the spaces of ``tests/unit/test_pyll_utils.py``, evaluated.
"""

from __future__ import annotations

from asynchpo import hp, space_eval


def test_space_eval() -> None:
    space = hp.choice(
        "a",
        [
            ("case 1", 1 + hp.lognormal("c1", 0, 1)),
            ("case 2", hp.uniform("c2", -10, 10)),
        ],
    )

    assert space_eval(space, {"a": 0, "c1": 1.0}) == ("case 1", 2.0)
    assert space_eval(space, {"a": 1, "c2": 3.5}) == ("case 2", 3.5)


def test_expr_to_config_space() -> None:
    # test_pyll_utils.test_expr_to_config's space: arithmetic inside nested choices, and a
    # parameter (z) both at the top level and inside an expression in an option.
    z = hp.randint("z", 10)
    a = hp.choice(
        "a",
        [
            hp.uniform("b", -1, 1) + z,
            {
                "c": 1,
                "d": hp.choice("d", [3 + hp.loguniform("c", 0, 1), 1 + hp.loguniform("e", 0, 1)]),
            },
        ],
    )
    space = (a, z)

    assert space_eval(space, {"a": 0, "b": 0.5, "z": 3}) == (3.5, 3)
    assert space_eval(space, {"a": 1, "d": 0, "c": 2.0, "z": 4}) == ({"c": 1, "d": 5.0}, 4)
    assert space_eval(space, {"a": 1, "d": 1, "e": 1.5, "z": 0}) == ({"c": 1, "d": 2.5}, 0)


def test_remove_allpaths() -> None:
    z = hp.uniform("z", 0, 10)
    a = hp.choice("a", [z + 1, z - 1])

    assert space_eval(a, {"a": 0, "z": 2.5}) == 3.5
    assert space_eval(a, {"a": 1, "z": 2.5}) == 1.5


def test_remove_allpaths_int() -> None:
    z = hp.uniformint("z", 0, 10)
    a = hp.choice("a", [z + 1, z - 1])

    assert space_eval(a, {"a": 0, "z": 4.0}) == 5
    assert space_eval(a, {"a": 1, "z": 4.0}) == 3
    assert type(space_eval(a, {"a": 1, "z": 4.0})) is int  # uniformint gives an int first
