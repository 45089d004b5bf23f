"""Prior sampling, activation and snapping: supports, rough distributions, determinism."""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from asynchpo import hp
from asynchpo._exceptions import SpaceError
from asynchpo._space import Space, compile_space

N = 20_000

Floats = npt.NDArray[np.float64]


def _draws(node: hp.Node, seed: int = 0, n: int = N) -> Floats:
    rows = compile_space(node).sample(np.random.default_rng(seed), n)
    assert rows.shape == (n, 1)
    assert rows.dtype == np.float64
    return rows[:, 0]


def _on_grid(values: Floats, q: float) -> bool:
    return bool(np.allclose(values / q, np.round(values / q), rtol=0, atol=1e-9))


def _frequencies(values: Floats, support: list[float]) -> Floats:
    assert set(np.unique(values).tolist()) <= set(support)
    return np.array([np.mean(values == v) for v in support])


def _fits(x: Floats, cdf: Callable[[float], float]) -> bool:
    """Kolmogorov-Smirnov: the sample's largest gap to ``cdf`` is within the 0.1% critical value."""
    x = np.sort(x)
    n = len(x)
    expected = np.array([cdf(v) for v in x.tolist()])
    gap = max(np.max(np.arange(1, n + 1) / n - expected), np.max(expected - np.arange(n) / n))
    return bool(gap < 1.95 / math.sqrt(n))


def _uniform_cdf(low: float, high: float) -> Callable[[float], float]:
    return lambda v: min(max((v - low) / (high - low), 0.0), 1.0)


def _within_standard_errors(freq: Floats, probs: list[float], n: int = N, k: float = 5) -> bool:
    p = np.asarray(probs)
    return bool(np.all(np.abs(freq - p) <= k * np.sqrt(p * (1 - p) / n) + 1e-12))


# --- support and distribution of each family ----------------------------------------------------


def test_uniform() -> None:
    x = _draws(hp.uniform("x", -2, 6))
    assert np.all((x >= -2) & (x <= 6))
    assert _fits(x, _uniform_cdf(-2, 6))
    assert np.quantile(x, [0.25, 0.5, 0.75]) == pytest.approx([0, 2, 4], abs=0.15)


def test_quniform_follows_hyperopt_rounding() -> None:
    # round(U(1, 10) / 4) * 4: 0 for x < 2, 4 for 2 <= x < 6, 8 for x >= 6.
    x = _draws(hp.quniform("x", 1, 10, 4))
    freq = _frequencies(x, [0.0, 4.0, 8.0])
    assert _within_standard_errors(freq, [1 / 9, 4 / 9, 4 / 9])


def test_quniform_with_a_fractional_step() -> None:
    x = _draws(hp.quniform("x", 0, 1, 0.1))
    assert _on_grid(x, 0.1)
    assert x.min() == 0.0
    assert x.max() == pytest.approx(1.0)
    assert len(np.unique(x)) == 11


def test_loguniform() -> None:
    x = _draws(hp.loguniform("x", math.log(1e-4), math.log(1e-1)))
    assert np.all((x >= 1e-4) & (x <= 1e-1))
    assert _fits(np.log(x), _uniform_cdf(math.log(1e-4), math.log(1e-1)))
    assert np.median(x) == pytest.approx(math.sqrt(1e-5), rel=0.05)


def test_qloguniform() -> None:
    x = _draws(hp.qloguniform("x", 0, math.log(100), 5))
    assert _on_grid(x, 5)
    # exp(U(0, log 100)) in [1, 100]: 1 and 2 round down to 0, 100 is the top of the grid.
    assert x.min() == 0.0
    assert x.max() == 100.0
    # P(x rounds to 0) = P(exp(u) < 2.5) = log(2.5) / log(100)
    assert np.mean(x == 0) == pytest.approx(math.log(2.5) / math.log(100), abs=0.01)


def test_normal() -> None:
    x = _draws(hp.normal("x", 3, 2))
    assert _fits(x, NormalDist(3, 2).cdf)
    assert x.mean() == pytest.approx(3, abs=5 * 2 / math.sqrt(N))
    assert x.std() == pytest.approx(2, rel=0.03)


