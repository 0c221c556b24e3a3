"""The simulator's ``usage``: opt-in with ``expand=usage``, the expand switches, and billing lag."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from etl.simulator import SimState
from etl.simulator.data import UNFINISHED
from tests.test_simulator import walk

KEY = "sim-key"
V2 = "/api/v2/classify"
FINISHED = ("COMPLETED", "FAILED", "CANCELLED")


@pytest.fixture
def state() -> SimState:
    return SimState.generate(n_jobs=200, seed=3, api_key=KEY)


def v2_items(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    return walk(client, V2, **{"page_size": 100, **params})[0]


def get(client: httpx.Client, job_id: str, *expand: str) -> httpx.Response:
    return client.get(f"{V2}/{job_id}", params=[("expand", e) for e in expand])


def by_status(state: SimState, *, finished: bool, parse_job: bool | None = None) -> str:
    for job_id in state.live_job_ids():
        index = state.index_of(job_id)
        assert index is not None
        job = state.job_at(index)
        if not job.v2_known or (job.status not in UNFINISHED) != finished:
            continue
        if parse_job is None or (job.document_input_type == "parse_job_id") == parse_job:
            return job_id
    raise AssertionError("no such job")


def credits_column(state: SimState, job_id: str, source: str = "v1") -> tuple[Any, Any]:
    [row] = [r for r in state.expected_rows(source)["classify_jobs"] if r["id"] == job_id]
    return row["v2_usage_credits"], row["v2_usage_parse_credits"]


# -- opt-in --------------------------------------------------------------------------------------------


def test_usage_only_with_expand_usage(client: httpx.Client, state: SimState) -> None:
    job_id = by_status(state, finished=True, parse_job=False)
    plain = get(client, job_id).json()
    assert "usage" not in plain
    expanded = get(client, job_id, "usage").json()
    credits = expanded["usage"]["credits"]
    assert isinstance(credits, float) and credits > 0
    assert expanded["usage"]["parse_credits"] == credits  # the parse job's credits are the total
    assert {k: v for k, v in expanded.items() if k != "usage"} == plain
    # Repeated, mixed with unknown values: still just usage. Unknown values alone: nothing.
    assert get(client, job_id, "nonsense", "usage", "usage").json() == expanded
    assert get(client, job_id, "nonsense").json() == plain
    assert get(client, job_id, "").json() == plain
    [record] = [r for r in state.request_log if r.params.get("expand") == ["nonsense", "usage", "usage"]]
    assert record.endpoint == "v2_get"


def test_usage_of_unfinished_and_parse_job_runs(client: httpx.Client, state: SimState) -> None:
    unfinished = by_status(state, finished=False)
    assert get(client, unfinished, "usage").json()["usage"] == {"credits": None, "parse_credits": None}
    on_parse_job = by_status(state, finished=True, parse_job=True)
    # A job run on a parse job the user created bills nothing of its own.
    assert get(client, on_parse_job, "usage").json()["usage"] == {"credits": 0.0, "parse_credits": None}
    assert credits_column(state, on_parse_job) == (0.0, None)
    assert credits_column(state, unfinished) == (None, None)


def test_list_items_carry_usage_only_when_switched_on(client: httpx.Client, state: SimState) -> None:
    plain = v2_items(client)
    assert plain and not any("usage" in i for i in plain)
    assert not any("usage" in i for i in v2_items(client, expand="usage"))  # the list has no expand
    state.usage_on_list = True
    items = v2_items(client)
    assert all("usage" in i for i in items)
    for item in items[:20]:
        assert get(client, item["id"], "usage").json() == item
    finished = [i for i in items if i["status"] in FINISHED]
    assert finished and all(i["usage"]["credits"] is not None for i in finished)


def test_an_old_service_ignores_expand(client: httpx.Client, state: SimState) -> None:
    job_id = by_status(state, finished=True, parse_job=False)
    state.expand_support = "ignore"
    state.usage_on_list = True
    assert "usage" not in get(client, job_id, "usage").json()
    assert not any("usage" in i for i in v2_items(client))
    assert credits_column(state, job_id) == (None, None)  # nothing a loader could know
    state.expand_support = "yes"
    assert credits_column(state, job_id) != (None, None)


def test_a_strict_service_rejects_expand(client: httpx.Client, state: SimState) -> None:
    job_id = by_status(state, finished=True)
    state.expand_support = "reject"
    resp = get(client, job_id, "usage")
    assert resp.status_code == 422
    [error] = resp.json()["detail"]
    assert error["loc"] == ["query", "expand"] and error["msg"]
    assert get(client, job_id, "whatever").status_code == 422
    assert get(client, job_id).status_code == 200
    assert client.get(V2, params={"expand": "usage"}).status_code == 200  # the list ignores it
    assert "usage" not in get(client, job_id).json()


# -- billing lag -------------------------------------------------------------------------------------------


def test_credits_appear_after_the_billing_lag_without_moving_updated_at(
    client: httpx.Client, state: SimState
) -> None:
    state.billing_lag_ms = 3_600_000
    [job_id] = state.change_jobs(1)
    while state.job(job_id).status in UNFINISHED or state.job(job_id).document_input_type == "parse_job_id":
        state.change_job(job_id)
    lagging = get(client, job_id, "usage").json()
    assert lagging["usage"] == {"credits": None, "parse_credits": None}
    assert credits_column(state, job_id) == (None, None)
    state.usage_on_list = True
    [listed] = v2_items(client, job_ids=job_id)
    assert listed == lagging

    job = state.job(job_id)
    assert state.now_ms < job.updated_ms + 3_600_000
    state.advance_clock(job.updated_ms + 3_600_000 - state.now_ms - 1)
    assert get(client, job_id, "usage").json()["usage"]["credits"] is None  # 1 ms to go
    state.advance_clock(1)
    billed = get(client, job_id, "usage").json()
    assert job.usage is not None
    assert billed["usage"] == {"credits": job.usage[0], "parse_credits": job.usage[1]}
    assert billed["updated_at"] == lagging["updated_at"]
    assert {k: v for k, v in billed.items() if k != "usage"} == {
        k: v for k, v in lagging.items() if k != "usage"
    }
    assert credits_column(state, job_id) == job.usage
    [listed] = v2_items(client, job_ids=job_id)
    assert listed == billed


def test_generated_jobs_are_billed_without_a_lag_and_lag_behind_with_one(state: SimState) -> None:
    def billed_share() -> float:
        rows = [r for r in state.expected_rows("v2")["classify_jobs"] if r["status"] != "pending"]
        rows = [r for r in rows if r["status"] != "running"]
        return sum(r["v2_usage_credits"] is not None for r in rows) / len(rows)

    assert billed_share() == 1.0
    state.billing_lag_ms = 40 * 3_600_000  # longer than many jobs have been finished
    assert 0 < billed_share() < 1
    state.advance_clock(40 * 3_600_000)
    assert billed_share() == 1.0


def test_advance_clock_only_moves_forward(state: SimState) -> None:
    now = state.now_ms
    assert state.advance_clock(5) == now + 5
    with pytest.raises(ValueError):
        state.advance_clock(-1)
    state.add_jobs(1)
    assert state.now_ms > now + 5  # activity moves the clock too
