# Everyday commands. `make demo` and `make test` work on a fresh machine with Python 3.11+.
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
# Tests wait on HTTP and PostgreSQL more than on the CPU: more workers than this machine's 2 cores pay.
TEST_WORKERS ?= 4

.PHONY: setup demo test test-fast pgbouncer test-nightly lint check-migrations check-wheel bench clean

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
# The PgBouncer tests run a pooler in front of the test server: its binary comes from the system's
# packages (installed here when missing and apt-get is at hand as root; else the tests say what to do).
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		  { apt-get install -y -q pgbouncer >/dev/null 2>&1 || \
		    { apt-get update -q >/dev/null && apt-get install -y -q pgbouncer >/dev/null; }; }; } || \
		echo "make: pgbouncer is not installed; its tests will fail (apt-get install pgbouncer)"

test: lint pgbouncer
	@if [ -z "$$CLASSIFY_ETL_TEST_PG_URL" ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
		export CLASSIFY_ETL_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres; fi; \
	$(BIN)/pytest -n $(TEST_WORKERS)

# The inner loop: the suite without the slow kill loops and fault matrix, no lint. CI runs `make test`.
test-fast: setup
	@if [ -z "$$CLASSIFY_ETL_TEST_PG_URL" ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
		export CLASSIFY_ETL_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres; fi; \
	$(BIN)/pytest -n $(TEST_WORKERS) -m "not slow"

# The same with hypothesis's nightly profile: many more examples of the property tests (tests/conftest.py).
test-nightly:
	HYPOTHESIS_PROFILE=nightly $(MAKE) test

# Build the wheel, install it into a fresh venv outside the tree, run migrate, sync (against the installed
# simulator) and status on SQLite and PostgreSQL. CI runs it after `make test`.
check-wheel: setup
	PY=$(BIN)/python bash scripts/check_wheel.sh

bench: setup
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .venv-dbt classify_etl.db* .pytest_cache .mypy_cache .ruff_cache
