"""The dashboard's HTTP side through Starlette's test client: the JSON API (full and incremental
reads, bad ids, traversal attempts), the headers, refusals of writes, and that the file is only
read."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import asynchpo
from asynchpo import STATUS_OK, hp

pytest.importorskip("starlette")
pytest.importorskip("httpx2")
from starlette.testclient import TestClient

from asynchpo._dashboard._app import CSP
from asynchpo._dashboard._live import REFRESH_S
from asynchpo.dashboard import create_app

pytestmark = pytest.mark.timeout(60)

HOSTILE = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
SPACE = {
    "lr": hp.loguniform("lr", -7, 0),
    "layers": hp.choice("layers", [1, 2, IMG]),
    "width": hp.quniform("width", 8, 64, 8),
}


def objective(params: dict[str, Any]) -> dict[str, Any]:
    if params["width"] == 8:
        raise ValueError("width 8 is refused")
    return {"loss": params["lr"], "status": STATUS_OK, "accuracy": 1 - params["lr"], IMG: IMG}


def run(path: Path, study: str, max_evals: int) -> None:
    asynchpo.fmin_sync(
        objective,
        SPACE,
        algo=asynchpo.rand.suggest,
        max_evals=max_evals,
        storage=path,
        study=study,
        seed=1,
        catch_eval_exceptions=True,
        show_progressbar=False,
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "runs.sqlite"
    run(path, "exp", 12)
    run(path, HOSTILE, 3)
    return path


@pytest.fixture
def client(store: Path) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as test_client:
        yield test_client


def get(client: TestClient, url: str, params: dict[str, Any] | None = None) -> Any:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def as_columns(trials: dict[str, Any]) -> dict[str, Any]:
    """The payload's rows as one list per field (the page does the same)."""
    rows = trials["rows"]
    fields = ["id", "state", "loss", "started", "finished", "values", "metrics", "error"]
    columns: dict[str, Any] = {key: [row[i] for row in rows] for i, key in enumerate(fields)}
    columns["reports"] = [row[8] for row in rows]
    columns["params"] = {
        label: [row[5][i] for row in rows] for i, label in enumerate(trials["labels"])
    }
    keys = {key for metrics in columns["metrics"] if metrics for key in metrics}
    columns["metrics"] = {
        key: [(metrics or {}).get(key) for metrics in columns["metrics"]] for key in keys
    }
    return columns


def wait_past_refresh() -> None:
    time.sleep(REFRESH_S * 1.5)  # the next request reads the file again


def test_the_studies_list_every_study_with_counts_and_best(client: TestClient) -> None:
    body = get(client, "/api/studies")
    assert [study["name"] for study in body["studies"]] == ["exp", HOSTILE]
    exp = body["studies"][0]
    assert exp["total"] == 12
    assert exp["counts"]["ok"] + exp["counts"]["fail"] == 12
    assert exp["best_trial"] is not None
    assert exp["best_loss"] > 0
    assert exp["drivers"] == []
    assert exp["stale"] == 0
    assert exp["live"] == 0


def test_the_study_payload_is_one_column_per_field(client: TestClient) -> None:
    body = get(client, "/api/study", {"name": "exp"})
    assert all(len(row) == 9 for row in body["trials"]["rows"])
    assert body["trials"]["t0"] == body["created"]
    columns = as_columns(body["trials"])
    assert columns["id"] == list(range(12))
    assert all(0 <= t <= 60 for t in columns["started"])  # seconds after the study's creation
    for key in ("state", "loss", "started", "finished", "error", "reports"):
        assert len(columns[key]) == 12, key
    assert set(columns["params"]) == {"lr", "layers", "width"}
    assert all(value in (0, 1, 2) for value in columns["params"]["layers"])
    params = {param["label"]: param for param in body["params"]}
    assert params["lr"]["log"] is True
    assert params["width"]["log"] is False
    assert params["layers"]["options"] == ["1", "2", IMG]  # text, for the page to show as text
    assert columns["metrics"]["accuracy"][0] is None or columns["metrics"]["accuracy"][0] >= 0
    assert IMG in columns["metrics"]
    failed = [i for i, state in enumerate(columns["state"]) if state == "fail"]
    assert failed, "width 8 fails"
    assert all(columns["error"][i] == "ValueError: width 8 is refused" for i in failed)
    assert body["summary"]["total"] == 12
    assert isinstance(body["cursor"], int)


