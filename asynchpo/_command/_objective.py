"""``Command``: the objective that runs a program per trial (see its docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

import anyio

from asynchpo import _checks as checks
from asynchpo._command._argv import (
    _CONVERSIONS,
    _check_lengths,
    _conversion_text,
    _format,
    _is_argv,
    _os_text,
    _parse,
    _placements,
    _Template,
    _too_long,
    _unwritable,
)
from asynchpo._command._logs import _Log, _trial_log
from asynchpo._command._pipes import _PIPE_LINGER, _clip, _drain, _Pipe, _Tail
from asynchpo._command._protocol import _RESULT_FILES, _report_line, _result_file, _result_line
from asynchpo._command._watchdog import _LAUNCHER, _WATCHDOG
from asynchpo._exceptions import ConfigError, TrialCrashed, TrialPruned
from asynchpo._executors._base import TrialContext, current_trial
from asynchpo._results import json_safe

if TYPE_CHECKING:
    from asynchpo._space import Space

logger = logging.getLogger("asynchpo")


# Parameters whose JSON is longer go to ASYNCHPO_PARAMS_FILE only: Linux refuses to start a
# program with an environment variable over 128 KiB (MAX_ARG_STRLEN), and the whole
# environment and command line share 2 MiB or so (ARG_MAX).
_PARAMS_IN_ENV: Final = 64 * 1024


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to every process of a group; False when none is left."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):  # macOS says EPERM for a group of zombies
        return False
    return True


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclasses.dataclass(frozen=True, slots=True)
class _Finished:
    """How a trial's process ended, and the tails of what it wrote."""

    returncode: int
    timed_out: bool
    seconds: float
    stdout: _Tail
    stderr: _Tail
    pruned: TrialPruned | None = None


