"""Stop rules for ``fmin(early_stop_fn=...)``, with hyperopt's protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asynchpo import _checks as checks
from asynchpo._trials import Trials

__all__ = ["no_progress_loss"]


def no_progress_loss(
    iteration_stop_count: int = 20, percent_increase: float = 0.0
) -> Callable[..., tuple[bool, list[Any]]]:
    """Stop when ``iteration_stop_count`` finished trials in a row did not improve the best loss.

    hyperopt's rule: a trial counts as progress when its loss is below the best loss so far by
    more than ``percent_increase`` percent of it (above it, when the study maximises). With
    several objectives, a trial counts as progress when it joins the Pareto front. With trials
    in flight, "in a row" follows the order in which trials finish; failed trials count as no
    progress.

    :param iteration_stop_count: how many trials without progress to tolerate.
    :param percent_increase: the relative improvement, in percent, that counts as progress.
    :raises TypeError: for an argument of the wrong kind (a float count, a string).
    :raises ConfigError: for a negative count, or a percentage that is NaN or infinite.
    """
    checks.whole("iteration_stop_count", iteration_stop_count)
    checks.number("percent_increase", percent_increase)

    def stop_fn(
        trials: Trials, best_loss: float | None = None, iteration_no_progress: int = 0
    ) -> tuple[bool, list[Any]]:
        trial = trials.last_finished
        objectives = trials._objectives
        if objectives.several:
            front = {doc["tid"] for doc in trials.best_trials}
            joined = trial is not None and trial.id in front
            iteration_no_progress = 0 if joined else iteration_no_progress + 1
            return iteration_no_progress >= iteration_stop_count, [None, iteration_no_progress]
        # Compared as minimised: a maximised loss is negated here, and only here.
        sign = -1.0 if objectives.directions[0] == "maximize" else 1.0
        new_loss = (
            sign * trial.loss if trial is not None and trial.ok and trial.loss is not None else None
        )
        if best_loss is None:
            return False, [new_loss, iteration_no_progress + 1]
        threshold = best_loss - abs(best_loss * (percent_increase / 100.0))
        if new_loss is not None and new_loss < threshold:
            best_loss = new_loss
            iteration_no_progress = 0
        else:
            iteration_no_progress += 1
        return iteration_no_progress >= iteration_stop_count, [best_loss, iteration_no_progress]

    return stop_fn
