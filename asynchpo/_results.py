"""Turning what an objective returned into a trial's outcome (hyperopt's result protocol).

Everything here is total: whatever an objective returns (numbers too large for a float,
objects whose ``repr``, ``__eq__`` or ``__float__`` raise, self-referencing or deeply nested
containers, text with lone surrogates) becomes a result that can be stored and read back, and
an error that is readable text. Nothing here raises from interpreting a value.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import traceback
from collections.abc import Mapping
from typing import Any, Final

import numpy as np

__all__ = [
    "STATUS_FAIL",
    "STATUS_OK",
    "Outcome",
    "clean_text",
    "error_text",
    "interpret",
    "json_safe",
    "safe_str",
]

STATUS_OK = "ok"
STATUS_FAIL = "fail"

#: How deep :func:`json_safe` follows containers; deeper ones are replaced by a note. JSON
#: readers recurse, so a stored result must stay well within any recursion limit.
MAX_DEPTH: Final = 100
#: The largest int kept as a number: any Python prints and reads it back whatever its limit
#: on int digits (``sys.set_int_max_str_digits`` takes no limit below 640; 2**2000 has 603).
_MAX_INT_BITS: Final = 2_000
#: How many values :func:`json_safe` copies in all; the rest become a note. Containers that
#: share parts (``x = [x, x]`` forty times) would otherwise unfold into 2**40 values.
MAX_VALUES: Final = 100_000
#: How much of a value's ``repr`` an error message shows.
_SHOWN: Final = 80


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What one evaluation produced: its values (success) or an error (failure), and the
    result. ``loss`` is the value of a single objective; with several it is ``None`` and the
    result's ``loss`` holds the list."""

    loss: float | None
    result: dict[str, Any]
    error: str | None
    values: tuple[float, ...] | None = None

    @property
    def ok(self) -> bool:
        return self.loss is not None or self.values is not None


def clean_text(text: str) -> str:
    """``text`` as valid Unicode that UTF-8 can encode: lone surrogates (from undecodable
    bytes in a file name, say) become backslash escapes such as ``\\udcff``."""
    try:
        if not str.isascii(text):
            str.encode(text, "utf-8")
    except UnicodeEncodeError:
        return str.encode(text, "utf-8", "backslashreplace").decode("utf-8")
    return text if type(text) is str else str.__str__(text)


def _type_name(value: object) -> str:
    try:
        name = type(value).__name__
        return name if type(name) is str else "object"
    except Exception:
        return "object"


def _int_digits(value: int) -> int:
    """About how many decimal digits ``value`` has (without printing it)."""
    return max(1, math.ceil(int.bit_length(value) * math.log10(2)))


