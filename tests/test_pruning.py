"""Intermediate reports and pruning: the pruner contract for every pruner, the pruners alone,
then in fmin with every objective kind."""

from __future__ import annotations

import functools
import math
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from process_tools import wait_dead

from asynchpo import (
    Command,
    ConfigError,
    History,
    MemoryStorage,
    ProcessExecutor,
    Trial,
    TrialContext,
    TrialCrashed,
    TrialPruned,
    Trials,
    TrialState,
    fmin,
    hp,
    load_trials,
    pruners,
    rand,
)
from asynchpo._pruners import MedianPruner, SuccessiveHalvingPruner
from asynchpo._storage import StorageWrapper, Written
from asynchpo._suggesters._random import suggest as random_suggest
from asynchpo.testing.pruner import PrunerContract, PrunerFactory

TESTS = Path(__file__).parent
SPACE = {"x": hp.uniform("x", -5, 5)}
EPOCHS = 27


def curve(x: float, epoch: int) -> float:
    """A learning curve whose final loss is (x - 1)**2: bad points are bad from the start."""
    return (x - 1.0) ** 2 + 1.0 / epoch


class Compute:
    """Counts the epochs objectives ran."""

    def __init__(self) -> None:
        self.epochs = 0

    async def objective(self, params: dict[str, float], trial: TrialContext) -> float:
        loss = math.inf
        for epoch in range(1, EPOCHS + 1):
            self.epochs += 1
            loss = curve(params["x"], epoch)
            await trial.report(epoch, loss)
        return loss


# --- the contract (asynchpo.testing.pruner), for every pruner ---------------------------------


class TestSuccessiveHalvingPruner(PrunerContract):
    @pytest.fixture
    def pruner_factory(self) -> PrunerFactory:
        return SuccessiveHalvingPruner


class TestSuccessiveHalvingPrunerWithBrackets(PrunerContract):
    @pytest.fixture
    def pruner_factory(self) -> PrunerFactory:
        return functools.partial(
            SuccessiveHalvingPruner,
            min_resource=2,
            reduction_factor=2,
            min_early_stopping_rate=1,
            brackets=3,
            max_resource=30,
        )


class TestMedianPruner(PrunerContract):
    @pytest.fixture
    def pruner_factory(self) -> PrunerFactory:
        return MedianPruner


class TestMedianPrunerWithOptions(PrunerContract):
    @pytest.fixture
    def pruner_factory(self) -> PrunerFactory:
        return functools.partial(
            MedianPruner,
            n_startup_trials=1,
            n_warmup_steps=2,
            interval_steps=3,
            n_min_trials=2,
            percentile=25.0,
        )


# --- the pruners alone ------------------------------------------------------------------------


def test_asha_keeps_the_best_third_at_each_rung() -> None:
    pruner = SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    decisions = []
    # Nine trials reach rung 0 (step 1) with losses 9, 8, ..., 1 (each better than the last).
    for trial_id, loss in enumerate([5.0, 9.0, 1.0, 7.0, 3.0, 8.0, 2.0, 6.0, 4.0]):
        pruner.observe(trial_id, 1, loss)
        decisions.append(pruner.should_prune(trial_id, 1, loss))
    # Until 3 values: only a new best continues; then the best third of what arrived.
    #          5      9     1      7     3      8     2      6     4
    assert decisions == [False, True, False, True, True, True, False, True, True]
    # Between rungs there is no decision.
    pruner.observe(2, 2, 0.9)
    assert not pruner.should_prune(2, 2, 0.9)
    # Rung 1 is at step 3.
    pruner.observe(2, 3, 0.8)
    assert not pruner.should_prune(2, 3, 0.8)
    assert pruner.rung_step(0, 2) == 9


def test_asha_brackets_and_max_resource() -> None:
    pruner = SuccessiveHalvingPruner(
        min_resource=2, reduction_factor=2, min_early_stopping_rate=1, brackets=2, max_resource=16
    )
    assert [pruner.rung_step(0, k) for k in range(4)] == [4, 8, math.inf, math.inf]
    assert [pruner.rung_step(1, k) for k in range(3)] == [8, math.inf, math.inf]
    # A report past several rungs records the loss at each of them.
    pruner.observe(0, 9, 1.0)
    assert pruner._reached[0] == [1.0, 1.0]
    assert not pruner.should_prune(0, 9, 1.0)


