"""The dlt contender: the same copy job written with dlt's ``rest_api`` source, as a competent dlt user
would configure it. One run of the pipeline per process; prints a JSON summary on stdout.

- ``jobs``: ``GET /api/v1/classifier/jobs``, cursor paginator ``next_page_token`` → ``page_token``,
  page_size 100, incremental on ``updated_at`` (client-side: the v1 list has no updated-since filter,
  so every page is still read and unchanged jobs are dropped before they reach the child), merge on id.
- ``job_details``: ``GET /api/v2/classify/{id}`` resolved from each job that passed the incremental
  filter, ``parallelized=True`` (run in dlt's extract thread pool), 404 ignored (v1-only jobs),
  merge on id.
- Parallelism: ``EXTRACT__WORKERS`` and ``EXTRACT__MAX_PARALLEL_ITEMS`` = concurrency (the pool runs
  at most ``max_parallel_items`` deferred requests, default 20), one requests connection per worker,
  extract files rotated every ``--file-max-items`` rows so that ``NORMALIZE__WORKERS`` processes
  have files to share, and ``LOAD__WORKERS`` threads for the load jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any


def configure(args: argparse.Namespace) -> None:
    """dlt reads its settings from the environment; set them before dlt is imported."""
    settings = {
        "EXTRACT__WORKERS": args.concurrency,
        "EXTRACT__MAX_PARALLEL_ITEMS": args.concurrency,
        "EXTRACT__DATA_WRITER__FILE_MAX_ITEMS": args.file_max_items,
        "NORMALIZE__WORKERS": args.normalize_workers,
        "NORMALIZE__DATA_WRITER__FILE_MAX_ITEMS": args.file_max_items,
        "LOAD__WORKERS": args.load_workers,
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "RUNTIME__LOG_LEVEL": "WARNING",
    }
    for key, value in settings.items():
        os.environ.setdefault(key, str(value))


def build_source(args: argparse.Namespace) -> Any:
    from dlt.sources.helpers.requests import Client
    from dlt.sources.rest_api import rest_api_source

    # One pooled connection per worker thread (the default pool of 50 would churn at 64).
    session = Client(max_connections=args.concurrency + 2, raise_for_status=False).session
    config: dict[str, Any] = {
        "client": {
            "base_url": args.base_url,
            "auth": {"type": "bearer", "token": args.api_key},
            "session": session,
        },
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [
            {
                "name": "jobs",
                "endpoint": {
                    "path": "/api/v1/classifier/jobs",
                    "params": {"page_size": args.page_size},
                    "data_selector": "items",
                    "paginator": {
                        "type": "cursor",
                        "cursor_path": "next_page_token",
                        "cursor_param": "page_token",
                    },
                    "incremental": {"cursor_path": "updated_at", "initial_value": "1970-01-01T00:00:00Z"},
                },
            },
            {
                "name": "job_details",
                "parallelized": True,
                "endpoint": {
                    "path": "/api/v2/classify/{id}",
                    "params": {"id": {"type": "resolve", "resource": "jobs", "field": "id"}},
                    "data_selector": "$",
                    "paginator": "single_page",
                    "response_actions": [{"status_code": 404, "action": "ignore"}],
                },
            },
        ],
    }
    return rest_api_source(config)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--database-url", required=True, help="postgresql://user@host:port/db")
    parser.add_argument("--pipelines-dir", required=True, help="dlt's local state; keep it between runs")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--normalize-workers", type=int, default=2)
    parser.add_argument("--load-workers", type=int, default=20)
    parser.add_argument("--file-max-items", type=int, default=20_000)
    args = parser.parse_args()
    configure(args)

    t0 = time.perf_counter()
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name="classify_bench",
        destination=dlt.destinations.postgres(credentials=args.database_url),
        dataset_name="classify",
        pipelines_dir=args.pipelines_dir,
        progress="log" if os.environ.get("BENCH_DLT_PROGRESS") else None,
    )
    t_import = time.perf_counter() - t0
    steps: dict[str, float] = {}
    rows: dict[str, int] = {}
    t = time.perf_counter()
    pipeline.extract(build_source(args))
    steps["extract_s"] = time.perf_counter() - t
    t = time.perf_counter()
    normalize_info = pipeline.normalize()
    steps["normalize_s"] = time.perf_counter() - t
    t = time.perf_counter()
    load_info = pipeline.load()
    steps["load_s"] = time.perf_counter() - t
    load_info.raise_on_failed_jobs()
    for table, count in (normalize_info.row_counts or {}).items():
        if not table.startswith("_dlt"):
            rows[table] = count
    print(
        json.dumps(
            {
                "dlt_version": dlt.__version__,
                "import_s": round(t_import, 3),
                **{k: round(v, 3) for k, v in steps.items()},
                "rows_normalized": rows,
                "settings": {k: v for k, v in os.environ.items() if k.split("__")[0] in _SECTIONS},
            }
        )
    )
    return 0


_SECTIONS = {"EXTRACT", "NORMALIZE", "LOAD", "DATA_WRITER"}

if __name__ == "__main__":
    sys.exit(main())
