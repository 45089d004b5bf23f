"""Pruned trials and learning curves in the read-only views: the study summary, the ``show``,
``studies``, ``trials`` and ``plot`` commands, and hyperopt's ``Trials`` view.

The study is written record by record through the SQLite storage, so every count, step and loss
below is known exactly; tests/test_cli.py runs the same commands on a study that a pruner made.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from asynchpo import AllTrialsFailed, hp, list_studies, load_trials, open_study
from asynchpo._cli import main
from asynchpo._space import compile_space
from asynchpo._storage import SqliteStorage, StudyConfig
from asynchpo._trial import Reports, Trial, TrialState
from asynchpo._trials import JOB_STATE_DONE, JOB_STATE_RUNNING

T0 = 1_700_000_000.0
PRUNER = "MedianPruner(n_startup_trials=1, n_warmup_steps=0)"


def trial(tid: int, state: TrialState, reports: Reports = (), **changes: Any) -> Trial:
    """A record of trial ``tid``: a finished PRUNED one takes its last report as its loss."""
    record = Trial(
        id=tid,
        state=state,
        params={"x": tid / 10, "kind": tid % 2},
        created=T0 + tid,
        started=T0 + tid + 0.5,
        finished=None if state is TrialState.RUNNING else T0 + tid + 2.0,
        slot=tid % 2,
        reports=reports,
    )
    if state is TrialState.PRUNED:
        step, loss = reports[-1]
        record = record.replace(
            loss=loss,
            result={"status": "pruned", "loss": loss, "step": step},
            error=f"trial {tid} was pruned at step {step} by {PRUNER}",
        )
    return record.replace(**changes)


def ok(tid: int, reports: Reports) -> Trial:
    loss = reports[-1][1]
    return trial(tid, TrialState.OK, reports, loss=loss, result={"loss": loss, "status": "ok"})


# Two completed trials that reported at steps 1, 3 and 9; three pruned ones (trial 2 stopped
# with a loss lower than any completed trial's: a partial loss, never the best); a failed one
# that never reported; one still running at step 3.
RECORDS = [
    ok(0, ((1, 2.0), (3, 1.0), (9, 0.6))),
    trial(1, TrialState.PRUNED, ((1, 3.0),)),
    trial(2, TrialState.PRUNED, ((1, 0.4), (3, 0.1))),
    trial(3, TrialState.FAIL, result={"status": "fail"}, error="ValueError: boom"),
    ok(4, ((1, 2.5), (3, 1.5), (9, 0.9))),
    trial(5, TrialState.PRUNED, ((1, 2.8),)),
    trial(6, TrialState.RUNNING, ((1, 1.9), (3, 1.2))),
]


async def _write(path: Path) -> None:
    space = compile_space({"x": hp.uniform("x", -2, 2), "kind": hp.choice("kind", ["a", "b"])})
    config = StudyConfig(space=space.describe(), fingerprint=space.fingerprint, algo="tpe", seed=3)
    async with await SqliteStorage.open(path) as storage:
        curves = await storage.create_study("curves", config)
        await storage.write(curves.id, RECORDS)
        # A study whose objective never reported: no curves to draw.
        plain = await storage.create_study("plain", config)
        await storage.write(plain.id, [ok(0, ((0, 1.0),)).replace(reports=())])


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pruned") / "runs.sqlite"
    anyio.run(_write, path)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``asynchpo ARGS`` in this process: its exit code, stdout and stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- the summary ------------------------------------------------------------------------------


async def test_summary_counts_pruned_trials_and_never_takes_them_for_the_best(db: Path) -> None:
    async with open_study(db, "curves") as study:
        summary = study.summary()
    assert summary.pruned == 3
    assert summary.counts == {
        "queued": 0,
        "running": 1,
        "ok": 2,
        "fail": 1,
        "interrupted": 0,
        "pruned": 3,
    }
    assert summary.total == 7
    # Trial 2 was pruned with loss 0.1, below the best completed loss: it is not the best.
    assert (summary.best_trial, summary.best_loss) == (0, 0.6)
    listed = {s.name: s for s in await list_studies(db)}
    assert listed["curves"].pruned == 3
    assert listed["plain"].pruned == 0


def test_studies_has_a_pruned_column(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "studies", str(db))
    assert code == 0
    header, _, *lines = out.splitlines()
    rows = {
        line.split()[0]: dict(zip(header.split(), line.split(), strict=False)) for line in lines
    }
    assert rows["curves"]["pruned"] == "3"
    assert rows["curves"]["ok"] == "2"
    assert rows["plain"]["pruned"] == "0"


# --- show -------------------------------------------------------------------------------------


def test_show_counts_pruned_trials_and_where_they_stopped(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "show", str(db), "curves")
    assert code == 0, err
    lines = out.splitlines()
    # Finished states first, then the trials still to run (trial 6 has no driver: stale).
    assert "trials:        7 (2 ok, 3 pruned, 1 fail, 1 stale)" in lines
    assert "pruned at:     step 1 (2 trials), step 3 (1)" in lines
    assert "ok ran to:     step 9 (2 trials)" in lines
    assert "best:          trial 0, loss 0.6" in lines
    assert "  kind = a" in lines
    # The running trial's table shows the step it reached.
    at = lines.index("running now:   none")
    assert lines[at + 1] == (
        "stale:         1 (their driver is gone; they run again on the next start)"
    )
    assert lines[at + 2].split() == ["id", "started", "step", "driver", "parameters"]
    row = lines[at + 4].split()
    assert (row[0], row[3], row[4]) == ("6", "3", "stale")


def test_show_says_nothing_of_steps_when_no_trial_reported(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "show", str(db), "plain")
    assert code == 0
    assert "trials:        1 (1 ok)" in out
    assert "pruned at:" not in out
    assert "ok ran to:" not in out


def test_show_sums_up_many_different_steps() -> None:
    from asynchpo._cli._render import steps_text

    assert steps_text([1, 1, 3]) == "step 1 (2 trials), step 3 (1)"
    assert steps_text([27]) == "step 27 (1 trial)"
    assert steps_text([1, 2, 3, 4, 5, 5, 9]) == "steps 1 to 9, median 4 (7 trials)"


# --- trials -----------------------------------------------------------------------------------


def test_trials_json_has_the_state_the_last_loss_and_every_report(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "trials", str(db), "curves", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert list(rows[0]) == [
        "id",
        "state",
        "loss",
        "started",
        "finished",
        "duration",
        "reports",
        "last_step",
        "x",
        "kind",
        "error",
    ]
    assert [row["state"] for row in rows] == [
        "ok",
        "pruned",
        "pruned",
        "fail",
        "ok",
        "pruned",
        "running",
    ]
    for row, record in zip(rows, RECORDS, strict=True):
        assert row["reports"] == [[step, loss] for step, loss in record.reports]
        assert row["last_step"] == (record.reports[-1][0] if record.reports else None)
    assert rows[2]["loss"] == 0.1  # the last reported loss
    assert rows[2]["error"] == f"trial 2 was pruned at step 3 by {PRUNER}"
    assert rows[3]["reports"] == []
    assert rows[6]["loss"] is None  # still running: no loss yet, but its reports so far


def test_trials_csv_and_table_count_the_reports(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "trials", str(db), "curves", "--format", "csv")
    assert code == 0
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert [line["state"] for line in parsed].count("pruned") == 3
    assert [line["reports"] for line in parsed] == ["3", "1", "2", "0", "3", "1", "2"]
    assert [line["last_step"] for line in parsed] == ["9", "1", "3", "", "9", "1", "3"]
    assert parsed[5]["loss"] == "2.8"
    assert parsed[5]["error"].endswith(f"by {PRUNER}")  # csv keeps the whole message

    code, out, _ = run(capsys, "trials", str(db), "curves")
    assert code == 0
    header, _, *lines = out.splitlines()
    assert header.split()[:8] == [
        "id",
        "state",
        "loss",
        "started",
        "finished",
        "duration",
        "reports",
        "last_step",
    ]
    cells = {int(line.split()[0]): line.split() for line in lines}
    assert [*cells[2][1:3], *cells[2][5:8]] == ["pruned", "0.1", "1.50s", "2", "3"]
    assert [*cells[3][:2], *cells[3][4:6]] == ["3", "fail", "1.50s", "0"]  # no loss, no report
    # The table keeps the pruner's name and drops its arguments.
    assert lines[2].endswith("trial 2 was pruned at step 3 by MedianPruner")
    assert "n_startup_trials" not in out


# --- plot -------------------------------------------------------------------------------------


def test_plot_curves_writes_a_png_and_the_html_report(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = pytest.importorskip("matplotlib.image")
    png = tmp_path / "curves.png"
    code, out, err = run(capsys, "plot", str(db), "curves", "--curves", "-o", str(png))
    assert code == 0, err
    assert out.strip() == f"wrote {png}"
    assert png.stat().st_size > 1000
    assert image.imread(png).shape[:2] == (500, 800)  # one large panel

    page = tmp_path / "curves.html"
    code, _, err = run(capsys, "plot", str(db), "curves", "--curves", "-o", str(page))
    assert code == 0, err
    study = report_data(page)
    assert sorted(map(int, study["curves"]["trials"])) == [0, 1, 2, 4, 5, 6]  # they reported
    assert study["curves"]["trials"]["2"] == [[1, 0.4], [3, 0.1]]
    assert study["trials"]["rows"][2][1] == "pruned"


def report_data(page: Path) -> dict[str, Any]:
    """The study embedded in an HTML report."""
    found = re.search(
        r'<script type="application/json" id="asynchpo-data">(.*?)</script>', page.read_text()
    )
    assert found is not None
    study: dict[str, Any] = json.loads(found.group(1))["study"]
    return study


def test_the_report_carries_the_reports_too(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "report.html"
    code, _, err = run(capsys, "plot", str(db), "curves", "-o", str(page))
    assert code == 0, err
    study = report_data(page)
    assert [row[1] for row in study["trials"]["rows"]].count("pruned") == 3
    assert study["trials"]["rows"][0][8] == 3  # trial 0 reported 3 times
    assert study["curves"]["trials"]["0"] == [[1, 2.0], [3, 1.0], [9, 0.6]]


def test_plot_curves_of_a_study_without_reports_is_a_one_line_error(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "none.png"
    code, out, err = run(capsys, "plot", str(db), "plain", "--curves", "-o", str(png))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("asynchpo: error: study 'plain' has no learning curves: none of its 1")
    assert "trial.report(step, loss)" in err
    assert not png.exists()


def test_plot_curves_without_matplotlib_points_to_the_text_summary(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, module, None)
    png = tmp_path / "curves.png"
    code, _, err = run(capsys, "plot", str(db), "curves", "--curves", "-o", str(png))
    assert code == 1  # a missing optional dependency is not a usage error (2)
    assert len(err.strip().splitlines()) == 1
    assert "pip install 'asynchpo[plot]'" in err
    assert f"asynchpo show {db} curves summarizes the learning curves as text" in err
    assert not png.exists()


# --- hyperopt's Trials view -------------------------------------------------------------------


async def test_trials_view_of_pruned_trials(db: Path) -> None:
    trials = await load_trials(db, "curves")
    assert trials.statuses() == ["ok", "pruned", "pruned", "fail", "ok", "pruned", "running"]
    assert trials.losses() == [0.6, 3.0, 0.1, None, 0.9, 2.8, None]
    doc = trials.trials[2]
    assert doc["state"] == JOB_STATE_DONE
    assert doc["result"] == {
        "status": "pruned",
        "loss": 0.1,
        "step": 3,
        "error": f"trial 2 was pruned at step 3 by {PRUNER}",
    }
    assert doc["misc"]["vals"] == {"x": [0.2], "kind": [0]}
    # The lowest loss is trial 2's, but it was pruned: the best is the best completed trial.
    assert trials.best_trial["tid"] == 0
    assert trials.argmin == {"x": 0.0, "kind": 0}
    assert trials.average_best_error() == 0.6
    assert trials.count_by_state_unsynced(JOB_STATE_DONE) == 6
    assert trials.count_by_state_unsynced([JOB_STATE_RUNNING]) == 1


async def test_trials_view_with_only_pruned_trials_has_no_best() -> None:
    from asynchpo import Trials

    trials = Trials()
    trials._reset(["x", "kind"], [RECORDS[1], RECORDS[2]])
    assert trials.statuses() == ["pruned", "pruned"]
    with pytest.raises(AllTrialsFailed, match="none of the 2 trials succeeded"):
        trials.best_trial  # noqa: B018


async def test_dataframe_has_the_pruned_state_and_the_reports(db: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = (await load_trials(db, "curves")).to_dataframe()
    assert list(frame.columns) == [
        "tid",
        "state",
        "loss",
        "status",
        "duration",
        "started",
        "finished",
        "error",
        "slot",
        "reports",
        "last_step",
        "x",
        "kind",
    ]
    assert frame["state"].tolist().count("pruned") == 3
    assert frame["status"].tolist()[1] == "pruned"
    assert frame["reports"].tolist() == [3, 1, 2, 0, 3, 1, 2]
    assert frame["last_step"].tolist()[:3] == [9, 1, 3]
    assert pd.isna(frame["last_step"][3])
    assert frame["loss"][2] == 0.1

    # A study without reports keeps the columns it always had.
    plain = (await load_trials(db, "plain")).to_dataframe()
    assert "reports" not in plain.columns
    assert "last_step" not in plain.columns
