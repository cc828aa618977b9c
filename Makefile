# erp-wms-sync — the two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint unit e2e clean help

help:
	@echo "make demo   - simulators + airflow standalone + SQLite ledger, sample integrations (Ctrl-C stops it)"
	@echo "make test   - ruff, mypy and the whole test suite"
	@echo "make setup  - build .venv from pyproject.toml + constraints.txt"

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(BIN)/ruff check dags plugins include tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

unit: setup
	$(BIN)/python -m pytest -q tests/unit tests/dags

e2e: setup
	$(BIN)/python -m pytest -q -m e2e

demo: setup
	@bash scripts/demo.sh

# performance figures counted at the simulators (not part of `make test`); BENCH_ARGS=--quick for a smoke run
.PHONY: bench
bench: setup
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf .airflow .pytest_cache .mypy_cache .ruff_cache
