"""Malformed records kept with their raw payload and reason, and resolved when they come back valid.

No function here commits: the caller owns the transaction, so a page's rows and its
checkpoint land together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    select,
    update,
)

from etl.warehouse.schema import (
    etl_quarantine,
)
from etl.warehouse.sql import among, upsert


def quarantine(conn: Connection, records: list[dict[str, Any]], run_id: int, now: datetime) -> None:
    """Store malformed records (endpoint, item_key, job_id, reason, raw); a record seen again is
    updated in place and reopened, never doubled."""
    if not records:
        return
    rows = [
        {
            **r,
            "run_id": run_id,
            "first_seen_at": now,
            "last_seen_at": now,
            "resolved_at": None,
            "resolved_run_id": None,
        }
        for r in {(r["endpoint"], r["item_key"]): r for r in records}.values()
    ]
    upsert(conn, etl_quarantine, rows, ["endpoint", "item_key"])


def resolve_unseen_quarantine(
    conn: Connection, scope: str, endpoint: str, walk_started_at: datetime, run_id: int, now: datetime
) -> None:
    """After a complete walk: list records of this scope that the walk no longer met are resolved
    (fixed or gone), including those without an id to match them by."""
    q = etl_quarantine.c
    conn.execute(
        update(etl_quarantine)
        .where(
            q.scope == scope,
            q.endpoint == endpoint,
            q.resolved_at.is_(None),
            q.last_seen_at < walk_started_at,
        )
        .values(resolved_at=now, resolved_run_id=run_id)
    )


def open_quarantine(conn: Connection) -> set[tuple[str, str]]:
    """(endpoint, job_id) of every unresolved quarantine row that names a job."""
    q = etl_quarantine.c
    rows = conn.execute(select(q.endpoint, q.job_id).where(q.resolved_at.is_(None), q.job_id.is_not(None)))
    return {(r.endpoint, r.job_id) for r in rows}


def resolve_quarantine(
    conn: Connection, endpoint: str, job_ids: Sequence[str], run_id: int, now: datetime
) -> None:
    if not job_ids:
        return
    q = etl_quarantine.c
    conn.execute(
        update(etl_quarantine)
        .where(q.endpoint == endpoint, among(conn, q.job_id, job_ids), q.resolved_at.is_(None))
        .values(resolved_at=now, resolved_run_id=run_id)
    )
