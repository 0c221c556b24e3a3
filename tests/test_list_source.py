"""The v2 list source, and `auto` switching to it when the v1 list is retired."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from etl.cli.commands import main
from etl.simulator import SimServer, SimState
from etl.warehouse import schema
from tests.support import assert_tables_equal_truth, rows, sync

N_JOBS = 160
CHILD_TABLES = ("classify_rules", "classify_parsing_configs", "classify_target_pages", "classify_results")
# The columns a job's v2 payload fills (raw JSON, usage and the list bookkeeping are compared elsewhere).
V2_COLUMNS = ["id", "project_id", "user_id", "hydration_status"] + [
    c.name
    for c in schema.classify_jobs.c
    if c.name.startswith("v2_")
    and c.name not in ("v2_raw", "v2_hash", "v2_credits_pending")
    and not c.name.startswith("v2_usage")
]


pytestmark = pytest.mark.sim_data(n_jobs=N_JOBS, seed=41)


def _by_key(table: str, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        data, key=lambda r: (r.get("job_id", r.get("id")), r.get("position", r.get("page_number", 0)))
    )


def v2_known_view(engine: Engine, state: SimState) -> dict[str, list[dict[str, Any]]]:
    """The v2-derived part of the tables, for the jobs v2 knows."""
    known = {r["id"] for r in state.expected_rows(source="v2")["classify_jobs"]}
    out = {
        "classify_jobs": _by_key(
            "j", [r for r in rows(engine, "classify_jobs", V2_COLUMNS) if r["id"] in known]
        )
    }
    for table in CHILD_TABLES:
        out[table] = _by_key(table, [r for r in rows(engine, table) if r["job_id"] in known])
    return out


def test_v2_source_equals_ground_truth(engine: Engine, sim: SimServer) -> None:
    result = sync(engine, sim.url, source="v2")
    assert result.outcome == "success" and result.scopes[0].source == "v2"
    # List items carry no usage: each finished job is fetched once with expand=usage, nothing else.
    finished = [
        r
        for r in sim.state.expected_rows(source="v2")["classify_jobs"]
        if r["status"] not in ("pending", "running")
    ]
    assert sim.state.counts["v2_get"] == result.totals.credits_fetched == len(finished)
    assert sim.state.counts["v1_list"] == 0
    assert_tables_equal_truth(engine, sim.state, source="v2")
    sim.state.reset_counts()
    again = sync(engine, sim.url, source="v2", full_walk=True)
    assert again.totals.unchanged == again.totals.listed and again.totals.hydrated == 0
    assert sim.state.counts["v2_get"] == 0  # every finished job has its credits
    sim.state.change_jobs(4)
    changed = sync(engine, sim.url, source="v2")
    assert changed.totals.changed == 4
    assert_tables_equal_truth(engine, sim.state, source="v2")


def test_v1_retired_gives_the_same_data_as_v1_plus_v2(db_url: str, sim: SimServer, tmp_path: Any) -> None:
    from etl.warehouse import db

    reference = db.make_engine(f"sqlite:///{tmp_path}/reference.db")
    db.upgrade(reference)
    sync(reference, sim.url, source="v1")
    sim.state.retire_v1(True)
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    result = sync(engine, sim.url)  # auto
    assert result.outcome == "success" and result.scopes[0].switched
    assert v2_known_view(engine, sim.state) == v2_known_view(reference, sim.state)
    engine.dispose()
    reference.dispose()


def test_switch_between_runs_loses_nothing_and_refetches_nothing(engine: Engine, sim: SimServer) -> None:
    first = sync(engine, sim.url)
    assert first.scopes[0].source == "v1"
    jobs_before = {r["id"]: r for r in rows(engine, "classify_jobs")}
    v1_only = set(sim.state.v1_only_job_ids())
    assert v1_only and v1_only <= set(jobs_before)
    sim.state.retire_v1(True)
    changed = set(sim.state.change_jobs(5)) - v1_only
    sim.state.reset_counts()
    result = sync(engine, sim.url)
    assert result.scopes[0].switched and result.scopes[0].source == "v2"
    # Only changed finished jobs are fetched (for their credits); the rest kept theirs from v1.
    assert sim.state.counts["v2_get"] == result.totals.credits_fetched <= len(changed)
    assert result.totals.changed == len(changed) and result.totals.new == 0
    jobs_after = {r["id"]: r for r in rows(engine, "classify_jobs")}
    assert set(jobs_after) == set(jobs_before)  # nothing lost, nothing doubled
    assert all(jobs_after[j]["deleted_at"] is None for j in v1_only)  # v1-only jobs are not "deleted"
    for job_id, before in jobs_before.items():
        if job_id not in changed:
            after = {k: v for k, v in jobs_after[job_id].items() if k != "v2_hash"}  # adopted once
            assert after == {k: v for k, v in before.items() if k != "v2_hash"}, f"{job_id} was rewritten"
        else:
            assert jobs_after[job_id]["v1_status"] == before["v1_status"]  # v1 columns kept
            assert jobs_after[job_id]["v2_updated_at"] > before["v2_updated_at"]
    # The children of every v2-known job equal the v2 truth.
    truth = sim.state.expected_rows(source="v2")
    for table in CHILD_TABLES:
        known = {r["id"] for r in truth["classify_jobs"]}
        got = _by_key(table, [r for r in rows(engine, table) if r["job_id"] in known])
        assert got == _by_key(table, truth[table]), table
    # The choice is remembered: the next run goes straight to v2.
    sim.state.reset_counts()
    later = sync(engine, sim.url)
    assert not later.scopes[0].switched and later.scopes[0].source == "v2"
    assert sim.state.counts["v1_list"] == 0
    status = CliRunner().invoke(main, ["status", "--database-url", str(engine.url.render_as_string(False))])
    assert "v1 list retired; using the v2 list" in status.stdout
    checkpoints = {(r["scope"], r["source"]) for r in rows(engine, "etl_checkpoints")}
    assert checkpoints == {("default", "v1"), ("default", "v2")}


def test_explicit_v1_on_a_retired_route_fails_with_a_hint(engine: Engine, sim: SimServer) -> None:
    sim.state.retire_v1(True)
    result = sync(engine, sim.url, source="v1")
    assert result.outcome == "failed"
    assert "--list-source v2" in (result.scopes[0].error or "")


def test_usage_credits_are_typed_columns(engine: Engine, sim: SimServer) -> None:
    from decimal import Decimal

    from etl.warehouse import payloads

    sync(engine, sim.url)
    jobs = rows(engine, "classify_jobs")
    with engine.connect() as conn:
        payloads = payloads.stored_payloads(conn, [j["id"] for j in jobs])
    with_usage = [j for j in jobs if payloads[j["id"]][1] and "usage" in payloads[j["id"]][1]]
    assert with_usage, "the simulator serves usage with expand=usage"
    for j in with_usage:
        usage = payloads[j["id"]][1]["usage"]
        for column, key in (("v2_usage_credits", "credits"), ("v2_usage_parse_credits", "parse_credits")):
            sent = usage[key]
            assert j[column] == (None if sent is None else Decimal(str(sent))), (j["id"], column)
    statuses = {j["v2_status"] for j in jobs}
    assert "CANCELLED" in statuses
