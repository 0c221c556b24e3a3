#!/usr/bin/env bash
# Install classify-etl as a deployment does and use it: build the wheel, install it into a fresh venv in a
# temporary directory outside the source tree, and from another temporary directory run `migrate`, `sync`
# against the installed wheel's own simulator (key sim-key), and `status`, on SQLite and on PostgreSQL (a
# throwaway database on the server of CLASSIFY_ETL_TEST_PG_URL, default the local one). Fails on any error.
set -euo pipefail

src="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PY:-python3}"
PG_ADMIN="${CLASSIFY_ETL_TEST_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}"
work="$(mktemp -d "${TMPDIR:-/tmp}/classify-etl-wheel.XXXXXX")"
sim_pid=""
pg_db="wheel_check_$$_$RANDOM"
bin="$work/venv/bin"

cleanup() {
  status=$?
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  if [ -x "$bin/python" ]; then
    "$bin/python" - "$PG_ADMIN" "$pg_db" <<'EOF' || true
import sys
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1], isolation_level="AUTOCOMMIT")
with engine.connect() as conn:
    conn.execute(text(f'DROP DATABASE IF EXISTS "{sys.argv[2]}" WITH (FORCE)'))
EOF
  fi
  rm -rf "$work"
  [ $status -eq 0 ] && echo "check-wheel: ok" || echo "check-wheel: FAILED (exit $status)" >&2
}
trap cleanup EXIT
step() { echo "check-wheel: $*"; }
case "$work" in "$src"/*) echo "check-wheel: the work directory must be outside the source tree" >&2; exit 1;; esac

step "building the wheel"
"$PY" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$src"
wheel="$(ls "$work"/dist/classify_etl-*.whl)"
"$PY" - "$wheel" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
for needed in ("etl/migrations/env.py", "etl/migrations/script.py.mako", "etl/simulator/__init__.py"):
    assert needed in names, f"the wheel lacks {needed}"
assert any(n.startswith("etl/migrations/versions/") and n.endswith(".py") for n in names), "no revisions"
EOF

step "installing it into a fresh venv in $work"
"$PY" -m venv "$work/venv"
"$bin/pip" install --quiet "$wheel"
mkdir "$work/run"
cd "$work/run"
"$bin/python" -c "import etl, sys; assert etl.__file__.startswith(sys.argv[1]), etl.__file__" "$work/venv"

port="$("$bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
step "starting the installed simulator on port $port"
"$bin/classify-etl" simulate --port "$port" --jobs 300 >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do
  "$bin/python" -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2)" "$port" \
    2>/dev/null && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.log" >&2; exit 1; }
  sleep 0.1
done

"$bin/python" - "$PG_ADMIN" "$pg_db" <<'EOF'
import sys
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1], isolation_level="AUTOCOMMIT")
with engine.connect() as conn:
    conn.execute(text(f'CREATE DATABASE "{sys.argv[2]}"'))
EOF
pg_url="$("$bin/python" -c 'import sys; from sqlalchemy.engine import make_url; print(make_url(sys.argv[1]).set(database=sys.argv[2]).render_as_string(hide_password=False))' "$PG_ADMIN" "$pg_db")"

export LLAMA_CLOUD_API_KEY=sim-key
for url in "sqlite:///$work/run/classify_etl.db" "$pg_url"; do
  step "migrate, sync, status on ${url%%:*}"
  "$bin/classify-etl" migrate --database-url "$url"
  "$bin/classify-etl" sync --database-url "$url" --base-url "http://127.0.0.1:$port"
  "$bin/classify-etl" status --database-url "$url" | tee "$work/status.txt"
  grep -q "classify_jobs 300" "$work/status.txt"
done
