"""A mixture of search algorithms, as hyperopt's ``mix`` module::

algo = functools.partial(
    mix.suggest, p_suggest=[(0.1, rand.suggest), (0.2, anneal.suggest), (0.7, tpe.suggest)]
)
"""

from asynchpo._suggesters._mix import suggest

__all__ = ["suggest"]
