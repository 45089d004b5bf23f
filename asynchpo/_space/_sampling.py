"""Prior draws for every parameter of a space at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from asynchpo._kinds import NORMAL_KINDS, Kind
from asynchpo._space._params import Param, Rows, _value_bounds


class _Sampler:
    """Prior draws for every parameter of a space at once.

    Each non-normal column is a transform of a uniform u in [0, 1): ``low + (high - low) * u``
    for the uniform kinds (then ``exp`` for log kinds), ``floor(u * n)`` for ``choice`` and
    ``randint``, an inverse-CDF lookup for ``pchoice``. Normal kinds are ``mu + sigma * z``.
    Quantized columns are then rounded to their grid.
    """

    def __init__(self, params: Sequence[Param]) -> None:
        def columns(keep: Callable[[Param], bool]) -> npt.NDArray[np.intp]:
            return np.array([p.column for p in params if keep(p)], dtype=np.intp)

        def uniform_kind(p: Param) -> bool:
            return not p.categorical and p.kind not in NORMAL_KINDS

        self._d = len(params)
        self._uniform = columns(uniform_kind)
        self._normal = columns(lambda p: p.kind in NORMAL_KINDS)
        self._u_cols = columns(lambda p: p.kind not in NORMAL_KINDS)
        self._low = np.array([p.low for p in params if uniform_kind(p)])
        self._width = np.array([p.high - p.low for p in params if uniform_kind(p)])
        self._mu = np.array([p.mu for p in params if p.kind in NORMAL_KINDS])
        self._sigma = np.array([p.sigma for p in params if p.kind in NORMAL_KINDS])
        self._log = columns(lambda p: p.log)
        counted = [p for p in params if p.kind in (Kind.CHOICE, Kind.RANDINT)]
        self._counted = np.array([p.column for p in counted], dtype=np.intp)
        self._counts = np.array([p.n_options for p in counted], dtype=np.float64)
        self._offsets = np.array([p.offset for p in counted], dtype=np.float64)
        # Beyond 2**53 the sum offset + index is rounded: keep it inside the (inward) bounds.
        self._count_bounds = np.array([_value_bounds(p) for p in counted]).reshape(-1, 2).T
        self._weighted: tuple[tuple[int, npt.NDArray[np.float64]], ...] = tuple(
            (p.column, np.cumsum(np.asarray(p.probs, dtype=np.float64))[:-1])
            for p in params
            if p.kind is Kind.PCHOICE
        )
        quantized = [p for p in params if p.q is not None and not p.categorical]
        self._q_cols = np.array([p.column for p in quantized], dtype=np.intp)
        self._q = np.array([p.q for p in quantized], dtype=np.float64)

    def draw(self, rng: np.random.Generator, n: int) -> Rows:
        rows = np.empty((n, self._d), dtype=np.float64)
        u = rng.random((n, len(self._u_cols)))
        rows[:, self._u_cols] = u
        if len(self._normal):
            z = rng.standard_normal((n, len(self._normal)))
            rows[:, self._normal] = self._mu + self._sigma * z
        if len(self._uniform):
            rows[:, self._uniform] = self._low + self._width * rows[:, self._uniform]
        if len(self._log):
            # A wide lognormal may overflow to inf; that is its honest value in float64.
            with np.errstate(over="ignore"):
                rows[:, self._log] = np.exp(rows[:, self._log])
        if len(self._counted):
            index = np.minimum(np.floor(rows[:, self._counted] * self._counts), self._counts - 1)
            low, high = self._count_bounds
            rows[:, self._counted] = np.clip(self._offsets + index, low, high)
        for column, edges in self._weighted:
            rows[:, column] = np.searchsorted(edges, rows[:, column], side="right")
        if len(self._q_cols):
            # A far tail of a wide qlognormal may overflow x / q: inf, as for exp above.
            with np.errstate(over="ignore"):
                rows[:, self._q_cols] = np.round(rows[:, self._q_cols] / self._q) * self._q
        return rows