def test_asha_forget_removes_a_trials_values() -> None:
    pruner = SuccessiveHalvingPruner(reduction_factor=2)
    pruner.observe(0, 1, 1.0)
    pruner.forget(0)
    pruner.observe(1, 1, 5.0)
    assert not pruner.should_prune(1, 1, 5.0)  # alone at the rung: trial 0 no longer counts


def test_median_pruner_compares_with_completed_trials_at_the_same_step() -> None:
    pruner = MedianPruner(n_startup_trials=2, n_warmup_steps=1, interval_steps=2)
    for trial_id, base in enumerate([1.0, 3.0]):
        for step in range(5):
            pruner.observe(trial_id, step, base + step)
        pruner.finish(trial_id, TrialState.OK)
    # Median at step 3 is (4 + 6) / 2 = 5.
    pruner.observe(2, 3, 5.5)
    assert pruner.should_prune(2, 3, 5.5)
    pruner.observe(3, 3, 4.5)
    assert not pruner.should_prune(3, 3, 4.5)
    # Warm-up and interval: steps 0 and 2 are never considered.
    pruner.observe(4, 0, 100.0)
    assert not pruner.should_prune(4, 0, 100.0)
    pruner.observe(4, 2, 100.0)
    assert not pruner.should_prune(4, 2, 100.0)
    # The trial's best loss so far counts, not its latest.
    pruner.observe(5, 1, 0.5)
    pruner.observe(5, 3, 9.0)
    assert not pruner.should_prune(5, 3, 9.0)
    # A failed or pruned trial's reports are not a reference.
    pruner.finish(2, TrialState.PRUNED)
    assert len(pruner._completed_at[3]) == 2


def test_median_pruner_waits_for_its_startup_trials() -> None:
    pruner = MedianPruner(n_startup_trials=3)
    pruner.observe(0, 0, 1.0)
    pruner.finish(0, TrialState.OK)
    pruner.observe(1, 0, 50.0)
    assert not pruner.should_prune(1, 0, 50.0)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        # TypeError for the wrong kind of object, ConfigError for a wrong value.
        (lambda: SuccessiveHalvingPruner(reduction_factor=1), ConfigError, "reduction_factor"),
        (lambda: SuccessiveHalvingPruner(min_resource=0), ConfigError, "min_resource"),
        (lambda: SuccessiveHalvingPruner(brackets=1.5), TypeError, "brackets"),  # type: ignore[arg-type]
        (lambda: MedianPruner(percentile=120), ConfigError, "percentile"),
        (lambda: MedianPruner(interval_steps=0), ConfigError, "interval_steps"),
        (lambda: MedianPruner(n_startup_trials=True), TypeError, "n_startup_trials"),
    ],
)
def test_bad_pruner_options_are_refused(make: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()


# --- pruning in fmin --------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_asha_reaches_the_unpruned_best_at_a_fraction_of_the_compute(
    concurrency: int,
) -> None:
    runs = {}
    for name, pruner in [
        ("none", None),
        ("asha", pruners.SuccessiveHalvingPruner(max_resource=EPOCHS)),
    ]:
        compute, trials = Compute(), Trials()
        await fmin(
            compute.objective, SPACE, algo=rand.suggest, max_evals=60, concurrency=concurrency,
            trials=trials, pruner=pruner, seed=7,
        )  # fmt: skip
        runs[name] = (compute.epochs, trials.records)
    full, asha = runs["none"], runs["asha"]
    assert full[0] == 60 * EPOCHS
    assert asha[0] <= full[0] / 3
    best = min(t.loss for t in full[1] if t.loss is not None)
    completed = [t for t in asha[1] if t.state is TrialState.OK]
    assert min(t.loss for t in completed if t.loss is not None) == best
    # The good ones ran to the end; the pruned ones stopped early, with their last loss.
    for trial in completed:
        assert len(trial.reports) == EPOCHS
    pruned = [t for t in asha[1] if t.state is TrialState.PRUNED]
    assert len(pruned) >= 30
    for trial in pruned:
        assert len(trial.reports) < EPOCHS
        assert trial.loss == trial.reports[-1][1]
        assert trial.result == {"status": "pruned", "loss": trial.loss, "step": len(trial.reports)}
        assert trial.loss > best


async def test_median_pruning_keeps_the_best_and_saves_compute() -> None:
    compute, trials = Compute(), Trials()
    best = await fmin(
        compute.objective, SPACE, algo=rand.suggest, max_evals=40, trials=trials, seed=3,
        pruner=pruners.MedianPruner(n_startup_trials=5),
    )  # fmt: skip
    assert compute.epochs < 40 * EPOCHS * 0.75
    ok = [t for t in trials.records if t.state is TrialState.OK]
    assert best == {"x": min(ok, key=lambda t: t.loss or 0).params["x"]}
    assert all(t.state is not TrialState.PRUNED for t in trials.records[:5])


