# The README's commands. Each target sets up what it needs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint types pytest bench node clean

# Create or refresh the virtualenv whenever the pinned dependencies change.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

## Start Bridgehead on http://127.0.0.1:8000/mcp with the embedded defaults (SQLite, sample corpus, no auth).
run: $(STAMP)
	$(BIN)/bridgehead serve $(ARGS)

## Set up everything (Python and Node peers) and run the whole test suite.
test: $(STAMP) node lint types pytest

node:
	bash scripts/setup-node.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench conformance
	$(BIN)/ruff format --check src tests bench conformance

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .bridgehead .mypy_cache .ruff_cache tests/interop/node/node_modules
