"""Benchmark: the analyst side (views, README queries, dashboard queries) at warehouse size.

    .venv/bin/python bench/warehouse.py --sizes 10000 100000          # built through the product
    .venv/bin/python bench/warehouse.py --sizes 10000 100000 1000000  # 1M: SQL copies of the 100k set

Each size of the form "built" is loaded through the product (``run_sync`` and the real HTTP client
against the bundled simulator over loopback): a cold sync, then 5% of the jobs changed and 1%
deleted, then a second sync. A size larger than the biggest built one is made from it by SQL copies
with new ids (``<id>~<k>``) and consistent child rows, history, payloads and sightings; the output
says so. Then VACUUM ANALYZE (what autovacuum would have done), and every query runs once to warm the
cache and ``--repeat`` times under EXPLAIN (ANALYZE, BUFFERS); the table shows the median execution +
planning time, the rows returned and the plan's shape (the scans it does). PostgreSQL only: SQLite
is for one person on one machine (``tests/`` check that its views stay correct).

The admin URL (``--pg-url`` or ``CLASSIFY_ETL_TEST_PG_URL``) must be allowed to CREATE DATABASE;
each size gets its own database ``warehouse_bench_<n>``, dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from etl.run.sync import SyncOptions, build_scopes, run_sync  # noqa: E402
from etl.simulator import SimServer, SimState  # noqa: E402
from etl.source.client import ClassifyApi  # noqa: E402
from etl.warehouse import db  # noqa: E402

API_KEY = "bench-key"
README = ROOT / "docs" / "analysts.md"
START, END = "<!-- analysts:start -->", "<!-- analysts:end -->"
FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
# Tables a job's data lives in (bytes per job are counted over these); payloads only after 0008.
JOB_TABLES = (
    "classify_jobs",
    "classify_job_payloads",
    "classify_rules",
    "classify_rule_sets",
    "classify_rule_set_rules",
    "classify_parsing_configs",
    "classify_target_pages",
    "classify_results",
    "classify_job_history",
    "etl_job_seen",
    "etl_walk_sightings",
    "classify_rule_stats",
    "classify_daily_stats",
    "classify_page_stats",
)


#: What the issue asks of the warehouse: bytes a job over JOB_TABLES, and a dashboard query's time.
TARGET_BYTES_PER_JOB = 4_000
TARGET_DASHBOARD_MS = 50


@dataclass
class Query:
    name: str
    sql: str
    kind: str  # "README", "dashboard", "raw JSON" (a field no column has: not a dashboard's) or "export"


# -- building ------------------------------------------------------------------------------------


def _sync(engine: Any, url: str) -> None:
    def factory() -> ClassifyApi:
        return ClassifyApi(base_url=url, api_key=API_KEY, max_retries=5, backoff_initial=0.05)

    result = run_sync(engine, factory, SyncOptions(page_size=100), build_scopes([], None))
    if result.outcome != "success":
        raise RuntimeError(f"sync ended {result.outcome}")


def build_through_product(url: str, n_jobs: int, seed: int) -> dict[str, float]:
    """Cold sync, 5% changed and 1% deleted, sync again; the seconds each sync took."""
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
        state = SimState.generate(n_jobs=n_jobs, seed=seed, api_key=API_KEY)
        times = {}
        with SimServer(state) as sim:
            t0 = time.perf_counter()
            _sync(engine, sim.url)
            times["cold sync s"] = time.perf_counter() - t0
            state.change_jobs(n_jobs // 20)
            state.delete_jobs(n_jobs // 100)
            t0 = time.perf_counter()
            _sync(engine, sim.url)
            times["changed sync s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            _sync(engine, sim.url)
            times["no-change sync s"] = time.perf_counter() - t0
        return times
    finally:
        engine.dispose()


def _columns(conn: psycopg.Connection[Any], table: str) -> list[tuple[str, str]]:
    """(name, data type) of each column of ``table``, in order."""
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND table_schema = current_schema() ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def _copy_select(
    conn: psycopg.Connection[Any], table: str, id_columns: set[str], skip: set[str], shift: str | None
) -> str:
    """INSERT ... SELECT of a copy: ids suffixed, every timestamp moved back by ``shift`` (an
    interval expression) unless it is None."""
    columns = [(c, t) for c, t in _columns(conn, table) if c not in skip]
    exprs = [
        f"{c} || '~' || k"
        if c in id_columns
        else f"{c} - {shift}"
        if shift and t == "timestamp with time zone"
        else c
        for c, t in columns
    ]
    names = ", ".join(c for c, _ in columns)
    return f"INSERT INTO {table} ({names}) SELECT {', '.join(exprs)} FROM {table}"


def scale_by_copies(admin_url: str, source_db: str, target_db: str, factor: int, spread: bool) -> None:
    """target = source with ``factor - 1`` extra copies of every job (new ids, same child rows).

    ``spread``: copy k has every timestamp moved k spans of the source's created_at range into the
    past, so the warehouse is the source's activity over ``factor`` times the history (how a
    warehouse grows: a 7-day window holds what it held at the source size). Otherwise the copies
    keep the source's timestamps: ``factor`` times the activity on the same days."""
    with psycopg.connect(_plain(admin_url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{target_db}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{target_db}" TEMPLATE "{source_db}"')
    url = make_url(admin_url).set(database=target_db).render_as_string(hide_password=False)
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        existing = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        plan = [
            ("classify_jobs", {"id"}, set()),
            ("classify_job_payloads", {"job_id"}, set()),
            ("classify_rules", {"job_id"}, set()),
            ("classify_parsing_configs", {"job_id"}, set()),
            ("classify_target_pages", {"job_id"}, set()),
            ("classify_results", {"job_id"}, set()),
            ("classify_job_history", {"job_id"}, {"id"}),
            ("etl_job_seen", {"job_id"}, set()),
        ]
        span = conn.execute(
            "SELECT max(created_at) - min(created_at) + interval '1 day' FROM classify_jobs"
        ).fetchone()[0]  # type: ignore[index]
        for k in range(1, factor):
            shift = f"interval '{(span * k).total_seconds()} seconds'" if spread else None
            with conn.transaction():
                for table, ids, skip in plan:
                    if table not in existing:
                        continue
                    sql = _copy_select(conn, table, ids, skip, shift)
                    # Copies only of the originals (ids without '~').
                    key = next(iter(ids))
                    conn.execute(
                        sql.replace(" || k", f" || '{k}'") + f" WHERE strpos({key}, '~') = 0",
                    )
            print(f"  copy {k}/{factor - 1} done", file=sys.stderr, flush=True)
        if "etl_walk_sightings" in existing:
            # The copies were "seen" by the same walks as their originals.
            conn.execute("DELETE FROM etl_walk_sightings")


# -- queries -------------------------------------------------------------------------------------


def readme_queries() -> list[Query]:
    text_ = README.read_text(encoding="utf-8")
    section = text_[text_.index(START) : text_.index(END)]
    out = []
    for m in FENCE.finditer(section):
        if m.group(1) != "sql":
            continue
        sql = m.group(2).strip()
        if sql.startswith("-- dialect: sqlite"):
            continue
        # The paragraph before the block names it (or the block's first line, for a second block).
        para = section[: m.start()].rstrip().split("\n\n")[-1].strip()
        if para.startswith("```"):
            para = "Pages scoped most often"
        title = re.sub(r"[`*]", "", " ".join(para.split())).split(" (")[0].split(", ")[0].rstrip(":")
        out.append(Query(f"README: {title[:60]}", sql.rstrip(";"), "README"))
    return out


def dashboard_queries(conn: psycopg.Connection[Any]) -> list[Query]:
    """Filtered queries a dashboard would send; their literals come from the data (latest day,
    the biggest project, the commonest result type, one job with history)."""
    latest = conn.execute("SELECT max(created_at) FROM classify_jobs").fetchone()[0]  # type: ignore[index]
    updated = conn.execute("SELECT max(updated_at) FROM classify_jobs").fetchone()[0]  # type: ignore[index]
    (project,) = conn.execute(  # type: ignore[misc]
        "SELECT project_id FROM classify_jobs GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    (rtype,) = conn.execute(  # type: ignore[misc]
        "SELECT type FROM classify_results WHERE type IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    (job,) = conn.execute(  # type: ignore[misc]
        "SELECT job_id FROM classify_job_history GROUP BY job_id ORDER BY count(*) DESC, job_id LIMIT 1"
    ).fetchone()
    day = f"'{(latest - timedelta(days=1)).isoformat()}'"
    week = f"'{(latest - timedelta(days=7)).isoformat()}'"
    uday = f"'{(updated - timedelta(days=1)).isoformat()}'"
    d7 = f"CAST('{(latest - timedelta(days=7)).date().isoformat()}' AS DATE)"
    return [
        Query(
            "last day (created_at), newest first, LIMIT 100",
            f"SELECT id, status, result_type, confidence, created_at FROM classify_jobs_current "
            f"WHERE created_at >= {day} ORDER BY created_at DESC LIMIT 100",
            "dashboard",
        ),
        Query(
            "SELECT * last day, LIMIT 100",
            f"SELECT * FROM classify_jobs_current WHERE created_at >= {day} LIMIT 100",
            "dashboard",
        ),
        Query(
            "last day by updated_at (count per status)",
            f"SELECT status, count(*) FROM classify_jobs_current WHERE updated_at >= {uday} "
            "AND NOT is_deleted GROUP BY status",
            "dashboard",
        ),
        Query(
            "one project, last 7 days (count per status)",
            f"SELECT status, count(*) FROM classify_jobs_current WHERE project_id = '{project}' "
            f"AND created_at >= {week} AND NOT is_deleted GROUP BY status",
            "dashboard",
        ),
        Query(
            "one document type, last 7 days",
            f"SELECT id, project_id, confidence, created_at FROM classify_jobs_current "
            f"WHERE result_type = '{rtype}' AND created_at >= {week} AND NOT is_deleted",
            "dashboard",
        ),
        Query(
            "daily counts, one project, 7 days",
            f"SELECT day, status, sum(jobs) FROM classify_daily_counts WHERE project_id = '{project}' "
            f"AND day >= {d7} GROUP BY day, status ORDER BY day, status",
            "dashboard",
        ),
        Query(
            "confidence tenths, one project, 7 days (classify_confidence_counts)",
            f"SELECT confidence_tenth, sum(jobs) FROM classify_confidence_counts "
            f"WHERE project_id = '{project}' AND day >= {d7} GROUP BY 1 ORDER BY 1",
            "dashboard",
        ),
        Query(
            "confidence histogram, one project, 7 days (width_bucket over classify_jobs_current)",
            f"SELECT width_bucket(confidence, 0, 1, 10) AS bucket, count(*) FROM classify_jobs_current "
            f"WHERE project_id = '{project}' AND created_at >= {week} AND NOT is_deleted "
            "AND confidence IS NOT NULL GROUP BY 1 ORDER BY 1",
            "dashboard",
        ),
        Query(
            "export: every live job scoped to some pages (the README query without LIMIT)",
            "SELECT id, project_id, target_pages, target_page_count, max_pages, status, result_type "
            "FROM classify_jobs_current WHERE NOT is_deleted AND target_page_count > 0 "
            "ORDER BY target_page_count DESC, id",
            "export",
        ),
        Query(
            "parse credits from the raw JSON, one project, last 7 days",
            "SELECT count(*), sum(CAST(p.raw -> 'v2' -> 'usage' ->> 'parse_credits' AS NUMERIC)) "
            "FROM classify_jobs AS j JOIN classify_job_payloads AS p ON p.job_id = j.id "
            f"WHERE j.project_id = '{project}' AND j.created_at >= {week} AND j.deleted_at IS NULL",
            "raw JSON",
        ),
        Query(
            "one job's raw JSON (v2 body) by id",
            f"SELECT raw -> 'v2' FROM classify_job_payloads WHERE job_id = '{job}'",
            "raw JSON",
        ),
        Query(
            "one job's history",
            f"SELECT * FROM classify_job_history WHERE job_id = '{job}' ORDER BY valid_from, id",
            "dashboard",
        ),
        Query(
            "one job (SELECT * by id)",
            f"SELECT * FROM classify_jobs_current WHERE id = '{job}'",
            "dashboard",
        ),
        Query(
            "one project + created_at window, LIMIT 100",
            f"SELECT * FROM classify_jobs_current WHERE project_id = '{project}' AND created_at >= {week} "
            "ORDER BY created_at DESC LIMIT 100",
            "dashboard",
        ),
    ]


def _scans(node: dict[str, Any], out: list[str]) -> None:
    kind = node["Node Type"]
    if "Scan" in kind and kind not in ("Subquery Scan", "CTE Scan", "Function Scan", "Values Scan"):
        what = node.get("Index Name") or node.get("Relation Name") or ""
        short = {
            "Seq Scan": "Seq",
            "Index Scan": "Idx",
            "Index Only Scan": "IdxOnly",
            "Bitmap Heap Scan": "BitmapHeap",
            "Bitmap Index Scan": "Bitmap",
        }.get(kind, kind)
        if kind != "Bitmap Heap Scan":
            out.append(f"{short} {what}")
    for child in node.get("Plans", []):
        _scans(child, out)


def explain(conn: psycopg.Connection[Any], sql: str) -> tuple[float, int, str]:
    (plan,) = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}").fetchone()  # type: ignore[misc]
    top = plan[0]
    ms = float(top["Execution Time"]) + float(top["Planning Time"])
    scans: list[str] = []
    _scans(top["Plan"], scans)
    seen: dict[str, int] = {}
    for s in scans:
        seen[s] = seen.get(s, 0) + 1
    shape = ", ".join(f"{s}×{n}" if n > 1 else s for s, n in seen.items())
    return ms, int(top["Plan"]["Actual Rows"]), shape


def bytes_per_job(conn: psycopg.Connection[Any]) -> dict[str, float]:
    (jobs,) = conn.execute("SELECT count(*) FROM classify_jobs").fetchone()  # type: ignore[misc]
    out = {}
    for table in JOB_TABLES:
        size = conn.execute(
            "SELECT pg_total_relation_size(c.oid) FROM pg_class c WHERE c.relname = %s AND c.relkind = 'r'",
            (table,),
        ).fetchone()
        if size is not None:
            out[table] = size[0] / jobs
    return out


@contextmanager
def database(admin_url: str, name: str, keep: bool) -> Iterator[str]:
    with psycopg.connect(_plain(admin_url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with psycopg.connect(_plain(admin_url), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _exists(admin_url: str, name: str) -> bool:
    with psycopg.connect(_plain(admin_url), autocommit=True) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def measure(url: str, repeat: int) -> tuple[list[tuple[Query, float, int, str]], dict[str, float], int]:
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        (jobs,) = conn.execute("SELECT count(*) FROM classify_jobs").fetchone()  # type: ignore[misc]
        results = []
        for q in [*readme_queries(), *dashboard_queries(conn)]:
            explain(conn, q.sql)  # warm-up
            runs = [explain(conn, q.sql) for _ in range(repeat)]
            ms = statistics.median(r[0] for r in runs)
            results.append((q, ms, runs[0][1], runs[0][2]))
            print(f"  {ms:9.1f} ms  {q.name}  [{runs[0][2]}]", file=sys.stderr, flush=True)
        sizes = bytes_per_job(conn)
    return results, sizes, jobs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--pg-url", default=os.environ.get("CLASSIFY_ETL_TEST_PG_URL"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--build-max", type=int, default=100_000, help="bigger sizes are SQL copies")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--reuse", action="store_true", help="measure kept databases again, no rebuild")
    parser.add_argument(
        "--same-days",
        action="store_true",
        help="copies keep the source's timestamps (more activity on the same days) instead of "
        "extending the history into the past",
    )
    args = parser.parse_args()
    if not args.pg_url:
        parser.error("--pg-url or CLASSIFY_ETL_TEST_PG_URL is required")
    admin = db.normalize_url(args.pg_url)

    columns: list[
        tuple[int, str, list[tuple[Query, float, int, str]], dict[str, float], dict[str, float]]
    ] = []
    built: dict[int, str] = {}
    for n in sorted(args.sizes):
        name = f"warehouse_bench_{n}"
        if args.reuse and _exists(admin, name):
            print(f"reusing {name}", file=sys.stderr, flush=True)
            if n <= args.build_max:
                built[n] = name
            times, how = {}, "synced" if n <= args.build_max else "SQL copies"
        elif n <= args.build_max:
            print(f"building {n:,} jobs through the product", file=sys.stderr, flush=True)
            with database(admin, name, keep=True) as url:
                times = build_through_product(url, n, args.seed)
            built[n] = name
            how = "synced"
        else:
            base = max(built)
            factor = n // base
            print(f"building {n:,} jobs: {factor} copies of the {base:,} set", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            scale_by_copies(admin, built[base], name, factor, spread=not args.same_days)
            times = {"copy s": time.perf_counter() - t0}
            how = f"{factor}× SQL copies of {base // 1000}k, " + (
                "same days" if args.same_days else f"history {factor}× as long"
            )
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        print(f"measuring {n:,} ({how})", file=sys.stderr, flush=True)
        results, sizes, _ = measure(url, args.repeat)
        columns.append((n, how, results, sizes, times))
    if not args.keep:
        with psycopg.connect(_plain(admin), autocommit=True) as conn:
            for n, *_ in columns:
                conn.execute(f'DROP DATABASE IF EXISTS "warehouse_bench_{n}" WITH (FORCE)')
    print(render(columns))


def render(
    columns: list[tuple[int, str, list[tuple[Query, float, int, str]], dict[str, float], dict[str, float]]],
) -> str:
    head = [f"{n // 1000}k ms" if n < 1_000_000 else f"{n // 1_000_000}M ms" for n, *_ in columns]
    lines = [
        "Sizes: " + "; ".join(f"{n:,} jobs ({how})" for n, how, *_ in columns),
        "",
        "| query | rows (largest) | " + " | ".join(head) + " | plan at the largest size |",
        "|---|---:|" + "---:|" * len(head) + "---|",
    ]
    last = columns[-1][2]
    for i, (q, _, rows, shape) in enumerate(last):
        cells = [f"{col[2][i][1]:,.1f}" for col in columns]
        lines.append(f"| {q.name} | {rows:,} | " + " | ".join(cells) + f" | {shape} |")
    lines += ["", "Bytes per job (table + indexes + TOAST):", ""]
    tables = list(dict.fromkeys(t for col in columns for t in col[3]))
    lines.append("| table | " + " | ".join(f"{n:,}" for n, *_ in columns) + " |")
    lines.append("|---|" + "---:|" * len(columns))
    for t in tables:
        lines.append(f"| {t} | " + " | ".join(f"{col[3].get(t, 0):,.0f}" for col in columns) + " |")
    lines.append("| **all** | " + " | ".join(f"**{sum(col[3].values()):,.0f}**" for col in columns) + " |")
    over = [n for n, _, _, sizes, _ in columns if sum(sizes.values()) > TARGET_BYTES_PER_JOB]
    lines.append(
        f"\nTarget: at most {TARGET_BYTES_PER_JOB:,} bytes a job with the raw JSON readable: "
        + (f"EXCEEDED at {', '.join(f'{n:,}' for n in over)}" if over else "met at every size")
    )
    slow = [
        (q.name, n, ms)
        for n, _, results, _, _ in columns
        for q, ms, _, _ in results
        if q.kind == "dashboard" and ms > TARGET_DASHBOARD_MS
    ]
    lines.append(
        f"Target: every dashboard query at most {TARGET_DASHBOARD_MS} ms: "
        + ("; ".join(f"{name} {ms:.1f} ms at {n:,}" for name, n, ms in slow) if slow else "met at every size")
    )
    lines += [
        "",
        "Build: "
        + "; ".join(
            f"{n:,}: " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()) for n, _, _, _, t in columns
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
