"""The synchronous twin of a study, for scripts and notebooks."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import anyio.from_thread

from asynchpo._storage import Storage
from asynchpo._study import DEFAULT_STUDY, RunningTrial, Study, open_study
from asynchpo._trial import Trial

__all__ = ["SyncStudy", "open_study_sync"]


class SyncStudy:
    """:class:`Study` for code that is not async: the same methods, called plainly.

    The study lives on an event loop in a thread of its own (an anyio blocking portal), so it
    works in scripts and inside Jupyter, where an event loop already runs. Open it with
    :func:`open_study_sync`.
    """

    def __init__(self, study: Study, portal: anyio.from_thread.BlockingPortal) -> None:
        self._study = study
        self._portal = portal

    @property
    def study(self) -> Study:
        """The asynchronous study behind this one (for its read-only properties)."""
        return self._study

    def __getattr__(self, name: str) -> Any:
        # Read-only properties (trials, best_trial, name, ...) come from the study itself.
        if name.startswith("_") or name in ("ask", "tell", "report", "enqueue", "refresh"):
            raise AttributeError(name)
        return getattr(self._study, name)

    @overload
    def ask(self, n: None = None, *, slot: int | None = None) -> RunningTrial: ...

    @overload
    def ask(self, n: int, *, slot: int | None = None) -> list[RunningTrial]: ...

    def ask(
        self, n: int | None = None, *, slot: int | None = None
    ) -> RunningTrial | list[RunningTrial]:
        """See :meth:`Study.ask`."""
        if n is None:
            return self._portal.call(functools.partial(self._study.ask, slot=slot))
        return self._portal.call(functools.partial(self._study.ask, n, slot=slot))

    def tell(
        self,
        trial: RunningTrial | int,
        result: object = None,
        *,
        exception: BaseException | None = None,
        pruned: bool = False,
    ) -> Trial:
        """See :meth:`Study.tell`."""
        return self._portal.call(
            functools.partial(self._study.tell, trial, result, exception=exception, pruned=pruned)
        )

    def report(self, trial: RunningTrial | int, step: int, loss: float) -> None:
        """See :meth:`Study.report`."""
        self._portal.call(self._study.report, trial, step, loss)

    def enqueue(self, points: Sequence[Mapping[str, object]]) -> list[Trial]:
        """See :meth:`Study.enqueue`."""
        return self._portal.call(self._study.enqueue, points)

    def refresh(self) -> None:
        """See :meth:`Study.refresh`."""
        self._portal.call(self._study.refresh)


@contextlib.contextmanager
def open_study_sync(
    storage: str | os.PathLike[str] | Storage | None = None,
    study: str = DEFAULT_STUDY,
    **options: Any,
) -> Iterator[SyncStudy]:
    """:func:`open_study` for code that is not async (scripts, notebooks)::

        with asynchpo.open_study_sync("runs.sqlite", "exp1", space=space) as study:
            trial = study.ask()
            study.tell(trial, train(trial.params))

    Takes the same arguments as :func:`open_study`.
    """
    with anyio.from_thread.start_blocking_portal() as portal:
        manager = open_study(storage, study, **options)
        with portal.wrap_async_context_manager(manager) as handle:
            yield SyncStudy(handle, portal)
