"""Objectives for the process-pool tests: importable, so workers can unpickle them."""

from __future__ import annotations

import os
from typing import Any


def cpu_bound(params: dict[str, Any]) -> dict[str, Any]:
    """A little real work, and the pid that did it."""
    total = sum(i * i for i in range(20_000))
    return {"loss": float(params["x"]) ** 2, "status": "ok", "pid": os.getpid(), "work": total}


def crash_on_negative(params: dict[str, Any]) -> float:
    """Dies without a word (as a segfault would) when x is negative."""
    if float(params["x"]) < 0:
        os._exit(3)
    return float(params["x"])
