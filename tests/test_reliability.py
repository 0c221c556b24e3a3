"""The fault matrix: whatever goes wrong, a later run converges to the tables of a clean sync."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from etl.errors import FatalApiError
from etl.run.sync import GC_THRESHOLD, SyncResult
from etl.simulator import EndpointFaults, Faults, SimServer, SimState
from etl.warehouse import schema
from tests.support import assert_tables_equal_truth, rows, sync

N_JOBS = 150  # page_size 50: 3 pages

FAST_429 = {"retry_after_s": None, "retry_after_ms": 20}


pytestmark = pytest.mark.sim_data(n_jobs=N_JOBS, seed=23)


def converge(engine: Engine, sim: SimServer, *, max_runs: int = 6, **kw: Any) -> list[SyncResult | Exception]:
    """Run syncs until one succeeds cleanly; return every run's result (or the error it raised)."""
    results: list[SyncResult | Exception] = []
    for _ in range(max_runs):
        try:
            result = sync(engine, sim.url, **kw)
        except FatalApiError as exc:
            results.append(exc)
            continue
        results.append(result)
        if result.outcome == "success":
            return results
    raise AssertionError(f"no clean run in {max_runs}: {results}")


FAULTS: dict[str, Faults] = {
    "5xx errors": Faults(seed=1, error_rates={500: 0.15, 502: 0.05, 503: 0.1, 504: 0.05}),
    "408 and 409": Faults(seed=2, error_rates={408: 0.15, 409: 0.15}),
    "429 bursts with retry-after-ms": Faults(seed=3, burst_every=10, burst_len=3, **FAST_429),
    "429 bursts with Retry-After seconds": Faults(seed=4, burst_every=40, burst_len=1, retry_after_s=0.05),
    "timeouts": Faults(seed=5, timeout_rate=0.04, hang_s=3.0),
    "connection resets": Faults(seed=6, reset_rate=0.1),
    "HTML instead of JSON (200)": Faults(seed=7, html_rate=0.1, html_status=200),
    "HTML proxy page (502)": Faults(seed=8, html_rate=0.1, html_status=502),
    "truncated JSON": Faults(seed=9, truncate_rate=0.1, truncate_mode="cut_json"),
    "short reads": Faults(seed=10, truncate_rate=0.1, truncate_mode="short_read"),
    "latency with jitter": Faults(seed=11, latency_ms=5, jitter_ms=10),
    "list endpoint only, heavy": Faults(
        seed=12, endpoints={"v1_list": EndpointFaults(error_rates={503: 0.5})}
    ),
    "x-should-retry false": Faults(seed=13, error_rates={503: 0.05}, should_retry=False),
}


#: Faults whose runs take long: every third request refused, the client's rate climbs back slowly.
SLOW_FAULTS = {"429 bursts with retry-after-ms"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_FAULTS else n for n in FAULTS]
)
def test_fault_converges_to_clean_tables(engine: Engine, sim: SimServer, name: str) -> None:
    sim.state.faults = FAULTS[name]
    results = converge(engine, sim, request_timeout=0.5, max_retries=5)
    # The faults were felt: retried requests, or a run that failed and was run again.
    felt = sum(r.retries for r in results if isinstance(r, SyncResult)) + len(results) - 1
    assert felt > 0 or name == "latency with jitter", name
    sim.state.faults = Faults()
    # A clean follow-up changes nothing: the faulty runs already converged (or it finishes the job).
    final = sync(engine, sim.url)
    assert final.outcome == "success"
    assert_tables_equal_truth(engine, sim.state)
    last = results[-1]
    assert isinstance(last, SyncResult) and last.outcome == "success", name


def test_fault_injection_was_really_felt(engine: Engine, sim: SimServer) -> None:
    """Guards the matrix against a simulator whose faults silently do nothing."""
    sim.state.faults = Faults(seed=1, error_rates={503: 0.3})
    result = sync(engine, sim.url)
    assert result.retries > 10
    assert any(status == 503 for (_, status) in sim.state.counts_by_status)


