"""The public surface is pinned: adding or removing a name is a deliberate change."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import asynchpo

PUBLIC = {
    "open_study_sync",
    "open_study",
    "SyncStudy",
    "Study",
    "RunningTrial",
    "LeaseLost",
    "STATUS_FAIL",
    "STATUS_OK",
    "AllTrialsFailed",
    "AsynchpoError",
    "Command",
    "ConfigError",
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "History",
    "LocalExecutor",
    "MemoryStorage",
    "PostgresStorage",
    "ProcessExecutor",
    "Space",
    "SpaceError",
    "SqliteStorage",
    "Storage",
    "StorageError",
    "StudyError",
    "StudyMismatch",
    "StudyNotFound",
    "StudySummary",
    "Suggester",
    "Trial",
    "TrialContext",
    "TrialCrashed",
    "TrialPruned",
    "TrialObjective",
    "TrialState",
    "Trials",
    "__version__",
    "anneal",
    "compile_space",
    "current_trial",
    "fmin",
    "fmin_sync",
    "generate_trials_to_calculate",
    "hp",
    "is_postgres_url",
    "json_safe",
    "list_studies",
    "load_trials",
    "mix",
    "load_trials_sync",
    "mask_url",
    "no_progress_loss",
    "pruners",
    "dashboard",
    "rand",
    "sample",
    "scope",
    "space_eval",
    "tpe",
}


def test_all_is_exactly_the_public_names() -> None:
    # ruff keeps __all__ in isort order (constants, classes, then the rest); no duplicates.
    assert len(asynchpo.__all__) == len(set(asynchpo.__all__))
    assert set(asynchpo.__all__) == PUBLIC
    for name in asynchpo.__all__:
        assert hasattr(asynchpo, name), name


def test_no_other_public_attributes() -> None:
    # asynchpo.testing (suites for test modules; it imports pytest) is not imported by
    # asynchpo: it appears here only once a test module has imported it.
    exported = {name for name in vars(asynchpo) if not name.startswith("_")} - {"testing"}
    assert exported == PUBLIC - {"__version__"}


def test_every_public_name_has_a_docstring() -> None:
    for name in asynchpo.__all__:
        value = getattr(asynchpo, name)
        if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value):
            assert inspect.getdoc(value), f"{name} has no docstring"


def test_the_dashboard_module_is_pinned_and_needs_no_extra_to_import() -> None:
    assert asynchpo.dashboard.__all__ == ["create_app", "is_loopback", "report_html", "serve"]
    done = subprocess.run(
        [sys.executable, "-c", "import sys, asynchpo; print('starlette' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "False"  # the server's packages load only when served


def test_hyperopt_names_are_where_hyperopt_users_look() -> None:
    for module in (asynchpo.rand, asynchpo.anneal, asynchpo.tpe, asynchpo.mix):
        assert callable(module.suggest)
        assert inspect.getdoc(module.suggest)
    for name in (
        "choice",
        "pchoice",
        "uniform",
        "quniform",
        "loguniform",
        "qloguniform",
        "normal",
        "qnormal",
        "lognormal",
        "qlognormal",
        "randint",
        "uniformint",
    ):
        assert callable(getattr(asynchpo.hp, name)), name
    assert asynchpo.STATUS_OK == "ok"
    assert asynchpo.STATUS_FAIL == "fail"
    assert issubclass(asynchpo.SpaceError, ValueError)
    assert issubclass(asynchpo.SpaceError, asynchpo.AsynchpoError)


# A user's test module for three storages: asynchpo's own, one that forgets fencing (a late
# record is stored over the new holder's), and one that hands the same ids out twice.
_CONTRACT_USER = """
import pytest

from asynchpo import MemoryStorage
from asynchpo.testing.storage import StorageContract


class ForgetsFencing(MemoryStorage):
    async def write(self, study_id, trials):
        holders = {trial.id: trial.driver for trial in await self.trials(study_id)}
        taken = [trial.replace(driver=holders.get(trial.id, trial.driver)) for trial in trials]
        return await super().write(study_id, taken)


class ReusesIds(MemoryStorage):
    async def new_trials(self, study_id, driver, trials, max_evals):
        started, version = await super().new_trials(study_id, driver, trials, max_evals)
        self._next_tids[study_id] -= len(started)
        return started, version


class TestMemoryStorage(StorageContract):
    @pytest.fixture
    async def storage(self):
        store = MemoryStorage()
        yield store
        await store.aclose()


class TestForgetsFencing(StorageContract):
    @pytest.fixture
    async def storage(self):
        store = ForgetsFencing()
        yield store
        await store.aclose()


class TestReusesIds(StorageContract):
    @pytest.fixture
    async def storage(self):
        store = ReusesIds()
        yield store
        await store.aclose()
