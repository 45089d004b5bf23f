"""``sample``: one random point of a space, without a search (hyperopt's
``hyperopt.pyll.stochastic.sample``)."""

from __future__ import annotations

import numbers

import numpy as np

from asynchpo._space import Space, compile_space

__all__ = ["sample"]


def sample(space: object, rng: np.random.Generator | int | None = None) -> object:
    """One point drawn from the prior of ``space``, evaluated: what an objective would
    receive (choices give their chosen option; ``randint`` an ``int``, other numbers a
    ``float``), as hyperopt's ``hyperopt.pyll.stochastic.sample(space, rng)``.

    :param space: ``hp.*`` expressions in dicts, lists and tuples, or a compiled :class:`Space`.
    :param rng: a ``numpy.random.Generator``, or a seed; default: a fresh generator.
    :raises SpaceError: for a space that cannot be compiled.
    """
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        generator = np.random.default_rng(None if rng is None else int(rng))
    elif isinstance(rng, np.random.Generator):
        generator = rng
    else:
        raise TypeError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)) or a seed, "
            f"got {type(rng).__name__}"
        )
    compiled = space if isinstance(space, Space) else compile_space(space)
    row = compiled.sample(generator, 1)[0]
    return compiled.evaluate(compiled.to_point(row))
