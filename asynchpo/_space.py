"""Compiled search spaces: a user's tree of ``hp`` nodes turned into flat, numeric rows.

:func:`compile_space` walks the user's structure once and produces a :class:`Space`: one
:class:`Param` per label, in an order where every conditional parameter comes after the choices
that switch it on. Suggesters then work on *rows*: float64 vectors with one column per parameter
and ``NaN`` where a parameter is inactive. A row holds

* the option index for ``choice``/``pchoice`` and the integer itself for ``randint``,
* the value itself for every numeric kind (``3.0`` for ``uniformint``),

which is exactly hyperopt's argmin format, so :meth:`Space.to_point` and :meth:`Space.to_row`
only translate between a vector and a dict. :meth:`Space.evaluate` (``space_eval``) rebuilds the
user's structure from a point.

:meth:`Space.describe` is a JSON-able summary stored with a study, so a resumed study can check
that its space did not change (:attr:`Space.fingerprint`) and say what did
(:func:`describe_difference`).
"""

from __future__ import annotations

import copy
import enum
import hashlib
import heapq
import json
import math
import numbers
import reprlib
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from asynchpo._exceptions import SpaceError
from asynchpo.hp import Apply, Choice, Node, Numeric, PChoice, _format_number

__all__ = [
    "Kind",
    "Param",
    "Space",
    "compile_space",
    "describe_difference",
    "space_eval",
]

Rows = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

# A point's value must sit on its q grid up to this relative error: values that went through
# JSON or another process's arithmetic are not always bit-exact multiples of q.
_GRID_TOLERANCE = 1e-9
# The same slack for bounds, relative to the scale of the range: a user who writes
# loguniform('lr', math.log(1e-5), 0) and then suggests lr=1e-5 must not be refused because
# exp(log(1e-5)) is not exactly 1e-5.
_BOUND_TOLERANCE = 1e-9
# Space.support lists at most this many values unless given a limit.
MAX_SUPPORT = 100_000
# Suggesters model a randint of more values than this as ordinal (see as_modelled); one of fewer
# stays categorical, with a weight per value. With TPE (100-250 evaluations, 10-20 seeds) the
# two found the same best values up to 256 values; from 300 on the ordinal model was better
# on ordered losses, as good on a loss that is random per value, and 5-20 times faster.
MAX_CATEGORIES = 256


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


