"""What a study optimises: its objectives' directions, and what "best" means under them.

The one home of "best" (``best_trial`` in ``_trial.py`` is its single-objective, minimising
case). A study has one objective or several, each minimised or maximised; its trials may carry
constraints (feasible when every value is ``<= 0``, Optuna's convention). Values are stored and
shown as the objective returned them; a maximised one is negated only where trials are ranked.

- **One objective:** the best trial is the feasible trial with the best value (the lowest id
  among equals); while no trial is feasible, the one of least violation.
- **Several:** there is no single best; :meth:`Objectives.front` is the Pareto front of the
  feasible trials (while none is feasible, the trials of least violation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np

from asynchpo._exceptions import ConfigError
from asynchpo._pareto import front_of
from asynchpo._trial import Trial, best_trial

__all__ = ["DIRECTIONS", "MINIMIZE", "Objectives"]

#: The directions an objective may have.
DIRECTIONS: Final = ("minimize", "maximize")


@dataclasses.dataclass(frozen=True, slots=True)
class Objectives:
    """A study's objectives: one direction per objective.

    :param directions: ``"minimize"`` or ``"maximize"`` per objective, in the order the
        objective returns its values.
    """

    directions: tuple[str, ...] = ("minimize",)

    @classmethod
    def parse(cls, directions: object = None, direction: object = None) -> Objectives:
        """The objectives a user asked for with ``directions=[...]`` or ``direction=...``.

        :raises ConfigError: (one line, before any work) for both given, an empty list, or a
            direction that is not ``"minimize"`` or ``"maximize"``.
        """
        if directions is not None and direction is not None:
            raise ConfigError(
                "give direction= (one objective) or directions= (one per objective), not both"
            )
        if direction is not None:
            return cls((_direction(direction, "direction"),))
        if directions is None:
            return MINIMIZE
        if isinstance(directions, str) or not isinstance(directions, Sequence):
            raise ConfigError(
                f"directions must be a list such as ['minimize', 'maximize'], one per "
                f"objective, not {directions!r}; for one objective use direction={directions!r}"
            )
        if not directions:
            raise ConfigError("directions is empty; give one direction per objective")
        return cls(tuple(_direction(d, f"directions[{i}]") for i, d in enumerate(directions)))

    @property
    def count(self) -> int:
        """How many objectives."""
        return len(self.directions)

    @property
    def several(self) -> bool:
        """Whether there is more than one objective (no single best trial then)."""
        return len(self.directions) > 1

    def minimised(self, values: Sequence[float]) -> tuple[float, ...]:
        """``values`` with every maximised objective negated: what ranking minimises."""
        return tuple(
            -value if direction == "maximize" else value
            for value, direction in zip(values, self.directions, strict=True)
        )

    def best(self, trials: Iterable[Trial]) -> Trial | None:
        """The best trial of a single-objective study (see the module docstring), or ``None``
        when no trial succeeded; always ``None`` with several objectives (see :meth:`front`)."""
        if self.several:
            return None
        return best_trial(trials, maximize=self.directions[0] == "maximize")

    def front(self, trials: Iterable[Trial]) -> list[Trial]:
        """The best trials: the Pareto front of the feasible successful trials, by id (while
        none is feasible, those of least violation). One objective: ``[best]`` or ``[]``."""
        if not self.several:
            best = self.best(trials)
            return [] if best is None else [best]
        done = [
            trial
            for trial in trials
            if trial.values is not None and len(trial.values) == len(self.directions)
        ]
        if not done:
            return []
        points = np.array([self.minimised(trial.values or ()) for trial in done])
        violations = np.array([trial.violation for trial in done])
        chosen = front_of(points, violations)
        return sorted((done[i] for i in chosen), key=lambda trial: trial.id)

    def describe(self) -> str:
        """The directions as a person reads them: ``minimize`` or ``[minimize, maximize]``."""
        if len(self.directions) == 1:
            return self.directions[0]
        return "[" + ", ".join(self.directions) + "]"


#: A single minimised objective: hyperopt's only kind, and the default.
MINIMIZE: Final = Objectives()


def _direction(value: object, where: str) -> str:
    if isinstance(value, str) and value.lower() in DIRECTIONS:
        return value.lower()
    raise ConfigError(f"{where} is {value!r}; use 'minimize' or 'maximize'")
