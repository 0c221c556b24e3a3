"""Storage: payloads as JSON out of the hot row, lossless, exact credits, UTC offsets on SQLite, rule
statistics kept by triggers, and a no-change walk that writes one row per page, not per job."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, delete, inspect, text, update

from etl.change.normalize import RAW_ESCAPE, JobRows, restore_raw, storable_raw
from etl.simulator import SimServer, SimState
from etl.warehouse import db, deletions, jobs, payloads, runs, schema, sql
from tests.support import API_KEY, rows, sync

NOW = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def _job(job_id: str, v1_raw: Any, v2_raw: Any, credits: Decimal | None = None) -> JobRows:
    job = {c.name: None for c in schema.classify_jobs.c if c.name not in ("rule_count", "target_page_count")}
    job.update(
        id=job_id,
        project_id="p",
        status="completed",
        first_seen_at=NOW,
        hydration_status="ok",
        v1_raw=v1_raw,
        v2_raw=v2_raw,
        v2_usage_credits=credits,
        v2_usage_parse_credits=credits,
    )
    rules = [{"job_id": job_id, "position": 0, "type": "invoice", "description": "d"}]
    return JobRows(job=job, rules=rules, config=None, pages=[], result=None)


# Key order that JSONB would reorder, numbers a float would round, text a codec could mangle.
AWKWARD = {
    "zeta": 1,
    "alpha": {"b": [3, 2, 1], "a": None},
    "big": 12345678901234567890,
    "float": 0.1,
    "exp": 1e-7,
    "text": 'naïve — "quoted" \\ \n\t 日本語 \u2028',
    "empty": {},
}


def _sql_value(engine: Engine, sql: str) -> Any:
    with engine.connect() as conn:
        return conn.exec_driver_sql(sql).scalar_one()


def test_payloads_round_trip_and_read_from_sql(engine: Engine) -> None:
    with engine.begin() as conn:
        jobs.upsert_jobs(conn, [_job("a", AWKWARD, {"id": "a", **AWKWARD}), _job("b", AWKWARD, None)])
    with engine.connect() as conn:
        got = payloads.stored_payloads(conn, ["a", "b", "missing"])
        v1 = jobs.stored_v1_raw(conn, ["a", "b"])
    assert set(got) == {"a", "b"}
    assert got["a"] == (AWKWARD, {"id": "a", **AWKWARD}) and got["b"] == (AWKWARD, None)
    assert json.dumps(got["a"][1], sort_keys=True) == json.dumps({"id": "a", **AWKWARD}, sort_keys=True)
    if engine.dialect.name == "sqlite":  # JSON text as written; jsonb keeps its own key order
        assert list(got["a"][0]) == list(AWKWARD) and list(got["a"][1]) == ["id", *AWKWARD]
    assert v1 == {"a": AWKWARD, "b": AWKWARD}
    assert "v1_raw" not in {c["name"] for c in inspect(engine).get_columns("classify_jobs")}
    # Readable from SQL on both databases, with the same operators.
    where = "FROM classify_job_payloads WHERE job_id = 'a'"
    assert _sql_value(engine, f"SELECT raw -> 'v2' -> 'alpha' -> 'b' ->> 1 {where}") in (2, "2")
    assert _sql_value(engine, f"SELECT raw -> 'v2' ->> 'text' {where}") == AWKWARD["text"]
    # -> gives the JSON as stored (SQLite's ->> would read an integer past 64 bits as a REAL).
    assert str(_sql_value(engine, f"SELECT raw -> 'v1' -> 'big' {where}")) == str(AWKWARD["big"])
    assert _sql_value(engine, "SELECT raw -> 'v2' FROM classify_job_payloads WHERE job_id = 'b'") is None


def test_floats_jsonb_would_change_come_back_as_sent(engine: Engine) -> None:
    """-0.0 and floats of 1e16 and beyond (jsonb's numeric has no negative zero and reads 1e+16 as
    an integer) are escaped; every other number is stored as a number; all come back exactly."""
    sent = {
        "tiny": 1e-7,
        "tenth": 0.1,
        "huge": 1e16,
        "huger": -1.5e300,
        "negative_zero": -0.0,
        "zero": 0.0,
        "integral": 3.0,
        "big_int": 2**70,
        "nested": [{"x": [1e20, 1e15]}],
    }
    with engine.begin() as conn:
        jobs.upsert_jobs(conn, [_job("f", storable_raw(sent), None)])  # as build_rows passes it
    with engine.connect() as conn:
        ((stored, _),) = payloads.stored_payloads(conn, ["f"]).values()
    assert json.dumps(restore_raw(stored), sort_keys=True) == json.dumps(sent, sort_keys=True)  # -0.0, 1e+16
    assert stored["huge"] == RAW_ESCAPE + "1e+16" and stored["negative_zero"] == RAW_ESCAPE + "-0.0"
    assert stored["nested"] == [{"x": [RAW_ESCAPE + "1e+20", 1e15]}]
    assert stored["tiny"] == 1e-7 and stored["integral"] == 3.0 and stored["big_int"] == 2**70
    assert float(_sql_value(engine, "SELECT raw -> 'v1' ->> 'tenth' FROM classify_job_payloads")) == 0.1


def test_payloads_of_a_synced_job_are_what_the_api_sent(engine: Engine) -> None:
    state = SimState.generate(n_jobs=60, seed=3, api_key=API_KEY)
    with SimServer(state) as sim:
        assert sync(engine, sim.url).outcome == "success"
        with engine.connect() as conn:
            stored = payloads.stored_payloads(conn, state.live_job_ids())
        assert len(stored) == 60
        job_id = next(j for j in state.live_job_ids() if stored[j][1] is not None)
        sent = httpx.get(  # as the sync asked for it: with its credits
            f"{sim.url}/api/v2/classify/{job_id}?expand=usage", headers={"Authorization": f"Bearer {API_KEY}"}
        )
    assert sent.status_code == 200
    assert stored[job_id][1] == sent.json()
    if engine.dialect.name == "sqlite":
        assert list(stored[job_id][1]) == list(json.loads(sent.text)), "the API's key order"


def test_credits_are_exact_decimals(engine: Engine) -> None:
    amounts = [Decimal("0.1"), Decimal("0.2"), Decimal("9783.12"), Decimal("0.000001")] * 25
    with engine.begin() as conn:
        jobs.upsert_jobs(conn, [_job(f"j{i}", {"i": i}, None, a) for i, a in enumerate(amounts)])
    got = rows(engine, "classify_jobs", ["id", "v2_usage_credits"])
    assert {r["id"]: r["v2_usage_credits"] for r in got} == {f"j{i}": a for i, a in enumerate(amounts)}
    assert all(isinstance(r["v2_usage_credits"], Decimal) for r in got)
    with engine.connect() as conn:
        total = conn.execute(text("SELECT SUM(credits) FROM classify_jobs_current")).scalar()
    if engine.dialect.name == "postgresql":
        assert total == sum(amounts)  # NUMERIC: exact
    else:
        assert round(float(total), 6) == float(sum(amounts))  # SQLite sums REALs


def test_json_default_keeps_decimals_exact() -> None:
    assert (
        json.dumps([Decimal("9783.419999999999999")], default=sql._json_default) == '["9783.419999999999999"]'
    )
    with pytest.raises(ValueError):
        sql._json_default(Decimal("NaN"))


def test_sqlite_timestamps_carry_their_offset(sqlite_url: str) -> None:
    engine = db.make_engine(sqlite_url)
    try:
        db.upgrade(engine)
        with engine.begin() as conn:
            runs.start_run(conn, started_at=NOW, full_refresh=False, scopes=[])
        got = rows(engine, "etl_sync_runs", ["started_at", "finished_at"])
        assert got[0]["started_at"] == NOW and got[0]["started_at"].tzinfo is UTC
        with engine.connect() as conn:
            raw = conn.execute(text("SELECT started_at FROM etl_sync_runs ORDER BY id")).scalars().all()
            assert raw == ["2025-03-04 05:06:07.891011+00:00"]
            assert conn.execute(text("SELECT DATE(started_at) FROM etl_sync_runs")).scalar() == "2025-03-04"
    finally:
        engine.dispose()


# -- rule statistics -------------------------------------------------------------------------------

LANDED_RULE_MATCH = """
SELECT o.type AS rule_type, COUNT(*) AS jobs_offered,
    SUM(CASE WHEN r.type = o.type THEN 1 ELSE 0 END) AS jobs_matched,
    AVG(CASE WHEN r.type = o.type THEN r.confidence END) AS mean_confidence,
    COUNT(r.job_id) AS jobs_with_result
