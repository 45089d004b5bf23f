"""Command: real programs, their results, crashes, logs, timeouts, cancellation and orphans."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import numpy as np
import pytest
from process_tools import alive, wait_dead

from asynchpo import (
    AllTrialsFailed,
    Command,
    ConfigError,
    TrialContext,
    TrialCrashed,
    Trials,
    TrialState,
    compile_space,
    fmin,
    hp,
    rand,
)

SCRIPTS = Path(__file__).with_name("command_scripts")
BEHAVIOURS = str(SCRIPTS / "behaviours.py")
PY = sys.executable


def run(*args: str, **options: Any) -> Command:
    """A Command running one of behaviours.py's modes."""
    return Command([PY, BEHAVIOURS, *args], **options)


def context(
    trial_id: int = 0,
    values: Mapping[str, object] | None = None,
    log_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> TrialContext:
    return TrialContext(trial_id, 0, values=values or {}, env=env or {}, log_dir=log_dir)


def wait_for_pids(folder: Path, count: int, within: float = 10.0) -> list[int]:
    """The pids written by ``count`` trials of a pid-writing mode, once they are there.

    Blocks: async tests run it in a thread, so the trials go on meanwhile.
    """
    deadline = time.monotonic() + within
    while len(list(folder.glob("*.pid"))) < count:
        assert time.monotonic() < deadline, f"fewer than {count} pid files after {within} s"
        time.sleep(0.02)
    return read_pids(folder)


def read_pids(folder: Path) -> list[int]:
    return [int(pid) for file in folder.glob("*.pid") for pid in file.read_text().split()]


# --- what the program receives ---------------------------------------------------------------


async def test_placeholders_environment_and_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMD_TEST_INHERITED", "from os.environ")
    monkeypatch.setenv("CMD_TEST_OVERRIDDEN", "from os.environ")
    command = run(
        "report",
        "--lr",
        "{lr}",
        "--n={n}",
        "{act}-{n}-{flag}",
        "{{lr}}",
        "{{{lr}}}",
        cwd=tmp_path,
        env={"CMD_TEST_OVERRIDDEN": "from env=", "CMD_TEST_SLOT": "from env="},
    )
    lr = np.float64(0.1) + np.float64(0.2)  # 0.30000000000000004: every digit must survive
    values = {"lr": lr, "n": np.int64(3), "act": "relu", "flag": True}
    params = {"lr": float(lr), "model": {"n": 3, "act": "relu"}, "extra": (1, float("nan"))}
    ctx = TrialContext(7, 2, values=values, env={"CMD_TEST_SLOT": "gpu2"}, study="exp")

    result = await command.evaluate_trial(params, ctx)

    assert result["argv"] == [
        "--lr",
        "0.30000000000000004",
        "--n=3",
        "relu-3-true",  # JSON, not a Python repr
        "{lr}",
        "{0.30000000000000004}",
    ]
    assert result["cwd"] == str(tmp_path)
    env = result["env"]
    assert json.loads(env["ASYNCHPO_PARAMS"]) == {
        "lr": 0.30000000000000004,
        "model": {"n": 3, "act": "relu"},
        "extra": [1, "nan"],
    }
    assert (env["ASYNCHPO_TRIAL_ID"], env["ASYNCHPO_SLOT"], env["ASYNCHPO_STUDY"]) == (
        "7",
        "2",
        "exp",
    )
    assert env["ASYNCHPO_RESULT_FILE"].endswith(".json")
    assert env["CMD_TEST_INHERITED"] == "from os.environ"
    assert env["CMD_TEST_OVERRIDDEN"] == "from env="
    assert env["CMD_TEST_SLOT"] == "gpu2"  # slot_env wins over env=
    assert "log" not in result  # no log folder, no log


# --- what it reports --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("number", {"loss": 0.25}),
        ("json", {"loss": 0.125, "accuracy": 0.875, "status": "ok"}),
        ("result-file", {"loss": 0.0625, "source": "file"}),
        ("binary", {"loss": 0.75}),
    ],
)
async def test_the_result_is_the_last_result_line_or_the_result_file(
    mode: str, expected: dict[str, Any]
) -> None:
    assert await run(mode).evaluate_trial({}, context()) == expected


