"""What the command line prints: tables, text and JSON of stored studies and their trials,
and ``run -v``'s line per finished trial. Everything here reads public records
(:class:`asynchpo.Study`, :class:`asynchpo.Trial`, :class:`asynchpo.StudySummary`)."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import functools
import io
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from asynchpo import Study, StudySummary, Trial, Trials, TrialState, compile_space, json_safe


def first_line(text: str | None) -> str:
    return "" if not text else text.strip().splitlines()[0] if text.strip() else ""


def error_line(text: str | None) -> str:
    """The line of an error that says what went wrong: for a traceback, its last line (the
    exception), not its first ("Traceback (most recent call last):")."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1].strip() if lines[0].startswith("Traceback (") else lines[0]


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}"


def value_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return number(value)
    if isinstance(value, (dict, list)):  # an option that is an object or a list; a metric
        return json.dumps(json_safe(value), sort_keys=True)
    return str(value)


def iso(timestamp: float | None) -> str | None:
    """A moment as ISO 8601 local time with its UTC offset (CSV and JSON), or ``None``."""
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp).astimezone()
    return moment.isoformat(timespec="milliseconds")


# The path of a Command trial's log, in its result: a column of trials, a line of its own in show.
LOG = "log"


def metrics_but_log(trial: Trial) -> dict[str, Any]:
    """The trial's metrics (:attr:`asynchpo.Trial.metrics`) without the path of a program's
    log, which ``show`` prints on a line of its own and ``run -v`` leaves out."""
    return {key: value for key, value in trial.metrics.items() if key != LOG}


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
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


def counts_text(summary: StudySummary) -> str:
    """``8 ok, 2 running, 3 stale``: running trials apart from stale ones."""
    counts = {**summary.counts, TrialState.RUNNING.value: summary.live, "stale": summary.stale}
    order = [state.value for state in _COUNT_ORDER]
    order.insert(order.index(TrialState.RUNNING.value) + 1, "stale")
    return ", ".join(f"{counts[name]} {name}" for name in order if counts[name])


