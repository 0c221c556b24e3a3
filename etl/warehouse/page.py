"""One page's transaction: its rows, history, quarantine and sightings, written together.

No function here commits: the caller owns the transaction, so a page's rows and its
checkpoint land together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    update,
)

from etl.change.normalize import JobRows
from etl.warehouse.deletions import deleted_job_ids, mark_seen, undelete
from etl.warehouse.history import record_history
from etl.warehouse.jobs import mark_hydration_failed, stored_state, upsert_jobs
from etl.warehouse.quarantine import open_quarantine, quarantine, resolve_quarantine
from etl.warehouse.schema import (
    classify_jobs,
)
from etl.warehouse.unmapped import record_unmapped


@dataclass
class PageWrite:
    """Everything one page writes, decided before its transaction opens."""

    scope: str
    rows: list[JobRows]
    #: Stored jobs whose hydration failed this time: kept, flagged for the next run.
    failed: dict[str, str]
    #: Quarantine records (endpoint, item_key, job_id, reason, raw).
    bad: list[dict[str, Any]]
    #: Every id the page listed (malformed ones included): not deleted.
    seen: list[str]
    #: Per endpoint, the ids that came back valid: their open quarantine rows are resolved.
    resolved: dict[str, list[str]]
    #: Unchanged jobs whose v2 list fingerprint is recorded for the first time.
    fingerprints: dict[str, str] = field(default_factory=dict)


@dataclass
class KnownSets:
    """Small sets read once per run that let the common page skip the statements fixing them."""

    open_quarantine: set[tuple[str, str]]
    deleted: set[str]

    @classmethod
    def read(cls, conn: Connection) -> KnownSets:
        return cls(open_quarantine(conn), deleted_job_ids(conn))


def commit_page(conn: Connection, page: PageWrite, *, run_id: int, now: datetime, known: KnownSets) -> None:
    """A page's rows, history, quarantine and sightings, in the caller's transaction (which also
    writes the checkpoint, so that both land or neither)."""
    # Read in the transaction, not from the plan: a page planned while an earlier one was still
    # committing may have seen a job before that page wrote it.
    current = stored_state(conn, [r.job_id for r in page.rows]) if page.rows else {}
    upsert_jobs(conn, page.rows, stored=current.keys())
    record_unmapped(conn, page.rows, run_id, now)
    record_history(conn, page.rows, current, run_id, now)
    mark_hydration_failed(conn, page.failed)
    if page.fingerprints:
        conn.execute(
            update(classify_jobs)
            .where(classify_jobs.c.id == bindparam("b_id"))
            .values(v2_hash=bindparam("b_fp")),
            [{"b_id": k, "b_fp": v} for k, v in page.fingerprints.items()],
        )
    for record in page.bad:
        record["scope"] = page.scope
    quarantine(conn, page.bad, run_id, now)
    for endpoint, job_ids in page.resolved.items():
        fixed = [j for j in job_ids if (endpoint, j) in known.open_quarantine]
        if fixed:
            resolve_quarantine(conn, endpoint, fixed, run_id, now)
            known.open_quarantine.difference_update((endpoint, j) for j in fixed)
    mark_seen(conn, page.scope, page.seen, now)
    back = [j for j in page.seen if j in known.deleted]
    if back:
        undelete(conn, back)
        known.deleted.difference_update(back)
