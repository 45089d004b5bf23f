"""The test problems of the TPE benchmarks, each defined once and rendered for every library.

A problem's search space is written in a small neutral vocabulary (:class:`Uniform`,
:class:`LogUniform`, :class:`QUniform`, :class:`QLogUniform`, :class:`UniformInt`,
:class:`Choice`, nested in dicts) and rendered three ways:

* :func:`render_hp` builds it with an ``hp`` module: ``asynchpo.hp`` for the asynchpo methods,
  ``hyperopt.hp`` for hyperopt (same labels, same meaning, log bounds given as logarithms);
* :func:`suggest_optuna` is Optuna's define-by-run version: it suggests the same parameters on
  an Optuna trial (conditional ones only on their branch) and returns the same structure as
  ``space_eval`` would;
* :func:`optuna_distributions` and :func:`optuna_values` give the fixed distributions and the
  parameter values of a point, for flat spaces (the latency benchmark).

The objective of a problem is a pure, deterministic function of the evaluated parameters.

Optuna has no quantized log-uniform float (``step`` and ``log=True`` exclude each other), so
``QLogUniform(label, low, high, q)`` is suggested there as ``q * suggest_int(label, low / q,
high / q, log=True)``: the same grid, sampled on a log scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import numpy as np
import numpy.typing as npt

__all__ = [
    "LATENCY",
    "PROBLEMS",
    "Choice",
    "LogUniform",
    "Problem",
    "QLogUniform",
    "QUniform",
    "Uniform",
    "UniformInt",
    "flat_params",
    "optuna_distributions",
    "optuna_values",
    "render_hp",
    "select_problems",
    "suggest_optuna",
]

Params = Mapping[str, Any]


# --- the space vocabulary -------------------------------------------------------------------


@dataclass(frozen=True)
class Uniform:
    """A real number in ``[low, high]``."""

    label: str
    low: float
    high: float


@dataclass(frozen=True)
class LogUniform:
    """A positive real number in ``[low, high]`` whose logarithm is uniform (value bounds)."""

    label: str
    low: float
    high: float


@dataclass(frozen=True)
class QUniform:
    """A uniform value rounded to a multiple of ``q``; ``low`` and ``high`` are multiples."""

    label: str
    low: float
    high: float
    q: float


@dataclass(frozen=True)
class QLogUniform:
    """A log-uniform value rounded to a multiple of ``q``; ``low`` and ``high`` are multiples."""

    label: str
    low: float
    high: float
    q: float


@dataclass(frozen=True)
class UniformInt:
    """A whole number in ``[low, high]``."""

    label: str
    low: int
    high: int


@dataclass(frozen=True)
class Choice:
    """One of ``options``; an option may be a constant or a dict holding further parameters."""

    label: str
    options: tuple[Spec, ...]


Param: TypeAlias = Uniform | LogUniform | QUniform | QLogUniform | UniformInt | Choice
Spec: TypeAlias = "Param | Mapping[str, Spec] | str | int | float"


# --- rendering -------------------------------------------------------------------------------


def render_hp(spec: Spec, hp: Any) -> object:
    """The space built with an ``hp`` module (``asynchpo.hp`` or ``hyperopt.hp``)."""
    match spec:
        case Uniform(label, low, high):
            return hp.uniform(label, low, high)
        case LogUniform(label, low, high):
            return hp.loguniform(label, math.log(low), math.log(high))
        case QUniform(label, low, high, q):
            return hp.quniform(label, low, high, q)
        case QLogUniform(label, low, high, q):
            return hp.qloguniform(label, math.log(low), math.log(high), q)
        case UniformInt(label, low, high):
            return hp.uniformint(label, low, high)
        case Choice(label, options):
            return hp.choice(label, [render_hp(option, hp) for option in options])
        case Mapping():
            return {key: render_hp(value, hp) for key, value in spec.items()}
        case _:
            return spec


def _optuna_choices(choice: Choice) -> list[Any]:
    """What Optuna chooses among: the options if they are plain constants, else their indices."""
    plain = all(
        isinstance(o, str | int | float) and not isinstance(o, bool) for o in choice.options
    )
    return list(choice.options) if plain else list(range(len(choice.options)))


def _grid(low: float, high: float, q: float) -> tuple[int, int]:
    """``low / q`` and ``high / q`` as whole numbers (the bounds must be multiples of ``q``)."""
    first, last = round(low / q), round(high / q)
    if not (math.isclose(first * q, low) and math.isclose(last * q, high)):
        raise ValueError(f"bounds {low}, {high} are not multiples of q={q}")
    return first, last


def suggest_optuna(trial: Any, spec: Spec) -> object:
    """Suggest the parameters of ``spec`` on an Optuna trial; the structure ``space_eval`` gives."""
    match spec:
        case Uniform(label, low, high):
            return float(trial.suggest_float(label, low, high))
        case LogUniform(label, low, high):
            return float(trial.suggest_float(label, low, high, log=True))
        case QUniform(label, low, high, q):
            return float(trial.suggest_float(label, low, high, step=q))
        case QLogUniform(label, low, high, q):
            first, last = _grid(low, high, q)
            return float(trial.suggest_int(label, first, last, log=True) * q)
        case UniformInt(label, low, high):
            return int(trial.suggest_int(label, low, high))
        case Choice(label, options):
            choices = _optuna_choices(spec)
            index = choices.index(trial.suggest_categorical(label, choices))
            return suggest_optuna(trial, options[index])
        case Mapping():
            return {key: suggest_optuna(trial, value) for key, value in spec.items()}
        case _:
            return spec


def flat_params(spec: Spec) -> list[Param]:
    """The parameters of a space without conditional ones, in order.

    :raises ValueError: if a choice has a parameter inside one of its options.
    """
    match spec:
        case Choice(label, options):
            if any(flat_params(option) for option in options):
                raise ValueError(f"choice {label!r} has conditional parameters")
            return [spec]
        case Uniform() | LogUniform() | QUniform() | QLogUniform() | UniformInt():
            return [spec]
        case Mapping():
            return [p for value in spec.values() for p in flat_params(value)]
        case _:
            return []


def optuna_distributions(spec: Spec) -> dict[str, Any]:
    """Optuna's distribution of each parameter of a flat space (``study.ask(...)``'s argument)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for p in flat_params(spec):
        match p:
            case Uniform(label, low, high):
                out[label] = FloatDistribution(low, high)
            case LogUniform(label, low, high):
                out[label] = FloatDistribution(low, high, log=True)
            case QUniform(label, low, high, q):
                out[label] = FloatDistribution(low, high, step=q)
            case QLogUniform(label, low, high, q):
                out[label] = IntDistribution(*_grid(low, high, q), log=True)
            case UniformInt(label, low, high):
                out[label] = IntDistribution(low, high)
            case Choice(label):
                out[label] = CategoricalDistribution(_optuna_choices(p))
    return out


