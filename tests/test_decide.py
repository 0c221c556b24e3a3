"""The change rule on its own: a table of listed items against stored states, no database, no HTTP."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from etl.change import decide
from etl.change.decide import Stored
from etl.change.normalize import parse_v1, parse_v2, payload_hash
from tests.test_normalize import v1_item, v2_item

T0 = datetime(2026, 11, 1, 10, 5, tzinfo=UTC)


def stored(**over: Any) -> Stored:
    base: dict[str, Any] = {
        "v1_updated_at": T0,
        "v1_hash": None,
        "v2_updated_at": T0,
        "v2_hash": None,
        "hydration_status": "ok",
        "status": "completed",
        "updated_at": T0,
        "credits_missing": False,
        "history_key": ("completed", None, 0.82, None),
    }
    base.update(over)
    return Stored(**base)


def listed(raw: dict[str, Any], source: str) -> decide.Listed:
    job = parse_v1(raw) if source == "v1" else parse_v2(raw)
    return decide.Listed(job.id, job, raw, payload_hash(raw), job.updated_at)


V1, V2 = v1_item(), v2_item()
CASES = [
    # (name, source, item, stored state (hash filled from the item unless given), expected)
    ("never stored", "v1", V1, None, "new"),
    ("same time and payload", "v1", V1, {}, "unchanged"),
    ("updated_at moved", "v1", v1_item(updated_at="2026-11-01T10:06:00.000Z"), {}, "changed"),
    ("same updated_at, other payload", "v1", V1, {"v1_hash": "0" * 32}, "changed"),
    ("last hydration failed", "v1", V1, {"hydration_status": "failed"}, "changed"),
    ("never hydrated", "v1", V1, {"hydration_status": "pending"}, "changed"),
    ("not in v2 is a settled answer", "v1", V1, {"hydration_status": "not_found"}, "unchanged"),
    (
        "Z and +00:00 are the same instant",
        "v1",
        v1_item(updated_at="2026-11-01T10:05:00+00:00"),
        {},
        "unchanged",
    ),
    ("an offset is converted", "v1", v1_item(updated_at="2026-11-01T11:05:00+01:00"), {}, "unchanged"),
    ("v2: never stored", "v2", V2, None, "new"),
    ("v2: same time and payload", "v2", V2, {}, "unchanged"),
    ("v2: error_message corrected, same updated_at", "v2", v2_item(error_message="fixed"), {}, "changed"),
    (
        "v2: usage recorded, same updated_at",
        "v2",
        v2_item(usage={"credits": 2, "parse_credits": 0}),
        {},
        "changed",
    ),
    ("v2: a job known only from v1", "v2", V2, {"hydration_status": "not_found"}, "changed"),
    ("v2: naive timestamp is UTC", "v2", v2_item(updated_at="2026-11-01T10:05:00"), {}, "unchanged"),
]


def test_the_same_instant_in_another_format_is_a_payload_change() -> None:
    # The stored raw payload would differ from what is served: store it once, then it is unchanged.
    item = listed(v1_item(updated_at="2026-11-01T10:05:00+00:00"), "v1")
    assert decide.change(item, stored(v1_hash=payload_hash(V1)), source="v1") == "changed"


@pytest.mark.parametrize(("name", "source", "raw", "have", "expected"), CASES, ids=[c[0] for c in CASES])
def test_change_rule(name: str, source: str, raw: dict[str, Any], have: Any, expected: str) -> None:
    item = listed(raw, source)
    state = None
    if have is not None:
        # The stored fingerprint is the reference item's, except where the case says "same text":
        # then it is this item's own (its timestamp text is what was stored).
        reference = (
            raw
            if "instant" in name or "converted" in name or "naive" in name
            else V1
            if source == "v1"
            else V2
        )
        hashes = {f"{source}_hash": payload_hash(reference)}
        state = stored(**{**hashes, **have})
    assert decide.change(item, state, source=source) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "source", "raw", "have", "expected"), CASES, ids=[c[0] for c in CASES])
def test_an_item_known_unchanged_skips_the_parse_and_gets_the_same_verdict(
    name: str, source: str, raw: dict[str, Any], have: Any, expected: str
) -> None:
    state = None
    if have is not None:
        own_text = "instant" in name or "converted" in name or "naive" in name
        reference = raw if own_text else V1 if source == "v1" else V2
        state = stored(**{f"{source}_hash": payload_hash(reference), **have})

    def known(job_id: str, fingerprint: str) -> Stored | None:
        hit = decide.known_unchanged(state, fingerprint, source=source, wants_fetch=lambda s: False)  # type: ignore[arg-type]
        return state if hit else None

    parse = parse_v1 if source == "v1" else parse_v2
    page = decide.read_page([raw], f"{source}_list", parse, known, source=source)  # type: ignore[arg-type]
    item = page.valid[raw["id"]]
    assert decide.change(item, state, source=source) == expected  # type: ignore[arg-type]
    assert (item.job is None) == (expected == "unchanged" and payload_hash(raw) == payload_hash(reference))
    assert item.updated_at is not None


def test_credits_due_or_a_retry_make_a_known_payload_parsed_again() -> None:
    same = {"v1_hash": payload_hash(V1)}
    for state, wants in ((stored(**same), True), (stored(**same, hydration_status="failed"), False)):
        assert not decide.known_unchanged(
            state, payload_hash(V1), source="v1", wants_fetch=lambda s, w=wants: w
        )
    assert decide.known_unchanged(stored(**same), payload_hash(V1), source="v1", wants_fetch=lambda s: False)
    v2_state = stored(v2_hash=payload_hash(V2), hydration_status="not_found")
    assert not decide.known_unchanged(v2_state, payload_hash(V2), source="v2", wants_fetch=lambda s: False)


def test_force_makes_every_stored_job_changed_and_new_stays_new() -> None:
    item = listed(V1, "v1")
    assert decide.change(item, stored(v1_hash=payload_hash(V1)), source="v1", force=True) == "changed"
    assert decide.change(item, None, source="v1", force=True) == "new"


def test_duplicates_in_a_page_last_valid_copy_wins_and_a_malformed_copy_is_quarantined() -> None:
    first, second = v1_item(), v1_item(updated_at="2026-11-01T10:07:00.000Z")
    broken = copy.deepcopy(first)
    broken["status"] = "EXPLODED"
    other = v1_item(id="00000000-0000-4000-8000-000000000001")
    page = decide.read_page([first, broken, other, second], "v1_list", parse_v1)
    assert list(page.valid) == [other["id"], first["id"]]  # the later copy, in its place
    assert page.valid[first["id"]].raw is second
    assert len(page.bad) == 1 and page.bad[0]["job_id"] == first["id"]
    assert page.bad[0]["item_key"].startswith(first["id"] + "#dup:")  # its own key: both copies kept
    assert page.seen.count(first["id"]) == 2 and other["id"] in page.seen


def test_an_unsorted_page_keeps_listing_order() -> None:
    ids = [f"00000000-0000-4000-8000-00000000000{i}" for i in (3, 1, 2)]
    page = decide.read_page([v1_item(id=i) for i in ids], "v1_list", parse_v1)
    assert list(page.valid) == ids and not page.bad


def test_a_malformed_item_without_an_id_is_quarantined_by_fingerprint() -> None:
    page = decide.read_page([{"nothing": True}, "a string"], "v2_list", parse_v2)
    assert not page.valid and len(page.bad) == 2
    assert all(r["item_key"].startswith("sha256:") and r["job_id"] is None for r in page.bad)
    assert page.bad[1]["raw"] == {"unparsed": "'a string'"}


@pytest.mark.parametrize(
    ("status", "missing", "age", "expected"),
    [
        ("completed", True, timedelta(hours=1), True),
        ("completed", True, timedelta(days=3), True),
        ("completed", True, timedelta(days=3, seconds=1), False),
        ("completed", False, timedelta(hours=1), False),
        ("running", True, timedelta(hours=1), False),
        ("failed", True, timedelta(hours=1), True),
    ],
)
def test_credits_are_waited_for_within_the_lag_after_a_job_finished(
    status: str, missing: bool, age: timedelta, expected: bool
) -> None:
    now = T0 + age
    got = decide.wants_credits(
        status=status, credits_missing=missing, finished_at=T0, now=now, lag=timedelta(days=3)
    )
    assert got is expected


def test_a_known_item_takes_its_created_at_from_the_hook_or_is_parsed_when_the_hook_refuses() -> None:
    state = stored(v2_hash=payload_hash(V2))

    def known(job_id: str, fingerprint: str) -> Stored | None:
        hit = decide.known_unchanged(state, fingerprint, source="v2", wants_fetch=lambda s: False)
        return state if hit else None

    def read(created_at: Any) -> decide.Listed:
        page = decide.read_page([V2], "v2_list", parse_v2, known, source="v2", created_at=created_at)
        return page.valid[V2["id"]]

    hook_says = datetime(2020, 1, 2, tzinfo=UTC)  # not V2's: shows where the value came from
    item = read(lambda raw: hook_says)
    assert item.job is None and item.created_at == hook_says
    item = read(None)  # nobody asked (not a window): no created_at read
    assert item.job is None and item.created_at is None

    def refuse(raw: Any) -> datetime:
        raise ValueError("not a timestamp")

    item = read(refuse)  # parsed in full, like any other item, and its created_at is the parsed one
    assert item.job is not None and item.created_at == parse_v2(V2).created_at == T0 - timedelta(minutes=5)
    assert decide.change(item, state, source="v2") == "unchanged"
