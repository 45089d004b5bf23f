"""The storage contract as a reusable test suite: every :class:`~asynchpo.Storage` must pass it.

The contract itself is written in the docstring of the ``Storage`` seam
(``asynchpo/_storage/_base.py``): studies, records that round-trip, atomic batches, immutable
finished trials, drivers and their leases, dense ids taken where trials start, fencing, the
change feed and attachments. :class:`StorageContract` checks it; asynchpo runs it over
``MemoryStorage``, ``SqliteStorage`` and ``PostgresStorage`` (on a real server), and a new
storage runs it unchanged by subclassing it in a test module and providing a ``storage``
fixture::

    import pytest
    from asynchpo.testing.storage import StorageContract

    class TestMyStorage(StorageContract):
        @pytest.fixture
        async def storage(self, tmp_path):
            store = await MyStorage.open(...)
            yield store
            await store.aclose()

What the fixture must provide: a fresh, empty, open storage for every test (no studies, no
drivers); the tests close it themselves sometimes, so its teardown must accept a storage that
is already closed (``aclose`` is idempotent by the contract). The tests are coroutines and the
fixtures async: run them with pytest-asyncio (``asyncio_mode = "auto"``, or mark the fixture
with ``pytest_asyncio.fixture``); the class is marked ``asyncio`` for strict mode. Two tests wait
for a lease to lapse (a fraction of a second each); the whole class takes a few seconds over
a local storage.

pytest collects the subclasses (their names start with ``Test``), never ``StorageContract`` on
its own. The record builders (:data:`CONFIG`, :func:`running`, :func:`finished`,
:func:`starting`, :func:`done`) are here for a storage's own further tests.
"""

from __future__ import annotations

import math
import time
from types import MappingProxyType
from typing import Any, ClassVar

import anyio
import pytest
import pytest_asyncio

from asynchpo._exceptions import StorageError, StudyError, StudyNotFound
from asynchpo._storage import Storage, StudyConfig, StudyRecord
from asynchpo._storage._group_commit import GroupCommit
from asynchpo._trial import Trial, TrialState

__all__ = ["CONFIG", "StorageContract", "done", "finished", "running", "starting"]

CONFIG = StudyConfig(
    space=[{"label": "x", "kind": "uniform", "low": 0.0, "high": 1.0}, {"label": "c"}],
    fingerprint="f00d",
    algo="rand",
    seed=7,
)
"""A study's configuration, as the tests create their studies with."""

_T0 = 1_700_000_000.125
_LONG = 1000.0  # a lease that never lapses during a test
_MODEL = b"\x80\x05model weights\x00\xff\xfe"


def running(tid: int, **changes: Any) -> Trial:
    """A ``RUNNING`` record for trial ``tid`` (fixed times and params), with ``changes``."""
    trial = Trial(
        id=tid,
        state=TrialState.RUNNING,
        params={"x": tid / 8, "c": tid % 3},
        created=_T0 + tid,
        started=_T0 + tid + 0.5,
    )
    return trial.replace(**changes)


def finished(tid: int, state: TrialState = TrialState.OK, **changes: Any) -> Trial:
    """A finished (``OK`` by default, or ``FAIL``) record for trial ``tid``, with ``changes``."""
    if state is TrialState.OK:
        trial = running(tid).replace(
            state=state,
            loss=tid / 4,
            result={"loss": tid / 4, "status": "ok"},
            finished=_T0 + tid + 1.75,
        )
    else:
        trial = running(tid).replace(
            state=state, result={"status": "fail"}, error="ValueError: boom", finished=_T0 + tid + 2
        )
    return trial.replace(**changes)


def starting(x: float, slot: int | None = 0) -> Trial:
    """A trial for :meth:`Storage.new_trials` to start: the storage sets its id and driver."""
    now = time.time()
    return Trial(-1, TrialState.RUNNING, {"x": x}, created=now, started=now, slot=slot)


def done(trial: Trial, loss: float = 1.0) -> Trial:
    """``trial`` finished ``OK`` with ``loss``."""
    return trial.replace(state=TrialState.OK, loss=loss, result={"loss": loss}, finished=1.0)


