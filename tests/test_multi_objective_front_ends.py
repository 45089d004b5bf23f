"""Several objectives (and constraints, and a maximised objective) at the front ends: the
command line (``run --directions``, ``show``, ``trials``, ``studies``, through real
subprocesses), a ``Command`` whose program prints ``[a, b]``, the dashboard's JSON, the HTML
report, the matplotlib report, and the Pareto charts drawn in a real Chromium."""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from browser import CHARTS_JS, Watched, artifacts, browser, watched
from process_tools import run_cli

import asynchpo
from asynchpo import Command, hp

__all__ = ["artifacts", "browser", "watched"]  # fixtures, used by name

pytestmark = pytest.mark.timeout(120)

SPACE_JSON = {"x": ["uniform", 0, 1], "y": ["uniform", 0, 1]}
SPACE = {"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1)}

# A program of two objectives: a bare JSON list on its last line (a list printed before it
# is not the result), with a number line before, which is not either.
LIST_PROGRAM = """\
import sys
x, y = float(sys.argv[1]), float(sys.argv[2])
print(0.5)
print([x, (1 - x) ** 2 + y])
"""

# Two objectives and a constraint, as a JSON object.
CONSTRAINED_PROGRAM = """\
import json, sys
x, y = float(sys.argv[1]), float(sys.argv[2])
print(json.dumps({"loss": [x, x + y], "constraints": [y - 0.6], "note": "hi"}))
"""


def cli(*args: str, timeout: float = 60) -> Any:
    return run_cli(*args, timeout=timeout)


def _program(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _space(tmp_path: Path) -> Path:
    path = tmp_path / "space.json"
    path.write_text(json.dumps(SPACE_JSON), encoding="utf-8")
    return path


async def _read(
    storage: Path, study: str
) -> tuple[tuple[str, ...], list[asynchpo.Trial], list[int]]:
    async with asynchpo.open_study(storage, study) as opened:
        return opened.directions, opened.trials, [t.id for t in opened.best_trials]


def read(storage: Path, study: str) -> tuple[tuple[str, ...], list[asynchpo.Trial], list[int]]:
    """The stored study's directions, trials and the ids of its best trials (its front)."""
    read_back: tuple[tuple[str, ...], list[asynchpo.Trial], list[int]]
    read_back = _in_thread(_read, storage, study)
    return read_back


def _in_thread(function: Any, *args: Any) -> Any:
    """``anyio.run`` in a thread of its own: playwright's sync API holds this thread's loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, function, *args).result()


def _run(tmp_path: Path, storage: Path, study: str, program: Path, *flags: str) -> Any:
    return cli(
        "run",
        "--space",
        str(_space(tmp_path)),
        "--storage",
        str(storage),
        "--study",
        study,
        "--seed",
        "3",
        *flags,
        "--",
        sys.executable,
        str(program),
        "{x}",
        "{y}",
    )


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file with three studies run by ``asynchpo run``: two objectives from a bare list,
    two objectives with a constraint, and one maximised objective."""
    tmp_path = tmp_path_factory.mktemp("cli")
    storage = tmp_path / "runs.sqlite"
    listed = _program(tmp_path, "listed.py", LIST_PROGRAM)
    done = _run(
        tmp_path,
        storage,
        "two",
        listed,
        "--max-evals",
        "15",
        "--directions",
        "minimize",
        "minimize",
    )
    assert done.returncode == 0, done.stderr
    constrained = _program(tmp_path, "constrained.py", CONSTRAINED_PROGRAM)
    done = _run(
        tmp_path,
        storage,
        "constrained",
        constrained,
        "--max-evals",
        "20",
        "--directions",
        "minimize",
        "maximize",
    )
    assert done.returncode == 0, done.stderr
    single = _program(tmp_path, "single.py", "import sys\nprint(float(sys.argv[1]))\n")
    done = _run(tmp_path, storage, "up", single, "--max-evals", "12", "--direction", "MAXIMIZE")
    assert done.returncode == 0, done.stderr
    return storage


# ---------------------------------------------------------------- the command line


def test_run_ends_with_the_front(tmp_path: Path) -> None:
    storage = tmp_path / "runs.sqlite"
    program = _program(tmp_path, "listed.py", LIST_PROGRAM)
    done = _run(
        tmp_path, storage, "s", program, "--max-evals", "10", "--directions", "minimize", "minimize"
    )
    assert done.returncode == 0, done.stderr
    directions, trials, front = read(storage, "s")
    assert directions == ("minimize", "minimize")
    assert [t.state.value for t in trials] == ["ok"] * 10
    # the bare list on the last line is the result, the number before it is not
    for t in trials:
        x, y = t.params["x"], t.params["y"]
        assert t.values == pytest.approx((x, (1 - x) ** 2 + y))
    lines = done.stdout.strip().splitlines()
    assert lines[0] == f"study 's': 10 trials, Pareto front of {len(front)} trials"
    shown = [json.loads(line) for line in lines[1:]]
    assert [line["trial"] for line in shown] == front
    assert all(set(line) == {"trial", "loss", "params"} for line in shown)
    # resuming needs no --directions: the study's are used
    again = _run(tmp_path, storage, "s", program, "--max-evals", "12")
    assert again.returncode == 0, again.stderr
    assert len(read(storage, "s")[1]) == 12
    # other directions than the study's: one line, exit code 2
    other = _run(tmp_path, storage, "s", program, "--max-evals", "13", "--direction", "maximize")
    assert other.returncode == 2
    assert len(other.stderr.strip().splitlines()) == 1
    assert "directions" in other.stderr


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--directions", "minimize", "sideways"], "expected minimize or maximize, got 'sideways'"),
        (["--direction", "up"], "expected minimize or maximize, got 'up'"),
        (["--directions"], "expected at least one argument"),
        (["--direction", "maximize", "--directions", "minimize", "maximize"], "not both"),
        (["--directions", "minimize", "minimize", "--loss-threshold", "0.1"], "single objective"),
    ],
)
def test_bad_directions_are_one_line_usage_errors(
    tmp_path: Path, flags: list[str], says: str
) -> None:
    program = _program(tmp_path, "listed.py", LIST_PROGRAM)
    done = _run(tmp_path, tmp_path / "runs.sqlite", "s", program, "--max-evals", "2", *flags)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert says in done.stderr
    assert done.stdout == ""