def test_changes_send_only_the_new_trials(client: TestClient, store: Path) -> None:
    cursor = get(client, "/api/study", {"name": "exp"})["cursor"]
    nothing = get(client, "/api/changes", {"name": "exp", "since": cursor})
    assert nothing["trials"]["rows"] == []
    assert nothing["cursor"] == cursor
    run(store, "exp", 17)  # five more trials, written by another connection
    wait_past_refresh()
    changes = get(client, "/api/changes", {"name": "exp", "since": cursor})
    assert [row[0] for row in changes["trials"]["rows"]] == [12, 13, 14, 15, 16]
    assert changes["summary"]["total"] == 17
    assert changes["cursor"] > cursor
    later = get(client, "/api/changes", {"name": "exp", "since": changes["cursor"]})
    assert later["trials"]["rows"] == []


def test_a_cursor_from_another_server_asks_for_everything_again(client: TestClient) -> None:
    cursor = get(client, "/api/study", {"name": "exp"})["cursor"]
    for other in (cursor + 10**6, cursor - 10**6, 0, -1):
        assert get(client, "/api/changes", {"name": "exp", "since": other}) == {"reset": True}


def test_a_trial_page_has_every_value_and_the_whole_result(client: TestClient) -> None:
    columns = as_columns(get(client, "/api/study", {"name": "exp"})["trials"])
    ok = columns["state"].index("ok")
    body = get(client, "/api/trial", {"study": "exp", "id": ok})
    assert body["id"] == ok
    assert body["state"] == "ok"
    assert body["params"]["layers"] in (1, 2, IMG)  # the option's value, not its index
    assert body["point"]["layers"] in (0, 1, 2)
    assert body["result"][IMG] == IMG
    assert body["result"]["status"] == "ok"
    assert body["log"] is None
    assert "trial-" in body["log_note"]
    failed = columns["state"].index("fail")
    error = get(client, "/api/trial", {"study": "exp", "id": failed})["error"]
    assert error.startswith("Traceback")
    assert "width 8 is refused" in error


@pytest.mark.parametrize(
    ("url", "params", "status", "words"),
    [
        ("/api/study", {"name": "nope"}, 404, "no study called 'nope'"),
        ("/api/study", {}, 400, "?name="),
        ("/api/trial", {"study": "exp", "id": 999}, 404, "has no trial 999"),
        ("/api/trial", {"study": "exp", "id": -1}, 404, "has no trial -1"),
        ("/api/trial", {"study": "exp", "id": "../../etc/passwd"}, 400, "whole number"),
        ("/api/trial", {"study": "exp", "id": "1e3"}, 400, "whole number"),
        ("/api/trial", {"study": "exp", "id": str(10**30)}, 400, "out of range"),
        ("/api/changes", {"name": "exp", "since": "x"}, 400, "since must be a whole number"),
        ("/api/trial", {"study": "../exp", "id": 1}, 404, "no study called '../exp'"),
    ],
)
def test_bad_requests_get_one_line_that_says_what_is_wrong(
    client: TestClient, url: str, params: dict[str, Any], status: int, words: str
) -> None:
    response = client.get(url, params=params)
    assert response.status_code == status
    message = response.json()["error"]
    assert words in message
    assert "\n" not in message
    assert response.headers["content-security-policy"] == CSP


