"""A space file that fails: ``--space bad_space.py:space`` must report it in one line."""

raise RuntimeError("this space file is broken on purpose")
