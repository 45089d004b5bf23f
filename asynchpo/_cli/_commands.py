"""The ``asynchpo`` argument parser and its subcommands: ``run``, ``studies``, ``show``,
``trials``, ``plot`` and ``dashboard``; :func:`main` maps errors to one line and an exit code.

A storage argument is a SQLite file (a path, or ``sqlite:///x.db``) or a PostgreSQL database
(``postgresql://user:password@host:5432/database``): every line printed names it through
:func:`shown`, its password as ``***``."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import anyio

import asynchpo
from asynchpo import (
    AllTrialsFailed,
    AsynchpoError,
    Command,
    ConfigError,
    SpaceError,
    StorageError,
    StudyError,
    StudyMismatch,
    StudyNotFound,
    Trials,
    anneal,
    fmin,
    fmin_sync,
    is_postgres_url,
    json_safe,
    list_studies,
    load_trials,
    mask_url,
    open_study,
    pruners,
    rand,
    space_eval,
    tpe,
)
from asynchpo._cli._render import (
    StoredStudy,
    TrialPrinter,
    first_line,
    number,
    print_show,
    print_studies,
    print_trials,
)
from asynchpo._cli._spaces import SPACE_HELP, load_space

__all__ = ["UsageError", "build_parser", "main"]

PROG = "asynchpo"

# The exit code of a run stopped by SIGTERM (fmin raises SystemExit with it): 128 + 15.
_TERMINATED = 143

# The lease fmin takes by default, shown in --help and passed on as given.
_DEFAULT_LEASE: float = inspect.signature(fmin).parameters["lease_seconds"].default

_ALGOS: dict[str, Callable[..., Any]] = {
    "tpe": tpe.suggest,
    "rand": rand.suggest,
    "anneal": anneal.suggest,
}


class UsageError(Exception):
    """A mistake in how the command was called: reported in one line, exit code 2."""


class _Failed(Exception):
    """The command failed (e.g. the database cannot be reached): one line, exit code 1."""


_URL_FORM = "postgresql://user:password@host:5432/database"


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as one line instead of usage text and an exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _slot_env(values: Sequence[str]) -> dict[str, list[str]] | None:
    if not values:
        return None
    out: dict[str, list[str]] = {}
    for item in values:
        name, equals, rest = item.partition("=")
        if not equals or not name:
            raise UsageError(f"--slot-env {item!r}: write VAR=v0,v1,... (one value per slot)")
        out[name] = rest.split(",")
    return out


async def _config_of(storage: str, study: str) -> tuple[str, tuple[str, ...]]:
    async with open_study(storage, study) as stored:
        return stored.config.algo, stored.directions


def _stored_config(storage: str, study: str) -> tuple[str | None, tuple[str, ...] | None]:
    """The algorithm an existing study was created with, if it is one the CLI knows, and its
    directions; ``(None, None)`` for a new study."""
    try:
        algo, directions = anyio.run(_config_of, storage, study)
    except AsynchpoError:  # no file, no such study, not a study file: fmin tells
        return None, None
    return (algo if algo in _ALGOS else None), directions


def _directions(
    args: argparse.Namespace, stored: tuple[str, ...] | None
) -> tuple[list[str] | None, str | None]:
    """``fmin``'s ``directions`` and ``direction`` from ``--directions`` / ``--direction``;
    neither given: the stored study's (so that resuming needs no flag), else one minimised."""
    if args.directions is not None and args.direction is not None:
        raise UsageError(
            "give --direction (one objective) or --directions (one per objective), not both"
        )
    if args.directions is not None:
        if len(args.directions) == 1:
            return None, args.directions[0]
        return list(args.directions), None
    if args.direction is not None:
        return None, args.direction
    if stored is not None and len(stored) > 1:
        return list(stored), None
    if stored is not None:
        return None, stored[0]
    return None, None


