"""Pictures of a study: loss per trial, loss against each parameter, trials over time.

Plotting is optional: it needs matplotlib (``pip install 'asynchpo[plot]'``), imported only
when a report is drawn. :func:`plot_trials` writes a PNG, or with an ``.html`` path a single
self-contained page: the same figure inlined as an image, and the data as a table and as JSON.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asynchpo._trial import Trial, TrialState

__all__ = ["lanes", "plot_trials"]

_INSTALL_HINT = "plotting needs matplotlib: pip install 'asynchpo[plot]'"


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


def _figure(trials: Sequence[Trial], labels: Sequence[str], log_labels: set[str]) -> Any:
    try:
        # A Figure of its own, not pyplot: no global backend or figure state is touched, so
        # drawing a report inside a notebook leaves its plotting as it was.
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc

    ok = [t for t in trials if t.state is TrialState.OK and t.loss is not None]
    numeric = [label for label in labels if any(label in t.params for t in ok)]
    panels = 2 + len(numeric)
    columns = min(3, panels)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(5 * columns, 3.6 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    flat = list(axes.flat)

    ax = flat[0]
    ids = [t.id for t in ok]
    losses = [float(t.loss) for t in ok if t.loss is not None]
    ax.scatter(ids, losses, s=10, alpha=0.6, label="trial")
    best: list[float] = []
    for loss in losses:
        best.append(loss if not best else min(best[-1], loss))
    ax.step(ids, best, where="post", color="tab:red", label="best so far")
    failed = [t.id for t in trials if t.state is TrialState.FAIL]
    if failed and losses:
        ax.scatter(failed, [max(losses)] * len(failed), marker="x", color="grey", label="failed")
    ax.set_xlabel("trial")
    ax.set_ylabel("loss")
    ax.set_title("loss per trial")
    ax.legend(fontsize="small")

    for ax, label in zip(flat[1:], numeric, strict=False):
        points = [(float(t.params[label]), float(t.loss)) for t in ok if label in t.params]  # type: ignore[arg-type]
        ax.scatter([x for x, _ in points], [y for _, y in points], s=10, alpha=0.6)
        if label in log_labels:
            ax.set_xscale("log")
        elif all(isinstance(t.params[label], int) for t in ok if label in t.params):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # options, randint values
        ax.set_xlabel(label)
        ax.set_ylabel("loss")
        ax.set_title(f"loss against {label}")

    ax = flat[1 + len(numeric)]
    # The slot each trial held, as stored; packed lanes for records written without one.
    lane_of = lanes(trials)
    lane_of.update({t.id: t.slot for t in trials if t.slot is not None})
    starts = [t.started for t in trials if t.started is not None]
    origin = min(starts) if starts else 0.0
    colours = {TrialState.OK: "tab:blue", TrialState.FAIL: "tab:grey"}
    for trial in trials:
        if trial.id in lane_of and trial.started is not None and trial.finished is not None:
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
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("trials over time (orange: interrupted)")
    for ax in flat[2 + len(numeric) :]:
        ax.set_visible(False)
    figure.tight_layout()
    return figure


def _table(trials: Sequence[Trial], labels: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["tid", "state", "loss", *labels])
    rows = []
    for t in trials:
        cells = [str(t.id), t.state.value, "" if t.loss is None else f"{t.loss:.6g}"]
        cells += [str(t.params.get(label, "")) for label in labels]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def plot_trials(
    trials: Sequence[Trial],
    labels: Sequence[str],
    path: str | Path,
    *,
    log_labels: Sequence[str] = (),
    title: str = "asynchpo study",
) -> Path:
    """Draw the report of a study's trials to ``path`` (``.png``, or ``.html`` for one file).

    :param trials: the study's trial records.
    :param labels: the space's labels, in order.
    :param log_labels: labels drawn on a log axis (the log-scaled parameters).
    :raises ImportError: when matplotlib is not installed, with the command that installs it.
    """
    target = Path(path)
    figure = _figure(trials, labels, set(log_labels))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    png = buffer.getvalue()
    if target.suffix.lower() in (".html", ".htm"):
        data = [
            {"tid": t.id, "state": t.state.value, "loss": t.loss, "params": dict(t.params)}
            for t in trials
        ]
        # Escape "</" so that no value can end the script element early; JSON reads it back.
        script_json = json.dumps(data).replace("</", "<\\/")
        page = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}</style>"
            f"</head><body><h1>{html.escape(title)}</h1>"
            f"<img alt='report' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
            f"<h2>Trials</h2>{_table(trials, labels)}"
            "<script type='application/json' id='trials'>"
            f"{script_json}</script></body></html>"
        )
        target.write_text(page, encoding="utf-8")
    else:
        target.write_bytes(png)
    return target
