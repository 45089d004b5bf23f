"""``Command`` with parameters too large for the environment or the command line.

Linux refuses to start a program with an argument or an environment variable over 128 KiB,
or with more than about 2 MiB of both: 10,000 labels, or a large constant, as JSON in
``ASYNCHPO_PARAMS`` made every trial fail with "Argument list too long". The parameters are
always in the file named by ``ASYNCHPO_PARAMS_FILE``; an argv that is too long fails with a
one-line error that names that fix.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from asynchpo import Command, TrialContext, TrialCrashed, Trials, TrialState, fmin, hp, rand

PROGRAM = str(Path(__file__).with_name("command_scripts") / "params_file.py")
PY = sys.executable


def context(values: dict[str, Any] | None = None) -> TrialContext:
    return TrialContext(0, 0, values=values or {}, env={}, log_dir=None)


async def test_ten_thousand_labels_reach_the_program_through_the_params_file(
    tmp_path: Path,
) -> None:
    space = {f"x{i}": hp.uniform(f"x{i}", 0, 1) for i in range(10_000)}
    trials = Trials()
    await fmin(
        Command([PY, PROGRAM]),
        space,
        algo=rand.suggest,
        max_evals=3,
        concurrency=3,
        seed=0,
        trials=trials,
        storage=None,
    )
    assert len(trials) == 3
    for trial in trials.records:
        assert trial.state is TrialState.OK, trial.result
        result = trial.result
        assert result["count"] == 10_000
        assert result["loss"] == pytest.approx(sum(trial.params.values()))
        assert not result["in_env"]  # 200 KiB of JSON: too long for a variable
        assert not await anyio.Path(result["path"]).exists()  # removed with the trial


@pytest.mark.parametrize("die_with_parent", [True, False])
async def test_a_large_constant_goes_through_the_file_and_small_params_through_both(
    die_with_parent: bool,
) -> None:
    command = Command([PY, PROGRAM], die_with_parent=die_with_parent)
    big = {"x": 1.5, "notes": "n" * 300_000}
    result = await command.evaluate_trial(big, context())
    assert (result["loss"], result["count"], result["in_env"]) == (1.5, 2, False)
    small = {"x": 1.5, "notes": "short"}
    result = await command.evaluate_trial(small, context())
    assert (result["loss"], result["count"], result["in_env"], result["same"]) == (
        1.5,
        2,
        True,
        True,
    )


async def test_a_program_that_reads_a_missing_asynchpo_params_is_told_why() -> None:
    command = Command([PY, PROGRAM, "env"])
    with pytest.raises(TrialCrashed) as caught:
        await command.evaluate_trial({"notes": "n" * 100_000}, context())
    message = str(caught.value)
    assert "KeyError: 'ASYNCHPO_PARAMS'" in message
    assert "ASYNCHPO_PARAMS was not set: the parameters take 100,013 bytes as JSON" in message
    assert "read them from the file named by $ASYNCHPO_PARAMS_FILE" in message


@pytest.mark.parametrize("die_with_parent", [True, False])
@pytest.mark.parametrize(
    ("argv", "what"),
    [
        # One argument over Linux's 128 KiB per argument.
        (["{big}"], r"argv\[2\] takes 200,001 bytes, more than the 131,072 Linux allows"),
        # Each argument fits, all of them together do not (ARG_MAX: 2 MiB here).
        (["{big}"] * 40, r"its arguments \(\d[\d,]* bytes\) and environment"),
    ],
    ids=["one-argument", "all-arguments"],
)
async def test_an_argv_too_long_for_the_system_is_a_one_line_error_naming_the_fix(
    argv: list[str], what: str, die_with_parent: bool
) -> None:
    size = 200_000 if len(argv) == 1 else 100_000
    command = Command([PY, PROGRAM, *argv], die_with_parent=die_with_parent)
    with pytest.raises(TrialCrashed, match=f"could not start .*: {what}") as caught:
        await command.evaluate_trial({"big": "b"}, context({"big": "b" * size}))
    message = str(caught.value)
    assert "\n" not in message
    assert "Argument list too long" in message
    assert "read large values from the JSON file named by $ASYNCHPO_PARAMS_FILE" in message
