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

# Debian's chromium, driven by Playwright in tests/browser (nothing downloads a browser build of its own)
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@echo "==> installing Debian's chromium (browser tests)"
	@export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
	  || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
	  || { echo "error: could not install chromium (apt-get, as root); the browser tests need $(CHROMIUM)"; exit 2; }

# Debian's Redis and PostgreSQL servers: the distributed test (tests/distributed) starts its own throw-away ones
REDIS := /usr/bin/redis-server
PG_BIN := /usr/lib/postgresql/15/bin

$(REDIS):
	@echo "==> installing Debian's redis-server (distributed test: the Celery broker)"
	@export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends redis-server >/dev/null 2>&1 \
	  || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends redis-server >/dev/null; } \
	  || { echo "error: could not install redis-server (apt-get, as root); the distributed test needs $(REDIS)"; exit 2; }

$(PG_BIN)/initdb:
	@echo "==> installing Debian's PostgreSQL server (PostgreSQL tests, distributed test)"
	@export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null 2>&1 \
	  || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null; } \
	  || { echo "error: could not install postgresql-15 (apt-get, as root); the PostgreSQL tests need it"; exit 2; }

$(STAMP): pyproject.toml constraints.txt | $(CHROMIUM) $(REDIS) $(PG_BIN)/initdb
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP) $(CHROMIUM) $(REDIS) $(PG_BIN)/initdb

lint: setup
	$(BIN)/ruff check dags plugins include tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q --durations=25

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
