"""Every Python block of the README runs, in order, in a fresh folder, as a user would run it.

Each block is pasted into a file of its own and run with plain ``python file.py``, unchanged: no
wrapping, so a block with a top-level ``await`` fails here as it fails for a reader (issue 13,
item 12). A block preceded by ``<!-- file: NAME -->`` is written to that file instead (a script
or a space that another block uses). A shell block preceded by ``<!-- run -->`` runs with bash,
with this environment's ``python`` and ``asynchpo`` commands first on the path. A block marked
```` ```python skip ```` (one that needs a cluster) is shown, not run, but must still compile
as a plain script.

The README's setup promises are checked too: how to reach the ``asynchpo`` command after
``make demo``, installing from the checkout rather than a package index, the documented log
folder against where the logs go, and what ``make demo`` and ``make test`` install
(issue 13, items 12 and 13).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from asynchpo import Command, fmin_sync, hp

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(
    r"(?:<!-- (?P<marker>file: \S+|run) -->\n)?```(?P<language>python|sh|json)(?P<skip> skip)?\n"
    r"(?P<code>.*?)```",
    re.S,
)


def blocks(*, skipped: bool = False) -> list[tuple[str, str | None, str]]:
    """(language, file name or "run" or None, code) of every block, in order.

    Blocks marked ``skip`` are left out unless ``skipped``.
    """
    found = []
    for m in BLOCK.finditer(README.read_text()):
        if m.group("skip") and not skipped:
            continue
        marker = m.group("marker")
        name = marker.removeprefix("file: ") if marker and marker != "run" else marker
        found.append((m.group("language"), name, m.group("code")))
    return found


def python_blocks(*, skipped: bool) -> list[str]:
    return [code for language, name, code in blocks(skipped=skipped) if language == "python"]


def test_the_readme_has_python_blocks() -> None:
    assert len(python_blocks(skipped=False)) >= 3


@pytest.mark.parametrize(
    "code", python_blocks(skipped=True), ids=lambda code: code.split("\n")[0][:40]
)
def test_every_python_block_is_a_plain_script(code: str) -> None:
    # A top-level `await` or `async with` fails in a .py file run by python. Compiled with
    # top-level await allowed, such a block becomes a coroutine: that flag is what is checked
    # (any other syntax error fails the test as it is raised).
    compiled = compile(code, "block.py", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    assert not compiled.co_flags & inspect.CO_COROUTINE, (
        f"this README block has a top-level await: it does not run pasted into a .py file:\n{code}"
    )


@pytest.mark.timeout(180)
def test_every_readme_block_runs(tmp_path: Path) -> None:
    bin_folder = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_folder + os.pathsep + os.environ.get("PATH", "")}
    for index, (language, name, code) in enumerate(blocks()):
        if name is not None and name != "run":
            (tmp_path / name).write_text(code)
            continue
        if language == "python":
            script = tmp_path / f"block_{index}.py"
            script.write_text(code)  # as pasted: nothing added around it
            argv = [sys.executable, str(script)]
        elif language == "sh" and name == "run":
            argv = ["bash", "-e", "-c", code]
        else:
            continue  # shown, not run: `make demo` itself, or data without a file name
        done = subprocess.run(
            argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env
        )
        assert done.returncode == 0, f"README block {index} failed:\n{code}\n{done.stderr}"


def test_the_readme_says_where_the_command_is_after_make_demo() -> None:
    # `make demo` installs into .venv, which is not on the PATH: a bare `asynchpo` is
    # "command not found" unless the reader is told where it is or how to activate.
    text = README.read_text()
    two_commands = text[: text.index("## Quickstart")]
    assert ".venv/bin/asynchpo" in two_commands
    assert "source .venv/bin/activate" in two_commands
    makefile = (ROOT / "Makefile").read_text()
    demo = makefile[makefile.index("\ndemo:") :].split("\n\n")[0]
    assert "$(BIN)/asynchpo" in demo, "make demo's output says where the command is"


def test_install_lines_install_from_the_checkout() -> None:
    # asynchpo is on no package index: `pip install asynchpo` / `'asynchpo[dask]'` fail.
    text = README.read_text()
    from_an_index = re.findall(r"pip install +(?!-e\b)['\"]?asynchpo\b[^`\n]*", text)
    assert from_an_index == [], f"install lines that need a package index: {from_an_index}"
    assert "pip install -e '.[dask]'" in text
    assert "pip wheel" in text


def test_the_documented_log_path_is_where_the_logs_go(tmp_path: Path) -> None:
    text = README.read_text()
    documented = re.search(r"for\s+`storage=\"runs\.sqlite\"`.*?`(?P<path>[^`]+\.log)`", text, re.S)
    assert documented is not None, "the README gives an example log path for runs.sqlite"
    script = tmp_path / "say.py"
    script.write_text("print('hello from the trial')\nprint(0.5)\n")
    fmin_sync(
        Command([sys.executable, str(script), "{x}"]),
        {"x": hp.uniform("x", 0, 1)},
        max_evals=1,
        storage=str(tmp_path / "runs.sqlite"),
    )
    log = tmp_path / documented.group("path")
    assert log.is_file(), sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.log"))
    assert "hello from the trial" in log.read_text()


def make_recipe(target: str) -> str:
    """The lines of a Makefile rule, with the rules it depends on for installing."""
    makefile = (ROOT / "Makefile").read_text()
    rules = {m.group(1): m.group(0) for m in re.finditer(r"^(\S+):.*\n(?:\t.*\n)*", makefile, re.M)}
    rule = rules[target]
    depends = rule.split("\n")[0].split(":", 1)[1].split()
    return rule + "".join(make_recipe(dep) for dep in depends if dep in rules)


def installed_extras(recipe: str) -> set[str]:
    extras: set[str] = set()
    for line in re.findall(r"pip install[^\n]*", recipe):
        for listed in re.findall(r"\.\[([^\]]*)\]", line):
            extras.update(listed.split(","))
    return extras


def extra(name: str) -> set[str]:
    """The distribution names an extra of pyproject.toml pulls in, self-references expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names: set[str] = set()
    for requirement in project["optional-dependencies"][name]:
        bare = re.split(r"[<>=!~ ;]", requirement)[0]
        inner = re.fullmatch(r"asynchpo\[(.*)\]", bare)
        if inner:
            for part in inner.group(1).split(","):
                names |= extra(part)
        else:
            names.add(bare.lower())
    return names