def test_show_lists_the_front(cli_store: Path) -> None:
    directions, trials, front = read(cli_store, "constrained")
    by_id = {t.id: t for t in trials}
    assert directions == ("minimize", "maximize")
    assert front
    assert all(by_id[i].feasible for i in front)
    done = cli("show", str(cli_store), "constrained")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "objectives:    2: objective 1 (minimize), objective 2 (maximize)" in text
    feasible = sum(1 for t in trials if t.ok and t.feasible)
    assert (
        f"feasible:      {feasible} of {len(trials)} ok trials ({len(trials) - feasible} not)"
        in text
    )
    assert len(front) > 1
    assert f"Pareto front:  {len(front)} trials (feasible trials)" in text
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("id  "))
    assert lines[at].split() == [
        "id",
        "objective",
        "1",
        "(minimize)",
        "objective",
        "2",
        "(maximize)",
        "c[0]",
        "x",
        "y",
    ]
    rows = lines[at + 2 : at + 2 + len(front)]
    assert [int(row.split()[0]) for row in rows] == front
    assert "best:" not in text
    shown = json.loads(cli("show", str(cli_store), "constrained", "--format", "json").stdout)
    assert shown["directions"] == ["minimize", "maximize"]
    assert [entry["id"] for entry in shown["front"]] == front
    first = shown["front"][0]
    assert first["loss"] == list(by_id[first["id"]].values or ())
    assert first["constraints"] == list(by_id[first["id"]].constraints)
    assert first["metrics"]["note"] == "hi"
    assert shown["best"] is None
    assert (shown["feasible"], shown["infeasible"]) == (feasible, len(trials) - feasible)