def ago(moment: float, now: float) -> str:
    """How long ago ``moment`` was, roughly: ``2 s``, ``5 min``, ``3 h``, ``2 days``."""
    seconds = max(0.0, now - moment)  # another host's clock may run ahead
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h"
    return plural(int(seconds // 86400), "day")


def steps_text(steps: Sequence[int]) -> str:
    """Where trials stopped: ``step 1 (18 trials), step 3 (6)``, or a range when varied."""
    counter = Counter(steps)
    if len(counter) > 4:
        median = statistics.median_low(steps)
        return (
            f"steps {min(steps)} to {max(steps)}, median {median} ({plural(len(steps), 'trial')})"
        )
    parts = [f"step {step} ({count})" for step, count in sorted(counter.items())]
    first = min(counter)
    parts[0] = f"step {first} ({plural(counter[first], 'trial')})"
    return ", ".join(parts)


def values_text(values: Sequence[float]) -> str:
    """Several objectives' values on one line: ``[0.12, 30]``."""
    return "[" + ", ".join(number(value) for value in values) + "]"


def objective_names(directions: Sequence[str]) -> list[str]:
    """The column names of several objectives for people: ``objective 1 (minimize)``."""
    return [f"objective {i + 1} ({direction})" for i, direction in enumerate(directions)]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class TrialPrinter:
    """``run -v``: one line per trial that finishes in this run.

    It is hyperopt's early-stop hook, called after each finished trial (it never stops the
    run); :meth:`rest` prints the trials the hook was not called for (the last ones, when the
    run ends).
    """

    def __init__(self, space: object) -> None:
        self.options = compile_space(space).options
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
        loss = "" if trial.loss is None else f" loss {number(trial.loss)}"
        if trial.values is not None and len(trial.values) > 1:
            loss = f" loss {values_text(trial.values)}"
        if trial.constraints and not trial.feasible:
            loss += " (infeasible)"
        took = "" if trial.duration is None else f" in {trial.duration:.2f}s"
        extra = metrics_but_log(trial)
        error = error_line(trial.error)
        shown = trial.shown_params(self.options)
        print(
            f"trial {trial.id} {trial.state.value}{loss}{took}: {params_text(shown)}"
            + (f" | {params_text(extra)}" if extra else "")
            + (f" | {error}" if error and trial.state is not TrialState.OK else ""),
            flush=True,
        )


@dataclasses.dataclass(frozen=True)
class StoredStudy:
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

    def display(self, trial: Trial) -> dict[str, Any]:
        """A trial's parameters for people: a choice shows its option's value."""
        return trial.shown_params(self.options)

    @functools.cached_property
    def options(self) -> dict[str, list[object]]:
        """The options of each choice parameter, by label (as the space described them)."""
        return self.study.options

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


def stale_text(count: int, seen: float | None, now: float) -> str:
    who = (
        "their driver is gone"
        if seen is None
        else f"their driver was last seen {ago(seen, now)} ago"
    )
    return f"{count} ({who}; they run again on the next start)"


def summary_json(summary: StudySummary) -> dict[str, Any]:
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
        "created": iso(summary.created),
        "last_activity": iso(summary.last_activity),
        "directions": list(summary.directions),
        **({"front": summary.front} if len(summary.directions) > 1 else {}),
    }


def params_text(params: Mapping[str, object]) -> str:
    return ", ".join(f"{label}={value_text(value)}" for label, value in params.items())


def show_json(stored: StoredStudy) -> dict[str, Any]:
    study, summary = stored.study, stored.summary
    best = next((t for t in stored.trials if t.id == summary.best_trial), None)
    out = summary_json(summary)
    out["seed"] = study.seed
    out["parameters"] = stored.labels
    out["best"] = (
        None
        if best is None
        else {
            "id": best.id,
            "loss": best.loss,
            "params": stored.display(best),
            "metrics": metrics_but_log(best),
            "log": best.result.get(LOG),
        }
    )
    out["directions"] = list(study.directions)
    if len(study.directions) > 1:
        front = study.best_trials
        out["front"] = [
            {
                "id": trial.id,
                "loss": list(trial.values or ()),
                **({"constraints": list(trial.constraints)} if trial.constraints else {}),
                "params": stored.display(trial),
                "metrics": metrics_but_log(trial),
            }
            for trial in front
        ]
    if any(trial.constraints for trial in stored.trials):
        feasible, infeasible = feasible_counts(stored.trials)
        out["feasible"], out["infeasible"] = feasible, infeasible
    out["running"] = [
        {
            "id": t.id,
            "started": iso(t.started),
            "last_step": t.reports[-1][0] if t.reports else None,
            "driver": None if (driver := stored.live_driver(t)) is None else driver.pid,
            "params": stored.display(t),
        }
        for t in stored.trials
        if t.state is TrialState.RUNNING
    ]
    return out


def feasible_counts(trials: Sequence[Trial]) -> tuple[int, int]:
    """How many successful trials are feasible, and how many are not."""
    done = [trial for trial in trials if trial.ok]
    feasible = sum(1 for trial in done if trial.feasible)
    return feasible, len(done) - feasible


def print_front(stored: StoredStudy) -> None:
    """``show`` of a study with several objectives: its Pareto front as a table (id, one column
    per objective, the constraints when there are, the parameters)."""
    study = stored.study
    front = study.best_trials
    if not front:
        print("Pareto front:  none (no trial succeeded yet)")
        return
    constrained = any(trial.constraints for trial in front)
    infeasible = constrained and not front[0].feasible
    note = (
        " (no trial is feasible yet: those of least violation)"
        if infeasible
        else " (feasible trials)"
        if constrained
        else ""
    )
    print(f"Pareto front:  {plural(len(front), 'trial')}{note}")
    count = max(len(trial.constraints) for trial in front)
    labels = stored.labels
    header = [
        "id",
        *objective_names(study.directions),
        *(f"c[{i}]" for i in range(count) if constrained),
        *labels,
    ]
    rows = []
    for trial in front:
        shown = stored.display(trial)
        cells = [number(value) for value in trial.values or ()]
        constraints = [number(value) for value in trial.constraints]
        constraints += [""] * (count - len(constraints))
        rows.append(
            [
                str(trial.id),
                *cells,
                *(constraints if constrained else []),
                *(value_text(shown.get(label)) for label in labels),
            ]
        )
    print(table(header, rows))


def print_running(stored: StoredStudy) -> None:
    """The trials running now, by live driver; stale ones (their driver is gone) apart."""
    summary, now = stored.summary, stored.read
    lines = [
        f"{count} (driver {driver.pid} on host {driver.host}, seen {ago(driver.seen, now)} ago)"
        for driver, count in summary.drivers
    ]
    print(f"running now:   {lines[0] if lines else 'none'}")
    for line in lines[1:]:
        print(f"               {line}")
    if summary.stale:
        print(f"stale:         {stale_text(summary.stale, stored.stale_seen(), now)}")
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
                when(t.started),
                *([str(t.reports[-1][0]) if t.reports else ""] if steps else []),
                "stale" if driver is None else str(driver.pid),
                params_text(stored.display(t)),
            ]
        )
    header = ["id", "started", *(["step"] if steps else []), "driver", "parameters"]
    print(table(header, rows))


