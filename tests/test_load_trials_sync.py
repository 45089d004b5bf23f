"""``load_trials_sync``: a stored study's trials from code that is not async (issue 13, item 12).

The README's "read a study without running anything" block must run when pasted into a plain
``.py`` file, so reading a study needs no ``await``; it must also work where an event loop
already runs (a Jupyter cell).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asynchpo import StudyNotFound, Trials, fmin, fmin_sync, hp, load_trials, load_trials_sync

SPACE = {"x": hp.uniform("x", -1, 1), "c": hp.choice("c", ["a", "b"])}


def square(params: dict[str, float | str]) -> float:
    x = params["x"]
    assert isinstance(x, float)
    return x * x


def test_it_returns_what_load_trials_returns(tmp_path: Path) -> None:
    storage = tmp_path / "runs.sqlite"
    fmin_sync(square, SPACE, max_evals=7, storage=str(storage), study="exp1", seed=3)
    trials = load_trials_sync(str(storage), "exp1")
    assert isinstance(trials, Trials)
    assert len(trials) == 7
    assert trials.best_trial["result"]["loss"] == min(x for x in trials.losses() if x is not None)
    assert load_trials_sync(storage, "exp1").losses() == trials.losses()  # a Path too


async def test_it_works_inside_a_running_event_loop(tmp_path: Path) -> None:
    # As in a notebook cell: an event loop is running in this thread.
    storage = str(tmp_path / "runs.sqlite")
    await fmin(square, SPACE, max_evals=3, storage=storage, seed=0)
    assert load_trials_sync(storage).losses() == (await load_trials(storage)).losses()


def test_a_missing_study_or_file_is_study_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "none.sqlite"
    with pytest.raises(StudyNotFound):
        load_trials_sync(str(missing))
    assert not missing.exists()
    storage = str(tmp_path / "runs.sqlite")
    fmin_sync(square, SPACE, max_evals=1, storage=storage)
    with pytest.raises(StudyNotFound):
        load_trials_sync(storage, "other")
