"""The command line, end to end: real ``python -m asynchpo`` processes on a real SQLite file."""

from __future__ import annotations

import ast
import csv
import functools
import io
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from process_tools import run_cli

import asynchpo
import asynchpo._cli
from asynchpo import AllTrialsFailed, TrialContext, fmin, hp, open_study, pruners, rand

FILES = Path(__file__).with_name("cli_files")
TRAIN = str(FILES / "train.py")
JSON_SPACE = str(FILES / "space.json")
PY_SPACE = f"{FILES / 'space.py'}:space"
PROGRAM = ["--", sys.executable, TRAIN, "--lr", "{lr}", "--layers", "{layers}"]


def cli(*args: str, timeout: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=timeout, env=env)


def start(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "asynchpo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def run_args(storage: Path, study: str, max_evals: int, space: str = JSON_SPACE) -> list[str]:
    return [
        "run",
        "--space",
        space,
        "--storage",
        str(storage),
        "--study",
        study,
        "--max-evals",
        str(max_evals),
        "--concurrency",
        "3",
        "--seed",
        "7",
    ]


def trials_json(storage: Path, study: str) -> list[dict[str, Any]]:
    done = cli("trials", str(storage), study, "--format", "json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def wait_for(path: Path, pattern: str, count: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while len(list(path.glob(pattern))) < count:
        assert time.monotonic() < deadline, f"no {pattern} in {path} after {seconds} s"
        time.sleep(0.05)


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("asynchpo: error: ")
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A storage with study 'json' (5 trials, then resumed to 8) and 'py' (4 trials)."""
    path = tmp_path_factory.mktemp("cli") / "runs.sqlite"
    first = cli(*run_args(path, "json", 5), *PROGRAM)
    assert first.returncode == 0, first.stderr
    assert "best is trial" in first.stdout
    best = json.loads(first.stdout.strip().splitlines()[-1])
    assert best["batch"] == 64
    assert best["layers"] in (1, 2, 3)
    assert best["opt"]["name"] in ("sgd", "adam")
    assert len(trials_json(path, "json")) == 5

    resumed = cli(*run_args(path, "json", 8), *PROGRAM)
    assert resumed.returncode == 0, resumed.stderr
    assert "8 trials" in resumed.stdout

    py = cli(*run_args(path, "py", 4, PY_SPACE), *PROGRAM)
    assert py.returncode == 0, py.stderr
    assert set(json.loads(py.stdout.strip().splitlines()[-1])) == {"lr", "layers"}
    return path


def test_run_and_resume_grow_the_study(store: Path) -> None:
    rows = trials_json(store, "json")
    assert [row["id"] for row in rows] == list(range(8))
    assert {row["state"] for row in rows} == {"ok"}
    assert len(trials_json(store, "py")) == 4


def test_studies_lists_every_study(store: Path) -> None:
    done = cli("studies", str(store))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["study", "trials", "queued"]
    by_name = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(by_name) == {"json", "py"}
    assert by_name["json"][1] == "8"
    assert by_name["py"][1] == "4"


def test_show_summarizes_the_study_with_values(store: Path) -> None:
    done = cli("show", str(store), "json")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "study:         json" in out
    assert "8 ok" in out
    rows = trials_json(store, "json")
    best = min(rows, key=lambda row: row["loss"])
    assert f"best:          trial {best['id']}," in out
    assert f"  layers = {best['layers']}" in out  # a scalar choice shows its value
    assert "  opt = option " in out  # an object option shows its index and what it is
    assert "running now:   none" in out


def test_trials_formats_agree(store: Path) -> None:
    rows = trials_json(store, "json")
    assert list(rows[0]) == [
        "id",
        "state",
        "loss",
        "started",
        "finished",
        "duration",
        "reports",
        "last_step",
        "lr",
        "layers",
        "opt",
        "momentum",
        "log",
        "error",
    ]
    for row in rows:
        assert row["layers"] in (1, 2, 3)
        assert row["duration"] > 0
        assert (row["reports"], row["last_step"]) == ([], None)  # train.py reports nothing
        # inactive: empty; a choice shows its option (an object option as an object)
        assert (row["momentum"] is None) == (row["opt"] == {"name": "adam"})

    done = cli("trials", str(store), "json", "--format", "csv")
    assert done.returncode == 0, done.stderr
    parsed = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(parsed) == len(rows)
    for line, row in zip(parsed, rows, strict=True):
        assert int(line["id"]) == row["id"]
        assert float(line["loss"]) == row["loss"]
        assert float(line["lr"]) == row["lr"]
        assert line["momentum"] == ("" if row["momentum"] is None else repr(row["momentum"]))
        assert line["error"] == ""
        assert (line["reports"], line["last_step"]) == ("0", "")

    table = cli("trials", str(store), "json")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == list(rows[0])
    assert len(table.stdout.splitlines()) == 2 + len(rows)


def test_error_cases_are_one_line(store: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite"
    assert_one_line_error(cli("studies", str(missing)), 2, "missing.sqlite")
    assert_one_line_error(cli("show", str(missing), "x"), 2, "missing.sqlite")
    assert not missing.exists()  # looking never creates a file

    assert_one_line_error(cli("show", str(store), "nope"), 2, "nope")
    assert_one_line_error(cli("trials", str(store), "nope"), 2, "nope")

    bad_py = f"{FILES / 'bad_space.py'}:space"
    done = cli(*run_args(tmp_path / "r.sqlite", "s", 2, bad_py), *PROGRAM)
    assert_one_line_error(done, 2, "broken on purpose")
    done = cli(*run_args(tmp_path / "r.sqlite", "s", 2, str(FILES / "bad_space.json")), *PROGRAM)
    assert_one_line_error(done, 2, "not valid JSON")
    done = cli(*run_args(tmp_path / "r.sqlite", "s", 2, f"{FILES / 'space.py'}:nothing"), *PROGRAM)
    assert_one_line_error(done, 2, "nothing")
    assert_one_line_error(cli("run", "--storage", "x.sqlite"), 2, "--space")
    assert_one_line_error(cli(*run_args(tmp_path / "r.sqlite", "s", 2)), 2, "--")
    assert_one_line_error(cli("trials", str(store), "json", "--format", "xml"), 2, "xml")
    no_lease = [*run_args(tmp_path / "r.sqlite", "s", 2), "--lease-seconds", "0", *PROGRAM]
    assert_one_line_error(cli(*no_lease), 2, "--lease-seconds", "> 0")


def private_uses(path: Path, own: str = asynchpo._cli.__name__) -> list[str]:
    """What a module of a front end (the command line, the dashboard) uses of asynchpo that is
    not public: imports of ``asynchpo._x`` (the front end's own package ``own`` aside),
    relative imports, names from ``asynchpo`` outside ``__all__``, ``x._attr`` attributes
    (``self._attr`` aside: a class's own), and ``"asynchpo._x"`` strings (importlib)."""
    private: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute):
            mine = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if node.attr.startswith("_") and not node.attr.startswith("__") and not mine:
                private.append(f"<attribute {node.attr}>")  # e.g. study._ledger
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.match(r"asynchpo\._", node.value) and not node.value.startswith(own):
                private.append(f"<string {node.value}>")
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            names = [f"{module}.{alias.name}" for alias in node.names]
            if module == "asynchpo":
                private += [f"asynchpo.{alias.name}" for alias in node.names]
                private = [
                    n for n in private if n.removeprefix("asynchpo.") not in asynchpo.__all__
                ]
                continue
        else:
            continue
        for name in names:
            parts = name.split(".")
            if name.startswith(".") or (
                parts[0] == "asynchpo"
                and any(part.startswith("_") for part in parts)
                and not (name == own or name.startswith(f"{own}."))
            ):
                private.append(name)
    return private


def test_the_command_line_is_a_client_of_the_public_api() -> None:
    package = Path(asynchpo._cli.__file__).parent
    modules = sorted(path.name for path in package.glob("*.py"))
    # Split by job: space files, what is printed, the parser and the subcommands.
    assert modules == ["__init__.py", "_commands.py", "_render.py", "_spaces.py"]
    private = {name: private_uses(package / name) for name in modules}
    assert private == {name: [] for name in modules}


def test_the_private_use_check_catches_each_kind(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import asynchpo._results\n"
        "from asynchpo._summary import metrics\n"
        "from asynchpo import Trial, _trials\n"
        "from . import x\n"
        "import importlib\n"
        "importlib.import_module('asynchpo._plot')\n"
        "study._ledger\n"
        "self._mine\n"
        "from asynchpo._cli._render import table\n",
        encoding="utf-8",
    )
    assert sorted(private_uses(module)) == sorted(
        [
            "asynchpo._results",
            "asynchpo._summary.metrics",
            "asynchpo._trials",
            "..x",
            "<string asynchpo._plot>",
            "<attribute _ledger>",
        ]
    )


def test_what_a_person_reads_of_a_trial_has_one_home() -> None:
    # A choice's option values, a trial's point with them, and its metrics are defined once
    # (Trial.metrics, Trial.shown_params, option_values behind Space.options and
    # Study.options): the CLI, Trials.to_dataframe and the report keep no copies.
    package = Path(asynchpo.__file__).parent
    suspects = {"metrics", "shown_params", "option_values", "_metrics", "_choices_of"}
    found = sorted(
        f"{path.relative_to(package).as_posix()}:{node.name}"
        for path in package.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and node.name in suspects
    )
    assert found == [
        "_space/_describe.py:option_values",
        "_trial.py:metrics",
        "_trial.py:shown_params",
    ]


async def test_the_public_pieces_the_command_line_reads_trials_with(tmp_path: Path) -> None:
    space = {
        "layers": hp.choice("layers", [1, 2, 3]),
        "opt": hp.choice("opt", [{"name": "sgd", "m": hp.uniform("m", 0, 1)}, "adam"]),
    }
    options: dict[str, list[object]] = {
        "layers": [1, 2, 3],
        "opt": [{"name": "sgd", "m": {"param": "m"}}, "adam"],
    }
    assert asynchpo.compile_space(space).options == options

    def objective(params: dict[str, Any]) -> dict[str, Any]:
        return {"loss": params["layers"], "status": "ok", "accuracy": 0.9, "note": (1, math.inf)}

    store = tmp_path / "s.sqlite"
    await fmin(objective, space, algo=rand.suggest, max_evals=3, storage=store, study="s", seed=1)
    async with open_study(store, "s") as study:
        assert study.options == options
        for trial in study.trials:
            assert trial.metrics == {"accuracy": 0.9, "note": [1, "inf"]}
            shown = trial.shown_params(study.options)
            assert shown["layers"] == options["layers"][int(trial.params["layers"])]
            assert shown["opt"] == options["opt"][int(trial.params["opt"])]
            assert trial.params["layers"] in (0, 1, 2)  # the record keeps hyperopt's indices
    pruned = asynchpo.Trial(
        0,
        asynchpo.TrialState.PRUNED,
        {"layers": 7},
        result={"loss": 1.0, "status": "ok", "step": 3, "error": "e", "attachments": {}, "f1": 1},
    )
    assert pruned.metrics == {"f1": 1}  # the step it stopped at is its last report's
    assert pruned.shown_params(options) == {"layers": 7}  # no such option: as stored
    assert asynchpo.json_safe({"a": (1, math.nan), 2: None}) == {"a": [1, "nan"], "2": None}


def test_failed_run_exits_1(tmp_path: Path) -> None:
    program = ["--", sys.executable, TRAIN, "--lr", "{lr}", "--layers", "oops"]
    done = cli(*run_args(tmp_path / "r.sqlite", "s", 2), *program)
    # Each failed trial is reported as it happens; the last line says why the run failed.
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("asynchpo: error: no trial of study 's' succeeded"), last
    assert "invalid int value" in done.stderr


def test_show_while_running_then_sigint_then_resume(tmp_path: Path) -> None:
    storage = tmp_path / "runs.sqlite"
    marks = tmp_path / "marks"
    marks.mkdir()
    slow = [*PROGRAM, "--sleep", "30"]
    process = start(*run_args(storage, "slow", 6), *slow, CLI_TEST_MARKS=str(marks))
    try:
        wait_for(marks, "started-*", 3)
        # Another process reads while the run writes: it succeeds and sees the running trials.
        shown = cli("show", str(storage), "slow")
        assert shown.returncode == 0, shown.stderr
        host = socket.gethostname()
        assert f"running now:   3 (driver {process.pid} on host {host}, seen " in shown.stdout
        running = shown.stdout.split("running now:", 1)[1].splitlines()[3:]
        assert sorted(int(line.split()[0]) for line in running) == [0, 1, 2]
        assert cli("studies", str(storage)).returncode == 0

        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert len(err.strip().splitlines()) == 1, err
    assert "interrupted" in err
    assert "Traceback" not in err
    states = {row["state"] for row in trials_json(storage, "slow")}
    assert states == {"interrupted"}

    # The same study resumes (fast trials now): interrupted trials run again.
    resumed = cli(*run_args(storage, "slow", 4), *PROGRAM)
    assert resumed.returncode == 0, resumed.stderr
    rows = trials_json(storage, "slow")
    assert [row["state"] for row in rows].count("ok") == 4
    assert {row["id"] for row in rows} >= {0, 1, 2}


def test_plot_writes_a_png_and_a_self_contained_html(store: Path, tmp_path: Path) -> None:
    image = pytest.importorskip("matplotlib.image")
    png = tmp_path / "report.png"
    done = cli("plot", str(store), "json", "-o", str(png))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {png}"
    width = image.imread(png).shape[1]
    assert width == 1500  # three panels a row, 500 px each
    page = tmp_path / "report.html"
    assert cli("plot", str(store), "json", "-o", str(page)).returncode == 0
    text = page.read_text()
    data = text.split('id="asynchpo-data">', 1)[1].split("</script>", 1)[0]
    study = json.loads(data)["study"]
    assert [row[0] for row in study["trials"]["rows"]] == list(range(8))
    assert study["name"] == "json"
    assert study["storage"] == str(store.absolute())
    bad = cli("plot", str(store), "json", "-o", str(tmp_path / "report.jpg"))
    assert_one_line_error(bad, 2, ".png, .svg, .pdf or .html")


# --- pruned trials and learning curves ------------------------------------------------------


async def curve(params: dict[str, Any], trial: TrialContext) -> float:
    """27 epochs of a learning curve whose level depends on lr: bad values are bad early."""
    loss = math.inf
    for epoch in range(1, 28):
        loss = abs(math.log10(params["lr"]) + 2) + 1.0 / epoch
        await trial.report(epoch, loss)
    return loss


@pytest.fixture(scope="module")
def pruned_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study 'asha' of 30 trials that a successive-halving pruner cut short, mostly."""
    path = tmp_path_factory.mktemp("pruned") / "runs.sqlite"
    space = {"lr": hp.loguniform("lr", -12, 0)}
    pruner = pruners.SuccessiveHalvingPruner(max_resource=27)

    async def search() -> None:
        await fmin(
            curve,
            space,
            algo=rand.suggest,
            max_evals=30,
            concurrency=3,
            storage=path,
            study="asha",
            pruner=pruner,
            seed=1,
        )

    anyio.run(search)
    return path


def test_show_trials_and_plot_of_a_pruned_study(pruned_store: Path, tmp_path: Path) -> None:
    rows = trials_json(pruned_store, "asha")
    states = [row["state"] for row in rows]
    pruned, ok = states.count("pruned"), states.count("ok")
    assert pruned > 0
    assert ok > 0
    assert pruned + ok == 30
    for row in rows:
        assert row["reports"], row  # every trial reported at least once
        assert [step for step, _ in row["reports"]] == list(range(1, row["last_step"] + 1))
        assert row["loss"] == row["reports"][-1][1]  # a pruned trial's loss is its last one
        if row["state"] == "ok":
            assert row["last_step"] == 27
        else:
            assert row["last_step"] < 27
            assert f"pruned at step {row['last_step']} by SuccessiveHalvingPruner" in row["error"]

    shown = cli("show", str(pruned_store), "asha")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert f"trials:        30 ({ok} ok, {pruned} pruned)" in lines
    assert f"ok ran to:     step 27 ({ok} trials)" in lines
    # "pruned at:     step 1 (17 trials), step 3 (7), step 9 (1)": the rungs of the pruner.
    stopped = next(line for line in lines if line.startswith("pruned at:     step "))
    at = {int(step): int(count) for step, count in re.findall(r"step (\d+) \((\d+)", stopped)}
    last_steps = [row["last_step"] for row in rows if row["state"] == "pruned"]
    assert at == {step: last_steps.count(step) for step in set(last_steps)}
    best = min((row for row in rows if row["state"] == "ok"), key=lambda row: row["loss"])
    assert f"best:          trial {best['id']}, loss {best['loss']:.6g}" in lines

    png = tmp_path / "curves.png"
    done = cli("plot", str(pruned_store), "asha", "--curves", "-o", str(png))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {png}"
    assert png.read_bytes().startswith(b"\x89PNG")
    assert png.stat().st_size > 1000


def test_run_prunes_a_program_that_prints_its_progress(tmp_path: Path) -> None:
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"x": ["uniform", -5, 5]}))
    db = tmp_path / "runs.sqlite"
    curve = str(Path(__file__).with_name("pruning_curve.py"))
    args = ["run", "--space", str(space), "--storage", str(db), "--study", "p"]
    done = cli(
        *args, "--max-evals", "12", "--concurrency", "3", "--algo", "rand", "--seed", "3",
        "--pruner", "asha", "--max-resource", "27",
        "--", sys.executable, curve, "{x}", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = trials_json(db, "p")
    states = [row["state"] for row in rows]
    assert len(rows) == 12
    assert "pruned" in states
    assert "ok" in states
    for row in rows:
        expected = 27 if row["state"] == "ok" else None
        assert row["last_step"] == expected or (expected is None and row["last_step"] < 27)
    wrong = cli(*args, "--max-evals", "1", "--reduction-factor", "2", "--", "true")
    assert wrong.returncode == 2
    assert "only apply to --pruner asha" in wrong.stderr


def test_trials_shows_the_exception_line_of_a_traceback(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"

    def objective(params: dict[str, float]) -> float:
        raise ValueError(f"bad x {params['x']:.1f}")

    with pytest.raises(AllTrialsFailed):
        anyio.run(
            functools.partial(
                fmin, objective, {"x": hp.uniform("x", 0, 1)}, max_evals=1, storage=db,
                study="e", catch_eval_exceptions=True,
            )
        )  # fmt: skip
    row = trials_json(db, "e")[0]
    assert re.fullmatch(r"ValueError: bad x [01]\.\d", row["error"])


# --- several drivers: live trials and stale ones ----------------------------------------------

# "2 (driver 123 on host h, seen 1 s ago)", after "running now:   " or under it.
DRIVER_LINE = re.compile(
    r"^(?:running now:| {12})   (\d+) \(driver (\d+) on host (\S+), seen .+ ago\)$"
)


def studies_row(storage: Path, study: str) -> dict[str, str]:
    done = cli("studies", str(storage))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = lines[0].split()[:10]
    assert header == [
        "study", "trials", "queued", "running", "stale", "ok", "fail", "interrupted", "pruned",
        "drivers",
    ]  # fmt: skip
    row = next(line.split() for line in lines[2:] if line.split()[0] == study)
    return dict(zip(header, row[:10], strict=True))


def running_now(out: str) -> tuple[set[tuple[int, int, str]], list[str], dict[int, str]]:
    """What ``show`` says runs: (count, driver pid, host) per live driver, the stale line (if
    any), and the driver column of the running trials' table, by trial id."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("running now:"))
    drivers = set()
    while at < len(lines) and (match := DRIVER_LINE.match(lines[at])):
        drivers.add((int(match[1]), int(match[2]), match[3]))
        at += 1
    stale = [line for line in lines if line.startswith("stale:")]
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["id", "started"])
    assert lines[header].split()[-2:] == ["driver", "parameters"]
    # The started column is "YYYY-MM-DD HH:MM:SS": two words.
    table = {int(line.split()[0]): line.split()[3] for line in lines[header + 2 :]}
    return drivers, stale, table


async def driver_leases(storage: Path, study: str) -> dict[int, float]:
    async with open_study(storage, study) as stored:
        return {driver.pid: driver.lease for driver in await stored.drivers()}


def test_show_and_studies_tell_live_drivers_from_stale_trials(tmp_path: Path) -> None:
    storage = tmp_path / "runs.sqlite"
    marks = tmp_path / "marks"
    marks.mkdir()
    # Two drivers of one study, each with a lease far longer than the test: the one that is
    # SIGKILLed counts as dead because its process is gone from this host, not by its lease.
    args = [*run_args(storage, "two", 6), "--lease-seconds", "300"]
    slow = [*PROGRAM, "--sleep", "30"]
    first = start(*args, "--concurrency", "2", *slow, CLI_TEST_MARKS=str(marks))
    second = start(*args, "--concurrency", "1", *slow, CLI_TEST_MARKS=str(marks))
    host = socket.gethostname()
    try:
        wait_for(marks, "started-*", 3)
        assert anyio.run(driver_leases, storage, "two") == {first.pid: 300.0, second.pid: 300.0}
        shown = cli("show", str(storage), "two")
        assert shown.returncode == 0, shown.stderr
        drivers, stale, table = running_now(shown.stdout)
        assert drivers == {(2, first.pid, host), (1, second.pid, host)}, shown.stdout
        assert stale == []
        assert sorted(table.values()) == sorted([str(first.pid)] * 2 + [str(second.pid)])
        assert "trials:        3 (3 running)" in shown.stdout
        row = studies_row(storage, "two")
        assert (row["running"], row["stale"], row["drivers"]) == ("3", "0", "2")

        first.kill()
        first.communicate()
        shown = cli("show", str(storage), "two")
        assert shown.returncode == 0, shown.stderr
        drivers, stale, table = running_now(shown.stdout)
        assert drivers == {(1, second.pid, host)}, shown.stdout
        assert len(stale) == 1
        assert re.fullmatch(
            r"stale: {9}2 \(their driver was last seen \d+ s ago; they run again on the next "
            r"start\)",
            stale[0],
        ), stale
        assert sorted(table.values()) == sorted(["stale", "stale", str(second.pid)])
        assert "trials:        3 (1 running, 2 stale)" in shown.stdout
        row = studies_row(storage, "two")
        assert (row["running"], row["stale"], row["drivers"]) == ("1", "2", "1")
    finally:
        for process in (first, second):
            process.kill()
            process.communicate()
    before = {row["id"]: row for row in trials_json(storage, "two")}
    assert set(before) == {0, 1, 2}

    # The next start runs the stale trials again, with their ids and parameters.
    resumed = cli(*run_args(storage, "two", 4), *PROGRAM)
    assert resumed.returncode == 0, resumed.stderr
    rows = trials_json(storage, "two")
    assert [(row["id"], row["state"]) for row in rows] == [(i, "ok") for i in range(4)]
    for row in rows[:3]:
        assert (row["lr"], row["layers"]) == (before[row["id"]]["lr"], before[row["id"]]["layers"])
    shown = cli("show", str(storage), "two")
    assert "running now:   none" in shown.stdout
    assert "stale:" not in shown.stdout
