"""The API simulator over real HTTP on loopback: shapes, pagination, filters, changes, ground truth.

Fault injection and the ``/_sim/`` control routes are in ``test_simulator_faults.py``.
"""

from __future__ import annotations

import base64
import json
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import httpx
import pytest

from etl.simulator import SimServer, SimState
from etl.simulator.data import V1_LANGS
from etl.simulator.endpoints import list_v1, list_v2
from etl.simulator.render import render_v1, render_v2

KEY = "sim-key"
V1 = "/api/v1/classifier/jobs"
V2 = "/api/v2/classify"
V1_TO_CANONICAL = {
    "PENDING": "pending",
    "SUCCESS": "completed",
    "ERROR": "failed",
    "PARTIAL_SUCCESS": "partial",
    "CANCELLED": "cancelled",
}
# (v1 status, v2 status) of the same job: running shows as PENDING in v1, partial as COMPLETED in v2.
STATUS_PAIRS = {
    ("PENDING", "PENDING"),
    ("PENDING", "RUNNING"),
    ("SUCCESS", "COMPLETED"),
    ("PARTIAL_SUCCESS", "COMPLETED"),
    ("ERROR", "FAILED"),
    ("CANCELLED", "CANCELLED"),
}
V2_TO_CANONICAL = {
    "PENDING": "pending",
    "RUNNING": "running",
    "COMPLETED": "completed",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
}


@pytest.fixture
def state() -> SimState:
    return SimState.generate(n_jobs=400, seed=11, api_key=KEY)


