"""The v2 list plan: full walks in created_at windows, incremental runs, partitions and credits,
against the simulator's lifecycle data sets, on both databases."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from etl.cli.commands import main
from etl.ops.report import summary_dict, summary_text
from etl.run import v2lists
from etl.simulator import Faults, SimServer, SimState
from etl.simulator.data import Lifecycle
from etl.warehouse import checkpoints, db, planreads
from tests.conftest import clean_env
from tests.support import API_KEY, _exact, assert_tables_equal_truth, checksum, rows, sync

UNFINISHED = ("pending", "running")


def lifecycle_state(n: int = 1000, seed: int = 11, **lifecycle: Any) -> SimState:
    return SimState.generate(n, seed=seed, api_key=API_KEY, lifecycle=Lifecycle(**lifecycle))


def v2_lists(state: SimState) -> list[Any]:
    return [r for r in state.request_log if r.endpoint == "v2_list"]


def v2_gets(state: SimState) -> list[Any]:
    return [r for r in state.request_log if r.endpoint == "v2_get"]


def assert_jobs_equal_truth(engine: Engine, state: SimState, job_ids: Iterable[str], what: str) -> None:
    """The stored rows of these (live) jobs equal the truth, in every data table."""
    ids = set(job_ids)
    expected = state.expected_rows(source="v2")
    for name, want in expected.items():
        key = "id" if name == "classify_jobs" else "job_id"
        want = [r for r in want if r[key] in ids]
        if not want:
            continue
        got = [_exact({c: r[c] for c in want[0]}) for r in rows(engine, name) if r[key] in ids]
        want = [_exact(r) for r in want]  # credits: exact decimals stored, floats in the truth

        def order(r: dict[str, Any], key: str = key) -> Any:
            return (r[key], r.get("position", r.get("page_number", 0)))

        got, want = sorted(got, key=order), sorted(want, key=order)
        if got != want:
            bad = sorted({r[key] for r in want} ^ {r[key] for r in got}) or sorted(
                {r[key] for r in want if r not in got}
            )
            raise AssertionError(f"{what}: {name} differs from the truth for {len(bad)} jobs, e.g. {bad[:3]}")


def truth_jobs(state: SimState) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in state.expected_rows(source="v2")["classify_jobs"]}


def newest_created(engine: Engine) -> datetime:
    with engine.connect() as conn:
        newest = planreads.newest_created_at(conn, "default")
    assert newest is not None
    return newest


def v2_checkpoint(engine: Engine) -> checkpoints.Checkpoint | None:
    with engine.connect() as conn:
        return checkpoints.read_checkpoint(conn, "default", "v2")


# -- 1. correctness over a lifecycle --------------------------------------------------------------


def test_incremental_runs_follow_the_lifecycle_and_a_full_walk_catches_up(engine: Engine) -> None:
    state = lifecycle_state(1000, unfinished_share=0.05)
    with SimServer(state) as sim:
        cold = sync(engine, sim.url, source="v2")
        assert cold.outcome == "success" and cold.scopes[0].kind == "v2 full walk"
        assert_tables_equal_truth(engine, state, source="v2")

        deleted: set[str] = set()
        old_finished_by_activity = 0
        for round_ in range(4):
            since = newest_created(engine) - timedelta(days=1)
            added = state.add_jobs(15)
            finished = state.finish_jobs(8)
            late = state.late_change(6)
            gone = state.delete_jobs(2)
            deleted |= set(gone)
            truth = truth_jobs(state)
            old_finished_by_activity += sum(
                1 for j in finished if j in truth and truth[j]["created_at"] < since
            )
            run = sync(engine, sim.url, source="v2")
            assert run.outcome == "success", run.scopes[0].error
            assert run.scopes[0].kind == "v2 incremental"
            recent = {j for j, r in truth.items() if r["created_at"] >= since}
            unfinished = {j for j, r in truth.items() if r["status"] in UNFINISHED}
            must = (recent | unfinished | set(finished) | set(added)) & set(truth)
            assert_jobs_equal_truth(engine, state, must, f"round {round_}")
            # Deletions wait for a full walk: an incremental run marks none.
            stored = {r["id"]: r for r in rows(engine, "classify_jobs", ["id", "deleted_at"])}
            assert all(stored[j]["deleted_at"] is None for j in deleted if j in stored)
            # Late changes to old finished jobs may wait too (that is the point of the plan).
            del late
        assert old_finished_by_activity >= 5, "the activity finished old backlog jobs too"

        full = sync(engine, sim.url, source="v2", full_walk=True)
        assert full.scopes[0].kind == "v2 full walk" and full.scopes[0].complete
        assert_tables_equal_truth(engine, state, source="v2")
        stored = {r["id"]: r for r in rows(engine, "classify_jobs", ["id", "deleted_at"])}
        stored_deleted = {j for j in deleted if j in stored}
        assert stored_deleted and all(stored[j]["deleted_at"] is not None for j in stored_deleted)
        assert full.totals.deleted == len(stored_deleted)


# -- 2. the requests each plan makes ----------------------------------------------------------------


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{value} has no offset"
    return parsed


def test_incremental_requests_carry_the_right_filters(engine: Engine) -> None:
    state = lifecycle_state(1200, seed=3, unfinished_share=0.3)
    with SimServer(state) as sim:
        sync(engine, sim.url, source="v2", page_size=100)
        since = newest_created(engine) - timedelta(days=1)
        stored_unfinished_old = {
            j for j, r in truth_jobs(state).items() if r["status"] in UNFINISHED and r["created_at"] < since
        }
        assert len(stored_unfinished_old) > 250
        finished = set(state.finish_jobs(260)) & stored_unfinished_old
        assert len(finished) > 200  # more than two batches of 100 ids
        state.reset_counts()
        run = sync(engine, sim.url, source="v2", page_size=100)
        assert run.scopes[0].kind == "v2 incremental" and run.outcome == "success"
        lists = v2_lists(state)
        recent = [r for r in lists if "created_at_on_or_after" in r.params]
        assert recent and all(
            _aware(r.params["created_at_on_or_after"]) == since
            and "created_at_on_or_before" not in r.params
            and "status" not in r.params
            for r in recent
        )
        unfinished = [r for r in lists if "status" in r.params]
        assert {r.params["status"] for r in unfinished} == {"PENDING", "RUNNING"}
        assert all(
            _aware(r.params["created_at_on_or_before"]) == since and "created_at_on_or_after" not in r.params
            for r in unfinished
        )
        by_ids = [r for r in lists if "job_ids" in r.params]
        asked = [j for r in by_ids for j in r.params["job_ids"]]
        assert all(len(r.params["job_ids"]) <= 100 for r in by_ids)
        assert all(len(r.target.encode()) < 8_000 for r in lists)
        # Only the stored unfinished jobs the unfinished lists no longer show are asked for by id:
        # exactly the ones that finished, each once.
        assert sorted(asked) == sorted(finished)
        assert len(lists) == len(recent) + len(unfinished) + len(by_ids)
        assert run.scopes[0].list_requests["finished since"] == len(by_ids)
        assert_jobs_equal_truth(engine, state, finished, "finished since")


def test_id_batches_keep_urls_short_and_at_most_100_ids() -> None:
    short = [f"{i:036d}" for i in range(250)]
    assert [len(b) for b in v2lists.id_batches(short, 300)] == [100, 100, 50]
    long_ids = [f"{i:0200d}" for i in range(100)]
    batches = v2lists.id_batches(long_ids, 300)
    assert sum(len(b) for b in batches) == 100 and len(batches) > 2
    for b in batches:
        assert 300 + sum(len("&job_ids=") + len(j) for j in b) < 8_000


def test_full_walk_windows_touch_and_a_rewalk_uses_stored_quantiles(engine: Engine) -> None:
    state = lifecycle_state(900, seed=5)
    with SimServer(state) as sim:
        cold = sync(engine, sim.url, source="v2", list_concurrency=4)
        probes = cold.scopes[0].list_requests.get("window probes", 0)
        assert probes > 0
        assert_tables_equal_truth(engine, state, source="v2")
        with engine.connect() as conn:
            cuts = planreads.created_at_quantiles(conn, "default", 8)
        assert len(cuts) == 7
        live = len(truth_jobs(state))
        state.reset_counts()
        again = sync(engine, sim.url, source="v2", list_concurrency=4, full_walk=True)
        report = again.scopes[0]
        assert report.kind == "v2 full walk" and "window probes" not in report.list_requests
        lists = v2_lists(state)
        # Every request is a window of the stored quantiles; no probe of the time range.
        firsts = [r for r in lists if "page_token" not in r.params]
        bounds = sorted(
            (r.params.get("created_at_on_or_after", ""), r.params.get("created_at_on_or_before", ""))
            for r in firsts
        )
        assert len(bounds) == 8
        text = ["", *(v2lists.iso(c) for c in cuts), ""]
        want = sorted((text[i], text[i + 1]) for i in range(8))
        assert bounds == want
        # Each cut is a stored job's created_at: that job sits exactly on a boundary, and both
        # windows list it (touching bounds), so the walk lists it twice and loses it never.
        on_boundary = [j for j, r in truth_jobs(state).items() if r["created_at"] in cuts]
        assert len(on_boundary) == len(cuts)
        assert again.totals.listed == live + len(cuts)
        assert again.totals.new == 0 and again.totals.deleted == 0
        assert_tables_equal_truth(engine, state, source="v2")


# -- 3. full_walk_every ----------------------------------------------------------------------------


def test_full_walk_every_decides_the_kind_of_run(engine: Engine) -> None:
    state = lifecycle_state(400, seed=8)
    with SimServer(state) as sim:
        first = sync(engine, sim.url, source="v2")
        assert first.scopes[0].kind == "v2 full walk" and "window" in first.scopes[0].list_requests
        cp = v2_checkpoint(engine)
        assert cp is not None and cp.last_complete_walk_at is not None
        inc = sync(engine, sim.url, source="v2", full_walk_every=timedelta(days=30))
        assert inc.scopes[0].kind == "v2 incremental"
        assert set(inc.scopes[0].list_requests) <= {"recent", "unfinished", "finished since"}
        text = summary_text(inc)
        assert "v2 incremental; list requests: recent " in text and "unfinished" in text
        assert summary_dict(inc)["scopes"][0]["kind"] == "v2 incremental"
        assert v2_checkpoint(engine).last_complete_walk_at == cp.last_complete_walk_at  # type: ignore[union-attr]
        due = sync(engine, sim.url, source="v2", full_walk_every=timedelta(0))
        assert due.scopes[0].kind == "v2 full walk" and due.scopes[0].list_requests["window"] > 0
        later = v2_checkpoint(engine)
        assert later is not None and later.last_complete_walk_at > cp.last_complete_walk_at  # type: ignore[operator]
        kinds = [r["run_kind"] for r in rows(engine, "etl_sync_runs")]
        assert kinds == ["v2 full walk", "v2 incremental", "v2 full walk"]
        details = rows(engine, "etl_sync_runs")[-1]["details"]
        assert details["scopes"]["default"]["kind"] == "v2 full walk"
        assert details["scopes"]["default"]["list_requests"] == due.scopes[0].list_requests


# -- 4. SIGKILL during a full walk ----------------------------------------------------------------

CLI = [sys.executable, "-m", "etl"]


def _cli_env(db_url: str, sim_url: str) -> dict[str, str]:
    return clean_env(
        LLAMA_CLOUD_API_KEY=API_KEY,
        LLAMA_CLOUD_BASE_URL=sim_url,
        CLASSIFY_ETL_DATABASE_URL=db_url,
        PYTHONWARNINGS="ignore",
    )


def _full_walk_cli(db_url: str, sim_url: str) -> subprocess.Popen[str]:
    args = ["sync", "--list-source", "v2", "--full-walk", "--page-size", "50", "--list-concurrency", "2"]
    return subprocess.Popen(
        [*CLI, *args, "--max-retries", "2", "--json"],
        env=_cli_env(db_url, sim_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _window_pages(db_url: str) -> int:
    engine = db.make_engine(db_url)
    try:
        with engine.connect() as conn:
            return sum(w.pages_done for w in checkpoints.read_windows(conn, "default", "full"))
    except Exception:  # no schema yet
        return 0
    finally:
        engine.dispose()


@pytest.mark.slow
def test_full_walk_killed_at_random_points_resumes_and_converges(db_url: str, tmp_path: Path) -> None:
    state = lifecycle_state(1500, seed=21)
    with SimServer(state) as sim:
        # What an uninterrupted first full walk costs, on a database of its own.
        reference = db.make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
        db.upgrade(reference)
        sync(reference, sim.url, source="v2", page_size=50, list_concurrency=2)
        restart_cost = len(v2_lists(state))
        reference.dispose()

        state.faults = Faults(latency_ms=25)
        rng = random.Random(77)
        committed = 0
        for _ in range(4):
            proc = _full_walk_cli(db_url, sim.url)
            deadline = time.monotonic() + 60
            target = committed + rng.randint(1, 4)  # kill after some committed window pages
            while time.monotonic() < deadline and proc.poll() is None and _window_pages(db_url) < target:
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.3))
            proc.kill()
            proc.communicate(timeout=60)
            committed = _window_pages(db_url)
        assert committed > 0, "no kill landed after a committed window page"
        state.faults = Faults()
        state.reset_counts()
        done = subprocess.run(
            [*CLI, "sync", "--list-source", "v2", "--full-walk", "--page-size", "50", "--json"],
            env=_cli_env(db_url, sim.url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        resumed_lists = v2_lists(state)
        # The windows resumed from their checkpoints: no probes, no committed page listed again.
        assert summary["scopes"][0]["kind"] == "v2 full walk"
        assert all(
            "page_token" in r.params
            or "created_at_on_or_after" in r.params
            or "created_at_on_or_before" in r.params
            for r in resumed_lists
        )
        assert len(resumed_lists) < restart_cost
        assert len(resumed_lists) <= restart_cost - committed + 1
        engine = db.make_engine(db_url)
        assert_tables_equal_truth(engine, state, source="v2")
        with engine.connect() as conn:
            assert checkpoints.read_windows(conn, "default", "full") == []
            cp = checkpoints.read_checkpoint(conn, "default", "v2")
        assert cp is not None and cp.last_complete_walk_at is not None
        hist = rows(engine, "classify_job_history")
        open_versions = [h["job_id"] for h in hist if h["valid_to"] is None]
        assert len(open_versions) == len(set(open_versions))
        engine.dispose()


# -- 5. a service that ignores the window filters ---------------------------------------------------


def test_ignored_window_filters_fall_back_to_a_sequential_walk(engine: Engine) -> None:
    state = lifecycle_state(500, seed=13)
    state.ignore_window_filters = True
    with SimServer(state) as sim:
        result = sync(engine, sim.url, source="v2")
        report = result.scopes[0]
        assert result.outcome == "success" and report.complete
        assert report.kind == "v2 sequential walk"
        assert any("ignores the window filters" in w for w in report.warnings)
        assert_tables_equal_truth(engine, state, source="v2")
        cp = v2_checkpoint(engine)
        assert cp is not None and cp.last_complete_walk_at is not None
        with engine.connect() as conn:
            assert checkpoints.read_windows(conn, "default", "full") == []
        # A later full walk falls back again, and still loses nothing (deletions marked).
        gone = state.delete_jobs(3)
        again = sync(engine, sim.url, source="v2", full_walk=True)
        assert again.scopes[0].kind == "v2 sequential walk" and again.totals.deleted == len(gone)
        assert_tables_equal_truth(engine, state, source="v2")


# -- 6. partitions --------------------------------------------------------------------------------


def test_partition_run_touches_only_its_window(engine: Engine) -> None:
    state = lifecycle_state(800, seed=17)
    with SimServer(state) as sim:
        sync(engine, sim.url, source="v2")
        cp_before = v2_checkpoint(engine)
        assert cp_before is not None and cp_before.last_complete_walk_at is not None
        truth = truth_jobs(state)
        created = sorted(r["created_at"] for r in truth.values())
        low, high = created[300], created[450]
        inside = {j for j, r in truth.items() if low <= r["created_at"] <= high}
        outside = set(truth) - inside
        # Activity inside and outside the window; a deletion inside it.
        state.late_change(40)
        state.add_jobs(5)
        gone = sorted(inside)[0]
        state.delete_job(gone)
        before = {r["id"]: r for r in rows(engine, "classify_jobs") if r["id"] in outside}
        runs_before = len(rows(engine, "etl_sync_runs"))
        state.reset_counts()
        result = sync(engine, sim.url, source="v2", created_after=low, created_before=high)
        report = result.scopes[0]
        assert result.outcome == "success" and report.kind == "v2 partition"
        lists = v2_lists(state)
        assert lists and all(
            _aware(r.params["created_at_on_or_after"]) == low
            and _aware(r.params["created_at_on_or_before"]) == high
            for r in lists
        )
        assert_jobs_equal_truth(engine, state, inside - {gone}, "the partition's jobs")
        after = {r["id"]: r for r in rows(engine, "classify_jobs") if r["id"] in outside}
        assert after == before, "a job outside the window was rewritten"
        assert not {r["id"] for r in rows(engine, "classify_jobs")} - set(truth) - {gone}, (
            "a new job was stored"
        )
        assert all(r["deleted_at"] is None for r in rows(engine, "classify_jobs", ["deleted_at"]))
        assert result.totals.deleted == 0
        cp_after = v2_checkpoint(engine)
        assert cp_after is not None and cp_after.last_complete_walk_at == cp_before.last_complete_walk_at
        with engine.connect() as conn:
            assert checkpoints.read_windows(conn, "default", "partition") == []
        assert len(rows(engine, "etl_sync_runs")) == runs_before + 1
        tables = checksum(engine)
        again = sync(engine, sim.url, source="v2", created_after=low, created_before=high)
        assert again.outcome == "success" and again.totals.changed == 0 and again.totals.new == 0
        assert checksum(engine) == tables


def test_partition_on_the_v1_source_is_a_usage_error(sqlite_url: str) -> None:
    env = _cli_env(sqlite_url, "http://127.0.0.1:9")
    result = CliRunner().invoke(
        main,
        ["sync", "--list-source", "v1", "--created-after", "2026-01-01"],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 2, result.output
    assert "--list-source v2" in result.stderr and len(result.stderr.strip().splitlines()) == 1


# -- 7. credits -------------------------------------------------------------------------------------


def test_credits_wait_for_billing_and_are_fetched_once(engine: Engine) -> None:
    state = lifecycle_state(600, seed=19, recent_minutes=24 * 60)
    state.billing_lag_ms = 2 * 86_400_000
    with SimServer(state) as sim:
        cold = sync(engine, sim.url, source="v2")
        assert cold.outcome == "success"
        assert_tables_equal_truth(engine, state, source="v2")
        jobs = rows(engine, "classify_jobs")
        waiting = {j["id"] for j in jobs if j["status"] not in UNFINISHED and j["v2_usage_credits"] is None}
        assert len(waiting) >= 5, "some finished jobs are not billed yet"
        assert all(j["v2_credits_pending"] for j in jobs if j["id"] in waiting)
        state.advance_clock(2 * 86_400_000 + 60_000)
        state.reset_counts()
        run = sync(engine, sim.url, source="v2")
        assert run.scopes[0].kind == "v2 incremental" and run.outcome == "success"
        fetched = [r.path.rsplit("/", 1)[-1] for r in v2_gets(state)]
        assert sorted(fetched) == sorted(waiting), "each waiting job fetched exactly once"
        assert all(r.params.get("expand") == ["usage"] for r in v2_gets(state))
        assert_tables_equal_truth(engine, state, source="v2")
        assert all(
            r["v2_usage_credits"] is not None for r in rows(engine, "classify_jobs") if r["id"] in waiting
        )
        state.reset_counts()
        sync(engine, sim.url, source="v2")
        assert state.counts["v2_get"] == 0


def test_a_job_listed_this_run_is_not_fetched_again_by_the_credits_backfill(engine: Engine) -> None:
    state = lifecycle_state(600, seed=31, unfinished_share=0.2)
    state.billing_lag_ms = 86_400_000
    with SimServer(state) as sim:
        sync(engine, sim.url, source="v2")
        since = newest_created(engine) - timedelta(days=1)
        truth = truth_jobs(state)
        finished = [j for j in state.finish_jobs(30) if j in truth and truth[j]["created_at"] < since]
        assert len(finished) >= 10
        state.reset_counts()
        run = sync(engine, sim.url, source="v2")
        assert run.scopes[0].kind == "v2 incremental"
        fetched = [r.path.rsplit("/", 1)[-1] for r in v2_gets(state)]
        # Just finished, not billed yet: the "finished since" list fetched each once for its
        # credits (none yet); the backfill must not ask again in the same run.
        assert sorted(set(finished) & set(fetched)) == sorted(finished)
        assert len(fetched) == len(set(fetched)), "a job was fetched twice in one run"
        assert_jobs_equal_truth(engine, state, finished, "finished, credits pending")


@pytest.mark.parametrize("support", ["reject", "ignore"])
def test_credits_when_the_service_does_not_expand(engine: Engine, support: str) -> None:
    state = lifecycle_state(300, seed=23)
    state.expand_support = support  # type: ignore[assignment]
    with SimServer(state) as sim:
        result = sync(engine, sim.url, source="v2")
        assert result.outcome == "success" and result.scopes[0].complete
        jobs = rows(engine, "classify_jobs")
        assert len(jobs) == len(truth_jobs(state))
        if support == "ignore":
            assert all(j["v2_usage_credits"] is None for j in jobs)
            assert_tables_equal_truth(engine, state, source="v2")
        again = sync(engine, sim.url, source="v2")
        assert again.outcome == "success"


def test_usage_on_the_list_needs_no_get(engine: Engine) -> None:
    state = lifecycle_state(300, seed=29)
    state.usage_on_list = True
    with SimServer(state) as sim:
        result = sync(engine, sim.url, source="v2")
        assert result.outcome == "success"
        assert state.counts["v2_get"] == 0 and result.totals.credits_fetched == 0
        assert_tables_equal_truth(engine, state, source="v2")


# -- 8. bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--lookback", "nope"], ["--full-walk-every", "3x"]])
def test_bad_durations_are_one_line_usage_errors(sqlite_url: str, args: list[str]) -> None:
    env = _cli_env(sqlite_url, "http://127.0.0.1:9")
    result = CliRunner().invoke(main, ["sync", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and args[0] in lines[0], result.stderr
