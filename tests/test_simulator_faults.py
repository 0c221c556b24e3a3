"""The simulator's fault injection, mid-walk changes, bookkeeping and ``/_sim/`` control routes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from etl.simulator import EndpointFaults, Faults, SimServer, SimState

KEY = "sim-key"
V1 = "/api/v1/classifier/jobs"
V2 = "/api/v2/classify"


@pytest.fixture
def state() -> SimState:
    return SimState.generate(n_jobs=120, seed=5, api_key=KEY)


def known_job(state: SimState) -> str:
    v1_only = set(state.v1_only_job_ids())
    return next(j for j in state.live_job_ids() if j not in v1_only)


def walk_ids(client: httpx.Client, path: str, **params: Any) -> list[str]:
    out: list[str] = []
    token = None
    while True:
        page = client.get(path, params={**params, **({"page_token": token} if token else {})}).json()
        out += [item["id"] for item in page["items"]]
        token = page.get("next_page_token")
        if not token or not page["items"]:
            return out


# -- errors, bursts, latency ----------------------------------------------------------------------------


def test_error_rates_answer_fastapi_style_errors(client: httpx.Client, state: SimState) -> None:
    state.faults = Faults(error_rates={500: 1.0}, should_retry=True)
    resp = client.get(V1)
    assert resp.status_code == 500
    assert "correlation id: " in resp.json()["detail"]
    assert resp.headers["x-should-retry"] == "true"
    assert client.get(f"{V2}/{known_job(state)}").status_code == 500
    assert state.counts_by_status[("v1_list", 500)] == 1
    state.faults = Faults(error_rates={503: 1.0})
    resp = client.get(V2)
    assert (resp.status_code, resp.json()) == (503, {"detail": "Service Unavailable"})
    assert "x-should-retry" not in resp.headers


def test_fault_decisions_are_seeded_and_replayable(client: httpx.Client, state: SimState) -> None:
    job_id = known_job(state)
    runs = []
    for _ in range(2):
        state.faults = Faults(error_rates={503: 0.2, 408: 0.1, 409: 0.1}, seed=42)
        runs.append([client.get(f"{V2}/{job_id}").status_code for _ in range(100)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 408, 409, 503}
    assert 25 <= sum(s != 200 for s in runs[0]) <= 55
    state.faults = Faults(error_rates={503: 0.2, 408: 0.1, 409: 0.1}, seed=43)
    assert [client.get(f"{V2}/{job_id}").status_code for _ in range(100)] != runs[0]


def test_429_bursts_carry_retry_after(client: httpx.Client, state: SimState) -> None:
    state.faults = Faults(burst_every=5, burst_len=2, retry_after_s=2, retry_after_ms=1500)
    responses = [client.get(V1, params={"page_size": 1}) for _ in range(10)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429] * 2
    assert responses[3].headers["Retry-After"] == "2"
    assert responses[3].headers["retry-after-ms"] == "1500"
    state.faults = Faults(burst_every=1, burst_len=1, retry_after_http_date=True)
    resp = client.get(V1)
    assert resp.status_code == 429 and resp.headers["Retry-After"].endswith(" GMT")
    assert "retry-after-ms" not in resp.headers


def test_latency_is_applied_per_endpoint(client: httpx.Client, state: SimState) -> None:
    job_id = known_job(state)
    client.get(V1)  # warm the connection
    state.faults = Faults(latency_ms=5, jitter_ms=2, endpoints={"v2_get": EndpointFaults(latency_ms=80)})

    def elapsed(path: str) -> float:
        started = time.perf_counter()
        assert client.get(path).status_code == 200
        return time.perf_counter() - started

    slow = min(elapsed(f"{V2}/{job_id}") for _ in range(3))
    fast = min(elapsed(V1) for _ in range(3))
    # What the server injected, per request: exact, whatever the machine's load.
    delays = [(r.endpoint, r.delay_ms) for r in list(state.request_log)[1:]]
    assert all(80.0 <= d <= 82.0 for e, d in delays if e == "v2_get")  # the jitter is shared
    assert all(5.0 <= d <= 7.0 for e, d in delays if e == "v1_list")
    assert sorted(e for e, _ in delays) == ["v1_list"] * 3 + ["v2_get"] * 3
    # What the client saw: never less than injected; the upper bounds only catch gross errors.
    assert 0.080 <= slow < 0.8
    assert 0.005 <= fast < 0.5


def test_endpoint_overrides_only_touch_their_endpoint(client: httpx.Client, state: SimState) -> None:
    state.faults = Faults(endpoints={"v2_get": EndpointFaults(error_rates={502: 1.0})})
    assert client.get(V1).status_code == 200
    assert client.get(V2).status_code == 200
    assert client.get(f"{V2}/{known_job(state)}").status_code == 502


# -- broken connections and bodies --------------------------------------------------------------------------


def test_timeouts_hang_then_drop_or_answer(client: httpx.Client, state: SimState) -> None:
    state.faults = Faults(timeout_rate=1.0, hang_s=1.0)
    with pytest.raises(httpx.ReadTimeout):
        client.get(V1, timeout=httpx.Timeout(5, read=0.2))
    state.faults = Faults(timeout_rate=1.0, hang_s=0.15, hang_then="answer")
    started = time.perf_counter()
    assert client.get(V1).status_code == 200
    assert time.perf_counter() - started >= 0.15  # a lower bound: load cannot make it fail
    state.faults = Faults(timeout_rate=1.0, hang_s=0.05, hang_then="drop")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(V1)
    assert state.counts_by_status[("v1_list", 0)] == 2


def test_connection_resets_send_no_response(client: httpx.Client, state: SimState) -> None:
    state.faults = Faults(endpoints={"v2_list": EndpointFaults(reset_rate=1.0)})
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(V2)
    assert state.counts_by_status[("v2_list", 0)] == 1
    state.faults = Faults()
    assert client.get(V2).status_code == 200


@pytest.mark.parametrize("status", [200, 502])
def test_html_bodies(client: httpx.Client, state: SimState, status: int) -> None:
    state.faults = Faults(html_rate=1.0, html_status=status)
    resp = client.get(V1)
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        resp.json()


def test_truncated_bodies(client: httpx.Client, state: SimState) -> None:
    whole = client.get(V1, params={"page_size": 5}).content
    state.reset_counts()
    state.faults = Faults(truncate_rate=1.0)
    resp = client.get(V1, params={"page_size": 5})
    assert resp.status_code == 200 and whole.startswith(resp.content) and len(resp.content) < len(whole)
    with pytest.raises(json.JSONDecodeError):
        resp.json()
    state.faults = Faults(truncate_rate=1.0, truncate_mode="short_read")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(V1, params={"page_size": 5})
    assert state.counts_by_status[("v1_list", 200)] == 2
    assert state.list_pages_served == 1  # the untouched first page only


@pytest.mark.parametrize(
    "kind", ["missing_id", "bad_timestamp", "bad_target_pages", "unknown_status", "unknown_mode"]
)
def test_invalid_items_are_served_malformed_until_removed(
    client: httpx.Client, state: SimState, kind: str
) -> None:
    job_id = known_job(state)
    truth = state.expected_rows()
    good_v1 = client.get(V1, params={"page_size": 1}).json()["items"][0]
    assert good_v1["id"] == job_id
    good_v2 = client.get(f"{V2}/{job_id}").json()
    state.faults = Faults(invalid_items={job_id: kind})
    bad_v1 = client.get(V1, params={"page_size": 1}).json()["items"][0]
    bad_v2 = client.get(f"{V2}/{job_id}").json()
    assert client.get(V2, params={"page_size": 1}).json()["items"][0] == bad_v2
    for good, bad, api in ((good_v1, bad_v1, "v1"), (good_v2, bad_v2, "v2")):
        assert bad != good
        if kind == "missing_id":
            assert "id" not in bad
        elif kind == "bad_timestamp":
            with pytest.raises(ValueError):
                time.strptime(bad["updated_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        elif kind == "unknown_status":
            assert bad["status"] not in ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "SUCCESS")
        elif kind == "unknown_mode":
            mode = bad["mode"] if api == "v1" else bad["configuration"]["mode"]
            assert mode not in ("FAST", "MULTIMODAL")
        else:
            cfg = (
                bad["parsing_configuration"] if api == "v1" else bad["configuration"]["parsing_configuration"]
            )
            pages = cfg["target_pages"]
            assert pages == [-1, "x"] if api == "v1" else pages == "3-1,x"
    assert state.expected_rows() == truth  # faults never change the ground truth
    del state.faults.invalid_items[job_id]
    assert client.get(f"{V2}/{job_id}").json() == good_v2
    assert client.get(V1, params={"page_size": 1}).json()["items"][0] == good_v1


# -- tokens and mid-walk changes ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_expired_tokens_are_rejected(client: httpx.Client, state: SimState, status: int) -> None:
    old = client.get(V1, params={"page_size": 10}).json()["next_page_token"]
    old_v2 = client.get(V2, params={"page_size": 10}).json()["next_page_token"]
    state.expire_tokens(status)
    resp = client.get(V1, params={"page_size": 10, "page_token": old})
    assert resp.status_code == status
    detail = resp.json()["detail"]
    if status == 422:
        assert detail[0]["loc"] == ["query", "page_token"]
    else:
        assert isinstance(detail, str)
    assert client.get(V2, params={"page_size": 10, "page_token": old_v2}).status_code == status
    assert len(walk_ids(client, V1, page_size=10)) == 120  # new tokens are fine


def test_changes_behind_and_ahead_of_the_cursor(client: httpx.Client, state: SimState) -> None:
    order = state.live_job_ids()
    behind, ahead = order[3], order[100]
    events: dict[str, list[str]] = {}

    def mutate(s: SimState) -> None:
        s.change_job(behind)
        s.change_job(ahead)
        events["added"] = s.add_jobs(3)
        events["deleted"] = [s.delete_job(order[5]), s.delete_job(order[90])]

    state.after_list_page(2, mutate)
    seen = walk_ids(client, V1, page_size=10)
    assert len(seen) == len(set(seen))
    assert seen == [j for j in order if j != order[90]] + events["added"]
    assert (
        "deleted" in events
        and state.live_job_ids() == [j for j in order if j not in events["deleted"]] + events["added"]
    )
    # One-shot: a second walk triggers nothing.
    assert walk_ids(client, V1, page_size=10) == state.live_job_ids()


def test_hooks_count_pages_of_any_list_and_skip_faulted_ones(client: httpx.Client, state: SimState) -> None:
    fired: list[int] = []
    state.after_list_page(3, lambda s: fired.append(s.list_pages_served))
    client.get(V1)
    client.get(V2)
    state.faults = Faults(error_rates={500: 1.0})
    client.get(V2)
    state.faults = Faults()
    assert fired == []
    client.get(f"{V2}/{known_job(state)}")  # not a list page
    assert fired == []
    client.get(V1)
    assert fired == [3]


def test_a_failing_hook_does_not_fail_the_page(client: httpx.Client, state: SimState) -> None:
    def broken(s: SimState) -> None:
        raise RuntimeError("hook bug")

    state.after_list_page(1, broken)
    assert client.get(V2).status_code == 200
    assert [str(e) for e in state.hook_errors] == ["hook bug"]


# -- routes going away, bookkeeping ----------------------------------------------------------------------


def test_retired_v1_answers_404(client: httpx.Client, sim: SimServer, state: SimState) -> None:
    state.retire_v1(True)
    resp = client.get(V1)
    assert (resp.status_code, resp.json()) == (404, {"detail": "Not Found"})
    assert httpx.get(sim.url + V1).status_code == 404  # the route is gone: no auth check
    assert client.get(V2).status_code == 200
    state.retire_v1(False)
    assert client.get(V1).status_code == 200


def test_counts_and_request_log(client: httpx.Client, state: SimState) -> None:
    job_id = known_job(state)
    client.get(V1, params={"page_size": 7})
    client.get(V2, params=[("job_ids", job_id), ("job_ids", "x"), ("status", "COMPLETED")])
    client.get(f"{V2}/{job_id}")
    client.get(f"{V2}/{state.v1_only_job_ids()[0]}")
    httpx.get(client.base_url.join(V1))
    assert state.counts == {"v1_list": 2, "v2_list": 1, "v2_get": 2}
    assert state.counts_by_status[("v2_get", 404)] == 1
    assert state.counts_by_status[("v1_list", 401)] == 1
    first, second, third = list(state.request_log)[:3]
    assert (first.endpoint, first.params, first.status) == ("v1_list", {"page_size": "7"}, 200)
    assert second.params == {"job_ids": [job_id, "x"], "status": "COMPLETED"}
    assert third.path == f"{V2}/{job_id}"
    state.reset_counts()
    assert not state.counts and not state.request_log and not state.counts_by_status


# -- /_sim/ control routes -----------------------------------------------------------------------------------


def test_control_routes(client: httpx.Client, sim: SimServer, state: SimState) -> None:
    ctl = httpx.Client(base_url=sim.url + "/_sim")
    before = state.live_job_ids()
    changed = ctl.post("/change", params={"k": 3}).json()["changed"]
    assert len(changed) == 3 and set(changed) <= set(before)
    assert ctl.post("/change", params=[("id", before[0])]).json() == {"changed": [before[0]]}
    added = ctl.post("/add", params={"m": 2}).json()["added"]
    deleted = ctl.post("/delete", params={"k": 2}).json()["deleted"]
    assert state.live_job_ids()[-2:] == added and not set(deleted) & set(state.live_job_ids())
    assert ctl.post("/restore", params=[("id", deleted[0])]).json() == {"restored": [deleted[0]]}
    assert ctl.post("/add", params={"m": "many"}).status_code == 400
    assert ctl.post("/change", params=[("id", "nope")]).status_code == 400

    client.get(V1)
    stats = ctl.get("/stats").json()
    assert stats["counts"] == {"v1_list": 1} and stats["counts_by_status"] == {"v1_list": {"200": 1}}
    assert stats["live_jobs"] == 121 and stats["deleted_jobs"] == 1
    assert ctl.post("/reset-counts").json() == {"ok": True}
    assert ctl.get("/stats").json()["counts"] == {}

    faults = {"error_rates": {"503": 1.0}, "endpoints": {"v2_get": {"latency_ms": 1}}, "seed": 3}
    assert ctl.post("/faults", json=faults).status_code == 200
    assert state.faults.error_rates == {503: 1.0} and state.faults.endpoints["v2_get"].latency_ms == 1
    assert client.get(V1).status_code == 503
    assert ctl.get("/faults").json()["error_rates"] == {"503": 1.0}
    assert ctl.post("/faults", json={"error_rates": "lots"}).status_code == 422
    assert ctl.post("/faults", json={}).status_code == 200
    assert client.get(V1).status_code == 200

    assert ctl.post("/retire-v1", params={"on": 1}).json() == {"v1_retired": True}
    assert client.get(V1).status_code == 404
    assert ctl.post("/retire-v1", params={"on": 0}).json() == {"v1_retired": False}

    token = client.get(V1, params={"page_size": 5}).json()["next_page_token"]
    assert ctl.post("/expire-tokens", params={"status": 404}).status_code == 200
    assert client.get(V1, params={"page_size": 5, "page_token": token}).status_code == 404
    assert ctl.post("/expire-tokens", params={"status": 500}).status_code == 400

    expected = ctl.get("/expected", params={"source": "v2"}).json()
    assert len(expected["classify_jobs"]) == len(state.expected_rows("v2")["classify_jobs"])
    assert expected["classify_jobs"][0]["created_at"].endswith("+00:00")
    assert ctl.get("/jobs").json()["live"] == state.live_job_ids()
    ctl.close()


def test_stopping_does_not_wait_for_hanging_requests(state: SimState) -> None:
    import threading

    state.faults = Faults(timeout_rate=1.0, hang_s=30)
    sim = SimServer(state).start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.get(sim.url + V1, timeout=10)
        except httpx.HTTPError as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 10
    while not state.counts["v1_list"]:
        assert time.monotonic() < deadline, "the request never arrived"
        time.sleep(0.01)
    started = time.perf_counter()
    sim.stop()
    caller.join(5)
    assert time.perf_counter() - started < 3
    assert errors  # the client saw the connection go


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_forever_serves_until_interrupted() -> None:
    port = free_port()
    code = (
        "from etl.simulator import SimState, serve_forever;"
        f"serve_forever(SimState.generate(50, seed=1, api_key='k'), port={port})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}{V1}", headers={"Authorization": "Bearer k"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
        assert len(resp.json()["items"]) == 50
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert not out