def optuna_values(spec: Spec, point: Mapping[str, float | int]) -> dict[str, Any]:
    """The Optuna parameter values of a point (hyperopt's argmin format) of a flat space."""
    out: dict[str, Any] = {}
    for p in flat_params(spec):
        value = point[p.label]
        match p:
            case Choice():
                out[p.label] = _optuna_choices(p)[int(value)]
            case QLogUniform(label, _, _, q):
                out[label] = round(value / q)
            case UniformInt(label):
                out[label] = round(value)
            case _:
                out[p.label] = float(value)
    return out


# --- problems --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    :param name: a short name for tables and ``--problems``.
    :param spec: the search space.
    :param objective: the loss of the evaluated parameters; pure and deterministic.
    :param minimum: the known minimum of the objective.
    :param budget: the number of evaluations of a run.
    :param success: for problems with a trap, whether the best trial of a run (its parameters
        and loss) escaped it; None otherwise.
    """

    name: str
    spec: Spec
    objective: Callable[[Params], float]
    minimum: float
    budget: int
    success: Callable[[Params, float], bool] | None = None

    def asynchpo_space(self) -> object:
        """The space for asynchpo."""
        from asynchpo import hp

        return render_hp(self.spec, hp)

    def hyperopt_space(self) -> object:
        """The same space for hyperopt."""
        from hyperopt import hp

        return render_hp(self.spec, hp)

    def suggest_optuna(self, trial: Any) -> Params:
        """Optuna's define-by-run version of the space: suggests, returns the parameters."""
        return cast(Params, suggest_optuna(trial, self.spec))


