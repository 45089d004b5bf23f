"""Templates: the user's structure compiled into small builders, so that evaluating a point
(``space_eval``, the objective's parameters) is cheap; and the one walker over them."""

from __future__ import annotations

import copy
import decimal
import math
import numbers
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from asynchpo._exceptions import SpaceError

# A point's value must sit on its q grid up to this relative error: values that went through
# JSON or another process's arithmetic are not always bit-exact multiples of q.
_GRID_TOLERANCE = 1e-9


# --- space_eval: a tree of small builders, compiled once so evaluating a point is cheap ---------


class _Template:
    """Rebuilds one part of the user's structure from a point."""

    __slots__ = ()

    def build(self, point: Mapping[str, object]) -> object:
        raise NotImplementedError


class _Const(_Template):
    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def build(self, point: Mapping[str, object]) -> object:
        return self.value


def _lookup(label: str, point: Mapping[str, object]) -> object:
    try:
        return point[label]
    except KeyError:
        raise SpaceError(
            f"label {label!r} is active but missing from the point; "
            "give a value for every active label"
        ) from None


def _number(label: str, raw: object) -> float:
    """``raw`` as a finite float, or a SpaceError naming the label."""
    # The exact-type test is the common case and skips the slower ABC check.
    if type(raw) is float or type(raw) is int:
        value = float(raw)
    elif isinstance(raw, bool) or not isinstance(raw, numbers.Real):
        raise SpaceError(f"label {label!r}: expected a number, got {raw!r}")
    else:
        value = float(raw)
    if not math.isfinite(value):
        raise SpaceError(f"label {label!r}: expected a finite number, got {raw!r}")
    return value


def _whole(label: str, raw: object) -> int:
    value = _number(label, raw)
    nearest = round(value)
    if abs(value - nearest) > _GRID_TOLERANCE * max(1.0, abs(value)):
        raise SpaceError(f"label {label!r}: expected a whole number, got {raw!r}")
    return nearest


class _Value(_Template):
    __slots__ = ("integer", "label")

    def __init__(self, label: str, integer: bool) -> None:
        self.label = label
        self.integer = integer

    def build(self, point: Mapping[str, object]) -> object:
        raw = _lookup(self.label, point)
        if self.integer:
            return _whole(self.label, raw)
        return _number(self.label, raw)


def _scalar(value: object) -> bool:
    return isinstance(value, (numbers.Real, decimal.Decimal)) and not isinstance(
        value, (bool, np.bool_)
    )


def _switch(index: object, *options: object) -> object:  # pragma: no cover - never called
    raise AssertionError("switch is evaluated lazily by _Call.build")


# What each expression computes from its evaluated arguments (see asynchpo.hp.Apply).
_FUNCTIONS: dict[str, Callable[..., object]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "pow": operator.pow,
    "neg": operator.neg,
    "pos": operator.pos,
    "abs": abs,
    "int": int,
    "float": float,
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "minimum": min,
    "maximum": max,
    "switch": _switch,
}
# The conversions that scope.int and scope.float always were; other functions are expressions,
# described under the parameters they use (see _expressions).
_CONVERSIONS = frozenset({"int", "float"})


class _Call(_Template):
    """An expression (``scope.int``, ``10 ** x``, ``scope.switch``, ...) of parts of the space."""

    __slots__ = ("args", "function", "name", "text")

    def __init__(self, name: str, args: tuple[_Template, ...], text: str) -> None:
        self.name = name
        self.args = args
        self.function = _FUNCTIONS[name]
        self.text = text  # the expression as the user wrote it, for messages

    def build(self, point: Mapping[str, object]) -> object:
        if self.name == "switch":
            return self._switch(point)
        values = [t.build(point) for t in self.args]
        if self.name not in _CONVERSIONS:
            for value in values:
                if not _scalar(value):
                    raise SpaceError(
                        f"{self.text}: expected numbers, got {value!r}; arithmetic and scope "
                        "functions apply to numeric parameters"
                    )
        try:
            return self.function(*values)
        except Exception as exc:  # a math domain error, a division by zero, an overflow
            shown = ", ".join(map(repr, values))
            raise SpaceError(
                f"{self.text} failed for the value(s) {shown}: {type(exc).__name__}: {exc}"
            ) from exc

    def _switch(self, point: Mapping[str, object]) -> object:
        raw = self.args[0].build(point)
        options = self.args[1:]
        index = raw if type(raw) is int else None
        if index is None and _scalar(raw):
            as_float = float(raw)  # type: ignore[arg-type]
            index = int(as_float) if as_float.is_integer() else None
        if index is None or not 0 <= index < len(options):
            raise SpaceError(
                f"{self.text}: the index {raw!r} is not an option index; expected a whole "
                f"number from 0 to {len(options) - 1}"
            )
        return options[index].build(point)


class _Select(_Template):
    __slots__ = ("label", "options")

    def __init__(self, label: str, options: tuple[_Template, ...]) -> None:
        self.label = label
        self.options = options

    def build(self, point: Mapping[str, object]) -> object:
        raw = _lookup(self.label, point)
        index = raw if type(raw) is int else _whole(self.label, raw)
        # A negative index would silently pick from the end of the list.
        if not 0 <= index < len(self.options):
            raise SpaceError(
                f"label {self.label!r}: {raw!r} is not an option index; "
                f"expected 0 to {len(self.options) - 1}"
            )
        return self.options[index].build(point)


class _Dict(_Template):
    __slots__ = ("items", "proto")

    def __init__(self, proto: dict[Any, Any] | None, items: tuple[tuple[Any, _Template], ...]):
        self.proto = proto  # the user's dict when it is a subclass, to copy its type
        self.items = items

    def build(self, point: Mapping[str, object]) -> object:
        if self.proto is None:
            return {key: t.build(point) for key, t in self.items}
        # copy.copy keeps the subclass and its state (a defaultdict's factory, say).
        out = copy.copy(self.proto)
        for key, t in self.items:
            out[key] = t.build(point)
        return out


class _List(_Template):
    __slots__ = ("items", "proto")

    def __init__(self, proto: list[Any] | None, items: tuple[_Template, ...]) -> None:
        self.proto = proto
        self.items = items

    def build(self, point: Mapping[str, object]) -> object:
        values = [t.build(point) for t in self.items]
        if self.proto is None:
            return values
        out = copy.copy(self.proto)
        out[:] = values
        return out


class _Tuple(_Template):
    __slots__ = ("cls", "items")

    def __init__(self, cls: type[tuple[Any, ...]], items: tuple[_Template, ...]) -> None:
        self.cls = cls
        self.items = items

    def build(self, point: Mapping[str, object]) -> object:
        values = [t.build(point) for t in self.items]
        if self.cls is tuple:
            return tuple(values)
        cls: Any = self.cls
        if hasattr(cls, "_fields"):  # a namedtuple takes its fields positionally
            return cls(*values)
        return cls(values)


def _children(t: _Template) -> tuple[_Template, ...]:
    """The templates directly inside ``t``."""
    if isinstance(t, _Select):
        return t.options
    if isinstance(t, _Dict):
        return tuple(child for _, child in t.items)
    if isinstance(t, (_List, _Tuple)):
        return t.items
    if isinstance(t, _Call):
        return t.args
    return ()


def _choices(root: _Template) -> dict[str, _Select]:
    """Every choice in a template tree, by label (a shared one is walked once)."""
    found: dict[str, _Select] = {}
    stack = [root]
    while stack:
        t = stack.pop()
        if isinstance(t, _Select):
            if t.label in found:
                continue
            found[t.label] = t
        stack.extend(_children(t))
    return found
