"""The pruner contract as a reusable test suite: every :class:`~asynchpo.pruners.Pruner` passes it.

The contract is written in the docstring of the pruner seam (``asynchpo/_pruners.py``): a
pruner is told every report (``observe``), asked about live ones (``should_prune``), told how
each trial ended (``finish``) and which trials run again from their start (``forget``). On
resume the scheduler replays every stored finished trial (its reports in order, then its
``finish``), so a pruner's knowledge must be a function of the stored reports: it must not
depend on the order in which different trials are replayed, on how their reports were
interleaved when they ran, on the questions it was asked, nor on reports that were forgotten.
:class:`PrunerContract` checks that with hypothesis: the finished trials of a study, fed once
as a live run would (interleaved, asked, with retried attempts forgotten) and once as a
resumed run replays them (trial after trial, in another order), leave two pruners that decide
alike on the trials that follow. asynchpo runs it over its pruners; a new pruner runs it
unchanged by subclassing it in a test module and providing a ``pruner_factory`` fixture::

    import pytest
    from asynchpo.testing.pruner import PrunerContract

    class TestMyPruner(PrunerContract):
        @pytest.fixture
        def pruner_factory(self):
            return lambda: MyPruner(patience=3)

The factory returns a fresh pruner at every call. The tests are plain functions; the class
takes a few seconds. pytest collects the subclasses (their names start with ``Test``), never
``PrunerContract`` on its own.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynchpo._pruners import Pruner
from asynchpo._trial import TrialState

__all__ = [
    "PrunerContract",
    "PrunerFactory",
    "StoredTrial",
    "probe",
    "replay",
    "run_live",
    "stored_trials",
]

PrunerFactory = Callable[[], Pruner]

_ENDS = (TrialState.OK, TrialState.FAIL, TrialState.PRUNED)


@dataclass(frozen=True)
class StoredTrial:
    """A finished trial as the storage holds it: its reports and its final state; ``void``
    holds the reports of an attempt that crashed and was retried (forgotten, not stored)."""

    id: int
    reports: tuple[tuple[int, float], ...]
    state: TrialState
    void: tuple[tuple[int, float], ...] = ()


# Few distinct losses, so that ties are common; steps up to 40 cross several rungs.
_LOSSES = st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 1e-9, 1e9])


@st.composite
def _reports(draw: st.DrawFn, max_size: int = 12) -> tuple[tuple[int, float], ...]:
    steps = draw(st.lists(st.integers(0, 40), max_size=max_size, unique=True))
    return tuple((step, draw(_LOSSES)) for step in sorted(steps))


@st.composite
def stored_trials(draw: st.DrawFn, max_trials: int = 14) -> list[StoredTrial]:
    """A study's finished trials, with dense ids from 0."""
    n = draw(st.integers(0, max_trials))
    return [
        StoredTrial(
            id=tid,
            reports=draw(_reports()),
            state=draw(st.sampled_from(_ENDS)),
            void=draw(st.one_of(st.just(()), _reports(max_size=4))),
        )
        for tid in range(n)
    ]


def replay(pruner: Pruner, trials: list[StoredTrial]) -> None:
    """Feed ``trials`` as a resumed run replays them: each one's reports, then its end."""
    for trial in trials:
        for step, loss in trial.reports:
            pruner.observe(trial.id, step, loss)
        pruner.finish(trial.id, trial.state)


def run_live(pruner: Pruner, trials: list[StoredTrial], rng: random.Random) -> list[bool]:
    """Feed ``trials`` as a live run would: their reports interleaved at random (each trial's in
    order, its void attempt first, then forgotten), ``should_prune`` asked at every report,
    each trial finished after its last report. Returns the decisions."""
    queues: dict[int, list[tuple[str, int, float]]] = {}
    for trial in trials:
        events = [("report", step, loss) for step, loss in trial.void]
        if trial.void:
            events.append(("forget", 0, 0.0))
        events += [("report", step, loss) for step, loss in trial.reports]
        queues[trial.id] = [*events, ("finish", 0, 0.0)]
    ends = {trial.id: trial.state for trial in trials}
    decisions = []
    while queues:
        tid = rng.choice(sorted(queues))
        kind, step, loss = queues[tid].pop(0)
        if kind == "report":
            pruner.observe(tid, step, loss)
            decisions.append(pruner.should_prune(tid, step, loss))
        elif kind == "forget":
            pruner.forget(tid)
        else:
            pruner.finish(tid, ends[tid])
            del queues[tid]
    return decisions


