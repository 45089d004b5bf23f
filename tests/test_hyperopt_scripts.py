"""hyperopt-style scripts run against asynchpo unchanged apart from their import lines (issue 13).

Each script in ``tests/hyperopt_scripts/`` is hyperopt code as people write it: each asynchpo
import line is under a ``# hyperopt: <hyperopt's import>`` comment, and nothing else differs.
Each is run as a user would run it (``python script.py``, in a fresh folder), and checks its
own results with ``assert``. The same scripts, with hyperopt's imports put back, are run under
hyperopt too: that they pass there shows they hold hyperopt's behaviour, not asynchpo's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).parent / "hyperopt_scripts").glob("*.py"))
IMPORT = re.compile(r"^# hyperopt: (?P<theirs>.+)\n(?P<ours>from asynchpo import .+)$", re.M)


def run(script: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script)], cwd=folder, capture_output=True, text=True, timeout=50
    )


def test_there_are_three_scripts_that_differ_from_hyperopt_only_in_their_imports() -> None:
    assert len(SCRIPTS) >= 3
    for script in SCRIPTS:
        code = script.read_text()
        ours = [m.group("ours") for m in IMPORT.finditer(code)]
        assert ours, script.name
        mentions = [line for line in code.splitlines() if "asynchpo" in line]
        assert mentions == ours, f"{script.name}: asynchpo outside the marked import lines"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_the_script_runs_with_asynchpo(script: Path, tmp_path: Path) -> None:
    done = run(script, tmp_path)
    assert done.returncode == 0, f"{script.name} failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_the_same_script_runs_with_hyperopt(script: Path, tmp_path: Path) -> None:
    pytest.importorskip("hyperopt")
    theirs = tmp_path / script.name
    theirs.write_text(IMPORT.sub(lambda m: m.group("theirs"), script.read_text()))
    assert "asynchpo" not in theirs.read_text()
    done = run(theirs, tmp_path)
    assert done.returncode == 0, f"{script.name} under hyperopt:\n{done.stdout}\n{done.stderr}"