def test_make_demo_installs_only_what_the_demo_needs() -> None:
    recipe = make_recipe("demo")
    assert "pip install" in recipe
    demo_extras = installed_extras(recipe)
    pulled = set().union(*(extra(name) for name in demo_extras)) if demo_extras else set()
    tools = {"mypy", "ruff", "hypothesis", "distributed", "pandas", "matplotlib", "pytest"}
    assert pulled & tools == set(), f"make demo installs {sorted(pulled & tools)}"


def test_make_test_installs_the_tools_and_hyperopt() -> None:
    test_extras = installed_extras(make_recipe("unit"))
    pulled = set().union(*(extra(name) for name in test_extras)) if test_extras else set()
    for needed in ("pytest", "mypy", "ruff", "hypothesis", "pandas", "matplotlib", "hyperopt"):
        assert needed in pulled, f"make test does not install {needed}"
    assert installed_extras(make_recipe("lint")) == test_extras
    assert installed_extras(make_recipe("typecheck")) == test_extras


def porting_table_rows() -> list[list[str]]:
    """The cells of every table row in the README's "Porting from hyperopt" section."""
    text = README.read_text()
    section = text[text.index("## Porting from hyperopt") :]
    section = section[: section.index("\n## ", 1)]
    rows = []
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("| ---") and "| hyperopt |" not in line:
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def hyperopt_public_names() -> set[str]:
    """Every public name a hyperopt user may write, from hyperopt itself."""
    hyperopt = pytest.importorskip("hyperopt")
    early_stop = importlib.import_module("hyperopt.early_stop")

    names = {name for name in dir(hyperopt) if not name.startswith("_")}
    names |= {f"hp.{name}" for name in dir(hyperopt.hp) if not name.startswith("_")}
    names |= {name for name in dir(hyperopt.Trials) if not name.startswith("_")}
    names |= {name for name in vars(hyperopt.Trials()) if not name.startswith("_")}
    names |= set(inspect.signature(hyperopt.fmin).parameters)
    names |= {name for name in dir(hyperopt.exceptions) if name[0].isupper()}
    names |= {name for name in dir(early_stop) if name.endswith("_loss")}
    names |= {"tpe.suggest", "rand.suggest", "anneal.suggest", "mix.suggest", "atpe.suggest"}
    names |= {"space_eval", "generate_trials_to_calculate", "MongoTrials", "SparkTrials"}
    names |= {"pyll.stochastic.sample", "hyperopt.plotting", "main_plot_history"}
    names |= {f"scope.{name}" for name in ("int", "float", "exp", "log", "sqrt")}
    names |= {f"scope.{name}" for name in ("minimum", "maximum", "switch")}
    return names


def test_the_porting_table_names_every_hyperopt_name() -> None:
    rows = porting_table_rows()
    assert len(rows) >= 50
    listed = " ".join(row[0] for row in rows)
    words = set()
    for dotted in re.findall(r"[A-Za-z_][A-Za-z0-9_.]*[A-Za-z0-9_]", listed):
        parts = dotted.split(".")  # `trials.delete_all()` lists delete_all, and so on
        words |= {".".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, 99)}
    missing = sorted(name for name in hyperopt_public_names() if name not in words)
    assert missing == [], f"hyperopt names missing from the README's porting table: {missing}"


def test_every_porting_row_says_same_different_or_not_supported() -> None:
    for row in porting_table_rows():
        assert len(row) == 3, row
        verdict = row[2]
        assert verdict.startswith(("same", "different", "not supported")), row
        if verdict.startswith("not supported"):
            assert ":" in verdict, f"a 'not supported' row says what to use instead: {row}"
