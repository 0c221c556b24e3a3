"""End to end: the real client over HTTP against the simulator, into real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text

from etl.simulator import SimServer, SimState
from etl.warehouse import checkpoints, schema
from tests.support import API_KEY, assert_tables_equal_truth, checksum, pg_row_versions, rows, sync

N_JOBS = 240  # with page_size 50: 5 pages


pytestmark = pytest.mark.sim_data(n_jobs=N_JOBS, seed=11)


def test_full_sync_equals_ground_truth(engine: Engine, sim: SimServer) -> None:
    result = sync(engine, sim.url)
    assert result.outcome == "success"
    assert result.totals.pages == 5 and result.totals.listed == N_JOBS
    assert result.totals.new == N_JOBS
    assert result.totals.hydrated + result.totals.not_found == N_JOBS
    assert result.totals.not_found > 0, "the data set has v1 jobs unknown to v2"
    assert sim.state.counts["v2_get"] == N_JOBS
    assert_tables_equal_truth(engine, sim.state)
    with engine.connect() as conn:
        cp = checkpoints.read_checkpoint(conn, "default", "v1")
    assert cp is not None and cp.next_page_token is None and cp.last_complete_walk_at is not None
    run = rows(engine, "etl_sync_runs")[-1]
    assert (run["outcome"], run["jobs_listed"], run["pages"]) == ("success", N_JOBS, 5)


def test_unchanged_rerun_makes_no_v2_request_and_rewrites_nothing(engine: Engine, sim: SimServer) -> None:
    sync(engine, sim.url)
    before = checksum(engine)
    versions = pg_row_versions(engine) if engine.dialect.name == "postgresql" else None
    sim.state.reset_counts()
    result = sync(engine, sim.url)
    assert sim.state.counts["v2_get"] == 0
    assert result.totals.unchanged == N_JOBS and result.totals.hydrated == 0
    assert checksum(engine) == before
    if versions is not None:
        assert pg_row_versions(engine) == versions, "a row was rewritten (xmin moved)"


def test_k_changed_and_m_added_hydrate_exactly_k_plus_m(engine: Engine, sim: SimServer) -> None:
    sync(engine, sim.url)
    changed = sim.state.change_jobs(7)
    added = sim.state.add_jobs(5)
    sim.state.reset_counts()
    result = sync(engine, sim.url)
    assert sim.state.counts["v2_get"] == 12
    assert (result.totals.changed, result.totals.new) == (7, 5)
    assert len(set(changed) | set(added)) == 12
    assert_tables_equal_truth(engine, sim.state)


def test_job_changed_behind_the_cursor_is_picked_up_next_run(engine: Engine, sim: SimServer) -> None:
    state = sim.state
    target = state.live_job_ids()[0]  # listed on the first page
    # While the walk is past page 3, the job on page 1 changes: this walk cannot see it.
    state.after_list_page(3, lambda s: s.change_job(target))
    sync(engine, sim.url)
    with pytest.raises(AssertionError, match="classify_jobs"):
        assert_tables_equal_truth(engine, state)
    state.reset_counts()
    result = sync(engine, sim.url)
    assert result.totals.changed == 1 and state.counts["v2_get"] == 1
    assert_tables_equal_truth(engine, state)


def test_v2_404_keeps_v1_data_and_is_not_refetched(engine: Engine, sim: SimServer) -> None:
    result = sync(engine, sim.url)
    assert result.outcome == "success"
    j = schema.classify_jobs.c
    with engine.connect() as conn:
        missing = conn.execute(
            select(j.id, j.v1_status, j.v2_status, j.status).where(j.hydration_status == "not_found")
        ).all()
    assert missing and all(r.v1_status is not None and r.v2_status is None for r in missing)
    sim.state.reset_counts()
    sync(engine, sim.url)
    assert sim.state.counts["v2_get"] == 0


def test_full_refresh_rehydrates_everything(engine: Engine, sim: SimServer) -> None:
    sync(engine, sim.url)
    sim.state.reset_counts()
    result = sync(engine, sim.url, full_refresh=True)
    assert sim.state.counts["v2_get"] == N_JOBS and result.totals.changed == N_JOBS
    assert_tables_equal_truth(engine, sim.state)


def test_scopes_each_walk_their_own_projects(engine: Engine, sim: SimServer) -> None:
    projects = sorted({r["project_id"] for r in sim.state.expected_rows()["classify_jobs"]})
    result = sync(engine, sim.url, project_ids=projects)
    assert [s.scope for s in result.scopes] == [f"project:{p}" for p in projects]
    assert all(s.complete for s in result.scopes)
    assert_tables_equal_truth(engine, sim.state)
    requests = [r for r in sim.state.request_log if r.endpoint == "v1_list"]
    assert all(r.params.get("project_id") in projects for r in requests)


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_cold_sync_keeps_postgres_planner_statistics_current(engine: Engine) -> None:
    """Without statistics PostgreSQL deletes a page's child rows by a sequential scan, so a cold
    sync must ANALYZE as the tables grow; a dry run must not touch them."""

    def reltuples(table: str) -> float:
        with engine.connect() as conn:
            q = text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)")
            return float(conn.execute(q, {"t": table}).scalar_one())

    state = SimState.generate(n_jobs=1_250, seed=5, api_key=API_KEY)
    with SimServer(state) as server:
        sync(engine, server.url, dry_run=True)
        assert reltuples("classify_jobs") < 0, "a dry run analyzed (never-analyzed is -1)"
        sync(engine, server.url, page_size=100)
    # Analyzed once 1,000 jobs were in (after page 10; beside the next page's commit, so it
    # may see that page too), not again before 2,000.
    assert 1_000 <= reltuples("classify_jobs") <= 1_100
    assert reltuples("classify_rule_set_rules") > 1_000  # about 2.5 rules per distinct set
    assert 1_000 <= reltuples("etl_job_seen") <= 1_100
