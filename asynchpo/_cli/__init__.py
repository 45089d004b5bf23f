"""The ``asynchpo`` command line: run a search over a program, and look at stored studies.

::

    asynchpo run --space space.json --storage runs.sqlite --study exp1 --max-evals 50 \\
        --concurrency 4 -- python train.py --lr {lr} --layers {layers}
    asynchpo studies runs.sqlite
    asynchpo show runs.sqlite exp1
    asynchpo trials runs.sqlite exp1 --format csv
    asynchpo plot runs.sqlite exp1 -o report.html
    asynchpo plot runs.sqlite exp1 --curves -o curves.png

``run`` evaluates the command after ``--`` once per trial (see :class:`asynchpo.Command`:
``{label}`` placeholders, ``ASYNCHPO_PARAMS`` in the environment, the loss read from the last
number or JSON object with ``loss`` on stdout). Running it again with the same storage and
study resumes the search up to the new ``--max-evals``. A trial whose program fails is recorded
as failed and the search goes on. Ctrl-C stops the run cleanly: trials in flight are recorded
as interrupted and run again on resume (exit code 130). SIGTERM, how batch schedulers (SLURM,
Kubernetes) preempt a job, does the same (exit code 143): the programs of the trials in flight
get SIGTERM, and SIGKILL 5 s later if they still run. Before the search starts (while Python
starts and the space is loaded), SIGTERM ends the process at once, as by default: nothing is
stored yet.

Several objectives: ``run --directions minimize maximize ...`` (one per objective; the
program prints a JSON list of as many values, ``[0.12, 30]``, or ``{"loss": [0.12, 30]}``,
optionally with ``"constraints": [c1, ...]``, feasible when every one is ``<= 0``); ``run``
then ends with the Pareto front, ``show`` lists it as a table, ``studies`` shows its size
(``front of 12``) where the best loss goes, and ``trials`` has a column per objective
(``loss[0]``, ``loss[1]``...) and per constraint (``c[0]``...) with ``feasible``.
``--direction maximize`` maximises a single objective (its values shown as returned). A
resumed study keeps its directions without the flags.

Several ``run`` commands may drive one study at once (other terminals, GPUs, machines sharing
the file, a SLURM array): they share ``--max-evals``, and each holds a lease on its trials that
it renews every ``--lease-seconds / 3``. The trials of a driver that stopped renewing it (killed,
suspended) run again under another driver, or on the next start. ``show`` and ``studies`` tell
the trials that a live driver runs from such stale ones.

The search space (``--space``) is either ``file.py:name``, a Python file that defines the space
as the variable ``name`` (built with ``asynchpo.hp``), or a ``.json`` file holding an object::

    {"lr": ["loguniform", -9, -1],
     "layers": ["choice", [1, 2, 3]],
     "opt": ["choice", [{"name": "sgd", "momentum": ["uniform", 0, 1]}, {"name": "adam"}]],
     "batch": 64,
     "tags": {"const": ["a", "b"]}}

A list whose first element is a string is a parameter: the string names an ``hp`` function
(``choice``, ``pchoice``, ``uniform``, ``quniform``, ``loguniform``, ``qloguniform``,
``normal``, ``qnormal``, ``lognormal``, ``qlognormal``, ``randint``, ``uniformint``), the
parameter is labelled with its key, and the rest of the list are the function's arguments after
the label. Any other first string is an error that names the label and the known names, so a
misspelt distribution never becomes a constant. The options of ``choice`` (and the
``[probability, option]`` pairs of ``pchoice``) may be objects or lists that contain more such
parameters, each labelled with its own key. Numbers, strings, booleans, null, objects and lists
that do not start with a string are constants (objects and lists are read for parameters
inside); ``{"const": value}``, an object whose only key is ``const``, is ``value`` as it is,
nothing in it read as a parameter: the way to write a constant list that starts with a string.

``--storage`` (and the storage argument of the other commands) is a SQLite file's path, or
Optuna's URL form of one: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``; or a
PostgreSQL database: ``postgresql://user:password@host:5432/database`` (``postgres://`` too;
the password may come from ``PGPASSWORD`` or ``~/.pgpass`` instead). Every line the commands
print names such a URL with its password as ``***``; a database that cannot be reached, or a
malformed URL, is a one-line error (exit code 1). The trials' logs of a study in PostgreSQL go
to ``./asynchpo-logs/<study>/`` unless ``--log-dir`` says otherwise.

What a person reads shows each choice as the option's value, not its index: ``trials``,
``show``, ``plot``, like :meth:`asynchpo.Trials.to_dataframe` (an option that is an object or
a list is shown as JSON). The keys a program reports besides ``loss`` and ``status`` (its
metrics, e.g. ``{"loss": 0.17, "accuracy": 0.94}``) are columns of ``trials``, next to
``started``, ``finished`` and ``duration``; ``show`` lists the best trial's.

``asynchpo`` alone prints the help (exit code 0); ``asynchpo --version`` the version.

Exit codes: 0 success; 1 the run failed (no trial succeeded, or a trial's error stopped it), an
optional dependency is missing (the message names the ``pip install`` extra), or the PostgreSQL
database cannot be used (unreachable, refused, a malformed URL); 2 a usage
error (bad arguments, missing file, unknown study, bad space); 130 interrupted (Ctrl-C); 143
terminated (SIGTERM).

The package, by job: :mod:`._spaces` (reading ``--space`` files: JSON and Python),
:mod:`._render` (tables, text and JSON output) and :mod:`._commands` (the parser and the
subcommands). It is a client of the public API only: it imports nothing private of asynchpo
(tests/test_cli.py checks every import of the package).
"""

from asynchpo._cli._commands import build_parser as build_parser
from asynchpo._cli._commands import main as main
from asynchpo._cli._spaces import load_space as load_space
from asynchpo._cli._spaces import space_from_json as space_from_json

__all__ = ["build_parser", "load_space", "main", "space_from_json"]
