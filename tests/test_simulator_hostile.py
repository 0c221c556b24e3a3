"""The simulator's hostile switches: bad page tokens, wrong body ids, odd ids routed by the raw
request target, hostile values, endless bodies; and that clearing them gives a sane API back."""

from __future__ import annotations

import json
import math
import socket
from typing import Any, get_args

import httpx
import pytest

from etl.simulator import SimServer, SimState
from etl.simulator.hostile import (
    DEEP_LEVELS,
    HOSTILE_KINDS,
    HUGE_STRING_LEN,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    ODD_IDS,
    UNKNOWN_ID,
    HostileKind,
    ListKey,
    TokenKind,
)
from tests.test_simulator import ids, walk
from tests.test_simulator_faults import known_job

KEY = "sim-key"
V1 = "/api/v1/classifier/jobs"
V2 = "/api/v2/classify"
PATHS: dict[ListKey, str] = {"v1_list": V1, "v2_list": V2}


@pytest.fixture
def state() -> SimState:
    return SimState.generate(n_jobs=60, seed=21, api_key=KEY)


def page(client: httpx.Client, path: str, token: Any = None, size: int = 5) -> dict[str, Any]:
    params = {"page_size": size, **({"page_token": token} if token is not None else {})}
    resp = client.get(path, params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def tokens_to(client: httpx.Client, path: str, n: int) -> tuple[list[Any], list[dict[str, Any]]]:
    """The tokens that fetched pages 1..n (None for page 1) and those pages."""
    tokens: list[Any] = [None]
    pages = [page(client, path)]
    while len(pages) < n:
        tokens.append(pages[-1]["next_page_token"])
        pages.append(page(client, path, tokens[-1]))
    return tokens, pages


def encoded(job_id: str) -> str:
    """Every byte percent-encoded: dots included, which a URL library would leave alone."""
    return "".join(f"%{b:02X}" for b in job_id.encode())


# -- page tokens ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["v1_list", "v2_list"])
@pytest.mark.parametrize("kind", ["number", "object", "empty"])
def test_bad_token_types(client: httpx.Client, state: SimState, endpoint: ListKey, kind: TokenKind) -> None:
    path = PATHS[endpoint]
    state.bad_page_token(after_page=3, kind=kind, endpoint=endpoint)
    _, pages = tokens_to(client, path, 3)
    assert all(isinstance(p["next_page_token"], str) and p["next_page_token"] for p in pages[:2])
    bad = pages[2]["next_page_token"]
    assert {"number": int, "object": dict, "empty": str}[kind] is type(bad)
    if kind == "empty":
        assert bad == "" and len(pages[2]["items"]) == 5  # and more are coming: 60 jobs
    other = V2 if path == V1 else V1
    assert len(walk(client, other, page_size=5)[0]) > 15  # the other list is untouched
    if kind != "empty":
        resp = client.get(path, params={"page_size": 5, "page_token": json.dumps(bad)})
        assert resp.status_code == 400
    state.clear_hostile()
    assert len(walk(client, path, page_size=5)[0]) >= 50


@pytest.mark.parametrize("path", [V1, V2])
@pytest.mark.parametrize("after_page", [1, 3])
def test_a_token_that_repeats_itself(
    client: httpx.Client, state: SimState, path: str, after_page: int
) -> None:
    state.bad_page_token(after_page=after_page, kind="repeat_self")
    tokens, pages = tokens_to(client, path, after_page)
    looping = pages[-1]["next_page_token"]
    if after_page > 1:
        assert looping == tokens[-1]  # the page's own token, byte for byte
    again = page(client, path, looping)
    assert ids(again["items"]) == ids(pages[-1]["items"])
    assert again["next_page_token"] == looping
    assert page(client, path, looping)["next_page_token"] == looping


@pytest.mark.parametrize("path", [V1, V2])
@pytest.mark.parametrize("after_page", [1, 2])
def test_a_two_page_token_cycle(client: httpx.Client, state: SimState, path: str, after_page: int) -> None:
    state.bad_page_token(after_page=after_page, kind="cycle2")
    tokens, pages = tokens_to(client, path, after_page)
    b = pages[-1]["next_page_token"]
    page_b = page(client, path, b)
    a = page_b["next_page_token"]
    if after_page > 1:
        assert a == tokens[-1]
    page_a = page(client, path, a)
    assert ids(page_a["items"]) == ids(pages[-1]["items"])
    assert page_a["next_page_token"] == b  # A -> B -> A -> B ...
    assert page(client, path, b)["next_page_token"] == a
    assert set(ids(page_a["items"])).isdisjoint(ids(page_b["items"]))


# -- identity -----------------------------------------------------------------------------------------------


def test_wrong_body_ids(client: httpx.Client, state: SimState) -> None:
    job_id = known_job(state)
    good = client.get(f"{V2}/{job_id}").json()
    listed = set(ids(walk(client, V2, page_size=100)[0]))
    for kind in ("other", "unknown", "case"):
        state.wrong_body_id(job_id, kind)  # type: ignore[arg-type]
        body = client.get(f"{V2}/{job_id}").json()
        assert body["id"] != job_id and {k: v for k, v in body.items() if k != "id"} == {
            k: v for k, v in good.items() if k != "id"
        }
        if kind == "other":
            assert body["id"] in listed
        elif kind == "unknown":
            assert body["id"] == UNKNOWN_ID and body["id"] not in listed
        else:
            assert body["id"].lower() == job_id
    assert client.get(V2, params=[("job_ids", job_id)]).json()["items"][0]["id"] == job_id  # lists are fine
    state.clear_hostile()
    assert client.get(f"{V2}/{job_id}").json() == good


# -- odd ids ---------------------------------------------------------------------------------------------


def raw_get(sim: SimServer, target: str) -> tuple[int, bytes]:
    """A GET with exactly this request target, bypassing any URL library."""
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n\r\n"
    with socket.create_connection((sim.host, sim.port), timeout=10) as s:
        s.sendall(request.encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_odd_ids_are_listed_and_served_by_their_exact_decoded_segment(
    client: httpx.Client, sim: SimServer, state: SimState
) -> None:
    added = [state.add_job_with_id(job_id) for job_id in ODD_IDS]
    assert ids(walk(client, V1, page_size=100)[0])[-len(ODD_IDS) :] == added
    assert ids(walk(client, V2, page_size=100)[0])[-len(ODD_IDS) :] == added
    for job_id in ODD_IDS:
        target = f"{V2}/{encoded(job_id)}"
        resp = client.get(target)
        assert resp.status_code == 200, (job_id, resp.text)
        assert resp.json()["id"] == job_id
        assert state.request_log[-1].target == target  # the bytes on the wire, as sent
        assert state.request_log[-1].path == f"{V2}/{job_id}"
    assert client.get(f"{V2}/a%252Fb").json()["id"] == "a%2Fb"
    assert client.get(f"{V2}/a%20b", params={"expand": "usage"}).json()["id"] == "a b"
    assert state.request_log[-1].target == f"{V2}/a%20b?expand=usage"
    # Unencoded, the same characters mean something else: dot segments and a second segment.
    for target in (f"{V2}/..", f"{V2}/.", f"{V2}/a/b"):
        status, body = raw_get(sim, target)
        assert (status, json.loads(body)) == (404, {"detail": "Not Found"}), target
    assert raw_get(sim, f"{V2}/a%2fb")[0] == 200  # lower-case escapes decode the same
    assert raw_get(sim, f"{V2}/%FF")[0] == 404  # not UTF-8: no such job
    assert client.get(V2, params=[("job_ids", "a/b"), ("job_ids", "..")]).json()["items"][0]["id"] == ".."
    with pytest.raises(ValueError):
        state.add_job_with_id("..")
    with pytest.raises(ValueError):
        state.add_job_with_id(known_job(state))


def test_a_canonical_id_encoded_byte_by_byte_still_routes(client: httpx.Client, state: SimState) -> None:
    job_id = known_job(state)
    assert client.get(f"{V2}/{encoded(job_id)}").json()["id"] == job_id


def test_the_truth_holds_odd_ids(state: SimState) -> None:
    state.add_job_with_id("é")
    assert state.expected_rows("v2")["classify_jobs"][-1]["id"] == "é"
    assert "é" in state.live_job_ids() and "é" not in state.v1_only_job_ids()


# -- hostile values ------------------------------------------------------------------------------------


def first_page(client: httpx.Client, path: str) -> httpx.Response:
    return client.get(path, params={"page_size": 3})


def listed_item(client: httpx.Client, path: str, job_id: str) -> dict[str, Any]:
    [item] = [i for i in first_page(client, path).json()["items"] if i["id"] == job_id]
    return item


def check_hostile(kind: HostileKind, item: dict[str, Any], raw: bytes, api: str) -> None:
    conf = item if api == "v1" else item["configuration"]
    if kind in ("nul", "lone_surrogate"):
        char, escape = ("\u0000", b"\\u0000") if kind == "nul" else ("\ud800", b"\\ud800")
        assert escape in raw
        assert char in item["error_message"] and char in conf["rules"][0]["description"]
        if api == "v2":
            assert char in item["result"]["reasoning"]
        if kind == "lone_surrogate":
            with pytest.raises(UnicodeEncodeError):
                item["error_message"].encode()
    elif kind == "huge_string":
        assert len(item["error_message"]) == HUGE_STRING_LEN
    elif kind.startswith("int_"):
        value = {"int_2_31": 2**31, "int_2_63": 2**63, "int_10_30": 10**30}[kind]
        assert conf["parsing_configuration"]["max_pages"] == value
    elif kind in ("nan", "infinity"):
        for token in (b"NaN",) if kind == "nan" else (b"Infinity",):
            assert token in raw
        check = math.isnan if kind == "nan" else math.isinf
        assert check(item["usage"]["credits"])
        if api == "v2":
            assert check(item["result"]["confidence"])
    elif kind in ("min_timestamp", "max_timestamp"):
        stamp = MIN_TIMESTAMP if kind == "min_timestamp" else MAX_TIMESTAMP
        assert item["created_at"] == item["updated_at"] == stamp
    elif kind == "bool_numbers":
        assert conf["parsing_configuration"]["max_pages"] is True
        if api == "v1":
            assert conf["parsing_configuration"]["target_pages"] == [True]
        else:
            assert item["result"]["confidence"] is True


ITEM_KINDS = [k for k in HOSTILE_KINDS if k not in ("deep_nesting", "null_body", "duplicate_malformed")]


@pytest.mark.parametrize("kind", ITEM_KINDS)
def test_hostile_values_in_lists_and_the_get(
    client: httpx.Client, state: SimState, kind: HostileKind
) -> None:
    job_id = known_job(state)
    truth = state.expected_rows()
    state.hostile_item(job_id, kind)
    get = client.get(f"{V2}/{job_id}")
    check_hostile(kind, get.json(), get.content, "v2")
    for path, api in ((V1, "v1"), (V2, "v2")):
        resp = first_page(client, path)
        check_hostile(kind, listed_item(client, path, job_id), resp.content, api)
    assert state.expected_rows() == truth  # hostile answers never change the ground truth
    state.clear_hostile()
    assert b"NaN" not in client.get(f"{V2}/{job_id}").content
    assert listed_item(client, V1, job_id)["created_at"].startswith("2025-")


def test_hostile_values_only_where_asked(client: httpx.Client, state: SimState) -> None:
    job_id = known_job(state)
    state.hostile_item(job_id, "int_2_63", where="get")
    assert b"9223372036854775808" in client.get(f"{V2}/{job_id}").content
    assert b"9223372036854775808" not in first_page(client, V2).content
    state.hostile_item(job_id, "int_2_63", where="list")
    assert b"9223372036854775808" not in client.get(f"{V2}/{job_id}").content
    assert b"9223372036854775808" in first_page(client, V2).content


def test_json_nested_10000_deep(client: httpx.Client, state: SimState) -> None:
    job_id = known_job(state)
    state.hostile_item(job_id, "deep_nesting")
    for raw in (client.get(f"{V2}/{job_id}").content, first_page(client, V1).content):
        assert b"[" * DEEP_LEVELS + b"]" * DEEP_LEVELS in raw
        assert b"[" * (DEEP_LEVELS + 1) not in raw
        assert raw.count(b"[") >= DEEP_LEVELS


def test_null_bodies(client: httpx.Client, state: SimState) -> None:
    job_id = known_job(state)
    state.hostile_item(job_id, "null_body", where="get")
    resp = client.get(f"{V2}/{job_id}")
    assert (resp.status_code, resp.content) == (200, b"null")
    assert first_page(client, V2).json()["items"]
    state.hostile_item(job_id, "null_body", where="list")
    for path in (V1, V2):
        resp = first_page(client, path)
        assert (resp.status_code, resp.content) == (200, b"null")
    assert client.get(V1, params={"page_size": 3, "page_token": "x"}).status_code == 400
    state.clear_hostile()
    assert first_page(client, V1).json()["items"]


def test_duplicate_id_within_a_page_one_copy_malformed(client: httpx.Client, state: SimState) -> None:
    job_id = known_job(state)
    with pytest.raises(ValueError):
        state.hostile_item(job_id, "duplicate_malformed", where="both")
    state.hostile_item(job_id, "duplicate_malformed", where="list")
    for path in (V1, V2):
        items = first_page(client, path).json()["items"]
        copies = [i for i in items if i["id"] == job_id]
        assert len(copies) == 2 and len(items) == 4
        assert copies[0]["status"] in (
            "SUCCESS",
            "PENDING",
            "COMPLETED",
            "RUNNING",
            "ERROR",
            "FAILED",
            "CANCELLED",
            "PARTIAL_SUCCESS",
        )
        assert copies[1]["status"] == 17
    assert client.get(f"{V2}/{job_id}").json()["id"] == job_id


def test_every_hostile_kind_is_covered() -> None:
    assert set(get_args(HostileKind)) == set(HOSTILE_KINDS)
    assert set(ITEM_KINDS) | {"deep_nesting", "null_body", "duplicate_malformed"} == set(HOSTILE_KINDS)


# -- huge bodies -------------------------------------------------------------------------------------


def test_a_huge_body_is_streamed_to_its_size(client: httpx.Client, state: SimState) -> None:
    state.huge_body("v2_list", size_mb=3)
    with client.stream("GET", V2) as resp:
        assert resp.status_code == 200 and "content-length" not in resp.headers
        size = sum(len(chunk) for chunk in resp.iter_raw())
    assert size == 3 * 2**20 + 2
    assert client.get(V1).status_code == 200  # only that endpoint
    assert state.counts_by_status[("v2_list", 200)] == 1


def test_an_endless_body_goes_on_until_the_client_hangs_up(client: httpx.Client, state: SimState) -> None:
    job_id = known_job(state)
    state.huge_body("v2_get", size_mb=None)
    with client.stream("GET", f"{V2}/{job_id}") as resp:
        got = 0
        for chunk in resp.iter_raw():
            got += len(chunk)
            if got > 20 * 2**20:
                break
    assert got > 20 * 2**20
    state.clear_hostile()
    assert client.get(f"{V2}/{job_id}").json()["id"] == job_id


def test_switches_refuse_unknown_kinds(state: SimState) -> None:
    job_id = known_job(state)
    for call in (
        lambda: state.bad_page_token(1, "loop"),  # type: ignore[arg-type]
        lambda: state.bad_page_token(1, "number", endpoint="v2_get"),  # type: ignore[arg-type]
        lambda: state.bad_page_token(0, "number"),
        lambda: state.wrong_body_id(job_id, "upper"),  # type: ignore[arg-type]
        lambda: state.hostile_item(job_id, "emoji"),  # type: ignore[arg-type]
        lambda: state.hostile_item(job_id, "nul", where="everywhere"),  # type: ignore[arg-type]
        lambda: state.huge_body("v3_list"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError):
            call()
    assert state.hostile.tokens == [] and not state.hostile.items and not state.hostile.huge