async def test_a_thread_objective_is_pruned_through_report_sync() -> None:
    epochs = []

    def objective(params: dict[str, float], trial: TrialContext) -> float:
        loss = math.inf
        for epoch in range(1, EPOCHS + 1):
            epochs.append(epoch)
            loss = curve(params["x"], epoch)
            trial.report_sync(epoch, loss)
        return loss

    trials = Trials()
    await fmin(
        objective, SPACE, algo=rand.suggest, max_evals=30, concurrency=3, trials=trials,
        pruner=pruners.SuccessiveHalvingPruner(), seed=1,
    )  # fmt: skip
    assert sum(t.state is TrialState.PRUNED for t in trials.records) >= 15
    assert len(epochs) < 30 * EPOCHS / 2


async def test_the_objective_can_clean_up_and_still_ends_pruned() -> None:
    cleaned: list[int] = []

    async def objective(params: dict[str, float], trial: TrialContext) -> float:
        try:
            for epoch in range(1, EPOCHS + 1):
                await trial.report(epoch, curve(params["x"], epoch))
        except TrialPruned:
            cleaned.append(trial.trial_id)
            if trial.trial_id % 2:
                raise
            return -1.0  # swallowed: the trial is still recorded as pruned
        return curve(params["x"], EPOCHS)

    trials = Trials()
    await fmin(
        objective, SPACE, algo=rand.suggest, max_evals=20, trials=trials, seed=2,
        pruner=pruners.SuccessiveHalvingPruner(),
    )  # fmt: skip
    pruned = {t.id for t in trials.records if t.state is TrialState.PRUNED}
    assert pruned
    assert set(cleaned) == pruned
    assert all(t.loss != -1.0 for t in trials.records)


async def test_an_objective_may_prune_itself_without_a_pruner() -> None:
    async def objective(params: dict[str, float], trial: TrialContext) -> float:
        await trial.report(1, curve(params["x"], 1))
        if params["x"] < 0:
            raise TrialPruned("diverging")
        return curve(params["x"], 1)

    trials = Trials()
    await fmin(objective, SPACE, algo=rand.suggest, max_evals=20, trials=trials, seed=4)
    for trial in trials.records:
        expected = TrialState.PRUNED if trial.params["x"] < 0 else TrialState.OK
        assert trial.state is expected
    assert all(s in ("ok", "pruned") for s in trials.statuses())


