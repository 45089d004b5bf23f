"""Simulated-annealing search: hyperopt's ``anneal.suggest``.

For each label, pick one of the better earlier trials where the label was active (the k-th
best, k drawn from a geometric distribution with mean ``avg_best_idx``), and sample near its
value: uniform kinds within a window around it whose width is the prior's range times
``1 / (1 + T * shrink_coef)``, normal kinds with the prior's sigma times that factor, and
categorical kinds from a mixture of "the same option" and the prior. T is the number of trials
where the label was active, so the search narrows as trials accumulate. A randint of more
than ``MAX_CATEGORIES`` values is searched like ``uniformint`` (a window around the anchor),
so no step costs memory or time in proportion to its range.

Differences from hyperopt, on purpose: only finished trials are learned from (hyperopt also
counts pending ones in T), and failed trials rank last, as hyperopt's infinite loss does.
"""

from __future__ import annotations

import numpy as np

from asynchpo import _checks as checks
from asynchpo._exceptions import ConfigError
from asynchpo._kinds import NORMAL_KINDS
from asynchpo._space import Param, Space, as_modelled
from asynchpo._suggesters._base import FloatArray, History

__all__ = ["suggest"]


def _anchor(
    column: FloatArray, order: np.ndarray, rng: np.random.Generator, avg_best_idx: float
) -> float | None:
    """The value of the k-th best trial where the label was active, k ~ Geometric - 1."""
    values = column[order]
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return None
    k = min(int(rng.geometric(1.0 / avg_best_idx)) - 1, len(values) - 1)
    return float(values[k])


def _categorical_prior(param: Param) -> FloatArray:
    if param.probs is not None:
        return np.asarray(param.probs, dtype=float)
    return np.full(param.n_options, 1.0 / param.n_options)


def _prior(param: Param, rng: np.random.Generator) -> float:
    """One draw from the label's prior, before quantization."""
    if param.categorical:
        return float(param.offset + rng.choice(param.n_options, p=_categorical_prior(param)))
    if param.kind in NORMAL_KINDS:
        x = rng.normal(param.mu, param.sigma)
    else:
        x = rng.uniform(param.low, param.high)
    return float(np.exp(x)) if param.log else float(x)


def _near(param: Param, anchor: float, shrink: float, rng: np.random.Generator) -> float:
    if param.categorical:
        prior = _categorical_prior(param)
        counts = np.zeros(param.n_options)
        counts[int(anchor) - param.offset] = 1.0
        p = (1.0 - shrink) * counts + shrink * prior
        return float(param.offset + rng.choice(param.n_options, p=p / p.sum()))
    if param.kind in NORMAL_KINDS:
        centre = np.log(max(anchor, 1e-16)) if param.log else anchor
        x = rng.normal(centre, param.sigma * shrink)
    else:
        # qloguniform can produce 0; its log is -inf, which the clip below moves to the edge.
        log_anchor = float(np.log(anchor)) if anchor > 0 else -np.inf
        centre = log_anchor if param.log else anchor
        half = 0.5 * (param.high - param.low) * shrink
        centre = float(np.clip(centre, param.low + half, param.high - half))
        x = rng.uniform(centre - half, centre + half)
    return float(np.exp(x)) if param.log else float(x)


def check_options(
    *, avg_best_idx: object = 2.0, shrink_coef: object = 0.1, **unknown: object
) -> None:
    """Refuse options that cannot work: TypeError for the wrong kind, ConfigError for a value."""
    if unknown:
        raise ConfigError(
            f"anneal.suggest got unknown option(s) {sorted(unknown)}; "
            "the options are ['avg_best_idx', 'shrink_coef']"
        )
    checks.number("anneal: avg_best_idx", avg_best_idx, at_least=1)
    checks.number("anneal: shrink_coef", shrink_coef, at_least=0)


def suggest(
    space: Space,
    history: History,
    pending: FloatArray,
    rng: np.random.Generator,
    *,
    avg_best_idx: float = 2.0,
    shrink_coef: float = 0.1,
) -> FloatArray:
    """Propose one point by annealing around the best trials so far (hyperopt's options).

    :param avg_best_idx: the mean rank (0 = best) of the trial each label starts from.
    :param shrink_coef: how fast the search window narrows with the number of trials.
    """
    check_options(avg_best_idx=avg_best_idx, shrink_coef=shrink_coef)
    # Failed trials rank last; ties go to the older trial, as in hyperopt.
    losses = np.where(np.isnan(history.losses), np.inf, history.losses)
    order = np.lexsort((history.ids, losses))
    row = np.full(len(space), np.nan)
    # Parents come before their children, so each label's activity is known when it is drawn.
    for param in map(as_modelled, space.params):  # a randint of many values is ordinal
        if param.parents and not any(row[column] == option for column, option in param.parents):
            continue
        column = history.rows[:, param.column]
        anchor = _anchor(column, order, rng, avg_best_idx) if len(history) else None
        if anchor is None:
            row[param.column] = _prior(param, rng)
            continue
        observed = int(np.count_nonzero(~np.isnan(column)))
        shrink = 1.0 / (1.0 + observed * shrink_coef)
        row[param.column] = _near(param, anchor, shrink, rng)
    snapped: FloatArray = space.snap(row[None, :])[0]
    return snapped


suggest.algo_name = "anneal"  # type: ignore[attr-defined]
suggest.check_options = check_options  # type: ignore[attr-defined]
