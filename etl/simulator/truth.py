"""Ground truth: the rows a correct loader ends with, from the canonical data (not the JSON).

Rules (the loader's reconciliation, restated independently of it):

* A job v2 knows is hydrated (``hydration_status`` "ok"); the others are "not_found", v2_* None.
* Canonical columns take the v2 value when hydrated, else v1; ``mode`` falls back to v1's when
  v2 has none (MULTIMODAL).
* Status: hydrated → the v2 word mapped, except COMPLETED with v1 PARTIAL_SUCCESS → partial;
  not hydrated → the v1 word mapped (so a running job v2 does not know reads "pending").
* Rules, the parsing configuration and target pages come from the source that won.
* ``source="v2"`` is a loader walking the v2 list only: v2-known jobs, no v1 columns, and the
  plain v2 status mapping (no "partial").
* Credits (``v2_usage_credits``, ``v2_usage_parse_credits``) are as billed now: null while a job
  is unfinished or within its billing lag, null when the service never sends ``usage``
  (``expand_support="ignore"``), null for jobs v2 does not know.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from etl.simulator.data import V1_STATUS, V2_STATUS, Job, v2_lang
from etl.simulator.render import UsageShown, v1_pages, v2_pages

if TYPE_CHECKING:
    from etl.simulator.state import SimState

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FROM_V1 = {
    "PENDING": "pending",
    "SUCCESS": "completed",
    "ERROR": "failed",
    "PARTIAL_SUCCESS": "partial",
    "CANCELLED": "cancelled",
}
_FROM_V2 = {
    "PENDING": "pending",
    "RUNNING": "running",
    "COMPLETED": "completed",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
}

TABLES = (
    "classify_jobs",
    "classify_rules",
    "classify_parsing_configs",
    "classify_target_pages",
    "classify_results",
)


def utc(ms: int | None) -> datetime | None:
    return None if ms is None else _EPOCH + timedelta(milliseconds=ms)


def _v1_columns(job: Job) -> dict[str, Any]:
    return {
        "v1_status": V1_STATUS[job.status],
        "v1_mode": job.mode,
        "v1_user_id": job.user_id,
        "v1_project_id": job.project_id,
        "v1_created_at": utc(job.created_ms),
        "v1_updated_at": utc(job.updated_ms),
        "v1_effective_at": utc(job.effective_ms),
        "v1_error_message": job.v1_error,
        "v1_job_record_id": job.job_record_id,
    }


def _v2_columns(job: Job) -> dict[str, Any]:
    return {
        "v2_status": V2_STATUS[job.status],
        "v2_mode": "FAST" if job.mode == "FAST" else None,
        "v2_document_input_type": job.document_input_type,
        "v2_file_input": job.file_input,
        "v2_parse_job_id": job.parse_job_id,
        "v2_configuration_id": job.configuration_id,
        "v2_transaction_id": job.transaction_id,
        "v2_error_message": job.v2_error,
        "v2_created_at": utc(job.created_ms),
        "v2_updated_at": utc(job.updated_ms),
    }


def job_rows(job: Job, source: str, usage: UsageShown | None = None) -> dict[str, list[dict[str, Any]]]:
    """The rows one job contributes to each table; ``usage``, the credits billed now (None: leave
    the usage columns out)."""
    use_v1 = source == "v1"
    hydrated = job.v2_known
    v1 = _v1_columns(job) if use_v1 else dict.fromkeys(_v1_columns(job))
    v2 = _v2_columns(job) if hydrated else dict.fromkeys(_v2_columns(job))
    v1_word, v2_word = V1_STATUS[job.status], V2_STATUS[job.status]
    if hydrated:
        status = _FROM_V2[v2_word]
        if use_v1 and v2_word == "COMPLETED" and v1_word == "PARTIAL_SUCCESS":
            status = "partial"
        error, mode = v2["v2_error_message"], v2["v2_mode"] or v1["v1_mode"]
        created, updated = v2["v2_created_at"], v2["v2_updated_at"]
    else:
        status = _FROM_V1[v1_word]
        error, mode = v1["v1_error_message"], v1["v1_mode"]
        created, updated = v1["v1_created_at"], v1["v1_updated_at"]
    row = {
        "id": job.id,
        "project_id": job.project_id,
        "user_id": job.user_id,
        "status": status,
        "mode": mode,
        "error_message": error,
        "created_at": created,
        "updated_at": updated,
        **v1,
        **v2,
        "hydration_status": "ok" if hydrated else "not_found",
    }
    if usage is not None:
        row["v2_usage_credits"] = usage[0] if hydrated else None
        row["v2_usage_parse_credits"] = usage[1] if hydrated else None
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    out["classify_jobs"].append(row)
    out["classify_rules"] = [
        {"job_id": job.id, "position": i, "type": t, "description": d} for i, (t, d) in enumerate(job.rules)
    ]
    p = job.parsing
    if p is not None:
        target: str | None = None
        if p.pages is not None:
            target = v2_pages(p.pages) if hydrated else json.dumps(v1_pages(p.pages), separators=(",", ":"))
        lang = p.lang if p.lang is None or not hydrated else v2_lang(p.lang)
        out["classify_parsing_configs"].append(
            {
                "job_id": job.id,
                "lang": lang,
                "max_pages": p.max_pages,
                "target_pages": target,
                "target_pages_source": None if target is None else ("v2" if hydrated else "v1"),
            }
        )
        out["classify_target_pages"] = [{"job_id": job.id, "page_number": n} for n in p.pages or ()]
    if hydrated and job.result is not None:
        r = job.result
        out["classify_results"].append(
            {"job_id": job.id, "type": r.type, "confidence": r.confidence, "reasoning": r.reasoning}
        )
    return out


def expected_rows(
    state: SimState, source: str = "v1", *, credits: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """Rows per table (keyed by table name) for every live job, in listing order."""
    if source not in ("v1", "v2"):
        raise ValueError("source is 'v1' or 'v2'")
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    for index in state.live_indexes():
        if source == "v2" and not state.v2_known(index):
            continue
        usage = state.billed_usage(index) if credits else None
        for table, rows in job_rows(state.job_at(index), source, usage).items():
            out[table].extend(rows)
    return out