def _cmd_run(args: argparse.Namespace, command: list[str]) -> int:
    if not command:
        raise UsageError(
            "run needs the program to evaluate after --, e.g. -- python train.py --lr {lr}"
        )
    space = load_space(args.space)
    points = _points(args.points) if args.points else None
    stored_algo, stored_directions = _stored_config(args.storage, args.study)
    algo = args.algo or stored_algo or "tpe"
    directions, direction = _directions(args, stored_directions)
    several = directions is not None
    objective = Command(command, timeout=args.trial_timeout)
    trials = Trials()
    printer = TrialPrinter(space) if args.verbose else None
    try:
        best = fmin_sync(
            objective,
            space,
            algo=_ALGOS[algo],
            max_evals=args.max_evals,
            timeout=args.timeout,
            loss_threshold=args.loss_threshold,
            trials=trials,
            seed=args.seed,
            concurrency=args.concurrency,
            storage=args.storage,
            study=args.study,
            catch_eval_exceptions=True,
            slot_env=_slot_env(args.slot_env),
            retries=args.retries,
            pruner=_pruner(args),
            # The flag forces it; by default fmin draws it when stderr is a terminal.
            show_progressbar=True if args.progress else None,
            return_argmin=True,
            lease_seconds=args.lease_seconds,
            points_to_evaluate=points,
            log_dir=args.log_dir,
            early_stop_fn=printer,
            directions=directions,
            direction=direction,
        )
    except KeyboardInterrupt:  # first: fmin's Ctrl-C error is also a SystemExit
        if printer is not None:
            printer.rest(trials)
        print(
            f"{PROG}: interrupted; the trials in flight were recorded as interrupted, run the "
            "same command again to resume",
            file=sys.stderr,
        )
        return 130
    except SystemExit as exc:
        if printer is not None:
            printer.rest(trials)
        if exc.code != _TERMINATED:
            raise
        print(
            f"{PROG}: terminated (SIGTERM); the trials in flight were recorded as interrupted, "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return _TERMINATED
    except AllTrialsFailed:
        if printer is not None:
            printer.rest(trials)
        return _fail(
            f"no trial of study {args.study!r} succeeded ({len(trials.records)} trials); see "
            f"the errors with: {PROG} trials {mask_url(args.storage)} {args.study}",
            1,
        )
    if printer is not None:
        printer.rest(trials)
    if several:
        _print_front(args.study, space, trials, best)
        return 0
    best_trial = trials.best_trial  # hyperopt's document of it
    values = space_eval(space, best)
    print(
        f"study {args.study!r}: {len(trials.records)} trials, best is trial "
        f"{best_trial['tid']} with loss {number(best_trial['result']['loss'])}"
    )
    print(json.dumps(json_safe(values), sort_keys=True))
    return 0


def _print_front(study: str, space: object, trials: Trials, points: list[Any]) -> None:
    """The end of a run with several objectives: the size of the Pareto front, then a JSON
    line per trial of the front (its id, its values, its parameters' values), by id."""
    front = trials.best_trials
    feasible = "" if not any("constraints" in doc["result"] for doc in front) else " feasible"
    print(
        f"study {study!r}: {len(trials.records)} trials, Pareto front of {len(front)}"
        f"{feasible} trial{'' if len(front) == 1 else 's'}"
    )
    for doc, point in zip(front, points, strict=True):
        line = {"trial": doc["tid"], "loss": doc["result"]["loss"]}
        print(json.dumps(json_safe({**line, "params": space_eval(space, point)}), sort_keys=True))


def _points(path: str) -> list[dict[str, object]]:
    """``--points FILE``: a JSON list of points, as fmin's ``points_to_evaluate``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read --points {path!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"--points {path!r} is not valid JSON: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(point, dict) for point in data):
        raise UsageError(
            f'--points {path!r} must hold a JSON list of objects such as [{{"lr": 0.01, '
            '"layers": 1}]: label -> value, the option index for a choice'
        )
    return data


def _pruner(args: argparse.Namespace) -> pruners.Pruner | None:
    asha_options = {
        "min_resource": args.min_resource,
        "reduction_factor": args.reduction_factor,
        "max_resource": args.max_resource,
    }
    given = [f"--{name.replace('_', '-')}" for name, value in asha_options.items() if value]
    if args.pruner != "asha" and given:
        raise UsageError(f"{', '.join(given)} only apply to --pruner asha")
    if args.pruner == "asha":
        return pruners.SuccessiveHalvingPruner(
            **{name: value for name, value in asha_options.items() if value is not None}
        )
    if args.pruner == "median":
        return pruners.MedianPruner(
            n_startup_trials=args.startup_trials, n_warmup_steps=args.warmup_steps
        )
    if args.startup_trials != 5 or args.warmup_steps:
        raise UsageError("--startup-trials and --warmup-steps only apply to --pruner median")
    return None


async def _read_study(storage: str, name: str) -> StoredStudy:
    # open_study without a space reads: it creates no file and registers no driver.
    try:
        async with open_study(storage, name) as study:
            drivers = {driver.id: driver for driver in await study.drivers()}
            return StoredStudy(study, study.trials, study.summary(), drivers, time.time())
    except StudyNotFound as exc:
        raise await _with_studies(exc, storage, name) from None


async def _report(storage: str, name: str, where: str) -> str:
    from asynchpo.dashboard import report_html

    try:
        async with open_study(storage, name) as study:
            return report_html(study, storage=where)
    except StudyNotFound as exc:
        raise await _with_studies(exc, storage, name) from None


async def _load_trials(storage: str, name: str) -> Trials:
    try:
        return await load_trials(storage, name)
    except StudyNotFound as exc:
        raise await _with_studies(exc, storage, name) from None


async def _with_studies(exc: StudyNotFound, storage: str, name: str) -> Exception:
    """The error for an unknown study, naming the studies the file holds."""
    try:
        names = [summary.name for summary in await list_studies(storage)]
    except AsynchpoError:  # no file, not a study file: the error says so
        return exc
    held = (
        f"the studies it holds: {', '.join(repr(n) for n in names)}"
        if names
        else "it holds no study yet"
    )
    return UsageError(f"there is no study called {name!r} in {mask_url(storage)}; {held}")


def _cmd_studies(args: argparse.Namespace) -> int:
    print_studies(anyio.run(list_studies, args.storage), mask_url(args.storage), args.format)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    print_show(anyio.run(_read_study, args.storage, args.study), args.format)
    return 0


def _cmd_trials(args: argparse.Namespace) -> int:
    print_trials(anyio.run(_read_study, args.storage, args.study), args.format)
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.suffix.lower() not in (".png", ".svg", ".pdf", ".html", ".htm"):
        raise UsageError(f"-o must name a .png, .svg, .pdf or .html file, got {args.output!r}")
    trials = anyio.run(_load_trials, args.storage, args.study)
    if args.curves and not any(trial.reports for trial in trials.records):
        return _fail(
            f"study {args.study!r} has no learning curves: none of its {len(trials)} trials "
            "reported a loss at a step (an objective reports with trial.report(step, loss))",
            2,
        )
    if output.suffix.lower() in (".html", ".htm"):
        # The dashboard's study page in one file: every chart, the curves among them.
        where = (
            mask_url(args.storage)
            if is_postgres_url(args.storage)
            else str(Path(args.storage).absolute())
        )
        page = anyio.run(_report, args.storage, args.study, where)
        output.write_text(page, encoding="utf-8")
        print(f"wrote {output}")
        return 0
    try:
        trials.plot(output, title=f"{args.study} ({mask_url(args.storage)})", curves=args.curves)
    except ImportError as exc:
        # A missing optional dependency is not a usage error: exit code 1, and the message
        # names the pip extra that installs it.
        if args.curves:
            # Without matplotlib, show still tells where the curves stopped.
            hint = (
                f"{PROG} show {mask_url(args.storage)} {args.study} summarizes the learning curves "
                "as text"
            )
            return _fail(f"{exc} ({hint})", 1)
        return _fail(str(exc), 1)
    print(f"wrote {output}")
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    try:
        from asynchpo.dashboard import serve
    except ImportError as exc:  # pragma: no cover - asynchpo.dashboard imports no extra
        return _fail(str(exc), 1)

    def ready(url: str) -> None:
        print(
            f"dashboard of {mask_url(args.storage)} at {url} (read-only; Ctrl-C stops it)",
            flush=True,
        )

    try:
        asyncio.run(
            serve(args.storage, host=args.host, port=args.port, log_dir=args.log_dir, ready=ready)
        )
    except ImportError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a server stops
    print("dashboard stopped", flush=True)
    return 0


def _port(text: str) -> int:
    """An argparse type: a TCP port number."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give 0 to 65535")
    return value


