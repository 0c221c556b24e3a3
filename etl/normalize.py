"""Pure functions from API payloads to table rows.

Here live the reconciliations the two API versions force on us:

* status: v1 (PENDING, SUCCESS, ERROR, PARTIAL_SUCCESS, CANCELLED) and v2 (PENDING, RUNNING,
  COMPLETED, FAILED, CANCELLED) map onto one canonical set. The hydrated v2 status wins, being
  fetched after the list, except that v2 has no "partial": COMPLETED with v1 PARTIAL_SUCCESS
  stays ``partial``.
* target pages: v1 sends a 0-based list, v2 a 1-based range string ("1,3,5-7"); both become
  the same 1-based ``classify_target_pages`` rows.
* everything else: the v2 value when the job was hydrated, else the v1 value.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from etl.errors import InvalidItem
from etl.models import Rule, V1Job, V2Job

V1_STATUS = {
    "PENDING": "pending",
    "SUCCESS": "completed",
    "ERROR": "failed",
    "PARTIAL_SUCCESS": "partial",
    "CANCELLED": "cancelled",
}
V2_STATUS = {
    "PENDING": "pending",
    "RUNNING": "running",
    "COMPLETED": "completed",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
}

# Far beyond any real document; guards against "1-999999999" exploding into rows.
MAX_PAGE_NUMBER = 100_000
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_target_pages(value: str) -> list[int]:
    """Parse v2's 1-based "1,3,5-7" into sorted unique page numbers; raise ValueError if malformed."""
    pages: set[int] = set()
    for part in value.split(","):
        match = _RANGE.match(part)
        if not match:
            raise ValueError(f"malformed target_pages {value!r}: bad part {part.strip()!r}")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if first < 1 or last < first or last > MAX_PAGE_NUMBER:
            raise ValueError(f"malformed target_pages {value!r}: bad range {part.strip()!r}")
        pages.update(range(first, last + 1))
    return sorted(pages)


def v1_target_pages(value: list[int]) -> list[int]:
    """v1's 0-based page list as sorted unique 1-based page numbers."""
    if any(p < 0 or p >= MAX_PAGE_NUMBER for p in value):
        raise ValueError(f"malformed target_pages {value!r}: pages are 0-based and non-negative")
    return sorted({p + 1 for p in value})


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "item"
        parts.append(f"{loc}: {err['msg']} (got {err.get('input')!r:.80})")
    return "; ".join(parts)


def _raw_id(raw: Any) -> str | None:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"]:
        return str(raw["id"])
    return None


def parse_v1(raw: Any) -> V1Job:
    """Validate a v1 list item, or raise InvalidItem naming the job and the bad value."""
    job_id = _raw_id(raw)
    try:
        job = V1Job.model_validate(raw)
        cfg = job.parsing_configuration
        if cfg is not None and cfg.target_pages is not None:
            v1_target_pages(cfg.target_pages)
    except (ValidationError, ValueError) as exc:
        reason = _describe(exc) if isinstance(exc, ValidationError) else str(exc)
        raise InvalidItem(f"v1 job {job_id or '<no id>'}: {reason}", job_id=job_id) from None
    return job


def parse_v2(raw: Any) -> V2Job:
    """Validate a v2 job, or raise InvalidItem naming the job and the bad value."""
    job_id = _raw_id(raw)
    try:
        job = V2Job.model_validate(raw)
        cfg = job.configuration.parsing_configuration
        if cfg is not None and cfg.target_pages is not None:
            parse_target_pages(cfg.target_pages)
    except (ValidationError, ValueError) as exc:
        reason = _describe(exc) if isinstance(exc, ValidationError) else str(exc)
        raise InvalidItem(f"v2 job {job_id or '<no id>'}: {reason}", job_id=job_id) from None
    return job


def canonical_status(v1_status: str | None, v2_status: str | None) -> str:
    """Reconcile the two status vocabularies into pending/running/completed/partial/failed/cancelled."""
    if v2_status is not None:
        if v2_status == "COMPLETED" and v1_status == "PARTIAL_SUCCESS":
            return "partial"
        return V2_STATUS[v2_status]
    if v1_status is None:
        raise ValueError("a job needs a v1 or a v2 status")
    return V1_STATUS[v1_status]


def storable_raw(raw: Any) -> Any:
    """A raw payload as the databases can store it (placeholder until hostile text is handled)."""
    return raw


def payload_hash(raw: Any) -> str:
    """A stable fingerprint of a payload, to notice a change that did not move ``updated_at``."""
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class JobRows:
    """Everything one job contributes to the tables."""

    job: dict[str, Any]
    rules: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] | None = None
    pages: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None

    @property
    def job_id(self) -> str:
        return str(self.job["id"])