def test_show_and_studies_of_a_maximised_objective(cli_store: Path) -> None:
    directions, trials, front = read(cli_store, "up")
    assert directions == ("maximize",)
    highest = max(trials, key=lambda t: t.loss or 0.0)
    assert front == [highest.id]
    text = cli("show", str(cli_store), "up").stdout
    assert "direction:     maximize" in text
    assert f"best:          trial {highest.id}, loss {highest.loss:.6g}" in text
    summaries = json.loads(cli("studies", str(cli_store), "--format", "json").stdout)
    up = next(s for s in summaries if s["study"] == "up")
    assert (up["best_trial"], up["best_loss"]) == (highest.id, highest.loss)
    assert up["directions"] == ["maximize"]
    assert "front" not in up


def test_studies_show_the_size_of_the_front(cli_store: Path) -> None:
    fronts = {name: len(read(cli_store, name)[2]) for name in ("two", "constrained")}
    table = cli("studies", str(cli_store)).stdout
    for name, size in fronts.items():
        row = next(line for line in table.splitlines() if line.startswith(name + " "))
        assert f"front of {size}" in row
    summaries = json.loads(cli("studies", str(cli_store), "--format", "json").stdout)
    by_name = {s["study"]: s for s in summaries}
    for name, size in fronts.items():
        assert by_name[name]["front"] == size
        assert by_name[name]["best_trial"] is None
        assert by_name[name]["best_loss"] is None


def test_trials_have_a_column_per_objective_and_constraint(cli_store: Path) -> None:
    _, trials, _ = read(cli_store, "constrained")
    rows = json.loads(cli("trials", str(cli_store), "constrained", "--format", "json").stdout)
    assert list(rows[0])[:5] == ["id", "state", "loss[0]", "loss[1]", "c[0]"]
    assert list(rows[0])[5] == "feasible"
    assert "loss" not in rows[0]
    for row, trial in zip(rows, trials, strict=True):
        assert [row["loss[0]"], row["loss[1]"]] == list(trial.values or ())
        assert row["c[0]"] == trial.constraints[0]
        assert row["feasible"] is trial.feasible
    text = cli("trials", str(cli_store), "constrained", "--format", "csv").stdout
    read_back = list(csv.DictReader(io.StringIO(text)))
    assert [r["feasible"] for r in read_back] == ["yes" if t.feasible else "no" for t in trials]
    table = cli("trials", str(cli_store), "constrained").stdout.splitlines()
    assert table[0].split()[:6] == ["id", "state", "loss[0]", "loss[1]", "c[0]", "feasible"]
    # two objectives, no constraints: no constraint column; one objective: loss as before
    two = json.loads(cli("trials", str(cli_store), "two", "--format", "json").stdout)
    assert list(two[0])[:4] == ["id", "state", "loss[0]", "loss[1]"]
    assert "feasible" not in two[0]
    up = json.loads(cli("trials", str(cli_store), "up", "--format", "json").stdout)
    assert list(up[0])[:3] == ["id", "state", "loss"]


