"""``Command``: an objective that runs a program per trial, such as a training script.

Each trial starts the program in its own process group with the trial's parameters on its
command line and in its environment, drains its output to a per-trial log, reads the loss it
reports, and makes sure that nothing it started outlives the trial. :class:`Command` documents
the protocol a program follows.
"""

from asynchpo._command._objective import Command

__all__ = ["Command"]
