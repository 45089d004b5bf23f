"""Turning what an objective returned into a trial's outcome (hyperopt's result protocol)."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["STATUS_FAIL", "STATUS_OK", "Outcome", "interpret", "json_safe"]

STATUS_OK = "ok"
STATUS_FAIL = "fail"


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What one evaluation produced: a loss (success) or an error (failure), and the result."""

    loss: float | None
    result: dict[str, Any]
    error: str | None

    @property
    def ok(self) -> bool:
        return self.loss is not None


def json_safe(value: Any) -> Any:
    """``value`` with everything JSON cannot hold replaced, so that any result can be stored.

    numpy scalars and arrays become Python numbers and lists, tuples become lists, NaN and
    infinities become the strings ``"nan"``, ``"inf"`` and ``"-inf"``, mapping keys become
    strings, and any other object becomes its ``repr``.
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return repr(value)


def _as_loss(value: Any) -> float | None:
    """A finite float, or None when ``value`` is not one."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    loss = float(value)
    return loss if math.isfinite(loss) else None


_FIX = "return a finite number, or {'loss': <finite number>, 'status': STATUS_OK}"


def interpret(value: Any) -> Outcome:
    """Read an objective's return value the way hyperopt does.

    A number is the loss. A dict carries ``loss`` and ``status`` (``'ok'`` when missing) and
    any extra keys, which are kept. An ``ok`` result without a finite loss, an unknown status
    or any other kind of value is a failed trial whose error says why.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        loss = _as_loss(value)
        if loss is None:
            return Outcome(
                None,
                {"loss": json_safe(value), "status": STATUS_FAIL},
                f"the objective returned {value!r}; {_FIX}",
            )
        return Outcome(loss, {"loss": loss, "status": STATUS_OK}, None)
    if not isinstance(value, Mapping):
        return Outcome(
            None,
            {"status": STATUS_FAIL},
            f"the objective returned {type(value).__name__} {value!r:.80}; {_FIX}",
        )
    result = json_safe(value)
    status = value.get("status", STATUS_OK)
    if status == STATUS_FAIL:
        result["status"] = STATUS_FAIL
        return Outcome(
            None, result, str(value.get("error", "the objective returned status 'fail'"))
        )
    if status != STATUS_OK:
        result["status"] = STATUS_FAIL
        return Outcome(
            None,
            result,
            f"the objective returned status {status!r}; "
            "use STATUS_OK ('ok') or STATUS_FAIL ('fail')",
        )
    loss = _as_loss(value.get("loss"))
    if loss is None:
        result["status"] = STATUS_FAIL
        if "loss" not in value:
            return Outcome(None, result, f"the objective's result has no 'loss'; {_FIX}")
        return Outcome(
            None,
            result,
            f"the objective returned loss {value['loss']!r:.80} with status 'ok'; {_FIX}",
        )
    result["loss"] = loss
    result["status"] = STATUS_OK
    return Outcome(loss, result, None)
