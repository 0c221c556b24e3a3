"""A job's history: a new version whenever its outcome (status, result, confidence, error) changes.

No function here commits: the caller owns the transaction, so a page's rows and its
checkpoint land together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    select,
    update,
)

from etl.change.decide import Stored
from etl.change.normalize import JobRows
from etl.warehouse.schema import (
    classify_job_history,
)
from etl.warehouse.sql import among, insert_rows


def history_key(rows: JobRows) -> tuple[Any, ...]:
    """The part of a job whose changes the history records."""
    result = rows.result or {}
    return (rows.job["status"], result.get("type"), result.get("confidence"), rows.job["error_message"])


def _current_versions(conn: Connection, job_ids: Sequence[str]) -> dict[str, tuple[int, Any, Any]]:
    """job id → (version, result type, confidence) of its open history row, for these jobs."""
    if not job_ids:
        return {}
    h = classify_job_history.c
    rows = conn.execute(
        select(h.job_id, h.version, h.result_type, h.confidence).where(
            among(conn, h.job_id, job_ids), h.valid_to.is_(None)
        )
    )
    return {r.job_id: (r.version, r.result_type, r.confidence) for r in rows}


def record_history(
    conn: Connection, jobs: Sequence[JobRows], stored: dict[str, Stored], run_id: int, now: datetime
) -> int:
    """Close the current history row and open a new one for each job whose outcome changed
    (or that is new). Written in the page's transaction, so a retried page never doubles it."""
    changed = []
    for job in jobs:
        key = history_key(job)
        before = stored.get(job.job_id)
        if before is None or before.history_key != key:
            changed.append((job, key))
    if not changed:
        return 0
    current = _current_versions(conn, [job.job_id for job, _ in changed if job.job_id in stored])
    entries = []
    for job, (status, result_type, confidence, error) in changed:
        version, previous_type, previous_confidence = current.get(job.job_id, (0, None, None))
        entries.append(
            {
                "job_id": job.job_id,
                "valid_from": job.job.get("updated_at") or now,
                "valid_to": None,
                "status": status,
                "result_type": result_type,
                "confidence": confidence,
                "error_message": error,
                "observed_at": now,
                "run_id": run_id,
                "version": version + 1,
                "previous_result_type": previous_type,
                "previous_confidence": previous_confidence,
            }
        )
    closing = [{"b_id": e["job_id"], "b_to": e["valid_from"]} for e in entries if e["job_id"] in stored]
    if closing:
        h = classify_job_history.c
        conn.execute(
            update(classify_job_history)
            .where(h.job_id == bindparam("b_id"), h.valid_to.is_(None))
            .values(valid_to=bindparam("b_to")),
            closing,
        )
    insert_rows(conn, classify_job_history, entries)
    return len(entries)