def test_invalid_items_are_quarantined_then_resolved(engine: Engine, sim: SimServer) -> None:
    state = sim.state
    ids = [j for j in state.live_job_ids() if j not in set(state.v1_only_job_ids())][:5]
    kinds = ["missing_id", "bad_timestamp", "bad_target_pages", "unknown_status", "unknown_mode"]
    state.faults = Faults(invalid_items=dict(zip(ids, kinds, strict=True)))
    first = sync(engine, sim.url)
    assert first.outcome == "partial" and first.totals.quarantined >= 5
    q = rows(engine, "etl_quarantine")
    assert {r["endpoint"] for r in q} >= {"v1_list"}
    assert all(r["reason"] and r["raw"] is not None and r["run_id"] == first.run_id for r in q)
    assert any("target_pages" in r["reason"] for r in q)
    # The rest of each page loaded.
    assert len(rows(engine, "classify_jobs")) >= N_JOBS - 5
    # The same bad records again: no duplicate quarantine rows.
    sync(engine, sim.url)
    assert len(rows(engine, "etl_quarantine")) == len(q)
    state.faults = Faults()  # the API fixes its records
    fixed = sync(engine, sim.url)
    assert fixed.outcome == "success"
    assert all(r["resolved_at"] is not None for r in rows(engine, "etl_quarantine"))
    assert_tables_equal_truth(engine, state)


def test_token_expiry_mid_walk_restarts_from_page_one(engine: Engine, sim: SimServer) -> None:
    sim.state.after_list_page(2, lambda s: s.expire_tokens(410))
    result = sync(engine, sim.url)
    assert result.outcome == "success" and result.scopes[0].complete
    assert_tables_equal_truth(engine, sim.state)


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_saved_token_rejected_on_resume_restarts_the_walk(
    engine: Engine, sim: SimServer, status: int
) -> None:
    # A run dies after page 1 (the list fails for good), leaving a checkpoint...
    list_down = Faults(endpoints={"v1_list": EndpointFaults(error_rates={503: 1.0})})
    sim.state.after_list_page(1, lambda s: setattr(s, "faults", list_down))
    failed = sync(engine, sim.url, max_retries=1)
    assert failed.outcome == "failed"
    cp = rows(engine, "etl_checkpoints")[0]
    assert cp["next_page_token"] is not None and cp["pages_done"] == 1
    # ...whose token has expired by the next run.
    sim.state.faults = Faults()
    sim.state.expire_tokens(status)
    sim.state.reset_counts()
    result = sync(engine, sim.url)
    assert result.outcome == "success"
    first_two = [r for r in sim.state.request_log if r.endpoint == "v1_list"][:2]
    assert first_two[0].status == status and "page_token" not in first_two[1].params
    assert_tables_equal_truth(engine, sim.state)


def test_jobs_changing_appearing_disappearing_mid_walk(engine: Engine, sim: SimServer) -> None:
    state = sim.state
    sync(engine, sim.url)

    def churn(s: SimState) -> None:
        s.change_jobs(3)
        s.add_jobs(4)
        s.delete_jobs(2)

    state.after_list_page(2, churn)
    sync(engine, sim.url)
    converge(engine, sim)
    assert_tables_equal_truth(engine, state)
    deleted = set(state.deleted_job_ids())
    marked = {r["id"] for r in rows(engine, "classify_jobs") if r["deleted_at"] is not None}
    assert marked == deleted


def test_deleted_jobs_marked_only_after_a_complete_walk_and_cleared_on_return(
    engine: Engine, sim: SimServer
) -> None:
    state = sim.state
    sync(engine, sim.url)
    gone = state.delete_jobs(3)
    # An interrupted walk must not mark anything deleted.
    list_down = Faults(endpoints={"v1_list": EndpointFaults(error_rates={503: 1.0})})
    state.after_list_page(1, lambda s: setattr(s, "faults", list_down))
    assert sync(engine, sim.url, max_retries=0).outcome == "failed"
    assert all(r["deleted_at"] is None for r in rows(engine, "classify_jobs"))
    state.faults = Faults()
    result = sync(engine, sim.url)
    assert result.totals.deleted == 3
    assert {r["id"] for r in rows(engine, "classify_jobs") if r["deleted_at"]} == set(gone)
    state.restore_job(gone[0])
    sync(engine, sim.url)
    assert {r["id"] for r in rows(engine, "classify_jobs") if r["deleted_at"]} == set(gone[1:])