def test_the_report_html_carries_directions_and_front(cli_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = cli("plot", str(cli_store), "constrained", "-o", str(out))
    assert done.returncode == 0, done.stderr
    data = _embedded(out.read_text(encoding="utf-8"))["study"]
    _, trials, front = read(cli_store, "constrained")
    assert data["directions"] == ["minimize", "maximize"]
    assert data["front"] == front
    assert data["summary"]["front"] == len(front)
    rows = data["trials"]["rows"]
    by_id = {t.id: t for t in trials}
    for row in rows:
        assert row[2] is None  # no single loss
        assert row[9] == list(by_id[row[0]].values or ())
        assert row[10] == list(by_id[row[0]].constraints)


def test_the_png_report_draws_several_objectives_and_maximised_ones(
    cli_store: Path, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    for study in ("two", "constrained"):
        done = cli("plot", str(cli_store), study, "-o", str(tmp_path / f"{study}.png"))
        assert done.returncode == 0, done.stderr
        assert (tmp_path / f"{study}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _embedded(page: str) -> dict[str, Any]:
    text = page.split('id="asynchpo-data">', 1)[1].split("</script>", 1)[0]
    data: dict[str, Any] = json.loads(text)
    return data


# ---------------------------------------------------------------- Command, plot_trials


def test_a_command_printing_a_list_is_several_objectives(tmp_path: Path) -> None:
    script = _program(
        tmp_path,
        "p.py",
        "import json, os, sys\n"
        "x = float(sys.argv[1])\n"
        "print([x, 1 - x])\n"
        "if x > 0.5:\n"
        "    open(os.environ['ASYNCHPO_RESULT_FILE'], 'w').write(json.dumps([x, 2 - x]))\n",
    )
    objective = Command([sys.executable, str(script), "{x}"])
    storage = tmp_path / "runs.sqlite"
    points = asynchpo.fmin_sync(
        objective,
        {"x": hp.uniform("x", 0, 1)},
        max_evals=8,
        storage=storage,
        study="c",
        directions=["minimize", "minimize"],
        seed=1,
        show_progressbar=False,
    )
    _, trials, front = read(storage, "c")
    assert len(points) == len(front)
    for trial in trials:
        x = trial.params["x"]
        # the result file comes first
        assert trial.values == pytest.approx((x, 2 - x) if x > 0.5 else (x, 1 - x))


def test_a_single_objective_command_treats_a_printed_list_as_output(tmp_path: Path) -> None:
    # One objective: the loss line counts, a list printed after it (a history, say) is output.
    script = _program(
        tmp_path,
        "one.py",
        "import sys\nx = float(sys.argv[1])\nprint(x)\nprint([x, 2 * x])\n",
    )
    trials = asynchpo.Trials()
    asynchpo.fmin_sync(
        Command([sys.executable, str(script), "{x}"]),
        {"x": hp.uniform("x", 0, 1)},
        max_evals=3,
        trials=trials,
        seed=2,
        show_progressbar=False,
    )
    assert all(t.state is asynchpo.TrialState.OK for t in trials.records)
    assert [t.loss for t in trials.records] == [t.params["x"] for t in trials.records]


def test_plot_trials_draws_the_front_of_two_and_three(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from asynchpo._plot import plot_trials

    for count in (2, 3):
        storage = tmp_path / f"p{count}.sqlite"
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(_study, storage, "s", count, 25).result()
        _, trials, _ = read(storage, "s")
        path = plot_trials(trials, ["x", "y"], tmp_path / f"p{count}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = plot_trials(
            trials, ["x", "y"], tmp_path / f"p{count}.svg", directions=["maximize"] * count
        )
        assert "Pareto front" in svg.read_text(encoding="utf-8")


# ---------------------------------------------------------------- the dashboard


def _objective(count: int) -> Any:
    def evaluate(params: dict[str, float]) -> dict[str, Any]:
        x, y = params["x"], params["y"]
        values = [x, x + y, (x - 0.5) ** 2 + y * y][:count]
        return {"loss": values, "constraints": [y - 0.7]}

    return evaluate


def _study(storage: Path, name: str, count: int, evals: int, **kwargs: Any) -> None:
    directions = ["minimize", "maximize", "minimize"][:count]
    asynchpo.fmin_sync(
        _objective(count),
        SPACE,
        max_evals=evals,
        storage=storage,
        study=name,
        directions=directions,
        seed=7,
        show_progressbar=False,
        **kwargs,
    )


def _dashboard_studies(storage: Path) -> None:
    _study(storage, "two", 2, 40)
    _study(storage, "three", 3, 40)
    for name, direction in (("single", None), ("up", "maximize")):
        asynchpo.fmin_sync(
            lambda p: p["x"] + p["y"],
            SPACE,
            max_evals=30,
            storage=storage,
            study=name,
            seed=7,
            show_progressbar=False,
            direction=direction,
        )


@pytest.fixture(scope="module")
def mo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Studies of two and three objectives (with a constraint), one minimised objective and
    one maximised one."""
    storage = tmp_path_factory.mktemp("dash") / "runs.sqlite"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # playwright may hold this loop
        pool.submit(_dashboard_studies, storage).result()
    return storage


@pytest.fixture
def client(mo_store: Path) -> Iterator[Any]:
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from asynchpo.dashboard import create_app

    with TestClient(create_app(mo_store)) as test_client:
        yield test_client


def test_the_dashboard_api_carries_directions_values_and_front(client: Any, mo_store: Path) -> None:
    studies = client.get("/api/studies").json()["studies"]
    by_name = {s["name"]: s for s in studies}
    for name, count in (("two", 2), ("three", 3)):
        directions, trials, front = read(mo_store, name)
        assert by_name[name]["directions"] == list(directions)
        assert by_name[name]["front"] == len(front)
        assert by_name[name]["best_trial"] is None
        study = client.get("/api/study", params={"name": name}).json()
        assert study["directions"] == ["minimize", "maximize", "minimize"][:count]
        assert study["front"] == front
        assert study["summary"]["front"] == len(front)
        rows = {row[0]: row for row in study["trials"]["rows"]}
        for trial in trials:
            assert rows[trial.id][9] == list(trial.values or ())
            assert rows[trial.id][10] == list(trial.constraints)
        one = client.get("/api/trial", params={"study": name, "id": front[0]}).json()
        assert one["values"] == list(next(t for t in trials if t.id == front[0]).values or ())
        changes = client.get("/api/changes", params={"name": name, "since": study["cursor"]}).json()
        assert changes["front"] == front
    single = client.get("/api/study", params={"name": "single"}).json()
    assert single["directions"] == ["minimize"]
    assert single["front"] == []
    assert all(len(row) == 9 for row in single["trials"]["rows"])
    up = by_name["up"]
    _, trials, _ = read(mo_store, "up")
    assert up["best_loss"] == max(t.loss or 0.0 for t in trials)
    assert up["directions"] == ["maximize"]


# ---------------------------------------------------------------- in Chromium


def _open_report(seen: Watched, storage: Path, name: str, tmp_path: Path) -> Any:
    from asynchpo.dashboard import report_html

    async def page_of() -> str:
        async with asynchpo.open_study(storage, name) as study:
            return report_html(study, storage=str(storage))

    path = tmp_path / f"{name}.html"
    path.write_text(_in_thread(page_of), encoding="utf-8")
    page = seen.page
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    return page


_FRONT_JS = """() => Array.from(document.querySelectorAll('.chart')).map((el) => ({
  name: el.dataset.chart, front: el.dataset.front ?? null, ids: el.dataset.frontIds ?? null,
  infeasible: el.dataset.infeasible ?? null}))"""


@pytest.mark.parametrize("name", ["two", "three"])
def test_the_pareto_chart_draws_the_front(
    watched: Watched, mo_store: Path, tmp_path: Path, artifacts: Path, name: str
) -> None:
    directions, trials, front = read(mo_store, name)
    count = len(directions)
    page = _open_report(watched, mo_store, name, tmp_path)
    page.screenshot(path=str(artifacts / f"pareto-{name}.png"), full_page=True)
    charts = {c["name"]: c for c in page.evaluate(CHARTS_JS)}
    marks = {c["name"]: c for c in page.evaluate(_FRONT_JS)}
    pairs = (
        ["pareto"]
        if count == 2
        else [f"pareto-{a}-{b}" for a in range(count) for b in range(a + 1, count)]
    )
    history = [f"history-objective-{j}" for j in range(count)]
    assert set(charts) == {*pairs, *history, "parallel", "curves", "param-0", "param-1"}
    ok = [t for t in trials if t.ok]
    infeasible = [t for t in ok if not t.feasible and t.id not in front]
    assert front
    assert infeasible
    ids = "|".join(str(i) for i in front)
    for pair in pairs:
        chart = charts[pair]
        assert chart["inked"] > 1000, chart
        assert chart["points"] == len(ok)  # every successful trial, the front on top
        assert marks[pair]["front"] == str(len(front))
        assert marks[pair]["ids"] == ids
        assert marks[pair]["infeasible"] == str(len(infeasible))
        assert chart["x"]
        assert chart["y"]
    for chart in history:
        assert charts[chart]["inked"] > 500
        assert marks[chart]["front"] == str(len(front))
    assert charts["parallel"]["axes"] == "x|y|" + "|".join(
        f"objective {j + 1}" for j in range(count)
    )
    assert marks["parallel"]["front"] == str(len(front))
    # the loss-against-parameter panel gives way to the front
    assert page.is_hidden("[data-chart=param-0]")
    # the table: a column per objective, the constraint, feasible; front rows highlighted
    headers = page.eval_on_selector_all("#trials th", "(th) => th.map((h) => h.dataset.col)")
    assert headers[:2] == ["id", "state"]
    assert headers[2 : 2 + count] == [f"o:{j}" for j in range(count)]
    assert headers[2 + count : 4 + count] == ["c:0", "feasible"]
    highlighted = page.eval_on_selector_all(
        "#trials tbody tr.front", "(rows) => rows.map((r) => Number(r.dataset.id))"
    )
    assert highlighted == [i for i in front if i < 50]
    facts = page.text_content(".facts") or ""
    assert f"Pareto front{len(front)} trials" in facts
    assert page.is_hidden("#error")
    assert watched.problems() == []
    page.locator("#pareto").screenshot(path=str(artifacts / f"pareto-{name}-chart.png"))


def test_a_single_objective_page_is_unchanged(
    watched: Watched, mo_store: Path, tmp_path: Path, artifacts: Path
) -> None:
    _, trials, front = read(mo_store, "single")
    page = _open_report(watched, mo_store, "single", tmp_path)
    charts = {c["name"]: c for c in page.evaluate(CHARTS_JS)}
    assert set(charts) == {
        "history-number",
        "history-time",
        "param-0",
        "param-1",
        "parallel",
        "curves",
    }
    assert page.query_selector("#pareto") is None
    assert charts["history-number"]["points"] == len(trials)
    headers = page.eval_on_selector_all("#trials th", "(th) => th.map((h) => h.dataset.col)")
    assert headers[:4] == ["id", "state", "loss", "duration"]
    best = page.eval_on_selector_all(
        "#trials tbody tr.best", "(r) => r.map((x) => Number(x.dataset.id))"
    )
    assert best == front == [min(trials, key=lambda t: (t.loss, t.id)).id]
    assert "objectives" not in (page.text_content(".facts") or "")
    assert watched.problems() == []


def test_a_maximised_objective_follows_the_highest(
    watched: Watched, mo_store: Path, tmp_path: Path, artifacts: Path
) -> None:
    _, trials, front = read(mo_store, "up")
    highest = max(trials, key=lambda t: (t.loss or 0.0, -t.id))
    assert front == [highest.id]
    page = _open_report(watched, mo_store, "up", tmp_path)
    page.screenshot(path=str(artifacts / "maximize.png"), full_page=True)
    best = page.eval_on_selector_all(
        "#trials tbody tr.best", "(r) => r.map((x) => Number(x.dataset.id))"
    )
    assert best == [highest.id]
    facts = page.text_content(".facts") or ""
    assert "maximize" in facts
    # the best-so-far lines end at the highest loss
    for chart in ("history-number", "history-time"):
        end = page.get_attribute(f"[data-chart={chart}]", "data-best-so-far")
        assert end is not None
        assert float(end) == pytest.approx(highest.loss)
    assert watched.problems() == []
