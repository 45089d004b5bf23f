"""Trial attachments stored with the trial, bytes as bytes (issue 13, item 4): the storage
seam's attachment reader over both storages (the seam's other attachment tests are in
:class:`asynchpo.testing.storage.StorageContract`), the SQLite layout and its migration, and
the hyperopt ``trial_attachments`` view reading them back in another process."""

from __future__ import annotations

import contextlib
import os
import pickle
import sqlite3
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest

from asynchpo import Trials, fmin, hp, load_trials, open_study, rand
from asynchpo._exceptions import StorageError
from asynchpo._storage import MemoryStorage, SqliteStorage, StudyConfig
from asynchpo._trial import Trial, TrialState

CONFIG = StudyConfig(space=[{"label": "x"}], fingerprint="f00d", algo="rand", seed=7)
SPACE = {"x": hp.uniform("x", -5, 5)}
MODEL = pickle.dumps({"weights": [1.5, -2.0]}) + b"\x00\xff\xfe"


def _trial(tid: int) -> Trial:
    return Trial(tid, TrialState.RUNNING, {"x": 0.5}, created=1_700_000_000.0)


async def test_the_reader_reads_without_awaiting_after_close(tmp_path: Path) -> None:
    for storage in (MemoryStorage(), await SqliteStorage.open(tmp_path / "r.db")):
        record = await storage.create_study("s", CONFIG)
        await storage.put_attachments(record.id, 2, {"model.pkl": MODEL, "n": 3})
        reader = storage.attachment_reader(record.id)
        await storage.aclose()
        assert reader is not None
        assert reader(2) == {"model.pkl": MODEL, "n": 3}
        assert reader(0) == {}


# --- SQLite: the layout, and files written before attachments --------------------------------


def _rows(path: Path, sql: str) -> list[Any]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


async def test_sqlite_keeps_bytes_as_a_blob(tmp_path: Path) -> None:
    path = tmp_path / "blob.db"
    async with await SqliteStorage.open(path) as storage:
        record = await storage.create_study("s", CONFIG)
        await storage.put_attachments(record.id, 0, {"model.pkl": MODEL, "meta": {"a": 1}})
    assert _rows(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("5",)]
    assert _rows(path, "SELECT name, kind, value, typeof(value) FROM attachments") == [
        ("model.pkl", "bytes", MODEL, "blob"),
        ("meta", "json", b'{"a":1}', "blob"),
    ]


