"""Argument checks, with one rule for every public entry point.

* :class:`TypeError` when the object is of the wrong kind: a string, ``None`` or a boolean
  where a number is needed, a float (``2.0``, ``nan``) where a count is needed.
* :class:`~asynchpo.ConfigError` (also a :class:`ValueError`) when the object is of the right
  kind and its value cannot work: negative, zero, NaN, infinite, out of range.

Every message is one line that names the argument, shows what was given (its ``repr``, cut
short, and its type) and says what to pass. Search spaces keep their own checks in ``hp``,
which raise :class:`~asynchpo.SpaceError` naming the label.
"""

from __future__ import annotations

import decimal
import math
import numbers
from collections.abc import Collection
from typing import TypeVar, overload

from asynchpo._exceptions import ConfigError

__all__ = ["flag", "given", "instance", "number", "one_of", "whole"]

T = TypeVar("T")


def given(value: object) -> str:
    """What was given, for a message: a short one-line ``repr`` and the type's name."""
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not hide the real error
        text = "<unprintable>"
    text = " ".join(text.split())  # one line, whatever the repr holds
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def _is_whole(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (
        isinstance(value, numbers.Real | decimal.Decimal)
        and not isinstance(value, bool)
        and not _is_numpy_bool(value)
    )


def _is_numpy_bool(value: object) -> bool:
    kind = type(value)
    return kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_")


@overload
def whole(
    name: str, value: object, *, at_least: int = ..., at_most: int | None = ..., hint: str = ...
) -> int: ...
@overload
def whole(
    name: str,
    value: object,
    *,
    at_least: int = ...,
    at_most: int | None = ...,
    allow_none: bool,
    hint: str = ...,
) -> int | None: ...
def whole(
    name: str,
    value: object,
    *,
    at_least: int = 0,
    at_most: int | None = None,
    allow_none: bool = False,
    hint: str = "",
) -> int | None:
    """``value`` as an ``int``: a whole number (``int``, a numpy integer) in
    ``[at_least, at_most]``, or ``None`` when ``allow_none``.

    :param hint: what the number is for, shown in parentheses in the message.
    :raises TypeError: for anything that is not a whole number (a bool, a float, a string).
    :raises ConfigError: for a whole number out of range.
    """
    if value is None and allow_none:
        return None
    what = f"a whole number >= {at_least}"
    if at_most is not None:
        what = f"a whole number in [{at_least}, {at_most}]"
    if allow_none:
        what += " or None"
    if hint:
        what += f" ({hint})"
    if not _is_whole(value):
        raise TypeError(f"{name} must be {what}, got {given(value)}")
    number_: int = int(value)  # type: ignore[call-overload]
    if number_ < at_least or (at_most is not None and number_ > at_most):
        raise ConfigError(f"{name} must be {what}, got {given(value)}")
    return number_


@overload
def number(
    name: str,
    value: object,
    *,
    positive: bool = ...,
    at_least: float | None = ...,
    at_most: float | None = ...,
    finite: bool = ...,
    hint: str = ...,
    fix: str = ...,
) -> float: ...
@overload
def number(
    name: str,
    value: object,
    *,
    positive: bool = ...,
    at_least: float | None = ...,
    at_most: float | None = ...,
    finite: bool = ...,
    allow_none: bool,
    hint: str = ...,
    fix: str = ...,
) -> float | None: ...
def number(
    name: str,
    value: object,
    *,
    positive: bool = False,
    at_least: float | None = None,
    at_most: float | None = None,
    finite: bool = True,
    allow_none: bool = False,
    hint: str = "",
    fix: str = "",
) -> float | None:
    """``value`` as a ``float``: a real number (``int``, ``float``, numpy scalars,
    ``Fraction``, ``Decimal``), never NaN, finite when ``finite``, ``> 0`` when ``positive``,
    in ``[at_least, at_most]``; or ``None`` when ``allow_none``.

    :param hint: the unit (``"seconds"``): "a positive number of seconds".
    :param fix: more on what to pass, shown in parentheses after the rule.
    :raises TypeError: for anything that is not a number (a bool, a string, ``None``).
    :raises ConfigError: for NaN, an infinity when ``finite``, or a number out of range.
    """
    if value is None and allow_none:
        return None
    noun = f"number of {hint}" if hint else "number"
    if positive and at_most is not None:
        what = f"a {noun} in (0, {at_most:g}]"
    elif positive:
        what = f"a positive {noun}"
    elif at_least is not None and at_most is not None:
        what = f"a {noun} in [{at_least:g}, {at_most:g}]"
    elif at_least is not None:
        what = f"a {noun} >= {at_least:g}"
    elif at_most is not None:
        what = f"a {noun} <= {at_most:g}"
    else:
        what = f"a {noun}"
    if allow_none:
        what += " or None"
    if fix:
        what += f" ({fix})"
    if not _is_number(value):
        raise TypeError(f"{name} must be {what}, got {given(value)}")
    overflow = False
    try:
        result = float(value)  # type: ignore[arg-type]
    except OverflowError:
        overflow = True  # an int too large for a float
        result = math.inf if value > 0 else -math.inf  # type: ignore[operator]
    except ValueError:  # Decimal('sNaN')
        result = math.nan
    if (
        math.isnan(result)
        or (finite and math.isinf(result))
        or (positive and not result > 0)
        or (at_least is not None and result < at_least)
        or (at_most is not None and result > at_most)
    ):
        why = ""
        if math.isnan(result):
            why = ", which is not a number"
        elif overflow:
            why = ", which is too large for a float"
        elif finite and math.isinf(result):
            why = ", which is not finite"
        raise ConfigError(f"{name} must be {what}, got {given(value)}{why}")
    return result


def flag(name: str, value: object) -> bool:
    """``value``, which must be ``True`` or ``False`` (a numpy bool is accepted).

    :raises TypeError: for anything else (``1``, ``"yes"``, ``None``).
    """
    if isinstance(value, bool) or _is_numpy_bool(value):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {given(value)}")


def one_of(name: str, value: T, options: Collection[T]) -> T:
    """``value``, which must be one of ``options`` (strings, such as ``'ei'``).

    :raises TypeError: when ``value`` is not of the options' type (a number for a name).
    :raises ConfigError: when it is of their type but none of them.
    """
    shown = [repr(option) for option in options]
    listed = " or ".join(shown) if len(shown) <= 2 else f"{', '.join(shown[:-1])} or {shown[-1]}"
    kinds = tuple({type(option) for option in options})
    if kinds and not isinstance(value, kinds):
        raise TypeError(f"{name} must be {listed}, got {given(value)}")
    if value not in options:
        raise ConfigError(f"{name} must be {listed}, got {given(value)}")
    return value


def instance(name: str, value: object, kind: type, what: str) -> None:
    """``value``, which must be a ``kind``; ``what`` says what to pass (``"a Pruner such as
    pruners.MedianPruner()"``).

    :raises TypeError: for anything else.
    """
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be {what}, got {given(value)}")
