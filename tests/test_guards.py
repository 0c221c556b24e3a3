"""Operator mistakes never destroy data: the delete guard, the v1→v2 switch, per-scope state."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner
from sqlalchemy import Engine

from etl.cli.commands import main
from etl.simulator import SimServer
from tests.conftest import clean_env
from tests.support import API_KEY, assert_tables_equal_truth, rows, sync


def _live(engine: Engine) -> int:
    return sum(1 for r in rows(engine, "classify_jobs", ["id", "deleted_at"]) if r["deleted_at"] is None)


def test_a_wrong_organization_tombstones_nothing_and_exits_3(
    engine: Engine, sim: SimServer, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    project = sim.state.data.projects[0]
    url = engine.url.render_as_string(hide_password=False)
    args = [
        "sync",
        "--database-url",
        url,
        "--base-url",
        sim.url,
        "--project-id",
        project.id,
        "--page-size",
        "50",
    ]
    env = clean_env(LLAMA_CLOUD_API_KEY=API_KEY)
    first = subprocess.run([sys.executable, "-m", "etl", *args], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    live = _live(engine)
    assert live > 0
    wrong = [*args, "--organization-id", "org-that-does-not-hold-the-project", "--json"]
    # The scope key includes only the project: the same scope, walked with a filter that lists nothing.
    done = subprocess.run([sys.executable, "-m", "etl", *wrong], env=env, capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert _live(engine) == live, "no job tombstoned"
    assert f"project:{project.id}" in done.stderr and "--allow-mass-delete" in done.stderr
    summary = json.loads(done.stdout)
    assert summary["outcome"] == "partial" and summary["deleted"] == 0
    assert "none marked deleted" in summary["scopes"][0]["guard"]
    run = rows(engine, "etl_sync_runs")[-1]
    assert run["outcome"] == "partial" and "none marked deleted" in (run["message"] or "")


def test_mass_deletion_needs_the_flag_and_then_happens(engine: Engine, sim: SimServer) -> None:
    assert sync(engine, sim.url).outcome == "success"
    gone = set(sim.state.delete_jobs(sim.state.live_count * 2 // 3))
    guarded = sync(engine, sim.url)
    assert guarded.outcome == "partial" and guarded.scopes[0].guard and guarded.totals.deleted == 0
    assert not any(r["deleted_at"] for r in rows(engine, "classify_jobs"))
    allowed = sync(engine, sim.url, allow_mass_delete=True)
    assert allowed.outcome == "success" and allowed.totals.deleted == len(gone)
    assert {r["id"] for r in rows(engine, "classify_jobs") if r["deleted_at"]} == gone
    assert_tables_equal_truth(engine, sim.state)


def test_a_few_deletions_pass_the_guard(engine: Engine, sim: SimServer) -> None:
    sync(engine, sim.url)
    gone = set(sim.state.delete_jobs(3))
    result = sync(engine, sim.url)
    assert result.outcome == "success" and result.totals.deleted == 3 and result.scopes[0].guard is None
    assert {r["id"] for r in rows(engine, "classify_jobs") if r["deleted_at"]} == gone


def test_an_unknown_project_warns_on_its_first_walk(engine: Engine, sim: SimServer) -> None:
    result = sync(engine, sim.url, project_ids=["no-such-project"])
    assert result.outcome == "success" and result.totals.listed == 0
    assert any("listed no jobs" in w for w in result.scopes[0].warnings)


def test_a_wrong_base_url_records_no_switch_and_a_fixed_url_walks_v1_again(
    engine: Engine, sim: SimServer
) -> None:
    wrong = sync(engine, sim.url + "/api", max_retries=0)  # both list routes answer 404 there
    assert wrong.outcome == "failed" and "--base-url" in (wrong.scopes[0].error or "")
    assert rows(engine, "etl_scope_sources") == []
    fixed = sync(engine, sim.url)
    assert fixed.outcome == "success" and fixed.scopes[0].source == "v1" and not fixed.scopes[0].switched


def test_a_retired_v1_list_with_a_failing_v2_list_records_nothing(engine: Engine, sim: SimServer) -> None:
    from etl.simulator.faults import EndpointFaults, Faults

    sim.state.retire_v1(True)
    sim.state.faults = Faults(endpoints={"v2_list": EndpointFaults(error_rates={503: 1.0})})
    failed = sync(engine, sim.url, max_retries=0)
    assert failed.outcome == "failed"
    assert rows(engine, "etl_scope_sources") == []
    sim.state.faults = Faults()
    switched = sync(engine, sim.url)
    assert switched.outcome == "success" and switched.scopes[0].switched
    assert [r["list_source"] for r in rows(engine, "etl_scope_sources")] == ["v2"]


def test_list_source_flag_overrides_the_recorded_choice_and_scopes_reset_clears_it(
    engine: Engine, sim: SimServer
) -> None:
    sim.state.retire_v1(True)
    assert sync(engine, sim.url).scopes[0].switched
    sim.state.retire_v1(False)
    assert sync(engine, sim.url, source="v1").scopes[0].source == "v1"  # the flag wins for this run
    assert sync(engine, sim.url).scopes[0].source == "v2"  # the recorded choice otherwise
    url = engine.url.render_as_string(hide_password=False)
    listed = CliRunner().invoke(main, ["scopes", "list", "--database-url", url])
    assert listed.exit_code == 0 and "default" in listed.output and "v2" in listed.output
    reset = CliRunner().invoke(main, ["scopes", "reset", "default", "--database-url", url])
    assert reset.exit_code == 0, reset.output
    assert rows(engine, "etl_scope_sources") == []
    assert sync(engine, sim.url).scopes[0].source == "v1"


def test_status_shows_the_v2_plan_of_a_scope(engine: Engine, sim: SimServer) -> None:
    sync(engine, sim.url, source="v2")
    url = engine.url.render_as_string(hide_password=False)
    shown = CliRunner().invoke(main, ["status", "--json", "--database-url", url, "--full-walk-every", "6h"])
    assert shown.exit_code == 0, shown.output
    (v2,) = [c for c in json.loads(shown.output)["checkpoints"] if c["source"] == "v2"]
    plan = v2["v2_plan"]
    assert plan["last_full_walk_at"] is not None and plan["full_walk_windows_in_progress"] == 0
    from datetime import datetime, timedelta

    due = datetime.fromisoformat(plan["next_full_walk_due"]) - datetime.fromisoformat(
        plan["last_full_walk_at"]
    )
    assert due == timedelta(hours=6)
    held = [r for r in rows(engine, "classify_jobs") if r["status"] in ("pending", "running")]
    assert plan["unfinished_held"] == len(held) > 0
    text = CliRunner().invoke(main, ["status", "--database-url", url])
    assert "v2: next full walk" in text.output and "jobs held unfinished" in text.output


def test_the_delete_guard_finds_unseen_jobs_by_an_anti_join_on_postgres(pg_engine: Engine) -> None:
    """``NOT IN (subquery)`` is compared row by row once a walk's ids pass work_mem (quadratic: the
    guard's count ran for over ten minutes at the end of a 1M-job walk). The walk's unseen jobs are
    found by an anti-join, whatever the table sizes."""
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from etl.warehouse import deletions, schema

    jobs = schema.classify_jobs
    with pg_engine.connect() as conn:
        stmt = (
            select(func.count())
            .select_from(jobs)
            .where(jobs.c.id.in_(deletions.unseen_ids(conn, "default", datetime(2026, 1, 1, tzinfo=UTC))))
        )
        compiled = stmt.compile(dialect=conn.dialect)
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params))
        assert deletions.count_unseen(conn, "default", datetime(2026, 1, 1, tzinfo=UTC)) == 0  # it runs
    assert "Anti Join" in plan and "SubPlan" not in plan, plan