async def test_reports_are_checkpointed_and_pruned_trials_count_toward_max_evals(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.sqlite"
    compute = Compute()
    await fmin(
        compute.objective, SPACE, algo=rand.suggest, max_evals=15, concurrency=2,
        storage=db, pruner=pruners.SuccessiveHalvingPruner(), seed=5,
    )  # fmt: skip
    trials = await load_trials(db)
    assert len(trials.records) == 15
    assert sum(len(t.reports) for t in trials.records) == compute.epochs
    for trial in trials.records:
        assert [step for step, _ in trial.reports] == list(range(1, len(trial.reports) + 1))
        assert all(loss == curve(trial.params["x"], step) for step, loss in trial.reports)


class CountingStorage(StorageWrapper):
    """A MemoryStorage that counts the writes of RUNNING records that carry reports."""

    def __init__(self) -> None:
        super().__init__(MemoryStorage())
        self.live_writes: list[int] = []

    async def write(self, study_id: int, trials: Sequence[Trial]) -> Written:
        self.live_writes += [
            len(t.reports) for t in trials if t.state is TrialState.RUNNING and t.reports
        ]
        return await self.storage.write(study_id, trials)


async def test_running_trials_are_rewritten_with_their_reports_about_once_a_second() -> None:
    async def fast(params: dict[str, float], trial: TrialContext) -> float:
        for step in range(1, 501):
            await trial.report(step, 1.0 / step)
        return 0.0

    storage = CountingStorage()
    await fmin(fast, SPACE, max_evals=1, storage=storage)
    # The first report, then at most one more a second (the 500 take milliseconds).
    assert storage.live_writes[0] == 1
    assert len(storage.live_writes) <= 2
    record = (await storage.trials((await storage.get_study("default")).id))[0]
    assert len(record.reports) == 500  # the finished record holds them all

    async def slow(params: dict[str, float], trial: TrialContext) -> float:
        for step in range(1, 6):
            await trial.report(step, 1.0 / step)
            await anyio.sleep(0.3)
        return 0.0

    storage = CountingStorage()
    await fmin(slow, SPACE, max_evals=1, storage=storage)
    assert storage.live_writes[0] == 1
    assert 2 <= len(storage.live_writes) <= 3  # steps 1, 5 (or 4)


@pytest.mark.parametrize(
    ("reports", "message"),
    [
        ([(1, 0.5), (1, 0.4)], "steps of a trial must increase"),
        ([(2, 0.5), (1, 0.4)], "steps of a trial must increase"),
        ([(-1, 0.5)], "whole number >= 0"),
        ([(True, 0.5)], "whole number >= 0"),
        ([(1.5, 0.5)], "whole number >= 0"),
        ([(1, math.nan)], "finite number"),
        ([(1, "0.5")], "finite number"),
    ],
)
async def test_a_bad_report_fails_the_trial_with_a_clear_error(
    reports: list[tuple[Any, Any]], message: str
) -> None:
    async def objective(params: dict[str, float], trial: TrialContext) -> float:
        for step, loss in reports:
            await trial.report(step, loss)
        return 0.0

    with pytest.raises(ValueError, match=message):
        await fmin(objective, SPACE, max_evals=1)


async def test_report_sync_on_the_event_loop_says_to_await() -> None:
    async def objective(params: dict[str, float], trial: TrialContext) -> float:
        trial.report_sync(1, 0.5)
        return 0.0

    with pytest.raises(RuntimeError, match=r"await trial\.report"):
        await fmin(objective, SPACE, max_evals=1)


async def test_an_abandoned_thread_is_stopped_at_its_next_report() -> None:
    stopped = threading.Event()

    def objective(params: dict[str, float], trial: TrialContext) -> float:
        try:
            for epoch in range(1, 10_000):
                time.sleep(0.01)
                trial.report_sync(epoch, 1.0)
        except TrialPruned:
            stopped.set()
            raise
        return 1.0

    with pytest.raises(Exception, match="none succeeded"):
        await fmin(objective, SPACE, max_evals=1, timeout=0.3)
    assert await anyio.to_thread.run_sync(stopped.wait, 5.0)


async def test_a_retried_crash_starts_its_reports_again() -> None:
    attempts: dict[int, int] = {}

    async def objective(params: dict[str, float], trial: TrialContext) -> float:
        attempts[trial.trial_id] = attempts.get(trial.trial_id, 0) + 1
        await trial.report(1, 2.0)
        if trial.trial_id == 0 and attempts[0] == 1:
            await trial.report(2, 1.5)
            raise TrialCrashed("lost the GPU")
        await trial.report(2, 1.0)
        return 1.0

    trials = Trials()
    pruner = pruners.SuccessiveHalvingPruner(reduction_factor=2)
    await fmin(objective, SPACE, max_evals=3, trials=trials, retries=1, pruner=pruner)
    assert [t.reports for t in trials.records] == [((1, 2.0), (2, 1.0))] * 3
    assert all(t.state is TrialState.OK for t in trials.records)
    # The crashed attempt's values left the rungs: one value per trial at each.
    assert pruner._rungs[0, 0] == [2.0] * 3
    assert pruner._rungs[0, 1] == [1.0] * 3


async def test_pruned_trials_are_failures_to_the_suggester() -> None:
    seen: list[History] = []

    def algo(space: Any, history: History, pending: Any, rng: np.random.Generator) -> Any:
        seen.append(history)
        return random_suggest(space, history, pending, rng)

    trials = Trials()
    await fmin(
        Compute().objective, SPACE, algo=algo, max_evals=20, trials=trials, seed=8,
        pruner=pruners.SuccessiveHalvingPruner(),
    )  # fmt: skip
    last = seen[-1]
    by_id = {t.id: t for t in trials.records}
    for trial_id, loss in zip(last.ids, last.losses, strict=True):
        if by_id[int(trial_id)].state is TrialState.PRUNED:
            assert math.isnan(loss)
        else:
            assert loss == by_id[int(trial_id)].loss


# --- resume -----------------------------------------------------------------------------------


def _good_then_bad(space: Any, history: History, pending: Any, rng: np.random.Generator) -> Any:
    """Nine ever better trials (x closer to 1 each time), then a bad one (x = -4)."""
    return np.array([1.0 + 0.05 * (9 - len(history)) if len(history) < 9 else -4.0])


_good_then_bad.__name__ = "good_then_bad"


async def test_resume_rebuilds_the_pruners_knowledge_from_the_stored_reports(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.sqlite"
    compute = Compute()
    options: dict[str, Any] = {"algo": _good_then_bad, "storage": db, "seed": 1}
    await fmin(
        compute.objective, SPACE, max_evals=9, pruner=pruners.SuccessiveHalvingPruner(), **options
    )
    assert compute.epochs == 9 * EPOCHS  # each was a new best: none was pruned
    # A fresh pruner: the first trial of this run is bad, and only the stored reports say so.
    await fmin(
        compute.objective, SPACE, max_evals=10, pruner=pruners.SuccessiveHalvingPruner(), **options
    )
    trials = await load_trials(db)
    assert trials.records[9].params == {"x": -4.0}
    assert trials.records[9].state is TrialState.PRUNED
    assert trials.records[9].reports == ((1, curve(-4.0, 1)),)


# --- commands ---------------------------------------------------------------------------------


def _pids(folder: Path) -> list[int]:
    return [int(path.read_text()) for path in folder.glob("*.pid")]


async def test_a_pruned_command_is_stopped_and_leaves_no_process(tmp_path: Path) -> None:
    command = Command(
        [sys.executable, str(TESTS / "pruning_curve.py"), "{x}", str(tmp_path)], grace=0.5
    )
    trials = Trials()
    points = [{"x": 1.0}, {"x": 1.5}, {"x": -4.5}, {"x": 0.5}, {"x": 4.0}, {"x": 2.0}]
    await fmin(
        command, SPACE, algo=rand.suggest, max_evals=len(points), concurrency=2, trials=trials,
        points_to_evaluate=points, pruner=pruners.SuccessiveHalvingPruner(max_resource=EPOCHS),
    )  # fmt: skip
    states = {t.params["x"]: t.state for t in trials.records}
    assert states[1.0] is TrialState.OK
    assert states[-4.5] is TrialState.PRUNED  # it ignores SIGTERM: SIGKILL after the grace
    assert states[4.0] is TrialState.PRUNED
    for trial in trials.records:
        assert trial.reports, "the report lines were read"
        if trial.state is TrialState.OK:
            assert trial.loss == pytest.approx(curve(trial.params["x"], EPOCHS))
            assert len(trial.reports) == EPOCHS  # the report lines are not the result
        else:
            assert "was pruned" in (trial.error or "")
    pids = _pids(tmp_path)
    assert len(pids) == len(points)
    assert await anyio.to_thread.run_sync(wait_dead, pids) == []


# --- what cannot report -----------------------------------------------------------------------


async def test_a_pruner_needs_an_objective_that_reports() -> None:
    with pytest.raises(ConfigError, match=r"async def objective\(params, trial\)"):
        await fmin(lambda params: 1.0, SPACE, max_evals=1, pruner=pruners.MedianPruner())


async def test_a_pruner_must_be_a_pruner() -> None:
    with pytest.raises(TypeError, match="pruner must be a Pruner"):
        await fmin(Compute().objective, SPACE, max_evals=1, pruner="asha")  # type: ignore[arg-type]


async def test_reporting_objectives_are_refused_where_reports_cannot_return() -> None:
    compute = Compute()
    with pytest.raises(ConfigError, match="ProcessExecutor"):
        await fmin(compute.objective, SPACE, max_evals=1, executor=ProcessExecutor())
    with pytest.raises(ConfigError, match="needs reports"):
        await fmin(
            functools.partial(curve, 1.0), SPACE, max_evals=1, executor=ProcessExecutor(),
            pruner=pruners.MedianPruner(),
        )  # fmt: skip


def test_objectives_with_too_many_required_arguments_are_refused(tmp_path: Path) -> None:
    def objective(params: Any, trial: Any, extra: Any) -> float:
        return 0.0

    db = tmp_path / "runs.sqlite"
    with pytest.raises(ConfigError, match="requires 3 arguments"):
        anyio.run(functools.partial(fmin, objective, SPACE, max_evals=1, storage=db))
    assert not db.exists()  # refused before any work


def test_the_context_pickles_without_its_reporter() -> None:
    import pickle

    context = TrialContext(3, 1, values={"x": 1.0}, reporter=object())  # type: ignore[arg-type]
    copy = pickle.loads(pickle.dumps(context))
    assert copy == context
    assert not copy.can_report
    with pytest.raises(RuntimeError, match="cannot report"):
        copy.report_sync(1, 1.0)
