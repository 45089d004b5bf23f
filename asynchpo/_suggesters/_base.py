"""The suggester seam: how a search algorithm proposes the next point.

A suggester is a callable ``algo(space, history, pending, rng) -> row``:

- ``space``: the compiled :class:`~asynchpo._space.Space`.
- ``history``: a :class:`History` of the finished trials.
- ``pending``: a ``(m, d)`` float array of the points being evaluated now (and of any points
  proposed earlier in the same burst), NaN where a label is inactive. Algorithms that model
  the objective should avoid proposing them again.
- ``rng``: a generator that belongs to this one trial (derived from the study seed and the
  trial id), so that a suggestion does not depend on timing.

It returns one row of length ``len(space)`` in the space's support (``space.snap`` helps),
NaN for inactive labels.

Contract: a suggester is **pure and synchronous**. It does no I/O, awaits nothing, keeps no
state that changes its answers (it may cache work keyed on the history), and never mutates its
inputs. The scheduler may call it from a worker thread, one call at a time.

Options are keyword arguments bound with :func:`functools.partial`, as in hyperopt:
``functools.partial(anneal.suggest, avg_best_idx=3.0)``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from asynchpo._space import Space

__all__ = [
    "History",
    "HistoryBuffer",
    "Suggester",
    "TrialRngs",
    "algo_name",
    "objectives_supported",
    "trial_rng",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclasses.dataclass(frozen=True, slots=True)
class History:
    """The finished trials a suggester learns from, as columns. Read-only.

    :param rows: ``(n, d)`` points, NaN where a label was inactive.
    :param losses: ``(n,)`` losses; NaN for failed and pruned trials.
    :param ids: ``(n,)`` trial ids, in the order the trials finished.
    :param pruned: ``(n,)`` which trials a pruner stopped early. Their loss is NaN: it was
        measured at an earlier step than the others' and cannot be ranked with them. Unlike
        other failures, they are evaluations the search chose to cut short.
    :param origin: the :class:`HistoryBuffer` the snapshot was taken from (a number unique in
        the process), or ``None``. Two snapshots of one origin agree on their common prefix:
        the shorter is the longer's first ``len`` trials. So a suggester may key what it
        learned from a history on ``(origin, len)`` and, given a longer snapshot of the same
        origin, only take in the trials appended since, instead of hashing or copying it all.
    :param objectives: with several objectives, ``(n, k)`` losses, every one to be minimised
        (a maximised objective is negated), NaN rows for trials without a result; ``None``
        for a single objective. ``losses`` then holds a finite value for every successful
        trial. A suggester that cannot search several objectives must refuse such a study
        (see :func:`objectives_supported`).
    :param violations: with constraints, ``(n,)`` total violations: 0 for a feasible trial,
        the sum of its positive constraint values otherwise, NaN without a result; ``None``
        without constraints.
    """

    rows: FloatArray
    losses: FloatArray
    ids: IntArray
    pruned: npt.NDArray[np.bool_]
    origin: int | None = None
    objectives: FloatArray | None = None
    violations: FloatArray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Which trials succeeded (have a finite loss)."""
        return ~np.isnan(self.losses)


_ORIGINS = itertools.count()


class HistoryBuffer:
    """Append-only columnar storage behind :class:`History` snapshots.

    Invariant: rows below ``len(self)`` are never written again, so a snapshot (a view of the
    first n rows, never a copy) stays valid while more trials are appended, even from another
    thread: growing allocates new arrays and leaves the old ones to the snapshots that hold
    them. Every snapshot carries the buffer's :attr:`origin`, so snapshots of one buffer are
    prefixes of each other (see :class:`History`).
    """

    def __init__(self, n_params: int, capacity: int = 256, *, objectives: int = 1) -> None:
        #: A number no other buffer of this process has.
        self.origin = next(_ORIGINS)
        self._n = 0
        self._rows = np.empty((capacity, n_params))
        self._losses = np.empty(capacity)
        self._ids = np.empty(capacity, dtype=np.int64)
        self._pruned = np.zeros(capacity, dtype=np.bool_)
        # With several objectives, their (minimised) values; with constraints, violations.
        self._objectives = np.empty((capacity, objectives)) if objectives > 1 else None
        self._violations = np.zeros(capacity)
        self._constrained = False

    def __len__(self) -> int:
        return self._n

    def append(
        self,
        trial_id: int,
        row: FloatArray,
        loss: float | None,
        *,
        pruned: bool = False,
        values: Sequence[float] | None = None,
        violation: float = 0.0,
    ) -> None:
        """Add one finished trial; ``loss`` is ``None`` for a failed or pruned one.

        :param values: with several objectives, a successful trial's minimised values
            (``loss`` then holds the first).
        :param violation: a successful trial's total constraint violation (0: feasible).
        """
        if self._n == len(self._ids):
            grown = 2 * len(self._ids)
            self._rows = np.concatenate([self._rows, np.empty_like(self._rows)])[:grown]
            self._losses = np.concatenate([self._losses, np.empty_like(self._losses)])
            self._ids = np.concatenate([self._ids, np.empty_like(self._ids)])
            self._pruned = np.concatenate([self._pruned, np.zeros_like(self._pruned)])
            self._violations = np.concatenate([self._violations, np.zeros_like(self._violations)])
            if self._objectives is not None:
                self._objectives = np.concatenate(
                    [self._objectives, np.empty_like(self._objectives)]
                )
        n = self._n
        self._rows[n] = row
        self._losses[n] = np.nan if loss is None else loss
        self._ids[n] = trial_id
        self._pruned[n] = pruned
        if self._objectives is not None:
            self._objectives[n] = np.nan if loss is None or values is None else values
        self._violations[n] = np.nan if loss is None else violation
        self._constrained = self._constrained or violation > 0
        self._n += 1

    def snapshot(self) -> History:
        """The trials appended so far, as an immutable view."""
        n = self._n
        rows, losses, ids = self._rows[:n], self._losses[:n], self._ids[:n]
        pruned = self._pruned[:n]
        objectives = None if self._objectives is None else self._objectives[:n]
        violations = self._violations[:n] if self._constrained else None
        for array in (rows, losses, ids, pruned, objectives, violations):
            if array is not None:
                array.flags.writeable = False
        return History(
            rows=rows,
            losses=losses,
            ids=ids,
            pruned=pruned,
            origin=self.origin,
            objectives=objectives,
            violations=violations,
        )