def _shown(value: object, width: int | None = _SHOWN) -> str:
    """``repr(value)``, clipped to ``width``, or a note when it cannot be printed; never raises."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, int) and int.bit_length(value) > _MAX_INT_BITS:
        return f"<an int of about {_int_digits(value)} digits>"
    try:
        text = clean_text(repr(value))
    except Exception:
        return f"<unprintable {_type_name(value)}>"
    if width is not None and len(text) > width:
        note = f" (an int of {len(text.lstrip('-'))} digits)" if is_int else ""
        text = f"{text[:width]}...{note}"
    return text


def safe_str(value: object) -> str:
    """``str(value)`` as clean text, or its :func:`_shown` form when that raises."""
    try:
        text = value if isinstance(value, str) else str(value)
        return clean_text(str.__str__(text))
    except Exception:
        return _shown(value, None)


def error_text(exception: BaseException) -> str:
    """The traceback of ``exception`` as clean text; never raises, whatever it holds."""
    try:
        return clean_text("".join(traceback.format_exception(exception)).rstrip())
    except Exception as exc:
        # Formatting reads source lines through the objective's module loader, which may raise.
        why = f"(its traceback could not be formatted: {_type_name(exc)}: {safe_str(exc)})"
    try:
        only = "".join(traceback.format_exception_only(exception)).rstrip()
    except Exception:
        only = f"{_type_name(exception)}: {safe_str(exception)}"
    return clean_text(f"{only}\n{why}")


def json_safe(value: Any) -> Any:
    """``value`` with everything JSON cannot hold replaced, so that any result can be stored.

    numpy scalars and arrays become Python numbers and lists, tuples become lists, NaN and
    infinities become the strings ``"nan"``, ``"inf"`` and ``"-inf"``, mapping keys become
    strings, and any other object becomes its ``repr`` (``<unprintable T>`` when that raises);
    lone surrogates in text become backslash escapes (see :func:`clean_text`).
    An int too large to print, a container holding itself, one nested more than
    :data:`MAX_DEPTH` deep and the containers after the first :data:`MAX_VALUES` values
    become a note in a string. Never raises.
    """
    return _Copy().value(value, 0)


class _Copy:
    """One :func:`json_safe` walk: the containers on the current path and the values left."""

    def __init__(self) -> None:
        self.active: set[int] = set()
        self.left = MAX_VALUES

    def value(self, value: Any, depth: int) -> Any:
        try:
            if value is None or isinstance(value, bool):
                return value
            if isinstance(value, str):
                return clean_text(value)
            if isinstance(value, int):
                return value if int.bit_length(value) <= _MAX_INT_BITS else _shown(value)
            if isinstance(value, float):
                return value if math.isfinite(value) else float.__repr__(value)
            if isinstance(value, np.generic):
                item = value.item()
                if isinstance(item, np.generic):
                    # No Python type holds it (np.longdouble): a float if it fits, else its text.
                    number = float(item) if isinstance(item, np.floating) else math.nan
                    return number if math.isfinite(number) else safe_str(item)
                return self.value(item, depth)
            if not isinstance(value, np.ndarray | Mapping | list | tuple):
                return _shown(value, None)
            return self.container(value, depth)
        except Exception:
            return _shown(value, None)

    def container(self, value: Any, depth: int) -> Any:
        if depth >= MAX_DEPTH:
            return f"<{_type_name(value)} nested more than {MAX_DEPTH} deep>"
        if id(value) in self.active:
            return f"<a reference to the {_type_name(value)} that holds it>"
        if self.left <= 0:
            return f"<{_type_name(value)} left out: the result holds more than {MAX_VALUES} values>"
        self.active.add(id(value))
        try:
            if isinstance(value, np.ndarray):
                if value.size > self.left:
                    return (
                        f"<{value.dtype} array of shape {value.shape} left out: "
                        f"the result holds more than {MAX_VALUES} values>"
                    )
                return self.value(value.tolist(), depth)
            self.left -= len(value)
            if isinstance(value, Mapping):
                return {_key(key): self.value(item, depth + 1) for key, item in value.items()}
            return [self.value(item, depth + 1) for item in value]
        finally:
            self.active.discard(id(value))


def _key(key: object) -> str:
    return key if type(key) is str else safe_str(key)


def _as_loss(value: Any) -> tuple[float | None, str]:
    """A finite float, or None and why not, when ``value`` is not one."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None, ""
    try:
        loss = float(value)
    except OverflowError:
        return None, " (too large for a float)"
    except Exception as exc:
        return None, f" (float() of it raised {_type_name(exc)}: {safe_str(exc):.{_SHOWN}})"
    return (loss, "") if math.isfinite(loss) else (None, "")


def _is(status: object, expected: str) -> bool:
    """``status == expected`` for text only: an object's own ``__eq__`` is never called."""
    return isinstance(status, str) and str.__eq__(status, expected) is True


_FIX = "return a finite number, or {'loss': <finite number>, 'status': STATUS_OK}"


def interpret(value: Any, objectives: int = 1) -> Outcome:
    """Read an objective's return value the way hyperopt does.

    A number is the loss. A dict carries ``loss`` and ``status`` (``'ok'`` when missing) and
    any extra keys, which are kept. An ``ok`` result without a finite loss, an unknown status
    or any other kind of value is a failed trial whose error says why. Never raises: a value
    that cannot be read at all (a mapping whose methods raise) is a failed trial too.

    With several ``objectives``, the loss is a list of that many finite numbers (a bare list
    or tuple returned is the loss). A result may carry ``constraints``, a list of finite
    numbers (feasible when every one is ``<= 0``), with any number of objectives; a bad one
    fails the trial.
    """
    try:
        outcome = _interpret(value) if objectives == 1 else _interpret_several(value, objectives)
        return outcome if not outcome.ok else _with_constraints(outcome, value)
    except Exception as exc:
        return Outcome(
            None,
            {"status": STATUS_FAIL},
            f"the objective returned {_type_name(value)} {_shown(value)}, which cannot be read "
            f"({_type_name(exc)}: {safe_str(exc):.{_SHOWN}}); {_FIX}",
        )


