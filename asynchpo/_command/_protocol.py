"""How a program reports: result and report lines on stdout, the result file, and the
temporary files that carry the result and the parameters."""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from asynchpo._command._pipes import _clip


class _ResultFiles:
    """Paths for ``ASYNCHPO_RESULT_FILE`` and ``ASYNCHPO_PARAMS_FILE``: unique, in one private
    folder per process.

    One folder, not one per trial: making and removing a folder can cost more than the rest
    of what Command adds to a short trial. The folder is removed at exit.
    """

    def __init__(self) -> None:
        self._folder: Path | None = None
        self._owner = 0
        self._count = itertools.count()

    def new(self, kind: str = "result") -> Path:
        if self._folder is None or self._owner != os.getpid():  # a forked child makes its own
            self._folder = Path(tempfile.mkdtemp(prefix="asynchpo-results-"))
            self._owner = os.getpid()
            atexit.register(shutil.rmtree, self._folder, ignore_errors=True)
        return self._folder / f"{kind}-{next(self._count)}.json"


_RESULT_FILES = _ResultFiles()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _result_line(line: str) -> dict[str, Any] | None:
    """A stdout line's result: a number, or a JSON object that has ``loss`` (and no ``step``:
    that is a report); else None."""
    text = line.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply
            return None
        if isinstance(value, dict) and "loss" in value and "step" not in value:
            return value
        return None
    try:
        return {"loss": float(text)}
    except ValueError:
        return None


def _report_line(line: bytes) -> tuple[object, object] | None:
    """``(step, loss)`` of a report line (a JSON object with ``step`` and ``loss``), else None."""
    text = line.strip()
    if not text.startswith(b"{") or b'"step"' not in text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or "step" not in value or "loss" not in value:
        return None
    return value["step"], value["loss"]


def _result_file(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return {
            "status": "fail",
            "error": "the process wrote $ASYNCHPO_RESULT_FILE but it is not JSON: "
            f"{_clip(repr(raw))}; write a number or an object with 'loss'",
        }
    if _is_number(value):
        return {"loss": value}
    if isinstance(value, dict):
        return value
    return {
        "status": "fail",
        "error": f"$ASYNCHPO_RESULT_FILE holds {_clip(repr(value))}; "
        "write a number or an object with 'loss'",
    }
