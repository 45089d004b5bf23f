"""The Study ask/tell API on real SQLite files (and in memory where noted).

What is stored is checked by reading the file with ``sqlite3`` (another connection than the
study's), so "stored before ask returns" means stored, not merely known to the object.
Several drivers of one study are several :class:`Study` objects on one file in one process:
each registers its own driver with its own lease, exactly as separate processes do.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

import asynchpo
from asynchpo import (
    STATUS_FAIL,
    ConfigError,
    LeaseLost,
    RunningTrial,
    SqliteStorage,
    Study,
    StudyError,
    StudyMismatch,
    StudyNotFound,
    TrialPruned,
    TrialState,
    hp,
    open_study,
    open_study_sync,
    pruners,
    rand,
    tpe,
)
from asynchpo._storage import Changes, StorageWrapper

SPACE = {"x": hp.uniform("x", -5.0, 5.0), "kind": hp.choice("kind", ["a", "b"])}


def quadratic(params: Any) -> float:
    return float(params["x"]) ** 2 + (0.5 if params["kind"] == "b" else 0.0)


def stored(path: Path, study: str = "s") -> dict[int, dict[str, Any]]:
    """The study's trials as the file holds them, read through a connection of our own."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT t.tid, t.state, t.driver, t.params, t.loss, t.result, t.error, t.reports "
            "FROM trials t JOIN studies s ON s.id = t.study_id WHERE s.name = ? ORDER BY t.tid",
            (study,),
        ).fetchall()
    return {
        tid: {
            "state": state,
            "driver": driver,
            "params": json.loads(params),
            "loss": loss,
            "result": json.loads(result),
            "error": error,
            "reports": [tuple(r) for r in json.loads(reports)],
        }
        for tid, state, driver, params, loss, result, error, reports in rows
    }


def opened(
    path: Path | asynchpo.Storage | None, **options: Any
) -> contextlib.AbstractAsyncContextManager[Study]:
    options.setdefault("space", SPACE)
    options.setdefault("algo", rand.suggest)
    options.setdefault("seed", 3)
    return open_study(path, "s", **options)


# --- the ask/tell loop ------------------------------------------------------------------------