async def test_a_damaged_attachment_is_named(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    async with await SqliteStorage.open(path) as storage:
        record = await storage.create_study("s", CONFIG)
        await storage.put_attachments(record.id, 4, {"meta": {"a": 1}})
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE attachments SET value = x'7b7b'")
    async with await SqliteStorage.open(path) as storage:
        with pytest.raises(StorageError, match=r"damaged: the attachment 'meta'.*trial 4"):
            await storage.attachments(record.id, 4)


def _v4_file(path: Path) -> None:
    """A file as asynchpo wrote it at schema version 4 (before attachments): the current
    layout without the attachments table."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DROP TABLE attachments")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")


async def _study_with_a_trial(path: Path) -> tuple[int, Trial]:
    finished = _trial(0).replace(
        state=TrialState.OK, loss=1.0, result={"loss": 1.0, "status": "ok"}, finished=1.7e9 + 1
    )
    async with await SqliteStorage.open(path) as storage:
        record = await storage.create_study("s", CONFIG)
        await storage.write(record.id, [finished])
    return record.id, finished


async def test_a_version_4_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    study_id, finished = await _study_with_a_trial(path)
    _v4_file(path)
    assert _rows(path, "SELECT name FROM sqlite_master WHERE name = 'attachments'") == []
    async with await SqliteStorage.open(path) as storage:
        assert await storage.trials(study_id) == [finished]
        assert await storage.attachments(study_id, 0) == {}
        await storage.put_attachments(study_id, 0, {"model.pkl": MODEL})
        assert await storage.attachments(study_id, 0) == {"model.pkl": MODEL}
    assert _rows(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("5",)]
    assert _rows(path, "SELECT kind, value FROM attachments") == [("bytes", MODEL)]


async def test_a_version_4_file_is_read_without_a_change(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    await fmin(square, SPACE, algo=rand.suggest, max_evals=2, trials=Trials(), storage=path, seed=1)
    _v4_file(path)
    before = path.read_bytes()
    async with await SqliteStorage.open(path, read_only=True) as storage:
        record = await storage.get_study("default")
        assert len(await storage.trials(record.id)) == 2
        assert await storage.attachments(record.id, 0) == {}
        reader = storage.attachment_reader(record.id)
        assert reader is not None
        assert reader(0) == {}
        with pytest.raises(StorageError):
            await storage.put_attachments(record.id, 0, {"a": b"x"})
    trials = await load_trials(path)
    assert len(trials) == 2
    assert dict(trials.trial_attachments(0)) == {}
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["v4.db"]


# --- fmin, Study and the hyperopt Trials view ------------------------------------------------


class Model:
    def __init__(self, x: float) -> None:
        self.x = x


def square(params: dict[str, float]) -> float:
    return params["x"] ** 2


def with_attachments(params: dict[str, float]) -> dict[str, Any]:
    x = params["x"]
    return {
        "loss": x**2,
        "attachments": {
            "model.pkl": pickle.dumps({"x": x}),
            "coef": (x, 2 * x),
            "object": Model(x),
        },
    }


async def test_fmin_stores_them_and_another_process_reads_them_back(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    trials = Trials()
    await fmin(
        with_attachments, SPACE, algo=rand.suggest, max_evals=3, trials=trials, storage=db, seed=1
    )
    # The process that ran them has the objects themselves.
    assert isinstance(trials.trial_attachments(0)["object"], Model)
    assert trials.trial_attachments(0)["coef"] == (trials.vals["x"][0], 2 * trials.vals["x"][0])
    # The stored result does not carry them: they are stored apart.
    stored = await load_trials(db)
    assert all("attachments" not in record.result for record in stored.records)
    assert all("attachments" not in result for result in stored.results)
    script = textwrap.dedent(
        f"""
        import pickle
        from asynchpo import load_trials_sync
        trials = load_trials_sync({str(db)!r})
        assert trials.attachments == {{}}, trials.attachments  # read when first asked for
        for doc in trials.trials:
            own = trials.trial_attachments(doc)
            x = doc["misc"]["vals"]["x"][0]
            assert type(own["model.pkl"]) is bytes, type(own["model.pkl"])
            assert pickle.loads(own["model.pkl"]) == {{"x": x}}
            assert own["coef"] == [x, 2 * x]
            assert "Model object" in own["object"]
            assert sorted(own) == ["coef", "model.pkl", "object"]
        assert len(trials.attachments) == 9
        print("ok")
        """
    )
    done = await anyio.run_process([sys.executable, "-c", script], check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "ok"


async def test_a_resumed_run_reads_the_earlier_runs_attachments(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    await fmin(
        with_attachments, SPACE, algo=rand.suggest, max_evals=2, trials=Trials(), storage=db, seed=1
    )
    trials = Trials()
    await fmin(
        with_attachments, SPACE, algo=rand.suggest, max_evals=4, trials=trials, storage=db, seed=1
    )
    for doc in trials.trials:
        model = trials.trial_attachments(doc)["model.pkl"]
        assert pickle.loads(model) == {"x": doc["misc"]["vals"]["x"][0]}
    # Trials of this run: the objects; of the earlier one: what storage kept.
    assert isinstance(trials.trial_attachments(3)["object"], Model)
    assert isinstance(trials.trial_attachments(0)["object"], str)


async def test_changes_to_a_loaded_trials_stay_in_that_object(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    await fmin(
        with_attachments, SPACE, algo=rand.suggest, max_evals=1, trials=Trials(), storage=db, seed=1
    )
    trials = await load_trials(db)
    own = trials.trial_attachments(0)
    del own["model.pkl"]
    own["extra"] = b"mine"
    # Not read again over the deletion, and not written to storage.
    assert "model.pkl" not in trials.trial_attachments(0)
    assert trials.attachments["ATTACH::0::extra"] == b"mine"
    again = await load_trials(db)
    assert sorted(again.trial_attachments(0)) == ["coef", "model.pkl", "object"]
    trials.delete_all()
    assert dict(trials.trial_attachments(0)) == {}


async def test_in_memory_trials_keep_them_in_the_memory_storage() -> None:
    trials = Trials()
    await fmin(with_attachments, SPACE, algo=rand.suggest, max_evals=2, trials=trials, seed=1)
    memory = trials._memory
    assert isinstance(memory, MemoryStorage)
    record = await memory.get_study("default")
    stored = await memory.attachments(record.id, 1)
    assert type(stored["model.pkl"]) is bytes
    assert stored["coef"] == [trials.vals["x"][1], 2 * trials.vals["x"][1]]
    # The Trials object gives the objects themselves.
    assert isinstance(trials.trial_attachments(1)["object"], Model)


async def test_tell_stores_a_results_attachments(tmp_path: Path) -> None:
    db = tmp_path / "ask.db"
    async with open_study(db, "s", space=SPACE, algo=rand.suggest, seed=0) as study:
        trial = await study.ask()
        record = await study.tell(trial, {"loss": 1.0, "attachments": {"raw": b"\x00\x01"}})
        assert "attachments" not in record.result
    async with open_study(db, "s") as reader:
        view = reader.trials_view()
        assert view.trial_attachments(0)["raw"] == b"\x00\x01"
    async with await SqliteStorage.open(db, read_only=True) as storage:
        found = await storage.get_study("s")
        assert await storage.attachments(found.id, 0) == {"raw": b"\x00\x01"}


@pytest.mark.parametrize("stored", [False, True])
async def test_a_pickled_trials_still_reads_them(tmp_path: Path, stored: bool) -> None:
    # hyperopt scripts pickle their Trials between rounds.
    trials = Trials()
    storage = tmp_path / "runs.db" if stored else None
    await fmin(
        with_attachments,
        SPACE,
        algo=rand.suggest,
        max_evals=2,
        trials=trials,
        storage=storage,
        seed=1,
    )
    if stored:
        trials = await load_trials(tmp_path / "runs.db")
    again = pickle.loads(pickle.dumps(trials))
    model = again.trial_attachments(1)["model.pkl"]
    assert pickle.loads(model) == {"x": again.vals["x"][1]}
