"""Every Python block of the README runs, in order, in a fresh folder, as a user would run it.

A block preceded by ``<!-- file: NAME -->`` is written to that file instead (a script or a
space that another block uses). A block with a top-level ``await`` (or ``async with``) runs
inside ``anyio.run``. A shell block preceded by ``<!-- run -->`` runs with bash, with this
environment's ``python`` and ``asynchpo`` commands first on the path. A block marked
```` ```python skip ```` (one that needs a cluster) is shown, not run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(
    r"(?:<!-- (?P<marker>file: \S+|run) -->\n)?```(?P<language>python|sh|json)\n(?P<code>.*?)```",
    re.S,
)


def blocks() -> list[tuple[str, str | None, str]]:
    """(language, file name or "run" or None, code) of every block, in order."""
    found = []
    for m in BLOCK.finditer(README.read_text()):
        marker = m.group("marker")
        name = marker.removeprefix("file: ") if marker and marker != "run" else marker
        found.append((m.group("language"), name, m.group("code")))
    return found


def runnable(code: str) -> str:
    if not re.search(r"^(\S.*\bawait\b|async (with|for)\b)", code, re.M):
        return code
    body = textwrap.indent(code, "    ")
    return f"import anyio\n\n\nasync def _block():\n{body}\n\nanyio.run(_block)\n"


def test_the_readme_has_python_blocks() -> None:
    assert sum(language == "python" for language, _, _ in blocks()) >= 3


@pytest.mark.timeout(180)
def test_every_readme_block_runs(tmp_path: Path) -> None:
    bin_folder = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_folder + os.pathsep + os.environ.get("PATH", "")}
    for index, (language, name, code) in enumerate(blocks()):
        if name is not None and name != "run":
            (tmp_path / name).write_text(code)
            continue
        if language == "python":
            script = tmp_path / f"block_{index}.py"
            script.write_text(runnable(code))
            argv = [sys.executable, str(script)]
        elif language == "sh" and name == "run":
            argv = ["bash", "-e", "-c", code]
        else:
            continue  # shown, not run: `make demo` itself, or data without a file name
        done = subprocess.run(
            argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env
        )
        assert done.returncode == 0, f"README block {index} failed:\n{code}\n{done.stderr}"
