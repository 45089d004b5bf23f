"""Per-trial logs stay inside the log folder whatever the study is called (issue 12, item 6).

The study name becomes a folder under ``<storage>-logs/``; a name holding ``..``, a slash, an
absolute path or anything else a file system treats specially must never write elsewhere, and
two different names must never share a folder. Real ``fmin`` runs of real ``Command`` programs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from asynchpo import Command, ConfigError, Trials, TrialState, fmin, hp

BEHAVIOURS = str(Path(__file__).with_name("command_scripts") / "behaviours.py")
SPACE = {"x": hp.uniform("x", 0, 2)}


def hostile_names(tmp_path: Path) -> list[str]:
    return [
        "../../../x",
        "../..",
        str(tmp_path / "abs"),  # an absolute path, inside tmp_path so a failure is contained
        "a/b",
        "a\\b",
        "a_b",
        "ab",
        ".",
        "..",
        "...",
        ".hidden",
        "-rf",
        "s" * 300,
        "s" * 299 + "t",  # same first 64 safe characters as the one above
        "Exp",
        "exp",  # differs only in case: one folder on macOS unless the names are kept apart
        "a-0123456789ab",  # looks like a hashed name
        "étude ☃",
        "line\nbreak",
    ]


def files_under(folder: Path) -> set[Path]:
    return {Path(root, name) for root, _, names in os.walk(folder) for name in names}


async def run_study(storage: Path, study: str, max_evals: int = 2) -> Trials:
    trials = Trials()
    await fmin(
        Command([sys.executable, BEHAVIOURS, "report", "--x", "{x}"]),
        SPACE,
        algo=None,
        max_evals=max_evals,
        concurrency=2,
        storage=storage,
        study=study,
        seed=0,
        trials=trials,
        show_progressbar=False,
    )
    return trials


def log_folders(trials: Trials, logs: Path) -> set[Path]:
    """The folders the trials' logs are in, each checked to be one level inside ``logs``."""
    folders = set()
    for trial in trials.records:
        assert trial.state is TrialState.OK, trial.result
        log = Path(trial.result["log"])
        assert log.is_file(), log
        assert log.name == f"trial-{trial.id}.log"
        assert os.path.realpath(log).startswith(os.path.realpath(logs) + os.sep), log
        assert log.parent.parent == logs, log  # one path component per study
        assert "starting" in log.read_text()
        folders.add(log.parent)
    return folders


async def test_every_log_lands_inside_the_log_folder_and_no_two_studies_share_one(
    tmp_path: Path,
) -> None:
    # Deep enough that "../../../x" escaping the log folder still lands inside tmp_path.
    storage = tmp_path / "a" / "b" / "c" / "d" / "runs.sqlite"
    storage.parent.mkdir(parents=True)
    logs = tmp_path / "a" / "b" / "c" / "d" / "runs-logs"
    folder_of: dict[str, Path] = {}
    for name in hostile_names(tmp_path):
        trials = await run_study(storage, name)
        folders = log_folders(trials, logs)
        assert len(folders) == 1, (name, folders)
        folder_of[name] = folders.pop()
        assert len(folder_of[name].name.encode()) <= 100, folder_of[name]
    # Nothing was written anywhere but the storage and the log folder.
    outside = {
        path
        for path in files_under(tmp_path)
        if logs not in path.parents and path.parent != storage.parent
    }
    assert outside == set()
    # Every study has its own folder, even where case is not told apart.
    lowered = {str(folder).lower() for folder in folder_of.values()}
    assert len(lowered) == len(folder_of), folder_of
    # A plain lowercase name is still its own folder, as the README says.
    assert folder_of["exp"] == logs / "exp"
    assert folder_of["ab"] == logs / "ab"


async def test_a_resumed_study_logs_to_the_same_folder(tmp_path: Path) -> None:
    storage = tmp_path / "runs.sqlite"
    logs = tmp_path / "runs-logs"
    first = log_folders(await run_study(storage, "../up/Study 1", max_evals=2), logs)
    again = await run_study(storage, "../up/Study 1", max_evals=4)
    assert len(again.records) == 4
    assert log_folders(again, logs) == first
    assert files_under(tmp_path) <= {storage, *storage.parent.glob("runs.sqlite*")} | {
        folder / f"trial-{i}.log" for folder in first for i in range(4)
    }


async def test_an_empty_study_name_is_refused_before_any_file_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="non-empty string"):
        await run_study(tmp_path / "runs.sqlite", "")
    assert files_under(tmp_path) == set()


def test_the_command_line_keeps_logs_inside_the_log_folder(tmp_path: Path) -> None:
    work = tmp_path / "one" / "two"
    work.mkdir(parents=True)
    space = tmp_path / "space.json"
    space.write_text('{"x": ["uniform", 0, 2]}')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "asynchpo",
            "run",
            "--space",
            str(space),
            "--storage",
            str(work / "runs.sqlite"),
            "--study",
            "../../x",
            "--max-evals",
            "2",
            "--",
            sys.executable,
            BEHAVIOURS,
            "report",
            "--x",
            "{x}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    logs = [path for path in files_under(tmp_path) if path.name.startswith("trial-")]
    assert len(logs) == 2
    assert all(path.parent.parent == work / "runs-logs" for path in logs), logs