def print_steps(trials: Sequence[Trial]) -> None:
    """The steps that pruned trials stopped at and that completed ones reached, for a study
    whose objective reports (nothing otherwise)."""
    pruned = [t for t in trials if t.state is TrialState.PRUNED]
    pruned_steps = [t.reports[-1][0] for t in pruned if t.reports]
    ok_steps = [t.reports[-1][0] for t in trials if t.state is TrialState.OK and t.reports]
    if pruned:
        parts = [steps_text(pruned_steps)] if pruned_steps else []
        if len(pruned) > len(pruned_steps):
            parts.append(f"{len(pruned) - len(pruned_steps)} before any report")
        print(f"pruned at:     {', '.join(parts)}")
    if ok_steps:
        print(f"ok ran to:     {steps_text(ok_steps)}")


_FIXED_COLUMNS = ("id", "state", "loss", "started", "finished", "duration", "reports", "last_step")


def trial_rows(stored: StoredStudy) -> tuple[list[str], list[dict[str, Any]]]:
    """The column names and one row per trial: the fixed columns, one per parameter (a
    choice's option value), one per metric (result keys besides loss and status), then the
    error. ``reports`` holds the ``[step, loss]`` pairs (the JSON output keeps them, the table
    and CSV show how many); ``started`` and ``finished`` are epoch seconds, shown by the
    formats. A parameter or metric named like a fixed column gets a ``param.`` or ``result.``
    prefix."""
    labels = stored.labels
    objectives = len(stored.study.directions)
    losses = ["loss"] if objectives == 1 else [f"loss[{i}]" for i in range(objectives)]
    constraint_count = max((len(t.constraints) for t in stored.trials), default=0)
    constraints = [f"c[{i}]" for i in range(constraint_count)]
    if constraints:
        constraints.append("feasible")
    fixed = [*_FIXED_COLUMNS[:2], *losses, *constraints, *_FIXED_COLUMNS[3:]]
    taken = {*fixed, "error"}
    columns = [f"param.{label}" if label in taken else label for label in labels]
    metric_names = list(dict.fromkeys(key for t in stored.trials for key in t.metrics))
    taken.update(columns)
    metric_columns = [f"result.{key}" if key in taken else key for key in metric_names]
    rows = []
    for trial in stored.trials:
        shown = stored.display(trial)
        extra = trial.metrics
        row: dict[str, Any] = {"id": trial.id, "state": trial.state.value}
        if objectives == 1:
            row["loss"] = trial.loss
        else:
            values = trial.values or ()
            for i, column in enumerate(losses):
                row[column] = values[i] if i < len(values) else None
        if constraints:
            given = trial.constraints
            for i in range(constraint_count):
                row[f"c[{i}]"] = given[i] if i < len(given) else None
            row["feasible"] = trial.feasible if trial.ok and given else None
        row |= {
            "started": trial.started,
            "finished": trial.finished,
            "duration": trial.duration,
            "reports": [[step, loss] for step, loss in trial.reports],
            "last_step": trial.reports[-1][0] if trial.reports else None,
        }
        for label, column in zip(labels, columns, strict=True):
            row[column] = shown.get(label)
        for key, column in zip(metric_names, metric_columns, strict=True):
            row[column] = extra.get(key)
        row["error"] = error_line(trial.error) or None
        rows.append(row)
    return [*fixed, *columns, *metric_columns, "error"], rows


