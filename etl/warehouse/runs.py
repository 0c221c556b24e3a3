"""The ``etl_sync_runs`` rows: a run's start, its updates, and runs that died without an outcome.

No function here commits: the caller owns the transaction, so a page's rows and its
checkpoint land together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    insert,
    select,
    update,
)

from etl.warehouse.schema import (
    etl_sync_runs,
)


def start_run(conn: Connection, *, started_at: datetime, full_refresh: bool, scopes: Iterable[str]) -> int:
    result = conn.execute(
        insert(etl_sync_runs)
        .values(started_at=started_at, outcome="running", full_refresh=full_refresh, scopes=list(scopes))
        .returning(etl_sync_runs.c.id)
    )
    return int(result.scalar_one())


def update_run(conn: Connection, run_id: int, **values: Any) -> None:
    conn.execute(update(etl_sync_runs).where(etl_sync_runs.c.id == run_id).values(**values))


def abandon_stale_runs(conn: Connection, scopes: Sequence[str], now: datetime) -> None:
    """Runs still 'running' on our (locked) scopes died without saying so: record that."""
    r = etl_sync_runs.c
    mine = set(scopes)
    stale = [
        row.id
        for row in conn.execute(select(r.id, r.scopes).where(r.outcome == "running"))
        if set(row.scopes or []) <= mine
    ]
    if stale:
        conn.execute(
            update(etl_sync_runs)
            .where(r.id.in_(stale))
            .values(outcome="abandoned", message="the process died before recording an outcome")
        )
