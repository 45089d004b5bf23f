"""The live dashboard in a real browser: a real ``asynchpo dashboard`` process serving real
SQLite files, Chromium through Playwright. The studies page, every chart of a real study,
trials of a search that runs meanwhile appearing within 2 s, a trial's page with its log tail,
and hostile strings everywhere rendering as text."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from browser import CHARTS_JS, Watched, artifacts, browser, watched

import asynchpo
from asynchpo import STATUS_OK, Command, TrialContext, hp

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

__all__ = ["artifacts", "browser", "watched"]  # fixtures, used by name

T = TypeVar("T")
HOSTILE = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
SPACE = {
    "lr": hp.loguniform("lr", -7, 0),
    "layers": hp.choice("layers", ["one", "two", IMG]),
    "width": hp.quniform("width", 8, 64, 8),
}
OK_COUNT_JS = """() => {
  const el = document.querySelector('.counts .state.ok');
  return el ? Number(el.textContent.split(' ')[1]) : 0;
}"""


async def reporting(params: dict[str, Any], trial: TrialContext) -> dict[str, Any]:
    if params["width"] == 8:
        raise ValueError(f"width 8 diverged {IMG}")
    for step in range(4):
        await trial.report(step, params["lr"] + 1 / (step + 1))
    return {"loss": params["lr"], "status": STATUS_OK, IMG: HOSTILE, "accuracy": 1 - params["lr"]}


def in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(...)`` in another thread: Playwright's sync API runs an event loop in this
    one, and ``fmin_sync`` refuses to run inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args, **kwargs).result()


def make_store(path: Path) -> None:
    for name in ("exp", HOSTILE):
        asynchpo.fmin_sync(
            reporting,
            SPACE,
            algo=asynchpo.rand.suggest,
            max_evals=30,
            storage=path,
            study=name,
            seed=3,
            catch_eval_exceptions=True,
            show_progressbar=False,
        )


@contextmanager
def serving(path: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "asynchpo", "dashboard", str(path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert " at http://" in line, (line, process.communicate(timeout=10)[1])
        yield line.split(" at ", 1)[1].split(" ", 1)[0]
    finally:
        process.terminate()
        process.communicate(timeout=20)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("live") / "runs.sqlite"
    in_thread(make_store, path)
    return path


@pytest.fixture(scope="module")
def url(store: Path) -> Iterator[str]:
    with serving(store) as base:
        yield base


def ready(page: Any) -> None:
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)


def no_script_ran(seen: Watched) -> None:
    assert seen.dialogs == []
    assert seen.page.eval_on_selector_all("img", "(imgs) => imgs.length") == 0
    assert seen.problems() == []


@pytest.mark.timeout(60)
def test_the_studies_page_lists_every_study(watched: Watched, url: str, artifacts: Path) -> None:
    page = watched.page
    page.goto(url)
    ready(page)
    page.screenshot(path=str(artifacts / "live-studies.png"), full_page=True)
    names = page.eval_on_selector_all(
        "#studies tbody tr", "(rows) => rows.map((r) => r.dataset.study)"
    )
    assert names == ["exp", HOSTILE]
    assert HOSTILE in page.inner_text("#studies")  # as text
    no_script_ran(watched)
    page.click(f"#studies tbody tr[data-study='{HOSTILE}'] a")  # to the hostile study's page
    ready(page)
    assert page.text_content("h1") == HOSTILE
    no_script_ran(watched)


@pytest.mark.timeout(60)
def test_the_study_page_draws_every_chart(watched: Watched, url: str, artifacts: Path) -> None:
    page = watched.page
    page.goto(f"{url}study?name=exp")
    ready(page)
    page.screenshot(path=str(artifacts / "live-study.png"), full_page=True)
    charts = {chart["name"]: chart for chart in page.evaluate(CHARTS_JS)}
    names = ["history-number", "history-time", "param-0", "param-1", "param-2", "parallel"]
    assert set(charts) == {*names, "curves"}
    for chart in charts.values():
        assert chart["inked"] > 1000, chart
        assert chart["points"] > 0, chart
    # the choice's options, as text (a long one shortened on the axis)
    assert charts["param-1"]["x"].startswith("one|two|<img src=x onerro")
    assert charts["parallel"]["axes"] == "lr|layers|width|loss"
    assert charts["curves"]["points"] > 0  # every ok trial reported 4 times
    table = page.inner_text("#trials")
    assert IMG in table  # a choice value and a metric key, as text
    assert "ValueError: width 8 diverged" in table
    no_script_ran(watched)


@pytest.mark.timeout(90)
def test_trials_of_a_running_search_appear_within_2_s(
    watched: Watched, tmp_path: Path, artifacts: Path
) -> None:
    path = tmp_path / "search.sqlite"
    script = textwrap.dedent(
        f"""
        import time
        import asynchpo
        from asynchpo import hp

        def slow(params):
            time.sleep(0.3)
            return params["x"] ** 2

        asynchpo.fmin_sync(slow, {{"x": hp.uniform("x", -1, 1)}}, max_evals=60,
                           concurrency=2, storage={str(path)!r}, study="s",
                           show_progressbar=False)
        """
    )
    search = subprocess.Popen([sys.executable, "-c", script])
    try:
        while not path.exists() or finished(path) < 1:
            assert search.poll() is None, "the search ended early"
            time.sleep(0.05)
        with serving(path) as base:
            page = watched.page
            page.goto(f"{base}study?name=s")
            ready(page)
            lags = []
            for _ in range(6):
                count = finished(path)
                seen_at = time.monotonic()
                page.wait_for_function(f"(n) => ({OK_COUNT_JS})() >= n", arg=count, timeout=2_000)
                lags.append(time.monotonic() - seen_at)
                while finished(path) == count and search.poll() is None:
                    time.sleep(0.02)  # the next trial to finish
            page.screenshot(path=str(artifacts / "live-search.png"), full_page=True)
            assert max(lags) < 2
            assert watched.problems() == []
    finally:
        search.kill()
        search.wait()


def finished(path: Path) -> int:
    """How many trials the search has finished, read as any reader would."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM trials WHERE state = 'ok'").fetchone()
    except sqlite3.OperationalError:
        return 0  # the file is being created
    return int(row[0])


