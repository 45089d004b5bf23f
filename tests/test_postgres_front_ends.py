"""A PostgreSQL URL everywhere asynchpo takes a storage: ``fmin``, ``load_trials``,
``open_study``, ``list_studies``, every command of the command line and the dashboard, on a real
server (the ``pg_url`` and ``postgres_server`` fixtures of conftest.py). And the password of a
URL appears nowhere: not in output, errors, the dashboard's responses, nor in logs."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest
from conftest import PASSWORD, PgServer
from process_tools import run_cli

import asynchpo
from asynchpo import (
    PostgresStorage,
    StorageError,
    StudyNotFound,
    fmin,
    hp,
    is_postgres_url,
    list_studies,
    load_trials,
    mask_url,
    open_study,
    rand,
)
from asynchpo._fmin import _log_folder
from asynchpo._log_folder import default_log_folder, study_folder

pytestmark = pytest.mark.timeout(120)

FILES = Path(__file__).with_name("cli_files")
SPACE = {"x": hp.uniform("x", -2, 2), "k": hp.choice("k", ["a", "b"])}
UNREACHABLE = "postgresql://someone:unreachable-secret@127.0.0.1:1/db"


def loss(params: dict[str, Any]) -> float:
    return float(params["x"]) ** 2 + (0.5 if params["k"] == "b" else 0.0)


def cli_all(
    *commands: list[str], cwd: Path | None = None, timeout: float = 60
) -> list[subprocess.CompletedProcess[str]]:
    """:func:`cli` for several commands at once (they only read, or fail at once)."""
    started = [
        (
            args,
            subprocess.Popen(
                [sys.executable, "-m", "asynchpo", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=cwd,
            ),
        )
        for args in commands
    ]
    done = []
    for args, process in started:
        try:
            out, err = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        done.append(subprocess.CompletedProcess(args, process.returncode, out, err))
    return done


def run_args(storage: str, study: str, max_evals: int) -> list[str]:
    return [
        "run",
        "--space",
        str(FILES / "space.json"),
        "--storage",
        storage,
        "--study",
        study,
        "--max-evals",
        str(max_evals),
        "--concurrency",
        "2",
        "--seed",
        "7",
        "--",
        sys.executable,
        str(FILES / "train.py"),
        "--lr",
        "{lr}",
        "--layers",
        "{layers}",
    ]


def one_line_error(
    done: subprocess.CompletedProcess[str], code: int, *words: str, alone: bool = True
) -> str:
    """The error line that ends stderr (``alone``: the only line), checked."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines, done.stderr
    assert len(lines) == 1 or not alone, done.stderr
    lines = lines[-1:]
    assert lines[0].startswith("asynchpo: error: "), done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def password_url(server: PgServer, pg_url: str) -> str:
    """The test's database over TCP, with the password in the URL."""
    return server.password_url(dbname=server.dbname_of(pg_url))


async def search(storage: str | PostgresStorage, study: str, max_evals: int) -> None:
    await fmin(
        loss,
        SPACE,
        algo=rand.suggest,
        max_evals=max_evals,
        storage=storage,
        study=study,
        seed=3,
        show_progressbar=False,
    )


# --- the library ------------------------------------------------------------------------------


