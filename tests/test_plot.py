"""Reports of a study: a PNG that opens at the expected size, an HTML page holding the data."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from asynchpo import TrialContext, Trials, fmin, hp, load_trials, pruners
from asynchpo._plot import _figure, lanes
from asynchpo._trial import Trial, TrialState

SPACE = {
    "lr": hp.loguniform("lr", math.log(1e-4), math.log(1)),
    "x": hp.uniform("x", -2, 2),
    "kind": hp.choice("kind", ["a", "b"]),
}


async def objective(params: dict[str, Any]) -> float:
    if params["x"] > 1.5:
        raise ValueError("too far")
    return float(params["x"] ** 2 + params["lr"])


async def study(tmp_path: Path) -> Path:
    db = tmp_path / "r.sqlite"
    await fmin(
        objective,
        SPACE,
        max_evals=20,
        concurrency=3,
        storage=db,
        seed=1,
        catch_eval_exceptions=True,
    )
    return db


async def test_png_report_opens_with_the_expected_size(tmp_path: Path) -> None:
    image = pytest.importorskip("matplotlib.image")
    trials = await load_trials(await study(tmp_path))
    path = trials.plot(tmp_path / "report.png")
    pixels = image.imread(path)
    # Loss per trial, one panel per parameter (3) and the time line: 5 panels, 3 columns.
    assert pixels.shape[:2] == (720, 1500)


async def test_html_report_is_the_dashboard_page_in_one_file(tmp_path: Path) -> None:
    trials = await load_trials(await study(tmp_path))
    page = trials.plot(tmp_path / "report.html", title="my study").read_text()
    assert "<title>my study · asynchpo report</title>" in page
    found = re.search(r'<script type="application/json" id="asynchpo-data">(.*?)</script>', page)
    assert found is not None
    data = json.loads(found.group(1))["study"]
    assert data["name"] == "my study"
    assert [row[0] for row in data["trials"]["rows"]] == list(range(20))
    assert data["trials"]["labels"] == [param["label"] for param in data["params"]]
    assert set(data["trials"]["labels"]) == {"lr", "x", "kind"}
    assert "src=" not in page  # nothing loaded: no matplotlib, no network


async def test_fmin_trials_plot_too(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    trials = Trials()
    await fmin(objective, SPACE, max_evals=5, trials=trials, seed=2, catch_eval_exceptions=True)
    assert trials.plot(tmp_path / "t.png").stat().st_size > 1000


def test_without_matplotlib_the_error_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, module, None)
    trials = Trials()
    with pytest.raises(ImportError, match=r"pip install 'asynchpo\[plot\]'"):
        trials.plot(tmp_path / "x.png")


def test_lanes_never_overlap() -> None:
    def trial(tid: int, start: float, end: float) -> Trial:
        return Trial(tid, TrialState.OK, {}, 1.0, started=start, finished=end)

    records = [trial(0, 0, 4), trial(1, 0, 1), trial(2, 1, 2), trial(3, 2, 5), trial(4, 4, 6)]
    lane = lanes(records)
    assert lane == {0: 0, 1: 1, 2: 1, 3: 1, 4: 0}


async def curve(params: dict[str, Any], trial: TrialContext) -> float:
    """Ten epochs of a learning curve whose level is set by lr."""
    loss = math.inf
    for epoch in range(1, 11):
        loss = abs(math.log10(params["lr"]) + 2) + 1.0 / epoch
        await trial.report(epoch, loss)
    return loss


async def pruned_study() -> Trials:
    trials = Trials()
    await fmin(
        curve,
        {"lr": hp.loguniform("lr", math.log(1e-6), 0)},
        max_evals=16,
        trials=trials,
        seed=4,
        pruner=pruners.MedianPruner(n_startup_trials=3),
    )
    return trials


async def test_curves_plot_and_the_report_of_a_pruned_study(tmp_path: Path) -> None:
    image = pytest.importorskip("matplotlib.image")
    trials = await pruned_study()
    assert "pruned" in trials.statuses()
    curves = trials.plot(tmp_path / "curves.png", curves=True)
    assert image.imread(curves).shape[:2] == (500, 800)
    # Loss per trial, lr, the time line and the learning curves: 4 panels, 2 rows of 3.
    report = trials.plot(tmp_path / "report.png")
    assert image.imread(report).shape[:2] == (720, 1500)


async def test_pruned_trials_are_drawn_apart_and_never_the_best() -> None:
    pytest.importorskip("matplotlib")
    trials = await pruned_study()
    records = trials.records
    ok = [t for t in records if t.state is TrialState.OK]
    pruned = [t for t in records if t.state is TrialState.PRUNED]
    assert ok
    assert pruned
    figure = _figure(records, ["lr"], {"lr"})
    per_trial, _, _, panel = figure.axes[:4]
    legend = [text.get_text() for text in per_trial.get_legend().get_texts()]
    assert legend == ["trial", "pruned (last loss)", "best so far"]
    best_so_far = per_trial.get_lines()[0].get_ydata()
    assert min(best_so_far) == min(t.loss for t in ok if t.loss is not None)

    assert panel.get_title() == "learning curves"
    best = min(ok, key=lambda t: t.loss or 0.0)
    labels = [text.get_text() for text in panel.get_legend().get_texts()]
    assert labels == [f"pruned ({len(pruned)})", f"ok ({len(ok)})", f"best: trial {best.id}"]
    emphasised = panel.get_lines()[-1]
    assert list(emphasised.get_xdata()) == list(range(1, 11))
    assert list(emphasised.get_ydata()) == [loss for _, loss in best.reports]


async def test_curves_need_reports(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    trials = Trials()
    await fmin(objective, SPACE, max_evals=3, trials=trials, seed=2, catch_eval_exceptions=True)
    with pytest.raises(ValueError, match=r"trial\.report\(step, loss\)"):
        trials.plot(tmp_path / "c.png", curves=True)
    assert not (tmp_path / "c.png").exists()
