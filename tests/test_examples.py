"""The example scripts run as a user would run them, from a fresh folder (small sizes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.timeout(120)
def test_prune_script_prunes_and_resumes(tmp_path: Path) -> None:
    def run() -> str:
        done = subprocess.run(
            [sys.executable, str(EXAMPLES / "prune_script.py")],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=110,
            env={**os.environ, "EXAMPLE_TRIALS": "12"},
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = run()
    found = re.search(r"12 trials, (\d+) pruned: (\d+) epochs run instead of 324", first)
    assert found, first
    assert int(found[1]) >= 1
    assert int(found[2]) < 324
    assert "Best parameters: {'lr': " in first
    # Run again: 12 more trials in the same study, nothing lost.
    assert "12 trials, " in run()
    assert (tmp_path / "runs" / "prune_script.sqlite").exists()


@pytest.mark.timeout(120)
def test_the_dashboard_demo_searches_and_says_how_to_watch(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "dashboard_demo.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
        env={**os.environ, "EXAMPLE_TRIALS": "40", "EXAMPLE_EPOCH_SECONDS": "0"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "asynchpo dashboard runs/dashboard_demo.sqlite" in done.stdout
    assert "best: {'lr': " in done.stdout
    import asynchpo

    trials = asynchpo.load_trials_sync(tmp_path / "runs" / "dashboard_demo.sqlite", "demo")
    assert len(trials.records) == 40
    assert any(trial.state.value == "pruned" for trial in trials.records)
    assert all(trial.reports for trial in trials.records)
