"""Reading the search space of ``run --space``: a JSON file (see the package's docstring for its
form) or ``FILE.py:NAME``, a Python file that defines the space as ``NAME``."""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asynchpo import SpaceError, compile_space, hp
from asynchpo._cli._render import first_line

__all__ = ["SPACE_HELP", "load_space", "space_from_json"]

# The hp functions, by name: hp's public functions (its classes and scope are not for JSON).
_HP_FUNCTIONS: dict[str, Callable[..., Any]] = {
    name: getattr(hp, name) for name in hp.__all__ if inspect.isfunction(getattr(hp, name))
}

SPACE_HELP = (
    "the search space: FILE.py:NAME (a Python file defining the space as NAME) or a .json "
    'file such as {"lr": ["loguniform", -9, -1], "layers": ["choice", [1, 2, 3]], "opt": '
    '["choice", [{"name": "sgd", "momentum": ["uniform", 0, 1]}, {"name": "adam"}]]}: a list '
    "starting with a string is a parameter labelled with its key (the string names an hp "
    "function, the rest are its arguments after the label); choice options may hold more "
    'parameters; other values are constants, and {"const": [...]} is a constant written as is'
)


def _is_spec(value: object) -> bool:
    # Every list that starts with a string is a parameter, so that a misspelt name
    # (["loguniformm", -9, -1]) is an error rather than a constant list.
    return isinstance(value, list) and len(value) > 0 and isinstance(value[0], str)


def _is_constant(value: object) -> bool:
    """``{"const": value}``: the value as it is, nothing inside it read as a parameter."""
    return isinstance(value, dict) and len(value) == 1 and "const" in value