@pytest.mark.parametrize(
    "path",
    [
        "/static/../_model.py",
        "/static/%2e%2e/_model.py",
        "/static/..%2f_app.py",
        "/static/page.html/..",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/static/_model.py",
        "/../../etc/passwd",
        "/api/../../etc/passwd",
    ],
)
def test_traversal_attempts_find_nothing(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "import" not in response.text
    assert "root:" not in response.text


def test_every_response_has_the_security_headers_and_no_method_writes(client: TestClient) -> None:
    for url in ("/", "/study?name=exp", "/static/dashboard.js", "/api/studies", "/nowhere"):
        headers = client.get(url).headers
        assert headers["content-security-policy"] == CSP
        assert headers["x-content-type-options"] == "nosniff"
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = client.request(method, "/api/study", params={"name": "exp"})
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"


def test_the_pages_load_only_the_package_scripts(client: TestClient) -> None:
    page = client.get("/study", params={"name": HOSTILE}).text
    assert page.count("<script") == page.count("<script src=") == 2
    assert HOSTILE not in page  # the page gets the name from the URL, as text
    assert "script-src 'self'" in CSP
    assert "unsafe-inline" not in CSP


def test_the_study_is_compressed_for_a_browser(client: TestClient) -> None:
    response = client.get("/api/study", params={"name": "exp"}, headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    rows = response.json()["trials"]["rows"]  # httpx decompresses
    assert [row[0] for row in rows] == list(range(12))


def test_the_log_tail_comes_from_the_log_folder_only(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    run(path, "exp", 4)
    folder = tmp_path / "runs-logs" / "exp"
    folder.mkdir(parents=True)
    lines = [f"line {i} {'x' * 60}" for i in range(2000)]
    (folder / "trial-0.log").write_text("\n".join(lines) + "\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:secret\n")
    (folder / "trial-1.log").symlink_to(secret)
    os.mkfifo(folder / "trial-2.log")
    with TestClient(create_app(path)) as client:
        log = get(client, "/api/trial", {"study": "exp", "id": 0})["log"]
        assert log["truncated"] is True
        assert log["size"] > 64 * 1024
        assert log["tail"].startswith("line ")
        assert log["tail"].endswith(f"{lines[-1]}\n")
        assert len(log["tail"].encode()) <= 64 * 1024
        assert log["path"] == str((folder / "trial-0.log").resolve())
        linked = get(client, "/api/trial", {"study": "exp", "id": 1})
        assert linked["log"] is None
        assert "leads out of the log folder" in linked["log_note"]
        assert "root:secret" not in json.dumps(linked)
        fifo = get(client, "/api/trial", {"study": "exp", "id": 2})
        assert fifo["log"] is None
        assert "not a regular file" in fifo["log_note"]


def test_a_log_dir_given_to_the_run_is_read_when_the_dashboard_is_told(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    run(path, "exp", 2)
    logs = tmp_path / "elsewhere"
    logs.mkdir()
    (logs / "trial-1.log").write_text("hello from trial 1\n")
    with TestClient(create_app(path, log_dir=logs)) as client:
        log = get(client, "/api/trial", {"study": "exp", "id": 1})["log"]
        assert log["tail"] == "hello from trial 1\n"


def test_the_file_is_only_read(store: Path) -> None:
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    siblings = sorted(path.name for path in store.parent.iterdir())
    with TestClient(create_app(store)) as client:
        get(client, "/api/studies")
        get(client, "/api/study", {"name": "exp"})
        get(client, "/api/trial", {"study": "exp", "id": 0})
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before
    assert sorted(path.name for path in store.parent.iterdir()) == siblings


def test_a_study_created_after_the_server_started_appears(client: TestClient, store: Path) -> None:
    get(client, "/api/studies")
    run(store, "late", 2)
    wait_past_refresh()
    names = [study["name"] for study in get(client, "/api/studies")["studies"]]
    assert names == ["exp", HOSTILE, "late"]


def test_the_dashboard_is_a_client_of_the_public_api() -> None:
    from test_cli import private_uses

    package = Path(asynchpo.__file__).parent
    modules = [*sorted((package / "_dashboard").glob("*.py")), package / "dashboard.py"]
    assert [path.name for path in modules] == [
        "__init__.py",
        "_app.py",
        "_live.py",
        "_logs.py",
        "_model.py",
        "_report.py",
        "dashboard.py",
    ]
    private = {path.name: private_uses(path, "asynchpo._dashboard") for path in modules}
    assert private == {path.name: [] for path in modules}


def test_a_damaged_study_is_listed_with_what_is_wrong(store: Path) -> None:
    import sqlite3

    with sqlite3.connect(store) as conn:
        conn.execute("DROP TRIGGER trials_finished_are_final")
        conn.execute(
            "UPDATE trials SET params = '[1, 2]' WHERE tid = 3 AND study_id = "
            "(SELECT id FROM studies WHERE name = 'exp')"
        )
    with TestClient(create_app(store)) as client:
        studies = get(client, "/api/studies")["studies"]
        damaged = next(study for study in studies if study["name"] == "exp")
        assert "the storage is damaged" in damaged["error"]
        assert "trial 3" in damaged["error"]
        assert next(study for study in studies if study["name"] == HOSTILE)["total"] == 3
        response = client.get("/api/study", params={"name": "exp"})
        assert response.status_code == 500
        assert "the storage is damaged" in response.json()["error"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(max_size=300),
    since=st.text(max_size=40) | st.integers(-(2**70), 2**70).map(str),
    trial=st.text(max_size=40) | st.integers(-(2**70), 2**70).map(str),
)
def test_any_query_gets_an_answer_or_a_one_line_error(
    client: TestClient, name: str, since: str, trial: str
) -> None:
    for url, params in (
        ("/api/study", {"name": name}),
        ("/api/changes", {"name": name, "since": since}),
        ("/api/changes", {"name": "exp", "since": since}),
        ("/api/trial", {"study": "exp", "id": trial}),
        ("/api/trial", {"study": name, "id": "1"}),
    ):
        response = client.get(url, params=params)
        assert response.status_code in (200, 400, 404), (url, params, response.text)
        body = response.json()
        if response.status_code != 200:
            assert "\n" not in body["error"]
