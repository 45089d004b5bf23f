"""A study's summary from what its ledger keeps (``tally``, what ``Study.summary`` and the
dashboard use at every poll) equals the summary counted over every trial (``summarize``):
counts, best, last activity, live drivers and stale trials, for any sequence of records."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import asynchpo
from asynchpo import Trial, TrialState, hp
from asynchpo._ledger import Ledger
from asynchpo._log_folder import study_folder
from asynchpo._storage import Driver, StudyConfig, StudyRecord
from asynchpo._summary import summarize, tally

pytestmark = pytest.mark.timeout(60)

RECORD = StudyRecord(1, "s", StudyConfig([], "", "rand", 0), created=1000.0)
NOW = 2000.0
DRIVERS = [
    Driver(1, 1, "a", 11, started=1000.0, seen=1990.0, lease=30.0),  # alive
    Driver(2, 1, "b", 12, started=1000.0, seen=1500.0, lease=30.0),  # lapsed
    Driver(3, 1, "c", 13, started=1000.0, seen=1995.0, lease=30.0, ended=1996.0),  # ended
]

records = st.builds(
    lambda tid, state, loss, created, took, driver: Trial(
        id=tid,
        state=state,
        params={},
        loss=loss if state in (TrialState.OK, TrialState.PRUNED) else None,
        created=created,
        started=None if state is TrialState.QUEUED else created + took,
        finished=created + 2 * took if state.is_finished else None,
        driver=driver,
    ),
    tid=st.integers(0, 30),
    state=st.sampled_from(list(TrialState)),
    loss=st.floats(-5, 5),
    created=st.floats(1000, 1900),
    took=st.floats(0, 40),
    driver=st.sampled_from([None, 1, 2, 3, 4]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(records, max_size=60))
def test_the_ledger_tally_equals_the_count_over_every_trial(sequence: list[Trial]) -> None:
    ledger = Ledger(None)
    for record in sequence:
        ledger.absorb([record])
    kept = ledger.trials()  # what a reader keeps: finished records are final
    counted = summarize(RECORD, kept, DRIVERS, NOW)
    tallied = tally(
        RECORD,
        ledger.counts,
        ledger.best,
        ledger.last_activity,
        ledger.running(),
        DRIVERS,
        NOW,
    )
    assert tallied == counted


async def test_a_study_summary_is_the_tally_and_names_its_log_folder(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    await asynchpo.fmin(
        lambda p: p["x"],
        {"x": hp.uniform("x", 0, 1)},
        algo=asynchpo.rand.suggest,
        max_evals=9,
        storage=path,
        study="My Study/1",
    )
    async with asynchpo.open_study(path, "My Study/1") as study:
        assert study.summary() == summarize(study.record, study.trials, await study.drivers())
        assert study.log_folder == tmp_path / "runs-logs" / study_folder("My Study/1")
    async with asynchpo.open_study(None, "m", space={"x": hp.uniform("x", 0, 1)}) as memory:
        assert memory.log_folder is None