_LOG = frozenset({Kind.LOGUNIFORM, Kind.QLOGUNIFORM, Kind.LOGNORMAL, Kind.QLOGNORMAL})
_NORMAL = frozenset({Kind.NORMAL, Kind.QNORMAL, Kind.LOGNORMAL, Kind.QLOGNORMAL})
_QUANTIZED = frozenset({Kind.QUNIFORM, Kind.QLOGUNIFORM, Kind.QNORMAL, Kind.QLOGNORMAL})
_INTEGER = frozenset({Kind.RANDINT, Kind.UNIFORMINT})
_CHOICE_KINDS = frozenset({Kind.CHOICE.value, Kind.PCHOICE.value})


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a compiled space, with what suggesters need to model it.

    :param label: the parameter's label.
    :param kind: its family.
    :param column: its column in a row.
    :param parents: ``()`` if always active; otherwise it is active iff any
        ``(parent_column, option_index)`` holds, with that parent itself active.
    :param args: the user's arguments: ``(low, high[, q])``, ``(mu, sigma[, q])``, ``(low, high)``
        for randint, the probabilities for pchoice, ``()`` for choice.
    :param categorical: True for choice, pchoice and randint.
    :param n_options: the number of options of a categorical parameter (randint: high - low).
    :param probs: pchoice's prior probabilities, normalized to sum to 1; None otherwise.
    :param offset: randint's low: the row value is ``offset + option index``; 0 otherwise.
    :param log: True when the parameter is modelled in log space.
    :param q: the quantum of a quantized kind (1.0 for uniformint); None otherwise.
    :param low: the lower bound of the underlying continuous variable in modelling space (log
        space when ``log``), before quantization; -inf for normal kinds; 0 for categorical.
    :param high: the upper bound likewise; inf for normal kinds; ``n_options`` for categorical.
    :param mu: the prior's centre in modelling space (uniform kinds: the middle of the range).
    :param sigma: the prior's scale in modelling space (uniform kinds: the width of the range).
    :param integer: True when ``space_eval`` makes the value an ``int`` (randint, uniformint).
    """

    label: str
    kind: Kind
    column: int
    parents: tuple[tuple[int, int], ...]
    args: tuple[float, ...]
    categorical: bool
    n_options: int
    probs: tuple[float, ...] | None
    offset: int
    log: bool
    q: float | None
    low: float
    high: float
    mu: float
    sigma: float
    integer: bool


def _make_param(node: Node, column: int, parents: tuple[tuple[int, int], ...]) -> Param:
    """The :class:`Param` of one node, with every derived field filled in."""
    label = node.label
    if isinstance(node, Choice):
        return _categorical(label, Kind.CHOICE, column, parents, (), len(node.options))
    if isinstance(node, PChoice):
        total = math.fsum(node.probs)
        probs = tuple(p / total for p in node.probs)
        n = len(node.options)
        return _categorical(label, Kind.PCHOICE, column, parents, node.probs, n, probs=probs)
    if not isinstance(node, Numeric):
        raise SpaceError(
            f"{type(node).__name__} {label!r} is not a parameter; build parameters with the "
            "functions of asynchpo.hp, e.g. hp.uniform('x', 0, 1)"
        )
    kind = Kind(node.kind)
    args = node.args
    if kind is Kind.RANDINT:
        low, high = int(args[0]), int(args[1])
        return _categorical(label, kind, column, parents, args, high - low, offset=low)
    if kind in _NORMAL:
        lo, hi, mu, sigma = -math.inf, math.inf, args[0], args[1]
    else:
        lo, hi = args[0], args[1]
        # lo / 2 + hi / 2: the sum of two large bounds may overflow where their mean does not.
        mu, sigma = lo / 2.0 + hi / 2.0, hi - lo
    return Param(
        label=label,
        kind=kind,
        column=column,
        parents=parents,
        args=args,
        categorical=False,
        n_options=0,
        probs=None,
        offset=0,
        log=kind in _LOG,
        q=args[2] if kind in _QUANTIZED else (1.0 if kind is Kind.UNIFORMINT else None),
        low=lo,
        high=hi,
        mu=mu,
        sigma=sigma,
        integer=kind in _INTEGER,
    )


def _categorical(
    label: str,
    kind: Kind,
    column: int,
    parents: tuple[tuple[int, int], ...],
    args: tuple[float, ...],
    n: int,
    *,
    probs: tuple[float, ...] | None = None,
    offset: int = 0,
) -> Param:
    return Param(
        label=label,
        kind=kind,
        column=column,
        parents=parents,
        args=args,
        categorical=True,
        n_options=n,
        probs=probs,
        offset=offset,
        log=False,
        q=None,
        low=0.0,
        high=float(n),
        mu=0.0,
        sigma=1.0,
        integer=kind in _INTEGER,
    )


def _signature(kind: str, args: Sequence[float], n_options: int | None) -> str:
    """How a parameter reads in messages: ``loguniform(-9, -1)``, ``choice(3 options)``."""
    if kind == Kind.CHOICE.value:
        return f"choice({n_options} options)"
    return f"{kind}({', '.join(_format_number(a) for a in args)})"


def _param_signature(p: Param) -> str:
    return _signature(p.kind.value, p.args, p.n_options)


def as_modelled(p: Param) -> Param:
    """``p`` as the suggesters model it.

    A randint of more than :data:`MAX_CATEGORIES` values becomes ordinal, as Optuna treats
    integers: a numeric parameter over ``[low - 0.5, high - 0.5]`` with ``q=1``, so that a
    density over the range, rounded by :meth:`Space.snap`, gives each integer the same prior
    mass. A per-value model would cost memory and time in proportion to the range (2**62
    values). Other parameters are returned as they are.
    """
    if p.kind is not Kind.RANDINT or p.n_options <= MAX_CATEGORIES:
        return p
    low, high = p.offset - 0.5, p.offset + p.n_options - 0.5
    return replace(
        p, categorical=False, q=1.0, low=low, high=high, mu=(low + high) / 2, sigma=high - low
    )


def _inward(bound: int, direction: float) -> float:
    """The float nearest ``bound`` in ``direction`` (+1: up, -1: down) that does not pass it."""
    x = float(bound)
    if (x < bound) if direction > 0 else (x > bound):
        x = math.nextafter(x, direction * math.inf)
    return x


def _value_bounds(p: Param) -> tuple[float, float]:
    """The smallest and largest value a row may hold for ``p``, before quantization."""
    if p.categorical:
        # Rounded inward: float(2**62 - 1) is 2**62, so a row clipped to the nearest float
        # would hold an integer outside randint's range.
        return _inward(p.offset, 1.0), _inward(p.offset + p.n_options - 1, -1.0)
    if p.log:
        # exp(-inf) = 0 gives lognormal its natural lower bound.
        return math.exp(p.low), math.exp(p.high)
    return p.low, p.high


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


class _Apply(_Template):
    """``scope.int`` / ``scope.float`` of a part of the space."""

    __slots__ = ("convert", "inner", "name")

    def __init__(self, name: str, inner: _Template) -> None:
        self.name = name
        self.inner = inner
        self.convert: Callable[[Any], object] = int if name == "int" else float

    def build(self, point: Mapping[str, object]) -> object:
        value = self.inner.build(point)
        try:
            return self.convert(value)
        except (TypeError, ValueError) as exc:
            raise SpaceError(f"scope.{self.name} cannot convert {value!r}: {exc}") from exc


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


# --- describing options: each option's structure as canonical JSON, for the fingerprint ---------

# The keys of the tagged dicts that stand for what JSON has no value for. A user's dict that has
# one of them as a key is tagged too ({"dict": {...}}), so no rendering reads two ways.
_TAGS = frozenset(
    {
        "class",
        "dict",
        "enum",
        "float",
        "function",
        "list",
        "module",
        "object",
        "param",
        "tuple",
        "type",
    }
)


# Ints longer than this have no decimal text in Python 3.11 (4,300 digits by default).
_HUGE_INT_BITS = 13_000


def _dotted(obj: object) -> str | None:
    """``module.qualname`` of a class or function (never a repr: no memory addresses)."""
    try:
        name = getattr(obj, "__qualname__", None)
        if not isinstance(name, str):
            name = getattr(obj, "__name__", None)
        module = getattr(obj, "__module__", None)
    except Exception:  # an object whose attribute lookup misbehaves is described by its type
        return None
    if not isinstance(name, str):
        return None
    return f"{module}.{name}" if isinstance(module, str) and module else name


def _type_name(cls: type) -> str:
    return _dotted(cls) or cls.__name__


def _render(value: object) -> object:
    """A constant as JSON that is the same in every process and names what it is.

    JSON scalars stay themselves (numpy scalars become their Python value); a non-finite float,
    a member of an enum, a class, a function or a module is tagged by name; any other object by
    its type alone.
    """
    if isinstance(value, enum.Enum):  # before str and int: StrEnum and IntEnum members
        return {"enum": f"{_type_name(type(value))}.{value.name}"}
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)  # a plain str, also for subclasses
    if isinstance(value, int):
        number = int(value)
        if number.bit_length() > _HUGE_INT_BITS:  # json.dumps would raise: by its hex digits
            return {"object": "builtins.int", "hex": hex(number)}
        return number
    if isinstance(value, float):
        x = float(value)
        return x if math.isfinite(x) else {"float": repr(x)}
    if isinstance(value, np.generic):
        item = value.item()
        if not isinstance(item, np.generic):
            return _render(item)
    elif isinstance(value, tuple):  # only met as a dict key or inside a numpy record
        return _sequence("tuple", type(value), [_render(v) for v in value])
    elif isinstance(value, list):
        return _sequence("list", type(value), [_render(v) for v in value])
    if isinstance(value, type):
        return {"class": _type_name(value)}
    if isinstance(value, types.ModuleType):
        return {"module": value.__name__}
    if callable(value):
        name = _dotted(value)
        if name is not None:
            return {"function": name}
    return {"object": _type_name(type(value))}


def _sequence(tag: str, cls: type, items: list[object]) -> object:
    """A list as itself, a tuple as ``{"tuple": [...]}``; a subclass also names its type."""
    if tag == "list" and cls is list:
        return items
    out: dict[str, object] = {tag: items}
    if cls is not list and cls is not tuple:
        out["type"] = _type_name(cls)
    return out


def _key_text(key: object) -> str:
    """A dict key as a string: itself if it is one, else its repr if that is plain, else JSON."""
    if isinstance(key, str) and not isinstance(key, enum.Enum):
        return str.__str__(key)
    if _plain(key):
        return repr(key)
    return _canonical(_render(key))


def _is_text(key: object) -> bool:
    return isinstance(key, str) and not isinstance(key, enum.Enum)


def _plain(key: object) -> bool:
    """True for values whose repr is the same in every process: scalars and tuples of them."""
    if type(key) is int and key.bit_length() > _HUGE_INT_BITS:
        return False  # repr() would raise
    if key is None or type(key) in (bool, int, float, str):
        return True
    return type(key) is tuple and all(_plain(k) for k in key)


def _mapping(cls: type, pairs: list[tuple[object, object]]) -> object:
    """A dict's rendering from its keys and its values' renderings."""
    texts = [_key_text(key) for key, _ in pairs]
    body: object = dict(zip(texts, (value for _, value in pairs), strict=True))
    if cls is dict and _TAGS.isdisjoint(texts) and all(_is_text(k) for k, _ in pairs):
        return body
    if len(set(texts)) < len(texts):  # e.g. the keys 1 and "1": keep them apart as pairs
        body = sorted(([_render(k), v] for k, v in pairs), key=lambda kv: _canonical(kv[0]))
    out: dict[str, object] = {"dict": body}
    if cls is not dict:
        out["type"] = _type_name(cls)
    return out


def _shape(template: _Template) -> object:
    """The rendering of one option: constants by :func:`_render`, nodes as ``{"param": label}``."""
    if isinstance(template, _Const):
        return _render(template.value)
    if isinstance(template, (_Value, _Select)):
        return {"param": template.label}
    if isinstance(template, _Dict):
        mapping: type = dict if template.proto is None else type(template.proto)
        return _mapping(mapping, [(key, _shape(t)) for key, t in template.items])
    if isinstance(template, _List):
        sequence: type = list if template.proto is None else type(template.proto)
        return _sequence("list", sequence, [_shape(t) for t in template.items])
    if isinstance(template, _Tuple):
        return _sequence("tuple", template.cls, [_shape(t) for t in template.items])
    if isinstance(template, _Apply):
        return {"scope": template.name, "of": _shape(template.inner)}
    raise TypeError(f"unknown template {template!r}")  # pragma: no cover


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
            stack.extend(t.options)
        elif isinstance(t, _Dict):
            stack.extend(child for _, child in t.items)
        elif isinstance(t, (_List, _Tuple)):
            stack.extend(t.items)
        elif isinstance(t, _Apply):
            stack.append(t.inner)
    return found


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


# --- compiling ----------------------------------------------------------------------------------


# The deepest nesting of containers, choices and scope conversions that a space may have. The
# builders of a compiled space (space_eval, describe) recurse once per level, a few frames each,
# and must stay well inside Python's recursion limit (1000) wherever fmin is called from; real
# spaces nest a handful of levels.
MAX_DEPTH = 100


def _tuple_depth(key: object) -> int:
    """How deeply tuples nest in a dict key (describe() renders such keys recursively)."""
    deepest, stack = 0, [(key, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, tuple):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((part, depth + 1) for part in item)
    return deepest


def _too_deep(obj: object, place: tuple[str, int] | None) -> SpaceError:
    if isinstance(obj, Node):
        where = f"at label {obj.label!r}"
    elif place is not None:
        where = f"under label {place[0]!r} (option {place[1]})"
    else:
        where = "outside any parameter"
    return SpaceError(
        f"the space nests containers and choices more than {MAX_DEPTH} levels deep ({where}); "
        "flatten it, e.g. one choice among the combinations instead of choices nested in "
        "choices"
    )


def _same_definition(a: Node, b: Node) -> bool:
    try:
        return a is b or bool(a == b)
    except Exception:  # options holding objects with odd __eq__ (numpy arrays) compare unequal
        return False


class _Compiler:
    """One walk over the user's structure: finds the parameters, their places, the builders."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}  # by label, in the order first met
        self.top_level: set[str] = set()
        self.links: dict[str, set[tuple[str, int]]] = {}  # label -> {(choice label, option)}
        self.templates: dict[str, _Template] = {}
        self.on_path: set[int] = set()  # ids of the containers being walked
        self.depth = 0  # how many containers, choices and conversions enclose the walk

    def walk(self, obj: object, place: tuple[str, int] | None) -> _Template:
        if isinstance(obj, Node):
            return self._node(obj, place)
        if not isinstance(obj, (dict, list, tuple, Apply)):
            return _Const(obj)
        if self.depth >= MAX_DEPTH:
            raise _too_deep(obj, place)
        if isinstance(obj, Apply):
            self.depth += 1
            try:
                return _Apply(obj.name, self.walk(obj.arg, place))
            finally:
                self.depth -= 1
        if id(obj) in self.on_path:
            raise SpaceError(
                f"the space contains itself: a {type(obj).__name__} holds a reference to one of "
                "its own ancestors; build the space as a tree"
            )
        self.on_path.add(id(obj))
        self.depth += 1
        try:
            if isinstance(obj, dict):
                items = tuple((key, self._item(key, value, place)) for key, value in obj.items())
                return _Dict(None if type(obj) is dict else obj, items)
            children = tuple(self.walk(value, place) for value in obj)
            if isinstance(obj, list):
                return _List(None if type(obj) is list else obj, children)
            return _Tuple(type(obj), children)
        finally:
            self.depth -= 1
            self.on_path.discard(id(obj))

    def _item(self, key: object, value: object, place: tuple[str, int] | None) -> _Template:
        if isinstance(key, tuple) and self.depth + _tuple_depth(key) > MAX_DEPTH:
            raise _too_deep(key, place)
        return self.walk(value, place)

    def _node(self, node: Node, place: tuple[str, int] | None) -> _Template:
        label = node.label
        seen = self.nodes.get(label)
        if seen is not None and not _same_definition(seen, node):
            short = reprlib.Repr()
            short.maxstring, short.maxother = 60, 120
            raise SpaceError(
                f"two different parameters are labelled {label!r}: {short.repr(seen)} and "
                f"{short.repr(node)}; give each its own label (the same definition may be "
                "reused in several places)"
            )
        if place is None:
            self.top_level.add(label)
        if seen is not None:
            known = self.templates.get(label)
            if known is None:  # met again while walking its own options
                raise SpaceError(
                    f"parameter {label!r} appears inside one of its own options; "
                    "build the space as a tree"
                )
            if place is not None:
                self.links[label].add(place)
            return known
        self.nodes[label] = node
        self.links[label] = {place} if place is not None else set()
        if isinstance(node, (Choice, PChoice)):
            if self.depth >= MAX_DEPTH:
                raise _too_deep(node, place)
            self.depth += 1
            try:
                options = tuple(self.walk(o, (label, i)) for i, o in enumerate(node.options))
            finally:
                self.depth -= 1
            template: _Template = _Select(label, options)
        else:
            integer = isinstance(node, Numeric) and node.kind in ("randint", "uniformint")
            template = _Value(label, integer)
        self.templates[label] = template
        return template

    def order(self) -> list[str]:
        """The labels with parents first, otherwise in the order met (Kahn's algorithm).

        The order met is almost always right already; it is not when a parameter shared by two
        branches was first met under a choice that comes before the other branch's choice.
        """
        rank = {label: i for i, label in enumerate(self.nodes)}
        waiting: dict[str, int] = {}
        children: dict[str, list[str]] = {label: [] for label in self.nodes}
        for label in self.nodes:
            parents = set() if label in self.top_level else {p for p, _ in self.links[label]}
            waiting[label] = len(parents)
            for parent in parents:
                children[parent].append(label)
        ready = [rank[label] for label, n in waiting.items() if n == 0]
        heapq.heapify(ready)
        labels = list(self.nodes)
        out: list[str] = []
        while ready:
            label = labels[heapq.heappop(ready)]
            out.append(label)
            for child in children[label]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, rank[child])
        if len(out) != len(labels):  # only possible through self-referencing containers
            stuck = sorted(set(labels) - set(out))
            raise SpaceError(f"the parameters {stuck} switch each other on; build a tree")
        return out