FROM (SELECT DISTINCT job_id, type FROM classify_rules) AS o
JOIN classify_jobs AS j ON j.id = o.job_id AND j.deleted_at IS NULL
LEFT JOIN classify_results AS r ON r.job_id = o.job_id
GROUP BY o.type
"""


def _rule_match(engine: Engine, sql: str) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as conn:
        out = conn.execute(text(sql)).all()
    return {
        r.rule_type: (
            r.jobs_offered,
            r.jobs_matched,
            None if r.mean_confidence is None else round(r.mean_confidence, 9),
            r.jobs_with_result,
        )
        for r in out
    }


def _tenth(confidence: float | None) -> int:
    return -1 if confidence is None else sum(confidence >= k / 10 for k in range(1, 10))


def _day(value: Any) -> str:
    if value is None:
        return "0001-01-01"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return str(value.astimezone(UTC).date().isoformat())


def _daily_stats_from_rows(engine: Engine) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """classify_daily_stats as it should be, computed in Python from the base tables' rows."""
    results = {r["job_id"]: r for r in rows(engine, "classify_results")}
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for job in rows(engine, "classify_jobs"):
        if job["deleted_at"] is not None:
            continue
        result = results.get(job["id"])
        confidence = result["confidence"] if result else None
        key = (
            _day(job["created_at"]),
            job["project_id"],
            job["status"],
            (result["type"] if result else None) or "",
        )
        acc = sums.setdefault(key, [0, 0.0, 0, Decimal(0), [0] * 10])
        acc[0] += 1
        acc[1] += confidence or 0.0
        credits = job["v2_usage_credits"]
        acc[2] += credits is not None
        acc[3] += Decimal(str(credits)) if credits is not None else 0
        if confidence is not None:
            acc[4][_tenth(confidence)] += 1
    return {k: (n, round(c, 9), u, round(cr, 6), tuple(t)) for k, (n, c, u, cr, t) in sums.items()}


