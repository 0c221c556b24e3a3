"""The reads a v2 run's plan makes: the newest stored job, unfinished jobs, credits still due,
and created_at quantiles for the windows of a full walk.

No function here commits: the caller owns the transaction, so a page's rows and its
checkpoint land together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    func,
    select,
)

from etl.warehouse.deletions import unseen_ids
from etl.warehouse.schema import (
    classify_jobs,
    etl_job_seen,
)


def _scope_jobs(scope: str) -> Any:
    """Live jobs this scope has listed: its membership is what its walks saw."""
    s, j = etl_job_seen.c, classify_jobs.c
    return etl_job_seen.join(classify_jobs, j.id == s.job_id), (s.scope == scope) & j.deleted_at.is_(None)


def newest_created_at(conn: Connection, scope: str) -> datetime | None:
    joined, where = _scope_jobs(scope)
    return conn.execute(
        select(func.max(classify_jobs.c.created_at)).select_from(joined).where(where)
    ).scalar()


def newest_updated_at(conn: Connection) -> datetime | None:
    """The service's clock as far as we can tell: the newest ``updated_at`` it has sent us."""
    return conn.execute(select(func.max(classify_jobs.c.updated_at))).scalar()


def unfinished_job_ids(
    conn: Connection, scope: str, *, created_before: datetime | None, not_seen_since: datetime | None = None
) -> list[str]:
    """Jobs the database holds as pending or running (older than ``created_before``, if given;
    not listed by this scope at or after ``not_seen_since``, if given)."""
    joined, where = _scope_jobs(scope)
    j = classify_jobs.c
    stmt = select(j.id).select_from(joined).where(where, j.status.in_(("pending", "running")))
    if created_before is not None:
        stmt = stmt.where((j.created_at < created_before) | j.created_at.is_(None))
    if not_seen_since is not None:
        # Fix: the incremental run's "unfinished" lists have just seen the jobs still unfinished;
        # without this they were asked for again by id, every run (one request per 100 of them).
        stmt = stmt.where(j.id.in_(unseen_ids(conn, scope, not_seen_since)))
    return list(conn.execute(stmt.order_by(j.id)).scalars())


def credit_candidates(
    conn: Connection,
    scope: str,
    *,
    finished_since: datetime,
    created_before: datetime | None,
    not_seen_since: datetime | None = None,
) -> list[str]:
    """Finished jobs v2 answered for whose credits billing has not recorded yet, finished at or
    after ``finished_since`` (older than ``created_before``, if given; not listed by this scope at
    or after ``not_seen_since``, if given)."""
    joined, where = _scope_jobs(scope)
    j = classify_jobs.c
    stmt = (
        select(j.id)
        .select_from(joined)
        .where(
            where,
            j.status.in_(("completed", "partial", "failed", "cancelled")),
            j.v2_credits_pending.is_(True),
            j.updated_at >= finished_since,
        )
    )
    if created_before is not None:
        stmt = stmt.where((j.created_at < created_before) | j.created_at.is_(None))
    if not_seen_since is not None:
        # Fix: a job the run's lists showed was already fetched for its credits by its page's
        # plan; without this the backfill asked again in the same run (two GETs a finished job).
        stmt = stmt.where(j.id.in_(unseen_ids(conn, scope, not_seen_since)))
    return list(conn.execute(stmt.order_by(j.id)).scalars())


def created_at_quantiles(conn: Connection, scope: str, parts: int) -> list[datetime]:
    """``parts - 1`` cut points that split the scope's stored ``created_at`` into equal counts."""
    joined, where = _scope_jobs(scope)
    j = classify_jobs.c
    total = int(
        conn.execute(
            select(func.count()).select_from(joined).where(where, j.created_at.is_not(None))
        ).scalar_one()
    )
    if parts < 2 or total < parts:
        return []
    cuts: list[datetime] = []
    for k in range(1, parts):
        value = conn.execute(
            select(j.created_at)
            .select_from(joined)
            .where(where, j.created_at.is_not(None))
            .order_by(j.created_at)
            .offset(k * total // parts)
            .limit(1)
        ).scalar()
        if value is not None and (not cuts or value > cuts[-1]):
            cuts.append(value)
    return cuts
