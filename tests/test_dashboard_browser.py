"""The study report in a real browser (Chromium through Playwright), opened from ``file://``:
every chart draws with labelled axes, hostile strings render as text and run nothing, and the
trial table pages, sorts and filters 100,000 trials quickly. Screenshots go to
``$ASYNCHPO_ARTIFACTS`` (or the test's tmp_path)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from browser import CHARTS_JS, Watched, artifacts, browser, study_payload, watched, wire
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynchpo._dashboard._report import render_report

__all__ = ["artifacts", "browser", "watched"]  # fixtures, used by name


def _open(seen: Watched, tmp_path: Path, payload: dict[str, Any], name: str) -> Any:
    report = tmp_path / f"{name}.html"
    report.write_text(
        render_report(json.dumps(wire(payload), ensure_ascii=False), written=1_764_490_000.0),
        encoding="utf-8",
    )
    page = seen.page
    page.goto(report.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    return page


def _rows(page: Any) -> list[list[str]]:
    rows: list[list[str]] = page.eval_on_selector_all(
        "#trials tbody tr",
        "(rows) => rows.map((r) => Array.from(r.cells).map((c) => c.textContent))",
    )
    return rows


def _numbers(ticks: str) -> list[float]:
    return [float(t) for t in ticks.split("|")]


@pytest.mark.timeout(60)
def test_the_report_draws_every_chart(watched: Watched, tmp_path: Path, artifacts: Path) -> None:
    payload = study_payload(400)
    page = _open(watched, tmp_path, payload, "report")
    page.screenshot(path=str(artifacts / "report-study.png"), full_page=True)
    charts = {c["name"]: c for c in page.evaluate(CHARTS_JS)}
    assert set(charts) == {
        "history-number",
        "history-time",
        "param-0",
        "param-1",
        "param-2",
        "param-3",
        "parallel",
        "curves",
    }
    for chart in charts.values():
        assert chart["canvases"] >= 1, chart
        assert chart["inked"] > 1000, chart
        assert chart["points"] > 0, chart
    # the history: every ok and pruned trial drawn, plus the failed ones along the top
    states = payload["trials"]["state"]
    drawn = sum(states.count(s) for s in ("ok", "pruned", "fail"))
    assert charts["history-number"]["points"] == drawn
    assert _numbers(charts["history-number"]["x"])[0] == 0
    assert all(math.isfinite(v) for v in _numbers(charts["history-number"]["y"]))
    assert all(":" in t for t in charts["history-time"]["x"].split("|"))
    # lr is log-scaled: its ticks are powers of ten (or 1-2-5 steps between them)
    lr = _numbers(charts["param-0"]["x"])
    assert len(lr) >= 3
    assert max(lr) / min(lr) >= 100
    for v in lr:
        mantissa = v / 10 ** math.floor(math.log10(v) + 1e-9)
        assert round(mantissa, 6) in (1, 2, 5), lr
    # a choice's axis reads its options' texts, in order
    assert charts["param-2"]["x"] == '{"k": "a"}|b|3'
    # depth is active only in some trials: only those are drawn
    assert charts["param-3"]["points"] < charts["param-1"]["points"]
    # parallel coordinates: one axis per parameter, then the loss
    assert charts["parallel"]["axes"] == "lr|n|m|depth|loss"
    assert charts["parallel"]["x"] == ""
    assert '{"k": "a"}' in charts["parallel"]["y"].split("|")
    assert charts["parallel"]["points"] == states.count("ok")
    assert charts["curves"]["points"] > 0
    # header and table
    assert page.text_content("h1") == "exp1"
    assert "Report written" in page.text_content("#live")
    assert "not live" in page.text_content("#live")
    assert len(_rows(page)) == 50
    assert page.text_content("#page-info") == "page 1 of 8"
    assert page.eval_on_selector_all("#trials a", "(a) => a.length") == 0  # no server, no links
    assert page.is_hidden("#error")
    assert watched.problems() == []
    page.locator("[data-chart=parallel]").screenshot(path=str(artifacts / "report-parallel.png"))


HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_OPTION = "<img src=x onerror=alert(2)>"
HOSTILE_KEY = "<img src=x onerror=alert(3)>"
HOSTILE_VALUE = "<script>alert(4)</script>"
HOSTILE_ERROR = "<img src=x onerror=alert(5)> went wrong"
HOSTILE_LABEL = "<b onmouseover=alert(6)>lr</b>"


@pytest.mark.timeout(60)
def test_hostile_strings_render_as_text(watched: Watched, tmp_path: Path, artifacts: Path) -> None:
    payload = study_payload(30, name=HOSTILE_NAME)
    payload["params"][2]["options"] = [HOSTILE_OPTION, "b", "</script>"]
    payload["params"][0]["label"] = HOSTILE_LABEL
    cols = payload["trials"]
    cols["params"][HOSTILE_LABEL] = cols["params"].pop("lr")
    cols["metrics"][HOSTILE_KEY] = [HOSTILE_VALUE] * 30
    cols["state"][0], cols["loss"][0] = "fail", None
    cols["error"][0] = HOSTILE_ERROR + "\nTraceback (most recent call last): <script>"
    cols["params"]["m"][1] = 0  # a trial on page 1 with the hostile option
    page = _open(watched, tmp_path, payload, "hostile")
    page.screenshot(path=str(artifacts / "report-hostile.png"), full_page=True)
    assert page.text_content("h1") == HOSTILE_NAME
    assert page.title().startswith(HOSTILE_NAME)
    headers = page.eval_on_selector_all("#trials th", "(th) => th.map((h) => h.dataset.col)")
    assert "m:" + HOSTILE_KEY in headers
    assert "p:" + HOSTILE_LABEL in headers
    text = page.inner_text("main")
    for shown in (
        HOSTILE_NAME,
        HOSTILE_OPTION,
        HOSTILE_KEY,
        HOSTILE_VALUE,
        HOSTILE_ERROR,
        HOSTILE_LABEL,
    ):
        assert shown in text, shown
    charts = {c["name"]: c for c in page.evaluate(CHARTS_JS)}
    assert charts["param-2"]["x"] == HOSTILE_OPTION[:17] + "…|b|</script>"
    assert charts["parallel"]["axes"].split("|")[0] == HOSTILE_LABEL
    counts = page.evaluate(
        "() => ({img: document.querySelectorAll('img').length,"
        " b: document.querySelectorAll('b').length,"
        " scripts: document.scripts.length,"
        " handlers: document.querySelectorAll('[onerror],[onmouseover],[onclick]').length})"
    )
    assert counts == {"img": 0, "b": 0, "scripts": 3, "handlers": 0}
    page.mouse.move(200, 200)
    assert watched.dialogs == []
    assert watched.problems() == []


@pytest.mark.timeout(90)
def test_paging_sorting_and_filtering_100k_trials(
    watched: Watched, tmp_path: Path, artifacts: Path
) -> None:
    n = 100_000
    payload = study_payload(n)
    page = _open(watched, tmp_path, payload, "big")
    first_render_ms = float(page.evaluate("document.body.dataset.sinceNavigationMs"))
    print(f"first render of {n} trials: {first_render_ms:.0f} ms since navigation")
    page.screenshot(path=str(artifacts / "report-100k.png"))
    assert first_render_ms < 3000
    assert page.text_content("#page-info") == "page 1 of 2000"
    assert page.text_content("#trial-count") == f"{n} trials"
    assert [r[0] for r in _rows(page)] == [str(i) for i in range(50)]

    def pager(which: str) -> list[str]:
        page.click(f"button[data-page={which}]")
        return [r[0] for r in _rows(page)]

    assert pager("next") == [str(i) for i in range(50, 100)]
    assert page.text_content("#page-info") == "page 2 of 2000"
    assert pager("last") == [str(i) for i in range(99_950, n)]
    assert page.text_content("#page-info") == "page 2000 of 2000"
    assert page.is_disabled("button[data-page=next]")
    assert pager("prev")[0] == "99900"
    assert pager("first")[0] == "0"
    assert page.is_disabled("button[data-page=prev]")
    assert page.locator("#trials tbody tr").count() == 50  # only the shown page is in the DOM

    page.click("#trials th[data-col=loss]")
    rows = _rows(page)
    best = payload["summary"]["best_trial"]
    assert rows[0][0] == str(best)
    losses = [float(r[2]) for r in rows]
    assert losses == sorted(losses)
    page.click("#trials th[data-col=loss]")  # descending; trials without a loss still last
    worst = max(x for x in payload["trials"]["loss"] if x is not None)
    assert float(_rows(page)[0][2]) == pytest.approx(worst, rel=1e-5)

    fails = payload["summary"]["counts"]["fail"]
    page.select_option("#state-filter", "fail")
    assert page.text_content("#trial-count") == f"{fails} of {n} trials"
    assert page.text_content("#page-info") == f"page 1 of {math.ceil(fails / 50)}"
    assert {r[1] for r in _rows(page)} == {"fail"}
    assert all(r[-1] == "ValueError: lr too large" for r in _rows(page))
    page.screenshot(path=str(artifacts / "report-100k-failed.png"))
    page.select_option("#state-filter", "all")
    assert page.text_content("#trial-count") == f"{n} trials"
    assert watched.problems() == []


MARKUP = st.sampled_from(
    [
        "<img src=x onerror=alert(1)>",
        "<script>alert(2)</script>",
        "</script><script>alert(3)</script>",
        "<svg onload=alert(4)>",
        '"><img src=x onerror=alert(5)>',
        "<!--",
        "&lt;img&gt;",
        "\u2028\u2029",
        "javascript:alert(6)",
    ]
)
HOSTILE_TEXT = st.builds(
    lambda a, b: a + b, MARKUP, st.text(st.characters(codec="utf-8"), max_size=12)
)


@pytest.mark.timeout(120)
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    name=HOSTILE_TEXT, option=HOSTILE_TEXT, key=HOSTILE_TEXT, value=HOSTILE_TEXT, error=HOSTILE_TEXT
)
def test_any_string_anywhere_stays_text(
    watched: Watched, name: str, option: str, key: str, value: str, error: str
) -> None:
    payload = study_payload(12, name=name)
    payload["params"][2]["options"] = [option, "b", "c"]
    cols = payload["trials"]
    cols["metrics"][key] = [value] * 12
    cols["state"][0], cols["loss"][0], cols["error"][0] = "fail", None, error
    cols["params"]["m"][1] = 0
    page = watched.page
    page.set_content(render_report(json.dumps(wire(payload), ensure_ascii=False), written=0.0))
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    assert page.text_content("h1") == name
    text = page.text_content("main") or ""
    for shown in (option, key, value, error.splitlines()[0] if error.strip() else ""):
        assert shown in text
    assert page.eval_on_selector_all("img", "(e) => e.length") == 0
    assert page.eval_on_selector_all("script", "(e) => e.length") == 3  # the report's own
    assert watched.dialogs == []
    assert watched.page_errors == []
