"""The multi-objective test problems of ``benchmarks/multiobjective.py``: all minimised.

Every problem has box-bounded real variables ``x0, x1, ...`` (``hp.uniform`` for asynchpo,
``suggest_float`` for Optuna) and a pure, deterministic objective of the variable vector that
returns the objective values and the constraint values (feasible when every one is <= 0, the
convention of asynchpo and Optuna).

* ZDT1, ZDT2, ZDT3 with n = 30 variables in [0, 1]: E. Zitzler, K. Deb and L. Thiele,
  "Comparison of Multiobjective Evolutionary Algorithms: Empirical Results", Evolutionary
  Computation 8(2):173-195, 2000 (functions T1, T2, T3). With
  g(x) = 1 + 9 * sum(x[1:]) / (n - 1) and r = x[0] / g:
  f1 = x[0]; f2 = g * (1 - sqrt(r)) (ZDT1), g * (1 - r^2) (ZDT2),
  g * (1 - sqrt(r) - r * sin(10 pi x[0])) (ZDT3). Pareto-optimal: g = 1 (x[1:] = 0).
* DTLZ2 with M = 3 objectives and n = 12 variables in [0, 1] (k = n - M + 1 = 10): K. Deb,
  L. Thiele, M. Laumanns and E. Zitzler, "Scalable Test Problems for Evolutionary
  Multiobjective Optimization", in Evolutionary Multiobjective Optimization, Springer 2005,
  pp. 105-145 (TIK report 112, 2001). g = sum((x[2:] - 0.5)^2);
  f1 = (1 + g) cos(x0 pi/2) cos(x1 pi/2), f2 = (1 + g) cos(x0 pi/2) sin(x1 pi/2),
  f3 = (1 + g) sin(x0 pi/2). Pareto-optimal: g = 0, the unit sphere's positive octant.
* Constrained Binh and Korn: T. T. Binh and U. Korn, "MOBES: A Multiobjective Evolution
  Strategy for Constrained Optimization Problems", Proc. 3rd Int. Conf. on Genetic Algorithms
  (Mendel 97), Brno, 1997, pp. 176-182 (as in Deb's "Multi-Objective Optimization using
  Evolutionary Algorithms", 2001, and pymoo's ``BNH``): x in [0, 5], y in [0, 3];
  f1 = 4x^2 + 4y^2, f2 = (x - 5)^2 + (y - 5)^2; subject to (x - 5)^2 + y^2 <= 25 and
  (x - 8)^2 + (y + 3)^2 >= 7.7, here c1 = (x - 5)^2 + y^2 - 25 <= 0 and
  c2 = 7.7 - (x - 8)^2 - (y + 3)^2 <= 0. Pareto-optimal: x = y in [0, 3], then y = 3 and
  x in [3, 5].

Reference points (fixed per problem, for the hypervolume): ZDT1-3 (1.1, 11): f1 <= 1 and
f2 <= g <= 10, so every evaluated point counts (the usual (1.1, 1.1) or (11, 11) would leave
most points of a 200-evaluation 30-D run out, or dwarf the front); DTLZ2 (1.1, 1.1, 1.1), the
usual one; Binh and Korn (140, 50): f1 <= 136 and f2 <= 50 over the box.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MO_PROBLEMS", "MOProblem", "select_mo_problems"]

FloatArray = npt.NDArray[np.float64]
Evaluation = tuple[FloatArray, FloatArray]  # objectives (k,), constraints (c,)


@dataclass(frozen=True)
class MOProblem:
    """A box-bounded multi-objective problem, every objective minimised.

    :ivar lows: lower bounds of ``x0, x1, ...``.
    :ivar highs: upper bounds.
    :ivar reference: the fixed reference point of the hypervolume.
    :ivar n_constraints: how many constraint values ``evaluate`` returns (0: unconstrained).
    :ivar ideal: the hypervolume of the whole Pareto front: the most a method could reach.
    """

    name: str
    lows: tuple[float, ...]
    highs: tuple[float, ...]
    reference: tuple[float, ...]
    n_constraints: int
    function: Callable[[FloatArray], Evaluation]
    ideal: float

    @property
    def n_objectives(self) -> int:
        return len(self.reference)

    @property
    def labels(self) -> list[str]:
        return [f"x{i}" for i in range(len(self.lows))]

    def evaluate(self, x: Sequence[float] | FloatArray) -> Evaluation:
        """The objectives and the constraint values at ``x`` (constraints <= 0: feasible)."""
        vector = np.asarray(x, dtype=np.float64)
        if vector.shape != (len(self.lows),):
            raise ValueError(f"{self.name} takes {len(self.lows)} variables, got {vector.shape}")
        return self.function(vector)

    def vector(self, params: Mapping[str, Any]) -> FloatArray:
        """The variables as a vector, from evaluated parameters keyed by label."""
        return np.array([float(params[label]) for label in self.labels], dtype=np.float64)

    def hp_space(self, hp_module: Any) -> dict[str, object]:
        """The space with an ``hp`` module (``asynchpo.hp``): one ``hp.uniform`` per variable."""
        return {
            label: hp_module.uniform(label, low, high)
            for label, low, high in zip(self.labels, self.lows, self.highs, strict=True)
        }

    def suggest_optuna(self, trial: Any) -> FloatArray:
        """The same variables suggested on an Optuna trial, as a vector."""
        return np.array(
            [
                trial.suggest_float(label, low, high)
                for label, low, high in zip(self.labels, self.lows, self.highs, strict=True)
            ],
            dtype=np.float64,
        )


_NO_CONSTRAINTS: FloatArray = np.zeros(0)


def _zdt_g(x: FloatArray) -> float:
    return 1.0 + 9.0 * float(np.sum(x[1:])) / (len(x) - 1)


def zdt1(x: FloatArray) -> Evaluation:
    """ZDT1 (Zitzler, Deb and Thiele 2000): a convex front."""
    f1 = float(x[0])
    g = _zdt_g(x)
    return np.array([f1, g * (1.0 - math.sqrt(f1 / g))]), _NO_CONSTRAINTS


def zdt2(x: FloatArray) -> Evaluation:
    """ZDT2: a concave front."""
    f1 = float(x[0])
    g = _zdt_g(x)
    return np.array([f1, g * (1.0 - (f1 / g) ** 2)]), _NO_CONSTRAINTS


def zdt3(x: FloatArray) -> Evaluation:
    """ZDT3: a front of five disconnected pieces."""
    f1 = float(x[0])
    g = _zdt_g(x)
    r = f1 / g
    return (
        np.array([f1, g * (1.0 - math.sqrt(r) - r * math.sin(10.0 * math.pi * f1))]),
        _NO_CONSTRAINTS,
    )


def dtlz2(x: FloatArray) -> Evaluation:
    """DTLZ2 with three objectives (Deb, Thiele, Laumanns and Zitzler 2001/2005)."""
    g = float(np.sum((x[2:] - 0.5) ** 2))
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    scale = 1.0 + g
    objectives = np.array(
        [
            scale * math.cos(a) * math.cos(b),
            scale * math.cos(a) * math.sin(b),
            scale * math.sin(a),
        ]
    )
    return objectives, _NO_CONSTRAINTS


def binh_korn(x: FloatArray) -> Evaluation:
    """Constrained Binh and Korn (1997): two objectives, two constraints (<= 0 feasible)."""
    u, v = float(x[0]), float(x[1])
    objectives = np.array([4 * u**2 + 4 * v**2, (u - 5) ** 2 + (v - 5) ** 2])
    constraints = np.array([(u - 5) ** 2 + v**2 - 25.0, 7.7 - (u - 8) ** 2 - (v + 3) ** 2])
    return objectives, constraints


_UNIT_30 = ((0.0,) * 30, (1.0,) * 30)

# The ideal hypervolumes: 1.1 * 11 - 1/3 (ZDT1), 1.1 * 11 - 2/3 (ZDT2), 1.1^3 - pi/6 (DTLZ2:
# the box minus the unit sphere's octant); ZDT3 and Binh-Korn: the exact hypervolume of 20,001
# and 10,002 points evenly spread on their fronts (a staircase under the front, short of the
# limit by less than 1e-4 relative).
MO_PROBLEMS: dict[str, MOProblem] = {
    "zdt1": MOProblem("zdt1", *_UNIT_30, (1.1, 11.0), 0, zdt1, 12.1 - 1 / 3),
    "zdt2": MOProblem("zdt2", *_UNIT_30, (1.1, 11.0), 0, zdt2, 12.1 - 2 / 3),
    "zdt3": MOProblem("zdt3", *_UNIT_30, (1.1, 11.0), 0, zdt3, 12.2217),
    "dtlz2": MOProblem(
        "dtlz2", (0.0,) * 12, (1.0,) * 12, (1.1, 1.1, 1.1), 0, dtlz2, 1.331 - math.pi / 6
    ),
    "binh_korn": MOProblem(
        "binh_korn", (0.0, 0.0), (5.0, 3.0), (140.0, 50.0), 2, binh_korn, 5285.1
    ),
}


def select_mo_problems(requested: str | None) -> list[MOProblem]:
    """The problems named in a comma-separated ``--problems`` value; all of them for None.

    :raises SystemExit: for an unknown name.
    """
    if requested is None:
        return list(MO_PROBLEMS.values())
    names = [name.strip() for name in requested.split(",") if name.strip()]
    unknown = [name for name in names if name not in MO_PROBLEMS]
    if unknown:
        raise SystemExit(f"unknown problem(s) {unknown}; choose among {list(MO_PROBLEMS)}")
    return [MO_PROBLEMS[name] for name in names]