TRAIN = """
import json, os, sys
params = json.loads(os.environ["ASYNCHPO_PARAMS"])
for line in range(300):
    print(f"epoch {line}: training <b>bold</b> {params['x']:.3f}")
if params["x"] > 0.8:
    print("diverged", file=sys.stderr)
    sys.exit(3)
print(json.dumps({"loss": params["x"] ** 2}))
"""


@pytest.mark.timeout(90)
def test_a_trial_page_shows_values_result_error_and_log_tail(
    watched: Watched, tmp_path: Path, artifacts: Path
) -> None:
    path = tmp_path / "cmd.sqlite"
    program = tmp_path / "train.py"
    program.write_text(TRAIN)
    in_thread(
        asynchpo.fmin_sync,
        Command([sys.executable, str(program)]),
        {"x": hp.uniform("x", 0, 1), "opt": hp.choice("opt", ["sgd", IMG])},
        algo=asynchpo.rand.suggest,
        max_evals=12,
        storage=path,
        study="cmd",
        seed=5,
        catch_eval_exceptions=True,
        show_progressbar=False,
    )
    trials = in_thread(asynchpo.load_trials_sync, path, "cmd").records
    ok = next(trial for trial in trials if trial.state.value == "ok")
    failed = next(trial for trial in trials if trial.state.value == "fail")
    with serving(path) as base:
        page = watched.page
        page.goto(f"{base}trial?study=cmd&id={ok.id}")
        ready(page)
        page.screenshot(path=str(artifacts / "live-trial.png"), full_page=True)
        log = page.text_content("#trial-log") or ""
        assert "epoch 299: training <b>bold</b>" in log  # the tail, as text
        assert "epoch 0:" not in log or len(log) < 64 * 1024
        text = page.inner_text("main")
        assert str(ok.result["log"]) in text  # the whole result, its log path too
        assert IMG in text or "sgd" in text
        page.goto(f"{base}trial?study=cmd&id={failed.id}")
        ready(page)
        error = page.text_content("#trial-error") or ""
        assert "exit status 3" in error or "exited with" in error or "3" in error
        assert "diverged" in (page.text_content("#trial-log") or "")
        no_script_ran(watched)


async def edge_studies(path: Path) -> None:
    """Studies with little or odd data to draw: none, only failures, one option, huge losses."""
    async with asynchpo.open_study(path, "empty", space={"x": hp.uniform("x", 0, 1)}):
        pass

    def crash(params: dict[str, Any]) -> float:
        raise ValueError("nope")

    with contextlib.suppress(asynchpo.AllTrialsFailed):
        await asynchpo.fmin(
            crash,
            {"x": hp.uniform("x", 0, 1), "c": hp.choice("c", [1, 2])},
            algo=asynchpo.rand.suggest,
            max_evals=4,
            storage=path,
            study="failed",
            catch_eval_exceptions=True,
        )
    await asynchpo.fmin(
        lambda p: 1.0,
        {"c": hp.choice("c", ["only"]), "y": hp.quniform("y", 1, 2, 5)},
        algo=asynchpo.rand.suggest,
        max_evals=3,
        storage=path,
        study="flat",
    )
    await asynchpo.fmin(
        lambda p: {"loss": p["x"] * 1e300, "status": "ok", "m": math.nan, "n": math.inf},
        {"x": hp.loguniform("x", -700, 0)},
        algo=asynchpo.rand.suggest,
        max_evals=6,
        storage=path,
        study="extreme",
        seed=1,
    )


async def report_of(path: Path, name: str) -> str:
    async with asynchpo.open_study(path, name) as study:
        return asynchpo.dashboard.report_html(study)


@pytest.mark.timeout(90)
def test_studies_with_little_to_draw_render_without_errors(
    watched: Watched, tmp_path: Path, artifacts: Path
) -> None:
    path = tmp_path / "edge.sqlite"
    in_thread(asyncio.run, edge_studies(path))
    page = watched.page
    with serving(path) as base:
        for name in ("empty", "failed", "flat", "extreme"):
            for how in ("live", "report"):
                if how == "live":
                    page.goto(f"{base}study?name={name}")
                else:  # the file a user opens
                    report = tmp_path / f"{name}.html"
                    report.write_text(in_thread(asyncio.run, report_of(path, name)))
                    page.goto(report.as_uri())
                ready(page)
                page.screenshot(path=str(artifacts / f"edge-{name}-{how}.png"), full_page=True)
                text = page.text_content("main") or ""
                assert "null" not in text, (name, how)
                assert "undefined" not in text, (name, how)
                assert "NaN" not in text.replace("nan", ""), (name, how)
                assert page.is_hidden("#error"), (name, how)
                if name == "extreme":  # losses up to 1e300 still get a labelled loss axis
                    charts = {c["name"]: c for c in page.evaluate(CHARTS_JS)}
                    assert charts["history-number"]["y"], how
    assert watched.problems() == []
