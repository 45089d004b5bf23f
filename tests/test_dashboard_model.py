"""The dashboard's bookkeeping, without a server: cursors, rows, curves, error lines."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from asynchpo import Trial, TrialState
from asynchpo._dashboard._model import MAX_CURVES, Columns, curves, error_line, trial_row

pytestmark = pytest.mark.timeout(30)


def trial(tid: int, state: TrialState = TrialState.OK, **fields: Any) -> Trial:
    defaults: dict[str, Any] = {
        "params": {"x": 0.5},
        "loss": float(tid) if state is TrialState.OK else None,
        "created": 100.0 + tid,
        "started": 100.5 + tid,
        "finished": 101.0 + tid if state.is_finished else None,
    }
    return Trial(id=tid, state=state, **{**defaults, **fields})


def test_a_cursor_brings_the_latest_record_of_each_trial_changed_after_it() -> None:
    columns = Columns(["x"], 100.0, [trial(0), trial(1, TrialState.RUNNING)])
    start = columns.cursor
    assert columns.changed_since(start) == []
    columns.take(trial(2, TrialState.RUNNING))
    columns.take(trial(1))
    columns.take(trial(2))
    changed = columns.changed_since(start)
    assert changed is not None
    assert [(t.id, t.state) for t in changed] == [(1, TrialState.OK), (2, TrialState.OK)]
    assert columns.cursor == start + 3
    assert columns.changed_since(columns.cursor) == []
    for foreign in (start - 3, columns.cursor + 1, 0, -(2**62)):
        assert columns.changed_since(foreign) is None


def test_two_servers_hand_out_cursors_the_other_refuses() -> None:
    one, two = Columns(["x"], 0.0), Columns(["x"], 0.0)
    assert two.changed_since(one.cursor) is None
    assert one.changed_since(two.cursor) is None


def test_rows_are_strict_json_with_times_from_t0() -> None:
    record = trial(
        3,
        params={"x": 0.123456789012345},
        result={"loss": 3.0, "status": "ok", "nan": math.nan, "deep": {"a": ["b" * 500]}},
        loss=3.0,
    )
    row = json.loads(Columns(["x", "y"], 100.0, [record]).rows())["rows"][0]
    assert row[:5] == [3, "ok", 3.0, 3.5, 4.0]
    assert row[5] == [0.123456789, None]  # 9 digits; y inactive
    assert row[6]["nan"] == "NaN"
    assert len(row[6]["deep"]) == 200  # other JSON as its text, cut
    assert row[7] is None
    assert row[8] == 0
    assert trial_row(record, ["x"], 100.0)[2] == 3.0


def test_a_row_is_encoded_again_when_its_trial_changes() -> None:
    columns = Columns(["x"], 100.0, [trial(0, TrialState.RUNNING)])
    assert json.loads(columns.rows())["rows"][0][1] == "running"
    columns.take(trial(0))
    assert json.loads(columns.rows())["rows"][0][1] == "ok"


def test_curves_keep_the_best_and_the_latest_up_to_the_cap() -> None:
    records = [
        trial(tid, reports=((0, 10.0 + tid), (1, float(tid))), loss=float((tid * 7919) % 1000))
        for tid in range(MAX_CURVES + 300)
    ]
    kept = curves(records)["trials"]
    assert len(kept) == MAX_CURVES
    by_loss = sorted(records, key=lambda t: (t.loss, t.id))
    assert {str(t.id) for t in by_loss[:50]} <= set(kept)
    assert str(records[-1].id) in kept  # the latest
    assert kept[str(by_loss[0].id)] == [[0, 10.0 + by_loss[0].id], [1, float(by_loss[0].id)]]


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (None, None),
        ("Traceback (most recent call last):\n  File x\nValueError: bad\n", "ValueError: bad"),
        ("the program exited with status 3\nstderr: boom", "the program exited with status 3"),
        ("x" * 300, "x" * 199 + "…"),
        ("\n\n", ""),
    ],
)
def test_the_error_line_is_what_went_wrong(error: str | None, line: str | None) -> None:
    assert error_line(error) == line
