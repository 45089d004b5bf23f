"""The exceptions asynchpo raises.

One tree, rooted at :class:`AsynchpoError`::

    AsynchpoError
    ├── SpaceError            a search space that cannot be compiled (also a ValueError)
    ├── ConfigError           an argument that cannot work (also a ValueError)
    ├── StudyError
    │   ├── StudyNotFound     load_trials on a study that was never created
    │   ├── StudyMismatch     resuming a study with a different space, algorithm or seed
    │   └── LeaseLost         a driver's trial was taken over after its lease lapsed
    ├── StorageError          the checkpoint could not be read or written
    ├── TrialCrashed          an evaluation crashed or timed out (retried with ``retries``)
    ├── TrialPruned           a pruner stopped the trial (raised inside the objective)
    ├── ExecutorError         the executor cannot run trials any more (a lost Dask scheduler)
    └── AllTrialsFailed       no trial succeeded, so there is no best one

Every message says what went wrong and how to fix it. Errors from other libraries (sqlite3,
aiosqlite) are wrapped ``from`` the original so the cause stays visible.

Exceptions raised by the objective are not wrapped: with ``catch_eval_exceptions=False``
``fmin`` re-raises the objective's own exception.
"""

from __future__ import annotations

__all__ = [
    "AllTrialsFailed",
    "AsynchpoError",
    "ConfigError",
    "ExecutorError",
    "LeaseLost",
    "SpaceError",
    "StorageError",
    "StudyError",
    "StudyMismatch",
    "StudyNotFound",
    "TrialCrashed",
    "TrialPruned",
]


class AsynchpoError(Exception):
    """Base class of every error asynchpo raises itself."""


class SpaceError(AsynchpoError, ValueError):
    """A search space is invalid: the message names the label and the fix."""


class ConfigError(AsynchpoError, ValueError):
    """An argument (to ``fmin``, a suggester, an executor) has a value that cannot work."""


class StudyError(AsynchpoError):
    """A study cannot be opened as asked."""


class StudyNotFound(StudyError, LookupError):
    """The named study does not exist in the storage."""


class StudyMismatch(StudyError):
    """A stored study was created with a different space, algorithm or seed."""


class LeaseLost(StudyError):
    """This driver's trial was taken over by another driver after this one's lease lapsed.

    A driver renews its lease on a study while it runs; one that stops renewing it for longer
    than its ``lease_seconds`` (killed, suspended, frozen) loses its running trials to the
    other drivers, which run them again. Its late result is refused, never stored over theirs.
    """


class StorageError(AsynchpoError):
    """The storage could not read or write a record."""


class AllTrialsFailed(AsynchpoError):
    """There is no successful trial to report (hyperopt's ``AllTrialsFailed``)."""


class TrialCrashed(AsynchpoError):
    """An evaluation crashed (its process died or exited non-zero) or timed out.

    Raised by an objective or executor instead of returning a result. The trial is recorded as
    failed with this message, and the run goes on; with ``fmin(retries=k)`` it is first run again
    up to k times. A result with ``STATUS_FAIL`` is a failure, not a crash, and is never retried.
    """


class ExecutorError(AsynchpoError):
    """The executor can no longer run trials: for example, the Dask scheduler is unreachable.

    This is no trial's fault, so no trial is failed for it: the run stops, the trials in flight
    are recorded as interrupted, and running ``fmin`` again with the same study resumes it.
    """


class TrialPruned(AsynchpoError):
    """The pruner stopped this trial: raised by ``trial.report(...)`` inside the objective.

    Catch it to clean up (close files, save a checkpoint) and let it propagate, or return:
    either way the trial is recorded as ``PRUNED`` with its last reported loss. An objective
    may also raise it itself to stop early, as in Optuna. It is never an error of the run.
    """
