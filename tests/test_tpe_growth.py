"""TPE on a growing history: what it learns is taken in incrementally, with bounded work.

Behaviour only, never speed: the cached, incremental models give exactly the suggestions a
fresh suggester computes from the whole history; the history handed to suggesters is a view of
one append-only buffer, never copied or hashed per call; g is refit on a prefix whose length is
a function of the history's length alone; g's kernels are capped, failed trials included.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from asynchpo import compile_space, hp
from asynchpo._ledger import Ledger
from asynchpo._suggesters import _tpe
from asynchpo._suggesters._base import History, HistoryBuffer, trial_rng
from asynchpo._trial import Trial, TrialState

SPACE = compile_space(
    {
        "x": hp.uniform("x", -5, 5),
        "lr": hp.loguniform("lr", math.log(1e-5), math.log(1e-1)),
        "units": hp.quniform("units", 16, 256, 16),
        "model": hp.choice(
            "model",
            [
                {"depth": hp.uniformint("depth", 1, 6)},
                {"width": hp.lognormal("width", 0, 1), "act": hp.choice("act", ["r", "t"])},
            ],
        ),
    }
)


def _outcome(rng: np.random.Generator, row: np.ndarray, i: int) -> tuple[float | None, bool]:
    """A loss (with ties), a failure or a pruned trial for history row ``i``."""
    kind = rng.random()
    if kind < 0.1:
        return None, False  # failed
    if kind < 0.15:
        return None, True  # pruned
    return float(np.round(np.nansum(np.abs(row)) % 3.0, 1)), False  # coarse: many ties


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"split": "global"},
        {"multivariate": False, "weights": "uniform", "failed": "ignore"},
        {"constant_liar": True, "n_startup_jobs": 3},
    ],
)
def test_incremental_models_suggest_exactly_what_a_fresh_suggester_does(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, object]
) -> None:
    # Small caps, so that within 300 trials g is refit on a lagging prefix (every 2, 4, 8
    # trials) and compressed (more than 48 bad trials), the paths a long study takes.
    monkeypatch.setattr(_tpe, "_REFIT_FRACTION", 16)
    monkeypatch.setattr(_tpe, "_MAX_BAD_KERNELS", 48)
    rng = np.random.default_rng(3)
    rows = SPACE.sample(rng, 300)
    pending = SPACE.sample(rng, 5)
    buffer = HistoryBuffer(len(SPACE), capacity=4)
    cached = _tpe.TPE(**options)  # type: ignore[arg-type]
    for i, row in enumerate(rows):
        loss, pruned = _outcome(rng, row, i)
        buffer.append(i, row, loss, pruned=pruned)
        if i % 3 and i < 250:
            continue  # the cached suggester also sees histories grow by several trials at once
        history = buffer.snapshot()
        for burst in range(2):  # a second call on the same history uses the cached models
            key = 1000 * i + burst
            got = cached(SPACE, history, pending, trial_rng(7, key))
            fresh = _tpe.TPE(**options)(SPACE, history, pending, trial_rng(7, key))  # type: ignore[arg-type]
            np.testing.assert_array_equal(got, fresh, err_msg=f"history of {i + 1} trials")


def test_an_older_snapshot_after_a_newer_one_is_modelled_on_its_own_trials() -> None:
    rng = np.random.default_rng(0)
    buffer = HistoryBuffer(len(SPACE))
    for i, row in enumerate(SPACE.sample(rng, 80)):
        buffer.append(i, row, float(rng.random()))
        if i == 39:
            older = buffer.snapshot()
    newer = buffer.snapshot()
    assert older.origin == newer.origin
    suggester = _tpe.TPE()
    pending = np.empty((0, len(SPACE)))
    suggester(SPACE, newer, pending, trial_rng(0, 1))
    got = suggester(SPACE, older, pending, trial_rng(0, 2))
    fresh = _tpe.TPE()(SPACE, older, pending, trial_rng(0, 2))
    np.testing.assert_array_equal(got, fresh)


def test_a_history_without_origin_is_keyed_by_its_content() -> None:
    rng = np.random.default_rng(1)
    rows = SPACE.sample(rng, 40)
    losses = rng.random(40)

    def history(values: np.ndarray) -> History:
        return History(
            rows=rows, losses=values, ids=np.arange(40), pruned=np.zeros(40, dtype=np.bool_)
        )

    suggester = _tpe.TPE()
    pending = np.empty((0, len(SPACE)))
    suggester(SPACE, history(losses), pending, trial_rng(0, 1))
    changed = losses[::-1].copy()  # same length, other content
    got = suggester(SPACE, history(changed), pending, trial_rng(0, 1))
    fresh = _tpe.TPE()(SPACE, history(changed), pending, trial_rng(0, 1))
    np.testing.assert_array_equal(got, fresh)


def _finished(tid: int, loss: float) -> Trial:
    point = {"x": float(tid % 7 - 3), "lr": 1e-3, "units": 32.0, "model": 0, "depth": 2}
    return Trial(tid, TrialState.RUNNING, point, created=0.0, started=0.0).replace(
        state=TrialState.OK, loss=loss, result={"loss": loss, "status": "ok"}, finished=1.0
    )


def test_the_ledger_hands_out_views_of_one_buffer_never_copies() -> None:
    ledger = Ledger(SPACE)
    ledger.absorb([_finished(tid, float(tid)) for tid in range(300)])
    first = ledger.history()
    ledger.absorb([_finished(300, 0.5)])
    second = ledger.history()
    assert first.origin is not None
    assert first.origin == second.origin
    assert Ledger(SPACE).history().origin != first.origin
    assert (len(first), len(second)) == (300, 301)
    # The longer snapshot extends the shorter one in the same memory: no copy was made.
    for a, b in ((first.rows, second.rows), (first.losses, second.losses)):
        assert np.shares_memory(a, b)
        assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    assert not first.rows.flags.writeable


def test_a_suggestion_does_not_hash_the_history(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    buffer = HistoryBuffer(len(SPACE))
    for i, row in enumerate(SPACE.sample(rng, 60)):
        buffer.append(i, row, float(rng.random()))

    def no_hashing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the history was hashed")

    monkeypatch.setattr(hashlib, "blake2b", no_hashing)
    pending = np.empty((0, len(SPACE)))
    for k in range(3):
        buffer.append(60 + k, SPACE.sample(rng, 1)[0], float(rng.random()))
        row = _tpe.TPE()(SPACE, buffer.snapshot(), pending, trial_rng(0, k))
        assert SPACE.to_row(SPACE.to_point(row)) is not None


def test_refit_length_lags_by_less_than_a_fraction_and_changes_once_per_step() -> None:
    fraction = _tpe._REFIT_FRACTION
    previous = 0
    changes = 0
    for n in range(40 * fraction):
        length = _tpe._refit_length(n)
        assert 0 <= n - length < max(1, n / fraction)
        assert length >= previous  # g never goes back to an older prefix
        changes += length != previous
        previous = length
        if n < 2 * fraction:
            assert length == n  # short histories: g sees every trial
    # From 2 * fraction trials on, the step doubles whenever the history does: the number of
    # refits over a doubling is about fraction, not the number of trials.
    assert changes < 2 * fraction + 6 * fraction


def test_g_is_fit_once_per_refit_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tpe, "_REFIT_FRACTION", 16)
    fits = 0
    compress = _tpe._compress

    def counted(index: np.ndarray, history: History) -> tuple[np.ndarray, np.ndarray]:
        nonlocal fits
        fits += 1
        return compress(index, history)

    monkeypatch.setattr(_tpe, "_compress", counted)
    space = compile_space({"x": hp.uniform("x", 0, 1)})
    rng = np.random.default_rng(4)
    buffer = HistoryBuffer(1)
    for i, row in enumerate(space.sample(rng, 512)):
        buffer.append(i, row, float(row[0]))
    suggester = _tpe.TPE()
    pending = np.empty((0, 1))
    for i in range(512, 1024):
        buffer.append(i, space.sample(rng, 1)[0], float(rng.random()))
        suggester(space, buffer.snapshot(), pending, trial_rng(0, i))
    # Between 512 and 1024 trials the step is 512 // 16 = 32 trials: 16 fits, not 512.
    assert fits == 1 + 512 // 32


def test_compress_caps_g_failed_and_pruned_trials_included() -> None:
    rng = np.random.default_rng(5)
    n = 5 * _tpe._MAX_BAD_KERNELS
    losses = rng.random(n)
    losses[rng.random(n) < 0.6] = np.nan  # most trials failed or were pruned
    history = History(
        rows=np.zeros((n, 1)),
        losses=losses,
        ids=np.arange(n),
        pruned=np.zeros(n, dtype=np.bool_),
    )
    index = np.flatnonzero(rng.random(n) < 0.9)
    kept, weights = _tpe._compress(index, history)
    assert len(kept) <= _tpe._MAX_BAD_KERNELS
    assert len(np.unique(kept)) == len(kept)
    assert set(kept) <= set(index)
    # The newest half is kept as is; the rest stands for every older trial, by kind.
    recent = index[-(_tpe._MAX_BAD_KERNELS // 2) :]
    assert set(recent) <= set(kept)
    assert np.all(weights[np.isin(kept, recent)] == 1.0)
    assert math.isclose(weights.sum(), len(index))
    older = index[: -(_tpe._MAX_BAD_KERNELS // 2)]
    thinned = ~np.isin(kept, recent)
    failed_weight = weights[thinned & np.isnan(losses[kept])].sum()
    assert math.isclose(failed_weight, np.count_nonzero(np.isnan(losses[older])))
    # Scored older trials are thinned evenly in loss order: their spread of losses is kept.
    scored = kept[thinned & ~np.isnan(losses[kept])]
    older_scored = np.sort(losses[older][~np.isnan(losses[older])])
    assert losses[scored].min() == older_scored[0]
    assert losses[scored].max() == older_scored[-1]


def test_best_is_the_k_smallest_losses_ties_to_the_smaller_id() -> None:
    rng = np.random.default_rng(6)
    for trial in range(200):
        n = int(rng.integers(1, 400))
        losses = rng.integers(0, 5, n).astype(float)  # many ties
        losses[rng.random(n) < 0.1] = np.inf
        ids = rng.permutation(n)
        history = History(
            rows=np.zeros((n, 1)), losses=losses, ids=ids, pruned=np.zeros(n, dtype=np.bool_)
        )
        index = np.flatnonzero(rng.random(n) < 0.8)
        k = int(rng.integers(1, 30))
        expected = index[np.lexsort((ids[index], losses[index]))][:k]
        np.testing.assert_array_equal(_tpe._best(index, history, k), expected, err_msg=str(trial))
