"""What a run shows on stderr: a one-line live progress display, and with ``verbose`` a line
per finished trial.

The progress line is redrawn when a trial starts or ends (at most ten times a second) and on
a timer while trials run, so that its clock moves during long trials. A trial's line is
written above the progress line, which is drawn again below it.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from asynchpo._results import safe_str
from asynchpo._trial import Trial, TrialState

__all__ = ["REDRAW_EVERY", "Progress", "trial_line"]

_REDRAW_AT_MOST_EVERY = 0.1  # seconds
#: How often the run redraws the progress line while nothing finishes (seconds).
REDRAW_EVERY = 0.5


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def trial_line(record: Trial, best: float | None) -> str:
    """The one line ``verbose`` shows for a finished trial."""
    took = record.duration
    took_text = "" if took is None else f" in {took:.3g} s"
    if record.state is TrialState.OK:
        best_text = "" if best is None else f" (best {best:.6g})"
        return f"trial {record.id} ok{took_text}: loss {record.loss:.6g}{best_text}"
    if record.state is TrialState.PRUNED:
        loss = "-" if record.loss is None else f"{record.loss:.6g}"
        return f"trial {record.id} pruned{took_text}: last reported loss {loss}"
    error = (record.error or "").strip().splitlines()
    # A traceback's last line says what was raised; a one-line error is itself.
    why = safe_str(error[-1]) if error else "no reason given"
    state = "failed" if record.state is TrialState.FAIL else record.state.value
    return f"trial {record.id} {state}{took_text}: {why}"


class Progress:
    """Shows finished/total, running, failed (and pruned), the best loss, the time the run has
    taken and the time left.

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
        self._line = ""

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
        if not force and now - self._drawn_at < _REDRAW_AT_MOST_EVERY:
            return
        self._drawn_at = now
        total = "?" if self._total is None else str(self._total)
        parts = [f"{finished}/{total} trials", f"{running} running", f"{failed} failed"]
        if pruned:
            parts.append(f"{pruned} pruned")
        parts.append("best loss: -" if best is None else f"best loss: {best:.6g}")
        elapsed = now - self._started
        clock = f"{_clock(elapsed)} elapsed"
        done_here = finished - self._start_finished
        if self._total is not None and done_here > 0:
            left = elapsed / done_here * max(0, self._total - finished)
            clock += f", ETA {_clock(left)}"
        parts.append(clock)
        self._line = " | ".join(parts)
        self._write("\r" + self._line.ljust(self._width))
        self._width = len(self._line)

    def message(self, text: str) -> None:
        """Write ``text`` on a line of its own above the progress line."""
        self._write("\r" + text.ljust(self._width) + "\n" + self._line)
        self._width = len(self._line)

    def close(self) -> None:
        """End the line."""
        self._write("\n")

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()