async def test_result_files_are_removed_once_read() -> None:
    report = await run("report").evaluate_trial({}, context())
    await run("result-file").evaluate_trial({}, context())
    folder = anyio.Path(report["env"]["ASYNCHPO_RESULT_FILE"]).parent
    assert [path async for path in folder.iterdir()] == []


@pytest.mark.parametrize(
    ("mode", "shown"),
    [
        ("garbage", "  | world {not json"),
        ("empty", "stdout was empty"),
        ("bad-result-file", "not JSON: b'{oops'"),
    ],
)
async def test_exit_0_without_a_result_is_a_failed_trial_not_a_crash(mode: str, shown: str) -> None:
    result = await run(mode).evaluate_trial({}, context())
    assert result["status"] == "fail"
    assert shown in result["error"]
    assert "ASYNCHPO_RESULT_FILE" in result["error"]


async def test_huge_output_on_both_streams_is_drained_and_logged(tmp_path: Path) -> None:
    result = await run("huge", "20").evaluate_trial({}, context(log_dir=tmp_path))
    assert result == {"loss": 0.375, "log": str(tmp_path / "trial-0.log")}
    assert (tmp_path / "trial-0.log").stat().st_size > 25 * 2**20  # 20 MB + 5 MB + headers


# --- crashes ----------------------------------------------------------------------------------


async def test_a_non_zero_exit_is_a_crash_with_the_code_and_the_end_of_stderr(
    tmp_path: Path,
) -> None:
    with pytest.raises(TrialCrashed) as caught:
        await run("exit", "3").evaluate_trial({}, context(4, log_dir=tmp_path))
    message = str(caught.value)
    assert "exited with code 3" in message
    assert "error line 29" in message
    assert "error line 10" in message
    assert "error line 9\n" not in message  # only the last 20 lines
    assert message.endswith(f"log: {tmp_path / 'trial-4.log'}")


async def test_death_by_a_signal_and_undecodable_stderr_are_reported() -> None:
    with pytest.raises(TrialCrashed, match="was killed by SIGKILL"):
        await run("kill-self").evaluate_trial({}, context())
    with pytest.raises(TrialCrashed, match="exited with code 2") as caught:
        await run("binary", "2").evaluate_trial({}, context())
    assert "\N{REPLACEMENT CHARACTER}( also not utf-8" in str(caught.value)


# --- timeouts and cancellation: nothing is left running -----------------------------------------


async def test_timeout_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    command = run("stubborn", str(tmp_path), timeout=1.0, grace=0.3)
    started = time.monotonic()
    with pytest.raises(TrialCrashed, match=r"timed out after 1 s"):
        await command.evaluate_trial({}, context())
    assert 1.3 <= time.monotonic() - started < 3.0  # SIGTERM ignored, SIGKILL after grace
    (pid,) = read_pids(tmp_path)
    assert not alive(pid)


async def test_timeout_kills_the_children_too(tmp_path: Path) -> None:
    command = run("family", str(tmp_path), timeout=1.5, grace=0.3)
    with pytest.raises(TrialCrashed, match="timed out"):
        await command.evaluate_trial({}, context())
    pids = read_pids(tmp_path)
    assert len(pids) == 3
    assert wait_dead(pids) == []


@pytest.mark.parametrize("mode", ["stubborn", "family"])
async def test_cancelling_the_trial_stops_its_process_group(tmp_path: Path, mode: str) -> None:
    command = run(mode, str(tmp_path), grace=0.3)
    outcome: list[str] = []

    async def trial() -> None:
        try:
            await command.evaluate_trial({}, context())
        except anyio.get_cancelled_exc_class():
            outcome.append("cancelled")
            raise
        outcome.append("returned")

    async with anyio.create_task_group() as tg:
        tg.start_soon(trial)
        pids = await anyio.to_thread.run_sync(wait_for_pids, tmp_path, 1)
        started = time.monotonic()
        tg.cancel_scope.cancel()
    assert outcome == ["cancelled"]
    assert time.monotonic() - started < 2.0  # grace, then SIGKILL
    assert wait_dead(pids) == []


async def test_processes_left_behind_by_a_clean_exit_are_stopped(tmp_path: Path) -> None:
    command = run("leave-child", str(tmp_path), grace=0.3)
    started = time.monotonic()
    assert await command.evaluate_trial({}, context()) == {"loss": 0.5}
    assert time.monotonic() - started < 3.0
    assert wait_dead(read_pids(tmp_path)) == []


