"""What a person sees while a search runs and when it stops (issue 13, item 11): the progress
line moves on a timer, Ctrl-C ends a script with one line, ``verbose=True`` prints a line per
trial without logging set up, and a caught objective error is logged with the objective's own
frames. Real processes and real signals."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from asynchpo import fmin, hp, rand

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# Each trial prints "started" on stdout, then sleeps a minute: SIGINT comes while 3 run.
SLOW = """
import sys, anyio, asynchpo
from asynchpo import hp, rand

async def objective(params):
    print("started", flush=True)
    await anyio.sleep(60)
    return params["x"]

KW = dict(algo=rand.suggest, max_evals=6, concurrency=3, seed=1, show_progressbar=False,
          storage=sys.argv[1], study="s")
"""

CALLS = {
    "fmin_sync": "asynchpo.fmin_sync(objective, {'x': hp.uniform('x', 0, 1)}, **KW)",
    "anyio.run": "anyio.run(lambda: asynchpo.fmin(objective, {'x': hp.uniform('x', 0, 1)}, **KW))",
    "asyncio.run": "import asyncio\n"
    "asyncio.run(asynchpo.fmin(objective, {'x': hp.uniform('x', 0, 1)}, **KW))",
}


def _states(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT state FROM trials ORDER BY tid")]


def _interrupt(tmp_path: Path, code: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run ``code`` after SLOW, send SIGINT once three trials started, and wait for the end."""
    script = tmp_path / "script.py"
    script.write_text(SLOW + code + "\n")
    db = tmp_path / "runs.sqlite"
    process = subprocess.Popen(
        [sys.executable, str(script), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for _ in range(3):
            assert process.stdout.readline() == "started\n"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err), db


@pytest.mark.parametrize("call", sorted(CALLS))
def test_ctrl_c_ends_a_script_with_one_line(tmp_path: Path, call: str) -> None:
    done, db = _interrupt(tmp_path, CALLS[call])
    assert done.stderr.splitlines() == [
        "interrupted (KeyboardInterrupt): 0 trials finished, 3 in flight recorded as "
        "interrupted; call fmin again with the same storage and study to resume"
    ], done.stderr
    assert done.returncode == 1
    assert _states(db) == ["interrupted"] * 3


def test_ctrl_c_is_still_a_keyboard_interrupt_to_catch_and_the_study_resumes(
    tmp_path: Path,
) -> None:
    code = textwrap.dedent(
        """
        try:
            asynchpo.fmin_sync(objective, {'x': hp.uniform('x', 0, 1)}, **KW)
        except KeyboardInterrupt as exc:
            print("caught:", exc, flush=True)
        async def quick(params):
            return params["x"]
        asynchpo.fmin_sync(quick, {'x': hp.uniform('x', 0, 1)}, **KW)
        print("resumed", flush=True)
        """
    )
    done, db = _interrupt(tmp_path, code)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "caught: interrupted (KeyboardInterrupt): 0 trials finished, 3 in flight" in done.stdout
    assert "resumed" in done.stdout
    assert _states(db) == ["ok"] * 6


def test_a_sigint_handler_the_program_set_is_left_alone(tmp_path: Path) -> None:
    script = tmp_path / "own.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, signal, asynchpo
            from asynchpo import hp, rand
            seen = []
            signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
            def objective(params):
                if not seen:
                    os.kill(os.getpid(), signal.SIGINT)
                return params["x"]
            asynchpo.fmin_sync(objective, {"x": hp.uniform("x", 0, 1)}, algo=rand.suggest,
                               max_evals=3, seed=1, show_progressbar=False)
            print("done", len(seen), signal.getsignal(signal.SIGINT).__name__)
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["done", "1", "<lambda>"]


async def test_the_progress_line_is_redrawn_while_trials_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import anyio

    async def objective(params: dict[str, float]) -> float:
        await anyio.sleep(1.2)
        return params["x"]

    await fmin(
        objective,
        {"x": hp.uniform("x", 0, 1)},
        algo=rand.suggest,
        max_evals=2,
        concurrency=2,
        seed=1,
        show_progressbar=True,
    )
    frames = [frame.strip() for frame in capsys.readouterr().err.split("\r") if frame.strip()]
    # Before any trial finished, the line showed both running, and its clock moved.
    waiting = [frame for frame in frames if frame.startswith("0/2 trials | 2 running")]
    assert len(waiting) >= 2, frames
    assert any("00:01 elapsed" in frame for frame in waiting), frames
    assert frames[-1].startswith("2/2 trials | 0 running | 0 failed | best loss: ")


def _run_script(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)


def test_verbose_prints_a_line_per_trial_without_logging_set_up(tmp_path: Path) -> None:
    done = _run_script(
        tmp_path,
        """
        import logging, asynchpo
        from asynchpo import hp, rand
        def objective(params):
            if asynchpo.current_trial().trial_id == 1:
                return {"status": "fail", "error": "x too large"}
            return params["x"]
        asynchpo.fmin_sync(objective, {"x": hp.uniform("x", 0, 1)}, algo=rand.suggest,
                           max_evals=4, seed=3, verbose=True, show_progressbar=False)
        print(logging.getLogger("asynchpo").level, logging.getLogger().handlers)
        """,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["trial", str(tid), state] for tid, state in enumerate(["ok", "failed", "ok", "ok"])
    ], done.stderr
    assert ": loss " in lines[0], lines
    assert "(best " in lines[0], lines
    assert lines[1].endswith(": x too large"), lines
    # Logging is left as it was: no level set on asynchpo's logger, no handler added.
    assert done.stdout.split() == ["0", "[]"]


@pytest.mark.parametrize("kind", ["def", "async def"])
def test_a_caught_objective_error_is_logged_with_the_objectives_frames(
    tmp_path: Path, kind: str
) -> None:
    done = _run_script(
        tmp_path,
        f"""
        import asynchpo
        from asynchpo import hp
        def helper(x):
            raise ValueError(f"bad x {{x:.3f}}")
        {kind} objective(params):
            return helper(params["x"])
        try:
            asynchpo.fmin_sync(objective, {{"x": hp.uniform("x", 0, 1)}}, max_evals=1, seed=1,
                               catch_eval_exceptions=True, show_progressbar=False)
        except asynchpo.AllTrialsFailed:
            pass
        """,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "trial 0 failed: Traceback (most recent call last):", done.stderr
    assert "in objective" in lines[1], done.stderr
    assert "in helper" in lines[-3], done.stderr
    assert lines[-1].startswith("ValueError: bad x 0."), done.stderr
    assert len(lines) <= 8, done.stderr  # two frames of three lines at most, no internal ones
    assert "asynchpo/" not in done.stderr
    assert "anyio" not in done.stderr