# --- the parser -------------------------------------------------------------------------------


def _whole(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value

    return parse


def _direction(text: str) -> str:
    """An argparse type: ``minimize`` or ``maximize`` (any case)."""
    if text.lower() in ("minimize", "maximize"):
        return text.lower()
    raise argparse.ArgumentTypeError(f"expected minimize or maximize, got {text!r}")


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _storage(text: str) -> str:
    """An argparse type: a PostgreSQL URL as it is; a SQLite file's path, or Optuna's URL form
    of one (``sqlite:///relative.db``, ``sqlite:////absolute.db``), as a path."""
    scheme, sep, rest = text.partition("://")
    if not sep or not scheme.replace("+", "").isalpha():
        return text
    if is_postgres_url(text):
        return text  # checked when it is opened, in one line, its password masked
    if scheme.lower() != "sqlite" or not rest.startswith("/") or rest in ("/", "/:memory:"):
        raise argparse.ArgumentTypeError(
            f"{mask_url(text)!r}: give a SQLite file, as a path or as sqlite:///relative.db or "
            f"sqlite:////absolute.db, or a PostgreSQL database as {_URL_FORM} (no other "
            "database URL is supported)"
        )
    return rest[1:]  # sqlite:///x.db -> x.db, sqlite:////tmp/x.db -> /tmp/x.db


_STORAGE_HELP = (
    "the storage: a SQLite file (a path, or sqlite:///relative.db, sqlite:////absolute.db), "
    f"or a PostgreSQL database ({_URL_FORM}; the password may come from PGPASSWORD or "
    "~/.pgpass instead, and is shown as ***)"
)


def _study_arguments(parser: argparse.ArgumentParser, *, study: bool = True) -> None:
    """The positional arguments of a command that reads a study: the storage, and its name."""
    parser.add_argument("storage", type=_storage, help=_STORAGE_HELP)
    if study:
        parser.add_argument("study", help="the study's name")


def _reader(commands: Any, name: str, text: str, *, study: bool = True) -> argparse.ArgumentParser:
    """A command that reads a storage: ``text`` is its help and, as a sentence, its
    description."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=text, description=f"{text[0].upper()}{text[1:]}."
    )
    _study_arguments(parser, study=study)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``asynchpo`` argument parser."""
    parser = _Parser(
        prog=PROG,
        description="Asynchronous hyperparameter search over a program, checkpointed to SQLite "
        "or PostgreSQL.",
        epilog="Exit codes: 0 ok, 1 the run failed, an optional dependency is missing or the "
        "PostgreSQL database cannot be used, 2 usage error, 130 interrupted (Ctrl-C), 143 "
        "terminated (SIGTERM).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {asynchpo.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="search: run a program once per trial",
        description="Run PROGRAM (after --) once per trial, with {label} placeholders "
        "replaced by the trial's values; the loss is the last number (or JSON object with "
        "'loss') it prints. The same command resumes the study. A failing trial is recorded "
        'and the search goes on. With --pruner, lines such as {"step": 3, "loss": 0.4} '
        "report progress, and unpromising trials are stopped early. Several run commands may "
        "drive one study at once. Ctrl-C (exit code 130) or SIGTERM (exit code 143) stops the "
        "run: the trials in flight are recorded as interrupted and run again on resume.",
        usage=f"{PROG} run --space SPACE --storage STORAGE --study NAME --max-evals N "
        "[options] -- PROGRAM [ARG ...]",
    )
    run.add_argument("--space", required=True, help=SPACE_HELP)
    run.add_argument(
        "--storage",
        required=True,
        type=_storage,
        help=f"{_STORAGE_HELP}; a SQLite file, or asynchpo's tables in the database, are "
        "created if missing",
    )
    run.add_argument("--study", required=True, help="the study's name in the storage")
    run.add_argument(
        "--max-evals",
        required=True,
        type=_whole(0),
        help="stop once the study has N finished trials (earlier runs included)",
    )
    run.add_argument(
        "--concurrency", type=_whole(1), default=1, help="trials in flight (default 1)"
    )
    run.add_argument(
        "--algo",
        choices=sorted(_ALGOS),
        help="the search algorithm (default: the study's, or tpe for a new study)",
    )
    run.add_argument("--seed", type=_whole(0), help="the study's seed (default: random)")
    run.add_argument(
        "--directions",
        nargs="+",
        type=_direction,
        metavar="DIRECTION",
        help="several objectives: minimize or maximize for each, e.g. --directions minimize "
        "maximize; the program then prints a JSON list of as many values ([0.1, 30]) or "
        '{"loss": [0.1, 30]}, optionally with "constraints": [c1, ...] (feasible when every '
        "one is <= 0). Default: the study's, or one minimised objective for a new study",
    )
    run.add_argument(
        "--direction",
        type=_direction,
        metavar="DIRECTION",
        help="one objective: minimize (the default) or maximize",
    )
    run.add_argument(
        "--trial-timeout", type=_seconds, help="seconds a trial may run before it is stopped"
    )
    run.add_argument(
        "--timeout",
        type=_seconds,
        help="stop the run after this many seconds (trials in flight are recorded as "
        "interrupted and run again on resume)",
    )
    run.add_argument(
        "--loss-threshold",
        type=_finite,
        metavar="LOSS",
        help="stop the run once a trial reaches a loss at or below LOSS (at or above with "
        "--direction maximize; one objective only)",
    )
    run.add_argument(
        "--points",
        metavar="FILE",
        help='a JSON list of points to evaluate first, e.g. [{"lr": 0.01, "layers": 0}] '
        "(label -> value; the option index for a choice, as fmin's points_to_evaluate)",
    )
    run.add_argument(
        "--log-dir",
        metavar="DIR",
        help="the folder of the trials' stdout and stderr logs (default: next to the SQLite "
        "file, or ./asynchpo-logs for PostgreSQL)",
    )
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print a line per finished trial: its state, loss, time, parameters and metrics",
    )
    run.add_argument(
        "--retries", type=_whole(0), default=0, help="run a crashed trial again up to K times"
    )
    run.add_argument(
        "--slot-env",
        action="append",
        default=[],
        metavar="VAR=v0,v1,...",
        help="an environment variable set per slot, e.g. CUDA_VISIBLE_DEVICES=0,1 (repeatable)",
    )
    run.add_argument(
        "--pruner",
        choices=["asha", "median"],
        help='stop unpromising trials early from the {"step": N, "loss": x} lines they '
        "print: asha (asynchronous successive halving) or median",
    )
    run.add_argument(
        "--min-resource", type=_whole(1), help="asha: the step of the first rung (default 1)"
    )
    run.add_argument(
        "--reduction-factor", type=_whole(2), help="asha: keep 1 trial in N at a rung (default 3)"
    )
    run.add_argument(
        "--max-resource", type=_whole(1), help="asha: the step at which trials end by themselves"
    )
    run.add_argument(
        "--startup-trials",
        type=_whole(0),
        default=5,
        help="median: prune nothing before this many trials completed (default 5)",
    )
    run.add_argument(
        "--warmup-steps",
        type=_whole(0),
        default=0,
        help="median: prune no trial before this step (default 0)",
    )
    run.add_argument(
        "--lease-seconds",
        type=_seconds,
        default=_DEFAULT_LEASE,
        metavar="S",
        help="several run commands may drive one study; each renews a lease on its trials "
        "every S/3 seconds, and the trials of one that stops renewing it for S seconds "
        f"(killed, suspended) run again elsewhere (default {_DEFAULT_LEASE:g})",
    )
    run.add_argument(
        "--progress",
        action="store_true",
        help="draw the progress line even when stderr is not a terminal (it is drawn on one)",
    )

    studies = _reader(
        commands,
        "studies",
        "list the studies in a storage: trials by state (running: by a live driver; "
        "stale: their driver is gone, they run again on the next start), live drivers, best "
        "loss, last activity",
        study=False,
    )
    studies.add_argument(
        "--format", choices=("table", "json"), default="table", help="default: table"
    )

    show = _reader(
        commands,
        "show",
        "summarize one study: its trials by state, where pruned trials stopped, the best "
        "trial with its values and metrics, the trials running now by driver (pid, host, when "
        "last seen), and stale ones whose driver is gone",
    )
    show.add_argument("--format", choices=("text", "json"), default="text", help="default: text")

    trials = commands.add_parser(
        "trials",
        help="every trial of a study: state, loss, times, parameters, metrics, error",
        description="List every trial of a study, one row each: id, state, loss (several "
        "objectives: loss[0], loss[1], ...; constraints: c[0], ... and feasible), started, "
        "finished, duration, reports and last_step, one column per parameter (a choice shows "
        "the option's value), one per metric the objective reported besides its loss (e.g. "
        "accuracy), and the error.",
    )
    _study_arguments(trials)
    trials.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="default: table; the reports column counts a trial's intermediate losses, and in "
        "json lists them as [step, loss] pairs; csv and json give times in ISO 8601",
    )
    dashboard = _reader(
        commands,
        "dashboard",
        "serve a live web page of every study in a storage: trials by state, best "
        "loss, drivers; per study the loss by trial and time, against each parameter, "
        "parallel coordinates, learning curves and the trial table, updated as runs write "
        "(the storage is only read)",
        study=False,
    )
    dashboard.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only; the page has no "
        "login, so any other address lets whoever reaches it read the studies)",
    )
    dashboard.add_argument(
        "--port", type=_port, default=8080, help="the port (default 8080; 0: a free one)"
    )
    dashboard.add_argument(
        "--log-dir",
        metavar="DIR",
        help="where the runs wrote their trials' logs, if they were given --log-dir "
        "(default: beside the SQLite file, or ./asynchpo-logs for PostgreSQL)",
    )
    plot = commands.add_parser(
        "plot",
        help="draw a study's report: loss per trial and per parameter, trials by slot, "
        "learning curves",
        description="Draw a study's report: the loss per trial (pruned trials apart) and "
        "against each parameter, the trials over time by slot and, when trials reported "
        "intermediate losses, their learning curves. With --curves, only the learning curves.",
    )
    _study_arguments(plot)
    plot.add_argument(
        "-o",
        "--output",
        required=True,
        help="report.png, report.svg or report.pdf (matplotlib), or report.html: the "
        "dashboard's study page in one file, with the data (opens without a server)",
    )
    plot.add_argument(
        "--curves",
        action="store_true",
        help="draw only the learning curves: loss against step for each trial that reported "
        "(pruned ones muted, the best in red)",
    )
    return parser


