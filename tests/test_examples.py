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
