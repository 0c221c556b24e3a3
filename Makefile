# Everyday commands. `make demo` and `make test` work on a fresh machine with Python 3.11+.
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: setup demo test lint check-migrations check-wheel bench clean

$(BIN)/classify-etl: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

setup: $(BIN)/classify-etl

demo: setup
	$(BIN)/classify-etl demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# PostgreSQL tests use CLASSIFY_ETL_TEST_PG_URL; if it is unset and a server answers on 127.0.0.1:5432,
# that one is used (each test creates and drops its own database); else pytest-postgresql starts one.
test: lint
	@if [ -z "$$CLASSIFY_ETL_TEST_PG_URL" ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
		export CLASSIFY_ETL_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres; fi; \
	$(BIN)/pytest

# Build the wheel, install it into a fresh venv outside the tree, run migrate, sync (against the installed
# simulator) and status on SQLite and PostgreSQL. CI runs it after `make test`.
check-wheel: setup
	PY=$(BIN)/python bash scripts/check_wheel.sh

bench: setup
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .venv-dbt classify_etl.db* .pytest_cache .mypy_cache .ruff_cache
