"""A one-line live progress display on stderr, redrawn at most ten times a second."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

__all__ = ["Progress"]

_REDRAW_EVERY = 0.1  # seconds


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    """Shows finished/total, running, failed (and pruned), the best loss and the time left.

    Drawing is throttled so that a fast search spends almost nothing on it; the estimate of
    the time left is the mean time per trial finished in this run times the trials left.
    """

    def __init__(self, total: int | None, already_finished: int, stream: TextIO | None = None):
        self._total = total
        self._start_finished = already_finished
        self._stream = stream if stream is not None else sys.stderr
        self._started = time.monotonic()
        self._drawn_at = -math.inf
        self._width = 0

    def update(
        self,
        finished: int,
        running: int,
        failed: int,
        best: float | None,
        *,
        pruned: int = 0,
        force: bool = False,
    ) -> None:
        """Redraw the line, unless it was drawn less than 0.1 s ago and ``force`` is false."""
        now = time.monotonic()
        if not force and now - self._drawn_at < _REDRAW_EVERY:
            return
        self._drawn_at = now
        total = "?" if self._total is None else str(self._total)
        parts = [f"{finished}/{total} trials", f"{running} running", f"{failed} failed"]
        if pruned:
            parts.append(f"{pruned} pruned")
        parts.append("best loss: -" if best is None else f"best loss: {best:.6g}")
        done_here = finished - self._start_finished
        if self._total is not None and done_here > 0:
            left = (now - self._started) / done_here * max(0, self._total - finished)
            parts.append(f"ETA {_clock(left)}")
        line = " | ".join(parts)
        self._stream.write("\r" + line.ljust(self._width))
        self._stream.flush()
        self._width = len(line)

    def close(self) -> None:
        """End the line."""
        self._stream.write("\n")
        self._stream.flush()
