"""Lifecycle data sets (weeks of history, a backlog of unfinished jobs), the v2 list's window
filters at their bounds, long URLs, and the switches that break the listing's promises."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from etl.simulator import SimServer, SimState
from etl.simulator.data import DAY_MS, UNFINISHED, Lifecycle
from etl.simulator.render import iso_ms
from tests.test_simulator import ids
from tests.test_simulator import walk as walk_pages

KEY = "sim-key"
V1 = "/api/v1/classifier/jobs"
V2 = "/api/v2/classify"
N = 3000


@pytest.fixture
def state() -> SimState:
    return SimState.generate(n_jobs=N, seed=9, api_key=KEY, lifecycle=Lifecycle())


def walk(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    return walk_pages(client, path, **{"page_size": 100, **params})[0]


# -- the lifecycle ---------------------------------------------------------------------------------------


def test_jobs_span_weeks_and_a_few_old_ones_are_unfinished(state: SimState) -> None:
    first, last = state.job_at(0), state.job_at(N - 1)
    assert 27 * DAY_MS < last.created_ms - first.created_ms <= 28 * DAY_MS
    unfinished = state.unfinished_job_ids()
    assert 0.02 * N < len(unfinished) < 0.05 * N
    ages = [state.now_ms - state.job(j).created_ms for j in unfinished]
    assert max(ages) > 21 * DAY_MS  # a backlog: some have been pending or running for weeks
    assert sum(age < 3 * 3_600_000 for age in ages) >= 1  # and the newest are often still going
    assert all(state.job(j).status in UNFINISHED for j in unfinished)
    for index in range(N):
        job = state.job_at(index)
        assert job.created_ms <= job.updated_ms <= state.now_ms
        if job.status not in UNFINISHED:
            assert job.updated_ms - job.created_ms <= 30 * 60_000


def test_same_lifecycle_same_data() -> None:
    a, b = (SimState.generate(500, seed=2, lifecycle=Lifecycle(span_days=7)) for _ in range(2))
    assert a.unfinished_job_ids() == b.unfinished_job_ids()
    assert a.finish_jobs(3) == b.finish_jobs(3)
    assert a.late_change(4) == b.late_change(4)
    assert a.add_jobs(5) == b.add_jobs(5)
    assert a.expected_rows() == b.expected_rows()
    with pytest.raises(ValueError):
        Lifecycle(unfinished_share=2)


def test_finishing_jobs(client: httpx.Client, state: SimState) -> None:
    state.billing_lag_ms = 60_000
    before = state.unfinished_job_ids()
    stamps = {j: state.job(j).updated_ms for j in before}
    finished = state.finish_jobs(10)
    assert set(finished) <= set(before) and len(set(finished)) == 10
    assert state.unfinished_job_ids() == [j for j in before if j not in finished]
    for job_id in finished:
        job = state.job(job_id)
        assert job.status not in UNFINISHED
        assert stamps[job_id] < job.updated_ms <= state.now_ms
        body = client.get(f"{V2}/{job_id}", params={"expand": "usage"})
        if body.status_code == 200:
            assert body.json()["status"] in ("COMPLETED", "FAILED", "CANCELLED")
            assert body.json()["updated_at"] == iso_ms(job.updated_ms)
    # The last one finished just now: not billed yet, then billed once the lag has passed.
    last = finished[-1]
    rows = {r["id"]: r for r in state.expected_rows()["classify_jobs"]}
    assert rows[last]["v2_usage_credits"] is None
    state.advance_clock(60_000)
    rows = {r["id"]: r for r in state.expected_rows()["classify_jobs"]}
    assert all(
        rows[j]["v2_usage_credits"] is not None for j in finished if rows[j]["hydration_status"] == "ok"
    )
    with pytest.raises(ValueError):
        state.finish_jobs(len(state.unfinished_job_ids()) + 1)


def test_late_changes_rerun_old_finished_jobs(state: SimState) -> None:
    now = state.now_ms
    changed = state.late_change(20)
    assert len(set(changed)) == 20
    old = 0
    for job_id in changed:
        job = state.job(job_id)
        assert job.status not in UNFINISHED and job.updated_ms > now
        old += now - job.created_ms > DAY_MS
    assert old >= 15  # most jobs are old, so most re-runs are of old jobs
    assert not set(changed) & set(state.unfinished_job_ids())


def test_added_jobs_are_often_unfinished_and_deletions_leave_the_backlog(state: SimState) -> None:
    added = state.add_jobs(200)
    unfinished = set(state.unfinished_job_ids())
    share = len(unfinished & set(added)) / 200
    assert 0.3 < share < 0.7
    gone = state.delete_job(sorted(unfinished)[0])
    assert gone not in state.unfinished_job_ids()
    assert state.add_jobs(1)[0] in state.live_job_ids()


def test_without_a_lifecycle_the_unfinished_are_tracked_too() -> None:
    plain = SimState.generate(300, seed=4)
    unfinished = plain.unfinished_job_ids()
    assert 0.1 * 300 < len(unfinished) < 0.35 * 300
    changed = plain.change_jobs(50)
    assert plain.unfinished_job_ids() == [
        j for j in plain.live_job_ids() if plain.job(j).status in UNFINISHED
    ]
    assert changed


# -- the window filters ---------------------------------------------------------------------------------


def test_a_job_created_exactly_on_a_bound_is_inside_both_bounds(
    client: httpx.Client, state: SimState
) -> None:
    items = walk(client, V2)
    target = items[1234]
    stamp = target["created_at"]
    for at in (stamp, stamp.replace("Z", "+00:00"), datetime.fromisoformat(stamp).astimezone().isoformat()):
        got = walk(client, V2, created_at_on_or_after=at, created_at_on_or_before=at)
        assert ids(got) == [target["id"]], at
    one_ms = timedelta(milliseconds=1)
    later = (datetime.fromisoformat(stamp) + one_ms).isoformat()
    earlier = (datetime.fromisoformat(stamp) - one_ms).isoformat()
    assert walk(client, V2, created_at_on_or_after=later, created_at_on_or_before=later) == []
    assert ids(walk(client, V2, created_at_on_or_before=earlier)) == ids(items[:1234])
    assert ids(walk(client, V2, created_at_on_or_after=later)) == ids(items[1235:])


def test_a_window_walk_over_weeks_matches_the_full_walk(client: httpx.Client, state: SimState) -> None:
    items = walk(client, V2)
    # Consecutive one-week windows whose bounds touch: together, every job exactly once (a job
    # created exactly on a shared bound would show in both, none is here).
    start = datetime.fromisoformat(items[0]["created_at"])
    seen: list[str] = []
    for week in range(5):
        low = start + timedelta(days=7 * week)
        high = low + timedelta(days=7) - timedelta(microseconds=1)
        seen += ids(
            walk(client, V2, created_at_on_or_after=low.isoformat(), created_at_on_or_before=high.isoformat())
        )
    assert seen == ids(items)


def test_a_broken_service_ignores_the_window_filters(client: httpx.Client, state: SimState) -> None:
    items = walk(client, V2)
    window = {
        "created_at_on_or_after": items[10]["created_at"],
        "created_at_on_or_before": items[20]["created_at"],
    }
    assert len(walk(client, V2, **window)) == 11
    state.ignore_window_filters = True
    assert ids(walk(client, V2, **window)) == ids(items)
    assert client.get(V2, params={"created_at_on_or_after": "soon"}).status_code == 422  # still validated
    state.ignore_window_filters = False
    assert len(walk(client, V2, **window)) == 11


def test_status_filter_is_exact(client: httpx.Client, state: SimState) -> None:
    items = walk(client, V2)
    for status in ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"):
        assert ids(walk(client, V2, status=status)) == [i["id"] for i in items if i["status"] == status]


def test_urls_longer_than_8_kb_get_414(client: httpx.Client, state: SimState) -> None:
    live = state.live_job_ids()
    few = client.get(V2, params=[("page_size", "100"), *(("job_ids", j) for j in live[:100])])  # ~5 KB
    assert few.status_code == 200 and len(few.json()["items"]) > 50
    resp = client.get(V2, params=[("job_ids", j) for j in live[:400]])  # about 19 KB
    assert resp.status_code == 414
    assert resp.json() == {"detail": "URI Too Long"}
    assert state.counts_by_status[("v2_list", 414)] == 1
    base = len(f"{V1}?page_size=1&x=")
    assert client.get(V1, params={"page_size": 1, "x": "a" * (8192 - base)}).status_code == 200
    assert client.get(V1, params={"page_size": 1, "x": "a" * (8193 - base)}).status_code == 414
    assert client.get(f"{V2}/{'a' * 9000}").status_code == 414


def test_shuffled_pages_keep_the_walk_complete(client: httpx.Client, state: SimState) -> None:
    ordered = walk(client, V2, page_size=50)
    state.shuffle_pages = True
    shuffled = walk(client, V2, page_size=50)
    assert ids(shuffled) != ids(ordered)
    assert sorted(ids(shuffled)) == sorted(ids(ordered)) and len(set(ids(shuffled))) == len(shuffled)
    for page in range(0, len(ordered), 50):  # each page holds the same jobs, in another order
        assert set(ids(shuffled[page : page + 50])) == set(ids(ordered[page : page + 50]))
    v1 = walk(client, V1, page_size=37)
    assert sorted(ids(v1)) == sorted(state.live_job_ids())


def test_control_routes_for_lifecycle_and_switches(sim: SimServer, state: SimState) -> None:
    with httpx.Client(base_url=sim.url + "/_sim") as ctl:
        unfinished = ctl.get("/unfinished").json()["unfinished"]
        assert unfinished == state.unfinished_job_ids()
        finished = ctl.post("/finish", params={"k": 2}).json()["finished"]
        assert set(finished) <= set(unfinished) and not set(finished) & set(state.unfinished_job_ids())
        assert len(ctl.post("/late-change", params={"k": 3}).json()["changed"]) == 3
        now = state.now_ms
        assert ctl.post("/advance-clock", params={"ms": 500}).json() == {"now_ms": now + 500}
        assert ctl.get("/stats").json()["now_ms"] == now + 500
        switches = {"expand_support": "reject", "usage_on_list": "1", "billing_lag_ms": "60000"}
        got = ctl.post("/switches", params=switches).json()
        assert got == {
            "expand_support": "reject",
            "usage_on_list": True,
            "billing_lag_ms": 60_000,
            "ignore_window_filters": False,
            "shuffle_pages": False,
            "extra_field": None,
        }
        assert state.expand_support == "reject" and state.usage_on_list and state.billing_lag_ms == 60_000
        assert ctl.post("/switches", params={"expand_support": "maybe"}).status_code == 400
        assert ctl.post("/switches", params={"shuffle_pages": "on"}).json()["shuffle_pages"] is True
        state.bad_page_token(1, "number")
        assert ctl.post("/clear-hostile").json() == {"ok": True}
        assert not state.hostile.tokens
