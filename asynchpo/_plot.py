"""Pictures of a study: loss per trial, loss against each parameter, trials over time, and the
learning curves (loss against step) of trials that reported intermediate losses.

Plotting is optional: it needs matplotlib (``pip install 'asynchpo[plot]'``), imported only
when a report is drawn. :func:`plot_trials` writes a PNG, SVG or PDF (by the path's suffix);
:func:`plot_curves` does the same for the learning curves alone, drawn larger. An HTML report
is the dashboard's study page in one file (:mod:`asynchpo._dashboard`), drawn by the browser.

What a person reads shows a choice as its option's value, never its index: the axis of "loss
against layers" for ``choice("layers", [1, 2, 3])`` reads 1, 2, 3; options that are not all
numbers are drawn at evenly spaced positions labelled with their values.

Pruned trials are drawn apart (purple, muted): their loss is the last one they reported, a
partial result, so they are never the best and the best-so-far line ignores them.

A study of several objectives is drawn as its Pareto front instead: two objectives as one
scatter of every successful trial (the front on top, joined by a step line; infeasible trials
as crosses), three or more as a scatter matrix of every pair of objectives.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from asynchpo._objectives import Objectives
from asynchpo._trial import Trial, TrialState, best_trial

__all__ = ["lanes", "plot_curves", "plot_trials"]

_INSTALL_HINT = "plotting needs matplotlib: pip install 'asynchpo[plot]'"

_PRUNED_COLOUR = "tab:purple"
_NO_REPORTS = (
    "no trial of this study reported a loss at a step, so there are no learning curves; an "
    "objective reports them with trial.report(step, loss)"
)


def lanes(trials: Sequence[Trial]) -> dict[int, int]:
    """A lane per trial such that trials in one lane never overlap in time (for records that
    do not hold the slot they ran in).

    Each trial takes the lowest lane free at its start, in order of start time: the same
    packing the scheduler's slots make, so the picture shows how full the slots were.
    """
    timed = sorted(
        (t for t in trials if t.started is not None and t.finished is not None),
        key=lambda t: (t.started, t.id),
    )
    busy_until: list[float] = []
    out: dict[int, int] = {}
    for trial in timed:
        assert trial.started is not None
        assert trial.finished is not None
        for lane, until in enumerate(busy_until):
            if until <= trial.started:
                busy_until[lane] = trial.finished
                out[trial.id] = lane
                break
        else:
            out[trial.id] = len(busy_until)
            busy_until.append(trial.finished)
    return out


def _matplotlib() -> tuple[Any, Any]:
    """matplotlib's ``Figure`` and ``MaxNLocator``, or an ImportError that says how to
    install it."""
    try:
        # A Figure of its own, not pyplot: no global backend or figure state is touched, so
        # drawing a report inside a notebook leaves its plotting as it was.
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return Figure, MaxNLocator


def _text(value: object) -> str:
    """A value in a table cell or on an axis: JSON for an object or a list option."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    return "" if value is None else str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _axis(
    label: str, trials: Sequence[Trial], options: Mapping[str, Sequence[object]]
) -> tuple[dict[int, float], list[str] | None]:
    """Where each trial that set ``label`` sits on its axis, by trial id, and for a choice
    whose options are not all numbers, the tick labels of positions 0, 1, ... (else ``None``).
    A choice sits at its option's value when every option is a number."""
    values = options.get(label)
    at: dict[int, float] = {}
    if values is None or all(_is_number(v) for v in values):
        for t in trials:
            if label in t.params:
                value = t.shown_params(options)[label]
                at[t.id] = float(value)
        return at, None
    for t in trials:
        if label in t.params:
            at[t.id] = float(t.params[label])
    return at, [_text(v) for v in values]


def _objectives(trials: Sequence[Trial], directions: Sequence[str] | None) -> Objectives:
    """The study's objectives: ``directions`` when given, else as many minimised ones as the
    successful trials have values."""
    if directions is not None:
        return Objectives(tuple(directions))
    count = max((len(t.values or ()) for t in trials if t.ok), default=1)
    return Objectives(("minimize",) * max(1, count))