# A pruner's arguments, at the end of a pruned trial's error: too long for a table cell.
_PRUNER_ARGUMENTS = re.compile(r"(by \w+)\(.*\)$")


def table_cell(row: Mapping[str, Any], key: str) -> str:
    value = row[key]
    if key == "duration" and value is not None:
        return f"{value:.2f}s"
    if key in ("started", "finished"):
        # No space inside the cell: a row still splits into its columns (awk, split()).
        return when(value).replace(" ", "T")
    if key == "feasible" and value is not None:
        return "yes" if value else "no"
    if key == "error" and value is not None and row["state"] == TrialState.PRUNED.value:
        return _PRUNER_ARGUMENTS.sub(r"\1", value)
    return value_text(value)


def print_studies(summaries: Sequence[StudySummary], storage: str, output: str) -> None:
    """``studies``: a table of the studies of ``storage``, or their JSON (``output``)."""
    if output == "json":
        print(json.dumps(json_safe([summary_json(s) for s in summaries]), indent=1))
        return
    if not summaries:
        print(f"no studies in {storage}")
        return
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
                f"front of {s.front}" if len(s.directions) > 1 else number(s.best_loss),
                when(s.last_activity),
            ]
        )
    print(table(header, rows))


def print_show(stored: StoredStudy, output: str) -> None:
    """``show``: one study as text or JSON (``output``)."""
    if output == "json":
        print(json.dumps(json_safe(show_json(stored)), indent=1))
        return
    study, summary, trials = stored.study, stored.summary, stored.trials
    print(f"study:         {study.name}")
    print(f"algorithm:     {study.config.algo} (seed {study.seed})")
    print(f"created:       {when(summary.created)}")
    print(f"last activity: {when(summary.last_activity)}")
    counts = f" ({counts_text(summary)})" if summary.total else ""
    print(f"trials:        {summary.total}{counts}")
    print_steps(trials)
    several = len(study.directions) > 1
    if several:
        names = ", ".join(objective_names(study.directions))
        print(f"objectives:    {len(study.directions)}: {names}")
    elif study.directions[0] != "minimize":
        print(f"direction:     {study.directions[0]} (the best trial has the highest loss)")
    if any(trial.constraints for trial in trials):
        feasible, infeasible = feasible_counts(trials)
        print(f"feasible:      {feasible} of {feasible + infeasible} ok trials ({infeasible} not)")
    print(f"parameters:    {', '.join(stored.labels)}")
    if several:
        print_front(stored)
    elif summary.best_trial is None:
        print("best:          none (no trial succeeded yet)")
    else:
        best = next(t for t in trials if t.id == summary.best_trial)
        print(f"best:          trial {best.id}, loss {number(best.loss)}")
        for label, value in stored.display(best).items():
            if label in stored.options and isinstance(value, (dict, list)):
                print(f"  {label} = option {best.params[label]}: {value_text(value)}")
            else:
                print(f"  {label} = {value_text(value)}")
        extra = metrics_but_log(best)
        if extra:
            print(f"metrics:       {params_text(extra)}")
        if isinstance(best.result.get(LOG), str):
            print(f"log:           {best.result[LOG]}")
    print_running(stored)


def print_trials(stored: StoredStudy, output: str) -> None:
    """``trials``: a study's trials as a table, CSV or JSON (``output``)."""
    header, rows = trial_rows(stored)
    if output != "table":
        for row in rows:
            row["started"], row["finished"] = iso(row["started"]), iso(row["finished"])
    if output == "json":
        print(json.dumps(json_safe(rows), indent=1))
        return
    for row in rows:
        row["reports"] = len(row["reports"])
    if output == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    key: table_cell(row, key)
                    if key == "feasible"
                    else value
                    if isinstance(value, (int, float, str))
                    else value_text(value)
                    for key, value in row.items()
                }
            )
        sys.stdout.write(out.getvalue())
    else:
        print(table(header, [[table_cell(row, key) for key in header] for row in rows]))