def test_qnormal() -> None:
    x = _draws(hp.qnormal("x", 0, 3, 2))
    assert _on_grid(x, 2)
    # round(N(0, 3) / 2) == 0 iff |N| < 1
    assert np.mean(x == 0) == pytest.approx(NormalDist(0, 3).cdf(1) * 2 - 1, abs=0.015)
    assert x.mean() == pytest.approx(0, abs=0.15)


def test_lognormal() -> None:
    x = _draws(hp.lognormal("x", 1, 0.5))
    assert np.all(x > 0)
    assert _fits(np.log(x), NormalDist(1, 0.5).cdf)


def test_qlognormal() -> None:
    x = _draws(hp.qlognormal("x", 2, 1, 0.5))
    assert _on_grid(x, 0.5)
    assert np.all(x >= 0)
    assert np.median(x) == pytest.approx(math.exp(2), rel=0.05)


def test_lognormal_overflow_is_inf_not_an_error() -> None:
    x = _draws(hp.lognormal("x", 700, 20), n=1000)
    assert np.isinf(x).any()


def test_randint() -> None:
    x = _draws(hp.randint("x", 3, 8))
    freq = _frequencies(x, [3, 4, 5, 6, 7])
    assert _within_standard_errors(freq, [0.2] * 5)
    assert set(np.unique(_draws(hp.randint("x", 3), n=500)).tolist()) == {0, 1, 2}


def test_uniformint_has_half_weight_at_the_ends() -> None:
    # round(U(1, 4)): 1 from [1, 1.5), 2 from [1.5, 2.5), 3 from [2.5, 3.5), 4 from [3.5, 4].
    x = _draws(hp.uniformint("x", 1, 4))
    freq = _frequencies(x, [1, 2, 3, 4])
    assert _within_standard_errors(freq, [1 / 6, 1 / 3, 1 / 3, 1 / 6])


def test_choice_is_uniform() -> None:
    x = _draws(hp.choice("x", ["a", "b", "c", "d"]))
    assert _within_standard_errors(_frequencies(x, [0, 1, 2, 3]), [0.25] * 4)


def test_pchoice_follows_its_probabilities() -> None:
    probs = [0.1, 0.0, 0.6, 0.3]
    x = _draws(hp.pchoice("x", [(p, i) for i, p in enumerate(probs)]))
    assert np.mean(x == 1) == 0
    assert _within_standard_errors(_frequencies(x, [0, 1, 2, 3]), probs)


# --- activation ---------------------------------------------------------------------------------

NESTED = {
    "model": hp.choice(
        "model",
        [
            {"kind": "linear", "c": hp.loguniform("c", -5, 5)},
            {
                "kind": "tree",
                "depth": hp.uniformint("depth", 1, 10),
                "split": hp.choice(
                    "split", ["gini", {"entropy": hp.quniform("t", 0, 1, 0.25)}, "log"]
                ),
            },
            {"kind": "knn", "k": hp.randint("k", 1, 50)},
        ],
    ),
    "lr": hp.normal("lr", 0, 1),
}


def test_children_are_nan_unless_their_branch_is_chosen() -> None:
    space = compile_space(NESTED)
    rows = space.sample(np.random.default_rng(1), 3000)
    col = space.columns
    model, split = rows[:, col["model"]], rows[:, col["split"]]
    assert not np.isnan(rows[:, col["model"]]).any()
    assert not np.isnan(rows[:, col["lr"]]).any()
    assert np.array_equal(~np.isnan(rows[:, col["c"]]), model == 0)
    assert np.array_equal(~np.isnan(rows[:, col["depth"]]), model == 1)
    assert np.array_equal(~np.isnan(split), model == 1)
    assert np.array_equal(~np.isnan(rows[:, col["k"]]), model == 2)
    assert np.array_equal(~np.isnan(rows[:, col["t"]]), (model == 1) & (split == 1))
    assert np.isin(split[model == 1], [0, 1, 2]).all()
    # every branch is reached
    assert (model == 1).mean() == pytest.approx(1 / 3, abs=0.05)
    assert ((model == 1) & (split == 1)).mean() == pytest.approx(1 / 9, abs=0.03)
    assert np.array_equal(space.active(rows), ~np.isnan(rows))