def _unknown_name(name: str, label: str | None, where: str) -> SpaceError:
    close = difflib.get_close_matches(name, _HP_FUNCTIONS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    whose = f" for parameter {label!r}" if label is not None else ""
    return SpaceError(
        f"{where}: unknown distribution {name!r}{whose}{hint}; a list that starts with a "
        f"string is a parameter, one of {', '.join(_HP_FUNCTIONS)}; write a constant list that "
        'starts with a string as {"const": [...]}'
    )


# The deepest nesting of objects, lists and parameters a JSON space may have: the space it
# describes may nest at most 100 levels (compile_space), and the builders recurse per level.
_MAX_JSON_DEPTH = 100


def _build(value: object, label: str | None, where: str, depth: int = 0) -> object:
    """The space for one JSON value found under the key ``label`` (None inside a list)."""
    if isinstance(value, (dict, list)) and depth >= _MAX_JSON_DEPTH:
        shown = where if len(where) <= 100 else f"{where[:40]}...{where[-50:]}"
        raise SpaceError(
            f"{shown}: the space nests objects, lists and parameters more than "
            f"{_MAX_JSON_DEPTH} levels deep; flatten it, e.g. one choice among the combinations "
            "instead of choices nested in choices"
        )
    if _is_constant(value):
        assert isinstance(value, dict)
        return value["const"]
    if _is_spec(value):
        assert isinstance(value, list)
        if value[0] not in _HP_FUNCTIONS:
            raise _unknown_name(value[0], label, where)
        if label is None:
            raise SpaceError(
                f"{where}: the parameter {value[0]!r} is in a list, so it has no label; put it "
                "in an object, under the key that labels it"
            )
        return _parameter(value, label, where, depth + 1)
    if isinstance(value, dict):
        return {key: _build(item, key, f"{where}.{key}", depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_build(item, None, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    return value


def _parameter(spec: list[Any], label: str, where: str, depth: int) -> object:
    name, args = spec[0], spec[1:]
    if name in ("choice", "pchoice"):
        if len(args) != 1 or not isinstance(args[0], list):
            raise SpaceError(f'{where}: write ["{name}", [option, ...]] with one list of options')
        if name == "choice":
            options: list[Any] = [
                _build(option, None, f"{where}[{i}]", depth) for i, option in enumerate(args[0])
            ]
            args = [options]
        else:
            pairs = []
            for i, pair in enumerate(args[0]):
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise SpaceError(f"{where}: pchoice options are [probability, option] pairs")
                pairs.append((pair[0], _build(pair[1], None, f"{where}[{i}][1]", depth)))
            args = [pairs]
    try:
        return _HP_FUNCTIONS[name](label, *args)
    except TypeError as exc:
        raise SpaceError(f"{where}: wrong arguments for hp.{name}: {exc}") from exc


def space_from_json(data: object, where: str = "space") -> object:
    """The search space that a JSON document (already parsed) describes; see the module doc."""
    if not isinstance(data, dict):
        raise SpaceError(f"{where}: the JSON space must be an object (label -> parameter)")
    return _build(data, None, where)


def load_space(spec: str) -> object:
    """The search space named by ``--space``: ``file.json`` or ``file.py:name``.

    :raises SpaceError: when the file is missing or does not define a valid space.
    """
    if spec.endswith(".json"):
        path = Path(spec)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SpaceError(f"cannot read the space file {spec!r}: {exc.strerror}") from exc
        except ValueError as exc:
            raise SpaceError(f"the space file {spec!r} is not valid JSON: {exc}") from exc
        except RecursionError:
            raise SpaceError(
                f"the space file {spec!r} nests objects and lists too deeply to read; flatten "
                "it, e.g. one choice among the combinations instead of choices nested in choices"
            ) from None
        space = space_from_json(data, path.name)
    else:
        file, colon, name = spec.rpartition(":")
        if not colon or not file.endswith(".py") or not name.isidentifier():
            raise SpaceError(
                f"--space {spec!r}: give a .json file or FILE.py:NAME (a Python file and the "
                "name of the variable holding the space)"
            )
        space = _space_from_python(Path(file), name, spec)
    try:
        compile_space(space)  # raises SpaceError with the reason
    except SpaceError:
        raise
    except Exception as exc:  # a container of the user's whose methods fail
        raise SpaceError(
            f"--space {spec!r}: reading the space raised {type(exc).__name__}: "
            f"{_exception_text(exc)}"
        ) from exc
    return space


def _space_from_python(path: Path, name: str, spec: str) -> object:
    if not path.is_file():
        raise SpaceError(f"--space {spec!r}: no file {os.fspath(path)!r}")
    module_spec = importlib.util.spec_from_file_location(f"_asynchpo_space_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise SpaceError(f"--space {spec!r}: cannot load {os.fspath(path)!r} as Python")
    module = importlib.util.module_from_spec(module_spec)
    shown = os.fspath(path)
    try:
        module_spec.loader.exec_module(module)
    except SystemExit as exc:  # sys.exit() or argparse at the top level of the file
        raise SpaceError(
            f"--space {spec!r}: the space file {shown!r} exited (SystemExit "
            f"{_exception_text(exc) or 'None'}) while loading; a space file must only define "
            "the space: put the rest under if __name__ == '__main__':"
        ) from None
    except KeyboardInterrupt:
        raise SpaceError(
            f"--space {spec!r}: loading the space file {shown!r} was interrupted "
            "(KeyboardInterrupt); nothing was run"
        ) from None
    except BaseException as exc:  # any other error of the user's file, even a BaseException
        raise SpaceError(
            f"--space {spec!r}: running {shown!r} raised "
            f"{type(exc).__name__}: {_exception_text(exc)}"
        ) from exc
    try:
        return getattr(module, name)
    except AttributeError:
        raise SpaceError(f"--space {spec!r}: {shown!r} defines no {name!r}") from None
    except Exception as exc:  # a module-level __getattr__ of the user's that fails otherwise
        raise SpaceError(
            f"--space {spec!r}: reading {name!r} from {shown!r} raised "
            f"{type(exc).__name__}: {_exception_text(exc)}"
        ) from exc


def _exception_text(exc: BaseException) -> str:
    """The first line of an exception's message, whatever its ``__str__`` does."""
    try:
        return first_line(str(exc))
    except Exception:
        return "(its message cannot be shown)"
