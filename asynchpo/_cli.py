"""The ``asynchpo`` command line: run a search over a program, and look at stored studies.

::

    asynchpo run --space space.json --storage runs.sqlite --study exp1 --max-evals 50 \\
        --concurrency 4 -- python train.py --lr {lr} --layers {layers}
    asynchpo studies runs.sqlite
    asynchpo show runs.sqlite exp1
    asynchpo trials runs.sqlite exp1 --format csv
    asynchpo plot runs.sqlite exp1 -o report.html
    asynchpo plot runs.sqlite exp1 --curves -o curves.png

``run`` evaluates the command after ``--`` once per trial (see :class:`asynchpo.Command`:
``{label}`` placeholders, ``ASYNCHPO_PARAMS`` in the environment, the loss read from the last
number or JSON object with ``loss`` on stdout). Running it again with the same storage and
study resumes the search up to the new ``--max-evals``. A trial whose program fails is recorded
as failed and the search goes on. Ctrl-C stops the run cleanly: trials in flight are recorded
as interrupted and run again on resume (exit code 130). SIGTERM, how batch schedulers (SLURM,
Kubernetes) preempt a job, does the same (exit code 143): the programs of the trials in flight
get SIGTERM, and SIGKILL 5 s later if they still run. Before the search starts (while Python
starts and the space is loaded), SIGTERM ends the process at once, as by default: nothing is
stored yet.

Several ``run`` commands may drive one study at once (other terminals, GPUs, machines sharing
the file, a SLURM array): they share ``--max-evals``, and each holds a lease on its trials that
it renews every ``--lease-seconds / 3``. The trials of a driver that stopped renewing it (killed,
suspended) run again under another driver, or on the next start. ``show`` and ``studies`` tell
the trials that a live driver runs from such stale ones.

The search space (``--space``) is either ``file.py:name``, a Python file that defines the space
as the variable ``name`` (built with ``asynchpo.hp``), or a ``.json`` file holding an object::

    {"lr": ["loguniform", -9, -1],
     "layers": ["choice", [1, 2, 3]],
     "opt": ["choice", [{"name": "sgd", "momentum": ["uniform", 0, 1]}, {"name": "adam"}]],
     "batch": 64,
     "tags": {"const": ["a", "b"]}}

A list whose first element is a string is a parameter: the string names an ``hp`` function
(``choice``, ``pchoice``, ``uniform``, ``quniform``, ``loguniform``, ``qloguniform``,
``normal``, ``qnormal``, ``lognormal``, ``qlognormal``, ``randint``, ``uniformint``), the
parameter is labelled with its key, and the rest of the list are the function's arguments after
the label. Any other first string is an error that names the label and the known names, so a
misspelt distribution never becomes a constant. The options of ``choice`` (and the
``[probability, option]`` pairs of ``pchoice``) may be objects or lists that contain more such
parameters, each labelled with its own key. Numbers, strings, booleans, null, objects and lists
that do not start with a string are constants (objects and lists are read for parameters
inside); ``{"const": value}``, an object whose only key is ``const``, is ``value`` as it is,
nothing in it read as a parameter: the way to write a constant list that starts with a string.

``--storage`` (and the storage argument of the other commands) is a SQLite file's path, or
Optuna's URL form of one: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``.

What a person reads shows each choice as the option's value, not its index: ``trials``,
``show``, ``plot``, like :meth:`asynchpo.Trials.to_dataframe` (an option that is an object or
a list is shown as JSON). The keys a program reports besides ``loss`` and ``status`` (its
metrics, e.g. ``{"loss": 0.17, "accuracy": 0.94}``) are columns of ``trials``, next to
``started``, ``finished`` and ``duration``; ``show`` lists the best trial's.

``asynchpo`` alone prints the help (exit code 0); ``asynchpo --version`` the version.

Exit codes: 0 success; 1 the run failed (no trial succeeded, or a trial's error stopped it), or
an optional dependency is missing (the message names the ``pip install`` extra); 2 a usage
error (bad arguments, missing file, unknown study, bad space); 130 interrupted (Ctrl-C); 143
terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import difflib
import importlib.util
import inspect
import io
import json
import math
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import anyio

import asynchpo

# The command line is a client of the public API (tests/test_cli.py checks these imports).
from asynchpo import (
    AllTrialsFailed,
    AsynchpoError,
    Command,
    ConfigError,
    SpaceError,
    StorageError,
    Study,
    StudyError,
    StudyMismatch,
    StudyNotFound,
    StudySummary,
    Trial,
    Trials,
    TrialState,
    anneal,
    compile_space,
    fmin,
    fmin_sync,
    hp,
    list_studies,
    load_trials,
    open_study,
    pruners,
    rand,
    space_eval,
    tpe,
)
from asynchpo._results import json_safe  # no public form: what JSON can hold of any value

__all__ = ["load_space", "main"]

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

# The hp functions, by name: hp's public functions (its classes and scope are not for JSON).
_HP_FUNCTIONS: dict[str, Callable[..., Any]] = {
    name: getattr(hp, name) for name in hp.__all__ if inspect.isfunction(getattr(hp, name))
}

_SPACE_HELP = (
    "the search space: FILE.py:NAME (a Python file defining the space as NAME) or a .json "
    'file such as {"lr": ["loguniform", -9, -1], "layers": ["choice", [1, 2, 3]], "opt": '
    '["choice", [{"name": "sgd", "momentum": ["uniform", 0, 1]}, {"name": "adam"}]]}: a list '
    "starting with a string is a parameter labelled with its key (the string names an hp "
    "function, the rest are its arguments after the label); choice options may hold more "
    'parameters; other values are constants, and {"const": [...]} is a constant written as is'
)


class UsageError(Exception):
    """A mistake in how the command was called: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as one line instead of usage text and an exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


