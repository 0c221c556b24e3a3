"""docs/operations.md's v2, monitoring and orchestrator examples, run as printed against the simulator
(only the API key, URLs and paths swapped for test ones), and the monitoring hooks through the CLI."""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from etl.simulator import SimServer, SimState
from tests.conftest import clean_env
from tests.support import API_KEY, rows
from tests.test_docs import FENCE, OPERATIONS, block

HC_URL = "https://hc-ping.com/your-check-uuid"
PROM_PATH = "/var/lib/node_exporter/textfile/classify_etl.prom"


class Receiver:
    """A real HTTP receiver on 127.0.0.1 that records every request (path, body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ping/abc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def v2_sim() -> Iterator[SimServer]:
    with SimServer(SimState.generate(n_jobs=150, seed=12, api_key=API_KEY)) as server:
        yield server


def fenced(language: str, starts: str) -> str:
    """The one ``language`` block of docs/operations.md whose first line starts with ``starts``."""
    (body,) = [b for lang, b in FENCE.findall(OPERATIONS) if lang == language and b.startswith(starts)]
    return str(body)


def commands(starts: str) -> list[list[str]]:
    """The commands of an ``sh`` block, comments dropped, as argument lists."""
    return [shlex.split(x, comments=True) for x in fenced("sh", starts).splitlines() if x.strip()]


def run(argv: list[str], url: str, sim: SimServer, **swap: str) -> subprocess.CompletedProcess[str]:
    assert argv[0] == "classify-etl"
    argv = [swap.get(a, a) for a in argv[1:]]
    env = clean_env(LLAMA_CLOUD_API_KEY=API_KEY, LLAMA_CLOUD_BASE_URL=sim.url, CLASSIFY_ETL_DATABASE_URL=url)
    return subprocess.run(
        [sys.executable, "-m", "etl", *argv], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_v2_commands_as_printed(db_url: str, v2_sim: SimServer) -> None:
    incremental, full, partition = commands("classify-etl sync --list-source v2 ")
    done = run(incremental, db_url, v2_sim)
    assert done.returncode == 0, done.stderr
    assert "v2 full walk" in done.stdout  # a scope's first v2 run is its full walk
    again = run(incremental, db_url, v2_sim)
    assert again.returncode == 0 and "v2 incremental" in again.stdout, again.stdout
    assert run(full, db_url, v2_sim).returncode == 0
    v2_sim.state.reset_counts()
    part = run(partition, db_url, v2_sim)
    assert part.returncode == 0 and "v2 partition" in part.stdout, part.stdout + part.stderr
    lists = [r for r in v2_sim.state.request_log if r.endpoint == "v2_list"]
    assert lists and all(
        r.params.get("created_at_on_or_after", "").startswith("2026-11-01T00:00:00")
        and r.params.get("created_at_on_or_before", "").startswith("2026-11-30T23:59:59")
        for r in lists
    )


def test_the_monitoring_commands_as_printed(
    sqlite_url: str, sim: SimServer, receiver: Receiver, tmp_path: Path
) -> None:
    sync_cmd, metrics_cmd = commands(f"classify-etl sync --ping-url {HC_URL} --metrics-file {PROM_PATH}")
    prom = tmp_path / "classify_etl.prom"
    done = run(sync_cmd, sqlite_url, sim, **{HC_URL: receiver.url, PROM_PATH: str(prom)})
    assert done.returncode == 0, done.stderr
    paths = [p for p, _ in receiver.requests]
    assert (
        len(paths) == 2
        and paths[0].startswith("/ping/abc/start?rid=")
        and paths[1].startswith("/ping/abc/0?rid=")
    )
    assert paths[0].split("rid=")[1] == paths[1].split("rid=")[1]
    assert API_KEY.encode() not in receiver.requests[1][1]
    names = {f.name for f in text_string_to_metric_families(prom.read_text())}
    assert "classify_etl_last_success_timestamp_seconds" in names
    assert not [p for p in tmp_path.iterdir() if p.name != prom.name and "prom" in p.name]  # no temp file
    printed = run(metrics_cmd, sqlite_url, sim)
    assert printed.returncode == 0, printed.stderr
    assert "classify_etl_last_success_timestamp_seconds" in {
        f.name for f in text_string_to_metric_families(printed.stdout)
    }
    rule = block(OPERATIONS, "yaml", "# /etc/prometheus/rules/classify-etl.yml")
    assert set(re.findall(r"classify_etl_\w+", rule)) <= names


def test_ping_for_a_locked_run_is_a_log_ping_and_a_dead_receiver_changes_nothing(
    sqlite_url: str, sim: SimServer, receiver: Receiver
) -> None:
    from etl.run.locks import scope_locks
    from etl.warehouse import db

    base = ["classify-etl", "sync", "--ping-url", receiver.url]
    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    with scope_locks(engine, ["default"]):
        locked = run(base, sqlite_url, sim)
    engine.dispose()
    assert locked.returncode == 4
    assert [p.split("?")[0] for p, _ in receiver.requests] == ["/ping/abc/start", "/ping/abc/log"]
    dead = run(["classify-etl", "sync", "--ping-url", "http://127.0.0.1:9/ping"], sqlite_url, sim)
    assert dead.returncode == 0 and "Traceback" not in dead.stderr, dead.stderr
    assert rows(db.make_engine(sqlite_url), "etl_sync_runs")[-1]["outcome"] == "success"


def _python_block(starts: str) -> ast.Module:
    return ast.parse(fenced("python", starts))


def test_the_airflow_task_runs_its_command(sqlite_url: str, v2_sim: SimServer) -> None:
    tree = _python_block(
        '# Airflow: one task per day, exit 4 ("another run holds the lock") skips instead of failing'
    )
    call = next(
        n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "BashOperator"
    )
    kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    assert kw["skip_on_exit_code"] == 4
    command = kw["bash_command"].replace("{{ ds }}", "2026-11-20")
    done = run(shlex.split(command), sqlite_url, v2_sim)
    assert done.returncode == 0, done.stderr
    assert '"kind": "v2 partition"' in done.stdout


def test_the_dagster_asset_runs_its_command(sqlite_url: str, v2_sim: SimServer) -> None:
    tree = _python_block("# Dagster:")
    assign = next(
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "command"
    )
    assert isinstance(assign.value, ast.List)
    command = [e.value if isinstance(e, ast.Constant) else "2026-11-20" for e in assign.value.elts]
    done = run(command, sqlite_url, v2_sim)
    assert done.returncode == 0, done.stderr
    assert "v2 partition" in done.stdout
