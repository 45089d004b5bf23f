"""The public surface is pinned: adding or removing a name is a deliberate change."""

from __future__ import annotations

import inspect
import subprocess
import sys

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
    "json_safe",
    "list_studies",
    "load_trials",
    "mix",
    "load_trials_sync",
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
    exported = {name for name in vars(asynchpo) if not name.startswith("_")}
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