def _daily_stats(engine: Engine) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    out = {}
    for r in rows(engine, "classify_daily_stats"):
        key = (_day_text(r["day"]), r["project_id"], r["status"], r["result_type"])
        tenths = tuple(r[f"tenth_{k}"] for k in range(10))
        assert r["jobs"] >= 0 and r["jobs_with_usage"] >= 0 and min(tenths) >= 0, key
        value = (
            r["jobs"],
            round(float(r["confidence_sum"]), 9),
            r["jobs_with_usage"],
            Decimal(r["credits_micro"]) / 1_000_000,
            tenths,
        )
        if r["jobs"] == 0:
            assert value[1:] == (0.0, 0, 0, (0,) * 10), f"{key}: a group counted down to zero sums to zero"
        else:
            out[key] = value
    return out


def _day_text(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _page_stats_from_rows(engine: Engine) -> dict[int, int]:
    live = {j["id"] for j in rows(engine, "classify_jobs") if j["deleted_at"] is None}
    counts: dict[int, int] = {}
    for p in rows(engine, "classify_target_pages"):
        if p["job_id"] in live:
            counts[p["page_number"]] = counts.get(p["page_number"], 0) + 1
    return counts


def _assert_stats_current(engine: Engine) -> None:
    """The three trigger-kept summaries equal what the base tables say."""
    got = _rule_match(
        engine,
        "SELECT rule_type, jobs_offered, jobs_matched, mean_confidence, jobs_with_result "
        "FROM classify_rule_match",
    )
    assert got == _rule_match(engine, LANDED_RULE_MATCH)
    assert _daily_stats(engine) == _daily_stats_from_rows(engine)
    pages = {r["page_number"]: r["jobs"] for r in rows(engine, "classify_page_stats")}
    assert min(pages.values(), default=0) >= 0
    assert {k: v for k, v in pages.items() if v} == _page_stats_from_rows(engine)


def _assert_result_copies(engine: Engine) -> None:
    """classify_jobs.result_type / confidence are the job's result's (NULL without one)."""
    results = {r["job_id"]: (r["type"], r["confidence"]) for r in rows(engine, "classify_results")}
    jobs = rows(engine, "classify_jobs", ["id", "result_type", "confidence", "rule_set_id"])
    assert len(results) > 10 and any(t is None for t, _ in results.values()), "a result without a type"
    assert {j["id"]: (j["result_type"], j["confidence"]) for j in jobs if j["id"] in results} == results
    assert all(j["result_type"] is None and j["confidence"] is None for j in jobs if j["id"] not in results)


def test_trigger_kept_stats_follow_every_kind_of_write(engine: Engine) -> None:
    """classify_rule_stats, classify_daily_stats and classify_page_stats after syncs (changes,
    deletions, a restore) and after writes the loader never does."""
    state = SimState.generate(n_jobs=120, seed=11, api_key=API_KEY)
    with SimServer(state) as sim:
        assert sync(engine, sim.url).outcome == "success"
        _assert_stats_current(engine)
        _assert_result_copies(engine)
        state.change_jobs(30)
        deleted = state.delete_jobs(5)
        assert sync(engine, sim.url).outcome == "success"
        _assert_stats_current(engine)
        _assert_result_copies(engine)
        state.restore_job(deleted[0])  # undelete
        assert sync(engine, sim.url).outcome == "success"
        _assert_stats_current(engine)
        _assert_result_copies(engine)
    jobs = [r["id"] for r in rows(engine, "classify_jobs", ["id"])]
    results = rows(engine, "classify_results")
    r, jc = schema.classify_results.c, schema.classify_jobs.c
    sets = {row["id"]: row["rule_set_id"] for row in rows(engine, "classify_jobs", ["id", "rule_set_id"])}
    with engine.begin() as conn:
        # Writes the loader never does: updates in place, a duplicate rule type, a hard delete.
        conn.execute(
            update(schema.classify_results).where(r.job_id == results[0]["job_id"]).values(type=None)
        )
        conn.execute(
            update(schema.classify_results).where(r.job_id == results[1]["job_id"]).values(confidence=0.5)
        )
        # Rule sets: a new one listing a type twice; jobs moved to it, to another job's, to none,
        # and one moved while it is tombstoned in the same statement.
        rule_sets = schema.classify_rule_sets
        zz = conn.execute(rule_sets.insert().values(digest="test:zz").returning(rule_sets.c.id)).scalar_one()
        conn.execute(
            schema.classify_rule_set_rules.insert(),
            [
                {"rule_set_id": zz, "position": i, "type": t, "description": f"rule {i}"}
                for i, t in enumerate(["zz", "zz", rows(engine, "classify_rule_set_rules")[0]["type"]])
            ],
        )
        conn.execute(update(schema.classify_jobs).where(jc.id.in_(jobs[2:4])).values(rule_set_id=zz))
        conn.execute(update(schema.classify_jobs).where(jc.id == jobs[4]).values(rule_set_id=sets[jobs[9]]))
        conn.execute(update(schema.classify_jobs).where(jc.id == jobs[17]).values(rule_set_id=None))
        conn.execute(
            update(schema.classify_jobs).where(jc.id == jobs[18]).values(rule_set_id=zz, deleted_at=NOW)
        )
        conn.execute(delete(schema.classify_results).where(r.job_id == results[2]["job_id"]))
        conn.execute(delete(schema.classify_jobs).where(schema.classify_jobs.c.id == jobs[5]))
        conn.execute(
            update(schema.classify_jobs)
            .where(schema.classify_jobs.c.id.in_(jobs[6:9]))
            .values(deleted_at=NOW)
        )
        j, p = schema.classify_jobs.c, schema.classify_target_pages.c
        # What daily stats key on: status, project, created_at (also to NULL), credits.
        conn.execute(update(schema.classify_jobs).where(j.id == jobs[10]).values(status="cancelled"))
        conn.execute(update(schema.classify_jobs).where(j.id == jobs[11]).values(project_id="elsewhere"))
        conn.execute(update(schema.classify_jobs).where(j.id == jobs[12]).values(created_at=None))
        conn.execute(update(schema.classify_jobs).where(j.id == jobs[13]).values(created_at=NOW))
        conn.execute(
            update(schema.classify_jobs).where(j.id.in_(jobs[14:16])).values(v2_usage_credits=Decimal("1.25"))
        )
        conn.execute(update(schema.classify_jobs).where(j.id == jobs[16]).values(v2_usage_credits=None))
        conn.execute(
            update(schema.classify_results).where(r.job_id == results[3]["job_id"]).values(confidence=0.9)
        )
        conn.execute(
            update(schema.classify_results).where(r.job_id == results[4]["job_id"]).values(confidence=0.0999)
        )
        # Pages: one moved, one removed, one added (to a live job and to a deleted one).
        pages = rows(engine, "classify_target_pages")
        conn.execute(
            update(schema.classify_target_pages)
            .where(p.job_id == pages[0]["job_id"], p.page_number == pages[0]["page_number"])
            .values(page_number=9999)
        )
        conn.execute(
            delete(schema.classify_target_pages).where(
                p.job_id == pages[1]["job_id"], p.page_number == pages[1]["page_number"]
            )
        )
        conn.execute(schema.classify_target_pages.insert().values(job_id=jobs[20], page_number=4321))
        conn.execute(schema.classify_target_pages.insert().values(job_id=jobs[6], page_number=4321))
    _assert_stats_current(engine)
    with engine.begin() as conn:  # brought back
        conn.execute(
            update(schema.classify_jobs)
            .where(schema.classify_jobs.c.id.in_(jobs[6:8]))
            .values(deleted_at=None)
        )
    _assert_stats_current(engine)


# -- sightings -----------------------------------------------------------------------------------


def _versions(engine: Engine, table: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(text(f"SELECT xmin::text FROM {table}")).scalars())


def test_no_change_sync_writes_no_job_sighting_rows(engine: Engine) -> None:
    state = SimState.generate(n_jobs=150, seed=13, api_key=API_KEY)
    with SimServer(state) as sim:
        assert sync(engine, sim.url).outcome == "success"
        seen = rows(engine, "etl_job_seen")
        pg = engine.dialect.name == "postgresql"
        before = _versions(engine, "etl_job_seen") if pg else None
        result = sync(engine, sim.url)
        assert result.outcome == "success" and result.totals.deleted == 0
        assert rows(engine, "etl_job_seen") == seen, "unchanged: first_listed_at stays"
        if pg:
            assert _versions(engine, "etl_job_seen") == before, "not even rewritten to the same values"
        assert rows(engine, "etl_walk_sightings") == [], "a complete walk drops its sightings"

        gone = state.delete_jobs(4)
        with engine.connect() as conn:
            assert deletions.count_live(conn, "default") == 150
        assert sync(engine, sim.url).outcome == "success"
        with engine.connect() as conn:
            assert deletions.count_live(conn, "default") == 146
        assert {r["id"] for r in rows(engine, "classify_jobs") if r["deleted_at"]} == set(gone)


def test_count_unseen_is_what_mark_deleted_would_do(engine: Engine) -> None:
    t0, t1 = NOW, NOW + timedelta(hours=1)
    with engine.begin() as conn:
        jobs.upsert_jobs(conn, [_job(f"j{i}", {"i": i}, None) for i in range(6)])
        conn.execute(
            update(schema.classify_jobs)
            .where(schema.classify_jobs.c.id == "j5")
            .values(hydration_status="not_found")
        )
        deletions.mark_seen(conn, "s", [f"j{i}" for i in range(6)], t0)
        deletions.mark_seen(conn, "s", ["j0", "j1"], t1)  # the next walk lists only two
        assert deletions.count_live(conn, "s") == 6
        assert deletions.count_unseen(conn, "s", t1) == 4
        assert deletions.count_unseen(conn, "s", t1, only_v2_known=True) == 3
        assert deletions.mark_deleted(conn, "s", t1, t1, only_v2_known=True) == 3
        assert deletions.count_live(conn, "s") == 3  # j0, j1, and j5 (only v1 knew it)
    assert rows(engine, "etl_walk_sightings") == []


def test_rules_are_stored_once_per_rule_set(engine: Engine) -> None:
    """Rules stored once per distinct list, by the loader's digest; the rule statistics follow."""
    state = SimState.generate(n_jobs=150, seed=17, api_key=API_KEY)
    with SimServer(state) as sim:
        assert sync(engine, sim.url).outcome == "success"
    before = rows(engine, "classify_rules")
    sets = rows(engine, "classify_rule_sets")
    assert before and len(sets) < len({r["job_id"] for r in before}), "jobs share rule sets"
    rules_of: dict[int, list[dict[str, Any]]] = {}
    for r in rows(engine, "classify_rule_set_rules"):
        rules_of.setdefault(r["rule_set_id"], []).append(r)
    assert all(s["digest"] == jobs.rule_set_digest(rules_of[s["id"]]) for s in sets)
    _assert_stats_current(engine)


def test_jsonb_text_reads_back_as_json_dumps_did() -> None:
    """The JSONB parameter is encoded by orjson since issue 14; PostgreSQL must read the same
    values as from the json.dumps text it replaced: timestamps (aware, naive, with and without
    microseconds), Decimals as digit strings, bytes as bytea hex, text beyond ASCII, nulls, floats;
    and a non-finite Decimal is still refused."""
    import json
    from datetime import datetime
    from decimal import Decimal

    from etl.warehouse.sql import _json_default, jsonb_text

    rows = [
        {
            "at": datetime(2026, 12, 3, 10, 0, 0, tzinfo=UTC),
            "micro": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            "naive": datetime(2026, 1, 2, 3, 4, 5),
            "credits": Decimal("12.3400"),
            "payload": b"\x00\xffzlib",
            "text": 'Ünïcødé \u2028 "quoted" \\ back',
            "confidence": 0.1 + 0.2,
            "big": 2**62,
            "none": None,
            "flag": True,
        }
    ]
    old = json.dumps(rows, default=_json_default, separators=(",", ":"), allow_nan=False)
    assert json.loads(jsonb_text(rows)) == json.loads(old)
    with pytest.raises(ValueError, match="non-finite"):
        jsonb_text([{"credits": Decimal("NaN")}])
    beyond = [{"raw": {"n": 10**30, 1: "int key"}}]  # a quarantined payload's integer: json.dumps's path
    assert json.loads(jsonb_text(beyond)) == [{"raw": {"n": 10**30, "1": "int key"}}]
