"""Shared test helpers: run a sync against a simulator, read tables back for comparison."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from etl.run.sync import PageCallback, SyncOptions, SyncResult, build_scopes, run_sync
from etl.simulator import SimState
from etl.source.client import ClassifyApi
from etl.warehouse import schema

API_KEY = "sim-key"
DATA_TABLES = (
    schema.classify_jobs,
    schema.classify_rules,
    schema.classify_parsing_configs,
    schema.classify_target_pages,
    schema.classify_results,
)


def sync(
    engine: Engine,
    url: str,
    *,
    project_ids: Iterable[str] = (),
    organization_id: str | None = None,
    max_retries: int = 5,
    backoff: float = 0.01,
    request_timeout: float = 10.0,
    on_page: PageCallback | None = None,
    **options: Any,
) -> SyncResult:
    """One sync run through the real client over HTTP, with fast backoff for tests."""

    def factory() -> ClassifyApi:
        return ClassifyApi(
            base_url=url,
            api_key=API_KEY,
            max_retries=max_retries,
            backoff_initial=backoff,
            backoff_max=backoff * 4,
            request_timeout=request_timeout,
            connect_timeout=2.0,
        )

    opts = SyncOptions(**{"page_size": 50, **options})
    return run_sync(engine, factory, opts, build_scopes(list(project_ids), organization_id), on_page=on_page)


def rows(engine: Engine, table_name: str, columns: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """All rows of a table (selected columns), in a stable order, as plain dicts."""
    table = schema.metadata.tables.get(table_name)
    if table is None:
        table = schema.views.tables[table_name]
    cols = [table.c[c] for c in columns] if columns is not None else list(table.c)
    pk = list(table.primary_key.columns)
    with engine.connect() as conn:
        result = conn.execute(select(*cols).order_by(*pk))
        return [dict(r._mapping) for r in result]


def assert_tables_equal_truth(engine: Engine, state: SimState, source: str = "v1") -> None:
    """Every data table equals the simulator's ground truth, row for row."""
    expected = state.expected_rows(source=source)
    deleted = {r["id"] for r in rows(engine, "classify_jobs", ["id", "deleted_at"]) if r["deleted_at"]}
    for name, want in expected.items():
        columns = list(want[0]) if want else None
        got = rows(engine, name, columns)
        if name == "classify_jobs":
            got = [r for r in rows(engine, name) if r["deleted_at"] is None]
            got = [{c: r[c] for c in (columns or r)} for r in got]
        else:  # a deleted job keeps its rows, flagged on classify_jobs.deleted_at
            got = [r for r in got if r["job_id"] not in deleted]
        if name == "classify_jobs":  # credits are exact decimals in the database, floats in the truth
            got, want = [_exact(r) for r in got], [_exact(r) for r in want]
        key = _sort_key(name)
        got_sorted, want_sorted = sorted(got, key=key), sorted(want, key=key)
        if got_sorted != want_sorted:
            _explain(name, got_sorted, want_sorted)


CREDIT_COLUMNS = ("v2_usage_credits", "v2_usage_parse_credits")


def _exact(row: dict[str, Any]) -> dict[str, Any]:
    """Credits as normalized Decimals: 10.06 from the API equals NUMERIC's 10.060000."""
    out = dict(row)
    for c in CREDIT_COLUMNS:
        if out.get(c) is not None:
            out[c] = Decimal(str(out[c])).normalize()
    return out


def _sort_key(name: str) -> Any:
    if name == "classify_rules":
        return lambda r: (r["job_id"], r["position"])
    if name == "classify_target_pages":
        return lambda r: (r["job_id"], r["page_number"])
    return lambda r: r.get("id", r.get("job_id"))


def _explain(name: str, got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    got_set = {json.dumps(r, sort_keys=True, default=str) for r in got}
    want_set = {json.dumps(r, sort_keys=True, default=str) for r in want}
    missing = sorted(want_set - got_set)[:3]
    extra = sorted(got_set - want_set)[:3]
    raise AssertionError(
        f"{name}: {len(got)} rows, expected {len(want)}; "
        f"{len(want_set - got_set)} missing e.g. {missing}; {len(got_set - want_set)} unexpected e.g. {extra}"
    )


def checksum(engine: Engine, tables: Iterable[Any] = DATA_TABLES) -> dict[str, str]:
    """A digest of every row and column of each table: equal digests mean nothing was rewritten
    with different values (xmin, on PostgreSQL, catches same-value rewrites too)."""
    out = {}
    for table in tables:
        data = json.dumps(rows(engine, table.name), sort_keys=True, default=str)
        out[table.name] = hashlib.sha256(data.encode()).hexdigest()
    return out


def pg_row_versions(engine: Engine) -> dict[str, list[str]]:
    """PostgreSQL's xmin of every row: it changes whenever a row is rewritten, even to the same values."""
    from sqlalchemy import text

    out = {}
    with engine.connect() as conn:
        # Tables only (classify_rules is a view over the rule sets).
        tables = [t for t in DATA_TABLES if t.name in schema.metadata.tables]
        summaries = [schema.classify_rule_stats, schema.classify_daily_stats, schema.classify_page_stats]
        for table in [*tables, schema.classify_rule_sets, schema.classify_rule_set_rules, *summaries]:
            out[table.name] = sorted(
                str(x) for x in conn.execute(text(f"SELECT xmin::text FROM {table.name}")).scalars()
            )
    return out
