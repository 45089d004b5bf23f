"""Argument templates: a program's argv with ``{label}`` placeholders, what each placeholder
gets, and the limits the OS sets on arguments."""

from __future__ import annotations

import json
import numbers
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from asynchpo._exceptions import ConfigError, TrialCrashed
from asynchpo._results import json_safe
from asynchpo._space import _Call, _Dict, _List, _Select, _Tuple, _Value

if TYPE_CHECKING:
    from asynchpo._space import Space


# The longest argument (or environment variable) Linux passes, its final NUL included.
_MAX_ARG_STRLEN: Final = 32 * 4096
_TOO_LONG_FIX: Final = (
    "have the program read large values from the JSON file named by $ASYNCHPO_PARAMS_FILE "
    "rather than from {label} placeholders"
)


_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


# A template is one argv element split at its placeholders: literal, label, literal, ...,
# literal (an odd number of parts, the labels at odd positions).
_Template = tuple[str, ...]


def _parse(element: str, index: int) -> _Template:
    parts: list[str] = []
    literal: list[str] = []
    end = 0
    for match in _PLACEHOLDER.finditer(element):
        literal.append(element[end : match.start()])
        end = match.end()
        token = match[0]
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif match[1]:
            parts += ["".join(literal), match[1]]
            literal = []
        else:
            raise ConfigError(
                f"argv[{index}] = {element!r} has a stray {token!r}: a placeholder is "
                "{label}, and a literal brace is written {{ or }}"
            )
    literal.append(element[end:])
    parts.append("".join(literal))
    return tuple(parts)


def _is_argv(argv: object) -> bool:
    return (
        isinstance(argv, Sequence)
        and not isinstance(argv, str)
        and len(argv) > 0
        and all(isinstance(arg, str) for arg in argv)
    )


def _format(value: object) -> str:
    """One value as command-line text: a string as itself, a number with every digit it has,
    anything else (a boolean, None, a dict, a list) as JSON, never as a Python repr."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if isinstance(value, numbers.Integral):
            return str(int(value))
        return repr(float(value))  # repr, not str: numpy's str may round, repr round-trips
    # The same JSON as in ASYNCHPO_PARAMS (json_safe: tuples as lists, keys as strings).
    return json.dumps(json_safe(value), ensure_ascii=False)


# --- what a {label} placeholder gets ----------------------------------------------------------
#
# The value of the label's parameter as the objective receives it where the space places it:
# a choice gives its option, and scope.int / scope.float wrapped directly around the parameter
# are applied (scope.int(hp.quniform("n", 1, 4, 1)) gives 3, not 3.0). Arithmetic is not:
# in 10 ** hp.uniform("e", -3, 0), {e} is the exponent, the parameter's own value, as the
# stored point holds it. A placeholder names a parameter, not a place in the space.

_CONVERSIONS: Final[Mapping[str, Callable[[Any], object]]] = {"int": int, "float": float}


def _placements(space: Space) -> dict[str, set[tuple[str, ...]]]:
    """For each label that the space places as a value (in a dict, list or tuple, as a choice
    option, or as the whole space), the conversions wrapped directly around it at each place,
    innermost first. A label used only inside an expression is not placed."""
    found: dict[str, set[tuple[str, ...]]] = {}
    stack: list[tuple[object, tuple[str, ...]]] = [(space._template, ())]
    while stack:
        node, conversions = stack.pop()
        if isinstance(node, _Call) and node.name in _CONVERSIONS and len(node.args) == 1:
            stack.append((node.args[0], (node.name, *conversions)))
        elif isinstance(node, _Value | _Select):
            found.setdefault(node.label, set()).add(conversions)
            if isinstance(node, _Select):
                stack.extend((option, ()) for option in node.options)
        elif isinstance(node, _Dict):
            stack.extend((item, ()) for _, item in node.items)
        elif isinstance(node, _List | _Tuple):
            stack.extend((item, ()) for item in node.items)
        # Constants, and expressions (their parameters are not placed), end the walk here.
    return found


def _conversion_text(label: str, conversions: tuple[str, ...]) -> str:
    text = label
    for name in conversions:
        text = f"scope.{name}({text})"
    return text


# The tags of Space.describe() that stand for objects JSON has no value for.
_OBJECT_TAGS: Final = ("enum", "class", "function", "module", "object")


def _unwritable(shape: object, described: Mapping[str, Mapping[str, object]]) -> str | None:
    """What in an option, rendered as Space.describe() renders it, a placeholder cannot write
    as JSON; None when it can write all of it."""
    if isinstance(shape, list):
        items: list[object] = shape
    elif not isinstance(shape, dict):
        return None  # a JSON scalar
    elif tag := next((t for t in _OBJECT_TAGS if t in shape), None):
        return f"{'an' if tag[0] in 'aeiou' else 'a'} {tag} ({shape[tag]})"
    elif "param" in shape:
        return _unwritable(described.get(str(shape["param"]), {}).get("values", []), described)
    elif "dict" in shape:
        if not isinstance(shape["dict"], dict):
            return "a dict whose keys are the same as JSON text (such as 1 and '1')"
        items = list(shape["dict"].values())
    elif "tuple" in shape or "list" in shape:
        items = list(shape.get("tuple") or shape.get("list") or [])
    else:
        items = list(shape.values())  # a plain dict; "float" (NaN, inf) is written as JSON is
    for item in items:
        what = _unwritable(item, described)
        if what is not None:
            return what
    return None


def _os_text(text: str) -> str:
    """``text`` as a string that the OS receives as UTF-8 bytes, whatever the locale.

    Under ``LC_ALL=C`` Python encodes arguments and environment values as ASCII, and an accented
    study name or option would make every trial fail to start.
    """
    try:
        return os.fsdecode(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:  # a lone surrogate that no bytes stand for
        return text


def _size(text: str) -> int:
    """How many bytes ``text`` takes when the OS receives it."""
    return len(text.encode("utf-8", "surrogatepass"))


def _check_lengths(argv: Sequence[str]) -> None:
    """Raise TrialCrashed if an argument is longer than Linux lets a program receive."""
    if not sys.platform.startswith("linux"):
        return  # macOS has no limit per argument, only on the total (E2BIG, below)
    for index, arg in enumerate(argv):
        size = _size(arg) + 1
        if size > _MAX_ARG_STRLEN:
            raise TrialCrashed(
                f"could not start {argv[0]!r}: argv[{index}] takes {size:,} bytes, more than "
                f"the {_MAX_ARG_STRLEN:,} Linux allows in one argument (Argument list too "
                f"long); {_TOO_LONG_FIX}"
            )


def _too_long(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The error for a start that failed with E2BIG: what is large and what to do."""
    args = sum(_size(arg) + 1 for arg in argv)
    variables = sum(_size(k) + _size(v) + 2 for k, v in env.items())
    longest = max(env, key=lambda k: len(env[k]), default="")
    largest = f", the longest variable {longest!r}" if variables > args else ""
    return (
        f"could not start {argv[0]!r}: its arguments ({args:,} bytes) and environment "
        f"({variables:,} bytes{largest}) are more than the system allows (Argument list too "
        f"long); {_TOO_LONG_FIX}, and keep env= and slot_env values small"
    )
