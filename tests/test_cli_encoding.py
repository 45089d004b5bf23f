"""The command line on a terminal that cannot show every character (issue 12, item 10).

With ``PYTHONIOENCODING=ascii``, or ``LC_ALL=C`` without Python's UTF-8 mode, ``studies``,
``show``, ``trials`` and ``run`` of a study whose name, labels, options and errors are not ASCII
print them escaped, find the study named on the command line, and never show a traceback.
Real ``python -m asynchpo`` processes on a real SQLite file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from asynchpo import STATUS_FAIL, STATUS_OK, fmin, hp

STUDY = "étude-ü☃"
ESCAPED = "\\xe9tude-\\xfc\\u2603"
SPACE = {"größe": hp.uniform("größe", 0, 1), "modèle": hp.choice("modèle", ["α", "β"])}

ASCII_ONLY = {"PYTHONIOENCODING": "ascii"}
C_LOCALE = {"LC_ALL": "C", "PYTHONUTF8": "0"}  # UTF-8 mode would otherwise hide the C locale
ENVIRONMENTS = pytest.mark.parametrize(
    "env", [ASCII_ONLY, C_LOCALE, {"LC_ALL": "C"}], ids=["ascii", "C-locale", "C-utf8-mode"]
)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    names = ("PYTHONIOENCODING", "PYTHONUTF8", "LC_ALL", "LC_CTYPE", "LANG")
    clean = {key: value for key, value in os.environ.items() if key not in names}
    return subprocess.run(
        [sys.executable, "-m", "asynchpo", *args],
        capture_output=True,
        timeout=30,
        env={**clean, **env},
        check=False,
    )


def text(done: subprocess.CompletedProcess[bytes]) -> tuple[str, str]:
    """stdout and stderr, checked to be free of tracebacks and of undecodable bytes."""
    out, err = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    assert "Traceback" not in err, err
    assert "UnicodeEncodeError" not in err, err
    return out, err


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("encoding") / "runs.sqlite"

    def objective(params: dict[str, object]) -> dict[str, object]:
        if float(params["größe"]) > 0.6:  # type: ignore[arg-type]
            return {"status": STATUS_FAIL, "error": "Größe zu groß: ключ ☃"}
        return {"loss": float(params["größe"]), "status": STATUS_OK}  # type: ignore[arg-type]

    anyio.run(
        lambda: fmin(
            objective,
            SPACE,
            max_evals=8,
            storage=path,
            study=STUDY,
            seed=3,
            show_progressbar=False,
        )
    )
    return path


@ENVIRONMENTS
def test_studies_lists_a_non_ascii_study(storage: Path, env: dict[str, str]) -> None:
    done = cli(env, "studies", str(storage))
    out, err = text(done)
    assert done.returncode == 0, err
    assert STUDY in out or ESCAPED in out, out


@ENVIRONMENTS
def test_show_finds_and_prints_a_non_ascii_study(storage: Path, env: dict[str, str]) -> None:
    done = cli(env, "show", str(storage), STUDY)
    out, err = text(done)
    assert done.returncode == 0, err
    assert STUDY in out or ESCAPED in out, out
    assert "best:          trial" in out
    assert "gr" in out  # the labels, escaped or not
    assert "mod" in out


@ENVIRONMENTS
@pytest.mark.parametrize("form", ["table", "csv", "json"])
def test_trials_prints_non_ascii_labels_and_errors(
    storage: Path, env: dict[str, str], form: str
) -> None:
    done = cli(env, "trials", "--format", form, str(storage), STUDY)
    out, err = text(done)
    assert done.returncode == 0, err
    assert len(out.splitlines()) >= 8
    assert "zu gro" in out  # a failed trial's error, escaped or not


@ENVIRONMENTS
def test_run_on_a_non_ascii_study(tmp_path: Path, env: dict[str, str]) -> None:
    space = tmp_path / "space.json"
    space.write_text('{"größe": ["uniform", 0, 1], "mod": ["choice", ["α☃"]]}', encoding="utf-8")
    args = ["--storage", str(tmp_path / "runs.sqlite"), "--study", STUDY, "--max-evals", "2"]
    # The program gets the study's name and the option's text as UTF-8 bytes.
    seen = tmp_path / "seen"
    program = [
        "--",
        sys.executable,
        "-c",
        "import os, sys; open(sys.argv[1], 'wb').write(os.environb[b'ASYNCHPO_STUDY'] + b' '"
        " + os.fsencode(sys.argv[2])); print(0.5)",
        str(seen),
        "{mod}",
    ]
    done = cli(env, "run", "--space", str(space), *args, *program)
    out, err = text(done)
    assert done.returncode == 0, err
    assert "gr" in out
    assert seen.read_bytes() == f"{STUDY} α☃".encode()
    # The same name typed again names the same study: the run resumes it.
    done = cli(env, "show", str(tmp_path / "runs.sqlite"), STUDY)
    out, err = text(done)
    assert done.returncode == 0, err
    assert "trials:        2 " in out


def test_a_study_name_that_is_not_utf8_is_a_one_line_error(storage: Path) -> None:
    done = subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"asynchpo", b"show", bytes(storage), b"\xff"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    _, err = text(done)
    assert done.returncode == 2
    assert err.count("\n") == 1, err
    assert "not UTF-8" in err
