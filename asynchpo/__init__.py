"""asynchpo: hyperopt for the async age.

``await fmin(...)`` keeps N evaluations of the objective in flight, feeds each result to the
search algorithm the moment it arrives, and checkpoints every trial to SQLite so that an
interrupted search resumes without losing or repeating a finished trial::

    from asynchpo import hp, fmin, tpe, STATUS_OK

    best = await fmin(objective, {"lr": hp.loguniform("lr", -9, -1)}, algo=tpe.suggest,
                      max_evals=200, concurrency=16, storage="runs.sqlite", study="exp1")
"""

from asynchpo import anneal as anneal
from asynchpo import hp as hp
from asynchpo import mix as mix
from asynchpo import pruners as pruners
from asynchpo import rand as rand
from asynchpo import tpe as tpe
from asynchpo._command import Command as Command
from asynchpo._early_stop import no_progress_loss as no_progress_loss
from asynchpo._exceptions import AllTrialsFailed as AllTrialsFailed
from asynchpo._exceptions import AsynchpoError as AsynchpoError
from asynchpo._exceptions import ConfigError as ConfigError
from asynchpo._exceptions import ExecutorError as ExecutorError
from asynchpo._exceptions import LeaseLost as LeaseLost
from asynchpo._exceptions import SpaceError as SpaceError
from asynchpo._exceptions import StorageError as StorageError
from asynchpo._exceptions import StudyError as StudyError
from asynchpo._exceptions import StudyMismatch as StudyMismatch
from asynchpo._exceptions import StudyNotFound as StudyNotFound
from asynchpo._exceptions import TrialCrashed as TrialCrashed
from asynchpo._exceptions import TrialPruned as TrialPruned
from asynchpo._executors._base import Executor as Executor
from asynchpo._executors._base import TrialContext as TrialContext
from asynchpo._executors._base import TrialObjective as TrialObjective
from asynchpo._executors._base import current_trial as current_trial
from asynchpo._executors._dask import DaskExecutor as DaskExecutor
from asynchpo._executors._local import LocalExecutor as LocalExecutor
from asynchpo._executors._process import ProcessExecutor as ProcessExecutor
from asynchpo._fmin import fmin as fmin
from asynchpo._fmin import fmin_sync as fmin_sync
from asynchpo._fmin import load_trials as load_trials
from asynchpo._fmin import load_trials_sync as load_trials_sync
from asynchpo._results import STATUS_FAIL as STATUS_FAIL
from asynchpo._results import STATUS_OK as STATUS_OK
from asynchpo._results import json_safe as json_safe
from asynchpo._sample import sample as sample
from asynchpo._space import Space as Space
from asynchpo._space import compile_space as compile_space
from asynchpo._space import space_eval as space_eval
from asynchpo._storage import MemoryStorage as MemoryStorage
from asynchpo._storage import PostgresStorage as PostgresStorage
from asynchpo._storage import SqliteStorage as SqliteStorage
from asynchpo._storage import Storage as Storage
from asynchpo._storage._urls import is_postgres_url as is_postgres_url
from asynchpo._storage._urls import mask_url as mask_url
from asynchpo._study import RunningTrial as RunningTrial
from asynchpo._study import Study as Study
from asynchpo._study import open_study as open_study
from asynchpo._study_sync import SyncStudy as SyncStudy
from asynchpo._study_sync import open_study_sync as open_study_sync
from asynchpo._suggesters._base import History as History
from asynchpo._suggesters._base import Suggester as Suggester
from asynchpo._summary import StudySummary as StudySummary
from asynchpo._summary import list_studies as list_studies
from asynchpo._trial import Trial as Trial
from asynchpo._trial import TrialState as TrialState
from asynchpo._trials import Trials as Trials
from asynchpo._trials import generate_trials_to_calculate as generate_trials_to_calculate
from asynchpo.hp import scope as scope

__version__ = "0.1.0"

# Last: the dashboard's module reads the names above (its server's packages load when used).
from asynchpo import dashboard as dashboard

__all__ = [
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
    "LeaseLost",
    "LocalExecutor",
    "MemoryStorage",
    "PostgresStorage",
    "ProcessExecutor",
    "RunningTrial",
    "Space",
    "SpaceError",
    "SqliteStorage",
    "Storage",
    "StorageError",
    "Study",
    "StudyError",
    "StudyMismatch",
    "StudyNotFound",
    "StudySummary",
    "Suggester",
    "SyncStudy",
    "Trial",
    "TrialContext",
    "TrialCrashed",
    "TrialObjective",
    "TrialPruned",
    "TrialState",
    "Trials",
    "__version__",
    "anneal",
    "compile_space",
    "current_trial",
    "dashboard",
    "fmin",
    "fmin_sync",
    "generate_trials_to_calculate",
    "hp",
    "is_postgres_url",
    "json_safe",
    "list_studies",
    "load_trials",
    "load_trials_sync",
    "mask_url",
    "mix",
    "no_progress_loss",
    "open_study",
    "open_study_sync",
    "pruners",
    "rand",
    "sample",
    "scope",
    "space_eval",
    "tpe",
]