def _box(n: int, low: float, high: float) -> dict[str, Spec]:
    """``n`` uniform parameters ``x1`` to ``xn`` on ``[low, high]``."""
    return {f"x{i}": Uniform(f"x{i}", low, high) for i in range(1, n + 1)}


def _vector(params: Params) -> npt.NDArray[np.float64]:
    """The values of ``x1``, ``x2``, ... as a vector."""
    return np.array([params[f"x{i}"] for i in range(1, len(params) + 1)], dtype=np.float64)


def branin(params: Params) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; three global minima of 0.397887."""
    x1, x2 = float(params["x1"]), float(params["x2"])
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_HARTMANN_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_HARTMANN_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(params: Params) -> float:
    """Hartmann 6-D on [0, 1]^6; minimum -3.32237."""
    x = _vector(params)
    inner = np.sum(_HARTMANN_A * (x - _HARTMANN_P) ** 2, axis=1)
    return -float(np.sum(_HARTMANN_ALPHA * np.exp(-inner)))


def rosenbrock(params: Params) -> float:
    """Rosenbrock's valley; minimum 0 at (1, ..., 1)."""
    x = _vector(params)
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def ackley(params: Params) -> float:
    """Ackley's function; minimum 0 at the origin."""
    x = _vector(params)
    spread = -20.0 * math.exp(-0.2 * math.sqrt(float(np.mean(x**2))))
    ripples = -math.exp(float(np.mean(np.cos(2 * math.pi * x))))
    return spread + ripples + 20.0 + math.e


_SPHERE_SHIFT = np.linspace(-3.0, 3.0, 20)


def shifted_sphere(params: Params) -> float:
    """A 20-D sphere centred on linspace(-3, 3, 20); minimum 0."""
    return float(np.sum((_vector(params) - _SPHERE_SHIFT) ** 2))


def log_valley(params: Params) -> float:
    """A tilted quadratic valley in (log10 lr, log10 wd); minimum 0 at lr=10^-3.3, wd=10^-4.6."""
    u = math.log10(params["lr"]) + 3.3
    v = math.log10(params["wd"]) + 4.6
    return float(u**2 + 0.5 * v**2 + 0.3 * u * v)


_OPTIMIZER_OFFSET = {"sgd": 0.4, "adam": 0.0, "rmsprop": 0.2}


def mixed(params: Params) -> float:
    """A smooth loss over a mixed space; minimum 0 at adam, 3 layers, 192 units, 0.25, 64."""
    return float(
        _OPTIMIZER_OFFSET[params["optimizer"]]
        + 0.03 * (params["layers"] - 3) ** 2
        + 0.1 * math.log2(params["units"] / 192) ** 2
        + 2.0 * (params["dropout"] - 0.25) ** 2
        + 0.05 * (math.log2(params["batch"]) - 6) ** 2
    )


def conditional(params: Params) -> float:
    """Three branches: A wide with floor 1, B narrow with the optimum 0, C poor (floor 2.5)."""
    model = params["model"]
    if model["kind"] == "A":
        return float(1.0 + 0.02 * (model["a1"] ** 2 + model["a2"] ** 2))
    if model["kind"] == "B":
        r2 = (
            (model["b1"] - 1.5) ** 2
            + (model["b2"] + 2.0) ** 2
            + ((math.log10(model["b3"]) + 2.0) / 0.7) ** 2
        )
        return 3.0 * (1.0 - math.exp(-r2 / 4.0))
    return float(2.5 + 0.5 * model["c1"] + 0.05 * model["c2"])


def reached_best_branch(params: Params, loss: float) -> bool:
    """Whether a best trial is in branch B and beats branch A's floor."""
    return bool(params["model"]["kind"] == "B" and loss < 1.0)


