"""Jobs and what hangs off them: the stored state a page's decision reads, rule sets, the job
row and its child rows (target pages, result), and hydration failures.

No function here commits: the caller owns the transaction, so a page's rows and its
checkpoint land together or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from etl import jsontext
from etl.change.decide import Stored
from etl.change.normalize import JobRows, restore_raw
from etl.warehouse.payloads import raw_value, stored_payloads
from etl.warehouse.schema import (
    classify_job_payloads,
    classify_jobs,
    classify_results,
    classify_rule_set_rules,
    classify_rule_sets,
    classify_target_pages,
)
from etl.warehouse.sql import among, insert_rows, upsert

# A job's own child rows (its rules are a shared rule set: classify_rule_sets).
CHILD_TABLES = (classify_target_pages, classify_results)


#: The parsing configuration's columns, on the job row.
CONFIG_COLUMNS = ("lang", "max_pages", "target_pages", "target_pages_source")


def stored_state(conn: Connection, job_ids: Sequence[str]) -> dict[str, Stored]:
    """One query for a page: what the change decision and the history need, per listed id."""
    if not job_ids:
        return {}
    j = classify_jobs.c
    rows = conn.execute(  # the result's type and confidence: the job row's copies (revision 0018)
        select(
            j.id, j.v1_updated_at, j.v1_hash, j.v2_updated_at, j.v2_hash, j.hydration_status, j.status,
            j.updated_at, j.error_message, j.v2_credits_pending, j.result_type, j.confidence,
        ).where(among(conn, j.id, job_ids))
    )  # fmt: skip
    stored = {}
    for row in rows:  # unpacked as selected: a mapping per row cost 0.55 against 0.33 CPU-s for 20,000 rows
        job_id, v1_at, v1_hash, v2_at, v2_hash, hydration, status, updated = row[:8]
        error, pending, kind, conf = row[8:]
        stored[job_id] = Stored(
            v1_updated_at=v1_at,
            v1_hash=v1_hash,
            v2_updated_at=v2_at,
            v2_hash=v2_hash,
            hydration_status=hydration,
            status=status,
            updated_at=updated,
            credits_missing=bool(pending),
            history_key=(status, kind, conf, error),
        )
    return stored


def rule_set_digest(rules: Iterable[dict[str, Any]]) -> str:
    """A rule set's key: SHA-256 of ``[[type, description], ...]`` in position order, as compact
    ASCII JSON: the same list of rules gives the same key, whatever job carries it."""
    listed = [[r["type"], r["description"]] for r in sorted(rules, key=lambda r: r["position"])]
    return hashlib.sha256(jsontext.sorted_ascii(listed)).hexdigest()  # no keys to sort: the same text


def store_rule_sets(conn: Connection, jobs: Sequence[JobRows]) -> dict[str, int]:
    """job id → the id of its rule set (jobs without rules have none), writing the sets this
    database does not hold yet. A set another writer inserts at the same time is taken, not
    written twice (the digest is unique)."""
    of_job: dict[str, str] = {}  # job id → digest
    rules: dict[str, list[dict[str, Any]]] = {}  # digest → the rules, once
    for j in jobs:
        if j.rules:
            digest = rule_set_digest(j.rules)
            of_job[j.job_id] = digest
            rules.setdefault(digest, j.rules)
    if not of_job:
        return {}
    s = classify_rule_sets.c
    ids: dict[str, int] = dict(
        conn.execute(select(s.digest, s.id).where(among(conn, s.digest, list(rules)))).all()
    )
    missing = [d for d in rules if d not in ids]
    if missing:
        dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        created: dict[str, int] = dict(
            conn.execute(  # executemany: one statement text (compiled once), whatever the count
                dialect_insert(classify_rule_sets)
                .on_conflict_do_nothing(index_elements=["digest"])
                .returning(s.digest, s.id),
                [{"digest": d} for d in missing],
            ).all()
        )
        insert_rows(
            conn,
            classify_rule_set_rules,
            [
                {
                    "rule_set_id": set_id,
                    "position": r["position"],
                    "type": r["type"],
                    "description": r["description"],
                }
                for d, set_id in created.items()
                for r in rules[d]
            ],
        )
        ids.update(created)
        if len(ids) < len(rules):  # written by another transaction since the first read
            rest = [d for d in rules if d not in ids]
            ids.update(conn.execute(select(s.digest, s.id).where(among(conn, s.digest, rest))).all())
    return {job: ids[d] for job, d in of_job.items()}


def upsert_jobs(conn: Connection, jobs: Sequence[JobRows], stored: Collection[str] | None = None) -> None:
    """Write jobs, point them at their rule sets, and replace their child rows (pages, result) in
    bulk.

    The raw payloads of a job's row (``v1_raw``, ``v2_raw``) go to classify_job_payloads, as one
    JSON value; the job row gets its rule and page counts, its rule_set_id (the set is written
    first if new), and its result's type and confidence and its parsing configuration. ``stored``:
    the ids of these jobs already in the database, read in this transaction (None: any may be).
    Only their child rows can exist, so only theirs are deleted: a cold load deletes nothing."""
    if not jobs:
        return
    rule_sets = store_rule_sets(conn, jobs)
    upsert(conn, classify_jobs, [_job_row(j, rule_sets.get(j.job_id)) for j in jobs], ["id"])
    payloads = [
        {"job_id": j.job_id, "raw": raw_value(j.job.get("v1_raw"), j.job.get("v2_raw"))} for j in jobs
    ]
    upsert(conn, classify_job_payloads, payloads, ["job_id"])
    ids = [j.job_id for j in jobs if stored is None or j.job_id in stored]
    for table in CHILD_TABLES if ids else ():
        conn.execute(delete(table).where(among(conn, table.c.job_id, ids)))
    insert_rows(conn, classify_target_pages, [p for j in jobs for p in j.pages])
    insert_rows(conn, classify_results, [j.result for j in jobs if j.result is not None])


def _job_row(job: JobRows, rule_set_id: int | None) -> dict[str, Any]:
    row = {k: v for k, v in job.job.items() if k not in ("v1_raw", "v2_raw")}
    types = [r["type"] for r in sorted(job.rules, key=lambda r: r["position"])]
    row.update(
        rule_count=len(types),
        rule_types=",".join(types) or None,
        target_page_count=len(job.pages),
        rule_set_id=rule_set_id,
        result_type=job.result["type"] if job.result is not None else None,
        confidence=job.result["confidence"] if job.result is not None else None,
        parsing_configured=job.config is not None,
        **{c: (job.config or {}).get(c) for c in CONFIG_COLUMNS},
    )
    return row


def mark_hydration_failed(conn: Connection, errors: dict[str, str]) -> None:
    """Keep a stored job's data but flag it so the next run hydrates it again."""
    if not errors:
        return
    conn.execute(
        update(classify_jobs)
        .where(classify_jobs.c.id == bindparam("b_id"))
        .values(hydration_status="failed", hydration_error=bindparam("b_error")),
        [{"b_id": job_id, "b_error": error[:2000]} for job_id, error in errors.items()],
    )


def stored_v1_raw(conn: Connection, job_ids: Sequence[str]) -> dict[str, Any]:
    """The stored v1 payloads of these jobs (those that have one)."""
    return {
        job_id: restore_raw(v1)
        for job_id, (v1, _) in stored_payloads(conn, job_ids).items()
        if v1 is not None
    }