_V1_EMPTY = dict.fromkeys(
    (
        "v1_status",
        "v1_mode",
        "v1_user_id",
        "v1_project_id",
        "v1_created_at",
        "v1_updated_at",
        "v1_effective_at",
        "v1_error_message",
        "v1_job_record_id",
        "v1_raw",
        "v1_hash",
    )
)
_V2_EMPTY = dict.fromkeys(
    (
        "v2_status",
        "v2_mode",
        "v2_document_input_type",
        "v2_file_input",
        "v2_parse_job_id",
        "v2_configuration_id",
        "v2_transaction_id",
        "v2_error_message",
        "v2_created_at",
        "v2_updated_at",
        "v2_raw",
        "v2_usage_credits",
        "v2_usage_parse_credits",
    )
)


def _v1_columns(v1: V1Job, raw: Any) -> dict[str, Any]:
    return {
        "v1_status": v1.status,
        "v1_mode": v1.mode,
        "v1_user_id": v1.user_id,
        "v1_project_id": v1.project_id,
        "v1_created_at": v1.created_at,
        "v1_updated_at": v1.updated_at,
        "v1_effective_at": v1.effective_at,
        "v1_error_message": v1.error_message,
        "v1_job_record_id": v1.job_record_id,
        "v1_raw": raw,
        "v1_hash": payload_hash(raw),
    }


def _v2_columns(v2: V2Job, raw: Any) -> dict[str, Any]:
    return {
        "v2_status": v2.status,
        "v2_mode": v2.configuration.mode,
        "v2_document_input_type": v2.document_input_type,
        "v2_file_input": v2.file_input,
        "v2_parse_job_id": v2.parse_job_id,
        "v2_configuration_id": v2.configuration_id,
        "v2_transaction_id": v2.transaction_id,
        "v2_error_message": v2.error_message,
        "v2_created_at": v2.created_at,
        "v2_updated_at": v2.updated_at,
        "v2_raw": raw,
        "v2_usage_credits": v2.usage.credits if v2.usage else None,
        "v2_usage_parse_credits": v2.usage.parse_credits if v2.usage else None,
    }


def _rules(job_id: str, rules: list[Rule]) -> list[dict[str, Any]]:
    return [
        {"job_id": job_id, "position": i, "type": r.type, "description": r.description}
        for i, r in enumerate(rules)
    ]


def build_rows(
    *,
    v1: V1Job | None,
    v1_raw: Any,
    v2: V2Job | None,
    v2_raw: Any,
    hydration_status: str,
    hydration_error: str | None,
    now: datetime,
) -> JobRows:
    """Normalize one job from its v1 list item and/or its v2 payload into table rows."""
    if v1 is None and v2 is None:
        raise ValueError("build_rows needs a v1 item or a v2 payload")
    job_id = v2.id if v2 is not None else v1.id  # type: ignore[union-attr]
    job: dict[str, Any] = {"id": job_id}
    job.update(_v1_columns(v1, v1_raw) if v1 is not None else _V1_EMPTY)
    job.update(_v2_columns(v2, v2_raw) if v2 is not None else _V2_EMPTY)
    job["status"] = canonical_status(v1.status if v1 else None, v2.status if v2 else None)
    if v2 is not None:
        job.update(
            project_id=v2.project_id,
            user_id=v2.user_id,
            mode=v2.configuration.mode or (v1.mode if v1 else None),
            error_message=v2.error_message,
            created_at=v2.created_at,
            updated_at=v2.updated_at,
        )
    else:
        assert v1 is not None
        job.update(
            project_id=v1.project_id,
            user_id=v1.user_id,
            mode=v1.mode,
            error_message=v1.error_message,
            created_at=v1.created_at,
            updated_at=v1.updated_at,
        )
    job.update(
        first_seen_at=now,
        hydrated_at=now if v2 is not None else None,
        hydration_status=hydration_status,
        hydration_error=hydration_error,
    )
    rows = JobRows(job=job)

    if v2 is not None:
        rows.rules = _rules(job_id, v2.configuration.rules)
        cfg2 = v2.configuration.parsing_configuration
        if cfg2 is not None:
            pages = parse_target_pages(cfg2.target_pages) if cfg2.target_pages is not None else []
            rows.config = {
                "job_id": job_id,
                "lang": cfg2.lang,
                "max_pages": cfg2.max_pages,
                "target_pages": cfg2.target_pages,
                "target_pages_source": "v2" if cfg2.target_pages is not None else None,
            }
            rows.pages = [{"job_id": job_id, "page_number": p} for p in pages]
        if v2.result is not None:
            rows.result = {
                "job_id": job_id,
                "type": v2.result.type,
                "confidence": v2.result.confidence,
                "reasoning": v2.result.reasoning,
            }
    else:
        assert v1 is not None
        rows.rules = _rules(job_id, v1.rules)
        cfg1 = v1.parsing_configuration
        if cfg1 is not None:
            tp = cfg1.target_pages
            rows.config = {
                "job_id": job_id,
                "lang": cfg1.lang,
                "max_pages": cfg1.max_pages,
                "target_pages": json.dumps(tp, separators=(",", ":")) if tp is not None else None,
                "target_pages_source": "v1" if tp is not None else None,
            }
            rows.pages = [{"job_id": job_id, "page_number": p} for p in v1_target_pages(tp or [])]
    return rows
