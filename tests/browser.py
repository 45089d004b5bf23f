"""Browser tests' shared pieces: Chromium through Playwright, a page that records what went
wrong, where screenshots go, and study payloads built to the dashboard spec.

Playwright's own browser download is not reachable here, so the tests drive the system's
Chromium (Debian's ``chromium`` package) via ``executable_path``. When it or playwright is
missing the browser tests are skipped, saying how to enable them; under CI (``CI=true``) they
fail instead, so a CI run never passes without having run them.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Every chart of a page: its name, the points it says it drew, how many pixels of its canvases
# have ink, and the tick labels it drew (data-x-ticks, data-y-ticks, data-axes).
CHARTS_JS = """() => Array.from(document.querySelectorAll('.chart')).map((el) => {
  let inked = 0;
  for (const canvas of el.querySelectorAll('canvas')) {
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
  }
  return {name: el.dataset.chart, points: Number(el.dataset.points), inked,
          canvases: el.querySelectorAll('canvas').length,
          x: el.dataset.xTicks ?? null, y: el.dataset.yTicks ?? null,
          axes: el.dataset.axes ?? null};
})"""

HOW_TO_ENABLE = (
    "the browser tests need Chromium and playwright: `apt-get install chromium` and "
    "`pip install playwright` (no `playwright install` needed: the system Chromium is used)"
)


def chromium_path() -> str | None:
    """The system Chromium, if there is one."""
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI=true: the browser tests must run); {HOW_TO_ENABLE}", pytrace=False)
    pytest.skip(f"{why}; {HOW_TO_ENABLE}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (playwright's sync API)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    executable = chromium_path()
    if executable is None:
        _missing("Chromium is not installed")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watched:
    """A page and what it said: console errors, page errors, dialogs."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return self.console_errors + self.page_errors + [f"dialog: {d}" for d in self.dialogs]


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    """A fresh page (1280x900) in its own context that records errors and dialogs."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen = Watched(page)
    page.on(
        "console",
        lambda msg: seen.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: seen.page_errors.append(str(exc)))

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield seen
    finally:
        context.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: ``$ASYNCHPO_ARTIFACTS`` when set, else the test's tmp_path."""
    folder = os.environ.get("ASYNCHPO_ARTIFACTS")
    out = Path(folder) if folder else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    return out


# ---------------------------------------------------------------- payloads, to the spec

START = 1_764_480_000.0

PARAMS: list[dict[str, Any]] = [
    {"label": "lr", "kind": "loguniform", "log": True, "options": None},
    {"label": "n", "kind": "quniform", "log": False, "options": None},
    {"label": "m", "kind": "choice", "log": False, "options": ['{"k": "a"}', "b", "3"]},
    {"label": "depth", "kind": "randint", "log": False, "options": None},
]


def _lcg(seed: int) -> Iterator[float]:
    """Deterministic uniforms in [0, 1), cheap enough for 100,000 trials."""
    state = seed & 0xFFFFFFFF
    while True:
        state = (1664525 * state + 1013904223) & 0xFFFFFFFF
        yield state / 2**32


