"""Integer and quantized parameters with huge ranges: never enumerated, always valid integers.

A parameter that can take 2**62 values must cost a suggester as much as one that takes ten:
no array with one entry per value, no per-value probabilities. And since a row holds float64,
which is exact only up to 2**53, the values it gives back must still be integers within the
parameter's bounds (2**62 - 1 is 2**62 as a float).

The searches run in a subprocess under a 1 GiB address-space limit, so that a regression is a
quick MemoryError instead of a machine brought down.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

from asynchpo import SpaceError, Suggester, Trials, compile_space, fmin_sync, hp, rand, tpe
from asynchpo._space import MAX_CATEGORIES, Space, as_modelled
from asynchpo._suggesters._base import HistoryBuffer, trial_rng
from asynchpo._suggesters._tpe import _enumerate

HUGE = 2**62

# Each space's parameter "x", and the values it may take: (low, high, must be an int).
# qnormal and qlognormal have no bounds; their values must only be whole numbers (lognormal
# ones non-negative).
DISTRIBUTIONS: dict[str, tuple[str, float, float, bool]] = {
    "randint(upper)": ("hp.randint('x', 2**62)", 0, HUGE - 1, True),
    "randint(low, high)": ("hp.randint('x', -2**61, 2**61)", -(2**61), 2**61 - 1, True),
    "uniformint": ("hp.uniformint('x', -2**61, 2**61)", -(2**61), 2**61, True),
    "quniform(q=1)": ("hp.quniform('x', 0, 2**62, 1)", 0, HUGE, False),
    "qloguniform(q=1)": (
        "hp.qloguniform('x', 0, math.log(2**62), 1)",
        1,
        round(math.exp(math.log(HUGE))),
        False,
    ),
    "qnormal(q=1)": ("hp.qnormal('x', 0, 2**60, 1)", -math.inf, math.inf, False),
    "qlognormal(q=1)": ("hp.qlognormal('x', math.log(2**60), 2, 1)", 0, math.inf, False),
}

# Runs rand, anneal and TPE for 50 trials on {"x": <space>} and prints, per algorithm, the
# values the objective received (as JSON, exact for ints).
SCRIPT = textwrap.dedent(
    """
    import json, math, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    from asynchpo import anneal, fmin_sync, hp, rand, tpe

    # "x" always, and "y", the same distribution, under a choice (a conditional group).
    x, y = eval(sys.argv[1]), eval(sys.argv[1].replace("'x'", "'y'"))
    space = {"x": x, "c": hp.choice("c", [0, {"y": y}])}
    out = {}
    for name, algo in (("rand", rand.suggest), ("anneal", anneal.suggest), ("tpe", tpe.suggest)):
        seen = []

        def objective(params):
            seen.append(params["x"])
            if params["c"] != 0:
                seen.append(params["c"]["y"])
            return abs(float(params["x"]) - 2.0**59) / 2.0**62

        fmin_sync(objective, space, algo=algo, max_evals=50, seed=0)
        out[name] = {"values": [[type(v).__name__, v] for v in seen]}
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_huge_ranges_cost_no_memory_and_give_valid_values(name: str) -> None:
    source, low, high, integer = DISTRIBUTIONS[name]
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, source],
        capture_output=True,
        text=True,
        timeout=50,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    for algo, result in results.items():
        values = result["values"]
        assert len(values) >= 50
        for kind, value in values:
            if integer:
                assert kind == "int", f"{algo} gave {value!r} ({kind}), not an int"
            else:
                assert float(value).is_integer(), f"{algo} gave {value!r}, not a whole number"
            assert low <= value <= high, f"{algo} gave {value!r}, outside [{low}, {high}]"
        assert len({v for _, v in values}) > 25, f"{algo} repeats itself: {values}"


@pytest.mark.parametrize(
    ("low", "high"),
    [(0, HUGE), (2**61, HUGE), (-(2**61), 2**61), (-(2**53), 2**53 + 4), (2**60, 2**60 + 2**10)],
)
def test_randint_rows_round_inward_to_integers_in_range(low: int, high: int) -> None:
    # float(2**62 - 1) == 2**62: a row clipped to that bound would hold an integer outside
    # [low, high).
    space = compile_space({"x": hp.randint("x", low, high)})
    rows = np.array([[-1e300], [1e300], [float(low)], [float(high)], [float(high - 1)]])
    rows = np.vstack([rows, space.sample(np.random.default_rng(0), 20_000)])
    for row in space.snap(rows):
        value = space.to_point(row)["x"]
        assert type(value) is int
        assert low <= value < high
        assert space.to_point(space.to_row({"x": value})) == {"x": value}


