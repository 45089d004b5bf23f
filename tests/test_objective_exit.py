"""An objective that calls sys.exit() or raises KeyboardInterrupt (argparse inside a
training function) ends the process as it would without asynchpo: the search stops cleanly,
the study stays resumable, and nothing hangs (it used to wait for ever on a worker thread)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys, time, anyio
    from asynchpo import fmin, fmin_sync, hp, rand

    kind, how, db = sys.argv[1], sys.argv[2], sys.argv[3]

    def leave():
        if how == "exit":
            sys.exit(3)
        raise KeyboardInterrupt

    def plain(params):
        if params["x"] > 0.7:
            leave()
        time.sleep(0.05)
        return params["x"]

    async def coroutine(params):
        if params["x"] > 0.7:
            leave()
        await anyio.sleep(0.05)
        return params["x"]

    objective = plain if kind == "plain" else coroutine
    options = dict(algo=rand.suggest, max_evals=40, concurrency=4, storage=db, seed=5)
    if len(sys.argv) > 4:
        options["catch_eval_exceptions"] = True
    fmin_sync(objective, {"x": hp.uniform("x", 0, 1)}, **options)
    print("finished")
    """
)


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=60
    )


def _states(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT state FROM trials ORDER BY tid")]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["plain", "coroutine"])
@pytest.mark.parametrize("how", ["exit", "interrupt"])
@pytest.mark.parametrize("catch", [False, True])
def test_an_objective_that_exits_ends_the_process_cleanly(
    tmp_path: Path, kind: str, how: str, catch: bool
) -> None:
    db = tmp_path / "runs.sqlite"
    done = _run(tmp_path, kind, how, str(db), *(["catch"] if catch else []))
    assert "finished" not in done.stdout
    if how == "exit":
        assert done.returncode == 3, done.stderr
    else:
        assert done.returncode in (130, -2), done.stderr  # killed by SIGINT, as Python does
        assert "KeyboardInterrupt" in done.stderr
    states = _states(db)
    assert "running" not in states
    assert "fail" in states  # the trial that exited
    assert states.count("ok") < 40
    # The study resumes: a second run (whose objective no longer exits) completes it.
    resume = subprocess.run(
        [
            sys.executable,
            "-c",
            "from asynchpo import fmin_sync, hp, rand; "
            f"fmin_sync(lambda p: p['x'], {{'x': hp.uniform('x', 0, 1)}}, algo=rand.suggest, "
            f"max_evals=40, concurrency=4, storage={str(db)!r}, seed=5)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resume.returncode == 0, resume.stderr
    after = _states(db)
    assert after.count("running") == 0
    assert sum(state in ("ok", "fail") for state in after) == 40
