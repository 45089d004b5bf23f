"""The search space of the several-drivers tests: ``--space driver_space.py:space``."""

from asynchpo import hp

space = {
    "x": hp.uniform("x", -5, 5),
    "kind": hp.choice("kind", [{"k": "a"}, {"k": "b", "y": hp.quniform("y", 0, 10, 1)}]),
}
