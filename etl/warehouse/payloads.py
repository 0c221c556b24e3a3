"""The raw payloads as stored: ``classify_job_payloads.raw``, JSON readable from SQL.

No function here commits: the caller owns the transaction, so a page's rows and its
checkpoint land together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from etl.warehouse.schema import classify_job_payloads
from etl.warehouse.sql import among


def raw_value(v1_raw: Any, v2_raw: Any) -> dict[str, Any]:
    """The stored value of a job's payloads (each already ``storable_raw``): ``{"v1": ..., "v2":
    ...}``, without the key of an absent one, so that ``raw -> 'v1'`` is SQL NULL for a job the
    v1 list never showed."""
    value = {}
    if v1_raw is not None:
        value["v1"] = v1_raw
    if v2_raw is not None:
        value["v2"] = v2_raw
    return value


def stored_payloads(conn: Connection, job_ids: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    """job id → (v1_raw, v2_raw) as stored (escaped: ``restore_raw`` gives what the API sent;
    None where absent), for these jobs."""
    if not job_ids:
        return {}
    p = classify_job_payloads.c
    rows = conn.execute(select(p.job_id, p.raw).where(among(conn, p.job_id, job_ids)))
    return {r.job_id: (r.raw.get("v1"), r.raw.get("v2")) for r in rows}