def _pareto_figure(trials: Sequence[Trial], objectives: Objectives) -> Any:
    """The Pareto front of a study of several objectives: one scatter for two, a matrix of
    every pair for more."""
    figure_class, _ = _matplotlib()
    count = objectives.count
    done = [t for t in trials if t.ok and t.values is not None and len(t.values) == count]
    front = objectives.front(done)
    on_front = {t.id for t in front}
    feasible = [t for t in done if t.id not in on_front and t.feasible]
    infeasible = [t for t in done if t.id not in on_front and not t.feasible]
    names = [f"objective {i + 1} ({d})" for i, d in enumerate(objectives.directions)]
    pairs = [(a, b) for a in range(count) for b in range(a + 1, count)]
    if count == 2:
        figure = figure_class(figsize=(7, 5.5))
        grid = [[figure.subplots()]]
    else:
        side = count - 1
        figure = figure_class(figsize=(4 * side, 3.6 * side))
        grid = figure.subplots(side, side, squeeze=False).tolist()
    used = set()
    for a, b in pairs:
        ax = grid[0][0] if count == 2 else grid[b - 1][a]
        used.add(id(ax))

        def column(group: Sequence[Trial], i: int) -> list[float]:
            return [(t.values or ())[i] for t in group]

        ax.scatter(column(feasible, a), column(feasible, b), s=12, alpha=0.6, label="trial")
        if infeasible:
            ax.scatter(
                column(infeasible, a),
                column(infeasible, b),
                s=18,
                marker="x",
                color="tab:brown",
                alpha=0.7,
                label="infeasible",
            )
        ordered = sorted(front, key=lambda t: ((t.values or ())[a], (t.values or ())[b]))
        if count == 2 and len(ordered) > 1:
            xs, ys = column(ordered, a), column(ordered, b)
            line_x, line_y = [xs[0]], [ys[0]]
            for k in range(1, len(ordered)):
                worse_x = (min if objectives.directions[a] == "maximize" else max)(xs[k - 1], xs[k])
                worse_y = (min if objectives.directions[b] == "maximize" else max)(ys[k - 1], ys[k])
                line_x += [worse_x, xs[k]]
                line_y += [worse_y, ys[k]]
            ax.plot(line_x, line_y, color="tab:red", linewidth=1.2, alpha=0.8)
        ax.scatter(
            column(ordered, a),
            column(ordered, b),
            s=30,
            marker="s",
            color="tab:red",
            edgecolor="white",
            linewidth=0.5,
            zorder=3,
            label=f"Pareto front ({len(front)})",
        )
        ax.set_xlabel(names[a])
        ax.set_ylabel(names[b])
        if (a, b) == pairs[0]:
            ax.legend(fontsize="small")
    for row in grid:
        for ax in row:
            if id(ax) not in used:
                ax.set_visible(False)
    figure.suptitle(f"Pareto front: {len(front)} of {len(done)} successful trials")
    figure.tight_layout()
    return figure