# --- the search space -------------------------------------------------------------------------


def _is_spec(value: object) -> bool:
    # Every list that starts with a string is a parameter, so that a misspelt name
    # (["loguniformm", -9, -1]) is an error rather than a constant list.
    return isinstance(value, list) and len(value) > 0 and isinstance(value[0], str)


def _is_constant(value: object) -> bool:
    """``{"const": value}``: the value as it is, nothing inside it read as a parameter."""
    return isinstance(value, dict) and len(value) == 1 and "const" in value


def _unknown_name(name: str, label: str | None, where: str) -> SpaceError:
    close = difflib.get_close_matches(name, _HP_FUNCTIONS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    whose = f" for parameter {label!r}" if label is not None else ""
    return SpaceError(
        f"{where}: unknown distribution {name!r}{whose}{hint}; a list that starts with a "
        f"string is a parameter, one of {', '.join(_HP_FUNCTIONS)}; write a constant list that "
        'starts with a string as {"const": [...]}'
    )


# The deepest nesting of objects, lists and parameters a JSON space may have: the space it
# describes may nest at most 100 levels (compile_space), and the builders recurse per level.
_MAX_JSON_DEPTH = 100


def _build(value: object, label: str | None, where: str, depth: int = 0) -> object:
    """The space for one JSON value found under the key ``label`` (None inside a list)."""
    if isinstance(value, (dict, list)) and depth >= _MAX_JSON_DEPTH:
        shown = where if len(where) <= 100 else f"{where[:40]}...{where[-50:]}"
        raise SpaceError(
            f"{shown}: the space nests objects, lists and parameters more than "
            f"{_MAX_JSON_DEPTH} levels deep; flatten it, e.g. one choice among the combinations "
            "instead of choices nested in choices"
        )
    if _is_constant(value):
        assert isinstance(value, dict)
        return value["const"]
    if _is_spec(value):
        assert isinstance(value, list)
        if value[0] not in _HP_FUNCTIONS:
            raise _unknown_name(value[0], label, where)
        if label is None:
            raise SpaceError(
                f"{where}: the parameter {value[0]!r} is in a list, so it has no label; put it "
                "in an object, under the key that labels it"
            )
        return _parameter(value, label, where, depth + 1)
    if isinstance(value, dict):
        return {key: _build(item, key, f"{where}.{key}", depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_build(item, None, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    return value


def _parameter(spec: list[Any], label: str, where: str, depth: int) -> object:
    name, args = spec[0], spec[1:]
    if name in ("choice", "pchoice"):
        if len(args) != 1 or not isinstance(args[0], list):
            raise SpaceError(f'{where}: write ["{name}", [option, ...]] with one list of options')
        if name == "choice":
            options: list[Any] = [
                _build(option, None, f"{where}[{i}]", depth) for i, option in enumerate(args[0])
            ]
            args = [options]
        else:
            pairs = []
            for i, pair in enumerate(args[0]):
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise SpaceError(f"{where}: pchoice options are [probability, option] pairs")
                pairs.append((pair[0], _build(pair[1], None, f"{where}[{i}][1]", depth)))
            args = [pairs]
    try:
        return _HP_FUNCTIONS[name](label, *args)
    except TypeError as exc:
        raise SpaceError(f"{where}: wrong arguments for hp.{name}: {exc}") from exc


def space_from_json(data: object, where: str = "space") -> object:
    """The search space that a JSON document (already parsed) describes; see the module doc."""
    if not isinstance(data, dict):
        raise SpaceError(f"{where}: the JSON space must be an object (label -> parameter)")
    return _build(data, None, where)


def load_space(spec: str) -> object:
    """The search space named by ``--space``: ``file.json`` or ``file.py:name``.

    :raises SpaceError: when the file is missing or does not define a valid space.
    """
    if spec.endswith(".json"):
        path = Path(spec)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SpaceError(f"cannot read the space file {spec!r}: {exc.strerror}") from exc
        except ValueError as exc:
            raise SpaceError(f"the space file {spec!r} is not valid JSON: {exc}") from exc
        except RecursionError:
            raise SpaceError(
                f"the space file {spec!r} nests objects and lists too deeply to read; flatten "
                "it, e.g. one choice among the combinations instead of choices nested in choices"
            ) from None
        space = space_from_json(data, path.name)
    else:
        file, colon, name = spec.rpartition(":")
        if not colon or not file.endswith(".py") or not name.isidentifier():
            raise SpaceError(
                f"--space {spec!r}: give a .json file or FILE.py:NAME (a Python file and the "
                "name of the variable holding the space)"
            )
        space = _space_from_python(Path(file), name, spec)
    try:
        compile_space(space)  # raises SpaceError with the reason
    except SpaceError:
        raise
    except Exception as exc:  # a container of the user's whose methods fail
        raise SpaceError(
            f"--space {spec!r}: reading the space raised {type(exc).__name__}: "
            f"{_exception_text(exc)}"
        ) from exc
    return space


def _space_from_python(path: Path, name: str, spec: str) -> object:
    if not path.is_file():
        raise SpaceError(f"--space {spec!r}: no file {os.fspath(path)!r}")
    module_spec = importlib.util.spec_from_file_location(f"_asynchpo_space_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise SpaceError(f"--space {spec!r}: cannot load {os.fspath(path)!r} as Python")
    module = importlib.util.module_from_spec(module_spec)
    shown = os.fspath(path)
    try:
        module_spec.loader.exec_module(module)
    except SystemExit as exc:  # sys.exit() or argparse at the top level of the file
        raise SpaceError(
            f"--space {spec!r}: the space file {shown!r} exited (SystemExit "
            f"{_exception_text(exc) or 'None'}) while loading; a space file must only define "
            "the space: put the rest under if __name__ == '__main__':"
        ) from None
    except KeyboardInterrupt:
        raise SpaceError(
            f"--space {spec!r}: loading the space file {shown!r} was interrupted "
            "(KeyboardInterrupt); nothing was run"
        ) from None
    except BaseException as exc:  # any other error of the user's file, even a BaseException
        raise SpaceError(
            f"--space {spec!r}: running {shown!r} raised "
            f"{type(exc).__name__}: {_exception_text(exc)}"
        ) from exc
    try:
        return getattr(module, name)
    except AttributeError:
        raise SpaceError(f"--space {spec!r}: {shown!r} defines no {name!r}") from None
    except Exception as exc:  # a module-level __getattr__ of the user's that fails otherwise
        raise SpaceError(
            f"--space {spec!r}: reading {name!r} from {shown!r} raised "
            f"{type(exc).__name__}: {_exception_text(exc)}"
        ) from exc


def _exception_text(exc: BaseException) -> str:
    """The first line of an exception's message, whatever its ``__str__`` does."""
    try:
        return _first_line(str(exc))
    except Exception:
        return "(its message cannot be shown)"


# --- formatting -------------------------------------------------------------------------------


def _first_line(text: str | None) -> str:
    return "" if not text else text.strip().splitlines()[0] if text.strip() else ""


def _error_line(text: str | None) -> str:
    """The line of an error that says what went wrong: for a traceback, its last line (the
    exception), not its first ("Traceback (most recent call last):")."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1].strip() if lines[0].startswith("Traceback (") else lines[0]


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}"


def _value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, (dict, list)):  # an option that is an object or a list; a metric
        return json.dumps(json_safe(value), sort_keys=True)
    return str(value)


def _iso(timestamp: float | None) -> str | None:
    """A moment as ISO 8601 local time with its UTC offset (CSV and JSON), or ``None``."""
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp).astimezone()
    return moment.isoformat(timespec="milliseconds")


# Result keys that are not metrics: they have columns of their own, or are not for a table.
_NOT_METRICS = frozenset({"loss", "status", "error", "attachments"})

# The path of a Command trial's log, in its result: a column of trials, a line of its own in show.
_LOG = "log"


def _metrics(trial: Trial, *, log: bool = True) -> dict[str, Any]:
    """What the objective reported besides its loss and status (``accuracy``, ...), and the
    path of a program's log unless ``log`` is false."""
    return {
        key: value
        for key, value in trial.result.items()
        if key not in _NOT_METRICS
        and (log or key != _LOG)
        # a pruned trial's result holds the step it stopped at: the last_step column
        and not (key == "step" and trial.state is TrialState.PRUNED)
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(name) for name in header]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (header, *rows)
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


# Finished states first, then the trials still to run.
_COUNT_ORDER = (
    TrialState.OK,
    TrialState.PRUNED,
    TrialState.FAIL,
    TrialState.RUNNING,
    TrialState.INTERRUPTED,
    TrialState.QUEUED,
)


def _counts(summary: StudySummary) -> str:
    """``8 ok, 2 running, 3 stale``: running trials apart from stale ones."""
    counts = {**summary.counts, TrialState.RUNNING.value: summary.live, "stale": summary.stale}
    order = [state.value for state in _COUNT_ORDER]
    order.insert(order.index(TrialState.RUNNING.value) + 1, "stale")
    return ", ".join(f"{counts[name]} {name}" for name in order if counts[name])


def _ago(moment: float, now: float) -> str:
    """How long ago ``moment`` was, roughly: ``2 s``, ``5 min``, ``3 h``, ``2 days``."""
    seconds = max(0.0, now - moment)  # another host's clock may run ahead
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h"
    return _plural(int(seconds // 86400), "day")


def _steps_text(steps: Sequence[int]) -> str:
    """Where trials stopped: ``step 1 (18 trials), step 3 (6)``, or a range when varied."""
    counter = Counter(steps)
    if len(counter) > 4:
        median = statistics.median_low(steps)
        return (
            f"steps {min(steps)} to {max(steps)}, median {median} ({_plural(len(steps), 'trial')})"
        )
    parts = [f"step {step} ({count})" for step, count in sorted(counter.items())]
    first = min(counter)
    parts[0] = f"step {first} ({_plural(counter[first], 'trial')})"
    return ", ".join(parts)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --- subcommands ------------------------------------------------------------------------------


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


async def _algo_of(storage: str, study: str) -> str:
    async with open_study(storage, study) as stored:
        return stored.config.algo


def _stored_algo(storage: str, study: str) -> str | None:
    """The algorithm an existing study was created with, if it is one the CLI knows."""
    try:
        algo = anyio.run(_algo_of, storage, study)
    except AsynchpoError:  # no file, no such study, not a study file: fmin tells
        return None
    return algo if algo in _ALGOS else None


def _cmd_run(args: argparse.Namespace, command: list[str]) -> int:
    if not command:
        raise UsageError(
            "run needs the program to evaluate after --, e.g. -- python train.py --lr {lr}"
        )
    space = load_space(args.space)
    points = _points(args.points) if args.points else None
    algo = args.algo or _stored_algo(args.storage, args.study) or "tpe"
    objective = Command(command, timeout=args.trial_timeout)
    trials = Trials()
    printer = _TrialPrinter(space) if args.verbose else None
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
            f"the errors with: {PROG} trials {args.storage} {args.study}",
            1,
        )
    if printer is not None:
        printer.rest(trials)
    best_trial = trials.best_trial  # hyperopt's document of it
    values = space_eval(space, best)
    print(
        f"study {args.study!r}: {len(trials.records)} trials, best is trial "
        f"{best_trial['tid']} with loss {_number(best_trial['result']['loss'])}"
    )
    print(json.dumps(json_safe(values), sort_keys=True))
    return 0


class _TrialPrinter:
    """``run -v``: one line per trial that finishes in this run.

    It is hyperopt's early-stop hook, called after each finished trial (it never stops the
    run); :meth:`rest` prints the trials the hook was not called for (the last ones, when the
    run ends).
    """

    def __init__(self, space: object) -> None:
        self.choices = _choices_of(compile_space(space).describe())
        self.printed: set[int] = set()
        self.since = time.time()

    def __call__(self, trials: Trials, *state: object) -> tuple[bool, tuple[object, ...]]:
        trial = trials.last_finished
        if trial is not None and trial.id not in self.printed:
            self.show(trial)
        return False, state

    def rest(self, trials: Trials) -> None:
        for trial in trials.records:
            if (
                trial.state.is_finished
                and trial.id not in self.printed
                and (trial.finished or 0.0) >= self.since
            ):
                self.show(trial)

    def show(self, trial: Trial) -> None:
        self.printed.add(trial.id)
        loss = "" if trial.loss is None else f" loss {_number(trial.loss)}"
        took = "" if trial.duration is None else f" in {trial.duration:.2f}s"
        extra = _metrics(trial, log=False)
        error = _error_line(trial.error)
        shown = _shown(trial.params, self.choices)
        print(
            f"trial {trial.id} {trial.state.value}{loss}{took}: {_params_text(shown)}"
            + (f" | {_params_text(extra)}" if extra else "")
            + (f" | {error}" if error and trial.state is not TrialState.OK else ""),
            flush=True,
        )


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


# --- reading stored studies -------------------------------------------------------------------


def _choices_of(description: Sequence[Mapping[str, object]]) -> dict[str, Sequence[object]]:
    """The options of each choice parameter of a space description, by label."""
    return {
        str(entry["label"]): values
        for entry in description
        if isinstance(values := entry.get("values"), list)
    }


def _shown(params: Mapping[str, object], choices: Mapping[str, Sequence[object]]) -> dict[str, Any]:
    """A trial's parameters for people: a choice's option index becomes the option's value
    (as the space description holds it: an object option as an object whose parameters read
    ``{"param": label}``); everything else is shown as stored."""
    out: dict[str, Any] = {}
    for label, value in params.items():
        options = choices.get(label)
        if options is not None and isinstance(value, int) and 0 <= value < len(options):
            out[label] = options[value]
        else:
            out[label] = value
    return out


@dataclasses.dataclass(frozen=True)
class _StoredStudy:
    """A stored study as the reading commands show it, read through :func:`asynchpo.open_study`.

    :param study: the study, opened for reading only (closed again: its records stay).
    :param trials: its trials, by id.
    :param summary: its summary when it was read: live drivers, stale trials.
    :param drivers: every driver that ever registered with it (``Driver`` records), by id.
    :param read: when it was read (seconds since the epoch).
    """

    study: Study
    trials: list[Trial]
    summary: StudySummary
    drivers: Mapping[int, Any]
    read: float

    @property
    def labels(self) -> list[str]:
        return self.study.labels

    def display(self, params: Mapping[str, object]) -> dict[str, Any]:
        """A trial's parameters for people (see :func:`_shown`)."""
        return _shown(params, self.choices)

    @property
    def choices(self) -> dict[str, Sequence[object]]:
        """The options of each choice parameter, by label (as the space described them)."""
        return _choices_of(self.study.config.space)

    def live_driver(self, trial: Trial) -> Any | None:
        """The live driver that runs ``trial``, or ``None`` when the trial is stale."""
        return next((d for d, _ in self.summary.drivers if d.id == trial.driver), None)

    def stale_seen(self) -> float | None:
        """When the drivers of the stale trials were last seen (the latest of them)."""
        # The summary knows only the drivers the study read as live: ask every driver.
        seen = [
            holder.seen
            for t in self.trials
            if t.state is TrialState.RUNNING
            and t.driver is not None
            and (holder := self.drivers.get(t.driver)) is not None
            and self.live_driver(t) is None
        ]
        return max(seen) if seen else self.summary.stale_seen


async def _read_study(storage: str, name: str) -> _StoredStudy:
    # open_study without a space reads: it creates no file and registers no driver.
    try:
        async with open_study(storage, name) as study:
            drivers = {driver.id: driver for driver in await study.drivers()}
            return _StoredStudy(study, study.trials, study.summary(), drivers, time.time())
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
    return UsageError(f"there is no study called {name!r} in {storage}; {held}")


def _stale_text(count: int, seen: float | None, now: float) -> str:
    who = (
        "their driver is gone"
        if seen is None
        else f"their driver was last seen {_ago(seen, now)} ago"
    )
    return f"{count} ({who}; they run again on the next start)"


def _cmd_studies(args: argparse.Namespace) -> int:
    summaries = anyio.run(list_studies, args.storage)
    if args.format == "json":
        print(json.dumps(json_safe([_summary_json(s) for s in summaries]), indent=1))
        return 0
    if not summaries:
        print(f"no studies in {args.storage}")
        return 0
    running = TrialState.RUNNING.value
    states = [state.value for state in TrialState]
    states.insert(states.index(running) + 1, "stale")
    header = ["study", "trials", *states, "drivers", "best loss", "last activity"]
    rows = []
    for s in summaries:
        # running: trials that a live driver runs; stale: their driver is gone.
        counts = {**s.counts, running: s.live, "stale": s.stale}
        rows.append(
            [
                s.name,
                str(s.total),
                *(str(counts[state]) for state in states),
                str(len(s.drivers)),
                _number(s.best_loss),
                _when(s.last_activity),
            ]
        )
    print(_table(header, rows))
    return 0


def _summary_json(summary: StudySummary) -> dict[str, Any]:
    counts = {
        **summary.counts,
        TrialState.RUNNING.value: summary.live,
        "stale": summary.stale,
    }
    return {
        "study": summary.name,
        "algorithm": summary.algo,
        "trials": summary.total,
        "counts": counts,
        "drivers": len(summary.drivers),
        "best_trial": summary.best_trial,
        "best_loss": summary.best_loss,
        "created": _iso(summary.created),
        "last_activity": _iso(summary.last_activity),
    }


def _params_text(params: Mapping[str, object]) -> str:
    return ", ".join(f"{label}={_value(value)}" for label, value in params.items())


def _show_json(stored: _StoredStudy) -> dict[str, Any]:
    study, summary = stored.study, stored.summary
    best = next((t for t in stored.trials if t.id == summary.best_trial), None)
    out = _summary_json(summary)
    out["seed"] = study.seed
    out["parameters"] = stored.labels
    out["best"] = (
        None
        if best is None
        else {
            "id": best.id,
            "loss": best.loss,
            "params": stored.display(best.params),
            "metrics": _metrics(best, log=False),
            "log": best.result.get(_LOG),
        }
    )
    out["running"] = [
        {
            "id": t.id,
            "started": _iso(t.started),
            "last_step": t.reports[-1][0] if t.reports else None,
            "driver": None if (driver := stored.live_driver(t)) is None else driver.pid,
            "params": stored.display(t.params),
        }
        for t in stored.trials
        if t.state is TrialState.RUNNING
    ]
    return out


def _cmd_show(args: argparse.Namespace) -> int:
    stored = anyio.run(_read_study, args.storage, args.study)
    if args.format == "json":
        print(json.dumps(json_safe(_show_json(stored)), indent=1))
        return 0
    study, summary, trials = stored.study, stored.summary, stored.trials
    print(f"study:         {study.name}")
    print(f"algorithm:     {study.config.algo} (seed {study.seed})")
    print(f"created:       {_when(summary.created)}")
    print(f"last activity: {_when(summary.last_activity)}")
    print(f"trials:        {summary.total}" + (f" ({_counts(summary)})" if summary.total else ""))
    _print_steps(trials)
    print(f"parameters:    {', '.join(stored.labels)}")
    if summary.best_trial is None:
        print("best:          none (no trial succeeded yet)")
    else:
        best = next(t for t in trials if t.id == summary.best_trial)
        print(f"best:          trial {best.id}, loss {_number(best.loss)}")
        choices = stored.choices
        for label, value in stored.display(best.params).items():
            if label in choices and isinstance(value, (dict, list)):
                print(f"  {label} = option {best.params[label]}: {_value(value)}")
            else:
                print(f"  {label} = {_value(value)}")
        metrics = _metrics(best, log=False)
        if metrics:
            print(f"metrics:       {_params_text(metrics)}")
        if isinstance(best.result.get(_LOG), str):
            print(f"log:           {best.result[_LOG]}")
    _print_running(stored)
    return 0


def _print_running(stored: _StoredStudy) -> None:
    """The trials running now, by live driver; stale ones (their driver is gone) apart."""
    summary, now = stored.summary, stored.read
    lines = [
        f"{count} (driver {driver.pid} on host {driver.host}, seen {_ago(driver.seen, now)} ago)"
        for driver, count in summary.drivers
    ]
    print(f"running now:   {lines[0] if lines else 'none'}")
    for line in lines[1:]:
        print(f"               {line}")
    if summary.stale:
        print(f"stale:         {_stale_text(summary.stale, stored.stale_seen(), now)}")
    running = [t for t in stored.trials if t.state is TrialState.RUNNING]
    if not running:
        return
    # The step a running trial reached, when the objective reports its progress.
    steps = any(t.reports for t in running)
    rows = []
    for t in running:
        driver = stored.live_driver(t)
        rows.append(
            [
                str(t.id),
                _when(t.started),
                *([str(t.reports[-1][0]) if t.reports else ""] if steps else []),
                "stale" if driver is None else str(driver.pid),
                _params_text(stored.display(t.params)),
            ]
        )
    header = ["id", "started", *(["step"] if steps else []), "driver", "parameters"]
    print(_table(header, rows))


def _print_steps(trials: Sequence[Trial]) -> None:
    """The steps that pruned trials stopped at and that completed ones reached, for a study
    whose objective reports (nothing otherwise)."""
    pruned = [t for t in trials if t.state is TrialState.PRUNED]
    pruned_steps = [t.reports[-1][0] for t in pruned if t.reports]
    ok_steps = [t.reports[-1][0] for t in trials if t.state is TrialState.OK and t.reports]
    if pruned:
        parts = [_steps_text(pruned_steps)] if pruned_steps else []
        if len(pruned) > len(pruned_steps):
            parts.append(f"{len(pruned) - len(pruned_steps)} before any report")
        print(f"pruned at:     {', '.join(parts)}")
    if ok_steps:
        print(f"ok ran to:     {_steps_text(ok_steps)}")


_FIXED_COLUMNS = ("id", "state", "loss", "started", "finished", "duration", "reports", "last_step")


def _trial_rows(stored: _StoredStudy) -> tuple[list[str], list[dict[str, Any]]]:
    """The column names and one row per trial: the fixed columns, one per parameter (a
    choice's option value), one per metric (result keys besides loss and status), then the
    error. ``reports`` holds the ``[step, loss]`` pairs (the JSON output keeps them, the table
    and CSV show how many); ``started`` and ``finished`` are epoch seconds, shown by the
    formats. A parameter or metric named like a fixed column gets a ``param.`` or ``result.``
    prefix."""
    labels = stored.labels
    taken = {*_FIXED_COLUMNS, "error"}
    columns = [f"param.{label}" if label in taken else label for label in labels]
    metric_names = list(dict.fromkeys(key for t in stored.trials for key in _metrics(t)))
    taken.update(columns)
    metric_columns = [f"result.{key}" if key in taken else key for key in metric_names]
    rows = []
    for trial in stored.trials:
        shown = stored.display(trial.params)
        metrics = _metrics(trial)
        row: dict[str, Any] = {
            "id": trial.id,
            "state": trial.state.value,
            "loss": trial.loss,
            "started": trial.started,
            "finished": trial.finished,
            "duration": trial.duration,
            "reports": [[step, loss] for step, loss in trial.reports],
            "last_step": trial.reports[-1][0] if trial.reports else None,
        }
        for label, column in zip(labels, columns, strict=True):
            row[column] = shown.get(label)
        for key, column in zip(metric_names, metric_columns, strict=True):
            row[column] = metrics.get(key)
        row["error"] = _error_line(trial.error) or None
        rows.append(row)
    return [*_FIXED_COLUMNS, *columns, *metric_columns, "error"], rows


# A pruner's arguments, at the end of a pruned trial's error: too long for a table cell.
_PRUNER_ARGUMENTS = re.compile(r"(by \w+)\(.*\)$")


def _table_cell(row: Mapping[str, Any], key: str) -> str:
    value = row[key]
    if key == "duration" and value is not None:
        return f"{value:.2f}s"
    if key in ("started", "finished"):
        # No space inside the cell: a row still splits into its columns (awk, split()).
        return _when(value).replace(" ", "T")
    if key == "error" and value is not None and row["state"] == TrialState.PRUNED.value:
        return _PRUNER_ARGUMENTS.sub(r"\1", value)
    return _value(value)


def _cmd_trials(args: argparse.Namespace) -> int:
    header, rows = _trial_rows(anyio.run(_read_study, args.storage, args.study))
    if args.format != "table":
        for row in rows:
            row["started"], row["finished"] = _iso(row["started"]), _iso(row["finished"])
    if args.format == "json":
        print(json.dumps(json_safe(rows), indent=1))
        return 0
    for row in rows:
        row["reports"] = len(row["reports"])
    if args.format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    key: value if isinstance(value, (int, float, str)) else _value(value)
                    for key, value in row.items()
                }
            )
        sys.stdout.write(out.getvalue())
    else:
        print(_table(header, [[_table_cell(row, key) for key in header] for row in rows]))
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
    try:
        trials.plot(output, title=f"{args.study} ({args.storage})", curves=args.curves)
    except ImportError as exc:
        # A missing optional dependency is not a usage error: exit code 1, and the message
        # names the pip extra that installs it.
        if args.curves:
            # Without matplotlib, show still tells where the curves stopped.
            hint = f"{PROG} show {args.storage} {args.study} summarizes the learning curves as text"
            return _fail(f"{exc} ({hint})", 1)
        return _fail(str(exc), 1)
    print(f"wrote {output}")
    return 0


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
    """An argparse type: a SQLite file's path, or Optuna's URL form of one
    (``sqlite:///relative.db``, ``sqlite:////absolute.db``), as a path."""
    scheme, sep, rest = text.partition("://")
    if not sep or not scheme.replace("+", "").isalpha():
        return text
    if scheme.lower() != "sqlite" or not rest.startswith("/") or rest in ("/", "/:memory:"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a SQLite file, as a path or as sqlite:///relative.db or "
            "sqlite:////absolute.db (no other database URL is supported)"
        )
    return rest[1:]  # sqlite:///x.db -> x.db, sqlite:////tmp/x.db -> /tmp/x.db


_STORAGE_HELP = "the SQLite file: a path, or sqlite:///relative.db, sqlite:////absolute.db"


def build_parser() -> argparse.ArgumentParser:
    """The ``asynchpo`` argument parser."""
    parser = _Parser(
        prog=PROG,
        description="Asynchronous hyperparameter search over a program, checkpointed to SQLite.",
        epilog="Exit codes: 0 ok, 1 the run failed or an optional dependency is missing, 2 "
        "usage error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).",
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
        usage=f"{PROG} run --space SPACE --storage FILE --study NAME --max-evals N "
        "[options] -- PROGRAM [ARG ...]",
    )
    run.add_argument("--space", required=True, help=_SPACE_HELP)
    run.add_argument(
        "--storage", required=True, type=_storage, help=f"{_STORAGE_HELP} (created if missing)"
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
        help="stop the run once a trial reaches a loss at or below LOSS",
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
        help="the folder of the trials' stdout and stderr logs (default: next to the storage)",
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

    studies_text = (
        "list the studies in a storage file: trials by state (running: by a live driver; "
        "stale: their driver is gone, they run again on the next start), live drivers, best "
        "loss, last activity"
    )
    studies = commands.add_parser(
        "studies", help=studies_text, description=studies_text[0].upper() + studies_text[1:] + "."
    )
    studies.add_argument("storage", type=_storage, help=_STORAGE_HELP)
    studies.add_argument(
        "--format", choices=("table", "json"), default="table", help="default: table"
    )

    show_text = (
        "summarize one study: its trials by state, where pruned trials stopped, the best "
        "trial with its values and metrics, the trials running now by driver (pid, host, when "
        "last seen), and stale ones whose driver is gone"
    )
    show = commands.add_parser(
        "show", help=show_text, description=show_text[0].upper() + show_text[1:] + "."
    )
    show.add_argument("storage", type=_storage, help=_STORAGE_HELP)
    show.add_argument("study", help="the study's name")
    show.add_argument("--format", choices=("text", "json"), default="text", help="default: text")

    trials = commands.add_parser(
        "trials",
        help="every trial of a study: state, loss, times, parameters, metrics, error",
        description="List every trial of a study, one row each: id, state, loss, started, "
        "finished, duration, reports and last_step, one column per parameter (a choice shows "
        "the option's value), one per metric the objective reported besides its loss (e.g. "
        "accuracy), and the error.",
    )
    trials.add_argument("storage", type=_storage, help=_STORAGE_HELP)
    trials.add_argument("study", help="the study's name")
    trials.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="default: table; the reports column counts a trial's intermediate losses, and in "
        "json lists them as [step, loss] pairs; csv and json give times in ISO 8601",
    )
    plot = commands.add_parser(
        "plot",
        help="draw a study's report: loss per trial and per parameter, trials by slot, "
        "learning curves",
        description="Draw a study's report: the loss per trial (pruned trials apart) and "
        "against each parameter, the trials over time by slot and, when trials reported "
        "intermediate losses, their learning curves. With --curves, only the learning curves.",
    )
    plot.add_argument("storage", type=_storage, help=_STORAGE_HELP)
    plot.add_argument("study", help="the study's name")
    plot.add_argument(
        "-o",
        "--output",
        required=True,
        help="report.png, report.svg, report.pdf, or report.html for one page with the data",
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
    if args.command == "run":
        return _cmd_run(args, command)
    if args.command == "studies":
        return _cmd_studies(args)
    if args.command == "show":
        return _cmd_show(args)
    if args.command == "plot":
        return _cmd_plot(args)
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
    except AllTrialsFailed as exc:
        return _fail(_first_line(str(exc)), 1)
    except (ConfigError, SpaceError, StorageError, StudyError, StudyMismatch) as exc:
        return _fail(_one_line(str(exc)), 2)
    except AsynchpoError as exc:
        return _fail(_first_line(str(exc)), 1)
    except BrokenPipeError:  # asynchpo trials ... | head
        return 0


def _one_line(text: str) -> str:
    parts = (part.strip().removeprefix("- ") for part in text.strip().splitlines())
    return " ".join(part for part in parts if part)


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code
