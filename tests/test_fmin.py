"""fmin end to end: concurrency, refill, stop conditions, failures, cancellation, resume."""

from __future__ import annotations

import functools
import math
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import numpy as np
import pytest

from asynchpo import (
    STATUS_FAIL,
    STATUS_OK,
    AllTrialsFailed,
    ConfigError,
    StudyMismatch,
    StudyNotFound,
    Trials,
    TrialState,
    anneal,
    fmin,
    fmin_sync,
    hp,
    load_trials,
    no_progress_loss,
    rand,
    space_eval,
)

SPACE = {"x": hp.uniform("x", -5, 5)}


async def square(params: dict[str, float]) -> float:
    return params["x"] ** 2


class Gauge:
    """Counts evaluations in flight and remembers the most seen at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.done = 0

    async def objective(self, params: dict[str, float]) -> float:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await anyio.sleep(0.002)
        finally:
            self.now -= 1
        self.done += 1
        return params["x"] ** 2


async def test_in_flight_reaches_and_never_exceeds_concurrency() -> None:
    gauge = Gauge()
    trials = Trials()
    await fmin(gauge.objective, SPACE, max_evals=60, concurrency=8, trials=trials, seed=1)
    assert gauge.peak == 8
    assert len(trials) == 60
    assert all(status == STATUS_OK for status in trials.statuses())


async def test_sync_objective_runs_in_threads_up_to_concurrency() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}
    threads: set[int] = set()

    def objective(params: dict[str, float]) -> float:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            threads.add(threading.get_ident())
        time.sleep(0.005)
        with lock:
            state["now"] -= 1
        return params["x"]

    await fmin(objective, SPACE, max_evals=40, concurrency=4, seed=2)
    assert state["peak"] == 4
    assert threading.get_ident() not in threads


async def test_a_slow_trial_does_not_hold_up_the_others() -> None:
    release = anyio.Event()
    others_done = 0

    async def objective(params: dict[str, float]) -> float:
        nonlocal others_done
        if params["x"] == 4.5:
            # Only finishes once many other trials have finished around it: with a barrier
            # between batches this would never happen and the test would time out.
            await release.wait()
            return 0.0
        await anyio.lowlevel.checkpoint()
        others_done += 1
        if others_done == 30:
            release.set()
        return params["x"] ** 2

    trials = Trials()
    await fmin(
        objective,
        SPACE,
        max_evals=40,
        concurrency=3,
        trials=trials,
        points_to_evaluate=[{"x": 4.5}],
        seed=3,
    )
    first = trials.records[0]
    assert first.params == {"x": 4.5}
    assert first.finished is not None
    later = [
        t for t in trials.records[1:] if t.finished is not None and t.finished < first.finished
    ]
    assert len(later) >= 30


async def test_max_evals_counts_the_whole_study(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    await fmin(square, SPACE, max_evals=10, storage=db, study="s", seed=4)
    trials = Trials()
    await fmin(square, SPACE, max_evals=25, storage=db, study="s", trials=trials)
    assert len(trials) == 25
    assert trials.tids == list(range(25))
    # Already complete: nothing runs.
    calls = 0

    async def counting(params: dict[str, float]) -> float:
        nonlocal calls
        calls += 1
        return 0.0

    await fmin(counting, SPACE, max_evals=25, storage=db, study="s")
    assert calls == 0


async def test_timeout_interrupts_trials_in_flight(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"

    calls = 0

    async def slow(params: dict[str, float]) -> float:
        nonlocal calls
        calls += 1
        await anyio.sleep(10 if calls % 3 == 0 else 0.001)
        return params["x"]

    trials = Trials()
    started = time.monotonic()
    await fmin(slow, SPACE, timeout=0.3, concurrency=4, storage=db, trials=trials, seed=5)
    assert time.monotonic() - started < 2.0
    states = {t.state for t in trials.records}
    assert TrialState.INTERRUPTED in states
    assert TrialState.OK in states
    assert TrialState.RUNNING not in states
    stored = await load_trials(db)
    interrupted = [t for t in stored.records if t.state is TrialState.INTERRUPTED]
    assert interrupted
    assert all(t.error == "interrupted: timeout reached" for t in interrupted)


async def test_loss_threshold_stops_the_run() -> None:
    trials = Trials()
    await fmin(square, SPACE, max_evals=10_000, loss_threshold=0.5, trials=trials, seed=6)
    losses = [loss for loss in trials.losses() if loss is not None]
    assert min(losses) <= 0.5
    assert len(trials) < 10_000


async def test_early_stop_fn_with_no_progress_loss() -> None:
    trials = Trials()
    await fmin(
        square,
        SPACE,
        max_evals=10_000,
        trials=trials,
        early_stop_fn=no_progress_loss(5),
        seed=7,
    )
    assert len(trials) < 10_000
    ok = [t for t in trials.records if t.state is TrialState.OK]
    best_at = min(range(len(ok)), key=lambda i: ok[i].loss or 0.0)
    assert len(ok) - 1 - best_at >= 5


async def test_custom_early_stop_fn_gets_trials_and_threads_its_args() -> None:
    seen: list[int] = []

    def stop_after(trials: Trials, count: int = 0) -> tuple[bool, list[int]]:
        seen.append(count)
        return count + 1 >= 7, [count + 1]

    trials = Trials()
    await fmin(square, SPACE, max_evals=100, trials=trials, early_stop_fn=stop_after, seed=8)
    assert seen == list(range(7))
    assert len(trials) == 7


async def test_objective_exception_is_raised_as_itself_and_storage_stays_consistent(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.sqlite"

    class Boom(Exception):
        pass

    calls = 0

    async def objective(params: dict[str, float]) -> float:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise Boom("bad trial")
        # The first trial is still running when the fifth fails, however slow the machine.
        await anyio.sleep(30 if calls == 1 else 0.05)
        return params["x"]

    with pytest.raises(Boom, match=r"^bad trial$"):
        await fmin(objective, SPACE, max_evals=50, concurrency=4, storage=db, seed=9)
    stored = await load_trials(db)
    states = [t.state for t in stored.records]
    assert TrialState.RUNNING not in states
    failed = [t for t in stored.records if t.state is TrialState.FAIL]
    assert len(failed) == 1
    assert failed[0].error is not None
    assert "Boom: bad trial" in failed[0].error
    assert "Traceback" in failed[0].error
    assert TrialState.INTERRUPTED in states


async def test_catch_eval_exceptions_records_failures_and_goes_on() -> None:
    async def objective(params: dict[str, float]) -> float:
        if params["x"] < 0:
            raise ValueError("negative x")
        return params["x"]

    trials = Trials()
    await fmin(objective, SPACE, max_evals=30, trials=trials, catch_eval_exceptions=True, seed=10)
    assert len(trials) == 30
    failed = [t for t in trials.records if t.state is TrialState.FAIL]
    assert failed
    assert all("ValueError: negative x" in (t.error or "") for t in failed)
    assert all(trials.trials[t.id]["result"]["status"] == STATUS_FAIL for t in failed)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, "the objective returned nan"),
        (math.inf, "the objective returned inf"),
        (None, "the objective returned NoneType None"),
        ("0.5", "the objective returned str '0.5'"),
        ({"loss": None, "status": STATUS_OK}, "the objective returned loss None with status 'ok'"),
        ({"loss": math.nan}, "the objective returned loss nan with status 'ok'"),
        ({"status": STATUS_OK}, "the objective's result has no 'loss'"),
        ({"loss": 1.0, "status": "maybe"}, "the objective returned status 'maybe'"),
    ],
)
async def test_bad_results_are_failed_trials_that_say_why(value: Any, message: str) -> None:
    async def objective(params: dict[str, float]) -> Any:
        return value

    trials = Trials()
    with pytest.raises(AllTrialsFailed, match="none succeeded"):
        await fmin(objective, SPACE, max_evals=2, trials=trials, seed=11)
    assert len(trials) == 2
    for trial in trials.records:
        assert trial.state is TrialState.FAIL
        assert trial.error is not None
        assert trial.error.startswith(message)


async def test_result_dict_extra_keys_are_kept() -> None:
    async def objective(params: dict[str, float]) -> dict[str, Any]:
        return {
            "loss": params["x"] ** 2,
            "status": STATUS_OK,
            "accuracy": np.float64(0.5),
            "history": (1, 2),
        }

    trials = Trials()
    await fmin(objective, SPACE, max_evals=3, trials=trials, seed=12)
    result = trials.results[0]
    assert result["accuracy"] == 0.5
    # The Trials of the process that ran the trial gives the objects back (as hyperopt);
    # the stored record holds their JSON form.
    assert result["history"] == (1, 2)
    assert trials.records[0].result["history"] == [1, 2]
    assert trials.best_trial["result"]["loss"] == min(trials.losses())  # type: ignore[type-var]


async def test_status_fail_dict_is_a_failed_trial() -> None:
    async def objective(params: dict[str, float]) -> dict[str, Any]:
        if params["x"] < 0:
            return {"status": STATUS_FAIL, "why": "negative"}
        return {"loss": params["x"], "status": STATUS_OK}

    trials = Trials()
    await fmin(objective, SPACE, max_evals=20, trials=trials, seed=13)
    statuses = trials.statuses()
    assert STATUS_FAIL in statuses
    assert STATUS_OK in statuses
    assert all(
        loss is None for loss, s in zip(trials.losses(), statuses, strict=True) if s == STATUS_FAIL
    )


async def test_cancelling_fmin_interrupts_in_flight_trials_and_can_resume(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.sqlite"
    enough = anyio.Event()
    done = 0

    async def objective(params: dict[str, float]) -> float:
        nonlocal done
        await anyio.sleep(0.01)
        done += 1
        if done >= 10:
            enough.set()
            await anyio.sleep(10)
        return params["x"]

    async with anyio.create_task_group() as tg:
        tg.start_soon(
            functools.partial(fmin, objective, SPACE, max_evals=100, concurrency=4, storage=db)
        )
        await enough.wait()
        tg.cancel_scope.cancel()

    stored = await load_trials(db)
    states = [t.state for t in stored.records]
    assert TrialState.RUNNING not in states
    interrupted = [t for t in stored.records if t.state is TrialState.INTERRUPTED]
    assert interrupted
    finished_before = {t.id: t for t in stored.records if t.state.is_finished}

    trials = Trials()
    await fmin(square, SPACE, max_evals=30, storage=db, trials=trials, concurrency=4)
    assert sum(t.state.is_finished for t in trials.records) == 30
    for trial in interrupted:
        again = trials.records[trial.id]
        assert again.state is TrialState.OK
        assert again.params == trial.params
    for trial_id, before in finished_before.items():
        assert trials.records[trial_id] == before


async def test_resume_with_a_different_space_names_the_difference(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    await fmin(square, SPACE, max_evals=3, storage=db, study="exp", seed=14)
    other = {"x": hp.uniform("x", -5, 6)}
    with pytest.raises(StudyMismatch, match=r"study 'exp' in .* different search space") as info:
        await fmin(square, other, max_evals=6, storage=db, study="exp")
    assert "'x'" in str(info.value)
    with pytest.raises(StudyMismatch, match=r"created with algo 'tpe'.*'anneal'"):
        await fmin(square, SPACE, algo=anneal.suggest, max_evals=6, storage=db, study="exp")
    with pytest.raises(StudyMismatch, match="created with seed 14"):
        await fmin(square, SPACE, max_evals=6, storage=db, study="exp", seed=15)
    # The failed attempts changed nothing.
    assert len(await load_trials(db, "exp")) == 3


async def test_same_seed_same_trials_and_rstate_is_accepted() -> None:
    async def run(**kwargs: Any) -> list[dict[str, float | int]]:
        trials = Trials()
        await fmin(square, SPACE, algo=anneal.suggest, max_evals=25, trials=trials, **kwargs)
        return [dict(t.params) for t in trials.records]

    assert await run(seed=3) == await run(seed=3)
    assert await run(seed=3) != await run(seed=4)
    rng_runs = [await run(rstate=np.random.default_rng(42)) for _ in range(2)]
    assert rng_runs[0] == rng_runs[1]


async def test_trials_object_continues_an_in_memory_search() -> None:
    trials = Trials()
    await fmin(square, SPACE, max_evals=5, trials=trials, seed=16)
    await fmin(square, SPACE, max_evals=12, trials=trials)
    assert trials.tids == list(range(12))


async def test_points_to_evaluate_run_first_and_once(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    points = [{"x": 1.0}, {"x": -2.0}]
    trials = Trials()
    await fmin(square, SPACE, max_evals=4, points_to_evaluate=points, storage=db, trials=trials)
    assert [dict(t.params) for t in trials.records[:2]] == points
    await fmin(square, SPACE, max_evals=6, points_to_evaluate=points, storage=db, trials=trials)
    xs = [t.params["x"] for t in trials.records]
    assert xs.count(1.0) == 1
    assert xs.count(-2.0) == 1


async def test_returns_hyperopt_argmin_and_space_eval_values() -> None:
    space = {
        "model": hp.choice(
            "model",
            [
                {"kind": "mlp", "layers": hp.uniformint("layers", 1, 4)},
                {"kind": "tree", "depth": hp.quniform("depth", 2, 12, 1)},
            ],
        ),
        "lr": hp.loguniform("lr", -9, -1),
    }

    async def objective(params: dict[str, Any]) -> float:
        model = params["model"]
        penalty = model["layers"] if model["kind"] == "mlp" else model["depth"] / 3
        return float(penalty + params["lr"])

    trials = Trials()
    best = await fmin(objective, space, max_evals=30, trials=trials, seed=17)
    assert set(best) >= {"model", "lr"}
    assert best["model"] in (0, 1)
    values = space_eval(space, best)
    assert values == await fmin(objective, space, max_evals=30, trials=trials, return_argmin=False)
    doc = trials.best_trial
    assert doc["misc"]["vals"]["lr"] == [best["lr"]]
    inactive = "depth" if best["model"] == 0 else "layers"
    assert doc["misc"]["vals"][inactive] == []
    assert doc["misc"]["idxs"]["lr"] == [doc["tid"]]


async def test_trials_have_hyperopt_shapes() -> None:
    trials = Trials()
    await fmin(square, SPACE, max_evals=5, trials=trials, seed=18)
    doc = trials.trials[0]
    assert set(doc) >= {"tid", "state", "result", "misc", "book_time", "refresh_time"}
    assert doc["state"] == 2
    assert doc["result"]["status"] == STATUS_OK
    assert doc["book_time"] <= doc["refresh_time"]
    assert trials.argmin == {"x": trials.best_trial["misc"]["vals"]["x"][0]}
    assert len(list(trials)) == 5
    assert trials.average_best_error() == min(trials.losses())  # type: ignore[type-var]


@pytest.mark.parametrize(
    ("keyword", "replacement"),
    [
        ("trials_save_file", "storage="),
        ("max_queue_len", "concurrency="),
        ("allow_trials_fmin", "remove it"),
        ("pass_expr_memo_ctrl", "remove it"),
    ],
)
async def test_hyperopt_keywords_without_meaning_name_their_replacement(
    keyword: str, replacement: str
) -> None:
    legacy: dict[str, Any] = {keyword: "x"}
    with pytest.raises(TypeError, match=f"hyperopt's '{keyword}': .*{replacement}"):
        await fmin(square, SPACE, max_evals=1, **legacy)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        # TypeError for the wrong kind of object, ConfigError for a wrong value.
        ({"max_evals": -1}, ConfigError, "max_evals must be a whole number >= 0"),
        ({"max_evals": 1.5}, TypeError, "max_evals must be a whole number >= 0"),
        ({"concurrency": 0}, ConfigError, "concurrency must be a whole number >= 1"),
        ({"timeout": 0}, ConfigError, "timeout must be a positive number"),
        ({"timeout": "1"}, TypeError, "timeout must be a positive number"),
        ({"seed": -3}, ConfigError, "seed must be a whole number >= 0"),
        ({"rstate": 5}, TypeError, "rstate must be a numpy.random.Generator"),
        ({"study": ""}, ConfigError, "study must be a non-empty string"),
        (
            {"study": "a\x00b"},
            ConfigError,
            "study 'a\\\\x00b' holds a NUL character; choose a name without",
        ),
    ],
)
async def test_bad_arguments_fail_before_any_work(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    calls = 0

    async def objective(params: dict[str, float]) -> float:
        nonlocal calls
        calls += 1
        return 0.0

    with pytest.raises(error, match=message):
        await fmin(objective, SPACE, **{"max_evals": 3, **kwargs})
    assert calls == 0


async def test_load_trials_of_missing_study_or_file(tmp_path: Path) -> None:
    with pytest.raises(StudyNotFound, match="no storage file"):
        await load_trials(tmp_path / "missing.sqlite", "s")
    db = tmp_path / "runs.sqlite"
    await fmin(square, SPACE, max_evals=2, storage=db, study="s")
    with pytest.raises(StudyNotFound, match="'other'"):
        await load_trials(db, "other")


async def test_every_result_is_committed_before_it_is_counted(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    observed: list[tuple[int, int]] = []

    def check(trials: Trials) -> tuple[bool, list[Any]]:
        # At the moment a result is acknowledged, a separate reader sees it in the file.
        last = trials.last_finished
        assert last is not None
        with sqlite3.connect(db) as conn:
            (state,) = conn.execute("SELECT state FROM trials WHERE tid = ?", (last.id,)).fetchone()
        observed.append((last.id, state == last.state.value))
        return False, []

    await fmin(square, SPACE, max_evals=20, concurrency=4, storage=db, early_stop_fn=check)
    # The last result meets max_evals, which ends the run before early_stop_fn is asked.
    assert len(observed) == 19
    assert all(committed for _, committed in observed)


def test_fmin_sync_runs_without_an_event_loop(tmp_path: Path) -> None:
    best = fmin_sync(square, SPACE, algo=rand.suggest, max_evals=10, storage=tmp_path / "r.db")
    assert set(best) == {"x"}


async def test_fmin_sync_inside_an_event_loop_says_to_await() -> None:
    with pytest.raises(ConfigError, match="use `await fmin"):
        fmin_sync(square, SPACE, max_evals=1)


async def test_heavy_suggestions_move_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def heavy(space: Any, history: Any, pending: Any, rng: np.random.Generator) -> Any:
        threads.append(threading.get_ident())
        # 10 ms of CPU work, standing in for a suggester with a long history to model.
        started = time.thread_time()
        while time.thread_time() - started < 0.01:
            pass
        return rand.suggest(space, history, pending, rng)

    await fmin(square, SPACE, algo=heavy, max_evals=12, concurrency=3, seed=19)
    assert len(threads) == 12
    # The first call shows the cost; from then on suggestions run in a worker thread.
    assert threads[0] == loop_thread
    assert all(ident != loop_thread for ident in threads[1:])


async def test_cheap_suggestions_stay_on_the_event_loop() -> None:
    loop_thread = threading.get_ident()
    threads: set[int] = set()

    def cheap(space: Any, history: Any, pending: Any, rng: np.random.Generator) -> Any:
        threads.add(threading.get_ident())
        return rand.suggest(space, history, pending, rng)

    await fmin(square, SPACE, algo=cheap, max_evals=30, concurrency=3, seed=20)
    assert threads == {loop_thread}


async def test_the_suggester_sees_every_pending_point() -> None:
    seen: list[int] = []
    all_started = anyio.Event()
    release = anyio.Event()

    def counting(space: Any, history: Any, pending: Any, rng: np.random.Generator) -> Any:
        seen.append(len(pending) + len(history))
        if len(seen) == 4:
            all_started.set()
        return rand.suggest(space, history, pending, rng)

    async def objective(params: dict[str, float]) -> float:
        await release.wait()
        return params["x"]

    async with anyio.create_task_group() as tg:
        tg.start_soon(
            functools.partial(
                fmin, objective, SPACE, algo=counting, max_evals=8, concurrency=4, seed=21
            )
        )
        await all_started.wait()
        release.set()
    # Each suggestion saw every trial suggested before it, finished or still running.
    assert seen == list(range(8))


async def test_progress_bar_draws_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    await fmin(square, SPACE, max_evals=5, show_progressbar=True, seed=22)
    err = capsys.readouterr().err
    assert "5/5 trials" in err
    assert "best loss:" in err


async def test_trials_to_dataframe_has_a_column_per_label() -> None:
    pd = pytest.importorskip("pandas")
    space = {
        "lr": hp.loguniform("lr", -5, 0),
        "m": hp.choice("m", [{"d": hp.uniformint("d", 1, 3)}, {"w": hp.uniform("w", 0, 1)}]),
    }

    async def objective(params: dict[str, Any]) -> float:
        return float(params["lr"])

    trials = Trials()
    await fmin(objective, space, max_evals=8, trials=trials, seed=23)
    frame = trials.to_dataframe()
    assert list(frame.columns[:9]) == [
        "tid",
        "state",
        "loss",
        "status",
        "duration",
        "started",
        "finished",
        "error",
        "slot",
    ]
    assert set(frame.columns[9:]) == {"lr", "m", "d", "w"}
    assert set(frame["slot"]) == {0}  # concurrency 1: every trial held slot 0
    assert len(frame) == 8
    assert frame["tid"].tolist() == list(range(8))
    assert (frame["state"] == "ok").all()
    assert frame["loss"].tolist() == pytest.approx(frame["lr"].tolist())
    for _, row in frame.iterrows():
        # a choice shows its option (an object option as the space describes it), not its index
        assert row["m"] in ({"d": {"param": "d"}}, {"w": {"param": "w"}})
        inactive = "w" if row["m"] == {"d": {"param": "d"}} else "d"
        assert pd.isna(row[inactive])
    assert str(frame["started"].dtype).startswith("datetime64")
