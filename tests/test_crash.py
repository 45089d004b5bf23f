"""Crash and interrupt tests: real processes, real SIGKILL and SIGINT, a real SQLite file."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

WORKER = Path(__file__).with_name("crash_worker.py")


def _start(db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_starts(proc: subprocess.Popen[str], count: int) -> None:
    """Block on the child's output until it has started ``count`` evaluations."""
    assert proc.stdout is not None
    seen = 0
    while seen < count:
        line = proc.stdout.readline()
        if not line:
            _, err = proc.communicate()
            raise AssertionError(f"worker ended early (exit {proc.returncode}): {err}")
        if line.startswith("start "):
            seen += 1


def _rows(db: Path) -> dict[int, dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT tid, state, params, loss, result, error FROM trials ORDER BY tid"
        ).fetchall()
    return {row["tid"]: dict(row) for row in rows}


def _run_to_end(db: Path, *args: str) -> None:
    proc = _start(db, *args)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kill_after", [1, 6, 23])
def test_sigkill_then_resume_loses_and_repeats_nothing(tmp_path: Path, kill_after: int) -> None:
    db = tmp_path / "runs.sqlite"
    args = ("crash", "30", "4", "rand", "0.05")
    proc = _start(db, *args)
    _wait_for_starts(proc, kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()

    before = _rows(db)
    finished_before = {tid: row for tid, row in before.items() if row["state"] in ("ok", "fail")}
    in_flight = {tid: row for tid, row in before.items() if row["state"] == "running"}
    assert in_flight, "the kill should land while trials are in flight"

    _run_to_end(db, *args)
    after = _rows(db)
    finished = [row for row in after.values() if row["state"] in ("ok", "fail")]
    assert len(finished) == 30
    assert sorted(after) == list(range(len(after)))  # no id twice, none skipped
    assert all(row["state"] == "ok" for row in after.values())
    for tid, row in finished_before.items():
        assert after[tid] == row
    for tid, row in in_flight.items():
        assert after[tid]["params"] == row["params"]
        assert after[tid]["state"] == "ok"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kill_after", [2, 7])
def test_killed_and_resumed_run_suggests_what_an_uninterrupted_run_does(
    tmp_path: Path, kill_after: int
) -> None:
    args = ("det", "12", "1", "anneal", "0.02")
    straight = tmp_path / "straight.sqlite"
    _run_to_end(straight, *args)

    crashed = tmp_path / "crashed.sqlite"
    proc = _start(crashed, *args)
    _wait_for_starts(proc, kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    _run_to_end(crashed, *args)

    def params(db: Path) -> list[dict[str, Any]]:
        return [json.loads(row["params"]) for row in _rows(db).values()]

    assert params(crashed) == params(straight)


@pytest.mark.timeout(120)
def test_ctrl_c_under_fmin_sync_leaves_the_study_resumable(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    args = ("sigint", "40", "4", "rand", "0.5", "sync")
    proc = _start(db, *args)
    _wait_for_starts(proc, 6)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (-signal.SIGINT, 130, 1), err
    assert "KeyboardInterrupt" in err
    rows = _rows(db)
    states = {row["state"] for row in rows.values()}
    assert "running" not in states
    assert "interrupted" in states

    _run_to_end(db, "sigint", "40", "4", "rand", "0.01", "sync")
    after = _rows(db)
    assert sum(row["state"] == "ok" for row in after.values()) == 40
    for tid, row in rows.items():
        if row["state"] == "interrupted":
            assert after[tid]["params"] == row["params"]
