"""``asynchpo dashboard`` as a user starts it: a real server process, real HTTP, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_tools import run_cli

import asynchpo
from asynchpo import hp

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dash") / "runs.sqlite"
    asynchpo.fmin_sync(
        lambda p: p["x"] ** 2,
        {"x": hp.uniform("x", -1, 1)},
        algo=asynchpo.rand.suggest,
        max_evals=5,
        storage=path,
        study="exp",
        show_progressbar=False,
    )
    return path


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "asynchpo", "dashboard", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def server(store: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = start(str(store), "--port", "0")
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert " at http://127.0.0.1:" in line, (line, process.stderr and process.stderr.read())
        yield process, line.split(" at ", 1)[1].split(" ", 1)[0]
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def fetch(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_it_serves_the_studies_and_stops_cleanly_on_ctrl_c(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    process, url = server
    body = fetch(url + "api/studies")
    assert isinstance(body, dict)
    assert [s["name"] for s in body["studies"]] == ["exp"]
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert out.strip() == "dashboard stopped"
    assert "Traceback" not in err


def test_sigterm_stops_it_too(server: tuple[subprocess.Popen[str], str]) -> None:
    process, url = server
    fetch(url + "api/studies")
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=20)
    assert process.returncode in (0, -signal.SIGTERM)


def test_another_host_than_loopback_is_served_with_a_warning(store: Path) -> None:
    process = start(str(store), "--host", "0.0.0.0", "--port", "0")
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        line = process.stdout.readline()
        assert " at http://0.0.0.0:" in line
        warning = process.stderr.readline()
        assert warning.startswith("warning: serving on 0.0.0.0")
        assert "no login" in warning
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)


def one_line(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("asynchpo: error: "), done.stderr
    for word in words:
        assert word in lines[0]


def test_bad_arguments_fail_with_one_line_before_listening(store: Path, tmp_path: Path) -> None:
    one_line(run_cli("dashboard", str(tmp_path / "missing.sqlite")), 2, "missing.sqlite")
    (tmp_path / "notes.txt").write_text("not a database")
    one_line(run_cli("dashboard", str(tmp_path / "notes.txt")), 2, "notes.txt")
    one_line(run_cli("dashboard", str(store), "--port", "70000"), 2, "70000", "0 to 65535")
    one_line(run_cli("dashboard", str(store), "--port", "http"), 2, "'http'")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        one_line(run_cli("dashboard", str(store), "--port", port), 2, port, "another --port")
    one_line(run_cli("dashboard", str(store), "--host", "no.such.host.invalid"), 2, "listen")
    assert not (tmp_path / "missing.sqlite").exists()


def test_the_command_is_listed_in_the_help() -> None:
    done = run_cli("--help")
    assert "dashboard" in done.stdout
    done = run_cli("dashboard", "--help")
    assert "--host" in done.stdout
    assert "127.0.0.1" in done.stdout
    assert os.environ.get("ASYNCHPO_NEVER_SET") is None


SEARCH = """
import sys
import asynchpo
from asynchpo import hp

asynchpo.fmin_sync(lambda p: p["x"] ** 2, {"x": hp.uniform("x", -1, 1)},
                   algo=asynchpo.rand.suggest, max_evals=int(sys.argv[2]), concurrency=4,
                   storage=sys.argv[1], study="s", show_progressbar=False)
"""


@pytest.mark.timeout(120)
def test_dashboards_killed_at_any_moment_never_disturb_a_search(tmp_path: Path) -> None:
    """Two dashboards poll a study while a search writes it; one is SIGKILLed at a sweep of
    moments (while starting, reading, answering) and started again. The search runs on
    throughout (it has a million trials to do) until Ctrl-C stops it cleanly: the file is
    intact and every trial it started is ok or recorded as interrupted."""
    path = tmp_path / "runs.sqlite"
    subprocess.run([sys.executable, "-c", SEARCH, str(path), "5"], check=True)
    search = subprocess.Popen([sys.executable, "-c", SEARCH, str(path), str(10**6)])
    steady = start(str(path), "--port", "0")
    try:
        assert steady.stdout is not None
        steady_url = steady.stdout.readline().split(" at ", 1)[1].split(" ", 1)[0]
        for moment in (None, 0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8):
            victim = start(str(path), "--port", "0")
            if moment is not None:  # None: killed while it starts
                assert victim.stdout is not None
                victim_url = victim.stdout.readline().split(" at ", 1)[1].split(" ", 1)[0]
                deadline = time.monotonic() + moment
                while True:  # both read the study, whole and by changes
                    for url in (steady_url, victim_url):
                        fetch(url + "api/study?name=s")
                        fetch(url + "api/changes?name=s&since=0")  # a reset
                    if time.monotonic() >= deadline:
                        break
            victim.kill()
            victim.communicate(timeout=20)
            assert search.poll() is None, "the search should still run"
        body = fetch(steady_url + "api/studies")
        assert isinstance(body, dict)
        written = body["studies"][0]["total"]
        search.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
        assert search.wait(timeout=60) != 0
    finally:
        for process in (search, steady):
            if process.poll() is None:
                process.kill()
            process.communicate()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        states = dict(conn.execute("SELECT state, count(*) FROM trials GROUP BY state"))
    assert set(states) <= {"ok", "interrupted"}
    assert states["ok"] + states.get("interrupted", 0) >= written > 5  # nothing lost


def test_without_the_extra_the_error_names_it(
    store: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from asynchpo._cli import main

    loaded = [m for m in sys.modules if m.split(".")[0] in ("starlette", "uvicorn")]
    for module in ["starlette", "uvicorn", *loaded]:
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    for name in [m for m in sys.modules if m.startswith("asynchpo._dashboard._app")]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["dashboard", str(store)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "asynchpo: error: the dashboard needs Starlette and Uvicorn: "
        "pip install 'asynchpo[dashboard]'"
    )
