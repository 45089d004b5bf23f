"""The Tree-structured Parzen Estimator: asynchpo's default search algorithm.

How it proposes a point, given the finished trials and the pending (running) points:

1. **Startup.** Until ``n_startup_jobs`` trials have succeeded or been pruned (and at least one
   succeeded), points come from the prior.
2. **Coordinates.** Every numeric parameter is mapped to [0, 1]: uniform kinds linearly (after
   ``log`` for log kinds), normal kinds through their prior's CDF, so every numeric dimension
   has a uniform prior on the unit interval. Categorical parameters are option indices; a
   ``randint`` of more than ``MAX_CATEGORIES`` (256) values is numeric instead (ordinal, over
   ``[low - 0.5, high - 0.5]``), so no model holds a weight per value.
3. **Groups.** Parameters that are active under the same condition form a group; the root
   group holds the always-active ones (the branch-choosing ``choice`` parameters among them).
   Groups are sampled top-down: a group is drawn only when its branch has been chosen.
4. **Split.** A group is modelled on the trials where it was active. The successful ones are
   ranked by loss *within that subset* (``split="group"``): the best ``gamma`` fraction (at
   most 25, at least 1) is "good", the rest "bad". So a branch that was seldom tried is still
   modelled from its own best trials instead of collapsing to the prior. ``split="global"``
   ranks all trials together instead (hyperopt's and Optuna's way).
5. **Densities.** l(x) is a Parzen estimator of the good trials (weighted by how much they beat
   the threshold, ``weights="ei"``, or uniformly), g(x) of the bad ones, the pruned trials,
   the failed trials (``failed="bad"``) and, with the constant liar (by default in a finite
   space, see :class:`TPE`), the pending points.
   Each has a prior kernel. Pending points are never counted as finished: they neither end
   the startup phase nor move the split. With ``multivariate=True`` a group's dimensions
   share one kernel index.
6. **Acquisition.** ``n_EI_candidates`` candidates are drawn from l and the one with the largest
   log l(x) - log g(x) is kept.
7. **No repeats.** In a space where every parameter takes finitely many values, a point equal
   to a finished or pending one is not proposed while unseen points remain: the next best
   candidates are tried (an alternative that chooses another branch gets that branch's labels
   from the prior), then prior draws, then every point. Once the space is used up, points
   repeat, as in hyperopt.

**Bounded work on a long study.** What the suggester learns from a history is kept per history
origin (the append-only buffer the snapshots come from) and takes in only the trials added
since the last call: no hashing or copying of the whole history, no full sort (the best trials
are kept incrementally; a partial selection finds them in a new history). l (at most 25
kernels) is refit at every new trial. g is refit on the history's first
``_refit_length(n)`` trials: every trial up to 511 trials, then whenever the history has grown by
1/256 (a power-of-two step; every 256 trials at 100,000), so g lags by less than 0.4% of the
history, a lag of the order of the points pending in a parallel run. g keeps at most 2,048
kernels: beyond that, the newest 1,024 bad trials and a weighted subsample of the older ones
(see ``_compress``). A suggestion is a function of (space, seed, history) whatever was cached:
the same as a fresh suggester's. A burst of suggestions between two results only re-scores
candidates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr, ndtri

from asynchpo import _checks as checks
from asynchpo._exceptions import ConfigError
from asynchpo._kinds import NORMAL_KINDS
from asynchpo._space import Param, Space, as_modelled
from asynchpo._suggesters._base import FloatArray, History
from asynchpo._suggesters._multi import as_one_order, is_single
from asynchpo._suggesters._parzen import Dimensions, Mixture, bandwidths

__all__ = ["TPE", "suggest"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_MAX_GOOD = 25
# A child group is modelled once this many successful trials reached its branch; before that
# its parameters are drawn from the prior.
_MIN_GROUP_TRIALS = 3
# Enumerating a discrete space to find an unseen point is done only below this size.
_MAX_ENUMERATION = 200_000
_PRIOR_RETRIES = 200
# Above this many bad trials, g is estimated from a weighted subsample (see _compress).
_MAX_BAD_KERNELS = 2048
# g is refit when the history has grown by 1/_REFIT_FRACTION since its last fit (rounded down
# to a power of two), at every new trial below 2 * _REFIT_FRACTION trials (see _refit_length).
_REFIT_FRACTION = 256


@dataclasses.dataclass(frozen=True, slots=True)
class _Group:
    """Parameters active under the same condition, modelled together."""

    columns: tuple[int, ...]
    numeric: tuple[int, ...]  # columns of the numeric parameters
    categorical: tuple[int, ...]  # columns of the categorical parameters
    parents: tuple[tuple[int, int], ...]
    dims: Dimensions


class _Coordinates:
    """Maps a space's values to the suggester's coordinates and back."""

    def __init__(self, space: Space) -> None:
        self.space = space
        # A randint of many values is modelled as ordinal (numeric), never value by value.
        self.params = tuple(as_modelled(p) for p in space.params)
        self.discrete = all(space.support_size(p.column) is not None for p in space.params)
        # The choice parameters that select between sub-spaces (some parameter depends on them).
        self.branch_choosers = frozenset(column for p in space.params for column, _ in p.parents)

    def to_unit(self, p: Param, values: FloatArray) -> FloatArray:
        """Numeric values -> [0, 1]."""
        x = values
        if p.log:
            x = np.log(np.maximum(x, 1e-300))
        if p.kind in NORMAL_KINDS:
            unit: FloatArray = ndtr((x - p.mu) / p.sigma)
        else:
            unit = (x - p.low) / (p.high - p.low)
        return np.clip(unit, 0.0, 1.0)

    def from_unit(self, p: Param, unit: FloatArray) -> FloatArray:
        """[0, 1] -> numeric values (before quantization; ``space.snap`` does that)."""
        if p.kind in NORMAL_KINDS:
            x = p.mu + p.sigma * ndtri(np.clip(unit, 1e-12, 1.0 - 1e-12))
        else:
            x = p.low + unit * (p.high - p.low)
        if p.log:
            with np.errstate(over="ignore"):
                x = np.exp(x)
        values: FloatArray = x
        return values

    def floor(self, p: Param, bandwidth_floor: float) -> float:
        """The smallest bandwidth of a numeric parameter: at least one grid step."""
        step = 0.0
        if p.q is not None and not p.log and p.kind not in NORMAL_KINDS:
            step = p.q / (p.high - p.low)
        return max(bandwidth_floor, step)

    def prior(self, p: Param) -> FloatArray:
        """The option probabilities; a pchoice option of probability 0 gets a tiny one, so
        that a point holding it (from points_to_evaluate) still has a finite density."""
        if p.probs is None:
            return np.full(p.n_options, 1.0 / p.n_options)
        probs = np.maximum(np.asarray(p.probs, dtype=np.float64), 1e-12)
        normalised: FloatArray = probs / probs.sum()
        return normalised


@dataclasses.dataclass
class _Model:
    """l and g of one group for one history; pending points are added per call."""

    good: Mixture | None  # None: the group is drawn from the prior
    bad: Mixture  # the bad trials (and failed ones) plus the prior


Weighting = Literal["ei", "uniform"]
Split = Literal["group", "global"]
Failed = Literal["bad", "ignore"]


class TPE:
    """The Tree-structured Parzen Estimator, with every option.

    Use an instance as ``algo``, or bind options to :func:`suggest` with
    :func:`functools.partial` as in hyperopt. See the module docstring for the algorithm.

    :param n_startup_jobs: trials (successful or pruned) drawn from the prior before modelling
        starts.
    :param gamma: the fraction of a group's successful trials that are "good"
        (``ceil(gamma * n)``, at most 25). Unlike hyperopt's ``gamma`` (a factor of ``sqrt(n)``)
        it is a plain fraction, as in Optuna and Watanabe (2023).
    :param multi_objective_gamma: ``gamma`` for a study of several objectives, whose good set
        is chosen by non-dominated sorting and hypervolume (see ``_multi.py``); 0.1, as in
        MOTPE and Optuna (measured with ``benchmarks/multiobjective.py``: 0.15 left the search
        crowding at the ends of the front).
    :param multi_objective_multivariate: ``multivariate`` for a study of several objectives;
        off, as in Optuna's MOTPE: each parameter is drawn from its own model, so the good
        trials' coordinates mix (measured with ``benchmarks/multiobjective.py``: on DTLZ2, whose
        ten distance variables must all approach 0.5, joint kernels kept each good trial's
        worse coordinates together).
    :param n_EI_candidates: candidates drawn from l per group; the best l/g is kept.
    :param prior_weight: the weight of the prior kernel in l and g.
    :param multivariate: model a group's parameters jointly (one kernel index shared across
        them) rather than each on its own.
    :param constant_liar: put pending points into g (Optuna 5's constant liar), so that
        concurrent suggestions repel each other; they never count as finished either way.
        ``"auto"`` (the default) lies in a finite space (every parameter takes finitely many
        values: a grid) and not otherwise. In a grid, candidates snap onto the same few
        cells, so concurrent suggestions crowd around the best ones: on the HPOLib tables
        (``benchmarks/hpolib.py``, 4 to 16 in flight) the liar gave a smaller area under
        the regret curve in 23 of 24 (task, budget, k) cells. On continuous and mixed spaces
        (``benchmarks/tpe_parallel.py``, 8 and 32 in flight) the candidates' own randomness
        spreads the concurrent points enough, and the liar more often cost than helped.
        Repeats are avoided either way (see ``No repeats``).
    :param weights: ``"ei"`` weights good trials by how far below the threshold their loss is;
        ``"uniform"`` weights them equally (more robust to noisy losses).
    :param split: ``"group"`` ranks each group's trials among themselves; ``"global"`` ranks all
        trials together and keeps a group's share of the good ones.
    :param failed: ``"bad"`` puts failed trials into g (the search avoids where they failed);
        ``"ignore"`` leaves them out. Pruned trials always go into g.
    :param bandwidth_floor: the smallest kernel bandwidth, as a fraction of a parameter's range.
    :param branch_exploration: how often a ``choice`` that selects between sub-spaces takes its
        branch from the prior instead of the model. A branch whose first trials were poor
        looks bad to any density ratio, even when its best region is the best of the space;
        these draws keep trying it, and once there its parameters are modelled from its own
        best trials (the per-branch split), so the attempts are not random ones.
    """

    #: Searches several objectives and constraints (the split of ``_multi.py``).
    multi_objective = True

    def __init__(
        self,
        *,
        n_startup_jobs: int = 10,
        gamma: float = 0.15,
        multi_objective_gamma: float = 0.1,
        multi_objective_multivariate: bool = False,
        n_EI_candidates: int = 24,
        prior_weight: float = 1.0,
        multivariate: bool = True,
        constant_liar: bool | Literal["auto"] = "auto",
        weights: Weighting = "ei",
        split: Split = "group",
        failed: Failed = "bad",
        bandwidth_floor: float = 0.01,
        branch_exploration: float = 0.5,
    ) -> None:
        checks.whole("tpe: n_startup_jobs", n_startup_jobs)
        checks.number("tpe: gamma", gamma, positive=True, at_most=1)
        checks.number("tpe: multi_objective_gamma", multi_objective_gamma, positive=True, at_most=1)
        checks.flag("tpe: multi_objective_multivariate", multi_objective_multivariate)
        checks.whole("tpe: n_EI_candidates", n_EI_candidates, at_least=1)
        checks.number("tpe: prior_weight", prior_weight, positive=True)
        checks.flag("tpe: multivariate", multivariate)
        if constant_liar != "auto" and not isinstance(constant_liar, bool):
            shown = checks.given(constant_liar)
            raise TypeError(f'tpe: constant_liar must be True, False or "auto", got {shown}')
        checks.one_of("tpe: weights", weights, ("ei", "uniform"))
        checks.one_of("tpe: split", split, ("group", "global"))
        checks.one_of("tpe: failed", failed, ("bad", "ignore"))
        checks.number("tpe: bandwidth_floor", bandwidth_floor, positive=True, at_most=1)
        checks.number("tpe: branch_exploration", branch_exploration, at_least=0, at_most=1)
        self.n_startup_jobs = n_startup_jobs
        self.gamma = gamma
        self.multi_objective_gamma = multi_objective_gamma
        self.multi_objective_multivariate = multi_objective_multivariate
        self._several: TPE | None = None  # this TPE with gamma = multi_objective_gamma
        self.n_EI_candidates = n_EI_candidates
        self.prior_weight = prior_weight
        self.multivariate = multivariate
        self.constant_liar = constant_liar
        self.weights = weights
        self.split = split
        self.failed = failed
        self.branch_exploration = branch_exploration
        self.bandwidth_floor = bandwidth_floor
        self._lock = threading.Lock()
        self._spaces: OrderedDict[int, tuple[Space, _Coordinates, tuple[_Group, ...]]] = (
            OrderedDict()
        )
        self._trackers: OrderedDict[tuple[Any, ...], _Tracker] = OrderedDict()

    @property
    def algo_name(self) -> str:
        """The name stored with a study: ``tpe`` and the options that differ from the default."""
        defaults = TPE()
        changed = {
            name: getattr(self, name)
            for name in _OPTION_NAMES
            if getattr(self, name) != getattr(defaults, name)
        }
        if not changed:
            return "tpe"
        options = ", ".join(f"{key}={changed[key]!r}" for key in sorted(changed))
        return f"tpe({options})"

    def __repr__(self) -> str:
        return f"<TPE {self.algo_name}>"

    def _for_several(self) -> TPE:
        """This TPE with the ``multi_objective_`` options in place of ``gamma`` and
        ``multivariate``, for histories of several objectives (made once; its caches are its
        own)."""
        with self._lock:
            if self._several is None:
                options = {name: getattr(self, name) for name in _OPTION_NAMES}
                options["gamma"] = self.multi_objective_gamma
                options["multivariate"] = self.multi_objective_multivariate
                self._several = TPE(**options)
            return self._several

    # The suggester -----------------------------------------------------------------------

    def __call__(
        self,
        space: Space,
        history: History,
        pending: FloatArray,
        rng: np.random.Generator,
    ) -> FloatArray:
        if not is_single(history):
            # Several objectives, or constraints: rank by the multi-objective order.
            objectives = history.objectives
            tpe = self if objectives is None or objectives.shape[1] == 1 else self._for_several()
            n_ok = int(np.count_nonzero(~np.isnan(history.losses)))
            history = as_one_order(history, _n_good(tpe.gamma, n_ok))
            if tpe is not self:
                return tpe(space, history, pending, rng)
        coords, groups = self._layout(space)
        row: FloatArray
        with self._tracking(space, coords, groups, history) as tracker:
            n_ok = tracker.n_ok
            # Pruned trials end the startup too (as in Optuna): with a pruner most trials are
            # pruned, and waiting for n_startup_jobs completed ones would keep drawing from
            # the prior for a long time. At least one completed trial is needed to model.
            modelled = n_ok > 0 and n_ok + tracker.n_pruned >= self.n_startup_jobs
            models = tracker.models(history) if modelled else {}
        if not modelled:
            row = space.sample(rng, 1)[0]
        else:
            row, ranked, prior = self._propose(space, coords, groups, models, pending, rng)
            if coords.discrete and self._seen(row, history, pending):
                for candidate in ranked:
                    # An alternative may choose another branch than ``row``: the groups that
                    # branch activates were never drawn, so they come from the prior draw.
                    alternative = _complete(space, candidate, prior)
                    if not self._seen(alternative, history, pending):
                        return alternative
        if coords.discrete and self._seen(row, history, pending):
            return self._unseen(space, coords, history, pending, rng, row)
        return row

    # Layout of a space (cached per space object) -------------------------------------------

    def _layout(self, space: Space) -> tuple[_Coordinates, tuple[_Group, ...]]:
        with self._lock:
            cached = self._spaces.get(id(space))
            if cached is not None and cached[0] is space:
                return cached[1], cached[2]
        coords = _Coordinates(space)
        by_condition: dict[tuple[tuple[int, int], ...], list[Param]] = {}
        for p in coords.params:
            by_condition.setdefault(p.parents, []).append(p)
        groups: list[_Group] = []
        for parents, members in by_condition.items():
            units = [members] if self.multivariate else [[p] for p in members]
            for unit in units:
                numeric = tuple(p.column for p in unit if not p.categorical)
                categorical = tuple(p.column for p in unit if p.categorical)
                dims = Dimensions(
                    numeric_floor=np.array(
                        [coords.floor(coords.params[c], self.bandwidth_floor) for c in numeric]
                    ),
                    categories=tuple(coords.params[c].n_options for c in categorical),
                    priors=tuple(coords.prior(coords.params[c]) for c in categorical),
                )
                groups.append(
                    _Group(
                        columns=tuple(p.column for p in unit),
                        numeric=numeric,
                        categorical=categorical,
                        parents=parents,
                        dims=dims,
                    )
                )
        groups.sort(key=lambda g: g.columns[0])
        with self._lock:
            self._spaces[id(space)] = (space, coords, tuple(groups))
            while len(self._spaces) > 8:
                self._spaces.popitem(last=False)
        return coords, tuple(groups)

    # Models (taken in incrementally per history origin) -------------------------------------

    @contextlib.contextmanager
    def _tracking(
        self,
        space: Space,
        coords: _Coordinates,
        groups: tuple[_Group, ...],
        history: History,
    ) -> Iterator[_Tracker]:
        """The tracker of ``history``'s origin, brought up to ``len(history)``, held locked.

        Snapshots of one :class:`~asynchpo._suggesters._base.HistoryBuffer` share an origin and
        are prefixes of each other, so its tracker only takes in the trials appended since the
        last call: no hashing, no copy. A history without an origin is keyed by a digest of its
        content. A snapshot shorter than what the tracker has taken in (an older one) gets a
        tracker of its own, not cached.
        """
        origin: object = history.origin
        if origin is None:
            digest = hashlib.blake2b(digest_size=16)
            for array in (history.rows, history.losses, history.ids, history.pruned):
                digest.update(np.ascontiguousarray(array).data)
            origin = ("content", len(history), digest.digest())
        key = (space.fingerprint, origin)
        with self._lock:
            tracker = self._trackers.get(key)
            if tracker is None or tracker.n > len(history):
                tracker = _Tracker(self, coords, groups)
                if key not in self._trackers:
                    self._trackers[key] = tracker
            if self._trackers.get(key) is tracker:
                self._trackers.move_to_end(key)
                while len(self._trackers) > 4:
                    self._trackers.popitem(last=False)
        with tracker.lock:
            tracker.take_in(history)
            yield tracker

    def _encode(
        self, coords: _Coordinates, group: _Group, rows: FloatArray
    ) -> tuple[FloatArray, IntArray]:
        numeric = np.empty((len(rows), len(group.numeric)))
        for j, column in enumerate(group.numeric):
            numeric[:, j] = coords.to_unit(coords.params[column], rows[:, column])
        categorical = np.empty((len(rows), len(group.categorical)), dtype=np.int64)
        for j, column in enumerate(group.categorical):
            offset = coords.params[column].offset
            categorical[:, j] = rows[:, column].astype(np.int64) - offset
        return numeric, categorical

    # Proposing a point -----------------------------------------------------------------------

    def _propose(
        self,
        space: Space,
        coords: _Coordinates,
        groups: tuple[_Group, ...],
        models: dict[int, _Model],
        pending: FloatArray,
        rng: np.random.Generator,
    ) -> tuple[FloatArray, list[FloatArray], FloatArray]:
        """The best point; the other candidates of its last group, best first (unsnapped, and
        missing the groups of any branch they choose that the point does not); and the prior
        draw, with a value for every label, that the point's unmodelled groups came from."""
        prior = space.sample(rng, 1, every_label=True)[0]
        row = np.full(len(space), np.nan)
        ranked: list[FloatArray] = []
        for index, group in enumerate(groups):
            if group.parents and not any(row[c] == option for c, option in group.parents):
                continue
            model = models[index]
            if model.good is None:
                row[list(group.columns)] = prior[list(group.columns)]
                ranked = []  # alternatives must differ in the last group only
                continue
            candidates, scores = self._candidates(space, coords, group, model, pending, row, rng)
            order = np.argsort(-scores, kind="stable")
            row = candidates[order[0]].copy()
            ranked = [candidates[i] for i in order[1:]]
            choosers = [c for c in group.categorical if c in coords.branch_choosers]
            if choosers and rng.random() < self.branch_exploration:
                for column in choosers:
                    row[column] = self._other_branch(coords, column, row[column], rng)
                ranked = []
        snapped: FloatArray = space.snap(row[None, :])[0]
        return snapped, ranked, prior

    @staticmethod
    def _other_branch(
        coords: _Coordinates, column: int, greedy: float, rng: np.random.Generator
    ) -> float:
        """A branch other than the model's pick, drawn by the prior's probabilities."""
        p = coords.params[column]
        prior = coords.prior(p).copy()
        prior[int(greedy) - p.offset] = 0.0
        if prior.sum() <= 0.0:
            return greedy
        return float(p.offset + rng.choice(len(prior), p=prior / prior.sum()))

    def _candidates(
        self,
        space: Space,
        coords: _Coordinates,
        group: _Group,
        model: _Model,
        pending: FloatArray,
        row: FloatArray,
        rng: np.random.Generator,
    ) -> tuple[FloatArray, FloatArray]:
        """Candidate rows drawn from l (other columns as in ``row``) and their scores."""
        assert model.good is not None
        n = self.n_EI_candidates
        numeric, categorical = model.good.sample(rng, n)
        candidates = np.repeat(row[None, :], n, axis=0)
        for j, column in enumerate(group.numeric):
            candidates[:, column] = coords.from_unit(coords.params[column], numeric[:, j])
        for j, column in enumerate(group.categorical):
            candidates[:, column] = categorical[:, j] + coords.params[column].offset
        # Score the values the point will really have: quantized, clipped, in the support.
        snapped = space.snap(candidates)
        for column in group.columns:
            candidates[:, column] = snapped[:, column]
        numeric, categorical = self._encode(coords, group, candidates)
        log_l = model.good.log_pdf(numeric, categorical)
        log_g = model.bad.log_pdf(numeric, categorical)
        if len(pending) and self._lies(coords):
            live = pending[~np.isnan(pending[:, group.columns[0]])]
            if len(live):
                log_g = self._with_pending(
                    coords, group, model.bad, live, log_g, numeric, categorical
                )
        return candidates, log_l - log_g

    def _lies(self, coords: _Coordinates) -> bool:
        """Whether pending points go into g: as told, or for ``"auto"`` in a finite space."""
        if self.constant_liar == "auto":
            return coords.discrete
        return bool(self.constant_liar)

    def _with_pending(
        self,
        coords: _Coordinates,
        group: _Group,
        bad: Mixture,
        live: FloatArray,
        log_g: FloatArray,
        numeric: FloatArray,
        categorical: IntArray,
    ) -> FloatArray:
        """log g with one more kernel of weight 1 per pending point, added to the cached g.

        g' = (W g + sum_p k_p) / (W + P), so only the P pending kernels are scored anew.
        Their bandwidth is the floor g's own kernels are clipped to.
        """
        pending_numeric, pending_categorical = self._encode(coords, group, live)
        n_kernels = bad.n_kernels + len(live)
        sigma = np.broadcast_to(
            np.maximum(group.dims.numeric_floor, 1.0 / (n_kernels + 1)),
            pending_numeric.shape,
        )
        pending_mixture = Mixture(
            pending_numeric, pending_categorical, np.ones(len(live)), 0.0, group.dims, sigma
        )
        log_p = pending_mixture.log_pdf(numeric, categorical)
        total = bad.total_weight + len(live)
        combined: FloatArray = np.logaddexp(
            math.log(bad.total_weight / total) + log_g, math.log(len(live) / total) + log_p
        )
        return combined

    # Repeats in discrete spaces --------------------------------------------------------------

    @staticmethod
    def _seen(row: FloatArray, history: History, pending: FloatArray) -> bool:
        for known in (history.rows, pending):
            if len(known) and bool(
                np.any(np.all((known == row) | (np.isnan(known) & np.isnan(row)), axis=1))
            ):
                return True
        return False

    def _unseen(
        self,
        space: Space,
        coords: _Coordinates,
        history: History,
        pending: FloatArray,
        rng: np.random.Generator,
        fallback: FloatArray,
    ) -> FloatArray:
        """A prior draw not seen before; failing that, any unseen point; else ``fallback``."""
        draws = space.sample(rng, _PRIOR_RETRIES)
        for i in range(len(draws)):
            draw: FloatArray = draws[i]
            if not self._seen(draw, history, pending):
                return draw
        unseen = [
            p for p in _enumerate(space, _MAX_ENUMERATION) if not self._seen(p, history, pending)
        ]
        if unseen:
            return unseen[int(rng.integers(len(unseen)))]
        return fallback


def _refit_length(n: int) -> int:
    """The history length g is fit on when the history has ``n`` trials.

    ``n`` rounded down to a multiple of a power of two step, the largest not above
    ``n / _REFIT_FRACTION``: every trial below ``2 * _REFIT_FRACTION`` trials, then every 2,
    4, ... (every 256 at 100,000 trials). So fitting g, which costs O(n), is done once per
    step, and a suggestion's g lags the history by less than 1/_REFIT_FRACTION of it. A function
    of ``n`` alone, so that the suggestion stays a function of (space, seed, history).
    """
    step = 1 << max(0, (n // _REFIT_FRACTION).bit_length() - 1)
    return n - n % step


def _best(index: IntArray, history: History, k: int) -> IntArray:
    """The ``k`` best of the trials ``index`` (positions of successful trials), best first:
    ranked by loss, ties to the smaller id, then to the earlier position. A partial selection
    narrows a large ``index`` first, so the cost is O(len(index)), not a sort."""
    losses = history.losses
    if len(index) > 4 * k:
        values = losses[index]
        kth = np.partition(values, k - 1)[k - 1]
        index = index[values <= kth]
    order = np.lexsort((index, history.ids[index], losses[index]))
    best: IntArray = index[order[:k]]
    return best


def _n_good(gamma: float, n: int) -> int:
    return min(max(1, math.ceil(gamma * n)), _MAX_GOOD, n)


class _Tracker:
    """What a TPE has learned from one history origin, taken in one new trial at a time.

    Per group it keeps the count of successful trials where the group was active and the best
    ``_MAX_GOOD + 1`` of them (enough for the good set and the threshold below it), so that l
    (at most 25 kernels) is refit for every new trial in O(new trials). g, whose size grows with
    the history, is refit on the history's first :func:`_refit_length` trials only, so a new
    fit is needed once per step (see there). Everything is a function of the history, never of
    the order in which it was taken in, so cached and uncached suggestions are the same.
    """

    def __init__(self, tpe: TPE, coords: _Coordinates, groups: tuple[_Group, ...]) -> None:
        self.lock = threading.Lock()
        self.tpe, self.coords, self.groups = tpe, coords, groups
        self.n = 0
        self.n_ok = 0
        self.n_pruned = 0
        self._n_ok_active = [0] * len(groups)
        empty = np.empty(0, dtype=np.int64)
        self._ranked = [empty] * len(groups)  # per group: its best ok trials, best first
        self._ranked_all = empty  # the best ok trials of every group
        self._bad: dict[int, tuple[int, Mixture]] = {}  # group -> (fit length, g)
        self._models: tuple[int, dict[int, _Model]] = (-1, {})

    def take_in(self, history: History) -> None:
        """Take in the trials of ``history`` (of this tracker's origin) not seen yet."""
        start, n = self.n, len(history)
        if n == start:
            return
        keep = _MAX_GOOD + 1
        ok = ~np.isnan(history.losses[start:n])
        self.n_ok += int(np.count_nonzero(ok))
        self.n_pruned += int(np.count_nonzero(history.pruned[start:n]))
        new_ok = start + np.flatnonzero(ok)
        self._ranked_all = _best(np.concatenate([self._ranked_all, new_ok]), history, keep)
        for index, group in enumerate(self.groups):
            active = ~np.isnan(history.rows[new_ok, group.columns[0]])
            new = new_ok[active]
            self._n_ok_active[index] += len(new)
            self._ranked[index] = _best(np.concatenate([self._ranked[index], new]), history, keep)
        self.n = n

    def models(self, history: History) -> dict[int, _Model]:
        """l and g of every group at ``len(history)`` (taken in already)."""
        n, models = self._models
        if n != self.n:
            models = {index: self._model(index, history) for index in range(len(self.groups))}
            self._models = (self.n, models)
        return models

    def _good(self, index: int, history: History) -> tuple[IntArray, float]:
        """The positions of a group's good trials (in history order), and the threshold: the
        best loss among its other successful trials (the worst good loss if none)."""
        group = self.groups[index]
        ranked = self._ranked[index]
        if self.tpe.split == "global":
            top = self._ranked_all[: _n_good(self.tpe.gamma, self.n_ok)]
            good = top[~np.isnan(history.rows[top, group.columns[0]])]
        else:
            good = ranked[: _n_good(self.tpe.gamma, self._n_ok_active[index])]
        # The group's good trials are a prefix of its own ranking in both splits.
        rest = ranked[len(good) :]
        losses = history.losses
        if not len(good):
            return good, math.nan
        threshold = float(losses[rest[0]]) if len(rest) else float(losses[good].max())
        return np.sort(good), threshold

    def _model(self, index: int, history: History) -> _Model:
        tpe, group = self.tpe, self.groups[index]
        good = np.empty(0, dtype=np.int64)
        threshold = math.nan
        if not (group.parents and self._n_ok_active[index] < _MIN_GROUP_TRIALS):
            good, threshold = self._good(index, history)
        mixture: Mixture | None = None
        if len(good):
            numeric_good, categorical_good = tpe._encode(self.coords, group, history.rows[good])
            losses = history.losses[good]
            if tpe.weights == "ei":
                w = np.maximum(threshold - losses, 1e-12)
                w = w / w.mean()
            else:
                w = np.ones(len(losses))
            mixture = Mixture(
                numeric_good,
                categorical_good,
                w,
                tpe.prior_weight,
                group.dims,
                bandwidths(numeric_good, group.dims.numeric_floor, len(w) + 1),
            )
        return _Model(good=mixture, bad=self._g(index, history))

    def _g(self, index: int, history: History) -> Mixture:
        """g of a group, fit on the first :func:`_refit_length` trials of the history."""
        length = _refit_length(self.n)
        fitted = self._bad.get(index)
        if fitted is not None and fitted[0] == length:
            return fitted[1]
        tpe, group = self.tpe, self.groups[index]
        rows, losses = history.rows[:length], history.losses[:length]
        pruned = history.pruned[:length]
        active = ~np.isnan(rows[:, group.columns[0]])
        ok = ~np.isnan(losses)
        n_ok = int(np.count_nonzero(ok & active))
        bad_trials = active & (ok | pruned | (tpe.failed == "bad"))
        if not (group.parents and n_ok < _MIN_GROUP_TRIALS):
            subset = ok if tpe.split == "global" else ok & active
            count = int(np.count_nonzero(subset))
            if count:
                top = _best(np.flatnonzero(subset), history, _n_good(tpe.gamma, count))
                bad_trials[top] = False
        bad_index, bad_weights = _compress(np.flatnonzero(bad_trials), history)
        numeric_bad, categorical_bad = tpe._encode(self.coords, group, rows[bad_index])
        bad = Mixture(
            numeric_bad,
            categorical_bad,
            bad_weights,
            tpe.prior_weight,
            group.dims,
            bandwidths(numeric_bad, group.dims.numeric_floor, len(numeric_bad) + 1),
        )
        self._bad[index] = (length, bad)
        return bad


def _compress(index: IntArray, history: History) -> tuple[IntArray, FloatArray]:
    """At most :data:`_MAX_BAD_KERNELS` of the bad trials ``index`` (positions in the history,
    ascending), with weights that keep g's shape.

    g is the only density whose size grows with the history, and scoring costs O(kernels).
    Beyond the cap, the newest half (in the order the trials finished) is kept as is and the
    older trials are thinned to the other half, the scored ones and the unscored ones (failed,
    pruned) in proportion to their numbers: scored ones every k-th in loss order (so their
    spread of losses is kept), unscored ones every k-th in age, each weighted by k, an unbiased
    estimate of the full mixture.
    """
    if len(index) <= _MAX_BAD_KERNELS:
        return index, np.ones(len(index))
    recent_count = _MAX_BAD_KERNELS // 2
    recent, older = index[-recent_count:], index[:-recent_count]
    keep = _MAX_BAD_KERNELS - recent_count
    losses = history.losses[older]
    unscored = np.isnan(losses)
    scored = older[~unscored]
    scored = scored[np.argsort(losses[~unscored], kind="stable")]
    failed = older[unscored]
    keep_failed = round(keep * len(failed) / len(older))
    keep_failed = min(len(failed), max(keep_failed, 1 if len(failed) else 0))
    parts, weights = [recent], [np.ones(len(recent))]
    for kept, budget in ((scored, keep - keep_failed), (failed, keep_failed)):
        if not len(kept) or budget <= 0:
            continue
        picks = np.linspace(0, len(kept) - 1, num=min(budget, len(kept)))
        thinned = kept[picks.round().astype(np.int64)]
        parts.append(thinned)
        weights.append(np.full(len(thinned), len(kept) / len(thinned)))
    return np.concatenate(parts), np.concatenate(weights)


def _complete(space: Space, row: FloatArray, fill: FloatArray) -> FloatArray:
    """``row`` snapped, with every active label that is NaN in it taken from ``fill`` (a row
    with a value for every label), so that the result is a valid point."""
    out = space.snap(row[None, :])[0]
    active = np.ones(len(out), dtype=np.bool_)
    # Parents come before their children, so a filled branch choice activates its children.
    for p in space.params:
        j = p.column
        if p.parents:
            active[j] = any(active[c] and out[c] == option for c, option in p.parents)
        if not active[j]:
            out[j] = np.nan
        elif np.isnan(out[j]):
            out[j] = fill[j]
    completed: FloatArray = space.snap(out[None, :])[0]
    return completed


def _enumerate(space: Space, limit: int) -> Iterator[FloatArray]:
    """Every point of a discrete space (at most ``limit``), as rows.

    No parameter's support is listed beyond its first ``limit`` values, which are all that
    ``limit`` points can use (a randint may have 2**62 values)."""
    supports = [space.support(p.column, limit=limit) for p in space.params]

    def extend(row: FloatArray, column: int) -> Iterator[FloatArray]:
        if column == len(space):
            yield row.copy()
            return
        p = space.params[column]
        if p.parents and not any(row[c] == option for c, option in p.parents):
            yield from extend(row, column + 1)
            return
        values = supports[column]
        assert values is not None
        for value in values:
            row[column] = value
            yield from extend(row, column + 1)
        row[column] = np.nan

    yield from itertools.islice(extend(np.full(len(space), np.nan), 0), limit)


_OPTION_NAMES = (
    "n_startup_jobs",
    "gamma",
    "multi_objective_gamma",
    "multi_objective_multivariate",
    "n_EI_candidates",
    "prior_weight",
    "multivariate",
    "constant_liar",
    "weights",
    "split",
    "failed",
    "bandwidth_floor",
    "branch_exploration",
)


@functools.lru_cache(maxsize=32)
def _instance(options: tuple[tuple[str, Any], ...]) -> TPE:
    return TPE(**dict(options))


def suggest(
    space: Space,
    history: History,
    pending: FloatArray,
    rng: np.random.Generator,
    **options: Any,
) -> FloatArray:
    """Propose one point with TPE: hyperopt's ``tpe.suggest``, with asynchpo's defaults.

    Options are those of :class:`TPE`, bound by keyword with :func:`functools.partial`, e.g.
    ``partial(tpe.suggest, n_startup_jobs=20, gamma=0.25)``.
    """
    _refuse_unknown(options)
    return _instance(tuple(sorted(options.items())))(space, history, pending, rng)


def _refuse_unknown(options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(_OPTION_NAMES))
    if unknown:
        raise ConfigError(
            f"tpe.suggest got unknown option(s) {unknown}; the options are {list(_OPTION_NAMES)}"
        )


def check_options(**options: Any) -> None:
    """Refuse unknown options and values that cannot work (see :class:`TPE`), before any work."""
    _refuse_unknown(options)
    TPE(**options)


suggest.algo_name = "tpe"  # type: ignore[attr-defined]
suggest.check_options = check_options  # type: ignore[attr-defined]
# Several objectives and constraints: the split of multi-objective TPE (see _multi.py).
suggest.multi_objective = True  # type: ignore[attr-defined]