class Suggester(Protocol):
    """A search algorithm. See the module docstring for the contract."""

    def __call__(
        self,
        space: Space,
        history: History,
        pending: FloatArray,
        rng: np.random.Generator,
    ) -> FloatArray: ...


def trial_rng(seed: int, trial_id: int) -> np.random.Generator:
    """The generator of one trial: Philox keyed by (seed, trial id).

    A counter-based generator gives every trial its own independent stream, whatever the order
    in which trials are suggested.
    """
    key = np.array([seed & 0xFFFF_FFFF_FFFF_FFFF, trial_id], dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=key))


class TrialRngs:
    """Makes the same generators as :func:`trial_rng`, ten times faster.

    Building a Philox seeds it from the OS first (its key then replaces that seed), which
    costs more than a cheap suggestion. This factory re-keys one bit generator instead, so a
    generator it returns is valid only until the next call: use one at a time.
    """

    def __init__(self, seed: int) -> None:
        self._bits = np.random.Philox(key=np.array([seed & 0xFFFF_FFFF_FFFF_FFFF, 0], np.uint64))
        self._fresh = self._bits.state

    def __call__(self, trial_id: int) -> np.random.Generator:
        state = self._fresh
        state["state"]["key"][1] = trial_id
        self._bits.state = state
        return np.random.Generator(self._bits)


def algo_name(algo: object) -> str:
    """A stable name for an algorithm and its options, stored with the study.

    ``rand.suggest`` -> ``"rand"``; ``partial(anneal.suggest, shrink_coef=0.2)`` ->
    ``"anneal(shrink_coef=0.2)"``; any other callable -> its module and qualified name.
    Options bound to asynchpo's own suggesters are checked here (its ``check_options``), so
    a bad option fails before any work.
    """
    keywords: dict[str, Any] = {}
    while isinstance(algo, functools.partial):
        if algo.args:
            raise TypeError(
                "bind suggester options by keyword, e.g. "
                "functools.partial(anneal.suggest, shrink_coef=0.2)"
            )
        keywords = {**algo.keywords, **keywords}
        algo = algo.func
    check = getattr(algo, "check_options", None)
    if callable(check):  # the options bound with partial, checked before any work
        check(**keywords)
    name = getattr(algo, "algo_name", None)
    if not isinstance(name, str):
        module = getattr(algo, "__module__", None) or type(algo).__module__
        qualname = getattr(algo, "__qualname__", None) or type(algo).__qualname__
        name = f"{module}.{qualname}"
    if keywords:
        options = ", ".join(f"{key}={_option_text(keywords[key])}" for key in sorted(keywords))
        name = f"{name}({options})"
    return name


def objectives_supported(algo: object) -> bool:
    """Whether a suggester searches several objectives and constraints: its
    ``multi_objective`` attribute (through any :func:`functools.partial` around it). One that
    does not would rank by the first objective alone, so a study with several must refuse it.
    """
    while isinstance(algo, functools.partial):
        algo = algo.func
    return getattr(algo, "multi_objective", False) is True


def _option_text(value: object) -> str:
    """An option's value in an algorithm's name: algorithms among the options (``mix``'s
    ``p_suggest``) by their own names, never by a ``repr`` that holds a memory address."""
    if callable(value):
        return algo_name(value)
    if isinstance(value, list | tuple):
        items = [_option_text(item) for item in value]
        if isinstance(value, list):
            return f"[{', '.join(items)}]"
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    return repr(value)
