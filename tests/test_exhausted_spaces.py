"""Finite conditional spaces that a study uses up: every suggester keeps proposing valid points.

Once every point of a finite space is finished or pending, a suggester must repeat one (as
hyperopt does), never return a row that leaves an active label NaN or sets an inactive one.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import zlib
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asynchpo import Suggester, Trials, anneal, compile_space, fmin, fmin_sync, hp, rand, tpe
from asynchpo._space import Space
from asynchpo._suggesters._base import History, HistoryBuffer, trial_rng
from asynchpo._suggesters._tpe import _enumerate

# TPE models from the second trial on, so that even the smallest spaces are used up by the
# model rather than by its startup draws (the issue's example covers the default).
SUGGESTERS: dict[str, Suggester] = {
    "rand": rand.suggest,
    "anneal": anneal.suggest,
    "tpe": functools.partial(tpe.suggest, n_startup_jobs=1),
}

ISSUE_SPACE = hp.choice(
    "pre",
    [{"w": hp.pchoice("w", [(0.3, False), (0.7, True)])}, {"a": False}, {"b": 7}],
)


def points_of(space: Space) -> list[np.ndarray]:
    points = list(_enumerate(space, 10_000))
    assert len(points) < 10_000, "the generated space is too large to enumerate"
    return points


def assert_valid(space: Space, row: np.ndarray) -> None:
    point = space.to_point(row)  # raises on an active label left NaN
    expected = space.to_row(point)  # raises on a value outside the support
    np.testing.assert_array_equal(row, expected)  # an inactive label set is an error too


def assert_valid_point(space: Space, params: Mapping[str, object]) -> None:
    assert space.to_point(space.to_row(params)) == params


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 7])
def test_tpe_repeats_points_once_the_issue_space_is_used_up(seed: int) -> None:
    # 4 points; 50 evaluations use them up after a dozen and must repeat them from then on.
    trials = Trials()
    fmin_sync(lambda p: 1, ISSUE_SPACE, algo=tpe.suggest, max_evals=50, trials=trials, seed=seed)
    space = compile_space(ISSUE_SPACE)
    assert len(trials) == 50
    for trial in trials.records:
        assert_valid_point(space, trial.params)
    assert len({tuple(sorted(t.params.items())) for t in trials.records}) == 4


# Random small finite conditional spaces ------------------------------------------------------


@st.composite
def finite_spaces(draw: st.DrawFn) -> object:
    counter = itertools.count()

    def label() -> str:
        return f"p{next(counter)}"

    def node(depth: int) -> object:
        kinds = ["const", "randint", "quniform", "uniformint"]
        if depth < 3:
            kinds += ["choice", "pchoice", "dict", "choice", "pchoice"]
        kind = draw(st.sampled_from(kinds))
        if kind == "const":
            return draw(st.sampled_from([False, True, 0, 7, "s", None]))
        if kind == "randint":
            low = draw(st.integers(-2, 2))
            return hp.randint(label(), low, low + draw(st.integers(1, 3)))
        if kind == "quniform":
            q = draw(st.sampled_from([0.5, 1.0, 2.0, 0.25]))
            start = q * draw(st.integers(-2, 2))
            return hp.quniform(label(), start, start + q * draw(st.integers(1, 2)), q)
        if kind == "uniformint":
            low = draw(st.integers(0, 3))
            return hp.uniformint(label(), low, low + draw(st.integers(1, 2)))
        if kind == "dict":
            n = draw(st.integers(1, 2))
            return {f"k{i}": node(depth + 1) for i in range(n)}
        name = label()
        options = [node(depth + 1) for _ in range(draw(st.integers(1, 3)))]
        if kind == "choice":
            return hp.choice(name, options)
        weights = [draw(st.integers(1, 4)) for _ in options]
        total = sum(weights)
        probs = [w / total for w in weights[:-1]]
        probs.append(1.0 - sum(probs))
        return hp.pchoice(name, list(zip(probs, options, strict=True)))

    # The root is a choice or a dict, so that the space has at least one label.
    root = hp.choice(label(), [node(1) for _ in range(draw(st.integers(1, 3)))])
    if draw(st.booleans()):
        return {"root": root, "other": node(1)}
    return root


def loss_of(value: object) -> float:
    # Ties and distinct losses both, so that TPE's split has something to work on.
    return float(zlib.crc32(repr(value).encode()) % 5)


async def run_study(
    raw_space: object, algo: Suggester, concurrency: int, evals: int, seed: int
) -> Trials:
    async def objective(value: object) -> float:
        await asyncio.sleep(0)  # keep the other trials pending while this one runs
        return loss_of(value)

    trials = Trials()
    await fmin(
        objective,
        raw_space,
        algo=algo,
        max_evals=evals,
        trials=trials,
        seed=seed,
        concurrency=concurrency,
    )
    return trials


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(raw_space=finite_spaces(), seed=st.integers(0, 2**16))
@example(raw_space=ISSUE_SPACE, seed=0)
def test_every_suggester_uses_up_a_finite_space_with_valid_points(
    raw_space: object, seed: int
) -> None:
    space = compile_space(raw_space)
    size = len(points_of(space))
    evals = min(3 * size, 30)
    for name, algo in SUGGESTERS.items():
        for concurrency in (1, 4):
            trials = asyncio.run(run_study(raw_space, algo, concurrency, evals, seed))
            assert len(trials) == evals, (name, concurrency)
            for trial in trials.records:
                assert_valid_point(space, trial.params)
            distinct = {tuple(sorted(t.params.items())) for t in trials.records}
            assert len(distinct) <= size


# Histories and pending sets that cover the whole space, given to the suggesters directly ------


def history_of(space: Space, rows: list[np.ndarray], rng: np.random.Generator) -> History:
    buffer = HistoryBuffer(len(space), capacity=2)
    for i, row in enumerate(rows):
        buffer.append(i, row, float(rng.integers(3)))
    return buffer.snapshot()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(
    raw_space=finite_spaces(),
    seed=st.integers(0, 2**16),
    repeats=st.integers(1, 3),
    pending_share=st.sampled_from([0.0, 0.5, 0.9]),
)
@example(raw_space=ISSUE_SPACE, seed=0, repeats=2, pending_share=0.5)
def test_suggesters_return_valid_rows_when_every_point_is_finished_or_pending(
    raw_space: object, seed: int, repeats: int, pending_share: float
) -> None:
    space = compile_space(raw_space)
    rng = np.random.default_rng(seed)
    points = points_of(space) * repeats
    rng.shuffle(points)
    n_pending = int(pending_share * len(points))
    # At least one trial is finished, so that TPE models (n_startup_jobs=1).
    finished = points[n_pending:] or points[:1]
    pending = np.array(points[:n_pending]).reshape(n_pending, len(space))
    history = history_of(space, finished, rng)
    for name, algo in SUGGESTERS.items():
        for trial_id in range(12):
            row = algo(space, history, pending, trial_rng(seed, trial_id))
            assert row.shape == (len(space),), name
            assert_valid(space, row)
