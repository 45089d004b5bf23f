"""The dashboard at scale: first render of a big study in Chromium, incremental updates, and
what a dashboard that watches a search costs the search.

    .venv/bin/python benchmarks/dashboard.py [--sizes 1000,10000,100000] [--search-trials 20000]
        [--repeats 2] [--concurrency 8]

Needs the ``dashboard`` extra, playwright and Chromium (``apt-get install chromium``). Three
measurements, each through a real ``asynchpo dashboard`` process and a real headless Chromium:

1. **First render.** A study of N trials (4 parameters: a log-uniform, a choice, a quantized
   and a uniform one; 90% ok, 5% failed with a traceback, 5% pruned after 10 reports) is
   written to a SQLite file; the server is started and has read it. Measured: from
   ``page.goto`` of the study page until the page says every chart and the table are drawn
   (``body[data-ready]``), and the bytes the page received (as sent, compressed, and as JSON).
   A second number, "cold", is the first visit right after the server started, reading the
   study included.
2. **Incremental update.** With the page open on the N-trial study, 100 (then 1,000) trials are
   added by another connection. Measured: the bytes of the ``/api/changes`` answers that brought
   them, and the time until the page shows them (summary total and cursor): the cost must follow
   the new trials, not the study.
3. **A search with the dashboard open.** ``fmin`` with a no-op objective, random search,
   ``--concurrency`` in flight, ``--search-trials`` trials on SQLite: trials per second without
   any reader, and with the dashboard's page open on the study the search writes (polling every
   second, redrawing every chart). Runs alternate (without, with, without, with, ...); the
   median of each is reported with their ratio. The target: within 5%.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from _common import format_table

from asynchpo import STATUS_OK, Trial, TrialState, fmin, hp, open_study, rand
from asynchpo._storage import SqliteStorage

T = TypeVar("T")
SPACE = {
    "lr": hp.loguniform("lr", math.log(1e-5), math.log(1e-1)),
    "optimizer": hp.choice("optimizer", ["sgd", "adam", "rmsprop"]),
    "width": hp.quniform("width", 16, 512, 16),
    "dropout": hp.uniform("dropout", 0.0, 0.6),
}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Whether the study page's header counts ``n`` trials (a function: the page's policy forbids
# evaluating strings).
SHOWS_TOTAL = """(n) => {
  const dd = Array.from(document.querySelectorAll('.facts dt'))
    .find((dt) => dt.textContent === 'trials');
  return !!dd && Number(dd.nextElementSibling.textContent.split(' ')[0]) >= n;
}"""
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "train.py", line 41, in train\n'
    "    raise ValueError(f'diverged at step {step}')\n"
    "ValueError: diverged at step 12\n"
)


def in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to its end in a thread of its own: Playwright's sync API keeps an
    event loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def records(first: int, count: int, seed: int, now: float) -> list[Trial]:
    """``count`` finished trials from id ``first``: 90% ok, 5% failed, 5% pruned."""
    rng = np.random.default_rng(seed)
    out = []
    for tid in range(first, first + count):
        lr = float(math.exp(rng.uniform(math.log(1e-5), math.log(1e-1))))
        params: dict[str, Any] = {
            "lr": lr,
            "optimizer": int(rng.integers(3)),
            "width": float(16 * rng.integers(1, 33)),
            "dropout": float(rng.uniform(0, 0.6)),
        }
        loss = (math.log10(lr) + 3) ** 2 + params["dropout"] + rng.normal(0, 0.1)
        started = now - 60 + tid * 0.001
        draw = rng.uniform()
        common: dict[str, Any] = {
            "id": tid,
            "params": params,
            "created": started,
            "started": started,
            "finished": started + 0.5,
            "slot": tid % 8,
        }
        if draw < 0.05:
            out.append(Trial(state=TrialState.FAIL, error=TRACEBACK, **common))
        elif draw < 0.10:
            reports = tuple((step, loss + 1 / (step + 1)) for step in range(10))
            out.append(
                Trial(
                    state=TrialState.PRUNED,
                    loss=reports[-1][1],
                    result={"loss": reports[-1][1], "status": "pruned", "step": 9},
                    reports=reports,
                    **common,
                )
            )
        else:
            result = {"loss": loss, "status": STATUS_OK, "accuracy": 1 / (1 + abs(loss))}
            out.append(Trial(state=TrialState.OK, loss=loss, result=result, **common))
    return out


async def make_study(path: Path, name: str, size: int) -> None:
    async with open_study(path, name, space=SPACE, algo=rand.suggest, seed=0):
        pass
    await add_trials(path, name, 0, size)


async def add_trials(path: Path, name: str, first: int, count: int) -> None:
    store = await SqliteStorage.open(path)
    try:
        study = await store.get_study(name)
        batch = 5000
        for at in range(first, first + count, batch):
            chunk = records(at, min(batch, first + count - at), seed=at, now=time.time())
            await store.write(study.id, chunk)
    finally:
        await store.aclose()


@contextmanager
def server(path: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "asynchpo", "dashboard", str(path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if " at " not in line:
            raise RuntimeError(f"the dashboard did not start: {line}{process.communicate()[1]}")
        yield line.split(" at ", 1)[1].split(" ", 1)[0]
    finally:
        process.terminate()
        process.wait(timeout=30)


class Traffic:
    """What a page received: bytes as sent (encoded) and as decoded, by URL path."""

    def __init__(self, page: Any) -> None:
        self.sent: list[tuple[str, int]] = []
        self.decoded: list[tuple[str, int]] = []
        page.on("requestfinished", self._finished)

    def _finished(self, request: Any) -> None:
        try:
            sizes = request.sizes()
            response = request.response()
            body = len(response.body()) if response is not None else 0
        except Exception:  # a page closing while a poll finishes
            return
        path = request.url.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]
        self.sent.append((path, sizes["responseBodySize"] + sizes["responseHeadersSize"]))
        self.decoded.append((path, body))

    def total(self, prefix: str = "") -> tuple[int, int]:
        sent = sum(size for path, size in self.sent if path.startswith(prefix))
        decoded = sum(size for path, size in self.decoded if path.startswith(prefix))
        return sent, decoded

    def clear(self) -> None:
        self.sent.clear()
        self.decoded.clear()


def render(browser: Any, url: str) -> tuple[float, Any, Traffic]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    traffic = Traffic(page)
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=120_000)
    return time.perf_counter() - start, page, traffic


def first_renders(browser: Any, sizes: list[int], folder: Path) -> list[list[str]]:
    rows = []
    for size in sizes:
        path = folder / f"study-{size}.sqlite"
        in_thread(make_study(path, "big", size))
        with server(path) as base:
            url = f"{base}study?name=big"
            cold, page, _ = render(browser, url)
            page.context.close()
            times = []
            for _ in range(3):
                seconds, page, traffic = render(browser, url)
                times.append(seconds)
                sent, decoded = traffic.total()
                page.context.close()
        rows.append(
            [
                f"{size:,}",
                f"{statistics.median(times):.2f}",
                f"{cold:.2f}",
                f"{sent / 1e6:.2f}",
                f"{decoded / 1e6:.2f}",
            ]
        )
        print(f"  {size:,} trials: first render {statistics.median(times):.2f} s", flush=True)
    return rows


def increments(browser: Any, size: int, folder: Path) -> list[list[str]]:
    path = folder / f"study-{size}.sqlite"
    if not path.exists():
        in_thread(make_study(path, "big", size))
    rows = []
    with server(path) as base:
        _, page, traffic = render(browser, f"{base}study?name=big")
        total = size
        for added in (100, 1000):
            traffic.clear()
            start = time.perf_counter()
            in_thread(add_trials(path, "big", total, added))
            total += added
            page.wait_for_function(SHOWS_TOTAL, arg=total, timeout=30_000)
            seen = time.perf_counter() - start
            page.wait_for_timeout(1500)  # the polls after: what an idle second costs too
            sent, decoded = traffic.total("api/changes")
            polls = sum(1 for path_, _ in traffic.sent if path_.startswith("api/changes"))
            rows.append(
                [
                    f"{added:,}",
                    f"{seen:.2f}",
                    str(polls),
                    f"{sent / 1e3:.1f}",
                    f"{decoded / 1e3:.1f}",
                    f"{decoded / added:.0f}",
                ]
            )
        page.context.close()
    return rows


async def search(path: Path, trials: int, concurrency: int) -> float:
    async def noop(params: dict[str, Any]) -> float:
        return float(params["dropout"])

    start = time.perf_counter()
    await fmin(
        noop,
        SPACE,
        algo=rand.suggest,
        max_evals=trials,
        concurrency=concurrency,
        storage=path,
        study="search",
        seed=1,
        show_progressbar=False,
    )
    return (trials - 1) / (time.perf_counter() - start)


def throughput(
    browser: Any, trials: int, repeats: int, concurrency: int, folder: Path
) -> list[list[str]]:
    rates: dict[bool, list[float]] = {False: [], True: []}
    for repeat in range(repeats):
        for watched in (False, True):
            path = folder / f"search-{repeat}-{watched}.sqlite"
            in_thread(search(path, 1, concurrency))  # the study exists for the page
            if watched:
                with server(path) as base:
                    _, page, _ = render(browser, f"{base}study?name=search")
                    rate = in_thread(search(path, trials, concurrency))
                    page.wait_for_function(SHOWS_TOTAL, arg=trials, timeout=30_000)
                    page.context.close()
            else:
                rate = in_thread(search(path, trials, concurrency))
            rates[watched].append(rate)
            label = "with the dashboard" if watched else "alone"
            print(f"  search {label}: {rate:,.0f} trials/s", flush=True)
    alone = statistics.median(rates[False])
    watched_rate = statistics.median(rates[True])
    return [
        ["alone", f"{alone:,.0f}", " ".join(f"{r:,.0f}" for r in rates[False]), ""],
        [
            "dashboard open",
            f"{watched_rate:,.0f}",
            " ".join(f"{r:,.0f}" for r in rates[True]),
            f"{watched_rate / alone:.3f}",
        ],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--search-trials", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        folder = Path(tmp)
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            print("first render of the study page", flush=True)
            first = first_renders(browser, sizes, folder)
            print(f"incremental updates on the {sizes[-1]:,}-trial study", flush=True)
            steps = increments(browser, sizes[-1], folder)
            print("a search writing at full speed", flush=True)
            rates = throughput(browser, args.search_trials, args.repeats, args.concurrency, folder)
        except Exception:
            traceback.print_exc()
            raise
        finally:
            browser.close()
    print()
    print("First render of the study page (median of 3 visits; cold: first visit after start)")
    print(
        format_table(
            ["trials", "render s", "cold s", "sent MB", "JSON MB"],
            first,
        )
    )
    print()
    print(f"Incremental updates with the page open on {sizes[-1]:,} trials")
    print(
        format_table(
            ["new trials", "shown after s", "polls", "sent kB", "JSON kB", "JSON B/trial"],
            steps,
        )
    )
    print()
    print(
        f"fmin, no-op objective, rand, concurrency {args.concurrency}, "
        f"{args.search_trials:,} trials on SQLite"
    )
    print(format_table(["search", "trials/s (median)", "runs", "ratio"], rates))


if __name__ == "__main__":
    main()
