"""Random search, as hyperopt's ``rand`` module: ``fmin(..., algo=rand.suggest)``."""

from asynchpo._suggesters._random import suggest

__all__ = ["suggest"]
