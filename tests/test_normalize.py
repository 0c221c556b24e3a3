"""Unit tests of the pure reconciliations: status, target pages, v1/v2 precedence, validation."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from etl.change.normalize import (
    build_rows,
    canonical_status,
    parse_target_pages,
    parse_v1,
    parse_v2,
    v1_target_pages,
)
from etl.errors import InvalidItem

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def v1_item(**over: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e",
        "project_id": "p-1",
        "rules": [
            {"description": "contains invoice number and total", "type": "invoice"},
            {"description": "a receipt from a shop or restaurant", "type": "receipt"},
        ],
        "status": "PARTIAL_SUCCESS",
        "user_id": "u-1",
        "created_at": "2026-11-01T10:00:00.000Z",
        "updated_at": "2026-11-01T10:05:00.000Z",
        "mode": "MULTIMODAL",
        "parsing_configuration": {"lang": "ch_sim", "target_pages": [0, 2, 4, 5, 6]},
    }
    item.update(over)
    return item


def v2_item(**over: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e",
        "configuration": {
            "rules": [{"description": "contains invoice number and total", "type": "invoice"}],
            "parsing_configuration": {"lang": "zh", "target_pages": "1,3,5-7"},
        },
        "document_input_type": "file_id",
        "file_input": "file-9",
        "project_id": "p-1",
        "status": "COMPLETED",
        "user_id": "u-1",
        "created_at": "2026-11-01T10:00:00.000Z",
        "updated_at": "2026-11-01T10:05:00.000Z",
        "result": {"confidence": 0.82, "reasoning": "has a total", "type": None},
        "usage": {"credits": 1.5, "parse_credits": 0.5},
        "brand_new_field": {"x": 1},
    }
    item.update(over)
    return item


@pytest.mark.parametrize(
    ("text", "pages"),
    [("1", [1]), ("1,3,5-7", [1, 3, 5, 6, 7]), (" 2 - 4 , 2 ", [2, 3, 4]), ("10-10", [10])],
)
def test_parse_target_pages(text: str, pages: list[int]) -> None:
    assert parse_target_pages(text) == pages


@pytest.mark.parametrize("text", ["", "0", "3-1", "1,,2", "a", "1-", "-3", "1-999999999", "1;2"])
def test_parse_target_pages_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="malformed target_pages"):
        parse_target_pages(text)


def test_v1_pages_become_one_based() -> None:
    assert v1_target_pages([0, 2, 4, 5, 6]) == parse_target_pages("1,3,5-7")
    with pytest.raises(ValueError):
        v1_target_pages([-1])


@pytest.mark.parametrize(
    ("v1", "v2", "expected"),
    [
        ("PENDING", None, "pending"),
        ("SUCCESS", None, "completed"),
        ("ERROR", None, "failed"),
        ("PARTIAL_SUCCESS", None, "partial"),
        ("CANCELLED", None, "cancelled"),
        ("PENDING", "RUNNING", "running"),
        ("PARTIAL_SUCCESS", "COMPLETED", "partial"),
        ("SUCCESS", "COMPLETED", "completed"),
        ("ERROR", "FAILED", "failed"),
        (None, "CANCELLED", "cancelled"),
        (None, "PENDING", "pending"),
    ],
)
def test_canonical_status(v1: str | None, v2: str | None, expected: str) -> None:
    assert canonical_status(v1, v2) == expected


def test_hydrated_job_takes_v2_values_and_keeps_v1_columns() -> None:
    raw1, raw2 = v1_item(), v2_item()
    rows = build_rows(
        v1=parse_v1(raw1),
        v1_raw=raw1,
        v2=parse_v2(raw2),
        v2_raw=raw2,
        hydration_status="ok",
        hydration_error=None,
        now=NOW,
    )
    job = rows.job
    assert job["status"] == "partial"
    assert job["mode"] == "MULTIMODAL"  # v2 has no mode for it: v1's stands
    assert job["v1_status"] == "PARTIAL_SUCCESS" and job["v2_status"] == "COMPLETED"
    assert job["v2_usage_credits"] == Decimal("1.5") and job["v2_usage_parse_credits"] == Decimal("0.5")
    assert job["v2_raw"]["brand_new_field"] == {"x": 1}  # unknown fields are kept
    assert job["created_at"] == datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    assert [r["type"] for r in rows.rules] == ["invoice"]
    assert rows.config == {
        "job_id": job["id"],
        "lang": "zh",
        "max_pages": None,
        "target_pages": "1,3,5-7",
        "target_pages_source": "v2",
    }
    assert [p["page_number"] for p in rows.pages] == [1, 3, 5, 6, 7]
    assert rows.result == {"job_id": job["id"], "type": None, "confidence": 0.82, "reasoning": "has a total"}


def test_unhydrated_job_uses_v1_with_the_same_pages() -> None:
    raw1 = v1_item(status="PENDING")
    rows = build_rows(
        v1=parse_v1(raw1),
        v1_raw=raw1,
        v2=None,
        v2_raw=None,
        hydration_status="not_found",
        hydration_error=None,
        now=NOW,
    )
    assert rows.job["status"] == "pending"
    assert rows.job["v2_status"] is None and rows.job["hydrated_at"] is None
    assert [r["position"] for r in rows.rules] == [0, 1]
    assert rows.config is not None
    assert rows.config["target_pages"] == "[0,2,4,5,6]" and rows.config["target_pages_source"] == "v1"
    assert [p["page_number"] for p in rows.pages] == [1, 3, 5, 6, 7]
    assert rows.result is None


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.pop("id"), "id"),
        (lambda d: d.update(status="DONE"), "status"),
        (lambda d: d.update(updated_at="yesterday"), "updated_at"),
        (lambda d: d.update(mode="SLOW"), "mode"),
        (lambda d: d["parsing_configuration"].update(target_pages=[-3]), "target_pages"),
    ],
)
def test_invalid_v1_items_name_job_and_value(mutate: Any, needle: str) -> None:
    raw = copy.deepcopy(v1_item())
    mutate(raw)
    with pytest.raises(InvalidItem) as info:
        parse_v1(raw)
    assert needle in info.value.reason
    assert ("<no id>" in info.value.reason) if needle == "id" else (raw["id"] in info.value.reason)


def test_invalid_v2_target_pages_names_job_and_value() -> None:
    raw = v2_item()
    raw["configuration"]["parsing_configuration"]["target_pages"] = "3-1,x"
    with pytest.raises(InvalidItem) as info:
        parse_v2(raw)
    assert "3-1,x" in info.value.reason and raw["id"] in info.value.reason


def test_naive_timestamp_is_utc() -> None:
    job = parse_v1(v1_item(updated_at="2026-11-01T10:05:00"))
    assert job.updated_at == datetime(2026, 11, 1, 10, 5, tzinfo=UTC)


def test_text_is_made_storable_before_validation_and_the_id_must_be_storable() -> None:
    dirty = v1_item(user_id="u\x00-1", rules=[{"description": "lone \ud800 half", "type": "inv\x00"}])
    job = parse_v1(dirty)
    assert (job.user_id, job.rules[0].description, job.rules[0].type) == (
        "u\ufffd-1",
        "lone \ufffd half",
        "inv\ufffd",
    )
    assert dirty["user_id"] == "u\x00-1", "the payload itself is not changed (its raw form is stored)"
    with pytest.raises(InvalidItem, match="storable as sent"):
        parse_v1(v1_item(id="job\x00"))


def test_survey_and_hash_are_done_once_a_payload_and_not_kept_after_their_last_use() -> None:
    from etl.change import normalize

    raw = v1_item()
    parse_v1(raw)
    first = normalize.payload_hash(raw)
    assert normalize._SURVEYS.get(raw) is not None and normalize._HASHES.get(raw) == first
    rows = build_rows(
        v1=parse_v1(raw), v1_raw=raw, v2=None, v2_raw=None, hydration_status="not_found",
        hydration_error=None, now=NOW,
    )  # fmt: skip
    assert rows.job["v1_hash"] == first == normalize.payload_hash(copy.deepcopy(raw))
    assert normalize._SURVEYS.get(raw) is None and normalize._HASHES.get(raw) is None