def _figure(
    trials: Sequence[Trial],
    labels: Sequence[str],
    log_labels: set[str],
    options: Mapping[str, Sequence[object]] | None = None,
    maximize: bool = False,
) -> Any:
    figure_class, integer_locator = _matplotlib()
    from matplotlib.patches import Patch

    options = options or {}

    ok = [t for t in trials if t.ok]
    pruned = [t for t in trials if t.state is TrialState.PRUNED and t.loss is not None]
    numeric = [label for label in labels if any(label in t.params for t in ok)]
    curves = any(t.reports for t in trials)
    panels = 2 + len(numeric) + curves
    columns = min(3, panels)
    rows = math.ceil(panels / columns)
    figure = figure_class(figsize=(5 * columns, 3.6 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    flat = list(axes.flat)

    ax = flat[0]
    ids = [t.id for t in ok]
    losses = [float(t.loss) for t in ok if t.loss is not None]
    ax.scatter(ids, losses, s=10, alpha=0.6, label="trial")
    if pruned:
        ax.scatter(
            [t.id for t in pruned],
            [t.loss for t in pruned],
            s=10,
            marker="v",
            alpha=0.35,
            color=_PRUNED_COLOUR,
            label="pruned (last loss)",
        )
    best: list[float] = []
    better = max if maximize else min
    for loss in losses:
        best.append(loss if not best else better(best[-1], loss))
    ax.step(ids, best, where="post", color="tab:red", label="best so far")
    failed = [t.id for t in trials if t.state is TrialState.FAIL]
    drawn = losses + [float(t.loss) for t in pruned if t.loss is not None]
    if failed and drawn:
        ax.scatter(failed, [max(drawn)] * len(failed), marker="x", color="grey", label="failed")
    ax.set_xlabel("trial")
    ax.set_ylabel("loss")
    ax.set_title("loss per trial")
    ax.legend(fontsize="small")

    for ax, label in zip(flat[1:], numeric, strict=False):
        at, ticks = _axis(label, [*ok, *pruned], options)
        points = [(at[t.id], float(t.loss)) for t in ok if t.id in at and t.loss is not None]
        ax.scatter([x for x, _ in points], [y for _, y in points], s=10, alpha=0.6)
        cut = [(at[t.id], float(t.loss)) for t in pruned if t.id in at and t.loss is not None]
        if cut:
            ax.scatter(
                [x for x, _ in cut],
                [y for _, y in cut],
                s=10,
                marker="v",
                alpha=0.35,
                color=_PRUNED_COLOUR,
            )
        if ticks is not None:  # options that are not all numbers: labelled positions
            ax.set_xticks(range(len(ticks)), ticks, rotation=30 if len(ticks) > 3 else 0)
        elif label in log_labels:
            ax.set_xscale("log")
        elif all(float(x).is_integer() for x, _ in points):
            ax.xaxis.set_major_locator(integer_locator(integer=True))  # whole-number values
        ax.set_xlabel(label)
        ax.set_ylabel("loss")
        ax.set_title(f"loss against {label}")

    ax = flat[1 + len(numeric)]
    # The slot each trial held, as stored; packed lanes for records written without one.
    lane_of = lanes(trials)
    lane_of.update({t.id: t.slot for t in trials if t.slot is not None})
    starts = [t.started for t in trials if t.started is not None]
    origin = min(starts) if starts else 0.0
    colours = {
        TrialState.OK: "tab:blue",
        TrialState.FAIL: "tab:grey",
        TrialState.PRUNED: _PRUNED_COLOUR,
    }
    shown: set[TrialState] = set()
    for trial in trials:
        if trial.id in lane_of and trial.started is not None and trial.finished is not None:
            shown.add(trial.state)
            ax.barh(
                lane_of[trial.id],
                trial.finished - trial.started,
                left=trial.started - origin,
                color=colours.get(trial.state, "tab:orange"),
                edgecolor="white",
                linewidth=0.3,
            )
    ax.set_xlabel("seconds since the first trial started")
    ax.set_ylabel("slot")
    ax.yaxis.set_major_locator(integer_locator(integer=True))
    ax.set_title("trials over time")
    if shown - {TrialState.OK}:  # which colour is which state
        ax.legend(
            handles=[
                Patch(color=colours.get(state, "tab:orange"), label=state.value)
                for state in TrialState
                if state in shown
            ],
            fontsize="small",
        )
    if curves:
        _draw_curves(flat[2 + len(numeric)], trials, maximize)
    for ax in flat[2 + len(numeric) + curves :]:
        ax.set_visible(False)
    figure.tight_layout()
    return figure


def _draw_curves(ax: Any, trials: Sequence[Trial], maximize: bool = False) -> None:
    """Loss against step for every trial that reported: pruned ones muted, completed ones in
    blue, the best completed one in red on top."""
    from matplotlib.collections import LineCollection

    reported = [t for t in trials if t.reports]
    ok = [t for t in reported if t.ok]
    best = best_trial(ok, maximize=maximize)
    groups = [
        ("pruned", TrialState.PRUNED, _PRUNED_COLOUR, 0.4, 0.9),
        ("failed", TrialState.FAIL, "tab:grey", 0.5, 0.8),
        ("interrupted", TrialState.INTERRUPTED, "tab:grey", 0.5, 0.8),
        ("running", TrialState.RUNNING, "tab:orange", 0.8, 1.2),
        ("ok", TrialState.OK, "tab:blue", 0.7, 1.2),
    ]
    for name, state, colour, alpha, width in groups:
        group = [t for t in reported if t.state is state and t is not best]
        if not group:
            continue
        ax.add_collection(
            LineCollection(
                [list(t.reports) for t in group],
                colors=colour,
                alpha=alpha,
                linewidths=width,
                label=f"{name} ({len(group) + (state is TrialState.OK and best is not None)})",
            ),
            autolim=True,
        )
        if state is TrialState.PRUNED:
            # Where each pruned trial stopped (a trial pruned at its first report is a dot).
            ax.scatter(
                [t.reports[-1][0] for t in group],
                [t.reports[-1][1] for t in group],
                s=8,
                marker="x",
                alpha=0.5,
                color=colour,
            )
    if best is not None:
        ax.plot(
            [step for step, _ in best.reports],
            [loss for _, loss in best.reports],
            color="tab:red",
            linewidth=2.5,
            label=f"best: trial {best.id}",
        )
    ax.autoscale_view()
    losses = [loss for t in reported for _, loss in t.reports]
    if min(losses) > 0 and max(losses) > 100 * min(losses):
        ax.set_yscale("log")  # losses over several decades
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("learning curves")
    ax.legend(fontsize="small")


def _save(figure: Any, target: Path) -> Path:
    """Write ``figure`` as a PNG, SVG or PDF (by the suffix; PNG for any other)."""
    suffix = target.suffix.lower()
    if suffix in (".svg", ".pdf"):
        figure.savefig(target, format=suffix[1:], dpi=100)
    else:
        figure.savefig(target, format="png", dpi=100)
    return target


def plot_trials(
    trials: Sequence[Trial],
    labels: Sequence[str],
    path: str | Path,
    *,
    log_labels: Sequence[str] = (),
    options: Mapping[str, Sequence[object]] | None = None,
    directions: Sequence[str] | None = None,
) -> Path:
    """Draw the report of a study's trials to ``path`` (``.png``, ``.svg`` or ``.pdf``).

    The report shows the loss per trial with the best-so-far line, the loss against each
    parameter, the trials over time by slot and, when trials reported intermediate losses,
    their learning curves. Pruned trials are drawn in a muted colour of their own.

    :param trials: the study's trial records.
    :param labels: the space's labels, in order.
    :param log_labels: labels drawn on a log axis (the log-scaled parameters).
    :param options: the options of each choice, by label (see
        :attr:`asynchpo.Study.options`): drawn and shown instead of their indices.
    :param directions: the study's, one per objective (default: as many minimised objectives
        as the trials have values). With several, the figure is the Pareto front (see the
        module docstring); with one ``"maximize"``, the best-so-far line follows the highest.
    :raises ImportError: when matplotlib is not installed, with the command that installs it.
    """
    options = options or {}
    objectives = _objectives(trials, directions)
    if objectives.several:
        return _save(_pareto_figure(trials, objectives), Path(path))
    maximize = objectives.directions[0] == "maximize"
    figure = _figure(trials, labels, set(log_labels), options, maximize)
    return _save(figure, Path(path))


def plot_curves(trials: Sequence[Trial], path: str | Path) -> Path:
    """Draw the learning curves of a study to ``path`` (``.png``, ``.svg`` or ``.pdf``):
    the loss against the step for each trial that reported, pruned trials muted, completed
    ones in blue and the best one in red.

    :param trials: the study's trial records.
    :raises ValueError: when no trial reported a loss at a step.
    :raises ImportError: when matplotlib is not installed, with the command that installs it.
    """
    if not any(t.reports for t in trials):
        raise ValueError(_NO_REPORTS)
    figure_class, _ = _matplotlib()
    figure = figure_class(figsize=(8, 5))
    _draw_curves(figure.subplots(), trials)
    figure.tight_layout()
    return _save(figure, Path(path))