def compile_space(space: object) -> Space:
    """Compile a user's space (nodes nested in dicts, lists, tuples) into a :class:`Space`.

    Dicts are walked in insertion order. A :class:`Space` is returned unchanged.

    :raises SpaceError: if two different parameters share a label or the structure refers to
        itself.
    """
    if isinstance(space, Space):
        return space
    compiler = _Compiler()
    try:
        template = compiler.walk(space, None)
    except RecursionError:  # MAX_DEPTH levels, called from a stack that is already deep
        raise SpaceError(
            "the space is nested too deeply for Python's recursion limit; flatten it, e.g. "
            "one choice among the combinations instead of choices nested in choices"
        ) from None
    columns = {label: j for j, label in enumerate(compiler.order())}
    params = []
    for label, column in columns.items():
        if label in compiler.top_level:
            parents: tuple[tuple[int, int], ...] = ()
        else:
            parents = tuple(sorted((columns[p], i) for p, i in compiler.links[label]))
        params.append(_make_param(compiler.nodes[label], column, parents))
    return Space(params, template)


def space_eval(space: object, point: Mapping[str, object]) -> object:
    """The user's structure with the point's values filled in (hyperopt's ``space_eval``).

    :param space: a space as given to ``fmin``, or a compiled :class:`Space`.
    :param point: a point in hyperopt's argmin format; labels of inactive parameters are ignored.
    """
    return compile_space(space).evaluate(point)


