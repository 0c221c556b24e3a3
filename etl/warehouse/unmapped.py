"""Fields the API sent that no column maps: recorded per page, read for the run summary and status.

No function here commits: the caller owns the transaction, so a page's rows and its
checkpoint land together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from etl.change.normalize import JobRows
from etl.source.models import declared
from etl.warehouse.schema import etl_unmapped_fields


def record_unmapped(conn: Connection, rows: Sequence[JobRows], run_id: int, now: datetime) -> None:
    """Record the undeclared fields of a page's payloads: a new one with this run as its first,
    a known one seen again (last seen, its sample job). One statement, and only for a page that
    has any."""
    seen: dict[tuple[str, str], str] = {}
    for r in rows:
        for key in r.unmapped:
            seen.setdefault(key, r.job_id)
    if not seen:
        return
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(etl_unmapped_fields)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["endpoint", "path"],
            set_={
                "last_seen_at": stmt.excluded.last_seen_at,
                "last_run_id": stmt.excluded.last_run_id,
                "sample_job_id": stmt.excluded.sample_job_id,
            },
        ),
        [
            {
                "endpoint": endpoint,
                "path": path,
                "first_seen_at": now,
                "last_seen_at": now,
                "sample_job_id": job_id,
                "first_run_id": run_id,
                "last_run_id": run_id,
            }
            for (endpoint, path), job_id in sorted(seen.items())
        ],
    )


def _field(row: Any) -> dict[str, Any]:
    return {
        "endpoint": row.endpoint,
        "path": row.path,
        "sample_job_id": row.sample_job_id,
        "first_seen_at": row.first_seen_at.isoformat(),
        "last_seen_at": row.last_seen_at.isoformat(),
    }


def first_seen_in_run(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    """The undeclared fields this run was the first to store, in (endpoint, path) order."""
    u = etl_unmapped_fields.c
    rows = conn.execute(
        select(etl_unmapped_fields).where(u.first_run_id == run_id).order_by(u.endpoint, u.path)
    )
    return [_field(r) for r in rows if not declared(r.endpoint, r.path)]


def still_unmapped(conn: Connection) -> list[dict[str, Any]]:
    """Every recorded field that this release's models still do not declare."""
    u = etl_unmapped_fields.c
    rows = conn.execute(select(etl_unmapped_fields).order_by(u.endpoint, u.path))
    return [_field(r) for r in rows if not declared(r.endpoint, r.path)]
