"""Rendering a canonical job as each API version shows it, and serving it malformed on request."""

from __future__ import annotations

import time
from typing import Any, Literal

from etl.simulator.data import V1_STATUS, V2_STATUS, Job, v2_lang

InvalidKind = Literal["missing_id", "bad_timestamp", "bad_target_pages", "unknown_status", "unknown_mode"]
INVALID_KINDS: tuple[InvalidKind, ...] = (
    "missing_id",
    "bad_timestamp",
    "bad_target_pages",
    "unknown_status",
    "unknown_mode",
)


def iso_ms(ms: int) -> str:
    """``2025-01-01T00:00:00.000Z``: ISO 8601, UTC, milliseconds, as the API writes times."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def v1_pages(pages: tuple[int, ...]) -> list[int]:
    """v1's 0-based page list."""
    return [p - 1 for p in pages]


def v2_pages(pages: tuple[int, ...]) -> str:
    """v2's 1-based range string: runs of consecutive pages become ``a-b`` ("1,3,5-7")."""
    parts: list[str] = []
    start = prev = pages[0]
    for p in (*pages[1:], None):
        if p is not None and p == prev + 1:
            prev = p
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if p is not None:
            start = prev = p
    return ",".join(parts)


def _finish(item: dict[str, Any], job: Job, optional: tuple[str, ...]) -> dict[str, Any]:
    if job.omit_nulls:
        for key in optional:
            if item.get(key, 0) is None:
                del item[key]
    return item


def render_v1(job: Job) -> dict[str, Any]:
    """An item of ``GET /api/v1/classifier/jobs``."""
    cfg: dict[str, Any] | None = None
    if job.parsing is not None:
        p = job.parsing
        cfg = _finish(
            {
                "lang": p.lang,
                "max_pages": p.max_pages,
                "target_pages": v1_pages(p.pages) if p.pages is not None else None,
            },
            job,
            ("lang", "max_pages", "target_pages"),
        )
    item = {
        "id": job.id,
        "project_id": job.project_id,
        "rules": [{"description": d, "type": t} for t, d in job.rules],
        "status": V1_STATUS[job.status],
        "user_id": job.user_id,
        "created_at": iso_ms(job.created_ms),
        "effective_at": iso_ms(job.effective_ms) if job.effective_ms is not None else None,
        "error_message": job.v1_error,
        "job_record_id": job.job_record_id,
        "mode": job.mode,
        "parsing_configuration": cfg,
        "updated_at": iso_ms(job.updated_ms),
    }
    return _finish(item, job, ("effective_at", "error_message", "job_record_id", "parsing_configuration"))


#: What ``usage`` shows: (credits, parse_credits), either null until billing has recorded it.
UsageShown = tuple[float | None, float | None]


def render_v2(job: Job, usage: UsageShown | None = None) -> dict[str, Any]:
    """``GET /api/v2/classify/{id}``, and an item of ``GET /api/v2/classify``; ``usage`` (when
    given) is served as the ``usage`` object, which the API sends only on request."""
    cfg: dict[str, Any] | None = None
    if job.parsing is not None:
        p = job.parsing
        cfg = _finish(
            {
                "lang": v2_lang(p.lang) if p.lang is not None else None,
                "max_pages": p.max_pages,
                "target_pages": v2_pages(p.pages) if p.pages is not None else None,
            },
            job,
            ("lang", "max_pages", "target_pages"),
        )
    configuration = _finish(
        {
            "rules": [{"description": d, "type": t} for t, d in job.rules],
            "mode": "FAST" if job.mode == "FAST" else None,
            "parsing_configuration": cfg,
        },
        job,
        ("mode", "parsing_configuration"),
    )
    result = None
    if job.result is not None:
        r = job.result
        result = {"confidence": r.confidence, "reasoning": r.reasoning, "type": r.type}
    item: dict[str, Any] = {
        "id": job.id,
        "configuration": configuration,
        "document_input_type": job.document_input_type,
        "file_input": job.file_input,
        "project_id": job.project_id,
        "status": V2_STATUS[job.status],
        "user_id": job.user_id,
        "configuration_id": job.configuration_id,
        "created_at": iso_ms(job.created_ms),
        "error_message": job.v2_error,
        "parse_job_id": job.parse_job_id,
        "result": result,
        "transaction_id": job.transaction_id,
        "updated_at": iso_ms(job.updated_ms),
    }
    if usage is not None:
        # A field newer API releases add, and only on request: clients must keep it.
        item["usage"] = {"credits": usage[0], "parse_credits": usage[1]}
    optional = ("configuration_id", "error_message", "parse_job_id", "result", "transaction_id")
    return _finish(item, job, optional)


def corrupt(item: dict[str, Any], kind: InvalidKind, api: Literal["v1", "v2"]) -> dict[str, Any]:
    """A malformed copy of a rendered item, broken the way ``kind`` says."""
    item = dict(item)
    if kind == "missing_id":
        del item["id"]
    elif kind == "bad_timestamp":
        item["updated_at"] = "2025-13-45T25:61:00Z"
    elif kind == "unknown_status":
        item["status"] = "ARCHIVED"
    elif kind == "unknown_mode":
        if api == "v1":
            item["mode"] = "TURBO"
        else:
            item["configuration"] = {**item["configuration"], "mode": "TURBO"}
    elif kind == "bad_target_pages":
        if api == "v1":
            cfg = dict(item.get("parsing_configuration") or {})
            cfg["target_pages"] = [-1, "x"]
            item["parsing_configuration"] = cfg
        else:
            conf = dict(item["configuration"])
            conf["parsing_configuration"] = {
                **(conf.get("parsing_configuration") or {}),
                "target_pages": "3-1,x",
            }
            item["configuration"] = conf
    return item