class Space:
    """A compiled search space: one :class:`Param` per label, parents before children.

    Build one with :func:`compile_space`.
    """

    __slots__ = (
        "_bounds",
        "_cat_cols",
        "_columns",
        "_conditional",
        "_fingerprint",
        "_grid",
        "_labels",
        "_params",
        "_plan",
        "_q_cols",
        "_q_values",
        "_sampler",
        "_selects",
        "_template",
        "_tolerance",
        "_value_high",
        "_value_low",
    )

    def __init__(self, params: Sequence[Param], template: _Template) -> None:
        self._params = tuple(params)
        for j, p in enumerate(self._params):
            if p.column != j or any(parent >= j for parent, _ in p.parents):
                raise SpaceError(f"parameter {p.label!r} is out of order; use compile_space")
        self._template = template
        self._selects = _selects(template)
        self._labels = tuple(p.label for p in self._params)
        self._columns = MappingProxyType({label: j for j, label in enumerate(self._labels)})
        self._fingerprint: str | None = None
        self._plan = tuple((p.label, p.parents, p.categorical) for p in self._params)

        self._bounds = bounds = [_value_bounds(p) for p in self._params]
        self._value_low = np.array([lo for lo, _ in bounds], dtype=np.float64)
        self._value_high = np.array([hi for _, hi in bounds], dtype=np.float64)
        self._cat_cols = np.array([p.column for p in self._params if p.categorical], dtype=np.intp)
        quantized = [p for p in self._params if p.q is not None]
        self._q_cols = np.array([p.column for p in quantized], dtype=np.intp)
        self._q_values = np.array([p.q for p in quantized], dtype=np.float64)
        # to_row's checks, per column: the range of grid indices round(value / q) a quantized
        # parameter can reach, and the slack allowed on a continuous one's bounds.
        self._grid: list[tuple[float, float]] = []
        self._tolerance: list[float] = []
        for p, (lo, hi) in zip(self._params, bounds, strict=True):
            q = p.q or 1.0
            self._grid.append((float(np.round(lo / q)), float(np.round(hi / q))))
            finite = [abs(b) for b in (lo, hi) if math.isfinite(b)]
            width = hi - lo if math.isfinite(hi - lo) else 0.0
            self._tolerance.append(_BOUND_TOLERANCE * max([width, *finite]))
        self._sampler = _Sampler(self._params)
        self._conditional = tuple((j, p.parents) for j, p in enumerate(self._params) if p.parents)

    def __reduce__(self) -> tuple[type[Space], tuple[tuple[Param, ...], _Template]]:
        # MappingProxyType does not pickle; rebuild from the parts instead.
        return (Space, (self._params, self._template))

    def __repr__(self) -> str:
        inner = ", ".join(f"{p.label!r}: {_param_signature(p)}" for p in self._params)
        return f"Space({{{inner}}})"

    def __len__(self) -> int:
        return len(self._params)

    @property
    def params(self) -> tuple[Param, ...]:
        """The parameters, in column order (every parent before its children)."""
        return self._params

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels, in column order."""
        return self._labels

    @property
    def columns(self) -> Mapping[str, int]:
        """The column of each label."""
        return self._columns

    # --- rows -----------------------------------------------------------------------------------

    def _rows(self, rows: object) -> Rows:
        array = np.asarray(rows, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != len(self._params):
            raise SpaceError(
                f"expected rows of shape (n, {len(self._params)}), got shape {array.shape}"
            )
        return array

    def active(self, rows: npt.ArrayLike) -> Mask:
        """Which parameters are active in each row, from the values of their parents.

        :param rows: an ``(n, d)`` array; a parent's value must be an exact option index.
        :returns: a bool array of the same shape.
        """
        values = self._rows(rows)
        active = np.ones(values.shape, dtype=np.bool_)
        for j, parents in self._conditional:
            on = np.zeros(values.shape[0], dtype=np.bool_)
            for parent, option in parents:
                on |= active[:, parent] & (values[:, parent] == option)
            active[:, j] = on
        return active

    def sample(self, rng: np.random.Generator, n: int, *, every_label: bool = False) -> Rows:
        """``n`` independent draws from the prior, ``NaN`` where a parameter is inactive.

        All rows and parameters come from one uniform draw (and one normal draw if the space
        has normal kinds), transformed column-wise, so one point costs about as much as
        thousands, and the same seed gives the same rows.

        :param every_label: keep a value for every parameter, active or not (for algorithms
            that choose the branches themselves and need a prior draw for any label).
        :returns: an ``(n, d)`` float64 array.
        """
        if n < 0:
            raise SpaceError(f"cannot draw {n} samples; n must be at least 0")
        rows = self._sampler.draw(rng, n)
        if self._conditional and not every_label:
            rows[~self.active(rows)] = np.nan
        return rows

    def support_size(self, column: int) -> int | None:
        """How many values the parameter in ``column`` can take, or ``None`` if they are
        endless (continuous and normal kinds); computed, never listed."""
        p = self._params[column]
        if p.categorical:
            return p.n_options
        lo, hi = self._bounds[column]
        if p.q is None or not (math.isfinite(lo) and math.isfinite(hi)):
            return None
        first, last = self._grid[column]
        return int(last) - int(first) + 1

    def support(self, column: int, *, limit: int | None = None) -> npt.NDArray[np.float64] | None:
        """The values the parameter in ``column`` can take, smallest first, as an array.

        Categorical parameters give their option indices (randint: its values); quantized
        ones with finite bounds give their grid; continuous and normal kinds give ``None``.
        With ``limit``, only the first ``limit`` values; without, ``None`` also for a support
        of more than :data:`MAX_SUPPORT` values (ask :meth:`support_size` first).
        """
        size = self.support_size(column)
        if size is None:
            return None
        if limit is not None:
            size = min(size, limit)
        elif size > MAX_SUPPORT:
            return None
        p = self._params[column]
        if p.categorical:
            return np.arange(p.offset, p.offset + size, dtype=np.float64)
        first = self._grid[column][0]
        values: npt.NDArray[np.float64] = (first + np.arange(size, dtype=np.float64)) * (p.q or 1.0)
        return values

    def snap(self, rows: npt.ArrayLike) -> Rows:
        """A copy of ``rows`` moved into the support, ``NaN`` where inactive.

        Categorical values become the nearest valid index (or randint value); quantized values
        are clipped to their bounds before rounding (so the result is one that sampling could
        produce); continuous values are clipped; normal kinds are unbounded (lognormal ones stay
        non-negative). A ``NaN`` where the parameter is active stays ``NaN``.
        """
        out = np.clip(self._rows(rows), self._value_low, self._value_high)
        if self._q_cols.size:
            q = self._q_values
            out[:, self._q_cols] = np.round(out[:, self._q_cols] / q) * q
        if self._cat_cols.size:
            out[:, self._cat_cols] = np.round(out[:, self._cat_cols])
        out[~self.active(out)] = np.nan
        return out

    # --- points ---------------------------------------------------------------------------------

    def to_point(self, row: npt.ArrayLike) -> dict[str, float | int]:
        """The point (hyperopt's argmin format) of one row: its active labels only.

        Categorical parameters give an ``int`` (the option index; randint's value), the others a
        ``float`` (``uniformint`` too, as in hyperopt).

        :raises SpaceError: if an active value is NaN or a categorical one is not whole.
        """
        array = np.asarray(row, dtype=np.float64)
        if array.shape != (len(self._params),):
            raise SpaceError(f"expected a row of shape ({len(self._params)},), got {array.shape}")
        values: list[float] = array.tolist()
        active = [False] * len(values)
        point: dict[str, float | int] = {}
        for j, (label, parents, categorical) in enumerate(self._plan):
            if parents:
                for parent, option in parents:
                    if active[parent] and values[parent] == option:
                        break
                else:
                    continue
            value = values[j]
            if value != value:
                raise SpaceError(f"label {label!r} is active but its value is NaN in the row")
            active[j] = True
            if categorical:
                if not value.is_integer():
                    raise SpaceError(
                        f"label {label!r}: {value!r} is not a whole number; snap the row first"
                    )
                point[label] = int(value)
            else:
                point[label] = value
        return point

    def to_row(self, point: Mapping[str, object]) -> Rows:
        """The row of a point in hyperopt's argmin format; the inverse of :meth:`to_point`.

        Values given for inactive labels are ignored.

        :raises SpaceError: naming the label, for an unknown label, a missing active label or a
            value outside the support (not an option index, not on the q grid, out of bounds).
        """
        for label in point:
            if label not in self._columns:
                raise SpaceError(
                    f"unknown label {label!r} in the point; the space's labels are "
                    f"{list(self._labels)}"
                )
        values = [math.nan] * len(self._params)
        for j, (label, parents, _) in enumerate(self._plan):
            # An inactive parent is NaN here, which equals no option: no need to track activity.
            if parents and not any(values[parent] == option for parent, option in parents):
                continue
            values[j] = self._check(self._params[j], _lookup(label, point))
        return np.array(values, dtype=np.float64)

    def _check(self, p: Param, raw: object) -> float:
        value = _number(p.label, raw)
        j = p.column
        lo, hi = self._bounds[j]
        if p.categorical:
            if value.is_integer() and lo <= value <= hi:
                return value
            if p.kind is Kind.RANDINT:
                expected = f"an integer in [{p.offset}, {p.offset + p.n_options})"
                # In range, but not once a float64 (as rows hold it): say that.
                if (
                    isinstance(raw, numbers.Integral)
                    and p.offset <= int(raw) < p.offset + p.n_options
                ):
                    raise SpaceError(
                        f"label {p.label!r}: {raw!r} is {value:.0f} as a float64 (exact only "
                        f"to 2**53), outside [{lo:.0f}, {hi:.0f}]; pass a value in that range"
                    )
            else:
                expected = f"an option index (0 to {p.n_options - 1})"
            raise SpaceError(
                f"label {p.label!r}: {raw!r} is not {expected}, the support of "
                f"{_param_signature(p)}"
            )
        if p.q is not None:
            steps = value / p.q
            nearest = round(steps) if math.isfinite(steps) else math.nan
            if not abs(steps - nearest) <= _GRID_TOLERANCE * max(1.0, abs(steps)):
                raise SpaceError(
                    f"label {p.label!r}: {raw!r} is not a multiple of q={_format_number(p.q)} "
                    f"as {_param_signature(p)} requires"
                )
            first, last = self._grid[j]
            if first <= nearest <= last:
                return value
            raise SpaceError(
                f"label {p.label!r}: {raw!r} is outside the values "
                f"{_param_signature(p)} can take ({_format_number(first * p.q)} to "
                f"{_format_number(last * p.q)})"
            )
        slack = self._tolerance[j]
        if lo - slack <= value <= hi + slack:
            return value
        raise SpaceError(
            f"label {p.label!r}: {raw!r} is outside [{_format_number(lo)}, "
            f"{_format_number(hi)}], the support of {_param_signature(p)}"
        )

    def values(self, point: Mapping[str, object]) -> dict[str, object]:
        """Each active label's evaluated value: what ``space_eval`` puts where the label is.

        Numbers as ``evaluate`` gives them (``int`` for randint and uniformint); a ``choice`` or
        ``pchoice`` label gives its chosen option, evaluated. Labels not in the space are
        ignored; ``point`` must hold active labels only (as :meth:`to_point` returns).
        """
        out: dict[str, object] = {}
        for label in point:
            column = self._columns.get(label)
            if column is None:
                continue
            select = self._selects.get(label)
            if select is not None:
                out[label] = select.build(point)
            else:
                p = self._params[column]
                out[label] = _Value(label, p.integer).build(point)
        return out

    def evaluate(self, point: Mapping[str, object]) -> object:
        """The user's structure with the point's values filled in (``space_eval``).

        A choice becomes its chosen option, evaluated; randint and uniformint become ``int``,
        other numeric kinds ``float``; dicts, lists and tuples keep their types; constants are
        returned as they are. Labels of inactive (or unknown) parameters are ignored.

        :raises SpaceError: if an active label is missing or its value cannot be used.
        """
        return self._template.build(point)

    # --- description ----------------------------------------------------------------------------

    def describe(self) -> list[dict[str, object]]:
        """A JSON-able description, one entry per parameter in column order.

        Each entry holds ``label``, ``kind``, ``args``, ``parents`` (``[[label, option], ...]``)
        and, for categorical parameters, ``options`` (their number). Choices and pchoices also
        hold ``values``: what each option is, since stored trials hold option indices. An option
        is rendered as JSON from its structure: JSON scalars as themselves; dicts as dicts
        (non-string keys as their repr); lists as lists; a tuple as ``{"tuple": [...]}``; a
        parameter as ``{"param": label}``; a class or function as ``{"class": name}`` or
        ``{"function": name}``, an enum member as ``{"enum": name}``, another object as
        ``{"object": name of its type}``, with dotted qualified names. Containers of a subclass
        add ``"type"``, and a dict with a non-string key or a key that is one of these tags is
        written ``{"dict": {...}}``.
        """
        choices = _choices(self._template)
        out: list[dict[str, object]] = []
        for p in self._params:
            entry: dict[str, object] = {
                "label": p.label,
                "kind": p.kind.value,
                "args": list(p.args),
                "parents": [[self._labels[c], i] for c, i in p.parents],
            }
            if p.categorical:
                entry["options"] = p.n_options
            if p.kind is Kind.CHOICE or p.kind is Kind.PCHOICE:
                entry["values"] = [_shape(t) for t in choices[p.label].options]
            out.append(entry)
        return out

    @property
    def fingerprint(self) -> str:
        """The sha256 (hex) of the canonical JSON of :meth:`describe`."""
        if self._fingerprint is None:
            text = _canonical(self.describe())
            self._fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return self._fingerprint


def _selects(template: _Template) -> dict[str, _Select]:
    """The choice nodes of a template tree, by label."""
    found: dict[str, _Select] = {}
    stack = [template]
    while stack:
        node = stack.pop()
        if isinstance(node, _Select):
            found.setdefault(node.label, node)
            stack.extend(node.options)
        elif isinstance(node, _Dict):
            stack.extend(item for _, item in node.items)
        elif isinstance(node, _List | _Tuple):
            stack.extend(node.items)
        elif isinstance(node, _Apply):
            stack.append(node.inner)
    return found


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
            return not p.categorical and p.kind not in _NORMAL

        self._d = len(params)
        self._uniform = columns(uniform_kind)
        self._normal = columns(lambda p: p.kind in _NORMAL)
        self._u_cols = columns(lambda p: p.kind not in _NORMAL)
        self._low = np.array([p.low for p in params if uniform_kind(p)])
        self._width = np.array([p.high - p.low for p in params if uniform_kind(p)])
        self._mu = np.array([p.mu for p in params if p.kind in _NORMAL])
        self._sigma = np.array([p.sigma for p in params if p.kind in _NORMAL])
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


# --- comparing descriptions ---------------------------------------------------------------------

# How much of an option a message shows.
_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxlevel = 40, 40, 6, 6, 4
# The longest pair of option lists that a message shows in full.
_MAX_SHOWN = 160


@dataclass(frozen=True, slots=True)
class _Entry:
    label: str
    kind: str
    args: tuple[float, ...]
    parents: tuple[tuple[str, int], ...]
    options: int | None
    # The canonical JSON of each option (None in descriptions made before options were
    # described), and the options themselves for messages.
    values: tuple[str, ...] | None
    shown: tuple[object, ...] | None = field(compare=False)

    @property
    def signature(self) -> str:
        return _signature(self.kind, self.args, self.options)

    @property
    def placement(self) -> str:
        if not self.parents:
            return "at the top level"
        return "under " + " or ".join(f"{label}={i}" for label, i in self.parents)


def _entry(raw: Mapping[str, object]) -> _Entry:
    """One describe() entry, checked, whether it comes from describe() or from JSON."""
    try:
        label, kind = raw["label"], raw["kind"]
        args, parents = raw["args"], raw["parents"]
        options, shown = raw.get("options"), raw.get("values")
        if not isinstance(label, str) or not isinstance(kind, str):
            raise TypeError
        if not isinstance(args, (list, tuple)) or not isinstance(parents, (list, tuple)):
            raise TypeError
        if options is not None and not isinstance(options, int):
            raise TypeError
        if shown is not None and not isinstance(shown, (list, tuple)):
            raise TypeError
        values = tuple(float(a) for a in args if isinstance(a, (int, float)))
        links = tuple(
            (str(pair[0]), int(pair[1]))
            for pair in parents
            if isinstance(pair, (list, tuple)) and len(pair) == 2
        )
        if len(values) != len(args) or len(links) != len(parents):
            raise TypeError
        texts = None if shown is None else tuple(_canonical(v) for v in shown)
    except (KeyError, TypeError, ValueError, RecursionError):
        raise SpaceError(
            f"malformed space description entry {raw!r}; expected the output of Space.describe()"
        ) from None
    return _Entry(
        label, kind, values, links, options, texts, None if shown is None else tuple(shown)
    )


def _nested_difference(old: object, new: object) -> tuple[str, object, object]:
    """Where inside one option two renderings first differ: ``(path, old part, new part)``."""
    path = ""
    while True:
        if isinstance(old, dict) and isinstance(new, dict) and old.keys() == new.keys():
            key = next((k for k in sorted(old) if _canonical(old[k]) != _canonical(new[k])), None)
        elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
            key = next(
                (
                    i
                    for i, (a, b) in enumerate(zip(old, new, strict=True))
                    if _canonical(a) != _canonical(b)
                ),
                None,
            )
        else:
            return path, old, new
        if key is None:  # pragma: no cover - only equal renderings, which are never passed
            return path, old, new
        path += f"[{key!r}]"
        old, new = old[key], new[key]


def _options_difference(was: _Entry, now: _Entry) -> str | None:
    """The line saying how the options of a choice changed, or None if they did not."""
    if was.values is None or now.values is None or was.values == now.values:
        return None
    old, new = list(was.shown or ()), list(now.shown or ())
    head = f"label {now.label!r}:"
    full = f"options stored as {old!r}, now {new!r}"
    if len(full) <= _MAX_SHOWN:
        return f"{head} {full}"
    differ = [i for i, (a, b) in enumerate(zip(was.values, now.values, strict=False)) if a != b]
    if not differ:  # only in a damaged description: more values than options on one side
        return f"{head} {len(old)} options stored, now {len(new)}"
    first = differ[0]
    path, a, b = _nested_difference(old[first], new[first])
    where = f"option {first}" + (f" at {path}" if path else "")
    line = f"{head} {where} stored as {_SHORT.repr(a)}, now {_SHORT.repr(b)}"
    if len(differ) > 1:
        line += f" (and {len(differ) - 1} more options differ"
        if sorted(was.values) == sorted(now.values):
            line += "; the same options in another order"
        line += ")"
    return line


def describe_difference(
    old: Sequence[Mapping[str, object]], new: Sequence[Mapping[str, object]]
) -> list[str]:
    """Human-readable lines saying how two :meth:`Space.describe` outputs differ.

    A description without the ``values`` of its choices (made before options were described)
    is compared by the other keys only.

    :param old: the stored description.
    :param new: the description of the space given now.
    :returns: one line per difference, e.g. ``"label 'lr': stored as loguniform(-9, -1), now
        loguniform(-8, -1)"`` or ``"label 'opt': options stored as ['adam', 'sgd'], now ['sgd',
        'adam']"``; an empty list when the descriptions are equal.
    :raises SpaceError: if an entry is not shaped like describe()'s.
    """
    before = [_entry(e) for e in old]
    after = [_entry(e) for e in new]
    if any(e.values is None and e.kind in _CHOICE_KINDS for e in (*before, *after)):
        before = [replace(e, values=None) for e in before]
        after = [replace(e, values=None) for e in after]
    before_by = {e.label: e for e in before}
    after_by = {e.label: e for e in after}
    lines: list[str] = []
    for e in after:
        was = before_by.get(e.label)
        if was is None:
            lines.append(f"label {e.label!r} is new")
            continue
        if (was.kind, was.args, was.options) != (e.kind, e.args, e.options):
            lines.append(f"label {e.label!r}: stored as {was.signature}, now {e.signature}")
        elif (line := _options_difference(was, e)) is not None:
            lines.append(line)
        if was.parents != e.parents:
            lines.append(f"label {e.label!r}: stored {was.placement}, now {e.placement}")
    lines.extend(f"label {e.label!r} was removed" for e in before if e.label not in after_by)
    if not lines and before != after:
        if sorted(before, key=lambda e: e.label) == sorted(after, key=lambda e: e.label):
            lines.append(
                "the parameters are in a different order: stored "
                f"{[e.label for e in before]}, now {[e.label for e in after]}"
            )
        else:  # only possible with repeated labels, which describe() never produces
            lines.append("the descriptions differ (a label appears more than once)")
    return lines
