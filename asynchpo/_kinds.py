"""The families of parameters and the sets they fall into, defined once for the whole package.

A leaf module (no imports from asynchpo), so that :mod:`asynchpo.hp`, :mod:`asynchpo._space`
and the suggesters can all use it.
"""

from __future__ import annotations

import enum

__all__ = [
    "CHOICE_KINDS",
    "INTEGER_KINDS",
    "LOG_KINDS",
    "NORMAL_KINDS",
    "QUANTIZED_KINDS",
    "Kind",
]


class Kind(enum.Enum):
    """The family of a parameter; values are hyperopt's names."""

    CHOICE = "choice"
    PCHOICE = "pchoice"
    RANDINT = "randint"
    UNIFORM = "uniform"
    QUNIFORM = "quniform"
    LOGUNIFORM = "loguniform"
    QLOGUNIFORM = "qloguniform"
    NORMAL = "normal"
    QNORMAL = "qnormal"
    LOGNORMAL = "lognormal"
    QLOGNORMAL = "qlognormal"
    UNIFORMINT = "uniformint"


#: Modelled in log space: the value is ``exp`` of a uniform or normal variable.
LOG_KINDS = frozenset({Kind.LOGUNIFORM, Kind.QLOGUNIFORM, Kind.LOGNORMAL, Kind.QLOGNORMAL})
#: With a normal prior (mu, sigma), unbounded.
NORMAL_KINDS = frozenset({Kind.NORMAL, Kind.QNORMAL, Kind.LOGNORMAL, Kind.QLOGNORMAL})
#: Rounded to a grid of step q.
QUANTIZED_KINDS = frozenset({Kind.QUNIFORM, Kind.QLOGUNIFORM, Kind.QNORMAL, Kind.QLOGNORMAL})
#: Evaluated as ``int`` (their bounds are whole numbers).
INTEGER_KINDS = frozenset({Kind.RANDINT, Kind.UNIFORMINT})
#: Choose among options; the point holds the option's index.
CHOICE_KINDS = frozenset({Kind.CHOICE, Kind.PCHOICE})
