"""Every Python block of the README runs, in order, in a fresh folder, as a user would run it.

A block preceded by ``<!-- file: NAME -->`` is written to that file instead (a script that
another block uses). A block with a top-level ``await`` runs inside ``anyio.run``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(?:<!-- file: (?P<file>\S+) -->\n)?```python\n(?P<code>.*?)```", re.S)


def blocks() -> list[tuple[str | None, str]]:
    return [(m.group("file"), m.group("code")) for m in BLOCK.finditer(README.read_text())]


def runnable(code: str) -> str:
    if not re.search(r"^\S.*\bawait\b", code, re.M):
        return code
    body = textwrap.indent(code, "    ")
    return f"import anyio\n\n\nasync def _block():\n{body}\n\nanyio.run(_block)\n"


def test_the_readme_has_python_blocks() -> None:
    assert len(blocks()) >= 3


@pytest.mark.timeout(180)
def test_every_readme_block_runs(tmp_path: Path) -> None:
    for index, (name, code) in enumerate(blocks()):
        if name is not None:
            (tmp_path / name).write_text(code)
            continue
        script = tmp_path / f"block_{index}.py"
        script.write_text(runnable(code))
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"README block {index} failed:\n{code}\n{done.stderr}"
