"""A program for Command's tests: what it does depends on its first argument.

    python behaviours.py MODE [ARG ...]

Modes that take a folder write their pid(s) there as ``<trial id>.pid`` once they are ready
(after installing their signal handlers, after their children are ready), so a test knows
when to act and what to check.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# A child that ignores SIGTERM, says when it is ready, and sleeps.
STUBBORN_CHILD = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)


def write_pids(folder: str, pids: list[int]) -> None:
    path = Path(folder, f"{os.environ['ASYNCHPO_TRIAL_ID']}.pid")
    partial = path.with_suffix(".partial")
    partial.write_text(" ".join(map(str, pids)))
    partial.replace(path)  # atomic: the test never reads half a file


def start_stubborn_child() -> subprocess.Popen[bytes]:
    """A child in this process group, holding our stderr, that needs SIGKILL to die."""
    child = subprocess.Popen([sys.executable, "-c", STUBBORN_CHILD], stdout=subprocess.PIPE)
    assert child.stdout is not None
    child.stdout.readline()  # 'ready': its SIGTERM handler is in place
    return child


def report(args: list[str]) -> None:
    """Print what the program received; the loss is (x - 1)^2 for ``--x x``."""
    x = float(args[args.index("--x") + 1]) if "--x" in args else 1.5
    print("starting", flush=True)
    names = ("ASYNCHPO_", "CMD_TEST_")
    received = {
        "loss": (x - 1.0) ** 2,
        "x_seen": x,
        "argv": args,
        "cwd": os.getcwd(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(names)},
    }
    print(json.dumps(received))


def number_among_noise(args: list[str]) -> None:
    print("epoch 1: loss 3.5")
    print("7")
    print("epoch 2: loss 0.25", file=sys.stderr)
    print("  0.25  ")
    print("done, bye")


def json_among_noise(args: list[str]) -> None:
    print('{"loss": 9.0, "note": "an early result"}')
    print("{not json")
    print('{"loss": 0.125, "accuracy": 0.875, "status": "ok"}')
    print('{"accuracy": 0.5}')  # no loss: not a result
    print("finished")


def result_file(args: list[str]) -> None:
    Path(os.environ["ASYNCHPO_RESULT_FILE"]).write_text('{"loss": 0.0625, "source": "file"}')
    print("9.0")


def bad_result_file(args: list[str]) -> None:
    Path(os.environ["ASYNCHPO_RESULT_FILE"]).write_text("{oops")
    print("1.0")


def exit_with(args: list[str]) -> None:
    print("some output")
    for i in range(30):
        print(f"error line {i}", file=sys.stderr)
    sys.exit(int(args[0]))


def kill_self(args: list[str]) -> None:
    print("about to die", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def garbage(args: list[str]) -> None:
    print("hello")
    print("world {not json")
    print("loss is low")


def empty(args: list[str]) -> None:
    pass


def huge(args: list[str]) -> None:
    """``megabytes`` MB on stdout and a quarter of that on stderr, interleaved; then 0.375."""
    block = (b"x" * 1023 + b"\n") * 64  # 64 KiB
    for i in range(int(args[0]) * 16):
        sys.stdout.buffer.write(block)
        if i % 4 == 0:
            sys.stderr.buffer.write(block)
    sys.stdout.buffer.flush()
    print("0.375")


def binary(args: list[str]) -> None:
    sys.stdout.buffer.write(b"\xff\xfe\x80\x00 not utf-8\n")
    sys.stderr.buffer.write(b"\xc3\x28 also not utf-8\n")
    sys.stdout.buffer.flush()
    print("0.75")
    if args:
        sys.stderr.flush()
        sys.exit(int(args[0]))


def stubborn(args: list[str]) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    write_pids(args[0], [os.getpid()])
    time.sleep(60)


def family(args: list[str]) -> None:
    """Dies on SIGTERM itself, but its two children ignore it."""
    children = [start_stubborn_child(), start_stubborn_child()]
    write_pids(args[0], [os.getpid(), *(child.pid for child in children)])
    time.sleep(60)


def leave_child(args: list[str]) -> None:
    """Report a result and exit 0, leaving a child behind that holds stderr."""
    child = start_stubborn_child()
    write_pids(args[0], [child.pid])
    print("0.5")


def sleep(args: list[str]) -> None:
    write_pids(args[0], [os.getpid()])
    time.sleep(60)


def split_lines(args: list[str]) -> None:
    """Write half a stdout line, a whole stderr line, then the rest of the stdout line."""
    del args
    sys.stdout.write("half of a line,")
    sys.stdout.flush()
    sys.stderr.write("a warning\n")
    sys.stderr.flush()
    time.sleep(0.05)
    sys.stdout.write(" and its end\n0.5\n")


def flaky(args: list[str]) -> None:
    """Crash on the first run (no marker file yet), succeed on the next."""
    marker = Path(args[0])
    if not marker.exists():
        marker.touch()
        print("first attempt output")
        print("first attempt is crashing", file=sys.stderr)
        sys.exit(1)
    print("second attempt output")
    print("0.5")


MODES: dict[str, Callable[[list[str]], None]] = {
    "report": report,
    "number": number_among_noise,
    "json": json_among_noise,
    "result-file": result_file,
    "bad-result-file": bad_result_file,
    "exit": exit_with,
    "kill-self": kill_self,
    "garbage": garbage,
    "empty": empty,
    "huge": huge,
    "binary": binary,
    "stubborn": stubborn,
    "family": family,
    "leave-child": leave_child,
    "sleep": sleep,
    "flaky": flaky,
    "split-lines": split_lines,
}

if __name__ == "__main__":
    MODES[sys.argv[1]](sys.argv[2:])