def test_a_shared_param_is_active_in_either_branch() -> None:
    x = hp.uniform("x", 0, 1)
    space = compile_space(
        {"a": hp.choice("a", [{"x": x}, 0, 1]), "b": hp.choice("b", [0, {"x": x}])}
    )
    rows = space.sample(np.random.default_rng(2), 2000)
    a, b, xs = rows[:, 0], rows[:, 1], rows[:, space.columns["x"]]
    assert np.array_equal(~np.isnan(xs), (a == 0) | (b == 1))


def test_active_reads_the_parents() -> None:
    space = compile_space(NESTED)
    c = space.columns
    row = np.full((2, len(space)), 7.0)
    row[0, c["model"]], row[0, c["split"]] = 1, 1
    row[1, c["model"]], row[1, c["split"]] = 0, 1
    active = space.active(row)
    on = {label for label in space.labels if active[0, c[label]]}
    assert on == {"model", "lr", "depth", "split", "t"}
    assert {label for label in space.labels if active[1, c[label]]} == {"model", "lr", "c"}
    # an inactive parent switches its children off whatever their own value says
    row[0, c["model"]] = np.nan
    assert not space.active(row)[0, c["t"]]


# --- determinism, shapes, vectorization ---------------------------------------------------------


def test_same_seed_same_samples() -> None:
    space = compile_space(NESTED)
    a = space.sample(np.random.default_rng(42), 100)
    b = space.sample(np.random.default_rng(42), 100)
    c = space.sample(np.random.default_rng(43), 100)
    assert np.array_equal(a, b, equal_nan=True)
    assert not np.array_equal(a, c, equal_nan=True)


def test_sample_shapes() -> None:
    space = compile_space(NESTED)
    assert space.sample(np.random.default_rng(0), 0).shape == (0, len(space))
    assert compile_space({"k": 1}).sample(np.random.default_rng(0), 3).shape == (3, 0)
    with pytest.raises(SpaceError, match="cannot draw -1 samples"):
        space.sample(np.random.default_rng(0), -1)