_CONDITIONAL_SPACE: Spec = {
    "model": Choice(
        "model",
        (
            {"kind": "A", "a1": Uniform("a1", -5, 5), "a2": Uniform("a2", -5, 5)},
            {
                "kind": "B",
                "b1": Uniform("b1", -5, 5),
                "b2": Uniform("b2", -5, 5),
                "b3": LogUniform("b3", 1e-4, 1.0),
            },
            {"kind": "C", "c1": Uniform("c1", 0, 1), "c2": QUniform("c2", 0, 10, 1)},
        ),
    )
}

_PROBLEM_LIST = [
    Problem(
        "branin", {"x1": Uniform("x1", -5, 10), "x2": Uniform("x2", 0, 15)}, branin, 0.397887, 100
    ),
    Problem("hartmann6", _box(6, 0.0, 1.0), hartmann6, -3.32237, 200),
    Problem("rosenbrock5", _box(5, -2.048, 2.048), rosenbrock, 0.0, 100),
    Problem("ackley5", _box(5, -32.768, 32.768), ackley, 0.0, 100),
    Problem("sphere20", _box(20, -5.0, 5.0), shifted_sphere, 0.0, 200),
    Problem(
        "log-valley",
        {"lr": LogUniform("lr", 1e-6, 1.0), "wd": LogUniform("wd", 1e-7, 1e-1)},
        log_valley,
        0.0,
        100,
    ),
    Problem(
        "mixed",
        {
            "optimizer": Choice("optimizer", ("sgd", "adam", "rmsprop")),
            "layers": UniformInt("layers", 1, 8),
            "units": QLogUniform("units", 16, 1024, 16),
            "dropout": Uniform("dropout", 0.0, 0.7),
            "batch": Choice("batch", (16, 32, 64, 128)),
        },
        mixed,
        0.0,
        100,
    ),
    Problem("conditional", _CONDITIONAL_SPACE, conditional, 0.0, 100, reached_best_branch),
]

#: The problems of the quality and parallel benchmarks, by name, in table order.
PROBLEMS: dict[str, Problem] = {p.name: p for p in _PROBLEM_LIST}


def latency_objective(params: Params) -> float:
    """A cheap loss for the histories of the latency benchmark."""
    return float(
        (math.log10(params["lr"]) + 3) ** 2
        + 0.1 * (math.log10(params["wd"]) + 4) ** 2
        + (params["momentum"] - 0.9) ** 2
        + params["dropout"]
        + params["warmup"]
        + 0.01 * (math.log10(params["eps"]) + 8) ** 2
        + 0.001 * abs(params["epochs"] - 50)
        + 0.1 * math.log2(params["units"] / 256) ** 2
        + {"sgd": 0.2, "adam": 0.0, "rmsprop": 0.1, "adagrad": 0.3}[params["optimizer"]]
        + {"relu": 0.0, "gelu": 0.05, "tanh": 0.2}[params["activation"]]
    )


#: The 10-D space of the latency benchmark: 6 floats, 2 quantized, 2 choices; no conditions.
LATENCY = Problem(
    "latency10",
    {
        "lr": LogUniform("lr", 1e-5, 1e-1),
        "wd": LogUniform("wd", 1e-6, 1e-2),
        "momentum": Uniform("momentum", 0.5, 0.99),
        "dropout": Uniform("dropout", 0.0, 0.7),
        "warmup": Uniform("warmup", 0.0, 0.2),
        "eps": LogUniform("eps", 1e-9, 1e-6),
        "epochs": QUniform("epochs", 10, 100, 5),
        "units": QLogUniform("units", 16, 1024, 16),
        "optimizer": Choice("optimizer", ("sgd", "adam", "rmsprop", "adagrad")),
        "activation": Choice("activation", ("relu", "gelu", "tanh")),
    },
    latency_objective,
    0.0,
    0,
)


def select_problems(names: str | None) -> list[Problem]:
    """The problems named in a comma-separated list (all of them for None).

    :raises SystemExit: naming the known problems, for an unknown name.
    """
    if names is None:
        return list(PROBLEMS.values())
    chosen: Sequence[str] = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in PROBLEMS]
    if unknown:
        raise SystemExit(f"unknown problem(s) {unknown}; choose among {list(PROBLEMS)}")
    return [PROBLEMS[n] for n in chosen]