# --- logs -------------------------------------------------------------------------------------


async def test_lines_of_stdout_and_stderr_never_mix_in_the_log(tmp_path: Path) -> None:
    command = run("split-lines")
    assert await command.evaluate_trial({}, context(2, log_dir=tmp_path)) == {
        "loss": 0.5,
        "log": str(tmp_path / "trial-2.log"),
    }
    lines = (tmp_path / "trial-2.log").read_text().splitlines()
    assert lines[1:4] == ["a warning", "half of a line, and its end", "0.5"]


async def test_the_log_holds_both_streams_and_each_attempt(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "study"  # created on demand
    marker = tmp_path / "marker"
    command = run("flaky", str(marker))
    with pytest.raises(TrialCrashed, match="exited with code 1"):
        await command.evaluate_trial({}, context(5, log_dir=logs))
    assert await command.evaluate_trial({}, context(5, log_dir=logs)) == {
        "loss": 0.5,
        "log": str(logs / "trial-5.log"),
    }
    lines = (logs / "trial-5.log").read_text().splitlines()
    assert lines[0].startswith("===== asynchpo: trial 5, attempt 1, ")
    assert lines[0].endswith(f"{BEHAVIOURS} flaky {marker} =====")
    assert set(lines[1:3]) == {"first attempt output", "first attempt is crashing"}
    assert lines[3].startswith("===== asynchpo: trial 5, attempt 1: exited with code 1 after")
    assert lines[4].startswith("===== asynchpo: trial 5, attempt 2, ")
    assert lines[5:7] == ["second attempt output", "0.5"]
    assert lines[7].startswith("===== asynchpo: trial 5, attempt 2: exited with code 0 after")
    assert len(lines) == 8


async def test_a_log_that_cannot_be_written_does_not_fail_the_trial(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.touch()
    result = await run("number").evaluate_trial({}, context(log_dir=blocker / "logs"))
    assert result == {"loss": 0.25}


# --- configuration errors, before any trial ---------------------------------------------------

SPACE = {
    "lr": hp.loguniform("lr", -5, 0),
    "model": hp.choice("model", [{"kind": "a"}, {"kind": "b", "depth": hp.randint("depth", 5)}]),
}


_C, _T = ConfigError, TypeError  # a wrong value, the wrong kind of object


@pytest.mark.parametrize(
    ("argv", "options", "error", "message"),
    [
        ("python train.py", {}, _T, "argv must be a non-empty list of strings"),
        ([], {}, _C, "argv must be a non-empty list of strings"),
        ([PY, 3], {}, _T, "argv must be a non-empty list of strings"),
        ([PY, "{lr"], {}, _C, r"argv\[1\] = '\{lr' has a stray '\{'"),
        ([PY, "a}b"], {}, _C, "stray '}'"),
        ([PY, "{}"], {}, _C, "stray '{}'"),
        (["{lr}", "x"], {}, _C, r"argv\[0\] = '\{lr\}' is the program"),
        ([PY], {"timeout": 0}, _C, "timeout must be a positive number of seconds"),
        ([PY], {"timeout": math.nan}, _C, "timeout must be"),
        ([PY], {"grace": -1}, _C, "grace must be a number of seconds >= 0"),
        ([PY], {"env": {"A": 1}}, _T, "env must map strings to strings"),
    ],
)
def test_bad_arguments_are_refused_at_construction(
    argv: Any, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Command(argv, **options)


def test_prepare_refuses_what_would_fail_every_trial(tmp_path: Path) -> None:
    space = compile_space(SPACE)
    not_executable = tmp_path / "train.sh"
    not_executable.write_text("#!/bin/sh\necho 1\n")
    cases: list[tuple[Command, str]] = [
        (Command([PY, "--lr", "{learning_rate}"]), r"\{learning_rate\} in argv names no label"),
        (Command([PY, "--depth={depth}"]), "Use ASYNCHPO_PARAMS for conditional parameters"),
        (Command(["no-such-program-asynchpo"]), "'no-such-program-asynchpo' is not on PATH"),
        (Command(["./train.sh"]), r"'./train.sh' does not exist"),
        (Command(["./train.sh"], cwd=tmp_path), "is not executable"),
        (Command([PY], cwd=tmp_path / "missing"), "is not a readable folder"),
        (Command([PY], cwd=not_executable), "is not a readable folder"),
    ]
    for command, message in cases:
        with pytest.raises(ConfigError, match=message):
            command.prepare(space)
    not_executable.chmod(0o755)
    Command(["./train.sh", "{lr}", "{model}"], cwd=tmp_path).prepare(space)  # all good


async def test_a_placeholder_without_a_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\{depth\} has no value in this trial"):
        await Command([PY, "{depth}"]).evaluate_trial({}, context(values={"lr": 0.1}))


# --- through fmin -----------------------------------------------------------------------------


async def test_fmin_runs_the_command_per_trial_with_exact_values_slots_and_logs(
    tmp_path: Path,
) -> None:
    trials = Trials()
    best = await fmin(
        run("report", "--x", "{x}", "--act", "{act}"),
        {"x": hp.uniform("x", -3, 3), "act": hp.choice("act", ["relu", "tanh"])},
        algo=rand.suggest,
        max_evals=8,
        concurrency=3,
        storage=tmp_path / "r.sqlite",
        seed=0,
        trials=trials,
        slot_env={"CMD_TEST_GPU": ["g0", "g1", "g2"]},
    )
    assert len(trials) == 8
    for trial in trials.records:
        assert trial.state is TrialState.OK
        result = trial.result
        x = trial.params["x"]
        assert result["x_seen"] == x  # the float went through argv without losing a digit
        assert result["loss"] == (x - 1.0) ** 2
        assert result["argv"][-1] == ("relu", "tanh")[int(trial.params["act"])]
        env = result["env"]
        assert env["CMD_TEST_GPU"] == f"g{env['ASYNCHPO_SLOT']}"
        assert env["ASYNCHPO_TRIAL_ID"] == str(trial.id)
        log = Path(result["log"])
        assert log == tmp_path / "r-logs" / "default" / f"trial-{trial.id}.log"
        assert "starting" in await anyio.Path(log).read_text()
    assert best["x"] == min(trials.records, key=lambda t: t.result["loss"]).params["x"]


async def test_fmin_checks_the_command_before_any_trial(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="names no label"):
        await fmin(Command([PY, "{y}"]), {"x": hp.uniform("x", 0, 1)}, max_evals=1, storage=None)


async def test_fmin_retries_a_crashed_command_and_logs_both_attempts(tmp_path: Path) -> None:
    trials = Trials()
    await fmin(
        run("flaky", str(tmp_path / "marker")),
        {"x": hp.uniform("x", 0, 1)},
        max_evals=1,
        retries=1,
        storage=tmp_path / "r.sqlite",
        trials=trials,
    )
    (trial,) = trials.records
    assert trial.state is TrialState.OK
    assert "exited with code 1" in trial.result["attempts"][0]
    text = await anyio.Path(trial.result["log"]).read_text()
    assert "first attempt is crashing" in text
    assert "===== asynchpo: trial 0, attempt 2, " in text


async def test_fmin_timeout_stops_every_command_in_flight(tmp_path: Path) -> None:
    with pytest.raises(AllTrialsFailed):
        await fmin(
            run("stubborn", str(tmp_path), grace=0.3),
            {"x": hp.uniform("x", 0, 1)},
            algo=rand.suggest,
            max_evals=3,
            concurrency=3,
            timeout=2.0,
        )
    pids = read_pids(tmp_path)
    assert len(pids) == 3
    assert wait_dead(pids) == []


# --- the orchestrator is SIGKILLed -----------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="trials need POSIX process groups")
def test_the_commands_of_a_killed_orchestrator_die_with_it(tmp_path: Path) -> None:
    # Each trial's program and the two children it started (which ignore SIGTERM) must die.
    pid_folder = tmp_path / "pids"
    pid_folder.mkdir()
    orchestrator = subprocess.Popen(
        [PY, str(SCRIPTS / "orchestrator.py"), str(tmp_path / "r.sqlite"), str(pid_folder)],
        stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # a killed process cleans up nothing
    )
    try:
        pids = wait_for_pids(pid_folder, 2, within=20.0)
    finally:
        orchestrator.send_signal(signal.SIGKILL)
        _, err = orchestrator.communicate()
    assert orchestrator.returncode == -signal.SIGKILL, err
    survivors = wait_dead(pids, within=10.0)
    for pid in survivors:  # do not leave them behind even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert survivors == []