class _CountingRng:
    """A generator that counts its calls, to check sampling is vectorized over rows."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.rng, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return method(*args, **kwargs)

        return counted


def test_sampling_is_one_uniform_and_one_normal_draw_for_all_rows() -> None:
    space = compile_space(
        {**NESTED, "p": hp.pchoice("p", [(0.5, 1), (0.5, 2)]), "z": hp.normal("z", 0, 1)}
    )
    rng = _CountingRng(np.random.default_rng(0))
    rows = space.sample(cast(np.random.Generator, rng), 5000)
    assert rows.shape == (5000, len(space))
    assert rng.calls == 2


# --- snap -----------------------------------------------------------------------------------------

SNAPPED = {
    "q": hp.quniform("q", 1, 10, 4),
    "ql": hp.qloguniform("ql", 0, math.log(100), 10),
    "u": hp.uniform("u", -1, 1),
    "lu": hp.loguniform("lu", 0, 1),
    "n": hp.normal("n", 0, 1),
    "ln": hp.lognormal("ln", 0, 1),
    "qn": hp.qnormal("qn", 0, 1, 0.5),
    "ch": hp.choice("ch", [0, hp.randint("r", 3, 7)]),
    "ui": hp.uniformint("ui", 1, 4),
}


@pytest.mark.parametrize(
    ("label", "given", "expected"),
    [
        ("q", 11.0, 8.0),  # clipped to 10, round(2.5) is 2 (half to even), as hyperopt
        ("q", -5.0, 0.0),  # clipped to 1, round(0.25) is 0
        ("q", 5.9, 4.0),
        ("ql", 1000.0, 100.0),
        ("ql", 0.0, 0.0),  # clipped to exp(0) = 1, then round(0.1) * 10
        ("ql", 46.0, 50.0),
        ("u", 3.0, 1.0),
        ("u", -3.0, -1.0),
        ("u", 0.3, 0.3),
        ("lu", 0.5, 1.0),
        ("lu", 5.0, math.e),
        ("n", 1e6, 1e6),
        ("n", -1e6, -1e6),
        ("ln", -3.0, 0.0),
        ("ln", 1e6, 1e6),
        ("qn", 0.7, 0.5),
        ("qn", -1e6, -1e6),
        ("ch", 2.7, 1.0),
        ("ch", -1.0, 0.0),
        ("ui", 0.2, 1.0),
        ("ui", 2.6, 3.0),
        ("ui", 9.0, 4.0),
    ],
)
def test_snap_examples(label: str, given: float, expected: float) -> None:
    space = compile_space(SNAPPED)
    row = space.sample(np.random.default_rng(0), 1)
    row[0, space.columns[label]] = given
    assert space.snap(row)[0, space.columns[label]] == pytest.approx(expected)


def test_snap_randint_and_inactive() -> None:
    space = compile_space(SNAPPED)
    c, r = space.columns["ch"], space.columns["r"]
    row = space.sample(np.random.default_rng(0), 3)
    row[:, c] = [1, 1, 0.2]
    row[:, r] = [10, 3.4, 5]
    snapped = space.snap(row)
    assert snapped[:, r][:2].tolist() == [6.0, 3.0]
    assert np.isnan(snapped[2, r])  # c snapped to 0, which switches r off


def test_snap_returns_a_copy_and_keeps_samples() -> None:
    space = compile_space(NESTED)
    rows = space.sample(np.random.default_rng(5), 500)
    before = rows.copy()
    snapped = space.snap(rows)
    assert snapped is not rows
    assert np.array_equal(rows, before, equal_nan=True)
    assert np.array_equal(snapped, rows, equal_nan=True)


def test_snap_and_active_check_shapes() -> None:
    space = compile_space(NESTED)
    with pytest.raises(SpaceError, match=r"expected rows of shape \(n, 7\), got shape \(7,\)"):
        space.snap(np.zeros(7))
    with pytest.raises(SpaceError, match=r"got shape \(2, 3\)"):
        space.active(np.zeros((2, 3)))


def _assert_in_support(space: Space, rows: Floats) -> None:
    active = space.active(rows)
    assert np.array_equal(active, ~np.isnan(rows))
    for p in space.params:
        x = rows[active[:, p.column], p.column]
        if p.categorical:
            assert np.all(x == np.round(x))
            assert np.all((x >= p.offset) & (x < p.offset + p.n_options))
            continue
        lo, hi = (math.exp(p.low), math.exp(p.high)) if p.log else (p.low, p.high)
        if p.q is not None:
            assert _on_grid(x, p.q)
            assert np.all(x >= np.round(lo / p.q) * p.q)
            assert np.all(x <= np.round(hi / p.q) * p.q)
        else:
            assert np.all((x >= lo) & (x <= hi))


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 5), st.just(len(SNAPPED) + 1)),
        elements=st.floats(-1e9, 1e9) | st.sampled_from([0.0, 1.0, 2.0, 0.5, 1.5, 4.0]),
    )
)
def test_snap_lands_in_the_support(rows: Floats) -> None:
    space = compile_space(SNAPPED)
    snapped = space.snap(rows)
    _assert_in_support(space, snapped)
    assert np.array_equal(space.snap(snapped), snapped, equal_nan=True)


@pytest.mark.parametrize("seed", range(3))
def test_samples_are_in_the_support(seed: int) -> None:
    space = compile_space({**SNAPPED, **NESTED})
    _assert_in_support(space, space.sample(np.random.default_rng(seed), 2000))


def test_the_fit_check_can_fail() -> None:
    x = _draws(hp.uniform("x", -2, 6))
    assert not _fits(x, _uniform_cdf(-2, 6.5))
    assert not _fits(_draws(hp.normal("x", 0, 1)), NormalDist(0, 1.05).cdf)
