"""Start-up cost of a cron run: process start → first API request, and ``classify-etl --help``.

A tiny HTTP server on loopback notes when the first request arrives and answers every v1 list request
with an empty, final page; ``classify-etl sync`` is started against it (schema already at head, so no
Alembic) and runs to its end. The server counts the list requests of each run (one each: a run asks
for its first page once). The median of ``--runs`` runs is printed, with ``--help``'s wall time
measured the same way. SQLite always; PostgreSQL too when ``--pg-url`` or ``CLASSIFY_ETL_TEST_PG_URL``
gives an admin URL (a database is created for the measure and dropped after). Each measure's runs talk
to one API address, after one run that is not counted (it migrates).

    .venv/bin/python bench/startup.py --runs 7
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMPTY_PAGE = b'{"items": [], "next_page_token": null, "total_size": 0}'
PG_ENV = "CLASSIFY_ETL_TEST_PG_URL"


class TinyApi:
    """Loopback HTTP/1.1: notes each request's arrival and answers an empty, final list page."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.arrived: list[tuple[float, bytes]] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                self.arrived.append((time.perf_counter(), head.split(b"\r\n", 1)[0]))
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(EMPTY_PAGE), EMPTY_PAGE)
                )

    def close(self) -> None:
        self.listener.close()


def first_request(url_db: str, env: dict[str, str], api: TinyApi) -> tuple[float, bool]:
    """(ms from process start to the first request, whether the run sent exactly one list request)."""
    api.arrived.clear()
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "etl",
            "sync",
            "--base-url",
            f"http://127.0.0.1:{api.port}",
            "--max-retries",
            "0",
        ],
        env={**env, "CLASSIFY_ETL_DATABASE_URL": url_db},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        timeout=60,
    )
    if proc.returncode != 0 or not api.arrived:
        raise SystemExit(f"the sync failed (exit {proc.returncode}): {proc.stderr.decode()[-500:]}")
    lists = [line for _, line in api.arrived if b"/api/v1/classifier/jobs" in line]
    return (api.arrived[0][0] - started) * 1000, len(lists) == 1


def help_ms(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "etl", "--help"], env=env, stdout=subprocess.DEVNULL, check=True, cwd=ROOT
    )
    return (time.perf_counter() - started) * 1000


@contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    import psycopg

    name = f"etl_startup_{uuid.uuid4().hex[:12]}"
    conninfo = "postgresql://" + admin_url.split("://", 1)[1]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(url_db: str, env: dict[str, str], runs: int) -> tuple[list[float], int]:
    """``runs`` syncs against one API address (as cron's are), after one that is not counted: it
    migrates."""
    subprocess.run(
        [sys.executable, "-m", "etl", "migrate", "--database-url", url_db],
        env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    api = TinyApi()
    try:
        first_request(url_db, env, api)
        results = [first_request(url_db, env, api) for _ in range(runs)]
    finally:
        api.close()
    return [ms for ms, _ in results], sum(used for _, used in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pg-url", default=os.environ.get(PG_ENV), help=f"admin URL (default: ${PG_ENV})")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLASSIFY_ETL", "LLAMA_CLOUD"))}
    env["LLAMA_CLOUD_API_KEY"] = "bench-key"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(
            (
                "process start → first API request (sync, SQLite at head)",
                *measure(f"sqlite:///{tmp}/startup.db", env, args.runs),
            )
        )
        if args.pg_url:
            with pg_database(args.pg_url) as url_db:
                rows.append(
                    (
                        "process start → first API request (sync, PostgreSQL at head)",
                        *measure(url_db, env, args.runs),
                    )
                )
    helps = [help_ms(env) for _ in range(args.runs)]
    print(f"load average before: {os.getloadavg()[0]:.2f}\n")
    print("| measure | median ms | min ms | runs | list requests = runs |\n|---|--:|--:|--:|--:|")
    for name, values, used in rows:
        median, low = statistics.median(values), min(values)
        print(f"| {name} | {median:.0f} | {low:.0f} | {args.runs} | {used}/{args.runs} |")
    median, low = statistics.median(helps), min(helps)
    print(f"| `classify-etl --help` wall | {median:.0f} | {low:.0f} | {args.runs} | – |")


if __name__ == "__main__":
    main()
