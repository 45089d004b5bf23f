"""The README's "Several machines" section, walked on a real PostgreSQL server: its shell
commands and its Python block run as written, with the example URL replaced by the test
server's (``tests/conftest.py``) and the never-ending dashboard line left out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PgServer
from test_readme import README, blocks

EXAMPLE_URLS = (
    "postgresql://hpo:secret@db.example:5432/hpo",
    "postgresql://hpo@db.example:5432/hpo",
)


def _section_blocks() -> list[tuple[str, str | None, str]]:
    text = README.read_text()
    section = text[text.index("## Several machines") :]
    section = section[: section.index("\n## ", 1)]
    return [block for block in blocks(skipped=True) if block[2] in section]


@pytest.mark.timeout(180)
def test_the_several_machines_section_runs(
    tmp_path: Path, pg_url: str, postgres_server: PgServer
) -> None:
    # The files the section's command uses come from earlier README blocks.
    for _, name, code in blocks():
        if name is not None and name != "run":
            (tmp_path / name).write_text(code)
    bin_folder = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_folder + os.pathsep + os.environ.get("PATH", ""),
        "ASYNCHPO_TEST_URL": pg_url,
    }
    section = _section_blocks()
    shell = [code for language, _, code in section if language == "sh"]
    python = [code for language, _, code in section if language == "python"]
    assert len(shell) == 1
    assert len(python) == 1
    commands = [line for line in shell[0].splitlines() if "asynchpo dashboard" not in line]
    script = "\n".join(commands)
    for example in EXAMPLE_URLS:
        script = script.replace(example, '"$ASYNCHPO_TEST_URL"')
    assert "$ASYNCHPO_TEST_URL" in script
    done = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr
    assert "shared" in done.stdout
    assert "200" in done.stdout  # show: the study's 200 finished trials

    code = python[0]
    for example in EXAMPLE_URLS:
        code = code.replace(example, pg_url)
    assert pg_url in code
    (tmp_path / "block.py").write_text(code)
    done = subprocess.run(
        [sys.executable, "block.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "'x':" in done.stdout
