"""Helpers shared by the TPE benchmarks: the methods, option lists, statistics and tables.

Method names used by every script:

* ``asynchpo-tpe``: ``asynchpo.tpe.suggest``, present when ``asynchpo.tpe`` imports;
* ``asynchpo-anneal``: ``asynchpo.anneal.suggest``;
* ``random``: ``asynchpo.rand.suggest``;
* ``hyperopt-tpe``: ``hyperopt.tpe.suggest``, when hyperopt is installed;
* ``optuna-tpe``: Optuna's ``TPESampler`` with its defaults, when Optuna is installed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import importlib
import importlib.util
import json
import logging
import sys
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from asynchpo import anneal, rand
from asynchpo._suggesters._base import FloatArray, Suggester

__all__ = [
    "ASYNCHPO_TPE",
    "asynchpo_suggesters",
    "asynchpo_tpe",
    "format_table",
    "installed",
    "mean_ranks",
    "number",
    "params_key",
    "progress",
    "quartiles",
    "run_in_pool",
    "select_methods",
    "silence_libraries",
    "write_json",
]

ASYNCHPO_TPE = "asynchpo-tpe"


@functools.cache
def asynchpo_tpe() -> Callable[..., FloatArray] | None:
    """``asynchpo.tpe.suggest``, or None while that module is missing or does not import."""
    try:
        module = importlib.import_module("asynchpo.tpe")
    except ModuleNotFoundError as exc:
        if exc.name != "asynchpo.tpe":
            print(f"warning: asynchpo.tpe does not import: {exc}", file=sys.stderr)
        return None
    except Exception as exc:  # a module being written may be broken; run without it
        print(f"warning: asynchpo.tpe does not import: {exc!r}", file=sys.stderr)
        return None
    return cast(Callable[..., FloatArray], module.suggest)


def asynchpo_suggesters() -> dict[str, Suggester]:
    """The asynchpo algorithms that import, by method name."""
    methods: dict[str, Suggester] = {}
    tpe = asynchpo_tpe()
    if tpe is not None:
        methods[ASYNCHPO_TPE] = tpe
    methods["asynchpo-anneal"] = anneal.suggest
    methods["random"] = rand.suggest
    return methods


def installed(module: str) -> bool:
    """Whether a top-level module can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


def select_methods(
    requested: str | None, known: Sequence[str], available: Sequence[str]
) -> list[str]:
    """The methods named in a comma-separated ``--methods`` value; all available ones for None.

    :raises SystemExit: for an unknown method, or one that cannot run here.
    """
    if requested is None:
        return [m for m in known if m in available]
    chosen = [m.strip() for m in requested.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in known]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown}; choose among {list(known)}")
    missing = [m for m in chosen if m not in available]
    if missing:
        raise SystemExit(
            f"method(s) {missing} cannot run here (not importable); available: {list(available)}"
        )
    return chosen


def silence_libraries() -> None:
    """Quiet Optuna's and hyperopt's logging and warnings (call in every worker process)."""
    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="hyperopt")
    warnings.filterwarnings("ignore", module="optuna")
    if installed("optuna"):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """The 25th, 50th and 75th percentiles."""
    q25, q50, q75 = np.percentile(np.asarray(values, dtype=np.float64), [25, 50, 75])
    return float(q25), float(q50), float(q75)


def _average_ranks(values: Sequence[float]) -> list[float]:
    """Rank 1 for the smallest value; tied values share the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def mean_ranks(best: Mapping[str, Mapping[int, float]]) -> dict[str, float]:
    """Each method's rank among the methods, per seed, averaged over the seeds all of them ran.

    :param best: method -> seed -> best loss.
    """
    methods = list(best)
    seeds = sorted(set.intersection(*(set(best[m]) for m in methods))) if methods else []
    totals = dict.fromkeys(methods, 0.0)
    for seed in seeds:
        for method, rank in zip(
            methods, _average_ranks([best[m][seed] for m in methods]), strict=True
        ):
            totals[method] += rank
    return {m: totals[m] / len(seeds) if seeds else float("nan") for m in methods}


def number(x: float, digits: int = 6) -> str:
    """A float for a table: ``digits`` significant digits, ``-`` for NaN."""
    return "-" if x != x else f"{x:.{digits}g}"


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    left: Collection[int] = (0,),
    indent: str = "  ",
) -> str:
    """A plain-text table: the columns in ``left`` left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return indent + "  ".join(parts).rstrip()

    rule = indent + "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def _jsonable(value: object) -> object:
    """numpy scalars and arrays as plain Python values for ``json.dump``."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_json(path: Path, payload: Any) -> None:
    """Write raw results as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as file:
        json.dump(payload, file, indent=1, default=_jsonable)
        file.write("\n")


def params_key(params: object) -> str:
    """A canonical text of evaluated parameters: equal parameters give equal keys."""
    return json.dumps(params, sort_keys=True, default=_jsonable)


def progress(text: str) -> None:
    """One progress line on stderr."""
    print(text, file=sys.stderr, flush=True)


def add_run_arguments(
    parser: argparse.ArgumentParser, methods: Sequence[str], default_seeds: int
) -> None:
    """The options the quality and parallel benchmarks share."""
    parser.add_argument(
        "--seeds", type=int, default=default_seeds, help=f"seeds 0 to N-1 (default {default_seeds})"
    )
    parser.add_argument("--methods", help=f"comma-separated, among {', '.join(methods)}")
    parser.add_argument("--problems", help="comma-separated problem names (default: all)")
    parser.add_argument("--evals", type=int, help="evaluations per run (default: each budget)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--json", type=Path, help="save every run's results to this file")


Job = TypeVar("Job")
Outcome = TypeVar("Outcome")


def run_in_pool(
    jobs: Sequence[Job],
    workers: int,
    run: Callable[[Job], Outcome],
    describe: Callable[[Job], str],
    summarize: Callable[[Outcome], str],
) -> list[Outcome]:
    """``run(job)`` for every job on a pool of ``workers`` processes, in completion order.

    Each job is reported on stderr as it finishes: ``describe(job)``, then
    ``summarize(outcome)``, or the exception of a job that failed (it is left out).
    ``run`` must be a top-level function (it is pickled to the pool).
    """
    outcomes: list[Outcome] = []
    width = len(str(len(jobs)))
    with concurrent.futures.ProcessPoolExecutor(workers, initializer=silence_libraries) as pool:
        futures = {pool.submit(run, job): job for job in jobs}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            where = f"[{done:>{width}}/{len(jobs)}] {describe(futures[future])}"
            try:
                outcome = future.result()
            except Exception as exc:
                progress(f"{where}: FAILED {exc!r}")
                continue
            outcomes.append(outcome)
            progress(f"{where}: {summarize(outcome)}")
    return outcomes
