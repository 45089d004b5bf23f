"""The stored description of a space: each parameter and each choice's options as canonical
JSON (:meth:`Space.describe`, hashed into the fingerprint), and how two descriptions differ
(:func:`describe_difference`)."""

from __future__ import annotations

import enum
import json
import math
import reprlib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from asynchpo._exceptions import SpaceError
from asynchpo._kinds import CHOICE_KINDS
from asynchpo._space._params import _signature
from asynchpo._space._templates import (
    _CONVERSIONS,
    _Call,
    _children,
    _choices,
    _Const,
    _Dict,
    _List,
    _Select,
    _Template,
    _Tuple,
    _Value,
)

__all__ = ["describe_difference", "option_values"]

_CHOICE_KINDS = frozenset(kind.value for kind in CHOICE_KINDS)


def option_values(description: Sequence[Mapping[str, object]]) -> dict[str, list[object]]:
    """The options of each choice (and pchoice) of a space description (:meth:`Space.describe`,
    a study's ``config.space``), by label: what each option is, as the description renders it
    (JSON scalars as themselves, an object option as an object whose parameters read
    ``{"param": label}``). A description stored before options were described has none."""
    return {
        str(entry["label"]): list(values)
        for entry in description
        if isinstance(values := entry.get("values"), list)
    }


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
    if isinstance(template, _Call):
        if template.name in _CONVERSIONS:  # as scope.int and scope.float were always described
            return {"scope": template.name, "of": _shape(template.args[0])}
        return {"scope": template.name, "args": [_shape(t) for t in template.args]}
    raise TypeError(f"unknown template {template!r}")  # pragma: no cover


def _expressions(root: _Template) -> dict[str, list[object]]:
    """The renderings of the expressions that use each label, by label.

    An expression other than scope.int and scope.float is listed under every parameter it
    refers to, outermost expressions only (a choice's options are described with the choice,
    so an expression inside one is listed where it stands, not where the choice stands). Labels
    no expression uses are absent, so the description of a space without expressions is what
    it always was.
    """
    found: dict[str, dict[str, object]] = {}
    seen: set[int] = set()
    stack = [root]
    while stack:
        t = stack.pop()
        if isinstance(t, _Call) and t.name not in _CONVERSIONS:
            shape = _shape(t)
            text = _canonical(shape)
            for label in _labels_of(t):
                found.setdefault(label, {})[text] = shape
            # Expressions inside the options of choices within it are outermost there.
            stack.extend(s for s in _choices(t).values() if id(s) not in seen)
            continue
        if isinstance(t, _Select):
            if id(t) in seen:
                continue
            seen.add(id(t))
        stack.extend(_children(t))
    return {label: [by_text[k] for k in sorted(by_text)] for label, by_text in found.items()}


def _labels_of(expression: _Call) -> set[str]:
    """The labels an expression's rendering names (not those inside a choice's options)."""
    labels: set[str] = set()
    stack: list[_Template] = [expression]
    while stack:
        t = stack.pop()
        if isinstance(t, (_Value, _Select)):
            labels.add(t.label)
        else:
            stack.extend(_children(t))
    return labels


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


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
    # The canonical JSON of each expression using the parameter, and the expressions.
    expressions: tuple[str, ...] = ()
    shown_expressions: tuple[object, ...] = field(default=(), compare=False)

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
        used = raw.get("expressions", [])
        if not isinstance(used, (list, tuple)):
            raise TypeError
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
        used_texts = tuple(_canonical(v) for v in used)
    except (KeyError, TypeError, ValueError, RecursionError):
        raise SpaceError(
            f"malformed space description entry {raw!r}; expected the output of Space.describe()"
        ) from None
    return _Entry(
        label,
        kind,
        values,
        links,
        options,
        texts,
        None if shown is None else tuple(shown),
        used_texts,
        tuple(used),
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


def _expressions_text(entry: _Entry) -> str:
    """The expressions that use a parameter, as a message shows them."""
    if not entry.expressions:
        return "none"
    text = " and ".join(entry.expressions)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


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
        if was.expressions != e.expressions:
            lines.append(
                f"label {e.label!r}: used in the expressions {_expressions_text(was)}, "
                f"now {_expressions_text(e)}"
            )
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