@final
class Command:
    """An objective that runs a program per trial: ``await fmin(Command([...]), space, ...)``.

    ::

        Command([sys.executable, "train.py", "--lr", "{lr}", "--layers", "{layers}"],
                timeout=3600)

    **What the program receives.**

    - ``{label}`` in an argument is replaced by the label's value in this trial, as the
      objective receives it where the space places the parameter: a ``choice`` label gives
      the chosen option, and ``scope.int`` / ``scope.float`` around the parameter are applied
      (``scope.int(hp.quniform("layers", 1, 4, 1))`` gives ``3``, not ``3.0``). Arithmetic is
      not: a placeholder names a parameter, so in ``10 ** hp.uniform("e", -3, 0)``, ``{e}`` is
      the exponent (the value the stored point holds); a program that needs the computed
      value reads it from ``ASYNCHPO_PARAMS_FILE``. A parameter that the space converts
      differently in different places is refused at start.
    - How values are written: text as itself; whole numbers as digits; floats with every
      digit (``repr``: ``0.30000000000000004``, ``nan``, ``inf``); anything else as JSON, the
      same as in ``ASYNCHPO_PARAMS``: ``true``, ``false``, ``null``, ``{"a": 1}``, ``[1, 2]``
      (tuples as lists, dict keys as strings, non-ASCII text as itself). A choice with an
      option JSON cannot hold (a function, a class, another object) is refused at start.
    - An argument may hold several placeholders and text around them; ``{{`` and ``}}`` are
      literal braces. A placeholder must name a label of the space that is active in every
      trial; a conditional parameter (one inside a ``choice`` branch) is read from
      ``ASYNCHPO_PARAMS_FILE`` or ``ASYNCHPO_PARAMS`` instead.
    - Environment: this process's environment, updated with ``env``, then with the trial's
      ``slot_env`` values, then with ``ASYNCHPO_PARAMS_FILE`` (the path of a file holding the
      trial's parameters as ``space_eval`` gives them, as JSON; a value JSON cannot hold is
      given as its ``repr``), ``ASYNCHPO_PARAMS`` (the same JSON, when it takes at most 64
      KiB), ``ASYNCHPO_TRIAL_ID``, ``ASYNCHPO_SLOT``, ``ASYNCHPO_STUDY`` and
      ``ASYNCHPO_RESULT_FILE`` (a path that does not exist yet). Both files are removed when
      the trial ends.
    - Large parameter sets: Linux refuses to start a program with an argument or an
      environment variable over 128 KiB, or with more than about 2 MiB of both. Parameters
      whose JSON is longer than 64 KiB (thousands of labels, a large constant) are therefore
      only in ``ASYNCHPO_PARAMS_FILE``, which always works: read that in new programs. A
      trial whose own command line is too long (a huge value in a ``{label}``) fails to
      start with :class:`TrialCrashed` saying so; pass such values through the file.
    - stdin is ``/dev/null``. The program runs in ``cwd`` (default: this process's).

    **What it reports.** Either it writes JSON to ``$ASYNCHPO_RESULT_FILE``: a number (the
    loss) or an object with ``loss`` and optionally ``status`` (``"ok"`` or ``"fail"``),
    ``error`` and any other keys, as an objective would return. Or it prints the result as a
    line of stdout: a bare number, or such a JSON object on one line (it must have a ``loss``
    key, which may be ``null`` with ``"status": "fail"``). A study of several objectives
    takes a JSON list of two or more numbers, one per objective (``[0.12, 30]``), or an
    object whose ``loss`` is such a list, optionally with ``"constraints": [c1, ...]``
    (feasible when every one is ``<= 0``); the result file may hold these too. The last line
    that parses as one is the result, and it must be within the last ``tail_bytes`` of
    stdout. The result file takes precedence over stdout. The trial's result gets ``"log"``:
    the path of its log.

    **Progress reports.** While it runs, the program may print its loss after each step (an
    epoch) as a JSON object on a line of stdout with ``step`` (a whole number, increasing)
    and ``loss`` (a finite number): ``{"step": 3, "loss": 0.41}``, flushed (``print(...,
    flush=True)``). Each report is checkpointed with the trial and given to ``fmin``'s
    ``pruner``; a line with ``step`` is never taken as the result. When the pruner stops the
    trial, its process group gets SIGTERM (SIGKILL ``grace`` seconds later), and the trial
    is recorded as pruned with its last reported loss. A malformed report is logged and
    ignored. Reports are read under every executor (under ``DaskExecutor`` on the worker, and
    sent to the search from there).

    **How it ends.**

    - Exit code 0 with a result: the result, interpreted like an objective's return value.
    - Exit code 0 without a result, or an unreadable one: a failed trial whose error says what
      was expected and shows the last lines of stdout. It is not retried.
    - A non-zero exit code, death by a signal, or ``timeout``: :class:`TrialCrashed`, with the
      exit code or signal, the last lines of stderr and the log's path. The trial is recorded
      as failed with that message, or run again if ``fmin`` was given ``retries``.
    - On ``timeout``, or when the trial is cancelled (the run's ``timeout``, a stop condition,
      Ctrl-C), the whole process group gets SIGTERM, and SIGKILL ``grace`` seconds later if
      anything is left. A training script can catch SIGTERM to save a checkpoint.
    - Processes that the program leaves running in its group when it exits get SIGTERM, and
      SIGKILL once they have closed its output or after ``grace`` seconds: a trial's
      processes end with the trial. A process that leaves the group (``setsid``, a daemon) is
      out of reach; if it holds the program's output open, reading stops 2 s after the
      group is gone.

    **Logs.** When ``fmin`` has a log folder, the program's stdout and stderr go to
    ``<log folder>/trial-<id>.log`` as they arrive, between a header (the attempt, the time
    and the command) and a footer (how it ended). A trial that runs again (a retry, or a
    resumed study) appends to its log under a new header. Output of any size and any bytes is
    fine: only the last ``tail_bytes`` of each stream are kept in memory.

    **If this process is killed.** Each trial runs in a new session, so Ctrl-C in a terminal
    reaches only this process, which stops the trials as above. If this process is killed
    outright (SIGKILL, OOM killer), a watchdog process (one per search process, started
    before the first trial) sees its pipe end and SIGKILLs the process group of every trial
    still running: the program and whatever it started in its group, on Linux and macOS
    alike, whenever the kill lands. There is no window: each trial starts as ``/bin/sh``,
    which registers its new process group with the watchdog and only then execs the program
    (the same process, stdin back to ``/dev/null``), which costs about a millisecond per
    trial. A process that left the group on purpose (``setsid``, a daemon) is out of its
    reach. ``die_with_parent=False`` turns the watchdog off (and starts the program
    directly). Windows is not supported (each trial
    needs a POSIX process group): run the search under WSL.

    :param argv: the program and its arguments, one string each (no shell); ``argv[0]`` is
        looked up on ``PATH`` unless it contains a ``/``, in which case it is relative to
        ``cwd``. Placeholders go in the arguments, not in ``argv[0]``.
    :param timeout: seconds a trial may run; ``None`` for no limit.
    :param cwd: the folder the program runs in.
    :param env: environment variables to set for the program, over this process's.
    :param grace: seconds between SIGTERM and SIGKILL.
    :param die_with_parent: kill the program's process group if this process dies (needs
        ``/bin/sh``).
    :param tail_bytes: how much of the end of stdout and of stderr is kept for reading the
        result and for error messages.
    :raises TypeError: for an argument of the wrong kind (``argv`` as one string, ``timeout="10"``).
    :raises ConfigError: for an argument whose value cannot work (``timeout=0``).
    """

    __slots__ = (
        "_argv",
        "_conversions",
        "_cwd",
        "_die_with_parent",
        "_env",
        "_grace",
        "_labels",
        "_objectives",
        "_tail_bytes",
        "_templates",
        "_timeout",
    )
    _argv: tuple[str, ...]
    _templates: tuple[_Template, ...]
    _labels: tuple[str, ...]
    _conversions: dict[str, tuple[str, ...]]
    _objectives: int
    _timeout: float | None
    _cwd: str | None
    _env: dict[str, str]
    _grace: float
    _die_with_parent: bool
    _tail_bytes: int

    def __init__(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        grace: float = 5.0,
        die_with_parent: bool = True,
        tail_bytes: int = 64 * 1024,
    ) -> None:
        if not _is_argv(argv):
            # An empty list is a wrong value; a string, or a list holding a non-string, is
            # the wrong kind of object.
            empty = isinstance(argv, list | tuple) and not argv
            raise (ConfigError if empty else TypeError)(
                "argv must be a non-empty list of strings, one per argument (no shell is "
                "involved), such as [sys.executable, 'train.py', '--lr', '{lr}']; "
                f"got {argv!r:.200}"
            )
        checks.number(
            "timeout", timeout, positive=True, finite=False, allow_none=True, hint="seconds"
        )
        checks.number("grace", grace, at_least=0, hint="seconds")
        checks.whole("tail_bytes", tail_bytes, at_least=1024)
        checks.flag("die_with_parent", die_with_parent)
        if env is not None and not isinstance(env, Mapping):
            raise TypeError(f"env must map strings to strings, got {checks.given(env)}")
        environment = dict(env or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in environment.items()):
            raise TypeError(f"env must map strings to strings, got {env!r:.200}")
        templates = tuple(_parse(arg, i) for i, arg in enumerate(argv))
        if len(templates[0]) > 1:
            raise ConfigError(
                f"argv[0] = {argv[0]!r} is the program and cannot hold a placeholder; "
                "put placeholders in the arguments"
            )
        self._argv = tuple(argv)
        self._templates = templates
        self._labels = tuple(dict.fromkeys(t[i] for t in templates for i in range(1, len(t), 2)))
        self._conversions = {}  # set by prepare: the space's scope.int / scope.float per label
        self._objectives = 1  # set by prepare: the study's number of objectives
        self._timeout = None if timeout is None else float(timeout)
        self._cwd = None if cwd is None else os.fspath(cwd)
        self._env = environment
        self._grace = float(grace)
        self._die_with_parent = bool(die_with_parent)
        self._tail_bytes = int(tail_bytes)

    @property
    def argv(self) -> tuple[str, ...]:
        """The program and its arguments, placeholders included."""
        return self._argv

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels the placeholders name, in order of appearance."""
        return self._labels

    @property
    def timeout(self) -> float | None:
        return self._timeout

    @property
    def cwd(self) -> str | None:
        return self._cwd

    @property
    def env(self) -> Mapping[str, str]:
        return dict(self._env)

    @property
    def grace(self) -> float:
        return self._grace

    def __repr__(self) -> str:
        return f"Command({list(self._argv)!r}, timeout={self._timeout!r}, cwd={self._cwd!r})"

    # --- the TrialObjective protocol ------------------------------------------------------------

    def prepare(self, space: Space, *, objectives: int = 1) -> None:
        """Check, before any trial runs, that every trial could start.

        :param space: the study's compiled space.
        :param objectives: how many objectives the study has: with more than one, a JSON list
            of numbers on stdout (or in the result file) is the result; with one, such a line
            is output like any other.

        :raises ConfigError: for a placeholder that names no label or a conditional one, a
            label the space converts in different ways in different places, a choice with an
            option that JSON cannot write (a function, a class, an object), a program that
            cannot be found or run, or a ``cwd`` that is not a readable folder.
        """
        if os.name != "posix":
            raise ConfigError(
                "Command needs a POSIX system (Linux, macOS): each trial runs in its own "
                "process group. On Windows, run the search under WSL."
            )
        self._objectives = objectives
        for label in self._labels:
            column = space.columns.get(label)
            if column is None:
                known = ", ".join(space.labels)
                raise ConfigError(
                    f"the placeholder {{{label}}} in argv names no label of the space "
                    f"(its labels: {known}); fix the name, or write {{{{ and }}}} for "
                    "literal braces"
                )
            if space.params[column].parents:
                raise ConfigError(
                    f"the placeholder {{{label}}} names a conditional parameter: {label!r} is "
                    "inactive in some trials, so there would be nothing to put in its place. "
                    "Use ASYNCHPO_PARAMS for conditional parameters: the program reads the "
                    "trial's parameters as JSON from that environment variable."
                )
        self._conversions = self._placeholder_conversions(space)
        if self._cwd is not None and not (
            os.path.isdir(self._cwd) and os.access(self._cwd, os.R_OK | os.X_OK)
        ):
            raise ConfigError(
                f"cwd={self._cwd!r} is not a readable folder; create it or fix the path"
            )
        self._check_program()
        if self._die_with_parent and not os.access("/bin/sh", os.X_OK):
            raise ConfigError(
                "die_with_parent=True starts each trial through /bin/sh, which this system "
                "lacks; install a POSIX shell, or pass die_with_parent=False"
            )

    def _placeholder_conversions(self, space: Space) -> dict[str, tuple[str, ...]]:
        """The conversions each placeholder's value gets; refuse values it cannot write."""
        placements = _placements(space)
        described = {str(entry["label"]): entry for entry in space.describe()}
        conversions: dict[str, tuple[str, ...]] = {}
        for label in self._labels:
            ways = placements.get(label, {()})
            if len(ways) > 1:
                shown = " and ".join(sorted(_conversion_text(label, way) for way in ways))
                raise ConfigError(
                    f"the placeholder {{{label}}} is ambiguous: the space has {shown}, so the "
                    "objective receives different values in different places; convert the "
                    "parameter the same way everywhere, or have the program read the trial's "
                    "parameters from the JSON file named by $ASYNCHPO_PARAMS_FILE"
                )
            if ways != {()}:
                (conversions[label],) = ways
            options = described[label].get("values", [])
            assert isinstance(options, list)  # a choice's options, as describe() gives them
            for index, option in enumerate(options):
                what = _unwritable(option, described)
                if what is not None:
                    raise ConfigError(
                        f"the placeholder {{{label}}} cannot write option {index} of the "
                        f"choice {label!r}: it holds {what}, which is neither text nor JSON; "
                        "have the program read the trial's parameters from the JSON file named "
                        "by $ASYNCHPO_PARAMS_FILE, or make the options names that the program "
                        "maps to what it needs"
                    )
        return conversions

    def _check_program(self) -> None:
        program = self._argv[0]
        if os.sep in program or (os.altsep is not None and os.altsep in program):
            # subprocess resolves a relative path from the child's cwd.
            path = Path(self._cwd or ".", program)
            if not path.is_file():
                where = f" (from cwd={self._cwd!r})" if self._cwd else ""
                raise ConfigError(f"the program {program!r} does not exist{where}")
            if not os.access(path, os.X_OK):
                raise ConfigError(
                    f"the program {program!r} is not executable: make it so (chmod +x), or "
                    f"run it through its interpreter: [sys.executable, {program!r}, ...]"
                )
            return
        search = os.pathsep.join(os.get_exec_path({**os.environ, **self._env}))
        if shutil.which(program, path=search) is None:
            raise ConfigError(
                f"the program {program!r} is not on PATH; give its full path "
                "(for Python, sys.executable)"
            )

    async def evaluate_trial(self, params: Any, context: TrialContext) -> Any:
        """Run the program for one trial and return its result; see the class docstring.

        :raises TrialCrashed: when the program exits with a non-zero code, is killed by a
            signal, or times out.
        """
        argv = self._render(context.values)
        command = _clip(shlex.join(argv))
        result_path = _RESULT_FILES.new()
        params_path = _RESULT_FILES.new("params")
        try:
            env, params_size = self._environment(params, context, result_path, params_path)
            async with _trial_log(context.log_dir, context.trial_id, shlex.join(argv)) as log:
                try:
                    run = await self._run(argv, env, log, context)
                except TrialCrashed as exc:  # it could not start
                    log.ending = str(exc)
                    raise
                log.ending = self._describe(run)
            if run.pruned is not None:
                raise run.pruned
            if run.timed_out or run.returncode != 0:
                hint = "; raise Command(timeout=...) if trials need longer" if run.timed_out else ""
                if "ASYNCHPO_PARAMS" not in env:
                    hint += (
                        f"; ASYNCHPO_PARAMS was not set: the parameters take {params_size:,} "
                        f"bytes as JSON, more than {_PARAMS_IN_ENV:,}: read them from the "
                        "file named by $ASYNCHPO_PARAMS_FILE"
                    )
                where = "" if log.path is None else f"\nlog: {log.path}"
                raise TrialCrashed(
                    f"{command} {self._describe(run)}{hint}; {run.stderr.shown('stderr')}{where}"
                )
            result = self._result(result_path, run, command)
        finally:
            result_path.unlink(missing_ok=True)
            params_path.unlink(missing_ok=True)
        if log.path is not None:
            result["log"] = str(log.path)
        return result

    async def __call__(self, params: Any) -> Any:
        """Evaluate ``params`` as the trial ``fmin`` is running (for executors that call)."""
        return await self.evaluate_trial(params, current_trial())

    # --- one trial ------------------------------------------------------------------------------

    def _render(self, values: Mapping[str, object]) -> list[str]:
        missing = [label for label in self._labels if label not in values]
        if missing:
            raise ConfigError(
                f"the placeholder {{{missing[0]}}} has no value in this trial: the label is "
                "not in the space or not active. Use ASYNCHPO_PARAMS for conditional "
                "parameters (fmin checks this at start when it calls prepare)."
            )
        texts: dict[str, str] = {}
        for label in self._labels:
            value = values[label]
            for name in self._conversions.get(label, ()):
                value = _CONVERSIONS[name](value)
            texts[label] = _format(value)
        argv: list[str] = []
        for template in self._templates:
            parts = list(template)
            for i in range(1, len(parts), 2):
                parts[i] = texts[parts[i]]
            argv.append(_os_text("".join(parts)))
        return argv

    def _environment(
        self, params: Any, context: TrialContext, result_path: Path, params_path: Path
    ) -> tuple[dict[str, str], int]:
        """The program's environment (see the class docstring), and the size of the params' JSON.

        Writes the parameters to ``params_path``.
        """
        env = {**os.environ, **self._env, **context.env}
        text = json.dumps(json_safe(params))  # ASCII: ensure_ascii
        try:
            params_path.write_text(text, encoding="ascii")
        except OSError as exc:
            raise TrialCrashed(
                f"could not write the trial's parameters to {params_path}: {exc}; free space "
                "in the temporary folder or point TMPDIR elsewhere"
            ) from exc
        env["ASYNCHPO_PARAMS_FILE"] = str(params_path)
        if len(text) <= _PARAMS_IN_ENV:
            env["ASYNCHPO_PARAMS"] = text
        else:  # too long for an environment variable; and an inherited one would be wrong
            env.pop("ASYNCHPO_PARAMS", None)
        env["ASYNCHPO_TRIAL_ID"] = str(context.trial_id)
        env["ASYNCHPO_SLOT"] = str(context.slot)
        env["ASYNCHPO_STUDY"] = _os_text(context.study)
        env["ASYNCHPO_RESULT_FILE"] = str(result_path)
        return env, len(text)

    async def _run(
        self, argv: list[str], env: dict[str, str], log: _Log, context: TrialContext
    ) -> _Finished:
        """Start the program, drain its output, wait for it; end its process group."""
        stdout, stderr = _Tail(self._tail_bytes), _Tail(self._tail_bytes)
        # Cancelled when the pruner stops the trial: the program is then ended like a
        # cancelled one.
        waiting = anyio.CancelScope()
        pruned: list[TrialPruned] = []

        async def on_line(line: bytes) -> None:
            report = _report_line(line)
            if report is None or pruned:
                return
            try:
                await context.report(*report)  # type: ignore[arg-type] # checked there
            except TrialPruned as exc:
                pruned.append(exc)
                waiting.cancel()
            except ValueError as exc:
                logger.warning("trial %d: ignored a report line: %s", context.trial_id, exc)

        _check_lengths(argv)
        spawned: list[str] = argv
        stdin: int = subprocess.DEVNULL
        if self._die_with_parent:
            # The program registers its group with the watchdog before it runs (_LAUNCHER),
            # so the watchdog must run first, and the program must be found here: a shell
            # that cannot exec it would only exit with 127.
            stdin = await _WATCHDOG.pipe()
            self._check_startable(argv[0], env)
            spawned = ["/bin/sh", "-c", _LAUNCHER, "asynchpo", *argv]
        with contextlib.closing(_Pipe()) as out, contextlib.closing(_Pipe()) as err:
            # Shielded: once the process exists, it must reach the cleanup below.
            with anyio.CancelScope(shield=True):
                try:
                    process = await asyncio.create_subprocess_exec(
                        *spawned,
                        stdin=stdin,
                        stdout=out.write,
                        stderr=err.write,
                        cwd=self._cwd,
                        env=env,
                        start_new_session=True,
                    )
                except (OSError, subprocess.SubprocessError) as exc:
                    if isinstance(exc, OSError) and exc.errno == errno.E2BIG:
                        raise TrialCrashed(_too_long(argv, env)) from exc
                    raise TrialCrashed(f"could not start {argv[0]!r}: {exc}") from exc
                finally:
                    # Our copies of the write ends would keep the pipes from ever ending.
                    out.close_write()
                    err.close_write()
            started = time.monotonic()
            # We own the pipes rather than asyncio, so that process.wait() returns when the
            # program exits even if a process it left behind holds them open. The readers are
            # shielded so that output keeps flowing (and the program is not blocked writing)
            # while a cancelled trial's processes are being stopped.
            reading = anyio.CancelScope(shield=True)
            drained = anyio.Event()
            reporting = on_line if context.can_report else None
            pipes = ((out.read, stdout, reporting), (err.read, stderr, None))
            async with anyio.create_task_group() as tg:
                tg.start_soon(_drain, pipes, log, reading, drained)
                timed_out = False
                try:
                    with anyio.move_on_after(self._timeout) as deadline, waiting:
                        await process.wait()
                    timed_out = deadline.cancelled_caught
                finally:
                    with anyio.CancelScope(shield=True):
                        await self._end(process, drained)
                    if self._die_with_parent:
                        _WATCHDOG.release(process.pid)
                    reading.cancel()
            seconds = time.monotonic() - started
        returncode = process.returncode
        assert returncode is not None  # _end waited for it
        return _Finished(
            returncode, timed_out, seconds, stdout, stderr, pruned[0] if pruned else None
        )

    def _check_startable(self, program: str, env: Mapping[str, str]) -> None:
        """Raise TrialCrashed, as exec would fail, if ``program`` cannot be run."""
        if os.sep in program or (os.altsep is not None and os.altsep in program):
            path = os.path.join(self._cwd or ".", program)  # from the child's cwd
            if not os.path.isfile(path):
                raise TrialCrashed(f"could not start {program!r}: no such file")
        else:
            found = shutil.which(program, path=os.pathsep.join(os.get_exec_path(dict(env))))
            if found is None:
                raise TrialCrashed(
                    f"could not start {program!r}: it is not on the program's PATH; give its "
                    "full path"
                )
            path = found
        if not os.access(path, os.X_OK):
            raise TrialCrashed(f"could not start {program!r}: it is not executable")

    async def _end(self, process: asyncio.subprocess.Process, drained: anyio.Event) -> None:
        """Leave nothing of the trial's process group running, then let its output end.

        After a clean exit this costs one ``killpg`` that finds nobody. Otherwise the group gets
        SIGTERM, and SIGKILL once ``grace`` has passed without the program exiting and its
        output closing.
        """
        # The group's id is the program's pid (start_new_session). Once the program is reaped
        # the id stays reserved as long as a member lives, so this cannot hit a stranger.
        if _signal_group(process.pid, signal.SIGTERM):
            with anyio.move_on_after(self._grace):
                await process.wait()
                await drained.wait()
            _signal_group(process.pid, signal.SIGKILL)
            await process.wait()  # SIGKILL cannot be ignored
        with anyio.move_on_after(_PIPE_LINGER):
            await drained.wait()

    def _describe(self, run: _Finished) -> str:
        if run.pruned is not None:
            return (
                f"was pruned after {run.seconds:.2f} s and stopped (SIGTERM to its process "
                f"group, SIGKILL {self._grace:g} s later if still running): {run.pruned}"
            )
        if run.timed_out:
            return (
                f"timed out after {self._timeout:g} s and was stopped (SIGTERM to its process "
                f"group, SIGKILL {self._grace:g} s later if still running)"
            )
        if run.returncode < 0:
            return f"was killed by {_signal_name(-run.returncode)} after {run.seconds:.2f} s"
        return f"exited with code {run.returncode} after {run.seconds:.2f} s"

    def _result(self, result_path: Path, run: _Finished, command: str) -> dict[str, Any]:
        try:
            raw = result_path.read_bytes()
        except FileNotFoundError:
            pass
        else:
            several = self._objectives > 1
            return (_losses(_json_of(raw)) if several else None) or _result_file(raw)
        for line in reversed(run.stdout.lines()):
            result = (_losses_line(line) if self._objectives > 1 else None) or _result_line(line)
            if result is not None:
                return result
        return {
            "status": "fail",
            "error": f"{command} exited with code 0 but reported no result: print the loss as "
            "a line of stdout (a number, or a JSON object with 'loss'), or write it as JSON "
            f"to $ASYNCHPO_RESULT_FILE; {run.stdout.shown('stdout')}",
        }


def _json_of(raw: bytes | str) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _losses(value: object) -> dict[str, Any] | None:
    """The result of several objectives written as a bare JSON list of numbers (``[0.1, 30]``):
    ``{"loss": [...]}``; ``None`` for anything else."""
    if (
        isinstance(value, list)
        and len(value) > 1
        and all(isinstance(item, int | float) and not isinstance(item, bool) for item in value)
    ):
        return {"loss": value}
    return None


def _losses_line(line: str) -> dict[str, Any] | None:
    """A stdout line holding several objectives' values as a JSON list, else ``None``."""
    text = line.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    return _losses(_json_of(text))