def study_payload(
    n: int,
    *,
    name: str = "exp1",
    params: list[dict[str, Any]] | None = None,
    curves: int = 30,
    seed: int = 1,
) -> dict[str, Any]:
    """A study payload (the ``/api/study`` form) of ``n`` trials over ``PARAMS``: mostly ok,
    some failed, pruned (with learning curves), running and queued; ``depth`` is active only
    when ``m`` is option 1 (a conditional label)."""
    params = copy.deepcopy(PARAMS if params is None else params)
    rnd = _lcg(seed)
    ids = list(range(n))
    state: list[str] = []
    loss: list[float | None] = []
    created: list[float] = []
    started: list[float | None] = []
    finished: list[float | None] = []
    error: list[str | None] = []
    reports: list[int] = []
    cols: dict[str, list[Any]] = {p["label"]: [] for p in params}
    accuracy: list[Any] = []
    logs: list[Any] = []
    for i in ids:
        lr = math.exp(-9 + 8 * next(rnd))
        m = int(next(rnd) * 3)
        nn = float(round(next(rnd) * 20) * 5)
        depth = int(next(rnd) * 10) if m == 1 else None
        values = {"lr": lr, "n": nn, "m": m, "depth": depth}
        for p in params:
            cols[p["label"]].append(values.get(p["label"], next(rnd)))
        t0 = START + i * 2.0
        created.append(t0)
        u = next(rnd)
        base = (math.log(lr) + 5) ** 2 / 10 + (0.3 if m == 2 else 0.0) + nn / 400 + 0.2 * next(rnd)
        if i >= n - 3 and n > 10:
            st = "running" if i < n - 1 else "queued"
        elif u < 0.05:
            st = "fail"
        elif u < 0.12:
            st = "pruned"
        else:
            st = "ok"
        state.append(st)
        started.append(None if st == "queued" else t0 + 0.5)
        finished.append(t0 + 1.0 + 3 * next(rnd) if st in ("ok", "fail", "pruned") else None)
        loss.append(
            round(base + (0.4 if st == "pruned" else 0.0), 6) if st in ("ok", "pruned") else None
        )
        error.append("ValueError: lr too large\nTraceback line 2" if st == "fail" else None)
        reports.append(10 if st == "pruned" else 0)
        accuracy.append(round(1 / (1 + base), 4) if st == "ok" else None)
        logs.append(f"/runs/trial-{i}.log" if i % 10 == 0 else None)
    curve_map: dict[str, list[list[float]]] = {}
    reporting = [i for i in ids if state[i] in ("ok", "pruned")][:curves]
    for i in reporting:
        final = loss[i] or 1.0
        steps = 5 if state[i] == "pruned" else 12
        curve_map[str(i)] = [
            [s, round(final + 1.5 / (s + 1) - (0.1 if state[i] == "ok" else 0.0), 5)]
            for s in range(steps)
        ]
        reports[i] = steps
    counts = {
        s: state.count(s) for s in ("queued", "running", "ok", "fail", "interrupted", "pruned")
    }
    ok = [(loss[i], i) for i in ids if state[i] == "ok" and loss[i] is not None]
    best_loss, best_trial = min(ok) if ok else (None, None)
    summary = {
        "name": name,
        "algo": "tpe",
        "created": START,
        "last_activity": START + 2.0 * n,
        "counts": counts,
        "total": n,
        "best_loss": best_loss,
        "best_trial": best_trial,
        "live": counts["running"],
        "stale": 0,
        "stale_seen": None,
        "drivers": [
            {
                "id": 1,
                "host": "box",
                "pid": 4242,
                "running": counts["running"],
                "started": START,
                "seen": START + 2.0 * n,
            }
        ],
    }
    return {
        "name": name,
        "storage": "/abs/path/runs.sqlite",
        "algo": "tpe",
        "seed": 123,
        "created": START,
        "params": params,
        "summary": summary,
        "cursor": n,
        "trials": {
            "id": ids,
            "state": state,
            "loss": loss,
            "created": created,
            "started": started,
            "finished": finished,
            "params": cols,
            "metrics": {"accuracy": accuracy, "log": logs},
            "error": error,
            "reports": reports,
        },
        "curves": {"trials": curve_map, "max": 500},
    }


def wire(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` (trials as one list per field, easy for a test to change) with its trials
    as the server sends them: ``{"t0", "labels", "rows"}``, one row per trial."""
    cols = payload["trials"]
    labels = list(cols["params"])
    t0 = payload["created"]

    def since(moment: float | None) -> float | None:
        return None if moment is None else round(moment - t0, 3)

    rows = []
    for i, tid in enumerate(cols["id"]):
        metrics = {
            key: values[i] for key, values in cols["metrics"].items() if values[i] is not None
        }
        rows.append(
            [
                tid,
                cols["state"][i],
                cols["loss"][i],
                since(cols["started"][i]),
                since(cols["finished"][i]),
                [cols["params"][label][i] for label in labels],
                metrics or None,
                cols["error"][i],
                cols["reports"][i],
            ]
        )
    return {**payload, "trials": {"t0": t0, "labels": labels, "rows": rows}}
