"""Pydantic models of both endpoints' payloads.

Tolerant of new fields (``extra="allow"``; the raw JSON is stored anyway) and strict about
the ones we rely on: an unknown status or mode, a bad timestamp or a missing id is a
validation error that sends the record to quarantine rather than into the tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _as_utc(value: datetime) -> datetime:
    # The API sends "...Z"; a naive timestamp is taken to be UTC rather than local time.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]

V1Status = Literal["PENDING", "SUCCESS", "ERROR", "PARTIAL_SUCCESS", "CANCELLED"]
V2Status = Literal["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"]


class _ApiModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Rule(_ApiModel):
    type: str
    description: str


class V1ParsingConfiguration(_ApiModel):
    lang: str | None = None
    max_pages: int | None = None
    target_pages: list[int] | None = None


class V1Job(_ApiModel):
    """An item of ``GET /api/v1/classifier/jobs``."""

    id: str = Field(min_length=1)
    project_id: str
    rules: list[Rule]
    status: V1Status
    user_id: str
    created_at: UtcDatetime | None = None
    effective_at: UtcDatetime | None = None
    error_message: str | None = None
    job_record_id: str | None = None
    mode: Literal["FAST", "MULTIMODAL"] | None = None
    parsing_configuration: V1ParsingConfiguration | None = None
    updated_at: UtcDatetime | None = None


class V2ParsingConfiguration(_ApiModel):
    lang: str | None = None
    max_pages: int | None = None
    target_pages: str | None = None


class V2Configuration(_ApiModel):
    rules: list[Rule]
    mode: Literal["FAST"] | None = None
    parsing_configuration: V2ParsingConfiguration | None = None


class V2Result(_ApiModel):
    confidence: float = Field(ge=0.0, le=1.0)
    reasoning: str
    type: str | None = None


class V2Usage(_ApiModel):
    credits: float | None = None
    parse_credits: float | None = None


class V2Job(_ApiModel):
    """``GET /api/v2/classify/{id}`` and an item of ``GET /api/v2/classify``."""

    id: str = Field(min_length=1)
    configuration: V2Configuration
    document_input_type: Literal["url", "file_id", "parse_job_id"]
    file_input: str
    project_id: str
    status: V2Status
    user_id: str
    configuration_id: str | None = None
    created_at: UtcDatetime | None = None
    error_message: str | None = None
    parse_job_id: str | None = None
    result: V2Result | None = None
    transaction_id: str | None = None
    updated_at: UtcDatetime | None = None
    usage: V2Usage | None = None


class Page(BaseModel):
    """One page of a list endpoint; items stay raw so a bad one can be quarantined as sent."""

    items: list[Any]
    next_page_token: str | None = None
    total_size: int | None = None