def _dispatch(argv: list[str]) -> int:
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1 :]
    parser = build_parser()
    if not argv and not command:
        parser.print_help()  # bare asynchpo: the help, as asked for (exit code 0)
        return 0
    args = parser.parse_args(argv)
    if getattr(args, "study", None) is not None:
        args.study = _study_argument(args.study)
    if args.command != "run" and command:
        raise UsageError(f"{args.command} takes no program after --")
    try:
        return _command(args, command)
    except StorageError as exc:
        if not is_postgres_url(args.storage):
            raise  # a missing or foreign file: a usage error (exit code 2)
        # The database: a bad URL, a server that cannot be reached or refuses, a lost
        # connection. The message names the URL with its password masked.
        raise _Failed(_one_line(str(exc))) from None


def _command(args: argparse.Namespace, command: list[str]) -> int:
    if args.command == "run":
        return _cmd_run(args, command)
    if args.command == "studies":
        return _cmd_studies(args)
    if args.command == "show":
        return _cmd_show(args)
    if args.command == "plot":
        return _cmd_plot(args)
    if args.command == "dashboard":
        return _cmd_dashboard(args)
    return _cmd_trials(args)


def _study_argument(text: str) -> str:
    """A study name from the command line as the UTF-8 text it was typed in.

    Python decodes arguments with the locale's encoding: under ``LC_ALL=C`` (without UTF-8
    mode) an accented name arrives as escaped bytes, which would name no stored study.
    """
    if not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    try:
        return os.fsencode(text).decode("utf-8")
    except UnicodeError:
        raise UsageError(
            f"the study name {text!r} is not UTF-8 text; type the name as it was stored"
        ) from None


def main(argv: list[str] | None = None) -> int:
    """Run the ``asynchpo`` command line; returns the exit code."""
    # A terminal that cannot show a study's or a label's characters (LC_ALL=C, or
    # PYTHONIOENCODING=ascii) gets them as \xe9 escapes rather than a UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    arguments = sys.argv[1:] if argv is None else list(argv)
    try:
        return _dispatch(arguments)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except UsageError as exc:
        return _fail(str(exc), 2)
    except _Failed as exc:
        return _fail(str(exc), 1)
    except AllTrialsFailed as exc:
        return _fail(first_line(str(exc)), 1)
    except (ConfigError, SpaceError, StorageError, StudyError, StudyMismatch) as exc:
        return _fail(_one_line(str(exc)), 2)
    except AsynchpoError as exc:
        return _fail(first_line(str(exc)), 1)
    except BrokenPipeError:  # asynchpo trials ... | head
        return 0


def _one_line(text: str) -> str:
    parts = (part.strip().removeprefix("- ") for part in text.strip().splitlines())
    return " ".join(part for part in parts if part)


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code
