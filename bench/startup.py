"""Start-up cost of a cron run: process start → first API request, and ``classify-etl --help``.

A tiny HTTP server on loopback notes when the first request arrives; ``classify-etl sync`` is started
against it (SQLite, schema already at head, so no Alembic) and killed once the request is seen. The
median of ``--runs`` runs is printed, with ``--help``'s wall time measured the same way.

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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def first_request_ms(url_db: str, env: dict[str, str]) -> float:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    arrived: list[float] = []

    def accept() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        arrived.append(time.perf_counter())
        conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "etl", "sync", "--base-url", f"http://127.0.0.1:{port}", "--max-retries", "0"],
        env={**env, "CLASSIFY_ETL_DATABASE_URL": url_db},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    thread.join(30)
    proc.kill()
    proc.wait()
    listener.close()
    if not arrived:
        raise SystemExit("the sync never made a request")
    return (arrived[0] - started) * 1000


def help_ms(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "etl", "--help"], env=env, stdout=subprocess.DEVNULL, check=True, cwd=ROOT
    )
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLASSIFY_ETL", "LLAMA_CLOUD"))}
    env["LLAMA_CLOUD_API_KEY"] = "bench-key"
    with tempfile.TemporaryDirectory() as tmp:
        url_db = f"sqlite:///{tmp}/startup.db"
        subprocess.run(
            [sys.executable, "-m", "etl", "migrate", "--database-url", url_db],
            env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT,
        )  # fmt: skip
        first = [first_request_ms(url_db, env) for _ in range(args.runs)]
    helps = [help_ms(env) for _ in range(args.runs)]
    print("| measure | median ms | min ms | runs |\n|---|--:|--:|--:|")
    for name, values in (
        ("process start → first API request (sync, SQLite at head)", first),
        ("`classify-etl --help` wall", helps),
    ):
        print(f"| {name} | {statistics.median(values):.0f} | {min(values):.0f} | {args.runs} |")


if __name__ == "__main__":
    main()