def probe(pruner: Pruner, first_id: int, curves: list[list[float]]) -> list[list[bool]]:
    """The decisions on new trials (ids from ``first_id``), one after another, each reporting
    at steps 1, 2, ... until it is pruned or its curve ends (then it finishes ``OK``)."""
    out = []
    for offset, curve in enumerate(curves):
        tid, decided = first_id + offset, []
        for step, loss in enumerate(curve, start=1):
            pruner.observe(tid, step, loss)
            decided.append(pruner.should_prune(tid, step, loss))
            if decided[-1]:
                break
        pruner.finish(tid, TrialState.PRUNED if decided and decided[-1] else TrialState.OK)
        out.append(decided)
    return out


_CURVES = st.lists(st.lists(_LOSSES, min_size=1, max_size=30), min_size=1, max_size=4)

_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    # The fixture is a factory (nothing in it is shared between examples), and every subclass
    # runs the same inherited methods: hypothesis's "differing executors" is what is meant.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.differing_executors,
        HealthCheck.too_slow,
    ],
)


class PrunerContract:
    """The pruner conformance tests; subclass it as ``Test...`` with a ``pruner_factory``
    fixture that returns a callable making a fresh pruner (see the module's docstring)."""

    # Not collected on its own; any subclass is (if its name starts with ``Test``).
    __test__: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__test__" not in vars(cls):
            cls.__test__ = True

    @_SETTINGS
    @given(trials=stored_trials(), order=st.randoms(use_true_random=False), curves=_CURVES)
    def test_knowledge_is_a_function_of_the_stored_reports(
        self,
        pruner_factory: PrunerFactory,
        trials: list[StoredTrial],
        order: random.Random,
        curves: list[list[float]],
    ) -> None:
        live, resumed = pruner_factory(), pruner_factory()
        run_live(live, trials, order)
        shuffled = list(trials)
        order.shuffle(shuffled)
        replay(resumed, shuffled)
        assert probe(live, len(trials), curves) == probe(resumed, len(trials), curves)

    @_SETTINGS
    @given(trials=stored_trials(), order=st.randoms(use_true_random=False), curves=_CURVES)
    def test_replays_in_any_order_agree(
        self,
        pruner_factory: PrunerFactory,
        trials: list[StoredTrial],
        order: random.Random,
        curves: list[list[float]],
    ) -> None:
        first, second = pruner_factory(), pruner_factory()
        replay(first, trials)
        shuffled = list(trials)
        order.shuffle(shuffled)
        replay(second, shuffled)
        assert probe(first, len(trials), curves) == probe(second, len(trials), curves)

    @_SETTINGS
    @given(trials=stored_trials(), order=st.randoms(use_true_random=False))
    def test_decisions_are_booleans(
        self, pruner_factory: PrunerFactory, trials: list[StoredTrial], order: random.Random
    ) -> None:
        for decision in run_live(pruner_factory(), trials, order):
            assert decision is True or decision is False, repr(decision)

    @_SETTINGS
    @given(trials=stored_trials(), curves=_CURVES)
    def test_forgetting_and_finishing_unknown_trials_is_harmless(
        self, pruner_factory: PrunerFactory, trials: list[StoredTrial], curves: list[list[float]]
    ) -> None:
        plain, bothered = pruner_factory(), pruner_factory()
        replay(plain, trials)
        unknown = len(trials) + 100
        bothered.forget(unknown)  # before anything is known
        for trial in trials:
            for step, loss in trial.reports:
                bothered.observe(trial.id, step, loss)
                bothered.forget(unknown + 1)  # never seen
            bothered.finish(trial.id, trial.state)
        for tid in (unknown, unknown + 1):
            bothered.forget(tid)  # twice
        assert probe(plain, len(trials), curves) == probe(bothered, len(trials), curves)
        # A trial that ends without a report (it failed before its first one): no error.
        for state in _ENDS:
            bothered.finish(unknown + 2 + _ENDS.index(state), state)