def test_a_randint_value_that_float64_cannot_hold_is_refused_saying_why() -> None:
    # 2**62 - 1 is in range, but a row would hold 2**62, which is not: say so, not "not in".
    space = compile_space({"x": hp.randint("x", HUGE)})
    with pytest.raises(SpaceError, match=r"is 4611686018427387904 as a float64 .* outside "):
        space.to_row({"x": HUGE - 1})
    assert space.to_point(space.to_row({"x": HUGE - 512})) == {"x": HUGE - 512}


def test_sampled_randint_values_reach_both_ends_of_a_small_range() -> None:
    # The inward rounding must not cost a small range its last value.
    space = compile_space({"x": hp.randint("x", -3, 4)})
    values = {space.to_point(row)["x"] for row in space.sample(np.random.default_rng(1), 500)}
    assert values == set(range(-3, 4))


def test_support_size_counts_values_without_listing_them() -> None:
    space = compile_space(
        {
            "a": hp.randint("a", HUGE),
            "b": hp.uniformint("b", -(2**61), 2**61),
            "c": hp.quniform("c", 0, 10, 2.5),
            "d": hp.qnormal("d", 0, 1, 1),
            "e": hp.uniform("e", 0, 1),
            "f": hp.choice("f", ["p", "q", "r"]),
        }
    )
    sizes = [space.support_size(j) for j in range(len(space))]
    assert sizes == [HUGE, HUGE + 1, 5, None, None, 3]
    # A support too large to list is not listed; a prefix of it is.
    assert space.support(0) is None
    np.testing.assert_array_equal(space.support(0, limit=3), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(space.support(2), [0.0, 2.5, 5.0, 7.5, 10.0])
    np.testing.assert_array_equal(space.support(5, limit=2), [0.0, 1.0])
    assert space.support(3) is None


def test_enumerating_a_space_with_a_huge_parameter_lists_only_what_it_yields() -> None:
    # Before, _enumerate built an arange of every value of every parameter up front.
    space = compile_space({"a": hp.randint("a", HUGE), "b": hp.choice("b", [0, 1])})
    points = list(_enumerate(space, 5))
    assert [list(p) for p in points] == [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0]]


def test_only_a_randint_of_many_values_is_modelled_as_ordinal() -> None:
    space = compile_space(
        {
            "small": hp.randint("small", 10, 10 + MAX_CATEGORIES),
            "large": hp.randint("large", 10, 11 + MAX_CATEGORIES),
            "c": hp.choice("c", list(range(MAX_CATEGORIES + 5))),
            "u": hp.uniformint("u", 0, 10**9),
        }
    )
    small, large, c, u = space.params
    assert [as_modelled(p) for p in (small, c, u)] == [small, c, u]
    view = as_modelled(large)
    assert (view.categorical, view.q) == (False, 1.0)
    # Every integer gets the same prior mass: the range extends half a step past each end.
    assert (view.low, view.high) == (9.5, 10.5 + MAX_CATEGORIES)


def _history(space: Space, rows: np.ndarray, losses: np.ndarray) -> HistoryBuffer:
    buffer = HistoryBuffer(len(space))
    for i, (row, loss) in enumerate(zip(rows, losses, strict=True)):
        buffer.append(i, row, float(loss))
    return buffer


def test_tpe_suggestion_memory_does_not_grow_with_the_number_of_values() -> None:
    # The categorical model of a randint held one probability per value and per kernel: a
    # randint of 10**6 values allocated hundreds of MB per suggestion. Now it is ordinal.
    space = compile_space({"x": hp.randint("x", 10**6)})
    rng = np.random.default_rng(3)
    rows = space.sample(rng, 30)
    history = _history(space, rows, np.abs(rows[:, 0] - 1000.0)).snapshot()
    pending = np.empty((0, 1))
    tracemalloc.start()
    try:
        for i in range(20):
            row = tpe.suggest(space, history, pending, trial_rng(0, i))
            assert 0 <= space.to_point(row)["x"] < 10**6
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"suggesting allocated {peak / 2**20:.0f} MiB at once"


def _best(algo: Suggester, space: object, target: int, seed: int) -> float:
    trials = Trials()
    fmin_sync(
        lambda p: abs(p["x"] - target), space, algo=algo, max_evals=60, trials=trials, seed=seed
    )
    return min(loss for loss in trials.losses() if loss is not None)


def test_tpe_models_a_large_randint_as_ordinal() -> None:
    # A categorical model of 100,000 options learns nothing from 60 trials (each value is its
    # own category); an ordinal one closes in on the optimum like a continuous parameter.
    space = {"x": hp.randint("x", 100_000)}
    algo = functools.partial(tpe.suggest, n_startup_jobs=10)
    tpe_best = [_best(algo, space, 31_337, seed) for seed in range(5)]
    rand_best = [_best(rand.suggest, space, 31_337, seed) for seed in range(5)]
    assert np.median(tpe_best) < np.median(rand_best) / 5, (tpe_best, rand_best)