def test_dead_api_fails_in_bounded_time_with_checkpoint_intact(engine: Engine, sim: SimServer) -> None:
    sync(engine, sim.url)
    sim.state.add_jobs(60)
    sim.state.faults = Faults(endpoints={"v2_get": EndpointFaults(error_rates={503: 1.0})})
    result = sync(engine, sim.url, max_retries=1)
    assert result.outcome == "failed"
    assert result.scopes[0].error and "every v2 request" in result.scopes[0].error
    sim.state.faults = Faults()
    assert sync(engine, sim.url).outcome == "success"
    assert_tables_equal_truth(engine, sim.state)


@pytest.mark.postgres
def test_dropped_database_connection_then_rerun_converges(pg_url: str, sim: SimServer) -> None:
    """A server restart, as the client sees it: every connection of the database is killed mid-run."""
    from etl.warehouse import db

    engine = db.make_engine(pg_url)
    db.upgrade(engine)
    admin = db.make_engine(pg_url)
    dbname = engine.url.database

    def drop_connections(*_: object) -> None:
        if dropped:
            return
        dropped.append(True)
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": dbname},
            )

    dropped: list[bool] = []
    # Right after the first page is committed, every connection of the database is killed.
    failed = sync(engine, sim.url, on_page=drop_connections)
    assert failed.outcome == "failed"
    assert "lost the database connection" in (failed.scopes[0].error or "")
    result = sync(engine, sim.url)
    assert result.outcome == "success"
    assert result.scopes[0].resumed_from_page >= 1
    assert_tables_equal_truth(engine, sim.state)
    engine.dispose()
    admin.dispose()


def test_failed_run_is_recorded(engine: Engine, sim: SimServer) -> None:
    sim.state.faults = Faults(error_rates={503: 1.0})
    result = sync(engine, sim.url, max_retries=0)
    assert result.outcome == "failed"
    with engine.connect() as conn:
        run = conn.execute(select(schema.etl_sync_runs)).one()
    assert run.outcome == "failed" and "503" in (run.message or "")


@pytest.mark.parametrize("threshold", [700, 0, 50_000])
def test_a_run_collects_cyclic_garbage_less_often_and_restores_the_collector(
    engine: Engine, sim: SimServer, threshold: int
) -> None:
    """A run raises the collector's first threshold to GC_THRESHOLD (the default 700 cost a fifth
    of a cold sync's CPU), leaves a collector that is off or already set higher alone, and restores
    the caller's setting when it ends."""
    before = gc.get_threshold()
    gc.set_threshold(threshold, *before[1:])
    during: list[tuple[int, ...]] = []
    try:
        result = sync(engine, sim.url, on_page=lambda _report, _counters: during.append(gc.get_threshold()))
        after = gc.get_threshold()
    finally:
        gc.set_threshold(*before)
    assert result.ok and during
    expected = GC_THRESHOLD if 0 < threshold < GC_THRESHOLD else threshold
    assert {t[0] for t in during} == {expected}
    assert after == (threshold, *before[1:])


def test_a_run_goes_on_uvloop_unless_the_application_set_its_own_policy(
    engine: Engine, sim: SimServer
) -> None:
    """uvloop (a dependency off Windows) runs the run's event loop; an application's own event loop
    policy is respected."""
    loops: list[str] = []

    def note(_report: Any, _counters: Any) -> None:
        loops.append(type(asyncio.get_running_loop()).__module__.split(".")[0])

    assert sync(engine, sim.url, on_page=note).ok
    assert loops and set(loops) == {"uvloop"}

    class Policy(asyncio.DefaultEventLoopPolicy):
        pass

    loops.clear()
    asyncio.set_event_loop_policy(Policy())
    try:
        assert sync(engine, sim.url, on_page=note, full_refresh=True).ok
    finally:
        asyncio.set_event_loop_policy(None)
    assert loops and set(loops) == {"asyncio"}
