"""A search space in Python, for ``--space space.py:space``."""

from asynchpo import hp

space = {
    "lr": hp.loguniform("lr", -9, -1),
    "layers": hp.choice("layers", [1, 2, 3]),
}
