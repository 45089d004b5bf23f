"""The suggester contract as a reusable test suite: every :class:`~asynchpo.Suggester` must pass it.

The contract is written in the docstring of the suggester seam
(``asynchpo/_suggesters/_base.py``): ``algo(space, history, pending, rng) -> row`` returns one
row in the space's support (NaN for inactive labels), is pure (the same inputs and generator
give the same row, whatever was asked before) and never mutates its inputs.
:class:`SuggesterContract` checks it over several spaces (every numeric kind, choices, choices
nested in choices, a finite grid), with histories of failed and pruned trials, pending points,
an empty history and a long one. asynchpo runs it over ``rand``, ``anneal``, ``tpe`` and ``mix``;
a new algorithm runs it unchanged by subclassing it in a test module and providing an ``algo``
fixture::

    import pytest
    from asynchpo.testing.suggester import SuggesterContract

    class TestMyAlgo(SuggesterContract):
        @pytest.fixture
        def algo(self):
            return functools.partial(my_algo.suggest, my_option=3)

The fixture returns the suggester (a function, a ``functools.partial`` or an instance). The
tests are plain functions; the whole class takes a few seconds for a model-based algorithm.
pytest collects the subclasses (their names start with ``Test``), never ``SuggesterContract``
on its own. :data:`SPACES`, :func:`history_of` and :func:`assert_in_support` are here for an
algorithm's own further tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import pytest

from asynchpo import hp
from asynchpo._space import Space, compile_space
from asynchpo._suggesters._base import (
    FloatArray,
    History,
    HistoryBuffer,
    Suggester,
    objectives_supported,
    trial_rng,
)

__all__ = ["SPACES", "SuggesterContract", "assert_in_support", "history_of"]

SPACES: dict[str, Space] = {
    "numeric": compile_space(
        {
            "u": hp.uniform("u", -5, 5),
            "q": hp.quniform("q", 0, 10, 2),
            "lu": hp.loguniform("lu", math.log(1e-4), math.log(1)),
            "qlu": hp.qloguniform("qlu", math.log(1), math.log(1000), 5),
            "n": hp.normal("n", 3, 2),
            "qn": hp.qnormal("qn", 0, 3, 0.5),
            "ln": hp.lognormal("ln", 0, 1),
            "qln": hp.qlognormal("qln", 2, 0.5, 1),
            "ri": hp.randint("ri", 3, 9),
            "ui": hp.uniformint("ui", 1, 6),
        }
    ),
    "choices": compile_space(
        {
            "c": hp.choice("c", ["a", "b", "c", "d"]),
            "p": hp.pchoice("p", [(0.7, "a"), (0.2, "b"), (0.1, "c")]),
            "flag": hp.choice("flag", [False, True]),
        }
    ),
    "nested": compile_space(
        {
            "lr": hp.loguniform("lr", math.log(1e-4), math.log(1)),
            "model": hp.choice(
                "model",
                [
                    {"depth": hp.uniformint("depth", 1, 6)},
                    {
                        "width": hp.lognormal("width", 0, 1),
                        "act": hp.choice(
                            "act",
                            [
                                {"kind": "relu"},
                                {"kind": "leaky", "slope": hp.uniform("slope", 0.01, 0.3)},
                            ],
                        ),
                    },
                    {"kind": "linear"},
                ],
            ),
        }
    ),
    "grid": compile_space(
        {
            "x": hp.quniform("x", 0, 1, 0.25),
            "k": hp.randint("k", 3),
            "opt": hp.choice("opt", ["a", "b"]),
        }
    ),
}
"""The spaces the contract is checked over: every numeric kind; choices; choices nested in
choices (labels inactive in most rows); a finite grid of 30 points."""


def history_of(
    space: Space,
    n: int,
    seed: int,
    *,
    failed: Sequence[int] = (),
    pruned: Sequence[int] = (),
    objectives: int = 1,
    constrained: bool = False,
) -> History:
    """A snapshot of ``n`` finished trials drawn from ``space``'s prior, losses drawn at random
    (with ties), trials ``failed`` and ``pruned`` without a loss; with ``objectives`` > 1 that
    many values per trial, and ``constrained``, violations (a third of the trials infeasible)."""
    rng = np.random.default_rng(seed)
    rows = space.sample(rng, n)
    values = np.round(rng.normal(size=(n, objectives)), 1)
    violations = np.where(rng.random(n) < 1 / 3, rng.random(n), 0.0) if constrained else None
    buffer = HistoryBuffer(len(space), capacity=4, objectives=objectives)
    for i in range(n):
        lost = i in failed or i in pruned
        buffer.append(
            i,
            rows[i],
            None if lost else float(values[i, 0]),
            pruned=i in pruned,
            values=None if objectives == 1 else tuple(values[i]),
            violation=0.0 if violations is None else float(violations[i]),
        )
    return buffer.snapshot()


def assert_in_support(space: Space, row: FloatArray) -> None:
    """``row`` is a row of ``space`` in its support: ``to_row`` refuses a value out of its
    support (bounds, grid, integers, option indices) and an active label without a value, so
    the round trip through a point checks every label; an inactive one must be NaN."""
    assert isinstance(row, np.ndarray), type(row)
    assert row.shape == (len(space),), row.shape
    assert row.dtype == np.float64, row.dtype
    np.testing.assert_array_equal(space.to_row(space.to_point(row)), row)


def _writable(history: History) -> History:
    """A copy of ``history`` whose arrays can be written to (so a mutation would not raise),
    without an origin."""
    return History(
        rows=history.rows.copy(),
        losses=history.losses.copy(),
        ids=history.ids.copy(),
        pruned=history.pruned.copy(),
        objectives=None if history.objectives is None else history.objectives.copy(),
        violations=None if history.violations is None else history.violations.copy(),
    )


def _rebuffered(history: History) -> History:
    """The same trials appended to a new buffer: another origin."""
    buffer = HistoryBuffer(history.rows.shape[1])
    for tid, row, loss, pruned in zip(
        history.ids, history.rows, history.losses, history.pruned, strict=True
    ):
        buffer.append(int(tid), row, None if math.isnan(loss) else float(loss), pruned=pruned)
    return buffer.snapshot()


def _pending(space: Space, n: int, seed: int) -> FloatArray:
    rows: FloatArray = space.sample(np.random.default_rng(seed), n)
    return rows


def _nothing(space: Space) -> FloatArray:
    return np.empty((0, len(space)))


class SuggesterContract:
    """The suggester conformance tests; subclass it as ``Test...`` with an ``algo`` fixture
    that returns the suggester (see the module's docstring)."""

    # Not collected on its own; any subclass is (if its name starts with ``Test``).
    __test__: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__test__" not in vars(cls):
            cls.__test__ = True

    @pytest.fixture(params=sorted(SPACES))
    def space(self, request: pytest.FixtureRequest) -> Space:
        """Each of :data:`SPACES` in turn."""
        space: Space = SPACES[request.param]
        return space

    def _histories(self, space: Space) -> Iterator[tuple[str, History, FloatArray]]:
        """Histories with pending points the support and determinism are checked over."""
        yield "empty", HistoryBuffer(len(space)).snapshot(), _nothing(space)
        yield "one trial", history_of(space, 1, 1), _pending(space, 1, 2)
        mixed = history_of(space, 40, 3, failed=(3, 17), pruned=(5, 6, 30))
        yield "failed and pruned trials", mixed, _pending(space, 5, 4)
        yield "all failed", history_of(space, 25, 5, failed=range(25)), _pending(space, 2, 6)
        yield "all pruned", history_of(space, 25, 7, pruned=range(25)), _nothing(space)

    # --- the support ----------------------------------------------------------------------

    def test_rows_lie_in_the_support(self, algo: Suggester, space: Space) -> None:
        for name, history, pending in self._histories(space):
            for trial_id in range(12):
                row = algo(space, history, pending, trial_rng(7, trial_id))
                try:
                    assert_in_support(space, row)
                except Exception as exc:
                    raise AssertionError(f"{name}, trial {trial_id}: {row!r}: {exc}") from exc

    def test_an_empty_history_and_no_pending_points(self, algo: Suggester, space: Space) -> None:
        empty = HistoryBuffer(len(space)).snapshot()
        rows = [algo(space, empty, _nothing(space), trial_rng(3, i)) for i in range(20)]
        for row in rows:
            assert_in_support(space, row)

    def test_pending_points_with_inactive_labels(self, algo: Suggester) -> None:
        space = SPACES["nested"]
        history = history_of(space, 30, 11, failed=(2,))
        pending = _pending(space, 8, 12)
        assert np.isnan(pending).any()  # labels of the branches not taken
        # Pending points may also repeat each other and a finished trial.
        pending = np.concatenate([pending, pending[:2], history.rows[:2]])
        for trial_id in range(12):
            assert_in_support(space, algo(space, history, pending, trial_rng(13, trial_id)))

    def test_a_long_history(self, algo: Suggester, space: Space) -> None:
        history = history_of(space, 300, 21, failed=range(0, 300, 17), pruned=range(5, 300, 23))
        pending = _pending(space, 4, 22)
        for trial_id in range(5):
            assert_in_support(space, algo(space, history, pending, trial_rng(23, trial_id)))

    # --- purity ---------------------------------------------------------------------------

    def test_the_same_inputs_give_the_same_row(self, algo: Suggester, space: Space) -> None:
        for name, history, pending in self._histories(space):
            # The same content in another buffer (another origin), and without an origin.
            copies = _rebuffered(history), _writable(history)
            for trial_id in range(6):
                first = algo(space, history, pending, trial_rng(9, trial_id))
                again = algo(space, history, pending.copy(), trial_rng(9, trial_id))
                np.testing.assert_array_equal(first, again, err_msg=name)
                for copy in copies:
                    elsewhere = algo(space, copy, pending, trial_rng(9, trial_id))
                    np.testing.assert_array_equal(first, elsewhere, err_msg=name)

    def test_answers_do_not_depend_on_earlier_calls(self, algo: Suggester, space: Space) -> None:
        cases = list(self._histories(space))
        asked = [
            (algo(space, history, pending, trial_rng(5, trial_id)), name, trial_id)
            for name, history, pending in cases
            for trial_id in range(3)
        ]
        again = [
            algo(space, history, pending, trial_rng(5, trial_id))
            for name, history, pending in reversed(cases)
            for trial_id in reversed(range(3))
        ]
        for (row, name, trial_id), other in zip(asked, reversed(again), strict=True):
            np.testing.assert_array_equal(row, other, err_msg=f"{name}, trial {trial_id}")

    def test_the_inputs_are_not_modified(self, algo: Suggester, space: Space) -> None:
        for name, snapshot, pending in self._histories(space):
            history, pending = _writable(snapshot), pending.copy()
            before = _writable(history), pending.copy()
            for trial_id in range(4):
                algo(space, history, pending, trial_rng(17, trial_id))
            for field in ("rows", "losses", "ids", "pruned"):
                np.testing.assert_array_equal(
                    getattr(history, field), getattr(before[0], field), err_msg=f"{name}: {field}"
                )
            np.testing.assert_array_equal(pending, before[1], err_msg=f"{name}: pending")

    # --- several objectives and constraints (for a suggester that declares them) ----------

    def test_several_objectives_and_constraints(self, algo: Suggester, space: Space) -> None:
        """A suggester that declares ``multi_objective`` gets histories with objectives and
        violations: rows in the support, the same for the same inputs, inputs untouched."""
        if not objectives_supported(algo):
            pytest.skip("this suggester searches a single objective (no multi_objective)")
        cases = [
            history_of(space, 40, 31, failed=(4,), pruned=(9,), objectives=2),
            history_of(space, 40, 32, objectives=3, constrained=True),
            history_of(space, 40, 33, failed=(0, 1), constrained=True),
        ]
        for history in cases:
            pending = _pending(space, 3, 34)
            copy = _writable(history)
            before = _writable(history)
            for trial_id in range(4):
                row = algo(space, history, pending, trial_rng(35, trial_id))
                assert_in_support(space, row)
                again = algo(space, copy, pending, trial_rng(35, trial_id))
                np.testing.assert_array_equal(row, again)
            for field in ("rows", "losses", "objectives", "violations"):
                np.testing.assert_array_equal(getattr(copy, field), getattr(before, field))