async def test_sequential_loop_to_max_evals_then_resume(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    async with opened(path, max_evals=6) as study:
        assert study.remaining == 6
        assert study.best_trial is None
        for i in range(5):
            trial = await study.ask()
            assert trial.id == i
            assert stored(path)[i]["state"] == "running"
            assert study.remaining == 6 - i - 1  # a running trial counts toward max_evals
            assert study.in_flight == {i}
            assert trial.params == study.space.evaluate(trial.point)  # type: ignore[union-attr]
            record = await study.tell(trial, quadratic(trial.params))
            assert record.state is TrialState.OK
            assert record.loss == quadratic(trial.params)
            assert study.remaining == 6 - i - 1
        assert study.finished == 5
        losses = {t.id: t.loss for t in study.trials}
        assert study.best_trial is not None
        assert study.best_trial.loss == min(t.loss for t in study.trials if t.loss is not None)
        assert study.best_trial == min(study.trials, key=lambda t: t.loss or math.inf)
        left = await study.ask()  # the last one allowed: left in flight
        assert left.id == 5
        assert study.remaining == 0
        with pytest.raises(StudyError, match=r"max_evals=6 .*higher max_evals"):
            await study.ask()
        assert await study.ask(3) == []
        assert study.in_flight == {5}
    rows = stored(path)
    assert [rows[t]["state"] for t in range(6)] == ["ok"] * 5 + ["interrupted"]
    assert rows[5]["params"] == left.point

    async with opened(path, max_evals=6) as study:
        assert [t.state for t in study.trials] == [TrialState.OK] * 5 + [TrialState.INTERRUPTED]
        assert {t.id: t.loss for t in study.trials if t.ok} == losses
        assert study.finished == 5
        assert study.remaining == 1  # the interrupted trial is waiting, not counted
        again = await study.ask()
        assert again.id == 5
        assert again.point == left.point
        assert again.params == left.params
        await study.tell(again, -1.0)
        assert study.best_trial is not None
        assert study.best_trial.id == 5
        assert await study.ask(1) == []
    assert [row["state"] for row in stored(path).values()] == ["ok"] * 6


async def test_same_seed_same_points(tmp_path: Path) -> None:
    # Each trial's generator derives from (seed, id): two studies with one seed agree.
    points = []
    for name in ("a.db", "b.db"):
        async with opened(tmp_path / name, seed=11) as study:
            points.append([(await study.ask()).point for _ in range(4)])
    assert points[0] == points[1]
    async with opened(tmp_path / "c.db", seed=12) as study:
        assert [(await study.ask()).point for _ in range(4)] != points[0]


async def test_ask_n_stores_every_trial_running_before_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    async with opened(path, algo=tpe.suggest) as study:
        assert study.driver is not None
        at_notice: dict[int, str] = {}

        def notice(record: asynchpo.Trial) -> None:
            # Called as each trial starts, before ask returns: the file holds it already.
            at_notice.setdefault(record.id, stored(path)[record.id]["state"])

        study.watch(notice)
        trials = await study.ask(8)
        assert at_notice == dict.fromkeys(range(8), "running")
        assert [t.id for t in trials] == list(range(8))
        assert len({(t.point["x"], t.point["kind"]) for t in trials}) == 8
        rows = stored(path)
        assert sorted(rows) == list(range(8))
        for trial in trials:
            assert rows[trial.id]["state"] == "running"
            assert rows[trial.id]["driver"] == study.driver.id
            assert rows[trial.id]["params"] == trial.point
        # A reader (another storage connection, read-only study) sees them running too.
        async with open_study(path, "s") as reader:
            assert reader.count(TrialState.RUNNING) == 8
            assert reader.driver is None
        assert study.in_flight == set(range(8))
        order = list(trials)
        random.Random(0).shuffle(order)
        for trial in order:
            await study.tell(trial, quadratic(trial.params))
        assert study.in_flight == frozenset()
    rows = stored(path)
    assert [rows[t]["state"] for t in range(8)] == ["ok"] * 8
    assert all(rows[t]["loss"] == quadratic(trials[t].params) for t in range(8))


async def test_memory_storage_ask_and_tell() -> None:
    async with opened(None, max_evals=3) as study:
        trials = await study.ask(5)
        assert [t.id for t in trials] == [0, 1, 2]
        for trial in reversed(trials):
            await study.tell(trial, float(trial.id))
        assert study.finished == 3
        assert study.best_trial is not None
        assert study.best_trial.id == 0
        assert study.summary().counts["ok"] == 3
    # A Storage object passed in is shared: a second study object reads the same trials.
    storage = asynchpo.MemoryStorage()
    async with opened(storage) as first:
        await first.tell(await first.ask(), 1.0)
    async with opened(storage) as second:
        assert [t.loss for t in second.trials] == [1.0]
        assert (await second.ask()).id == 1


# --- bad calls --------------------------------------------------------------------------------


async def test_tell_errors(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    async with opened(path) as study, opened(path) as other:
        trial = await study.ask()
        calls: list[tuple[dict[str, Any], str]] = [
            ({}, "got none"),
            ({"result": 1.0, "exception": ValueError("x")}, "got several"),
            ({"result": 1.0, "pruned": True}, "got several"),
            ({"exception": ValueError("x"), "pruned": True}, "got several"),
        ]
        for kwargs, fragment in calls:
            with pytest.raises(StudyError, match=rf"tell\(trial 0\) takes one of: .*{fragment}"):
                await study.tell(trial, **kwargs)
        with pytest.raises(StudyError, match="has no trial 99; tell a trial from ask"):
            await study.tell(99, 1.0)
        with pytest.raises(TypeError, match="trial must be what ask"):
            await study.tell("0", 1.0)  # type: ignore[arg-type]
        with pytest.raises(StudyError, match="trial 0 was asked from another Study object"):
            await other.tell(trial, 1.0)
        await other.refresh()
        with pytest.raises(LeaseLost, match="held by driver"):  # another driver runs it
            await other.tell(0, 1.0)
        await study.tell(trial.id, 2.0)  # by id
        with pytest.raises(StudyError, match=r"trial 0 .* is already finished \(ok\)"):
            await study.tell(trial, 1.0)
        with pytest.raises(StudyError, match="already finished"):
            await study.tell(trial, exception=ValueError("late"))
        queued = await study.enqueue([{"x": 0.0, "kind": 1}])
        with pytest.raises(StudyError, match=r"trial 1 .* is not running here \(queued\)"):
            await study.tell(queued[0].id, 1.0)
    assert stored(path)[0]["loss"] == 2.0


async def test_ask_and_report_argument_errors(tmp_path: Path) -> None:
    async with opened(tmp_path / "study.db") as study:
        with pytest.raises(ConfigError, match=r"ask\(n\): n must be a whole number >= 0"):
            await study.ask(-1)
        wrong_kind: list[Any] = [1.5, True, "2"]
        for n in wrong_kind:
            with pytest.raises(TypeError, match=r"ask\(n\): n must be a whole number >= 0"):
                await study.ask(n)
        assert await study.ask(0) == []
        trial = await study.ask()
        for step in (-1, 1.5, True, "3"):
            with pytest.raises(ValueError, match=r"trial 0 reported step .*a step is a whole"):
                await trial.report(step, 0.5)  # type: ignore[arg-type]
        for loss in (math.nan, math.inf, "0.5", None):
            with pytest.raises(ValueError, match=r"trial 0 reported loss .*a loss is a finite"):
                await trial.report(1, loss)  # type: ignore[arg-type]
        await trial.report(2, 0.5)
        for step in (2, 1):
            with pytest.raises(ValueError, match=rf"reported step {step} after step 2"):
                await study.report(trial, step, 0.4)
        record = await study.tell(trial, 0.3)
        assert record.reports == ((2, 0.5),)
        with pytest.raises(StudyError, match="already finished"):
            await trial.report(3, 0.1)


_C, _T = ConfigError, TypeError  # a wrong value, the wrong kind of object


@pytest.mark.parametrize(
    ("options", "error", "fragment"),
    [
        ({"lease_seconds": 0}, _C, "lease_seconds must be a positive number of seconds, got 0"),
        ({"lease_seconds": -1}, _C, "lease_seconds must be a positive number of seconds, got -1"),
        ({"lease_seconds": math.nan}, _C, "lease_seconds must be a positive number of seconds"),
        ({"lease_seconds": math.inf}, _C, "lease_seconds must be a positive number of seconds"),
        ({"lease_seconds": "x"}, _T, "lease_seconds must be a positive number of seconds, got 'x'"),
        ({"max_evals": -1}, _C, "max_evals must be a whole number >= 0 or None, got -1"),
        ({"max_evals": 1.5}, _T, "max_evals must be a whole number >= 0 or None, got 1.5"),
        ({"max_evals": True}, _T, "max_evals must be a whole number >= 0 or None, got True"),
        ({"seed": -2}, _C, "seed must be a whole number >= 0, got -2"),
        ({"pruner": "median"}, _T, "pruner must be a Pruner such as"),
    ],
)
async def test_bad_options(
    tmp_path: Path, options: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        async with opened(tmp_path / "study.db", **options):
            pass
    assert not (tmp_path / "study.db").exists()  # refused before anything was opened


@pytest.mark.parametrize(("name", "error"), [("", ConfigError), (3, TypeError), (None, TypeError)])
async def test_bad_study_name(tmp_path: Path, name: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="study must be a non-empty string"):
        async with open_study(tmp_path / "study.db", name, space=SPACE):
            pass


async def test_read_only_and_closed_studies_refuse_to_drive(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    with pytest.raises(StudyNotFound, match="s"):
        async with open_study(path, "s"):
            pass
    async with opened(path) as study:
        trial = await study.ask()
        await study.tell(trial, 1.0)
        running = await study.ask()
    with pytest.raises(StudyError, match=r"study 's' is closed; ask\(\) needs an open study"):
        await study.ask()
    with pytest.raises(StudyError, match=r"is closed; tell\(\) needs an open study"):
        await study.tell(running, 1.0)
    with pytest.raises(StudyError, match="is closed"):
        await running.report(1, 1.0)
    async with open_study(path, "s") as reader:
        assert reader.driver is None
        assert reader.finished == 1
        assert reader.best_trial is not None
        assert reader.best_trial.loss == 1.0
        for call in (reader.ask(), reader.tell(0, 1.0), reader.enqueue([{"x": 0, "kind": 0}])):
            with pytest.raises(StudyError, match="opened for reading only; pass space="):
                await call
    with pytest.raises(StudyNotFound):
        async with open_study(path, "other"):
            pass


async def test_reopening_with_another_configuration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    async with opened(path, seed=3) as study:
        await study.tell(await study.ask(), 1.0)
    wider = {"x": hp.uniform("x", -5.0, 6.0), "kind": hp.choice("kind", ["a", "b"])}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"space": wider}, r"created with a different search space:\n  - .*x"),
        ({"algo": tpe.suggest}, "created with algo 'rand', and this call uses 'tpe'"),
        ({"seed": 4}, "created with seed 3, and this call passes seed 4"),
    ]
    for options, fragment in cases:
        with pytest.raises(StudyMismatch, match=fragment):
            async with opened(path, **options):
                pass
    async with opened(path, seed=None) as study:  # no seed: the stored one
        assert study.seed == 3
        assert study.finished == 1


# --- what tell stores -------------------------------------------------------------------------


async def test_tell_forms(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    async with opened(path) as study:
        trials = await study.ask(6)
        ok = await study.tell(trials[0], 0.5)
        assert (ok.state, ok.loss, ok.result) == (TrialState.OK, 0.5, {"loss": 0.5, "status": "ok"})
        extra = await study.tell(trials[1], {"loss": 0.25, "status": "ok", "acc": 0.9, "n": [1]})
        assert extra.state is TrialState.OK
        assert extra.result == {"loss": 0.25, "status": "ok", "acc": 0.9, "n": [1]}
        failed = await study.tell(trials[2], {"status": STATUS_FAIL, "error": "diverged"})
        assert (failed.state, failed.loss, failed.error) == (TrialState.FAIL, None, "diverged")
        try:
            raise ValueError("bad batch size")
        except ValueError as exc:
            raised = await study.tell(trials[3], exception=exc)
        assert raised.state is TrialState.FAIL
        assert raised.error is not None
        assert raised.error.startswith("Traceback")
        assert raised.error.endswith("ValueError: bad batch size")
        await trials[4].report(1, 0.8)
        await trials[4].report(3, 0.7)
        cut = await study.tell(trials[4], pruned=True)
        assert (cut.state, cut.loss, cut.reports) == (TrialState.PRUNED, 0.7, ((1, 0.8), (3, 0.7)))
        assert cut.result == {"status": "pruned", "loss": 0.7, "step": 3}
        await trials[5].report(2, 0.6)
        stopped = await study.tell(trials[5], exception=TrialPruned("enough"))
        assert (stopped.state, stopped.loss, stopped.error) == (TrialState.PRUNED, 0.6, "enough")
        assert study.best_trial == extra
        assert [study.count(s) for s in (TrialState.OK, TrialState.FAIL, TrialState.PRUNED)] == [
            2,
            2,
            2,
        ]
    rows = stored(path)
    assert [rows[t]["state"] for t in range(6)] == ["ok", "ok", "fail", "fail", "pruned", "pruned"]
    assert rows[1]["result"]["acc"] == 0.9
    assert "ValueError: bad batch size" in rows[3]["error"]
    assert rows[4]["reports"] == [(1, 0.8), (3, 0.7)]
    assert rows[4]["loss"] == 0.7


@pytest.mark.parametrize(
    "pruner",
    [
        pruners.MedianPruner(n_startup_trials=2),
        pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
    ],
    ids=["median", "asha"],
)
async def test_report_prunes_a_bad_trial(tmp_path: Path, pruner: Any) -> None:
    path = tmp_path / "study.db"
    async with opened(path, pruner=pruner) as study:
        for i in range(2):
            good = await study.ask()
            for step in (1, 2, 4):  # trial 1 better than trial 0 at every step
                await good.report(step, 1.0 / step - 0.1 * i)
            await study.tell(good, 0.25 - 0.1 * i)
        bad = await study.ask()
        await bad.report(0, 50.0)  # below every rung and step of the others
        with pytest.raises(TrialPruned, match=r"trial 2 was pruned at step 1 by"):
            await bad.report(1, 50.0)
        with pytest.raises(TrialPruned, match="no longer running"):
            await bad.report(8, 50.0)  # decided: no more reports
        # The objective swallowed TrialPruned and returned: still recorded pruned.
        record = await study.tell(bad, 0.0)
        assert record.state is TrialState.PRUNED
        assert record.loss == 50.0
        assert record.reports[0] == (0, 50.0)
        assert study.best_trial is not None
        assert study.best_trial.id == 1
        reports = record.reports
    row = stored(path)[2]
    assert row["state"] == "pruned"
    assert row["reports"] == list(reports)


async def test_a_resumed_driver_prunes_from_the_stored_reports(tmp_path: Path) -> None:
    # The pruner of a new Study object knows only what is stored: it is replayed on open.
    path = tmp_path / "study.db"
    async with opened(path) as study:
        for i in range(2):
            good = await study.ask()
            await good.report(1, 1.0 + i)
            await study.tell(good, 0.5 + i)
    async with opened(path, pruner=pruners.MedianPruner(n_startup_trials=2)) as study:
        bad = await study.ask()
        with pytest.raises(TrialPruned):
            await bad.report(1, 9.0)
    async with opened(path, pruner=pruners.MedianPruner(n_startup_trials=3)) as study:
        bad = await study.ask()
        await bad.report(1, 9.0)  # only two completed trials: no pruning yet


# --- several drivers --------------------------------------------------------------------------


@pytest.mark.parametrize("lapse", ["ended", "lease"])
async def test_a_lost_lease_is_fenced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lapse: str
) -> None:
    path = tmp_path / "study.db"
    if lapse == "lease":
        # A's heartbeat never beats: its lease lapses 0.2 s after its last write.
        async def frozen(self: Study, period: float) -> None:
            await anyio.sleep_forever()

        monkeypatch.setattr(Study, "_heartbeat", frozen)
    async with opened(path, lease_seconds=0.2 if lapse == "lease" else 10.0) as a:
        assert a.driver is not None
        held = await a.ask()
        if lapse == "ended":
            async with await SqliteStorage.open(path) as outside:
                await outside.end_driver(a.driver.id)
        else:
            await anyio.sleep(0.3)
        monkeypatch.undo()
        async with opened(path) as b:
            assert b.driver is not None
            assert b.driver.id != a.driver.id
            taken = await b.ask()
            assert taken.id == held.id
            assert taken.point == held.point
            assert b.in_flight == {held.id}
            row = stored(path)[held.id]
            assert (row["state"], row["driver"]) == ("running", b.driver.id)

            with pytest.raises(LeaseLost, match=r"trial 0 of study 's' was taken over"):
                await a.tell(held, 1.0)
            assert a.in_flight == frozenset()
            row = stored(path)[held.id]
            assert (row["state"], row["driver"], row["loss"]) == ("running", b.driver.id, None)

            record = await b.tell(taken, 2.0)
            assert (record.state, record.driver) == (TrialState.OK, b.driver.id)
            with pytest.raises(StudyError):  # A has no claim on it any more
                await a.tell(held, 1.0)
    row = stored(path)[held.id]  # A's exit wrote nothing over B's result
    assert (row["state"], row["driver"], row["loss"]) == ("ok", b.driver.id, 2.0)


async def test_a_report_of_a_taken_over_trial_raises_trial_pruned(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    async with opened(path) as a:
        assert a.driver is not None
        held = await a.ask()
        async with await SqliteStorage.open(path) as outside:
            await outside.end_driver(a.driver.id)
        async with opened(path) as b:
            taken = await b.ask()
            assert taken.id == held.id
            with pytest.raises(TrialPruned, match="taken over by another driver"):
                await held.report(1, 0.5)
            await b.tell(taken, 1.5)
    assert stored(path)[0]["reports"] == []


async def test_drivers_share_ids_budget_and_queued_points(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    told: list[tuple[str, int]] = []
    order: list[int] = []
    points = [{"x": 1.0, "kind": 0}, {"x": 2.0, "kind": 1}]
    async with opened(path, max_evals=10) as a, opened(path, max_evals=10) as b:
        assert len(await a.enqueue(points)) == 2
        added = await b.enqueue([*points, {"x": 3.0, "kind": 0}])
        assert [t.params for t in added] == [{"x": 3.0, "kind": 0}]  # the others are there
        assert await a.enqueue(points) == []
        drivers = {"a": a, "b": b}
        held: dict[str, list[RunningTrial]] = {"a": [], "b": []}
        exhausted: set[str] = set()
        turn = 0
        while len(exhausted) < 2:
            name = "ab"[turn % 2]
            turn += 1
            study = drivers[name]
            asked = await study.ask(2)
            held[name].extend(asked)
            order.extend(t.id for t in asked)
            if not asked:
                exhausted.add(name)
            # Tell one trial of the other driver's turn later: both hold trials at once.
            if len(held[name]) > 1:
                trial = held[name].pop(0)
                await study.tell(trial, float(trial.id))
                told.append((name, trial.id))
            assert study.finished <= 10
            assert len(stored(path)) <= 10
            if not asked:
                for trial in held[name]:
                    await study.tell(trial, float(trial.id))
                    told.append((name, trial.id))
                held[name].clear()
        for study in (a, b):
            await study.refresh()
            assert study.finished == 10
            assert study.remaining == 0
    ids = [tid for _, tid in told]
    assert sorted(ids) == list(range(10))  # dense, each told once
    assert {name for name, _ in told} == {"a", "b"}
    rows = stored(path)
    assert sorted(rows) == list(range(10))
    assert all(row["state"] == "ok" for row in rows.values())
    queued = [rows[t]["params"] for t in range(3)]
    assert queued == [*points, {"x": 3.0, "kind": 0}]
    assert order[:3] == [0, 1, 2]  # queued trials are taken before any new suggestion
    assert sorted(order) == list(range(10))  # and each trial is handed out once
    assert all(rows[t]["params"] not in queued for t in range(3, 10))


CHOICE_SPACE = {"x": hp.choice("x", list(range(8)))}


class SeeingTPE:
    """TPE that notes which points were pending at each suggestion."""

    algo_name = "seeing-tpe"

    def __init__(self) -> None:
        self.saw: list[set[int]] = []

    def __call__(self, space: asynchpo.Space, history: Any, pending: Any, rng: Any) -> Any:
        self.saw.append({int(x) for x in pending[:, 0]})
        return tpe.suggest(space, history, pending, rng)


async def test_suggestions_avoid_points_pending_under_another_driver(tmp_path: Path) -> None:
    # In a finite space TPE never repeats a finished or pending point while unseen ones
    # remain: B's four points must be the four A does not hold. If B ignored A's pending
    # trials, its four distinct draws would avoid A's four by chance once in 70.
    path = tmp_path / "study.db"
    seeing = SeeingTPE()
    options: dict[str, Any] = {"space": CHOICE_SPACE, "algo": seeing, "seed": 1}
    async with opened(path, **options) as a, opened(path, **options) as b:
        held = await a.ask(4)
        a_points = {int(t.point["x"]) for t in held}
        mine = await b.ask(4)
        assert a_points | {t.point["x"] for t in mine} == set(range(8))
        assert [t.id for t in mine] == [4, 5, 6, 7]
        assert seeing.saw[4] == a_points  # B's first suggestion saw A's four as pending


async def test_suggestions_avoid_pending_of_a_driver_that_opened_later(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    seeing = SeeingTPE()
    options: dict[str, Any] = {"space": CHOICE_SPACE, "algo": seeing, "seed": 1}
    # A long lease: no heartbeat (every lease / 3) reads the drivers during the test.
    async with (
        opened(path, lease_seconds=600, **options) as first,
        opened(path, **options) as later,
    ):
        held = await later.ask(4)
        await first.ask()
        assert seeing.saw[4] == {int(t.point["x"]) for t in held}


# --- the synchronous twin ---------------------------------------------------------------------


def drive_sync(path: Path) -> list[float | None]:
    """A whole ask/tell session through open_study_sync, from plain code."""
    with open_study_sync(path, "s", space=SPACE, algo=rand.suggest, seed=5, max_evals=4) as study:
        assert isinstance(study.study, Study)
        assert study.name == "s"
        added = study.enqueue([{"x": 0.5, "kind": 0}])
        assert [t.state for t in added] == [TrialState.QUEUED]
        first = study.ask()
        assert first.point == {"x": 0.5, "kind": 0}
        assert first.params == {"x": 0.5, "kind": "a"}
        study.report(first, 1, 0.75)
        first.report_sync(2, 0.5)  # from this thread, which is not the study's loop
        record = study.tell(first, 0.25)
        assert record.reports == ((1, 0.75), (2, 0.5))
        rest = study.ask(5)
        assert [t.id for t in rest] == [1, 2, 3]
        for trial in rest:
            study.tell(trial.id, 1.0 + trial.id)
        study.refresh()
        assert study.finished == 4
        assert study.remaining == 0
        assert study.best_trial is not None
        assert study.best_trial.id == 0
        assert len(study.trials) == 4
        with pytest.raises(StudyError, match="max_evals=4"):
            study.ask()
        with pytest.raises(AttributeError):
            study._ledger  # noqa: B018 - private names are not passed through
        return [t.loss for t in study.trials]


def test_sync_study_in_plain_code(tmp_path: Path) -> None:
    assert drive_sync(tmp_path / "study.db") == [0.25, 2.0, 3.0, 4.0]
    assert [row["state"] for row in stored(tmp_path / "study.db").values()] == ["ok"] * 4


async def test_sync_study_inside_a_running_event_loop(tmp_path: Path) -> None:
    # As in Jupyter: a plain function called from a coroutine, the loop running.
    assert drive_sync(tmp_path / "study.db") == [0.25, 2.0, 3.0, 4.0]


async def test_report_sync_from_a_worker_thread(tmp_path: Path) -> None:
    async with opened(
        tmp_path / "study.db", pruner=pruners.MedianPruner(n_startup_trials=1)
    ) as study:
        trial = await study.ask()
        threads: set[int] = set()

        def work(trial: RunningTrial, reports: list[tuple[int, float]]) -> None:
            threads.add(threading.get_ident())
            for step, loss in reports:
                trial.report_sync(step, loss)

        await anyio.to_thread.run_sync(work, trial, [(1, 0.5), (2, 0.4)])
        assert threading.get_ident() not in threads
        await study.tell(trial, 0.4)
        assert study.trials[0].reports == ((1, 0.5), (2, 0.4))
        bad = await study.ask()
        with pytest.raises(TrialPruned, match="trial 1 was pruned at step 1"):
            await anyio.to_thread.run_sync(work, bad, [(1, 3.0), (2, 3.0)])
        with pytest.raises(ValueError, match="reported step 1 after step 1"):
            await anyio.to_thread.run_sync(work, await study.ask(), [(1, 0.1), (1, 0.1)])
        with pytest.raises(ValueError, match="a loss is a finite number"):
            await anyio.to_thread.run_sync(work, await study.ask(), [(1, math.nan)])
        with pytest.raises(RuntimeError, match=r"report_sync\(\) was called on the event loop"):
            bad.report_sync(5, 1.0)


# --- views ------------------------------------------------------------------------------------


async def test_views_summary_and_watch(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    async with opened(path) as study, opened(path) as other:
        seen: list[tuple[int, TrialState]] = []
        study.watch(lambda record: seen.append((record.id, record.state)))
        trials = await study.ask(3)
        await study.tell(trials[0], 2.0)
        await study.tell(trials[1], exception=RuntimeError("oops"))
        await other.tell(await other.ask(), 0.5)
        assert seen == [
            (0, TrialState.RUNNING),
            (1, TrialState.RUNNING),
            (2, TrialState.RUNNING),
            (0, TrialState.OK),
            (1, TrialState.FAIL),
        ]
        await study.refresh()  # another driver's trial, read in
        assert seen[-1] == (3, TrialState.OK)

        view = study.trials_view()
        assert len(view) == 4
        assert view.tids == [0, 1, 2, 3]
        assert view.losses() == [2.0, None, None, 0.5]
        assert view.statuses() == ["ok", "fail", "running", "ok"]
        assert view.argmin == study.trials[3].params
        assert view.best_trial["tid"] == 3

        summary = study.summary()
        assert summary.name == "s"
        assert summary.algo == "rand"
        assert (summary.counts["ok"], summary.counts["fail"], summary.counts["running"]) == (
            2,
            1,
            1,
        )
        assert summary.total == 4
        assert (summary.best_trial, summary.best_loss) == (3, 0.5)
        assert study.driver is not None
        assert other.driver is not None
        assert {(d.id, n) for d, n in summary.drivers} == {
            (study.driver.id, 1),
            (other.driver.id, 0),
        }
        assert (summary.live, summary.stale) == (1, 0)
        assert [d.id for d in await study.drivers()] == [study.driver.id, other.driver.id]
    async with open_study(path, "s") as reader:
        summary = reader.summary()
        assert summary.drivers == ()  # both ended
        assert summary.counts["interrupted"] == 1
        assert summary.live == 0


async def test_a_reader_refreshes_trials_and_drivers(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    async with opened(path) as a:
        assert a.driver is not None
        held = await a.ask()
        async with open_study(path, "s") as reader:
            assert [(d.id, n) for d, n in reader.summary().drivers] == [(a.driver.id, 1)]
            async with await SqliteStorage.open(path) as outside:
                await outside.end_driver(a.driver.id)
            await reader.refresh()  # a stale trial, no live driver: read, nothing written
            summary = reader.summary()
            assert (summary.drivers, summary.stale, summary.live) == ((), 1, 0)
            async with opened(path) as b:
                assert b.driver is not None
                taken = await b.ask()
                assert taken.id == held.id
                await b.tell(taken, 1.0)
                await b.tell(await b.ask(), 2.0)
                await reader.refresh()
                summary = reader.summary()
                assert [(d.id, n) for d, n in summary.drivers] == [(b.driver.id, 0)]
                assert (summary.counts["ok"], summary.stale, summary.best_loss) == (2, 0, 1.0)
                assert reader.finished == 2


# --- what a driver reads, and when ------------------------------------------------------------


class CountingStorage(StorageWrapper):
    """Counts the calls a study makes to its storage, by method."""

    def __init__(self, storage: asynchpo.Storage) -> None:
        super().__init__(storage)
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    async def changes(self, study_id: int, since: int) -> Changes:
        self._count("changes")
        return await super().changes(study_id, since)

    async def take_trial(
        self, study_id: int, driver: int, max_evals: int | None, started: float, slot: int | None
    ) -> asynchpo.Trial | None:
        self._count("take_trial")
        return await super().take_trial(study_id, driver, max_evals, started, slot)


async def test_alone_a_driver_never_reads_the_change_feed(tmp_path: Path) -> None:
    async with await SqliteStorage.open(tmp_path / "study.db") as sqlite:
        counting = CountingStorage(sqlite)
        async with opened(counting) as study:
            reads_at_open = counting.calls.get("changes", 0)
            for _ in range(30):
                trials = await study.ask(4)
                for trial in reversed(trials):
                    await study.tell(trial, 1.0)
            assert study.finished == 120
        assert counting.calls.get("changes", 0) == reads_at_open


async def test_concurrent_asks_share_one_read_of_another_drivers_work(tmp_path: Path) -> None:
    async with await SqliteStorage.open(tmp_path / "study.db") as sqlite:
        counting = CountingStorage(sqlite)
        async with opened(tmp_path / "study.db") as other, opened(counting) as study:
            await study.ask()  # knows the other driver is there, and what it did
            before = counting.calls.get("changes", 0)
            held = await other.ask(3)
            started: list[RunningTrial] = []

            async def ask() -> None:
                started.append(await study.ask())

            async with anyio.create_task_group() as tg:
                for _ in range(16):
                    tg.start_soon(ask)
            assert counting.calls.get("changes", 0) == before + 1
            assert {t.id for t in held}.isdisjoint(t.id for t in started)
            assert len({t.id for t in started}) == 16


async def test_a_driver_never_tries_to_take_a_live_drivers_trials(tmp_path: Path) -> None:
    async with await SqliteStorage.open(tmp_path / "study.db") as sqlite:
        counting = CountingStorage(sqlite)
        # The first driver is busy (its writes keep its long lease, so its heartbeat never
        # wakes) for longer than the later one's short lease, which the later renews.
        async with (
            opened(counting, lease_seconds=60) as first,
            opened(tmp_path / "study.db", lease_seconds=0.3) as later,
        ):
            held = await later.ask(4)
            deadline = anyio.current_time() + 0.8
            while anyio.current_time() < deadline:
                trial = await first.ask()
                await first.tell(trial, 1.0)
                await anyio.sleep(0.01)
            assert counting.calls.get("take_trial", 0) == 0
            for trial in held:
                await later.tell(trial, 2.0)


async def test_an_older_read_never_reaches_the_watchers(tmp_path: Path) -> None:
    """A read that left before this driver's own latest write (statements may run on the
    loop's thread while a read waits on the database thread) brings older records: the
    ledger ignores them, and so must everything that watches the study."""
    seen: list[tuple[int, TrialState]] = []
    async with opened(tmp_path / "study.db") as study:
        study.watch(lambda record: seen.append((record.id, record.state)))
        trial = await study.ask()
        running = trial.record
        await study.tell(trial, 1.0)
        study._absorb([running])  # the RUNNING record, as a slow read would bring it back
        view = study.trials_view()
    assert seen == [(0, TrialState.RUNNING), (0, TrialState.OK)]
    assert view.statuses() == ["ok"]