async def test_fmin_stores_in_postgres_and_the_readers_read_it_back(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    await search(pg_url, "exp", 6)
    await search(pg_url, "exp", 9)  # resumes
    await search(pg_url, "other", 2)

    trials = await load_trials(pg_url, "exp")
    assert sorted(trial.id for trial in trials.records) == list(range(9))
    assert all(trial.state is asynchpo.TrialState.OK for trial in trials.records)
    assert trials.best_trial["result"]["loss"] == min(t.loss for t in trials.records if t.loss)
    assert len(asynchpo.load_trials_sync(pg_url, "other")) == 2

    async with open_study(pg_url, "exp") as study:
        assert study.driver is None  # read-only
        assert [trial.id for trial in study.trials] == list(range(9))
        assert study.summary().counts["ok"] == 9
        # No file to sit beside: the working folder's asynchpo-logs/<study>/, absolute.
        assert study.log_folder == tmp_path / "asynchpo-logs" / "exp"
        assert study.log_folder.is_absolute()

    summaries = await list_studies(pg_url)
    assert [(s.name, s.total, s.counts["ok"]) for s in summaries] == [
        ("exp", 9, 9),
        ("other", 2, 2),
    ]
    # postgres:// is the same database.
    assert [s.name for s in await list_studies(pg_url.replace("postgresql", "postgres", 1))] == [
        "exp",
        "other",
    ]
    with pytest.raises(StudyNotFound, match="'nope'"):
        await load_trials(pg_url, "nope")


async def test_reading_an_empty_database_finds_nothing_and_creates_nothing(
    pg_url: str, postgres_server: PgServer
) -> None:
    assert await list_studies(pg_url) == []
    with pytest.raises(StudyNotFound):
        await load_trials(pg_url, "exp")
    with pytest.raises(StudyNotFound):
        async with open_study(pg_url, "exp"):
            pass  # pragma: no cover
    # Reading created no schema: the database is as empty as it was.
    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT to_regnamespace('asynchpo')") is None
    finally:
        await conn.close()
    async with open_study(pg_url, "created", space=SPACE):
        pass
    assert [s.name for s in await list_studies(pg_url)] == ["created"]
    assert await list_studies(pg_url + "&schema=elsewhere") == []
    with pytest.raises(StudyNotFound):
        await load_trials(pg_url + "&schema=elsewhere", "created")


def test_the_default_log_folder_has_one_rule_for_every_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    beside = tmp_path / "runs" / "x-logs" / "exp"
    assert default_log_folder("runs/x.sqlite", "exp") == beside
    assert default_log_folder(Path("runs/x.sqlite"), "exp") == beside
    assert default_log_folder("sqlite:///runs/x.sqlite", "exp") == beside
    assert default_log_folder(f"sqlite:///{tmp_path}/runs/x.sqlite", "exp") == beside
    in_cwd = tmp_path / "asynchpo-logs" / study_folder("a/b")
    assert default_log_folder("postgresql://u:p@h/db", "a/b") == in_cwd
    assert default_log_folder("POSTGRES://h/db", "a/b") == in_cwd
    for nowhere in (None, ":memory:", "sqlite:///:memory:", "sqlite://host/x.db"):
        assert default_log_folder(nowhere, "exp") is None
    # fmin's rule: log_dir first, then the storage, an opened one included.
    assert _log_folder("elsewhere", "postgresql://h/db", "exp") == tmp_path / "elsewhere"
    assert _log_folder(None, "postgresql://h/db", "exp") == tmp_path / "asynchpo-logs" / "exp"
    assert _log_folder(None, asynchpo.MemoryStorage(), "exp") is None


async def test_a_sqlite_url_reads_back_and_logs_beside_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    url = "sqlite:///runs/x.sqlite"
    await search(url, "exp", 3)
    assert (tmp_path / "runs" / "x.sqlite").is_file()
    assert not (tmp_path / "sqlite:").exists()
    assert len(await load_trials(url, "exp")) == 3
    assert [s.name for s in await list_studies(url)] == ["exp"]
    async with open_study(url, "exp") as study:
        assert study.log_folder == tmp_path / "runs" / "x-logs" / "exp"
    with pytest.raises(StudyNotFound, match="no storage file"):
        await load_trials("sqlite:///runs/missing.sqlite", "exp")
    assert not (tmp_path / "runs" / "missing.sqlite").exists()


async def test_fmin_with_a_postgres_storage_object_logs_in_the_working_folder(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = await PostgresStorage.open(pg_url)
    try:
        assert _log_folder(None, storage, "exp") == tmp_path / "asynchpo-logs" / "exp"
        await search(storage, "exp", 3)
        async with open_study(storage, "exp") as study:
            assert study.log_folder == tmp_path / "asynchpo-logs" / "exp"
    finally:
        await storage.aclose()
    assert len(await load_trials(pg_url, "exp")) == 3


# --- the command line -------------------------------------------------------------------------


def test_every_command_takes_a_url(pg_url: str, tmp_path: Path) -> None:
    done = run_cli(*run_args(pg_url, "exp", 4), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "study 'exp': 4 trials" in done.stdout
    # The trials' logs: ./asynchpo-logs/<study>/ of the run's working folder.
    assert sorted(p.name for p in (tmp_path / "asynchpo-logs" / "exp").iterdir()) == [
        f"trial-{i}.log" for i in range(4)
    ]
    done = run_cli(*run_args(pg_url.replace("postgresql", "postgres", 1), "exp", 6), cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # resumed, through the postgres:// alias
    assert "study 'exp': 6 trials" in done.stdout

    studies = run_cli("studies", pg_url, "--format", "json")
    assert studies.returncode == 0, studies.stderr
    [summary] = json.loads(studies.stdout)
    assert (summary["study"], summary["counts"]["ok"]) == ("exp", 6)
    table = run_cli("studies", pg_url)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[2].split()[:2] == ["exp", "6"]

    show = run_cli("show", pg_url, "exp", "--format", "json")
    assert show.returncode == 0, show.stderr
    assert json.loads(show.stdout)["counts"]["ok"] == 6

    trials = run_cli("trials", pg_url, "exp", "--format", "json")
    assert trials.returncode == 0, trials.stderr
    rows = json.loads(trials.stdout)
    assert [row["id"] for row in rows] == list(range(6))

    page = tmp_path / "report.html"
    plot = run_cli("plot", pg_url, "exp", "-o", str(page))
    assert plot.returncode == 0, plot.stderr
    assert "postgresql://postgres@/t" in page.read_text(encoding="utf-8")

    unknown = run_cli("show", pg_url, "nope")
    one_line_error(unknown, 2, "no study called 'nope'", "'exp'")
    empty_schema = run_cli("studies", pg_url + "&schema=elsewhere")
    assert empty_schema.returncode == 0, empty_schema.stderr
    assert empty_schema.stdout.startswith("no studies in postgresql://")


def test_the_dashboard_command_serves_a_database(pg_url: str, tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    asynchpo.fmin_sync(
        loss, SPACE, algo=rand.suggest, max_evals=3, storage=pg_url, study="exp", seed=1,
        show_progressbar=False,
    )  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "asynchpo", "dashboard", pg_url, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert f"dashboard of {pg_url} at http://127.0.0.1:" in line, (
            line,
            process.stderr and process.stderr.read(),
        )
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        with urllib.request.urlopen(url + "api/studies", timeout=10) as response:
            body = json.load(response)
        assert body["storage"] == pg_url
        assert [s["name"] for s in body["studies"]] == ["exp"]
        with urllib.request.urlopen(url + "api/study?name=exp", timeout=10) as response:
            assert [row[0] for row in json.load(response)["trials"]["rows"]] == [0, 1, 2]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
        assert "dashboard stopped" in out
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


# --- the dashboard's API ----------------------------------------------------------------------


@pytest.fixture
def dashboard_client(pg_url: str) -> Iterator[Any]:
    pytest.importorskip("starlette")
    pytest.importorskip("httpx2")
    from starlette.testclient import TestClient

    from asynchpo.dashboard import create_app

    asynchpo.fmin_sync(
        loss, SPACE, algo=rand.suggest, max_evals=5, storage=pg_url, study="exp", seed=1,
        show_progressbar=False,
    )  # fmt: skip
    with TestClient(create_app(pg_url)) as client:
        yield client


def test_the_dashboard_api_reads_a_database(dashboard_client: Any, pg_url: str) -> None:
    studies = dashboard_client.get("/api/studies").json()
    assert studies["storage"] == pg_url
    assert [(s["name"], s["total"]) for s in studies["studies"]] == [("exp", 5)]
    study = dashboard_client.get("/api/study", params={"name": "exp"}).json()
    assert study["storage"] == pg_url
    assert [row[0] for row in study["trials"]["rows"]] == [0, 1, 2, 3, 4]
    changes = dashboard_client.get("/api/changes", params={"name": "exp", "since": 0})
    assert changes.status_code == 200, changes.text
    trial = dashboard_client.get("/api/trial", params={"study": "exp", "id": 2})
    assert trial.status_code == 200, trial.text
    assert trial.json()["id"] == 2
    missing = dashboard_client.get("/api/study", params={"name": "nope"})
    assert missing.status_code == 404
    assert "nope" in missing.json()["error"]


# --- the password is never shown ------------------------------------------------------------


def test_the_public_mask_hides_every_password_form() -> None:
    urls = [
        "postgresql://u:p@h/db",
        "postgresql://u:p@ss/w?rd@h:5432/db?sslmode=require",
        "postgres://u@h/db?password=zz&sslmode=require",
        "postgresql://:only-pw@h/db",
        "postgresql://u@/db?host=/run/postgresql&port=5432",
        "runs.sqlite",
        "dir/with:colon@x.sqlite",
    ]
    for url in urls:
        assert mask_url(url).split("://")[0] == url.split("://")[0], url
        for secret in ("p@ss", "zz", "only-pw"):
            assert secret not in mask_url(url)
    assert is_postgres_url("POSTGRESQL://h/db")
    assert is_postgres_url("postgres://h/db")
    assert not is_postgres_url("sqlite:///x.db")
    assert not is_postgres_url("postgresql.sqlite")


async def test_the_password_is_in_no_log_of_a_run(
    pg_url: str, postgres_server: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = password_url(postgres_server, pg_url)
    caplog.set_level(logging.DEBUG)
    await search(url, "exp", 4)
    await search(url, "exp", 6)  # resumed: the "resuming" line
    assert len(await load_trials(url, "exp")) == 6
    with pytest.raises(StudyNotFound) as unknown:
        await load_trials(url, "nope")
    with pytest.raises(asynchpo.StudyMismatch) as mismatch:
        await fmin(loss, SPACE, algo=asynchpo.tpe.suggest, max_evals=7, storage=url, study="exp")
    messages = (r.getMessage() for r in caplog.records)
    said = "\n".join([caplog.text, *messages, str(unknown.value), str(mismatch.value)])
    assert caplog.records, "the run logged nothing at DEBUG"
    assert PASSWORD not in said
    assert "asynchpo_pw:***@" in str(unknown.value)
    assert "asynchpo_pw:***@" in str(mismatch.value)


def test_the_password_is_in_no_output_of_the_commands(
    pg_url: str, postgres_server: PgServer, tmp_path: Path
) -> None:
    url = password_url(postgres_server, pg_url)
    outputs: list[subprocess.CompletedProcess[str]] = []
    empty = run_cli("studies", url)
    outputs.append(empty)
    assert empty.stdout.strip() == f"no studies in {mask_url(url)}"
    run = run_cli(*run_args(url, "exp", 3), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    outputs.append(run)
    readers = cli_all(
        ["studies", url],
        ["studies", url, "--format", "json"],
        ["show", url, "exp"],
        ["show", url, "exp", "--format", "json"],
        ["trials", url, "exp"],
        ["trials", url, "exp", "--format", "csv"],
        ["plot", url, "exp", "-o", str(tmp_path / "report.html")],
    )
    for done in readers:
        assert done.returncode == 0, (done.args, done.stderr)
        assert "asynchpo_pw" not in done.stdout or "asynchpo_pw:***@" in done.stdout
    outputs += readers
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert PASSWORD not in page
    assert "asynchpo_pw:***@" in page
    # Errors: an unknown study, a malformed schema name, a study that failed every trial.
    outputs.append(run_cli("show", url, "nope"))
    one_line_error(outputs[-1], 2, "asynchpo_pw:***@", "no study called 'nope'")
    outputs.append(run_cli("trials", url + "?schema=Not-A-Name", "exp"))
    one_line_error(outputs[-1], 1, "asynchpo_pw:***@", "schema")
    failing = [*run_args(url, "broken", 2)[:-7], "--", sys.executable, "-c", "raise SystemExit(3)"]
    outputs.append(run_cli(*failing, cwd=tmp_path))
    # (each failed trial's warning comes first)
    one_line_error(outputs[-1], 1, "no trial", f"trials {mask_url(url)} broken", alone=False)
    for done in outputs:
        assert PASSWORD not in done.stdout + done.stderr, done.args


def test_the_password_is_in_no_response_of_the_dashboard(
    pg_url: str, postgres_server: PgServer
) -> None:
    pytest.importorskip("starlette")
    pytest.importorskip("httpx2")
    from starlette.testclient import TestClient

    from asynchpo.dashboard import create_app, report_html

    url = password_url(postgres_server, pg_url)
    asynchpo.fmin_sync(
        loss, SPACE, algo=rand.suggest, max_evals=4, storage=url, study="exp", seed=1,
        show_progressbar=False,
    )  # fmt: skip
    requests: list[tuple[str, dict[str, str | int]]] = [
        ("/", {}),
        ("/study", {"name": "exp"}),
        ("/api/studies", {}),
        ("/api/study", {"name": "exp"}),
        ("/api/changes", {"name": "exp", "since": 0}),
        ("/api/trial", {"study": "exp", "id": 1}),
        ("/api/study", {"name": "nope"}),
        ("/api/trial", {"study": "exp", "id": 99}),
    ]
    with TestClient(create_app(url)) as client:
        responses = [client.get(path, params=params) for path, params in requests]
    assert [r.status_code for r in responses] == [200] * 6 + [404, 404]
    assert responses[2].json()["storage"] == mask_url(url)
    assert "asynchpo_pw:***@" in responses[6].json()["error"]
    for response in responses:
        assert PASSWORD not in response.text, response.url

    async def report() -> str:
        async with open_study(url, "exp") as study:
            return report_html(study, storage=mask_url(url))

    assert PASSWORD not in anyio.run(report)


# --- a database that cannot be used: one line, exit code 1 -----------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["studies", "{url}"],
        ["show", "{url}", "exp"],
        ["trials", "{url}", "exp"],
        ["plot", "{url}", "exp", "-o", "{tmp}/x.html"],
        ["dashboard", "{url}", "--port", "0"],
        "run",
    ],
    ids=["studies", "show", "trials", "plot", "dashboard", "run"],
)
def test_a_wrong_password_or_an_unreachable_server_is_one_line(
    command: list[str] | str, pg_url: str, postgres_server: PgServer, tmp_path: Path
) -> None:
    wrong = postgres_server.with_password("wrong-secret-42", postgres_server.dbname_of(pg_url))
    cases = [
        (wrong, "refused the password", "wrong-secret-42"),
        (UNREACHABLE, "cannot reach PostgreSQL", "unreachable-secret"),
        ("postgresql://u:port-secret@127.0.0.1:notaport/db", "not a valid", "port-secret"),
    ]
    runs = cli_all(
        *(
            run_args(url, "exp", 2)
            if command == "run"
            else [part.format(url=url, tmp=tmp_path) for part in command]
            for url, _, _ in cases
        ),
        cwd=tmp_path,
    )
    for (url, words, secret), done in zip(cases, runs, strict=True):
        line = one_line_error(done, 1, words, mask_url(url))
        assert secret not in done.stdout + done.stderr, line
        assert PASSWORD not in done.stdout + done.stderr, line


def test_another_database_url_is_refused_without_its_password() -> None:
    done = run_cli("studies", "mysql://u:mysql-secret@h/db")
    line = one_line_error(done, 2, "postgresql://user:password@host:5432/database")
    assert "mysql-secret" not in done.stderr, line


async def test_the_library_errors_name_the_url_masked(postgres_server: PgServer) -> None:
    wrong = postgres_server.with_password("wrong-secret-42")
    for url, secret in [(wrong, "wrong-secret-42"), (UNREACHABLE, "unreachable-secret")]:
        for read in (list_studies(url), load_trials(url, "exp")):
            with pytest.raises(StorageError) as caught:
                await read
            message = str(caught.value)
            assert secret not in message
            assert PASSWORD not in message
            assert mask_url(url) in message
            assert "\n" not in message