"""


def run_user_suite(
    folder: Path, name: str, source: str, ini: str
) -> tuple[dict[str, list[str]], set[tuple[str, str]]]:
    """Run a user's test module ``name`` (with ``pytest.ini`` holding ``ini``) in a
    subprocess: the tests each class ran (sorted), and the (class, test) pairs that failed.
    The run must fail (each module holds a broken implementation)."""
    (folder / "pytest.ini").write_text(ini)
    (folder / name).write_text(source)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfp", "-p", "no:cacheprovider", name],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=50,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    pattern = rf"^(PASSED|FAILED) {re.escape(name)}::(\w+)::(\w+)"
    outcomes = re.findall(pattern, done.stdout, re.MULTILINE)
    ran: dict[str, list[str]] = {}
    for _, cls, test in outcomes:
        ran.setdefault(cls, []).append(test)
    failed = {(cls, test) for outcome, cls, test in outcomes if outcome == "FAILED"}
    return {cls: sorted(tests) for cls, tests in ran.items()}, failed


def test_the_storage_contract_is_a_suite_other_storages_reuse(tmp_path: Path) -> None:
    from asynchpo.testing import storage

    assert storage.__all__ == [
        "CONFIG",
        "StorageContract",
        "done",
        "finished",
        "running",
        "starting",
    ]
    assert inspect.getdoc(storage.StorageContract)
    plain = subprocess.run(
        [sys.executable, "-c", "import sys, asynchpo; print('pytest' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert plain.stdout.strip() == "False"  # only test suites import pytest
    ran, failed = run_user_suite(
        tmp_path, "test_my_storage.py", _CONTRACT_USER, "[pytest]\nasyncio_mode = auto\n"
    )
    # The three classes ran the same tests; StorageContract was not collected on its own.
    assert set(ran) == {"TestMemoryStorage", "TestForgetsFencing", "TestReusesIds"}, ran
    assert len(ran["TestMemoryStorage"]) >= 50
    assert all(names == ran["TestMemoryStorage"] for names in ran.values())
    assert {cls for cls, _ in failed} == {"TestForgetsFencing", "TestReusesIds"}, failed
    fencing = "test_a_record_of_a_trial_another_driver_holds_is_refused"
    assert ("TestForgetsFencing", fencing) in failed
    assert ("TestReusesIds", "test_new_trials_take_dense_ids_within_the_budget") in failed


# A user's test module for algorithms and pruners: asynchpo's own, a suggester that puts one
# value outside the support, and a pruner that decides at random.
_ALGO_AND_PRUNER_USER = """
import random

import numpy as np
import pytest

from asynchpo import rand
from asynchpo.pruners import MedianPruner
from asynchpo.testing.pruner import PrunerContract
from asynchpo.testing.suggester import SuggesterContract


def off_the_support(space, history, pending, rng):
    row = rand.suggest(space, history, pending, rng)
    active = np.flatnonzero(~np.isnan(row))
    row[active[-1]] = 1e12 if row[active[-1]] >= 0 else -1e12
    return row


off_the_support.multi_objective = True  # like rand.suggest, whose rows it spoils


class CoinPruner(MedianPruner):
    def __init__(self, **options):
        super().__init__(**options)
        self.coin = random.Random()  # seeded from the OS

    def should_prune(self, trial_id, step, loss):
        return self.coin.random() < 0.5


class TestRand(SuggesterContract):
    @pytest.fixture
    def algo(self):
        return rand.suggest


class TestOffTheSupport(SuggesterContract):
    @pytest.fixture
    def algo(self):
        return off_the_support


class TestMedian(PrunerContract):
    @pytest.fixture
    def pruner_factory(self):
        return lambda: MedianPruner(n_startup_trials=1)


class TestCoin(PrunerContract):
    @pytest.fixture
    def pruner_factory(self):
        return lambda: CoinPruner(n_startup_trials=1)
"""


def test_the_suggester_and_pruner_contracts_are_suites_other_code_reuses(tmp_path: Path) -> None:
    from asynchpo.testing import pruner, suggester

    assert suggester.__all__ == ["SPACES", "SuggesterContract", "assert_in_support", "history_of"]
    assert "PrunerContract" in pruner.__all__
    assert inspect.getdoc(suggester.SuggesterContract)
    assert inspect.getdoc(pruner.PrunerContract)
    ran, failed = run_user_suite(tmp_path, "test_my_parts.py", _ALGO_AND_PRUNER_USER, "[pytest]\n")
    # The contracts were not collected on their own; each subclass ran its contract's tests.
    assert set(ran) == {"TestRand", "TestOffTheSupport", "TestMedian", "TestCoin"}, ran
    assert ran["TestOffTheSupport"] == ran["TestRand"]
    assert ran["TestCoin"] == ran["TestMedian"]
    assert len(ran["TestRand"]) >= 6
    assert len(ran["TestMedian"]) >= 4
    assert {cls for cls, _ in failed} == {"TestOffTheSupport", "TestCoin"}
    assert ("TestOffTheSupport", "test_rows_lie_in_the_support") in failed
    assert ("TestCoin", "test_knowledge_is_a_function_of_the_stored_reports") in failed
    assert ("TestCoin", "test_replays_in_any_order_agree") in failed