def walk(client: httpx.Client, path: str, **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """All items of a list walk, and the raw pages (stops on a null/"" token or empty items)."""
    items: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    token = None
    while True:
        query = {**params, **({"page_token": token} if token else {})}
        resp = client.get(path, params=query)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        pages.append(page)
        items.extend(page["items"])
        token = page.get("next_page_token")
        if not token or not page["items"]:
            return items, pages


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


# -- auth, validation, routing -------------------------------------------------------------------


def test_every_route_requires_the_bearer_key(sim: SimServer, state: SimState) -> None:
    job_id = state.live_job_ids()[0]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        for path in (V1, V2, f"{V2}/{job_id}"):
            resp = httpx.get(sim.url + path, headers=headers)
            assert resp.status_code == 401
            assert resp.json() == {"detail": "Invalid authentication token"}


@pytest.mark.parametrize("path", [V1, V2])
@pytest.mark.parametrize(
    ("value", "kind"), [("0", "greater_than_equal"), ("101", "less_than_equal"), ("ten", "int_parsing")]
)
def test_page_size_out_of_range_is_422(client: httpx.Client, path: str, value: str, kind: str) -> None:
    resp = client.get(path, params={"page_size": value})
    assert resp.status_code == 422
    [error] = resp.json()["detail"]
    assert error["loc"] == ["query", "page_size"]
    assert error["type"] == kind
    assert error["msg"]


def test_default_page_size_is_50_and_100_is_allowed(client: httpx.Client) -> None:
    assert len(client.get(V1).json()["items"]) == 50
    assert len(client.get(V2, params={"page_size": 100}).json()["items"]) == 100


def test_unknown_route_is_a_json_404(client: httpx.Client) -> None:
    resp = client.get("/api/v1/nothing")
    assert resp.status_code == 404
    assert resp.json() == {"detail": "Not Found"}


# -- pagination ------------------------------------------------------------------------------------


def scopes(state: SimState) -> list[dict[str, str]]:
    projects = state.data.projects
    out: list[dict[str, str]] = [{}]
    out += [{"project_id": p.id} for p in projects]
    out += [{"organization_id": o} for o in state.data.organization_ids]
    out.append({"project_id": projects[1].id, "organization_id": projects[1].organization_id})
    out.append({"project_id": projects[1].id, "organization_id": projects[0].organization_id})  # disjoint
    return out


def in_scope(state: SimState, job_id: str, scope: dict[str, str]) -> bool:
    job = state.job(job_id)
    return scope.get("project_id", job.project_id) == job.project_id and (
        scope.get("organization_id", job.organization_id) == job.organization_id
    )


@pytest.mark.parametrize("page_size", [4, 13, 100])
def test_walks_return_every_live_job_exactly_once_per_scope(
    client: httpx.Client, state: SimState, page_size: int
) -> None:
    state.delete_jobs(9)
    live = state.live_job_ids()
    v2_known = set(live) - set(state.v1_only_job_ids())
    for scope in scopes(state):
        expected = [j for j in live if in_scope(state, j, scope)]
        items, _ = walk(client, V1, page_size=page_size, **scope)
        assert ids(items) == expected, scope  # listing order is stable: the internal index
        items, _ = walk(client, V2, page_size=page_size, **scope)
        assert ids(items) == [j for j in expected if j in v2_known], scope
    assert len(live) == 391


def test_walk_ends_with_null_empty_or_missing_token_and_sometimes_an_empty_page(
    client: httpx.Client, state: SimState
) -> None:
    endings: set[str] = set()
    for size in range(20, 60):
        items, pages = walk(client, V1, page_size=size)
        assert len(items) == 400
        last = pages[-1]
        endings.add("missing" if "next_page_token" not in last else repr(last["next_page_token"]))
        assert last["items"]  # unfiltered, a walk ends on its last job: 400 / 20 is 20 pages
    assert endings == {"missing", "None", "''"}
    # Filtered, the scan stops at a full page without looking further: when the jobs after it
    # all belong to other projects, the walk ends with an empty page.
    empty_last_pages = 0
    for size in range(5, 12):
        for project in state.data.projects:
            items, pages = walk(client, V1, page_size=size, project_id=project.id)
            empty_last_pages += pages[-1]["items"] == []
            assert len(items) == len(set(ids(items)))
    assert empty_last_pages


def test_total_size_is_sometimes_present_as_an_estimate(client: httpx.Client) -> None:
    first_pages = [client.get(V1, params={"page_size": 5}).json() for _ in range(12)]
    sizes = {page.get("total_size") for page in first_pages}
    assert None in sizes and 400 in sizes


def test_page_tokens_are_opaque_and_bound_to_filters(client: httpx.Client, state: SimState) -> None:
    project = state.data.projects[0].id
    page = client.get(V1, params={"page_size": 3, "project_id": project}).json()
    token = page["next_page_token"]
    assert all(job_id not in token for job_id in ids(page["items"]))
    # Same filters, another page size: fine.
    assert (
        client.get(V1, params={"page_size": 10, "project_id": project, "page_token": token}).status_code
        == 200
    )
    # Other filters, another endpoint, garbage, tampering: 400.
    other = {"page_size": 3, "project_id": state.data.projects[1].id, "page_token": token}
    assert client.get(V1, params=other).status_code == 400
    assert client.get(V1, params={"page_size": 3, "page_token": token}).status_code == 400
    assert (
        client.get(V2, params={"page_size": 3, "project_id": project, "page_token": token}).status_code == 400
    )
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[5] ^= 1
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    for bad in ("garbage!", "", forged):
        resp = client.get(V1, params={"page_size": 3, "project_id": project, "page_token": bad})
        assert resp.status_code == (200 if bad == "" else 400)
        if bad:
            assert resp.json() == {"detail": "Invalid page token"}


def test_v2_token_is_bound_to_v2_filters(client: httpx.Client) -> None:
    token = client.get(V2, params={"page_size": 2, "status": "COMPLETED"}).json()["next_page_token"]
    assert (
        client.get(V2, params={"page_size": 2, "status": "COMPLETED", "page_token": token}).status_code == 200
    )
    assert client.get(V2, params={"page_size": 2, "status": "FAILED", "page_token": token}).status_code == 400


# -- v2 get ---------------------------------------------------------------------------------------


def test_v2_get_serves_v2_known_jobs_and_404s_the_rest(client: httpx.Client, state: SimState) -> None:
    v1_only = state.v1_only_job_ids()
    assert v1_only and len(v1_only) < 0.1 * 400
    for job_id in v1_only:
        resp = client.get(f"{V2}/{job_id}")
        assert resp.status_code == 404
        assert resp.json() == {"detail": "Classify job not found"}
    known = next(j for j in state.live_job_ids() if j not in v1_only)
    assert client.get(f"{V2}/{known}").json()["id"] == known
    for unknown in ("nope", known.upper(), "00000000-0000-4000-8000-000000000000"):
        assert client.get(f"{V2}/{unknown}").status_code == 404
    state.delete_job(known)
    assert client.get(f"{V2}/{known}").status_code == 404
    state.restore_job(known)
    assert client.get(f"{V2}/{known}").status_code == 200


def test_v2_get_honours_the_scope(client: httpx.Client, state: SimState) -> None:
    job = state.job(state.live_job_ids()[0])
    other_project = next(p for p in state.data.projects if p.id != job.project_id)
    other_org = next(o for o in state.data.organization_ids if o != job.organization_id)
    url = f"{V2}/{job.id}"
    assert client.get(url, params={"project_id": job.project_id}).status_code == 200
    assert client.get(url, params={"organization_id": job.organization_id}).status_code == 200
    assert client.get(url, params={"project_id": other_project.id}).status_code == 404
    assert client.get(url, params={"organization_id": other_org}).status_code == 404


# -- v2 list filters ----------------------------------------------------------------------------------


def test_v2_list_filters_by_status(client: httpx.Client, state: SimState) -> None:
    all_v2, _ = walk(client, V2, page_size=100)
    seen = set()
    for status in V2_TO_CANONICAL:
        items, _ = walk(client, V2, page_size=40, status=status)
        assert ids(items) == [i["id"] for i in all_v2 if i["status"] == status]
        seen.add(status) if items else None
    assert seen == set(V2_TO_CANONICAL)
    resp = client.get(V2, params={"status": "SUCCESS"})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["query", "status"]


def test_v2_list_filters_by_job_ids(client: httpx.Client, state: SimState) -> None:
    live = state.live_job_ids()
    v1_only = state.v1_only_job_ids()
    wanted = [live[300], live[10], live[150], v1_only[0], "not-a-job", live[10]]
    resp = client.get(V2, params=[("job_ids", j) for j in wanted])
    assert ids(resp.json()["items"]) == [live[10], live[150], live[300]]  # listing order, v2-known only
    items, _ = walk(client, V2, page_size=1, job_ids=wanted[:3])
    assert ids(items) == [live[10], live[150], live[300]]


def test_v2_list_filters_by_created_at_range_inclusive(client: httpx.Client, state: SimState) -> None:
    all_v2, _ = walk(client, V2, page_size=100)
    low, high = all_v2[40]["created_at"], all_v2[90]["created_at"]
    items, _ = walk(client, V2, page_size=13, created_at_on_or_after=low, created_at_on_or_before=high)
    assert ids(items) == ids(all_v2[40:91])
    just_after = (datetime.fromisoformat(low) + timedelta(microseconds=1)).isoformat()
    items, _ = walk(client, V2, page_size=100, created_at_on_or_after=just_after)
    assert ids(items) == ids(all_v2[41:])
    resp = client.get(V2, params={"created_at_on_or_after": "yesterday"})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["query", "created_at_on_or_after"]


def test_v2_list_filters_by_configuration_id(client: httpx.Client, state: SimState) -> None:
    all_v2, _ = walk(client, V2, page_size=100)
    config_id = next(i["configuration_id"] for i in all_v2 if i.get("configuration_id"))
    items, _ = walk(client, V2, page_size=10, configuration_id=config_id)
    assert items and ids(items) == [i["id"] for i in all_v2 if i.get("configuration_id") == config_id]
    assert client.get(V2, params={"configuration_id": "cfg-none"}).json()["items"] == []


# -- data -----------------------------------------------------------------------------------------------


def test_data_set_has_the_documented_variety(client: httpx.Client, state: SimState) -> None:
    v1_items, _ = walk(client, V1, page_size=100)
    v2_items, _ = walk(client, V2, page_size=100)
    v2_by_id = {i["id"]: i for i in v2_items}
    assert {i["status"] for i in v1_items} == set(V1_TO_CANONICAL)
    assert {i["status"] for i in v2_items} == set(V2_TO_CANONICAL)
    assert {i["mode"] for i in v1_items} == {"FAST", "MULTIMODAL"}
    assert {i["document_input_type"] for i in v2_items} == {"url", "file_id", "parse_job_id"}
    assert not any("usage" in i for i in v2_items)  # usage is opt-in, and the list has no expand
    assert any("error_message" not in i for i in v1_items) and any(
        i.get("error_message") is None for i in v1_items
    )
    assert len({i["project_id"] for i in v1_items}) == 3
    for item in v1_items:
        assert 1 <= len(item["rules"]) <= 4
        for rule in item["rules"]:
            assert 1 <= len(rule["type"]) <= 50 and 10 <= len(rule["description"]) <= 500
        assert item["created_at"].endswith("Z") and len(item["created_at"]) == 24
        cfg = item.get("parsing_configuration")
        if cfg:
            assert not (cfg.get("max_pages") is not None and cfg.get("target_pages") is not None)
        v2 = v2_by_id.get(item["id"])
        if v2 is None:
            continue
        assert (v2["created_at"], v2["updated_at"]) == (item["created_at"], item["updated_at"])
        assert v2["configuration"].get("mode") == ("FAST" if item["mode"] == "FAST" else None)
        assert (item["status"], v2["status"]) in STATUS_PAIRS
        has_result = v2.get("result") is not None
        assert has_result == (v2["status"] == "COMPLETED")
        if v2["document_input_type"] == "parse_job_id":
            assert v2["parse_job_id"] == v2["file_input"]
    pairs = {(i["status"], v2_by_id[i["id"]]["status"]) for i in v1_items if i["id"] in v2_by_id}
    assert pairs == STATUS_PAIRS
    results = [i["result"] for i in v2_items if i.get("result")]
    assert any(r["type"] is None for r in results) and any(r["type"] for r in results)
    assert all(0 <= r["confidence"] <= 1 for r in results)


def test_languages_and_target_pages_render_per_version() -> None:
    langs: dict[str, str] = {}
    both = 0
    big = SimState.generate(3000, seed=5)
    for index in range(3000):
        job = big.job_at(index)
        c1 = render_v1(job).get("parsing_configuration") or {}
        c2 = render_v2(job)["configuration"].get("parsing_configuration") or {}
        if c1.get("lang"):
            langs[c1["lang"]] = c2["lang"]
        if c1.get("target_pages") is not None:
            both += 1
            assert parse_ranges(c2["target_pages"]) == [p + 1 for p in c1["target_pages"]]
    assert langs["rs_latin"] == langs["rs_cyrillic"] == "sr"
    assert langs["ch_sim"] == langs["ch_tra"] == "zh"
    assert langs["en"] == "en" and langs["abq"] == "abq"
    assert len(langs) > 60 and both > 500


def test_changes_bump_updated_at_and_keep_the_position(client: httpx.Client, state: SimState) -> None:
    before, _ = walk(client, V1, page_size=100)
    known = set(state.live_job_ids()) - set(state.v1_only_job_ids())
    changed = state.change_jobs(20)
    one = next(j for j in state.live_job_ids() if j in known and j not in changed)
    changed.append(state.change_job(one))
    after, _ = walk(client, V1, page_size=100)
    assert ids(after) == ids(before)
    old, new = {i["id"]: i for i in before}, {i["id"]: i for i in after}
    latest_before = max(i["updated_at"] for i in before)
    for job_id in new:
        if job_id in changed:
            assert new[job_id]["updated_at"] > latest_before
            assert new[job_id] != old[job_id]
            if job_id in known:
                v2 = client.get(f"{V2}/{job_id}").json()
                assert v2["updated_at"] == new[job_id]["updated_at"]
        else:
            assert new[job_id] == old[job_id]
    # Changed twice: later again.
    stamp = new[one]["updated_at"]
    state.change_job(one)
    assert client.get(f"{V2}/{one}").json()["updated_at"] > stamp


def test_added_jobs_are_appended_and_deleted_jobs_vanish(client: httpx.Client, state: SimState) -> None:
    added = state.add_jobs(5)
    deleted = state.delete_jobs(5)
    items, _ = walk(client, V1, page_size=100)
    assert ids(items)[-5:] == added
    assert not set(deleted) & set(ids(items))
    assert state.deleted_job_ids() == sorted(deleted, key=state.index_of)  # type: ignore[arg-type]
    created = [i["created_at"] for i in items]
    assert created == sorted(created)
    fresh = items[-1]
    assert fresh["updated_at"] == fresh["created_at"]
    state.change_job(fresh["id"])
    assert client.get(V1, params={"page_size": 100}).status_code == 200
    changed = next(i for i in walk(client, V1, page_size=100)[0] if i["id"] == fresh["id"])
    assert changed["updated_at"] > fresh["updated_at"]


def test_same_seed_same_data_and_same_mutations() -> None:
    a, b, c = (SimState.generate(200, seed=s) for s in (3, 3, 4))
    assert a.live_job_ids() == b.live_job_ids() != c.live_job_ids()
    assert a.expected_rows() == b.expected_rows()
    assert a.change_jobs(5) == b.change_jobs(5)
    assert a.add_jobs(2) == b.add_jobs(2)
    assert a.delete_jobs(3) == b.delete_jobs(3)
    assert a.expected_rows() == b.expected_rows()
    with SimServer(a) as sa, SimServer(b) as sb:
        pages = [httpx.get(s.url + V1, headers={"Authorization": "Bearer sim-key"}).content for s in (sa, sb)]
    assert pages[0] == pages[1]


def test_a_million_jobs_are_cheap_to_hold_and_to_page() -> None:
    tracemalloc.start()
    started = time.process_time()
    big = SimState.generate(1_000_000, seed=1)
    assert time.process_time() - started < 2  # ~0.1 s of CPU
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert held / 1_000_000 < 40  # bytes per job, the generated pools included

    started = time.process_time()
    for fn in (list_v1, list_v2):
        for _ in range(5):
            body = json.loads(fn(big, {"page_size": ["100"]}).body)
            token = body["next_page_token"]
            body = json.loads(fn(big, {"page_size": ["100"], "page_token": [token]}).body)
            big.cache.clear()
    per_page = (time.process_time() - started) / 20
    # CPU time, not wall time: ~4 ms on a quiet machine; the bound leaves room for a loaded one.
    assert per_page < 0.025
    assert big.index_of(big.data.codec.encode(999_999)) == 999_999
    assert big.index_of(big.data.codec.encode(1_000_000)) is None


# -- ground truth ----------------------------------------------------------------------------------------


def parse_ranges(text: str) -> list[int]:
    pages: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        pages.update(range(int(first), int(last or first) + 1))
    return sorted(pages)


def ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


V1_FIELDS = (
    "status",
    "mode",
    "user_id",
    "project_id",
    "created_at",
    "updated_at",
    "effective_at",
    "error_message",
    "job_record_id",
)
V2_FIELDS = (
    "status",
    "document_input_type",
    "file_input",
    "parse_job_id",
    "configuration_id",
    "transaction_id",
    "error_message",
    "created_at",
    "updated_at",
)


def columns(prefix: str, payload: dict[str, Any] | None, fields: tuple[str, ...]) -> dict[str, Any]:
    payload = payload or {}
    return {f"{prefix}_{f}": ts(payload.get(f)) if f.endswith("_at") else payload.get(f) for f in fields}


def rows_from_payloads(
    v1: dict[str, Any] | None, v2: dict[str, Any] | None, with_usage: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """A small independent loader: what the tables should hold for one job, from the JSON."""
    src = v2 if v2 is not None else v1
    assert src is not None
    job_id = src["id"]
    conf = v2["configuration"] if v2 is not None else None
    if v2 is not None:
        status = V2_TO_CANONICAL[v2["status"]]
        if v2["status"] == "COMPLETED" and v1 is not None and v1["status"] == "PARTIAL_SUCCESS":
            status = "partial"
    else:
        assert v1 is not None
        status = V1_TO_CANONICAL[v1["status"]]
    v1_cols = columns("v1", v1, V1_FIELDS)
    v2_cols = columns("v2", v2, V2_FIELDS)
    v2_cols["v2_mode"] = conf.get("mode") if conf is not None else None
    job = {
        "id": job_id,
        "project_id": src["project_id"],
        "user_id": src["user_id"],
        "status": status,
        "mode": v2_cols["v2_mode"] or v1_cols["v1_mode"],
        "error_message": src.get("error_message"),
        "created_at": ts(src["created_at"]),
        "updated_at": ts(src["updated_at"]),
        **v1_cols,
        **v2_cols,
        "hydration_status": "ok" if v2 is not None else "not_found",
    }
    if with_usage:
        usage = (v2 or {}).get("usage") or {}
        job["v2_usage_credits"] = usage.get("credits")
        job["v2_usage_parse_credits"] = usage.get("parse_credits")
    rules = conf["rules"] if conf is not None else src["rules"]
    out: dict[str, list[dict[str, Any]]] = {
        "classify_jobs": [job],
        "classify_rules": [
            {"job_id": job_id, "position": i, "type": r["type"], "description": r["description"]}
            for i, r in enumerate(rules)
        ],
        "classify_parsing_configs": [],
        "classify_target_pages": [],
        "classify_results": [],
    }
    cfg = conf.get("parsing_configuration") if conf is not None else src.get("parsing_configuration")
    if cfg is not None:
        raw = cfg.get("target_pages")
        if raw is None:
            pages, text, source = [], None, None
        elif isinstance(raw, str):
            pages, text, source = parse_ranges(raw), raw, "v2"
        else:
            pages, text, source = sorted({p + 1 for p in raw}), json.dumps(raw, separators=(",", ":")), "v1"
        out["classify_parsing_configs"].append(
            {
                "job_id": job_id,
                "lang": cfg.get("lang"),
                "max_pages": cfg.get("max_pages"),
                "target_pages": text,
                "target_pages_source": source,
            }
        )
        out["classify_target_pages"] = [{"job_id": job_id, "page_number": p} for p in pages]
    result = v2.get("result") if v2 is not None else None
    if result is not None:
        out["classify_results"].append({"job_id": job_id, **result})
    return out


def merge(parts: list[dict[str, list[dict[str, Any]]]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for table, rows in part.items():
            out.setdefault(table, []).extend(rows)
    return out


def test_expected_rows_match_what_the_endpoints_serve(client: httpx.Client, state: SimState) -> None:
    state.change_jobs(30)
    state.add_jobs(10)
    state.delete_jobs(10)
    v1_items, _ = walk(client, V1, page_size=100)
    parts = []
    for item in v1_items:
        resp = client.get(f"{V2}/{item['id']}", params={"expand": "usage"})
        assert resp.status_code in (200, 404)
        parts.append(rows_from_payloads(item, resp.json() if resp.status_code == 200 else None))
    derived = merge(parts)
    expected = state.expected_rows("v1")
    assert set(expected) == set(derived)
    for table in expected:
        assert expected[table] == derived[table], table
    jobs = expected["classify_jobs"]
    assert {j["hydration_status"] for j in jobs} == {"ok", "not_found"}
    assert "partial" in {j["status"] for j in jobs}
    unhydrated = {j["status"] for j in jobs if j["hydration_status"] == "not_found"}
    assert "running" not in unhydrated
    assert {r["target_pages_source"] for r in expected["classify_parsing_configs"]} == {"v1", "v2", None}


def test_expected_rows_for_a_v2_only_loader(client: httpx.Client, state: SimState) -> None:
    v2_items, _ = walk(client, V2, page_size=100)
    derived = merge([rows_from_payloads(None, item, with_usage=False) for item in v2_items])
    expected = state.expected_rows("v2", credits=False)
    for table in expected:
        assert expected[table] == derived[table], table
    state.usage_on_list = True
    v2_items, _ = walk(client, V2, page_size=100)
    assert all("usage" in item for item in v2_items)
    assert merge([rows_from_payloads(None, item) for item in v2_items]) == state.expected_rows("v2")
    statuses = {j["status"] for j in expected["classify_jobs"]}
    assert "partial" not in statuses and "running" in statuses
    assert all(j["v1_status"] is None for j in expected["classify_jobs"])


def test_expected_rows_columns_match_the_schema(state: SimState) -> None:
    schema = pytest.importorskip("etl.warehouse.schema")
    rows = state.expected_rows()
    for table, table_rows in rows.items():
        columns = set({**schema.metadata.tables, **schema.views.tables}[table].columns.keys())
        assert set(table_rows[0]) <= columns, table
    first = rows["classify_jobs"][0]
    assert first["created_at"].tzinfo is not None


# -- the official client's models ---------------------------------------------------------------------------


def test_v1_payloads_validate_against_llama_cloud_2_15_models(client: httpx.Client, state: SimState) -> None:
    # v2 payloads are validated against 2.19.0, which documents usage, in test_simulator_models.py.
    pytest.importorskip("llama_cloud")
    from llama_cloud.types.classifier.classify_job import ClassifyJob
    from llama_cloud.types.parsing_languages import ParsingLanguages

    v1_items, _ = walk(client, V1, page_size=100)
    v2_items, _ = walk(client, V2, page_size=100)
    assert len(v1_items) == 400 and len(v2_items) > 350
    for item in v1_items:
        ClassifyJob.model_validate(item)
    for item in v2_items[:60]:
        assert client.get(f"{V2}/{item['id']}").json() == item  # the get without expand: the list item
    with pytest.raises(ValueError):
        ClassifyJob.model_validate({**v1_items[0], "status": "ARCHIVED"})
    assert set(V1_LANGS) == set(get_args(ParsingLanguages))


def test_the_official_client_walks_the_simulator(sim: SimServer, state: SimState) -> None:
    llama_cloud = pytest.importorskip("llama_cloud")
    sdk = llama_cloud.LlamaCloud(api_key=KEY, base_url=sim.url, max_retries=0)
    listed = [job.id for job in sdk.classify.list(page_size=33)]
    v2_known = [j for j in state.live_job_ids() if j not in state.v1_only_job_ids()]
    assert listed == v2_known
    assert sdk.classify.get(listed[5]).id == listed[5]
    with pytest.warns(DeprecationWarning):
        v1 = [job.id for job in sdk.classifier.jobs.list(page_size=64)]
    assert v1 == state.live_job_ids()
