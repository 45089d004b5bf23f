"""What a ``{label}`` placeholder of Command gets: the value as the objective receives it.

Issue 13, item 6: ``scope.int(hp.quniform("layers", 1, 4, 1))`` gave the program ``--layers
3.0``, so argparse's ``type=int`` failed every trial; a choice of booleans or dicts gave a
Python repr (``True``, ``{'a': 1}``).
"""

from __future__ import annotations

import enum
import pickle
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from asynchpo import (
    Command,
    ConfigError,
    TrialContext,
    Trials,
    compile_space,
    fmin,
    hp,
    rand,
    scope,
)

BEHAVIOURS = str(Path(__file__).with_name("command_scripts") / "behaviours.py")
PY = sys.executable


async def argv_for(command: Command, space: Any, point: Mapping[str, object]) -> list[str]:
    """The arguments the program receives for ``point``, as under fmin: prepare, then a trial
    whose context holds the space's values for the point."""
    compiled = compile_space(space)
    command.prepare(compiled)
    context = TrialContext(0, 0, values=compiled.values(point))
    result = await command.evaluate_trial(compiled.evaluate(point), context)
    argv: list[str] = result["argv"]  # the arguments after the mode
    return argv


def report(*args: str) -> Command:
    return Command([PY, BEHAVIOURS, "report", *args])


# --- conversions: the value as the objective receives it -------------------------------------


async def test_scope_int_reaches_an_argparse_int_program(tmp_path: Path) -> None:
    """The issue's case, end to end: every trial of an argparse type=int program succeeds."""
    program = tmp_path / "train.py"
    program.write_text(
        "import argparse\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.add_argument('--layers', type=int, required=True)\n"
        "print(1.0 / parser.parse_args().layers)\n"
    )
    space = {"layers": scope.int(hp.quniform("layers", 1, 4, 1))}
    trials = Trials()
    await fmin(
        Command([PY, str(program), "--layers", "{layers}"]),
        space,
        algo=rand.suggest,
        max_evals=6,
        trials=trials,
        seed=3,
        show_progressbar=False,
    )
    assert trials.statuses() == ["ok"] * 6
    # The stored point keeps the parameter's own value; the program got the int.
    for trial in trials.trials:
        (layers,) = trial["misc"]["vals"]["layers"]
        assert trial["result"]["loss"] == pytest.approx(1.0 / int(layers))


async def test_conversions_are_applied_as_space_eval_applies_them() -> None:
    space = {
        "n": scope.int(hp.quniform("n", 1, 4, 1)),
        "cut": scope.int(hp.uniform("cut", 0, 10)),  # int() truncates, as in hyperopt
        "width": scope.float(hp.randint("width", 1, 100)),
        "both": scope.float(scope.int(hp.uniform("both", 0, 10))),
        "pick": scope.int(hp.choice("pick", [1.5, 2.5])),
        "raw": hp.quniform("raw", 1, 4, 1),
    }
    point = {"n": 3.0, "cut": 7.9, "width": 42, "both": 2.5, "pick": 1, "raw": 2.0}
    command = report("{n}", "{cut}", "{width}", "{both}", "{pick}", "{raw}")
    assert await argv_for(command, space, point) == ["3", "7", "42.0", "2.0", "2", "2.0"]


async def test_a_placeholder_names_the_parameter_not_an_expression_of_it() -> None:
    """In ``10 ** e`` the placeholder {e} is the exponent, the value the stored point holds;
    and a conversion of an expression (``scope.int(n * 8)``) is not a conversion of n."""
    space = {
        "lr": 10 ** hp.uniform("e", -3, 0),
        "units": scope.int(hp.quniform("n", 1, 4, 1) * 8),
    }
    argv = await argv_for(report("--e={e}", "--n={n}"), space, {"e": -2.5, "n": 3.0})
    assert argv == ["--e=-2.5", "--n=3.0"]