def _interpret(value: Any) -> Outcome:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        loss, why = _as_loss(value)
        if loss is None:
            return Outcome(
                None,
                {"loss": json_safe(value), "status": STATUS_FAIL},
                f"the objective returned {_shown(value)}{why}; {_FIX}",
            )
        return Outcome(loss, {"loss": loss, "status": STATUS_OK}, None)
    if not isinstance(value, Mapping):
        return Outcome(
            None,
            {"status": STATUS_FAIL},
            f"the objective returned {_type_name(value)} {_shown(value)}; {_FIX}",
        )
    result = json_safe(value)
    if not isinstance(result, dict):
        dict(value.items())  # json_safe could not read its items: raise why, for the error
        raise TypeError(f"its items cannot be read: {result}")
    status = value.get("status", STATUS_OK)
    if _is(status, STATUS_FAIL):
        result["status"] = STATUS_FAIL
        return Outcome(
            None, result, safe_str(value.get("error", "the objective returned status 'fail'"))
        )
    if not _is(status, STATUS_OK):
        result["status"] = STATUS_FAIL
        return Outcome(
            None,
            result,
            f"the objective returned status {_shown(status)}; "
            "use STATUS_OK ('ok') or STATUS_FAIL ('fail')",
        )
    loss, why = _as_loss(value.get("loss"))
    if loss is None:
        result["status"] = STATUS_FAIL
        if "loss" not in value:
            return Outcome(None, result, f"the objective's result has no 'loss'; {_FIX}")
        return Outcome(
            None,
            result,
            f"the objective returned loss {_shown(value['loss'])} with status 'ok'{why}; {_FIX}",
        )
    result["loss"] = loss
    result["status"] = STATUS_OK
    return Outcome(loss, result, None)


def _fix_several(count: int) -> str:
    losses = ", ".join(f"<loss {i + 1}>" for i in range(count))
    return (
        f"this study has {count} objectives: return [{losses}], or "
        f"{{'loss': [{losses}], 'status': STATUS_OK}}"
    )


def _interpret_several(value: Any, count: int) -> Outcome:
    """:func:`_interpret` for a study of ``count`` objectives."""
    if isinstance(value, list | tuple):
        value = {"loss": list(value), "status": STATUS_OK}
    if not isinstance(value, Mapping):
        return Outcome(
            None,
            {"status": STATUS_FAIL},
            f"the objective returned {_type_name(value)} {_shown(value)}; {_fix_several(count)}",
        )
    outcome = _interpret({**value, "loss": 0.0} if "loss" in value else value)
    if not outcome.ok:
        # A failure, a bad status or no loss at all: as with one objective.
        if "loss" in value and "loss" in outcome.result:
            outcome.result["loss"] = json_safe(value["loss"])
        return outcome
    result = outcome.result
    losses = value["loss"]
    if not isinstance(losses, list | tuple):
        result["status"] = STATUS_FAIL
        result["loss"] = json_safe(losses)
        return Outcome(
            None, result, f"the objective returned loss {_shown(losses)}; {_fix_several(count)}"
        )
    if len(losses) != count:
        result["status"] = STATUS_FAIL
        result["loss"] = json_safe(list(losses))
        return Outcome(
            None,
            result,
            f"the objective returned {len(losses)} loss{'' if len(losses) == 1 else 'es'} "
            f"{_shown(list(losses))}; "
            f"{_fix_several(count)}",
        )
    values: list[float] = []
    for index, item in enumerate(losses):
        number, why = _as_loss(item)
        if number is None:
            result["status"] = STATUS_FAIL
            result["loss"] = json_safe(list(losses))
            return Outcome(
                None,
                result,
                f"the objective's loss {index + 1} of {count} is {_shown(item)}{why}, not a "
                f"finite number; {_fix_several(count)}",
            )
        values.append(number)
    result["loss"] = values
    return Outcome(None, result, None, tuple(values))


_FIX_CONSTRAINTS = (
    "return constraints as a list of finite numbers, e.g. {'loss': ..., 'constraints': "
    "[latency_ms - 50]}: a trial is feasible when every one is <= 0"
)


def _with_constraints(outcome: Outcome, value: Any) -> Outcome:
    """A successful outcome with its ``constraints`` checked (and made floats), or failed
    with why they cannot be read; ``value``: what the objective returned (the result holds
    a JSON-safe copy, where a NaN is already text)."""
    result = outcome.result
    if "constraints" not in result:
        return outcome
    given = value["constraints"] if isinstance(value, Mapping) else result["constraints"]
    if isinstance(given, tuple):
        given = list(given)
    problem = None
    if not isinstance(given, list):
        problem = f"the constraints are {_shown(given)}, not a list"
    else:
        checked: list[float] = []
        for index, item in enumerate(given):
            number, why = _as_loss(item)
            if number is None:
                problem = f"constraint {index + 1} is {_shown(item)}{why}, not a finite number"
                break
            checked.append(number)
        else:
            result["constraints"] = checked
            return outcome
    result["status"] = STATUS_FAIL
    return Outcome(None, result, f"the objective's {problem}; {_FIX_CONSTRAINTS}")
