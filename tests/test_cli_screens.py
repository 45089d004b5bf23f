"""What the command line and the screens show (issue 13, items 7 to 10): JSON spaces where a
typo is an error, metrics as columns, choices shown as the options' values, and the CLI's
options (--version, help, descriptions, unknown studies, svg/pdf, sqlite:/// URLs, -v,
--timeout, --loss-threshold, --log-dir, --points, --format json, missing dependencies)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from process_tools import run_cli

import asynchpo
from asynchpo import SpaceError, hp, load_trials
from asynchpo._cli import build_parser, load_space, main

FILES = Path(__file__).with_name("cli_files")
METRICS = [sys.executable, str(FILES / "metrics_train.py")]


def write_space(folder: Path, space: object) -> str:
    path = folder / "space.json"
    path.write_text(json.dumps(space), encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("asynchpo: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study of 4 trials of a program that reports accuracy besides its loss."""
    folder = tmp_path_factory.mktemp("screens")
    space = write_space(folder, {"lr": ["loguniform", -9, -1], "layers": ["choice", [1, 2, 3]]})
    storage = folder / "runs.sqlite"
    done = run_cli(
        "run", "--space", space, "--storage", str(storage), "--study", "s",
        "--max-evals", "4", "--seed", "1", "--", *METRICS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return storage


# --- item 7: a typo in a JSON space is an error, constants are explicit ------------------------


def test_an_unknown_distribution_name_is_an_error_naming_the_label_and_the_known_names(
    tmp_path: Path,
) -> None:
    spec = write_space(tmp_path, {"lr": ["loguniformm", -9, -1]})
    with pytest.raises(SpaceError) as caught:
        load_space(spec)
    message = str(caught.value)
    assert "'lr'" in message
    assert "'loguniformm'" in message
    assert "did you mean 'loguniform'" in message
    assert "choice, lognormal, loguniform" in message  # the known names
    assert '{"const": [...]}' in message  # how to write a constant instead
    # Inside a choice's option too, and with an unrelated name.
    spec = write_space(tmp_path, {"opt": ["choice", [{"m": ["Uniform", 0, 1]}, "adam"]]})
    with pytest.raises(SpaceError, match="unknown distribution 'Uniform' for parameter 'm'"):
        load_space(spec)


def test_constants_are_written_explicitly(tmp_path: Path) -> None:
    spec = write_space(
        tmp_path,
        {
            "lr": ["uniform", 0, 1],
            "tags": {"const": ["uniform", 0, 1]},  # a list that starts with a string
            "sizes": [1, 2, 3],  # a list that does not: a constant as before
            "batch": 64,
        },
    )
    space = load_space(spec)
    assert isinstance(space, dict)
    assert space["tags"] == ["uniform", 0, 1]
    assert space["sizes"] == [1, 2, 3]
    assert space["batch"] == 64
    assert list(asynchpo.compile_space(space).labels) == ["lr"]


def test_run_refuses_a_misspelt_space_before_running_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_space(tmp_path, {"lr": ["loguniformm", -9, -1]})
    storage = tmp_path / "runs.sqlite"
    code, _, err = run(
        capsys, "run", "--space", spec, "--storage", str(storage), "--study", "s",
        "--max-evals", "1", "--", *METRICS,
    )  # fmt: skip
    assert code == 2
    assert "unknown distribution 'loguniformm' for parameter 'lr'" in one_error(err)
    assert not storage.exists()


# --- item 8: metrics, start and finish are columns; show shows the best trial's metrics --------


def test_metrics_and_times_are_columns_of_every_format(
    study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "trials", str(study), "s", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert list(rows[0])[:6] == ["id", "state", "loss", "started", "finished", "duration"]
    assert all(0 < row["accuracy"] < 1 for row in rows)
    assert all(row["started"] <= row["finished"] for row in rows)  # ISO 8601, same zone

    code, out, _ = run(capsys, "trials", str(study), "s", "--format", "csv")
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert [float(line["accuracy"]) for line in parsed] == [row["accuracy"] for row in rows]
    assert all(line["started"] and line["finished"] for line in parsed)

    code, out, _ = run(capsys, "trials", str(study), "s")
    header, _, *lines = out.splitlines()
    assert {"started", "finished", "duration", "accuracy"} <= set(header.split())
    assert header.split()[-3:] == ["accuracy", "log", "error"]
    # (empty cells, last_step and error here, leave no word: count from the end)
    assert [float(line.split()[-2]) for line in lines] == [row["accuracy"] for row in rows]


def test_show_shows_the_best_trials_metrics(
    study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "show", str(study), "s")
    assert code == 0, err
    rows = json.loads(run(capsys, "trials", str(study), "s", "--format", "json")[1])
    best = min(rows, key=lambda row: row["loss"])
    assert f"metrics:       accuracy={best['accuracy']}" in out


async def test_dataframe_and_html_report_have_metrics_times_and_option_values(
    study: Path, tmp_path: Path
) -> None:
    pytest.importorskip("pandas")
    trials = await load_trials(study, "s")
    frame = trials.to_dataframe()
    assert {"started", "finished", "duration", "accuracy", "log"} <= set(frame.columns)
    records = trials.records
    assert list(frame["accuracy"]) == [t.result["accuracy"] for t in records]
    # item 9: the option's value, where hyperopt's misc.vals keeps the index
    assert list(frame["layers"]) == [[1, 2, 3][t.params["layers"]] for t in records]  # type: ignore[index]
    assert [doc["misc"]["vals"]["layers"][0] for doc in trials.trials] == [
        t.params["layers"] for t in records
    ]

    page = tmp_path / "report.html"
    trials.plot(page)
    text = page.read_text(encoding="utf-8")
    data = json.loads(text.split('id="asynchpo-data">', 1)[1].split("</script>", 1)[0])
    shown = data["study"]
    rows = shown["trials"]["rows"]
    assert [row[6]["accuracy"] for row in rows] == list(frame["accuracy"])
    layers = shown["trials"]["labels"].index("layers")
    options = next(p["options"] for p in shown["params"] if p["label"] == "layers")
    assert [int(options[row[5][layers]]) for row in rows] == list(frame["layers"])
    assert all(row[3] <= row[4] for row in rows)  # started before finished


# --- item 9: a choice shows its option's value everywhere a person reads -----------------------


def make_choices_study(tmp_path: Path) -> Path:
    storage = tmp_path / "c.sqlite"
    space = {
        "layers": hp.choice("layers", [10, 20, 30]),
        "act": hp.choice("act", ["relu", "tanh"]),
        "opt": hp.choice("opt", [{"name": "sgd"}, {"name": "adam"}]),
    }
    asynchpo.fmin_sync(
        lambda p: p["layers"] / 10 + (p["act"] == "tanh") + (p["opt"]["name"] == "sgd"),
        space, algo=asynchpo.rand.suggest, max_evals=6, storage=storage, study="c", seed=3,
        show_progressbar=False,
    )  # fmt: skip
    return storage


def test_choices_read_as_values_in_the_dataframe_and_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pandas")
    storage = make_choices_study(tmp_path)
    trials = anyio.run(load_trials, storage, "c")
    frame = trials.to_dataframe()
    assert set(frame["layers"]) <= {10, 20, 30}
    assert set(frame["act"]) <= {"relu", "tanh"}
    assert all(option in ({"name": "sgd"}, {"name": "adam"}) for option in frame["opt"])
    assert set(trials.argmin) == {"layers", "act", "opt"}
    assert set(trials.argmin.values()) <= {0, 1, 2}  # hyperopt's argmin keeps indices

    code, out, _ = run(capsys, "trials", str(storage), "c", "--format", "csv")
    assert code == 0
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert [int(line["layers"]) for line in parsed] == list(frame["layers"])
    assert [json.loads(line["opt"]) for line in parsed] == list(frame["opt"])


def test_the_plot_axis_of_a_choice_reads_the_options_values(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from asynchpo._plot import _figure

    trials = anyio.run(load_trials, make_choices_study(tmp_path), "c")
    options = trials._options  # what load_trials read from the study's space description
    figure = _figure(trials.records, ["layers", "act", "opt"], set(), options)
    axes = {ax.get_title(): ax for ax in figure.axes}
    xs = {x for x, _ in axes["loss against layers"].collections[0].get_offsets()}
    assert xs <= {10.0, 20.0, 30.0}  # the values, not 0, 1, 2
    labels = [tick.get_text() for tick in axes["loss against act"].get_xticklabels()]
    assert labels == ["relu", "tanh"]
    labels = [tick.get_text() for tick in axes["loss against opt"].get_xticklabels()]
    assert labels == ['{"name": "sgd"}', '{"name": "adam"}']


# --- item 10: the command line's gaps ----------------------------------------------------------


def test_version_and_bare_command_print_and_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert (code, out.strip()) == (0, f"asynchpo {asynchpo.__version__}")
    code, out, err = run(capsys)
    assert code == 0, err
    assert out.startswith("usage: asynchpo")
    assert "studies" in out


def test_every_subcommand_has_a_description() -> None:
    parser = build_parser()
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    subparsers: dict[str, Any] = dict(actions[0].choices or {})
    assert set(subparsers) == {"run", "studies", "show", "trials", "plot", "dashboard"}
    for name, sub in subparsers.items():
        assert sub.description, name


def test_show_of_an_unknown_study_lists_the_studies(
    study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("show", "trials"):
        code, _, err = run(capsys, command, str(study), "nope")
        assert code == 2
        line = one_error(err)
        assert "no study called 'nope'" in line
        assert "the studies it holds: 's'" in line


def test_plot_writes_svg_and_pdf(study: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    for suffix, magic in ((".svg", b"<?xml"), (".pdf", b"%PDF")):
        target = tmp_path / f"report{suffix}"
        assert main(["plot", str(study), "s", "-o", str(target)]) == 0
        assert target.read_bytes().startswith(magic)


def test_storage_is_accepted_as_a_sqlite_url(
    study: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, "studies", f"sqlite:///{study}")  # sqlite:////absolute
    assert code == 0, err
    assert out.splitlines()[2].split()[0] == "s"
    monkeypatch.chdir(study.parent)
    code, out, err = run(capsys, "show", f"sqlite:///{study.name}", "s")  # relative
    assert code == 0, err
    code, _, err = run(capsys, "studies", "mysql://host/db")  # postgresql:// is taken
    assert code == 2
    assert "sqlite:///" in one_error(err)
    assert "postgresql://" in one_error(err)


def test_studies_and_show_format_json(study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "studies", str(study), "--format", "json")
    assert code == 0, err
    (summary,) = json.loads(out)
    assert (summary["study"], summary["trials"], summary["counts"]["ok"]) == ("s", 4, 4)
    code, out, err = run(capsys, "show", str(study), "s", "--format", "json")
    assert code == 0, err
    shown: dict[str, Any] = json.loads(out)
    assert shown["best"]["id"] == summary["best_trial"]
    assert shown["best"]["params"]["layers"] in (1, 2, 3)
    assert 0 < shown["best"]["metrics"]["accuracy"] < 1
    assert shown["running"] == []


def test_run_verbose_points_timeout_threshold_and_log_dir(tmp_path: Path) -> None:
    space = write_space(tmp_path, {"lr": ["loguniform", -9, -1], "layers": ["choice", [1, 2, 3]]})
    points = tmp_path / "points.json"
    points.write_text(json.dumps([{"lr": 0.01, "layers": 0}]), encoding="utf-8")
    storage = tmp_path / "runs.sqlite"
    logs = tmp_path / "my-logs"
    done = run_cli(
        "run", "--space", space, "--storage", str(storage), "--study", "v", "--max-evals", "3",
        "--seed", "2", "--points", str(points), "--log-dir", str(logs), "-v", "--timeout", "60",
        "--", *METRICS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("trial ")]
    assert [line.split()[1] for line in lines] == ["0", "1", "2"]  # one line per trial
    assert lines[0].startswith("trial 0 ok loss 0.1 in ")
    assert "lr=0.01, layers=1 | accuracy=0.95" in lines[0]  # the point, its option's value
    assert len(list(logs.rglob("*.log"))) == 3

    # --loss-threshold stops the run at the first trial that reaches it.
    done = run_cli(
        "run", "--space", space, "--storage", str(storage), "--study", "t", "--max-evals", "20",
        "--points", str(points), "--loss-threshold", "0.2", "--", *METRICS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "study 't': 1 trials" in done.stdout


def test_run_timeout_stops_the_run(tmp_path: Path) -> None:
    space = write_space(tmp_path, {"x": ["uniform", 0, 1]})
    done = run_cli(
        "run", "--space", space, "--storage", str(tmp_path / "r.sqlite"), "--study", "t",
        "--max-evals", "1000", "--timeout", "1.5", "--",
        sys.executable, "-c", "import time; time.sleep(0.4); print(1)",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "study 't':" in done.stdout
    finished = int(done.stdout.split("study 't': ", 1)[1].split()[0])
    assert 1 <= finished < 10


def test_bad_run_options_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = write_space(tmp_path, {"x": ["uniform", 0, 1]})
    base = ["run", "--space", space, "--storage", str(tmp_path / "r.sqlite"), "--study", "s"]
    bad_points = tmp_path / "points.json"
    bad_points.write_text('{"x": 1}', encoding="utf-8")
    for extra, words in (
        (["--points", str(bad_points)], "JSON list of objects"),
        (["--points", str(tmp_path / "none.json")], "cannot read --points"),
        (["--timeout", "0"], "> 0"),
        (["--loss-threshold", "nan"], "finite"),
    ):
        code, _, err = run(capsys, *base, "--max-evals", "1", *extra, "--", "true")
        assert code == 2, (extra, err)
        assert words in one_error(err)


def test_a_missing_optional_dependency_is_exit_1_naming_the_extra(
    study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, module, None)
    code, _, err = run(capsys, "plot", str(study), "s", "-o", str(tmp_path / "r.png"))
    assert code == 1
    assert "pip install 'asynchpo[plot]'" in one_error(err)