async def test_a_parameter_placed_once_and_used_in_an_expression_takes_the_placement() -> None:
    n = hp.quniform("n", 1, 4, 1)
    space = {"n": scope.int(n), "units": n * 8}
    assert await argv_for(report("{n}"), space, {"n": 2.0}) == ["2"]


def test_a_parameter_converted_differently_in_two_places_is_refused_at_start() -> None:
    n = hp.quniform("n", 1, 4, 1)
    space = compile_space({"as_float": n, "as_int": scope.int(n)})
    with pytest.raises(ConfigError) as caught:
        report("{n}").prepare(space)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the placeholder {n} is ambiguous: the space has n and scope.int(n)")
    assert "ASYNCHPO_PARAMS_FILE" in message
    report("--other").prepare(space)  # no placeholder for n: nothing to refuse


async def test_conversions_survive_pickling_to_a_worker() -> None:
    """Process and Dask executors evaluate a pickled copy of the prepared Command."""
    space = {"n": scope.int(hp.quniform("n", 1, 4, 1))}
    compiled = compile_space(space)
    command = report("{n}")
    command.prepare(compiled)
    copy = pickle.loads(pickle.dumps(command))
    point = {"n": 4.0}
    context = TrialContext(0, 0, values=compiled.values(point))
    result = await copy.evaluate_trial(compiled.evaluate(point), context)
    assert result["argv"] == ["4"]


# --- how values are written: text, numbers, or JSON, never a Python repr ----------------------


class Color(enum.Enum):
    RED = 1


@pytest.mark.parametrize(
    ("option", "text"),
    [
        (True, "true"),
        (False, "false"),
        (None, "null"),
        ({"a": 1, "b": [True, None]}, '{"a": 1, "b": [true, null]}'),
        ([1, 2.5, "x"], '[1, 2.5, "x"]'),
        ((1, 2), "[1, 2]"),
        ({"name": "café"}, '{"name": "café"}'),
        ({1: "one"}, '{"1": "one"}'),  # JSON's keys are text, as in ASYNCHPO_PARAMS
        ("adam", "adam"),  # text is written as itself, not quoted
        (7, "7"),
        (0.1, "0.1"),
    ],
)
async def test_choice_options_are_written_as_text_numbers_or_json(option: Any, text: str) -> None:
    space = {"opt": hp.choice("opt", ["other", option])}
    assert await argv_for(report("--opt={opt}"), space, {"opt": 1}) == [f"--opt={text}"]


async def test_an_option_holding_parameters_is_written_with_their_values() -> None:
    space = {"model": hp.choice("model", [{"kind": "mlp", "depth": hp.randint("depth", 1, 5)}])}
    argv = await argv_for(report("{model}"), space, {"model": 0, "depth": 3})
    assert argv == ['{"kind": "mlp", "depth": 3}']


def callback() -> None:  # pragma: no cover - never called
    pass


class Thing:
    pass


@pytest.mark.parametrize(
    ("option", "what"),
    [
        (callback, "a function (test_command_placeholders.callback)"),
        (Thing, "a class (test_command_placeholders.Thing)"),
        (Thing(), "an object (test_command_placeholders.Thing)"),
        (Color.RED, "an enum (test_command_placeholders.Color.RED)"),
        ({"loss": [1, callback]}, "a function (test_command_placeholders.callback)"),
        ({"f": hp.choice("inner", [1, Thing])}, "a class (test_command_placeholders.Thing)"),
    ],
)
def test_options_json_cannot_write_are_refused_at_start(option: object, what: str) -> None:
    space = compile_space({"opt": hp.choice("opt", ["fine", option]), "lr": hp.uniform("lr", 0, 1)})
    with pytest.raises(ConfigError) as caught:
        report("{lr}", "{opt}").prepare(space)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        f"the placeholder {{opt}} cannot write option 1 of the choice 'opt': it holds {what}, "
        "which is neither text nor JSON"
    )
    assert "$ASYNCHPO_PARAMS_FILE" in message
    report("{lr}").prepare(space)  # the choice in ASYNCHPO_PARAMS only: nothing to refuse
