"""Simulated annealing, as hyperopt's ``anneal`` module: ``fmin(..., algo=anneal.suggest)``.

Options as in hyperopt: ``functools.partial(anneal.suggest, avg_best_idx=2.0, shrink_coef=0.1)``.
"""

from asynchpo._suggesters._anneal import suggest

__all__ = ["suggest"]