class StorageContract:
    """The storage conformance tests; subclass it as ``Test...`` with a ``storage`` fixture
    that yields a fresh, empty storage (see the module's docstring)."""

    # Not collected on its own; any subclass is (if its name starts with ``Test``).
    __test__: ClassVar[bool] = False
    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__test__" not in vars(cls):
            cls.__test__ = True

    @pytest_asyncio.fixture
    async def study(self, storage: Storage) -> StudyRecord:
        """A fresh study in ``storage``."""
        return await storage.create_study("main", CONFIG)

    # --- studies and records --------------------------------------------------------------

    async def test_create_and_get_study(self, storage: Storage) -> None:
        before = time.time()
        record = await storage.create_study("alpha", CONFIG)
        assert record.name == "alpha"
        assert record.config == CONFIG
        assert before - 1 <= record.created <= time.time() + 1
        assert await storage.get_study("alpha") == record

    async def test_config_goes_through_json(self, storage: Storage) -> None:
        config = StudyConfig(
            space=({"label": "x", "options": (1, 2)},), fingerprint="f", algo="tpe", seed=0
        )
        record = await storage.create_study("s", config)
        expected = StudyConfig(
            space=[{"label": "x", "options": [1, 2]}], fingerprint="f", algo="tpe", seed=0
        )
        assert record.config == expected
        assert (await storage.get_study("s")).config == expected

    async def test_unstorable_config_is_refused(self, storage: Storage) -> None:
        config = StudyConfig(
            space=[{"label": "x", "low": object()}], fingerprint="f", algo="a", seed=0
        )
        with pytest.raises(StorageError, match=r"space\[0\]\['low'\]"):
            await storage.create_study("s", config)
        assert await storage.list_studies() == []

    async def test_list_studies_oldest_first(self, storage: Storage) -> None:
        assert await storage.list_studies() == []
        created = [await storage.create_study(name, CONFIG) for name in ("b", "a", "c")]
        assert await storage.list_studies() == created
        assert len({record.id for record in created}) == 3

    async def test_duplicate_study_name_is_a_study_error(self, storage: Storage) -> None:
        await storage.create_study("dup", CONFIG)
        with pytest.raises(StudyError, match="'dup' already exists") as info:
            await storage.create_study("dup", CONFIG)
        assert not isinstance(info.value, StudyNotFound)
        assert len(await storage.list_studies()) == 1

    async def test_unknown_study_name(self, storage: Storage) -> None:
        with pytest.raises(StudyNotFound, match="'nope'") as info:
            await storage.get_study("nope")
        assert isinstance(info.value, LookupError)

    async def test_unknown_study_id(self, storage: Storage) -> None:
        with pytest.raises(StudyNotFound, match="id 999"):
            await storage.trials(999)
        with pytest.raises(StudyNotFound, match="id 999"):
            await storage.write(999, [running(0)])
        with pytest.raises(StudyNotFound, match="id 999"):
            await storage.write(999, [])

    async def test_new_study_has_no_trials(self, storage: Storage, study: StudyRecord) -> None:
        assert await storage.trials(study.id) == []
        await storage.write(study.id, [])
        assert await storage.trials(study.id) == []

    async def test_records_round_trip(self, storage: Storage, study: StudyRecord) -> None:
        trials = [
            Trial(id=0, state=TrialState.QUEUED, params={"x": 0.1, "c": 2}, created=_T0),
            running(1),
            finished(2),
            finished(3, TrialState.FAIL),
            running(4).replace(state=TrialState.INTERRUPTED, error="cancelled", finished=_T0 + 9),
            finished(5, loss=-math.inf, result={"loss": -1e308, "status": "ok"}),
            finished(6, params={"λ": 1e-300, "n": -(2**62)}, result={"ünï": "cödé ✓", "n": None}),
        ]
        await storage.write(study.id, trials)
        assert await storage.trials(study.id) == trials

    async def test_result_goes_through_json(self, storage: Storage, study: StudyRecord) -> None:
        result = {"loss": 0.5, "status": "ok", "curve": (1, 2.5, (3,)), "meta": {"ok": True}}
        await storage.write(study.id, [finished(0, result=result)])
        (stored,) = await storage.trials(study.id)
        assert stored.result == {
            "loss": 0.5,
            "status": "ok",
            "curve": [1, 2.5, [3]],
            "meta": {"ok": True},
        }

    async def test_read_only_mappings_are_accepted(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        trial = finished(
            0, params=MappingProxyType({"x": 1.5}), result=MappingProxyType({"loss": 0})
        )
        await storage.write(study.id, [trial])
        (stored,) = await storage.trials(study.id)
        assert stored.params == {"x": 1.5}
        assert stored.result == {"loss": 0}

    async def test_returned_records_do_not_alias_storage(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        await storage.write(study.id, [finished(0)])
        (first,) = await storage.trials(study.id)
        first.result["loss"] = 123  # type: ignore[index]
        (again,) = await storage.trials(study.id)
        assert again == finished(0)

    async def test_write_replaces_records(self, storage: Storage, study: StudyRecord) -> None:
        await storage.write(study.id, [running(0), running(1)])
        await storage.write(study.id, [finished(1)])
        await storage.write(study.id, [finished(0, TrialState.FAIL)])
        assert await storage.trials(study.id) == [finished(0, TrialState.FAIL), finished(1)]

    async def test_trials_are_ordered_by_id(self, storage: Storage, study: StudyRecord) -> None:
        await storage.write(study.id, [running(5), running(1)])
        await storage.write(study.id, [running(3), running(10), running(0)])
        await storage.write(study.id, [finished(1)])
        assert [t.id for t in await storage.trials(study.id)] == [0, 1, 3, 5, 10]

    @pytest.mark.parametrize("done", [TrialState.OK, TrialState.FAIL])
    @pytest.mark.parametrize(
        "change",
        [
            TrialState.RUNNING,
            TrialState.OK,
            TrialState.FAIL,
            TrialState.INTERRUPTED,
            TrialState.QUEUED,
        ],
    )
    async def test_finished_trials_are_immutable(
        self, storage: Storage, study: StudyRecord, done: TrialState, change: TrialState
    ) -> None:
        await storage.write(study.id, [running(0), finished(1, done)])
        before = await storage.trials(study.id)
        batch = [finished(0), running(2), running(1).replace(state=change), running(3)]
        with pytest.raises(StorageError, match=rf"trial\(s\) 1 \({done.value}\) already finished"):
            await storage.write(study.id, batch)
        assert await storage.trials(study.id) == before

    async def test_rewriting_an_identical_finished_record_is_refused(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        await storage.write(study.id, [finished(0)])
        with pytest.raises(StorageError, match="nothing of this batch"):
            await storage.write(study.id, [finished(0)])

    async def test_batch_may_finish_a_trial_it_starts(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        await storage.write(study.id, [running(0), finished(0), running(1)])
        assert await storage.trials(study.id) == [finished(0), running(1)]

    async def test_batch_cannot_change_a_trial_it_finished(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        with pytest.raises(StorageError, match=r"trial\(s\) 0 \(ok\) already finished"):
            await storage.write(study.id, [running(1), finished(0), running(0)])
        assert await storage.trials(study.id) == []

    async def test_interrupted_trial_runs_again(self, storage: Storage, study: StudyRecord) -> None:
        interrupted = running(0).replace(state=TrialState.INTERRUPTED, finished=_T0 + 3)
        await storage.write(study.id, [running(0)])
        await storage.write(study.id, [interrupted])
        await storage.write(study.id, [running(0, started=_T0 + 10)])
        await storage.write(study.id, [finished(0, started=_T0 + 10)])
        assert await storage.trials(study.id) == [finished(0, started=_T0 + 10)]

    @pytest.mark.parametrize(
        ("bad", "where"),
        [
            (
                running(1, params={"x": object()}),
                r"trial 1: params\['x'\] holds a value of type object",
            ),
            (running(1, params={"x": math.nan}), r"trial 1: params\['x'\] holds the float nan"),
            (running(1, params={"x": math.inf}), r"trial 1: params\['x'\] holds the float inf"),
            (
                finished(1, result={"loss": 1.0, "extra": [0, {"s": {1, 2}}]}),
                r"trial 1: result\['extra'\]\[1\]\['s'\] holds a value of type set",
            ),
            (
                finished(1, result={"k": {(1, 2): 3}}),
                r"trial 1: result\['k'\]\[\(1, 2\)\] holds a key",
            ),
            (finished(1, loss=math.nan), "trial 1: its loss is NaN"),
            (finished(1, loss="low"), "trial 1: its loss 'low' is not a number"),
            (running(0).replace(id=1.5), "id is 1.5"),
        ],
    )
    async def test_unstorable_record_rejects_the_batch(
        self, storage: Storage, study: StudyRecord, bad: Trial, where: str
    ) -> None:
        await storage.write(study.id, [running(5)])
        with pytest.raises(StorageError, match=where):
            await storage.write(study.id, [running(0), bad, running(2)])
        assert await storage.trials(study.id) == [running(5)]

    async def test_large_batches(self, storage: Storage, study: StudyRecord) -> None:
        first = [running(tid) for tid in range(1234)]
        await storage.write(study.id, first)
        await storage.write(study.id, [finished(tid) for tid in range(0, 1234, 2)])
        expected = [finished(t.id) if t.id % 2 == 0 else t for t in first]
        assert await storage.trials(study.id) == expected
        # The offending record comes last, after more records than one SQL statement takes.
        rejected = [running(tid) for tid in range(1234, 2500)] + [running(1232)]
        with pytest.raises(StorageError, match=r"1232 \(ok\) already finished"):
            await storage.write(study.id, rejected)
        assert await storage.trials(study.id) == expected
        # The failure left nothing half-open: the next write is stored as usual.
        await storage.write(study.id, [finished(1)])
        assert (await storage.trials(study.id))[1] == finished(1)

    async def test_studies_are_separate(self, storage: Storage) -> None:
        one = await storage.create_study("one", CONFIG)
        two = await storage.create_study("two", CONFIG)
        await storage.write(one.id, [finished(0), running(1)])
        await storage.write(two.id, [running(0)])
        await storage.write(two.id, [finished(1, TrialState.FAIL)])
        assert await storage.trials(one.id) == [finished(0), running(1)]
        assert await storage.trials(two.id) == [running(0), finished(1, TrialState.FAIL)]

    async def test_closed_storage_refuses_everything(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        await storage.aclose()
        await storage.aclose()
        with pytest.raises(StorageError, match="closed"):
            await storage.create_study("x", CONFIG)
        with pytest.raises(StorageError, match="closed"):
            await storage.get_study("main")
        with pytest.raises(StorageError, match="closed"):
            await storage.list_studies()
        with pytest.raises(StorageError, match="closed"):
            await storage.trials(study.id)
        with pytest.raises(StorageError, match="closed"):
            await storage.write(study.id, [running(0)])

    async def test_aclose_after_a_failed_write(self, storage: Storage, study: StudyRecord) -> None:
        await storage.write(study.id, [finished(0)])
        with pytest.raises(StorageError):
            await storage.write(study.id, [running(0)])
        await storage.aclose()
        await storage.aclose()

    async def test_async_with_closes(self, storage: Storage) -> None:
        async with storage as entered:
            assert entered is storage
            await storage.create_study("s", CONFIG)
        with pytest.raises(StorageError, match="closed"):
            await storage.list_studies()

    async def test_reports_and_the_pruned_state_round_trip(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        live = running(0, reports=((0, 1.5), (1, 1.25)))
        pruned = finished(1).replace(state=TrialState.PRUNED, loss=0.75, reports=((0, 0.75),))
        await storage.write(study.id, [live, pruned])
        assert await storage.trials(study.id) == [live, pruned]
        with pytest.raises(StorageError, match="already finished"):
            await storage.write(study.id, [pruned.replace(reports=())])

    async def test_a_report_that_json_cannot_hold_is_refused(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        with pytest.raises(StorageError, match="finite loss"):
            await storage.write(study.id, [running(0, reports=((0, math.inf),))])
        assert await storage.trials(study.id) == []

    async def test_the_slot_round_trips(self, storage: Storage, study: StudyRecord) -> None:
        await storage.write(study.id, [running(0, slot=3), finished(1, slot=0)])
        stored = await storage.trials(study.id)
        assert [trial.slot for trial in stored] == [3, 0]

    # --- several drivers: leases, ids, waiting trials, fencing, the change feed -----------

    async def test_drivers_register_renew_and_end(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        before = time.time()
        a = await storage.open_driver(study.id, "host-a", 11, 5.0)
        b = await storage.open_driver(study.id, "host-b", 22, 7.5)
        assert (a.host, a.pid, a.lease, a.ended) == ("host-a", 11, 5.0, None)
        assert a.id != b.id
        assert before - 1 <= a.started <= a.seen <= time.time() + 1
        assert a.alive(time.time())
        assert not a.alive(a.seen + 5.0)
        await anyio.sleep(0.01)
        renewed = await storage.heartbeat(a.id)
        assert renewed.seen > a.seen
        await storage.end_driver(a.id)
        listed = await storage.drivers(study.id)
        assert [driver.id for driver in listed] == [a.id, b.id]
        assert listed[0].ended is not None
        assert not listed[0].alive(time.time())
        # An ended driver's heartbeat renews nothing.
        assert (await storage.heartbeat(a.id)).ended is not None
        with pytest.raises(StorageError, match="no driver"):
            await storage.heartbeat(9999)

    async def test_new_trials_take_dense_ids_within_the_budget(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        a = await storage.open_driver(study.id, "h", 1, _LONG)
        b = await storage.open_driver(study.id, "h", 2, _LONG)
        first, v1 = await storage.new_trials(study.id, a.id, [starting(0.1), starting(0.2)], 5)
        second, v2 = await storage.new_trials(study.id, b.id, [starting(0.3)], 5)
        assert [(t.id, t.driver, t.state) for t in first + second] == [
            (0, a.id, TrialState.RUNNING),
            (1, a.id, TrialState.RUNNING),
            (2, b.id, TrialState.RUNNING),
        ]
        assert v2 > v1 >= 0
        # Running trials count toward the budget: only two more fit.
        third, _ = await storage.new_trials(
            study.id, a.id, [starting(0.4), starting(0.5), starting(0.6)], 5
        )
        assert [t.id for t in third] == [3, 4]
        assert await storage.new_trials(study.id, b.id, [starting(0.7)], 5) == ([], -1)
        # Without a budget there is no limit; a finished trial still counts.
        await storage.write(study.id, [done(first[0])])
        assert await storage.new_trials(study.id, b.id, [starting(0.8)], 5) == ([], -1)
        more, _ = await storage.new_trials(study.id, b.id, [starting(0.9)], None)
        assert [t.id for t in more] == [5]
        stored = await storage.trials(study.id)
        assert [t.id for t in stored] == [0, 1, 2, 3, 4, 5]
        assert stored[2].params == {"x": 0.3}

    async def test_take_trial_hands_waiting_trials_to_one_driver(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        a = await storage.open_driver(study.id, "h", 1, _LONG)
        b = await storage.open_driver(study.id, "h", 2, _LONG)
        queued = await storage.enqueue(study.id, [{"x": 0.5}, {"x": 0.25}])
        assert [(t.id, t.state) for t in queued] == [(0, TrialState.QUEUED), (1, TrialState.QUEUED)]
        started, _ = await storage.new_trials(study.id, a.id, [starting(0.75)], None)
        taken = await storage.take_trial(study.id, b.id, None, 5.0, 3)
        assert taken is not None
        assert (taken.id, taken.driver, taken.state, taken.slot) == (0, b.id, TrialState.RUNNING, 3)
        assert taken.started == 5.0
        again = await storage.take_trial(study.id, b.id, None, 6.0, 0)
        assert again is not None
        assert (again.id, again.params) == (1, {"x": 0.25})
        # a's trial 2 is held by a live driver: nothing more to take.
        assert await storage.take_trial(study.id, b.id, None, 7.0, 0) is None
        # Once a ends, its running trial is taken, with its id and params, and no leftovers.
        await storage.write(
            study.id, [started[0].replace(reports=((1, 0.5),), error="x", result={"k": 1})]
        )
        await storage.end_driver(a.id)
        stale = await storage.take_trial(study.id, b.id, None, 8.0, 1)
        assert stale is not None
        assert (stale.id, stale.driver, stale.params, stale.reports, stale.error, stale.result) == (
            2,
            b.id,
            {"x": 0.75},
            (),
            None,
            {},
        )
        # A driver never takes its own running trials.
        assert await storage.take_trial(study.id, b.id, None, 9.0, 1) is None

    async def test_a_lapsed_lease_frees_the_trials(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        a = await storage.open_driver(study.id, "h", 1, 0.05)
        b = await storage.open_driver(study.id, "h", 2, _LONG)
        await storage.new_trials(study.id, a.id, [starting(0.1)], None)
        assert await storage.take_trial(study.id, b.id, None, 1.0, 0) is None
        await anyio.sleep(0.2)
        taken = await storage.take_trial(study.id, b.id, None, 1.0, 0)
        assert taken is not None
        assert (taken.id, taken.driver) == (0, b.id)

    async def test_taking_queued_trials_respects_the_budget(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        a = await storage.open_driver(study.id, "h", 1, _LONG)
        b = await storage.open_driver(study.id, "h", 2, _LONG)
        await storage.enqueue(study.id, [{"x": 0.5}])
        await storage.new_trials(study.id, a.id, [starting(0.1), starting(0.2)], None)
        # finished + running = 2 >= max_evals 2: the queued trial waits.
        assert await storage.take_trial(study.id, b.id, 2, 1.0, 0) is None
        # A stale running trial is already counted: it is taken even with the budget spent.
        await storage.end_driver(a.id)
        taken = await storage.take_trial(study.id, b.id, 2, 1.0, 0)
        assert taken is not None
        assert taken.id == 1
        # An interrupted trial no longer counts, so the queued one may start.
        await storage.write(study.id, [taken.replace(state=TrialState.INTERRUPTED)])
        assert (await storage.take_trial(study.id, b.id, 3, 1.0, 0)) is not None

    async def test_enqueue_skips_points_already_in_the_study(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        a = await storage.open_driver(study.id, "h", 1, _LONG)
        await storage.new_trials(study.id, a.id, [starting(0.5)], None)
        added = await storage.enqueue(study.id, [{"x": 0.5}, {"x": 0.25}, {"x": 0.25}])
        assert [(t.id, t.params) for t in added] == [(1, {"x": 0.25})]
        assert await storage.enqueue(study.id, [{"x": 0.25}]) == []
        with pytest.raises(StudyNotFound):
            await storage.enqueue(999, [{"x": 1.0}])

    async def test_a_record_of_a_trial_another_driver_holds_is_refused(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        a = await storage.open_driver(study.id, "h", 1, _LONG)
        b = await storage.open_driver(study.id, "h", 2, _LONG)
        started, _ = await storage.new_trials(study.id, a.id, [starting(0.1), starting(0.2)], None)
        await storage.end_driver(a.id)
        taken = await storage.take_trial(study.id, b.id, None, 1.0, 0)
        assert taken is not None
        # a wakes up: its late result for trial 0 is refused; its trial 1 is still its own.
        written = await storage.write(study.id, [done(started[0], 5.0), done(started[1], 6.0)])
        assert written.refused == (0,)
        stored = await storage.trials(study.id)
        assert (stored[0].state, stored[0].driver) == (TrialState.RUNNING, b.id)
        assert (stored[1].state, stored[1].loss) == (TrialState.OK, 6.0)
        # b's own result is stored; then nobody changes it.
        assert (await storage.write(study.id, [done(taken, 1.5)])).refused == ()
        assert (await storage.write(study.id, [done(started[0], 9.0)])).refused == (0,)
        with pytest.raises(StorageError, match="already finished"):
            await storage.write(study.id, [done(taken, 2.5)])
        assert (await storage.trials(study.id))[0].loss == 1.5

    async def test_the_change_feed_returns_what_changed(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        a = await storage.open_driver(study.id, "h", 1, _LONG)
        start = await storage.changes(study.id, -1)
        assert start.trials == []
        started, version = await storage.new_trials(
            study.id, a.id, [starting(0.1), starting(0.2)], None
        )
        changes = await storage.changes(study.id, start.version)
        assert [t.id for t in changes.trials] == [0, 1]
        assert changes.version == version
        assert (await storage.changes(study.id, changes.version)).trials == []
        written = await storage.write(study.id, [done(started[1])])
        later = await storage.changes(study.id, changes.version)
        assert [(t.id, t.state) for t in later.trials] == [(1, TrialState.OK)]
        assert later.version == written.version > version
        everything = await storage.changes(study.id, -1)
        assert [t.state for t in everything.trials] == [TrialState.RUNNING, TrialState.OK]
        with pytest.raises(StudyNotFound):
            await storage.changes(999, -1)

    async def test_writes_renew_the_writers_lease(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        # Renewed by a write once a quarter of the lease has passed since it was last seen.
        a = await storage.open_driver(study.id, "h", 1, 0.4)
        started, _ = await storage.new_trials(study.id, a.id, [starting(0.1), starting(0.2)], None)
        seen = (await storage.drivers(study.id))[0].seen
        await storage.write(study.id, [started[0].replace(reports=((1, 0.5),))])
        assert (await storage.drivers(study.id))[0].seen == seen
        await anyio.sleep(0.15)
        await storage.write(study.id, [done(started[0])])
        renewed = (await storage.drivers(study.id))[0].seen
        assert renewed > seen + 0.1
        # A driver that stops writing lapses: another driver takes its trial.
        b = await storage.open_driver(study.id, "h", 2, _LONG)
        assert await storage.take_trial(study.id, b.id, None, 1.0, 0) is None
        await anyio.sleep(0.5)
        taken = await storage.take_trial(study.id, b.id, None, 1.0, 0)
        assert taken is not None
        assert taken.id == 1

    async def test_group_commit_shares_statements_and_keeps_refusals_apart(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        a = await storage.open_driver(study.id, "h", 1, _LONG)
        b = await storage.open_driver(study.id, "h", 2, _LONG)
        group = GroupCommit(storage)
        results: list[list[Trial]] = []

        async def start(x: float) -> None:
            trials, _ = await group.new_trials(study.id, a.id, [starting(x)], 6)
            results.append(trials)

        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(start, i / 10)
        started = sorted((t for batch in results for t in batch), key=lambda t: t.id)
        assert [t.id for t in started] == [0, 1, 2, 3, 4, 5]
        assert sum(not batch for batch in results) == 2
        await storage.end_driver(a.id)
        taken = await storage.take_trial(study.id, b.id, None, 1.0, 0)
        assert taken is not None
        refusals: dict[int, tuple[int, ...]] = {}

        async def finish(trial: Trial) -> None:
            refusals[trial.id] = (await group.write(study.id, [done(trial)])).refused

        async with anyio.create_task_group() as tg:
            for trial in started:
                tg.start_soon(finish, trial)
        assert refusals == {0: (0,), 1: (), 2: (), 3: (), 4: (), 5: ()}

    # --- attachments ----------------------------------------------------------------------

    async def test_bytes_come_back_as_bytes_and_json_as_json(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        await storage.write(study.id, [running(0), running(1)])
        await storage.put_attachments(
            study.id,
            0,
            {
                "model.pkl": _MODEL,
                "buffer": bytearray(b"\x01\x02"),
                "view": memoryview(b"\x03"),
                "meta": {"shape": (2, 3), "ok": True},
                "note": "text",
                "empty": b"",
            },
        )
        got = await storage.attachments(study.id, 0)
        assert got == {
            "model.pkl": _MODEL,
            "buffer": b"\x01\x02",
            "view": b"\x03",
            "meta": {"shape": [2, 3], "ok": True},
            "note": "text",
            "empty": b"",
        }
        assert [type(got[name]) for name in ("model.pkl", "buffer", "view", "empty")] == [bytes] * 4
        # Text is not bytes, and bytes are not text.
        assert type(got["note"]) is str
        assert await storage.attachments(study.id, 1) == {}
        assert await storage.attachments(study.id, 99) == {}

    async def test_a_name_is_replaced_and_the_others_kept(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        await storage.put_attachments(study.id, 0, {"a": b"1", "b": b"2"})
        await storage.put_attachments(study.id, 0, {"b": [3], "c": b"4"})
        assert await storage.attachments(study.id, 0) == {"a": b"1", "b": [3], "c": b"4"}

    async def test_trials_and_studies_are_separate(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        other = await storage.create_study("other", CONFIG)
        await storage.put_attachments(study.id, 0, {"a": b"study"})
        await storage.put_attachments(study.id, 1, {"a": b"trial 1"})
        await storage.put_attachments(other.id, 0, {"a": b"other"})
        assert await storage.attachments(study.id, 0) == {"a": b"study"}
        assert await storage.attachments(study.id, 1) == {"a": b"trial 1"}
        assert await storage.attachments(other.id, 0) == {"a": b"other"}

    async def test_an_unstorable_value_stores_none_of_the_call(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        await storage.put_attachments(study.id, 0, {"a": b"kept"})
        with pytest.raises(
            StorageError, match=r"attachment 'bad'.*type object.*pickle it to bytes"
        ):
            await storage.put_attachments(study.id, 0, {"a": b"new", "bad": object()})
        with pytest.raises(StorageError, match="float nan"):
            await storage.put_attachments(study.id, 0, {"a": b"new", "bad": float("nan")})
        with pytest.raises(StorageError, match=r"the name 3 is not a string"):
            await storage.put_attachments(study.id, 0, {"a": b"new", 3: b"x"})  # type: ignore[dict-item]
        with pytest.raises(StorageError, match="must be a dict"):
            await storage.put_attachments(study.id, 0, [("a", b"x")])  # type: ignore[arg-type]
        assert await storage.attachments(study.id, 0) == {"a": b"kept"}

    async def test_many_attachments_in_one_call(self, storage: Storage, study: StudyRecord) -> None:
        many = {f"part-{i:03}": bytes([i % 256]) * i for i in range(250)}
        await storage.put_attachments(study.id, 0, many)
        assert await storage.attachments(study.id, 0) == many

    async def test_an_unknown_study_is_refused(self, storage: Storage, study: StudyRecord) -> None:
        with pytest.raises(StudyNotFound, match="no study with id 999"):
            await storage.put_attachments(999, 0, {"a": b"x"})
        with pytest.raises(StudyNotFound, match="no study with id 999"):
            await storage.put_attachments(999, 0, {})
        with pytest.raises(StudyNotFound, match="no study with id 999"):
            await storage.attachments(999, 0)

    async def test_attachments_leave_the_trials_alone(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        await storage.write(study.id, [finished(0)])
        version = await storage.version(study.id)
        # A finished trial may get attachments: they are not part of its record.
        await storage.put_attachments(study.id, 0, {"a": b"x"})
        assert await storage.version(study.id) == version
        assert await storage.trials(study.id) == [finished(0)]

    async def test_stored_values_do_not_alias_the_callers(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        buffer = bytearray(b"before")
        meta: dict[str, Any] = {"list": [1]}
        await storage.put_attachments(study.id, 0, {"buffer": buffer, "meta": meta})
        buffer[:] = b"after!"
        meta["list"].append(2)
        got = await storage.attachments(study.id, 0)
        got["meta"]["list"].append(3)
        assert await storage.attachments(study.id, 0) == {
            "buffer": b"before",
            "meta": {"list": [1]},
        }

    async def test_a_closed_storage_refuses_attachments(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        await storage.aclose()
        with pytest.raises(StorageError, match="closed"):
            await storage.put_attachments(study.id, 0, {"a": b"x"})
        with pytest.raises(StorageError, match="closed"):
            await storage.attachments(study.id, 0)
