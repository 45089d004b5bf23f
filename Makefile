# The two commands a new user runs: `make demo` and `make test`.
# `make demo` installs asynchpo and what it needs, nothing more; `make test` adds the tools
# (pytest, ruff, mypy), the optional dependencies and hyperopt (the `test` extra).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(DEMO_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(DEMO_STAMP)

$(TEST_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python examples/quickstart.py
	@echo
	@echo "The command line is $(BIN)/asynchpo (or run 'source $(BIN)/activate' and then 'asynchpo')."

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

unit: $(TEST_STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck unit

bench: $(TEST_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/overhead.py

clean:
	rm -rf $(VENV) runs .mypy_cache .pytest_cache .ruff_cache
