"""Sightings (which jobs a walk listed) and deletions (jobs a complete walk no longer lists).

No function here commits: the caller owns the transaction, so a page's rows and its
checkpoint land together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    Connection,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from etl.warehouse.schema import (
    UtcDateTime,
    classify_jobs,
    etl_job_seen,
    etl_walk_sightings,
)
from etl.warehouse.sql import among, insert_new, qualified


def mark_seen(conn: Connection, scope: str, job_ids: Sequence[str], now: datetime) -> None:
    """Record that this scope's walk listed these jobs (a page of them) at ``now``: one
    etl_walk_sightings row for the page, and an etl_job_seen row only for a job the scope had
    never listed. A walk that lists nothing new writes one row per page, not one per job."""
    if not job_ids:
        return
    # Once per id: a page can list a job twice (a valid copy and a malformed one).
    ids = list(dict.fromkeys(job_ids))
    conn.execute(insert(etl_walk_sightings).values(scope=scope, seen_at=now, job_ids=ids))
    insert_new(conn, etl_job_seen, [{"scope": scope, "job_id": j, "first_listed_at": now} for j in ids])


def deleted_job_ids(conn: Connection) -> set[str]:
    j = classify_jobs.c
    return set(conn.execute(select(j.id).where(j.deleted_at.is_not(None))).scalars())


def undelete(conn: Connection, job_ids: Sequence[str]) -> None:
    if job_ids:
        conn.execute(
            update(classify_jobs).where(among(conn, classify_jobs.c.id, job_ids)).values(deleted_at=None)
        )


def mark_deleted(
    conn: Connection, scope: str, walk_started_at: datetime, now: datetime, *, only_v2_known: bool = False
) -> int:
    """After a complete walk: jobs this scope listed before but not during the walk are deleted.

    A v2 walk never lists jobs that only v1 knew: those are left alone, not called deleted. The
    walk's sightings are then dropped: the next walk records its own."""
    j = classify_jobs.c
    stmt = update(classify_jobs).where(
        j.id.in_(unseen_ids(conn, scope, walk_started_at)), j.deleted_at.is_(None)
    )
    if only_v2_known:
        stmt = stmt.where(j.hydration_status != "not_found")
    result = conn.execute(stmt.values(deleted_at=now))
    drop_sightings(conn, scope, now)
    return int(result.rowcount or 0)


def drop_sightings(conn: Connection, scope: str, now: datetime) -> None:
    """The walk's sightings, once its unlisted jobs are dealt with: the next walk records its own."""
    w = etl_walk_sightings.c
    conn.execute(delete(etl_walk_sightings).where(w.scope == scope, w.seen_at <= now))


def unseen_ids(conn: Connection, scope: str, walk_started_at: datetime) -> Any:
    """The ids of jobs this scope has listed but whose walk since ``walk_started_at`` has not.

    PostgreSQL: ``NOT EXISTS``, which it plans as a hash anti-join. ``NOT IN (subquery)`` is hashed
    only while the walk's ids fit in ``work_mem``; past that it is compared row by row, quadratic
    in the number of jobs (bench/README.md has the numbers at 1M). SQLite indexes an ``IN``
    subquery's result itself, where a correlated ``NOT EXISTS`` would read every sighting for each
    job: ``NOT IN`` there. Sightings hold ids only (never null),
    so the two mean the same."""
    s = etl_job_seen.c
    params: tuple[BindParameter[Any], ...] = (
        bindparam("w_scope", scope),
        bindparam("w_since", walk_started_at, type_=UtcDateTime()),
    )
    sightings, seen = qualified(conn, etl_walk_sightings.name), qualified(conn, etl_job_seen.name)
    if conn.dialect.name == "postgresql":
        listed_since = text(
            f"NOT EXISTS (SELECT 1 FROM {sightings} AS w, json_array_elements_text(w.job_ids) AS e(id) "
            f"WHERE w.scope = :w_scope AND w.seen_at >= :w_since AND e.id = {seen}.job_id)"
        ).bindparams(*params)
        return select(s.job_id).where(s.scope == scope, listed_since)
    listed = text(
        f"SELECT e.value FROM {sightings} AS w, json_each(w.job_ids) AS e "
        "WHERE w.scope = :w_scope AND w.seen_at >= :w_since"
    ).bindparams(*params)
    return select(s.job_id).where(s.scope == scope, s.job_id.not_in(listed.columns(s.job_id)))


def count_unseen(
    conn: Connection, scope: str, walk_started_at: datetime, *, only_v2_known: bool = False
) -> int:
    """How many live jobs ``mark_deleted`` would tombstone now (for a guard before doing it)."""
    j = classify_jobs.c
    stmt = (
        select(func.count())
        .select_from(classify_jobs)
        .where(j.id.in_(unseen_ids(conn, scope, walk_started_at)), j.deleted_at.is_(None))
    )
    if only_v2_known:
        stmt = stmt.where(j.hydration_status != "not_found")
    return int(conn.execute(stmt).scalar_one())


def count_live(conn: Connection, scope: str) -> int:
    """How many jobs this scope has listed are live (not tombstoned)."""
    j, s = classify_jobs.c, etl_job_seen.c
    stmt = (
        select(func.count())
        .select_from(etl_job_seen.join(classify_jobs, j.id == s.job_id))
        .where(s.scope == scope, j.deleted_at.is_(None))
    )
    return int(conn.execute(stmt).scalar_one())
