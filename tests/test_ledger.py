"""The ledger: one driver's bookkeeping of its study, tested without an event loop or storage.

Every test feeds records by hand to a :class:`Ledger` over a real compiled space and checks
what follows: counts, the best trial, the suggester's history and pending points, the trials
this driver holds, reports and the pruner's view of them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from asynchpo import STATUS_FAIL, compile_space, hp
from asynchpo._exceptions import TrialCrashed, TrialPruned
from asynchpo._ledger import Ledger, PendingRows, finished_record, stop_reason
from asynchpo._pruners import MedianPruner, Pruner
from asynchpo._space import Space
from asynchpo._trial import Reports, Trial, TrialState

SPACE: Space = compile_space(
    {"x": hp.uniform("x", 0.0, 1.0), "kind": hp.choice("kind", ["a", "b", "c"])}
)
T0 = 1_700_000_000.0
ME = 1  # this ledger's driver
OTHER = 2  # another driver of the same study


def point(tid: int) -> dict[str, float | int]:
    """A distinct point of SPACE for each trial id."""
    return {"x": (tid % 10) / 10 + 0.05, "kind": tid % 3}


def running(tid: int, driver: int | None = ME, **changes: Any) -> Trial:
    record = Trial(
        tid, TrialState.RUNNING, point(tid), created=T0 + tid, started=T0 + tid, driver=driver
    )
    return record.replace(**changes)


def ok(tid: int, loss: float, driver: int | None = OTHER, reports: Reports = ()) -> Trial:
    return running(tid, driver).replace(
        state=TrialState.OK,
        loss=loss,
        result={"loss": loss, "status": "ok"},
        finished=T0 + tid + 1,
        reports=reports,
    )


def fail(tid: int, driver: int | None = OTHER) -> Trial:
    return running(tid, driver).replace(
        state=TrialState.FAIL, result={"status": "fail"}, error="boom", finished=T0 + tid + 1
    )


def pruned(tid: int, reports: Reports, driver: int | None = OTHER) -> Trial:
    step, loss = reports[-1]
    return running(tid, driver).replace(
        state=TrialState.PRUNED,
        loss=loss,
        result={"status": "pruned", "loss": loss, "step": step},
        finished=T0 + tid + 1,
        reports=reports,
    )


def state_of(tid: int, state: TrialState, driver: int | None = None) -> Trial:
    """A waiting (QUEUED / INTERRUPTED) record."""
    return Trial(tid, state, point(tid), created=T0 + tid, driver=driver)


class RecordingPruner(Pruner):
    """Records every call; prunes a live report whose loss is above ``prune_above``."""

    def __init__(self, prune_above: float = math.inf) -> None:
        self.prune_above = prune_above
        self.calls: list[tuple[Any, ...]] = []

    def observe(self, trial_id: int, step: int, loss: float) -> None:
        self.calls.append(("observe", trial_id, step, loss))

    def should_prune(self, trial_id: int, step: int, loss: float) -> bool:
        self.calls.append(("should_prune", trial_id, step, loss))
        return loss > self.prune_above

    def finish(self, trial_id: int, state: TrialState) -> None:
        self.calls.append(("finish", trial_id, state))

    def forget(self, trial_id: int) -> None:
        self.calls.append(("forget", trial_id))

    def of(self, trial_id: int) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[1] == trial_id]


# --- counts, best, idempotence ----------------------------------------------------------------


def test_counts_finished_active_and_next_id() -> None:
    ledger = Ledger(SPACE, driver=ME)
    newly = ledger.absorb(
        [
            ok(0, 0.5),
            fail(1),
            pruned(2, ((1, 0.9),)),
            running(3, OTHER),
            state_of(4, TrialState.QUEUED),
            state_of(5, TrialState.INTERRUPTED),
        ],
        version=7,
    )
    assert [t.id for t in newly] == [0, 1, 2]
    assert ledger.count(TrialState.OK) == 1
    assert ledger.count(TrialState.FAIL) == 1
    assert ledger.count(TrialState.PRUNED) == 1
    assert ledger.count(TrialState.RUNNING) == 1
    assert ledger.count(TrialState.QUEUED) == 1
    assert ledger.count(TrialState.INTERRUPTED) == 1
    assert ledger.finished == 3
    assert ledger.active == 4  # finished + running; waiting trials do not count
    assert ledger.next_id == 6
    assert ledger.version == 7
    assert [t.id for t in ledger.trials()] == [0, 1, 2, 3, 4, 5]
    # A record moving from one state to another moves its count.
    ledger.absorb([ok(3, 0.7)], version=5)  # an older version never moves the ledger back
    assert ledger.count(TrialState.RUNNING) == 0
    assert ledger.count(TrialState.OK) == 2
    assert ledger.finished == 4
    assert ledger.version == 7


def test_best_is_lowest_ok_loss_lowest_id_on_ties_never_pruned_or_failed() -> None:
    ledger = Ledger(SPACE, driver=ME)
    assert ledger.best is None
    ledger.absorb([fail(0), pruned(1, ((3, -100.0),))])
    assert ledger.best is None  # a pruned trial's partial loss is never the best
    ledger.absorb([ok(5, 1.0)])
    assert ledger.best is not None
    assert ledger.best.id == 5
    ledger.absorb([ok(7, 1.0)])
    assert ledger.best.id == 5  # a tie keeps the lower id
    ledger.absorb([ok(3, 1.0)])
    assert ledger.best.id == 3  # a tie with a lower id arriving later wins
    ledger.absorb([pruned(8, ((1, -5.0),)), ok(9, 0.25), fail(10)])
    assert ledger.best.id == 9
    assert ledger.best.loss == 0.25


def test_a_finished_record_counts_once() -> None:
    ledger = Ledger(SPACE, driver=ME)
    assert ledger.absorb([ok(0, 0.5)]) == [ok(0, 0.5)]
    assert ledger.absorb([ok(0, 0.5)]) == []
    assert ledger.absorb([ok(0, 0.1)]) == []  # a finished record is final: not replaced
    assert ledger.finished == 1
    assert ledger.count(TrialState.OK) == 1
    assert len(ledger.history()) == 1
    assert ledger.records[0].loss == 0.5


def test_a_later_non_finished_record_of_a_finished_trial_is_ignored() -> None:
    ledger = Ledger(SPACE, driver=ME)
    ledger.absorb([ok(0, 0.5)])
    ledger.absorb(
        [running(0, OTHER), state_of(0, TrialState.INTERRUPTED), state_of(0, TrialState.QUEUED)]
    )
    assert ledger.records[0].state is TrialState.OK
    assert ledger.count(TrialState.OK) == 1
    assert ledger.count(TrialState.RUNNING) == 0
    assert ledger.count(TrialState.INTERRUPTED) == 0
    assert len(ledger.pending()) == 0
    assert not ledger.waiting
    assert ledger.foreign_running() == {}


# --- history and pending ----------------------------------------------------------------------


def test_history_rows_losses_and_pruned_flags() -> None:
    ledger = Ledger(SPACE, driver=ME)
    ledger.absorb([ok(2, 0.5), fail(0), pruned(1, ((1, 0.3), (2, 0.4))), running(3)])
    history = ledger.history()
    assert len(history) == 3  # the running trial is not history
    assert history.ids.tolist() == [2, 0, 1]  # in the order they finished
    assert history.losses[0] == 0.5
    assert math.isnan(history.losses[1])  # failed: no loss
    assert math.isnan(history.losses[2])  # pruned: its partial loss is not ranked
    assert history.pruned.tolist() == [False, False, True]
    assert history.ok.tolist() == [True, False, False]
    for row, tid in zip(history.rows, history.ids, strict=True):
        np.testing.assert_array_equal(row, SPACE.to_row(point(int(tid))))
    # A snapshot does not change when more trials finish.
    ledger.absorb([ok(3, 0.1)])
    assert len(history) == 3
    assert len(ledger.history()) == 4


def rows_of(array: np.ndarray[Any, Any]) -> set[tuple[float, ...]]:
    return {tuple(row.tolist()) for row in array}


def test_pending_is_every_running_trial_plus_reservations() -> None:
    ledger = Ledger(SPACE, driver=ME)
    assert ledger.pending().shape == (0, len(SPACE))
    ledger.absorb([running(0, OTHER), running(1, None), ok(2, 0.5), state_of(3, TrialState.QUEUED)])
    ledger.start(running(4, ME))
    expected = {tuple(SPACE.to_row(point(t)).tolist()) for t in (0, 1, 4)}
    assert rows_of(ledger.pending()) == expected
    key = object()
    reserved = np.array([0.999, 2.0])
    ledger.reserve(key, reserved)
    assert rows_of(ledger.pending()) == expected | {(0.999, 2.0)}
    ledger.release(key)
    ledger.release(key)  # releasing twice is harmless
    assert rows_of(ledger.pending()) == expected
    # Finished and interrupted trials are no longer pending.
    ledger.absorb([ok(0, 0.2), state_of(1, TrialState.INTERRUPTED)])
    assert rows_of(ledger.pending()) == {tuple(SPACE.to_row(point(4)).tolist())}
    snapshot = ledger.pending()
    snapshot[:] = 0.0  # a copy: writing to it changes nothing
    assert rows_of(ledger.pending()) == {tuple(SPACE.to_row(point(4)).tolist())}


def test_pending_rows_add_replace_discard() -> None:
    rows = PendingRows(2)
    keys = [object() for _ in range(20)]  # more than the initial capacity
    for i, key in enumerate(keys):
        rows.add(key, np.array([i, -i], dtype=float))
    assert len(rows) == 20
    rows.add(keys[3], np.array([100.0, 100.0]))  # replace in place
    assert len(rows) == 20
    for key in keys[:10]:
        rows.discard(key)
    rows.discard(keys[0])
    assert len(rows) == 10
    assert keys[0] not in rows
    assert keys[15] in rows
    assert rows_of(rows.snapshot()) == {(float(i), float(-i)) for i in range(10, 20)}


def test_a_reader_without_space_counts_only() -> None:
    ledger = Ledger(None)
    ledger.absorb([ok(0, 0.5), running(1, OTHER), fail(2)])
    assert ledger.finished == 2
    assert ledger.active == 3
    assert ledger.best is not None
    assert ledger.best.id == 0
    assert len(ledger.history()) == 0
    assert len(ledger.pending()) == 0


# --- own trials, takeover, waiting ------------------------------------------------------------


def test_own_trial_is_in_flight_until_finished() -> None:
    ledger = Ledger(SPACE, driver=ME)
    ledger.start(running(0))
    assert ledger.in_flight == {0}
    assert ledger.foreign_running() == {}
    assert ledger.count(TrialState.RUNNING) == 1
    # Reading the stored RUNNING record of a trial this driver runs changes nothing.
    ledger.absorb([running(0, ME, reports=((1, 0.5),))])
    assert ledger.in_flight == {0}
    assert ledger.count(TrialState.RUNNING) == 1
    assert ledger.absorb([ok(0, 0.5, driver=ME)]) == [ok(0, 0.5, driver=ME)]
    assert ledger.in_flight == frozenset()
    assert ledger.finished == 1
    # An older read of the trial, RUNNING under this driver, does not bring it back.
    ledger.absorb([running(0, ME)])
    assert ledger.in_flight == frozenset()
    assert ledger.records[0].state is TrialState.OK


def test_takeover_by_another_driver_ends_the_hold() -> None:
    pruner = RecordingPruner()
    ledger = Ledger(SPACE, driver=ME, pruner=pruner)
    ledger.start(running(0))
    ledger.start(running(1))
    assert not ledger.report(0, 1, 0.5)
    ledger.absorb([running(0, OTHER)])  # driver 2 took trial 0 over
    assert ledger.in_flight == {1}
    assert ledger.foreign_running() == {0: OTHER}
    assert ledger.count(TrialState.RUNNING) == 2
    assert len(ledger.pending()) == 2  # still running, elsewhere
    assert ("forget", 0) in pruner.calls  # its reports here are void
    assert ledger.reports(0) == ()
    with pytest.raises(TrialPruned, match="no longer running"):
        ledger.report(0, 2, 0.4)
    # An older read of trial 0 under this driver is not a claim back.
    ledger.absorb([running(0, ME)])
    assert ledger.in_flight == {1}
    assert ledger.foreign_running() == {0: OTHER}
    # lose(): the same, decided by the caller (a refused write).
    ledger.lose(1)
    assert ledger.in_flight == frozenset()


def test_own_trial_recorded_interrupted_leaves_flight_and_waits() -> None:
    ledger = Ledger(SPACE, driver=ME)
    ledger.start(running(0))
    ledger.absorb([running(0, ME).replace(state=TrialState.INTERRUPTED)])
    assert ledger.in_flight == frozenset()
    assert ledger.waiting
    assert len(ledger.pending()) == 0


def test_waiting_trials_are_queued_or_interrupted() -> None:
    ledger = Ledger(SPACE, driver=ME)
    assert not ledger.waiting
    ledger.absorb([running(0, OTHER), ok(1, 0.5)])
    assert not ledger.waiting
    ledger.absorb([state_of(2, TrialState.QUEUED), state_of(3, TrialState.INTERRUPTED)])
    assert ledger.waiting
    ledger.start(running(2))
    assert ledger.waiting
    ledger.absorb([running(3, OTHER)])  # another driver took the interrupted one
    assert not ledger.waiting
    assert ledger.in_flight == {2}
    assert ledger.foreign_running() == {0: OTHER, 3: OTHER}


# --- reports and the pruner -------------------------------------------------------------------


def test_report_steps_must_increase() -> None:
    ledger = Ledger(SPACE, driver=ME)
    ledger.start(running(0))
    assert ledger.report(0, 0, 1.0) is False  # no pruner: never stop
    ledger.report(0, 3, 0.9)
    for step in (3, 2):
        with pytest.raises(ValueError, match=r"reported step \d after step 3: .*must increase"):
            ledger.report(0, step, 0.8)
    assert ledger.reports(0) == ((0, 1.0), (3, 0.9))


def test_report_of_a_trial_not_in_flight_here_raises_trial_pruned() -> None:
    ledger = Ledger(SPACE, driver=ME)
    ledger.absorb([running(0, OTHER), ok(1, 0.5)])
    for tid in (0, 1, 99):
        with pytest.raises(TrialPruned, match=f"trial {tid} is no longer running"):
            ledger.report(tid, 1, 0.5)


def test_live_reports_reach_the_pruner_once_and_a_decision_is_final() -> None:
    pruner = RecordingPruner(prune_above=0.8)
    ledger = Ledger(SPACE, driver=ME, pruner=pruner)
    ledger.start(running(0))
    assert ledger.report(0, 1, 0.5) is False
    assert ledger.report(0, 2, 0.9) is True
    assert ledger.prune_decided(0)
    with pytest.raises(TrialPruned):  # decided: no more reports
        ledger.report(0, 3, 0.1)
    assert pruner.of(0) == [
        ("observe", 0, 1, 0.5),
        ("should_prune", 0, 1, 0.5),
        ("observe", 0, 2, 0.9),
        ("should_prune", 0, 2, 0.9),
    ]
    record = finished_record(ledger.records[0], pruned=True, reports=ledger.reports(0), now=T0 + 10)
    ledger.absorb([record])
    ledger.absorb([record])  # twice: still one finish
    # Finished: the live reports are not replayed from the record; finish comes once.
    assert pruner.of(0)[4:] == [("finish", 0, TrialState.PRUNED)]
    assert not ledger.prune_decided(0)
    assert ledger.reports(0) == ()


def test_other_drivers_trials_are_replayed_into_the_pruner_once() -> None:
    pruner = RecordingPruner()
    ledger = Ledger(SPACE, driver=ME, pruner=pruner)
    ledger.absorb([running(3, OTHER, reports=((1, 0.7),))])
    assert pruner.calls == []  # a running trial's reports wait for its end
    record = ok(3, 0.4, reports=((1, 0.7), (2, 0.4)))
    ledger.absorb([record, pruned(4, ((1, 2.0),)), fail(5)])
    ledger.absorb([record])
    assert pruner.calls == [
        ("observe", 3, 1, 0.7),
        ("observe", 3, 2, 0.4),
        ("finish", 3, TrialState.OK),
        ("observe", 4, 1, 2.0),
        ("finish", 4, TrialState.PRUNED),
        ("finish", 5, TrialState.FAIL),
    ]
    assert not any(call[0] == "should_prune" for call in pruner.calls)


def test_median_pruner_learns_from_replayed_trials() -> None:
    # Two completed trials of another driver set the median; this driver's bad trial is cut.
    ledger = Ledger(SPACE, driver=ME, pruner=MedianPruner(n_startup_trials=2))
    ledger.absorb([ok(0, 0.2, reports=((1, 0.3), (2, 0.2))), ok(1, 0.3, reports=((1, 0.4),))])
    ledger.start(running(2))
    assert ledger.report(2, 1, 0.35) is False  # the median at step 1 is 0.35
    ledger.start(running(3))
    assert ledger.report(3, 1, 5.0) is True


def test_restart_voids_reports_and_the_decision() -> None:
    pruner = RecordingPruner(prune_above=0.8)
    ledger = Ledger(SPACE, driver=ME, pruner=pruner)
    ledger.start(running(0))
    ledger.report(0, 1, 0.5)
    assert ledger.report(0, 2, 0.9) is True
    ledger.restart(0)
    assert ledger.reports(0) == ()
    assert not ledger.prune_decided(0)
    assert pruner.calls[-1] == ("forget", 0)
    assert ledger.report(0, 1, 0.6) is False  # step 1 again: it runs from its start
    assert ledger.in_flight == {0}
    # A trial that never reported is not forgotten by the pruner (it knew nothing of it).
    ledger.start(running(1))
    ledger.restart(1)
    assert ("forget", 1) not in pruner.calls


# --- finished records -------------------------------------------------------------------------


def test_finished_record_from_a_float_and_a_dict() -> None:
    trial = running(0)
    record = finished_record(trial, value=0.25, now=T0 + 5)
    assert record.state is TrialState.OK
    assert record.loss == 0.25
    assert record.result == {"loss": 0.25, "status": "ok"}
    assert record.finished == T0 + 5
    assert record.error is None
    assert (record.id, record.params, record.driver) == (0, trial.params, ME)
    record = finished_record(
        trial, value={"loss": 1.5, "status": "ok", "acc": 0.9, "tag": (1, 2)}, now=T0
    )
    assert record.state is TrialState.OK
    assert record.loss == 1.5
    assert record.result == {"loss": 1.5, "status": "ok", "acc": 0.9, "tag": [1, 2]}


def test_finished_record_failures() -> None:
    trial = running(0)
    record = finished_record(trial, value={"status": STATUS_FAIL, "error": "diverged"}, now=T0)
    assert (record.state, record.loss, record.error) == (TrialState.FAIL, None, "diverged")
    record = finished_record(trial, value=float("nan"), now=T0)
    assert record.state is TrialState.FAIL
    assert record.loss is None
    assert record.error is not None
    assert "returned nan" in record.error
    record = finished_record(trial, value={"loss": math.inf}, now=T0)
    assert record.state is TrialState.FAIL
    try:
        raise ValueError("bad learning rate")
    except ValueError as exc:
        record = finished_record(trial, exception=exc, now=T0)
    assert record.state is TrialState.FAIL
    assert record.result == {"status": "fail"}
    assert record.error is not None
    assert record.error.startswith("Traceback (most recent call last)")
    assert record.error.endswith("ValueError: bad learning rate")
    assert "test_finished_record_failures" in record.error
    record = finished_record(trial, exception=TrialCrashed("worker killed by SIGKILL"), now=T0)
    assert (record.state, record.error) == (TrialState.FAIL, "worker killed by SIGKILL")


def test_finished_record_pruned() -> None:
    trial = running(0)
    reports: Reports = ((1, 0.9), (4, 0.7))
    record = finished_record(trial, pruned=True, reports=reports, now=T0)
    assert record.state is TrialState.PRUNED
    assert record.loss == 0.7
    assert record.result == {"status": "pruned", "loss": 0.7, "step": 4}
    assert record.reports == reports
    assert record.error == "trial 0 was pruned"
    # pruned wins over a value the objective returned after it was told to stop.
    record = finished_record(trial, value=0.1, pruned=True, reports=reports, now=T0)
    assert (record.state, record.loss) == (TrialState.PRUNED, 0.7)
    record = finished_record(
        trial, exception=TrialPruned("stopped at step 4"), reports=reports, now=T0
    )
    assert (record.state, record.loss, record.error) == (
        TrialState.PRUNED,
        0.7,
        "stopped at step 4",
    )
    # Pruned before any report: no loss, no step.
    record = finished_record(trial, exception=TrialPruned(), now=T0)
    assert record.state is TrialState.PRUNED
    assert record.loss is None
    assert record.result == {"status": "pruned", "loss": None}
    assert record.error == "trial 0 was pruned"


def test_finished_record_keeps_attempts_and_reports() -> None:
    trial = running(0)
    record = finished_record(
        trial, value=0.5, reports=((1, 0.6),), attempts=("crash 1", "crash 2"), now=T0
    )
    assert record.result["attempts"] == ["crash 1", "crash 2"]
    assert record.reports == ((1, 0.6),)
    record = finished_record(trial, exception=TrialCrashed("again"), attempts=["crash 1"], now=T0)
    assert record.result == {"status": "fail", "attempts": ["crash 1"]}


def test_finished_record_needs_an_outcome() -> None:
    with pytest.raises(ValueError, match="needs the value, an exception or pruned=True"):
        finished_record(running(0), now=T0)


# --- stopping ---------------------------------------------------------------------------------


def test_stop_reason() -> None:
    ledger = Ledger(SPACE, driver=ME)
    assert stop_reason(ledger, None, None) is None
    assert stop_reason(ledger, 0, None) == "max_evals reached"
    ledger.absorb([ok(0, 0.5), running(1, OTHER), pruned(2, ((1, -1.0),))])
    assert stop_reason(ledger, 3, None) is None  # running trials are not finished
    assert stop_reason(ledger, 2, None) == "max_evals reached"
    assert stop_reason(ledger, None, 0.4) is None  # a pruned loss never reaches the threshold
    assert stop_reason(ledger, None, 0.5) == "loss_threshold reached"
    ledger.absorb([fail(3)])
    assert stop_reason(ledger, 3, None) == "max_evals reached"
