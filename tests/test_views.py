"""The BI views, on SQLite and PostgreSQL, against expectations computed in Python.

Expectations come from the simulator's ground truth (``expected_rows()``, and ``job_rows`` for the
jobs deleted since they were synced) and, for what only the ETL knows (its own clock, sightings,
checkpoints, quarantine), from the base tables: never from SQL like the views' own.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text, update

from etl.simulator import EndpointFaults, Faults, SimServer, SimState
from etl.simulator.truth import job_rows
from etl.warehouse import schema
from tests.support import API_KEY, rows, sync

N_JOBS = 120  # page_size 50: 3 pages
SEED = 23
VIEWS = ("classify_jobs_current", "classify_daily_counts", "classify_rule_match", "classify_hydration_health")
TIMESTAMPS = ("created_at", "updated_at", "first_seen_at", "hydrated_at", "deleted_at")
BOOLEANS = ("matched", "is_deleted")


@dataclass
class Synced:
    engine: Engine
    state: SimState
    deleted: list[str]


@pytest.fixture
def synced(engine: Engine) -> Synced:
    """120 jobs synced; then 3 deleted, 15 changed and 8 added (created days later), synced again."""
    state = SimState.generate(n_jobs=N_JOBS, seed=SEED, api_key=API_KEY)
    with SimServer(state) as sim:
        assert sync(engine, sim.url).outcome == "success"
        deleted = state.delete_jobs(3)
        state.change_jobs(15)
        state.add_jobs(8)
        result = sync(engine, sim.url)
    assert result.outcome == "success" and result.totals.deleted == 3
    return Synced(engine, state, deleted)


# -- reading views -----------------------------------------------------------------------------


def _ts(value: Any) -> datetime | None:
    """A view's timestamp as aware UTC: SQLite hands back its stored text, PostgreSQL a datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bool(value: Any) -> bool:
    """PostgreSQL has booleans; SQLite answers 0 or 1."""
    assert value in (0, 1) and not isinstance(value, float), value
    return bool(value)


def _day(value: Any) -> str | None:
    if value is None:
        return None
    assert isinstance(value, date | str), value
    return value.isoformat() if isinstance(value, date) else value


def view(engine: Engine, name: str) -> list[dict[str, Any]]:
    """A view's rows; ``name`` may also be a parenthesised query with an alias."""
    with engine.connect() as conn:
        out = [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {name}"))]
    for row in out:
        for col in TIMESTAMPS:
            if col in row:
                row[col] = _ts(row[col])
        for col in BOOLEANS:
            if col in row:
                row[col] = _bool(row[col])
        if "day" in row:
            row["day"] = _day(row["day"])
        if row.get("credits") is not None:
            # NUMERIC on PostgreSQL (Decimal); SQLite hands back its REAL: compare as decimals.
            row["credits"] = Decimal(str(row["credits"]))
    return out


def _assert_same_rows(got: list[dict[str, Any]], want: list[dict[str, Any]], key: tuple[str, ...]) -> None:
    def k(r: dict[str, Any]) -> tuple[str, ...]:
        return tuple("" if r[c] is None else str(r[c]) for c in key)

    got_by, want_by = {k(r): r for r in got}, {k(r): r for r in want}
    assert len(got_by) == len(got), "duplicate keys in the view"
    missing, unexpected = sorted(set(want_by) - set(got_by)), sorted(set(got_by) - set(want_by))
    assert not missing and not unexpected, f"missing {missing[:5]}, unexpected {unexpected[:5]}"
    for key_value, want_row in want_by.items():
        assert got_by[key_value] == want_row, key_value


# -- ground truth --------------------------------------------------------------------------------


def _truth_by_job(state: SimState, deleted: list[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """job id → table → that job's expected rows: live jobs from expected_rows(), deleted jobs from
    the data they had when last synced (a deleted job is never changed)."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for table, table_rows in state.expected_rows().items():
        for row in table_rows:
            out[row["job_id"] if "job_id" in row else row["id"]][table].append(row)
    for job_id in deleted:
        index = state.index_of(job_id)
        assert index is not None
        for table, table_rows in job_rows(state.job_at(index), "v1").items():
            out[job_id][table].extend(table_rows)
    return out


def _credits(state: SimState, job_id: str) -> Decimal | None:
    index = state.index_of(job_id)
    assert index is not None
    job = state.job_at(index)
    return Decimal(str(job.usage[0])) if job.v2_known and job.usage is not None else None


# -- the views -----------------------------------------------------------------------------------


def test_views_exist_and_are_not_tables(engine: Engine) -> None:
    insp = inspect(engine)
    assert set(VIEWS) <= set(insp.get_view_names())
    assert not set(VIEWS) & set(insp.get_table_names())


def test_classify_jobs_current(synced: Synced) -> None:
    engine, state = synced.engine, synced.state
    truth = _truth_by_job(state, synced.deleted)
    base = {r["id"]: r for r in rows(engine, "classify_jobs")}
    assert sorted(base) == sorted(truth)
    want = []
    for job_id, t in truth.items():
        (job,) = t["classify_jobs"]
        result = t["classify_results"][0] if t["classify_results"] else None
        config = t["classify_parsing_configs"][0] if t["classify_parsing_configs"] else None
        rules = sorted(t["classify_rules"], key=lambda r: r["position"])
        is_deleted = job_id in synced.deleted
        assert (base[job_id]["deleted_at"] is not None) == is_deleted
        assert (base[job_id]["hydrated_at"] is not None) == (job["hydration_status"] == "ok")
        want.append(
            {
                "id": job_id,
                "project_id": job["project_id"],
                "user_id": job["user_id"],
                "status": job["status"],
                "mode": job["mode"],
                "document_input_type": job["v2_document_input_type"],
                "file_input": job["v2_file_input"],
                "parse_job_id": job["v2_parse_job_id"],
                "configuration_id": job["v2_configuration_id"],
                "result_type": result["type"] if result else None,
                "confidence": result["confidence"] if result else None,
                "reasoning": result["reasoning"] if result else None,
                "matched": result is not None and result["type"] is not None,
                "rule_count": len(rules),
                "rule_types": ",".join(r["type"] for r in rules) or None,
                "lang": config["lang"] if config else None,
                "max_pages": config["max_pages"] if config else None,
                "target_pages": config["target_pages"] if config else None,
                "target_page_count": len(t["classify_target_pages"]),
                "credits": _credits(state, job_id),
                "created_at": job["created_at"],
                "updated_at": job["updated_at"],
                # The ETL's own clock: only the base table knows it.
                "first_seen_at": base[job_id]["first_seen_at"],
                "hydrated_at": base[job_id]["hydrated_at"],
                "hydration_status": job["hydration_status"],
                "error_message": job["error_message"],
                "is_deleted": is_deleted,
                "deleted_at": base[job_id]["deleted_at"],
            }
        )
    got = view(engine, "classify_jobs_current")
    assert len(got) == N_JOBS + 8
    assert list(got[0]) == list(want[0]), "column names and order are a contract"
    _assert_same_rows(got, want, ("id",))
    # The data set exercises every branch: multi-rule jobs, page scopes, no-match results, credits.
    assert any(r["rule_count"] > 1 for r in want) and any(r["target_page_count"] for r in want)
    assert any(r["confidence"] is not None and not r["matched"] for r in want)
    assert any(r["credits"] is not None for r in want) and sum(r["is_deleted"] for r in want) == 3


def _tenth(confidence: float) -> int:
    """The tenth of [0, 1] a confidence is in (1.0 in the last one)."""
    return min(int(Decimal(str(confidence)) * 10), 9)


def test_classify_daily_counts_and_confidence_counts(synced: Synced) -> None:
    groups: dict[tuple[Any, ...], list[tuple[float | None, Decimal | None]]] = defaultdict(list)
    tenths: Counter[tuple[Any, ...]] = Counter()
    truth = _truth_by_job(synced.state, [])  # deleted jobs are excluded
    for job_id, t in truth.items():
        (job,) = t["classify_jobs"]
        result = t["classify_results"][0] if t["classify_results"] else None
        day = job["created_at"].astimezone(UTC).date().isoformat()
        key = (day, job["project_id"], job["status"], result["type"] if result else None)
        groups[key].append((result["confidence"] if result else None, _credits(synced.state, job_id)))
        if result:
            tenths[(*key, _tenth(result["confidence"]))] += 1
    want = []
    for (day, project_id, status, result_type), jobs in groups.items():
        known = [c for c, _ in jobs if c is not None]
        credits = [c for _, c in jobs if c is not None]
        want.append(
            {
                "day": day,
                "project_id": project_id,
                "status": status,
                "result_type": result_type,
                "jobs": len(jobs),
                "mean_confidence": pytest.approx(sum(known) / len(known)) if known else None,
                "jobs_with_result": len(known),
                "jobs_with_usage": len(credits),
                "credits": sum(credits, Decimal(0)) if credits else None,
            }
        )
    got = view(synced.engine, "classify_daily_counts")
    _assert_same_rows(got, want, ("day", "project_id", "status", "result_type"))
    assert sum(r["jobs"] for r in got) == N_JOBS + 8 - 3
    assert len({r["day"] for r in got}) >= 2, "the added jobs were created on a later day"
    assert any(r["credits"] for r in got) and any(r["jobs_with_result"] < r["jobs"] for r in got)

    keys = ("day", "project_id", "status", "result_type", "confidence_tenth")
    want_tenths = [{**dict(zip(keys, k, strict=True)), "jobs": n} for k, n in tenths.items()]
    got_tenths = view(synced.engine, "classify_confidence_counts")
    _assert_same_rows(got_tenths, want_tenths, keys)
    assert len({r["confidence_tenth"] for r in got_tenths}) >= 3


def test_classify_rule_match(synced: Synced) -> None:
    offered: Counter[str] = Counter()
    with_result: Counter[str] = Counter()
    matched: dict[str, list[float]] = defaultdict(list)
    for t in _truth_by_job(synced.state, []).values():
        result = t["classify_results"][0] if t["classify_results"] else None
        for rule_type in {r["type"] for r in t["classify_rules"]}:
            offered[rule_type] += 1
            if result is not None:
                with_result[rule_type] += 1
                if result["type"] == rule_type:
                    matched[rule_type].append(result["confidence"])
    want = [
        {
            "rule_type": rule_type,
            "jobs_offered": n,
            "jobs_matched": len(matched[rule_type]),
            "match_rate": pytest.approx(len(matched[rule_type]) / n),
            "mean_confidence": (
                pytest.approx(sum(matched[rule_type]) / len(matched[rule_type]))
                if matched[rule_type]
                else None
            ),
            "jobs_with_result": with_result[rule_type],
        }
        for rule_type, n in offered.items()
    ]
    got = view(synced.engine, "classify_rule_match")
    _assert_same_rows(got, want, ("rule_type",))
    assert any(r["jobs_matched"] for r in got)


# -- hydration health ----------------------------------------------------------------------------

HEALTH_FIXED = [
    ("not_hydrated", "not_found"),
    ("not_hydrated", "failed"),
    ("not_hydrated", "pending"),
    ("quarantined", "v1_list"),
    ("quarantined", "v2_get"),
    ("quarantined", "v2_list"),
    ("stale", "deleted"),
    ("stale", "unconfirmed"),
    ("stale", "outdated"),
]


def _expected_health(engine: Engine) -> dict[tuple[str, str], int]:
    """The health counts, from the base tables read into Python."""
    jobs = rows(engine, "classify_jobs")
    live = [j for j in jobs if j["deleted_at"] is None]
    counts = {key: 0 for key in HEALTH_FIXED}
    for j in live:
        if j["hydration_status"] != "ok":
            counts[("not_hydrated", j["hydration_status"])] += 1
    for q in rows(engine, "etl_quarantine"):
        if q["resolved_at"] is None:
            counts[("quarantined", q["endpoint"])] = counts.get(("quarantined", q["endpoint"]), 0) + 1
    counts[("stale", "deleted")] = len(jobs) - len(live)
    complete_walks: dict[str, list[datetime]] = defaultdict(list)
    for cp in rows(engine, "etl_checkpoints"):
        if cp["last_complete_walk_at"] is not None:
            complete_walks[cp["scope"]].append(cp["last_complete_walk_at"])
    scopes_of: dict[str, list[str]] = defaultdict(list)
    for s in rows(engine, "etl_job_seen"):
        scopes_of[s["job_id"]].append(s["scope"])
    for j in live:
        walks = [w for scope in scopes_of[j["id"]] for w in complete_walks[scope]]
        if not any(j["first_seen_at"] <= w for w in walks):
            counts[("stale", "unconfirmed")] += 1
        if j["hydration_status"] == "ok":
            v1u, v2u, at = j["v1_updated_at"], j["v2_updated_at"], j["hydrated_at"]
            if (
                (v1u is not None and v2u is not None and v1u > v2u)
                or (v1u is not None and at < v1u)
                or (v2u is not None and at < v2u)
            ):
                counts[("stale", "outdated")] += 1
    return counts


def _health(engine: Engine) -> dict[tuple[str, str], int]:
    got = view(engine, "classify_hydration_health")
    assert list(got[0]) == ["category", "detail", "jobs", "description"]
    assert all(r["description"] for r in got)
    out = {(r["category"], r["detail"]): r["jobs"] for r in got}
    assert len(out) == len(got), "one row per (category, detail)"
    return out


def test_classify_hydration_health(engine: Engine) -> None:
    state = SimState.generate(n_jobs=N_JOBS, seed=SEED, api_key=API_KEY)
    failing = Faults(endpoints={"v1_list": EndpointFaults(error_rates={503: 1.0})})
    with SimServer(state) as sim:
        # 1. The first walk dies after page 1: its 50 jobs are loaded but unconfirmed.
        state.after_list_page(1, lambda s: setattr(s, "faults", failing))
        assert sync(engine, sim.url, max_retries=1).outcome == "failed"
        health = _health(engine)
        assert health == _expected_health(engine)
        assert health[("stale", "unconfirmed")] == 50
        assert health[("not_hydrated", "not_found")] == sum(
            not state.data.v2_known(state.index_of(j) or 0) for j in state.live_job_ids()[:50]
        )

        # 2. The next run resumes the walk and completes it, meeting two malformed records.
        state.faults = Faults()
        bad = [j for j in state.live_job_ids() if state.data.v2_known(state.index_of(j) or 0)][-2:]
        state.faults = Faults(invalid_items={bad[0]: "bad_timestamp", bad[1]: "unknown_status"})
        assert sync(engine, sim.url).outcome == "partial"
        health = _health(engine)
        assert health == _expected_health(engine)
        assert health[("stale", "unconfirmed")] == 0 and health[("stale", "deleted")] == 0
        assert health[("quarantined", "v1_list")] == 2

        # 3. Two jobs are deleted and one record is fixed: the next complete walk notices both.
        deleted = [state.delete_job(j) for j in state.live_job_ids()[10:30:10]]
        state.faults = Faults(invalid_items={bad[0]: "bad_timestamp"})
        assert sync(engine, sim.url).outcome == "partial"
    health = _health(engine)
    assert health == _expected_health(engine)
    assert health[("stale", "deleted")] == len(deleted) == 2
    assert health[("quarantined", "v1_list")] == 1
    assert sum(q["resolved_at"] is not None for q in rows(engine, "etl_quarantine")) == 1
    assert health[("not_hydrated", "not_found")] == len(state.v1_only_job_ids())

    # 4. What the simulator does not produce on its own: failed and pending hydrations, v2 data older
    # than the listing, a job first listed after the last complete walk, an unknown endpoint.
    j = schema.classify_jobs.c
    ok_ids = [
        r["id"]
        for r in rows(engine, "classify_jobs")
        if r["hydration_status"] == "ok" and not r["deleted_at"]
    ]
    later = datetime(2030, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            update(schema.classify_jobs).where(j.id.in_(ok_ids[:2])).values(hydration_status="failed")
        )
        conn.execute(update(schema.classify_jobs).where(j.id == ok_ids[2]).values(hydration_status="pending"))
        conn.execute(update(schema.classify_jobs).where(j.id == ok_ids[3]).values(v1_updated_at=later))
        conn.execute(update(schema.classify_jobs).where(j.id == ok_ids[4]).values(first_seen_at=later))
        conn.execute(
            schema.etl_quarantine.insert().values(
                endpoint="v3_list", item_key="k", reason="r", first_seen_at=later, last_seen_at=later
            )
        )
    health = _health(engine)
    assert health == _expected_health(engine)
    assert health[("not_hydrated", "failed")] == 2 and health[("not_hydrated", "pending")] == 1
    assert health[("stale", "outdated")] == 1 and health[("stale", "unconfirmed")] == 1
    assert health[("quarantined", "v3_list")] == 1


# -- the views as they were first written --------------------------------------------------------


def _comparable(rows_: list[dict[str, Any]], columns: list[str] | None = None) -> list[str]:
    """A view's rows (those columns) as sorted text, floats to 9 places (a sum divided by a count
    and an AVG may differ in the last bit)."""

    def value(v: Any) -> Any:
        return round(v, 9) if isinstance(v, float) else v

    return sorted(repr(tuple(value(r[c]) for c in sorted(columns or r))) for r in rows_)


def _first_day(column: str, dialect: str) -> str:
    return f"CAST({column} AT TIME ZONE 'UTC' AS DATE)" if dialect == "postgresql" else f"DATE({column})"


def _first_rule_types(dialect: str) -> str:
    if dialect == "postgresql":
        return """
        SELECT job_id, COUNT(*) AS rule_count, string_agg(type, ',' ORDER BY position) AS rule_types
        FROM classify_rules
        GROUP BY job_id"""
    return """
        SELECT job_id, COUNT(*) AS rule_count, group_concat(type, ',') AS rule_types
        FROM (SELECT job_id, type FROM classify_rules ORDER BY job_id, position) AS ordered_rules
        GROUP BY job_id"""


def first_definitions(dialect: str) -> dict[str, str]:
    """The views as they were first written, straight over the base tables (classify_rules and
    classify_parsing_configs are views now, with the rows those tables had): the later definitions,
    rewritten for speed over indexes, row copies and trigger-kept summaries, must give their rows."""
    return {
        "classify_jobs_current": f"""
SELECT
    j.id,
    j.project_id,
    j.user_id,
    j.status,
    j.mode,
    j.v2_document_input_type AS document_input_type,
    j.v2_file_input AS file_input,
    j.v2_parse_job_id AS parse_job_id,
    j.v2_configuration_id AS configuration_id,
    r.type AS result_type,
    r.confidence,
    r.reasoning,
    (r.type IS NOT NULL) AS matched,
    COALESCE(ru.rule_count, 0) AS rule_count,
    ru.rule_types,
    pc.lang,
    pc.max_pages,
    pc.target_pages,
    COALESCE(tp.target_page_count, 0) AS target_page_count,
    j.v2_usage_credits AS credits,
    j.created_at,
    j.updated_at,
    j.first_seen_at,
    j.hydrated_at,
    j.hydration_status,
    j.error_message,
    (j.deleted_at IS NOT NULL) AS is_deleted,
    j.deleted_at
FROM classify_jobs AS j
LEFT JOIN classify_results AS r ON r.job_id = j.id
LEFT JOIN classify_parsing_configs AS pc ON pc.job_id = j.id
LEFT JOIN ({_first_rule_types(dialect)}
) AS ru ON ru.job_id = j.id
LEFT JOIN (
        SELECT job_id, COUNT(*) AS target_page_count
        FROM classify_target_pages
        GROUP BY job_id
) AS tp ON tp.job_id = j.id
""",
        "classify_daily_counts": f"""
SELECT
    d.day,
    d.project_id,
    d.status,
    d.result_type,
    COUNT(*) AS jobs,
    AVG(d.confidence) AS mean_confidence
FROM (
    SELECT {_first_day("j.created_at", dialect)} AS day, j.project_id, j.status, r.type AS result_type,
           r.confidence
    FROM classify_jobs AS j
    LEFT JOIN classify_results AS r ON r.job_id = j.id
    WHERE j.deleted_at IS NULL
) AS d
GROUP BY d.day, d.project_id, d.status, d.result_type
""",
        "classify_rule_match": """
SELECT
    o.type AS rule_type,
    COUNT(*) AS jobs_offered,
    SUM(CASE WHEN r.type = o.type THEN 1 ELSE 0 END) AS jobs_matched,
    CAST(SUM(CASE WHEN r.type = o.type THEN 1 ELSE 0 END) AS DOUBLE PRECISION) / COUNT(*) AS match_rate,
    AVG(CASE WHEN r.type = o.type THEN r.confidence END) AS mean_confidence,
    COUNT(r.job_id) AS jobs_with_result
FROM (SELECT DISTINCT job_id, type FROM classify_rules) AS o
JOIN classify_jobs AS j ON j.id = o.job_id AND j.deleted_at IS NULL
LEFT JOIN classify_results AS r ON r.job_id = o.job_id
GROUP BY o.type
""",
        "classify_hydration_health": """
SELECT 'not_hydrated' AS category, 'not_found' AS detail, COUNT(*) AS jobs,
    'live jobs the v2 API answers 404 for: v1 data only; fetched again when the listing changes'
        AS description
FROM classify_jobs WHERE deleted_at IS NULL AND hydration_status = 'not_found'
UNION ALL
SELECT 'not_hydrated', 'failed', COUNT(*),
    'live jobs whose last v2 fetch failed (see hydration_error); the next run retries them'
FROM classify_jobs WHERE deleted_at IS NULL AND hydration_status = 'failed'
UNION ALL
SELECT 'not_hydrated', 'pending', COUNT(*),
    'live jobs listed but not fetched from v2 yet; the next run fetches them'
FROM classify_jobs WHERE deleted_at IS NULL AND hydration_status = 'pending'
UNION ALL
SELECT 'quarantined', e.endpoint, COUNT(q.id),
    'unresolved malformed records from ' || e.endpoint || ' (etl_quarantine rows, with or without a job id)'
FROM (
    SELECT 'v1_list' AS endpoint
    UNION SELECT 'v2_get'
    UNION SELECT 'v2_list'
    UNION SELECT endpoint FROM etl_quarantine WHERE resolved_at IS NULL
) AS e
LEFT JOIN etl_quarantine AS q ON q.endpoint = e.endpoint AND q.resolved_at IS NULL
GROUP BY e.endpoint
UNION ALL
SELECT 'stale', 'deleted', COUNT(*),
    'jobs absent from a complete walk of a scope that listed them (deleted_at set); last known data kept'
FROM classify_jobs WHERE deleted_at IS NOT NULL
UNION ALL
SELECT 'stale', 'unconfirmed', COUNT(*),
    'live jobs no complete walk has listed yet (first seen after the last complete walk of every scope '
    || 'that saw them): a deletion would not be noticed until a walk completes'
FROM classify_jobs AS j
WHERE j.deleted_at IS NULL
  AND NOT EXISTS (
      SELECT 1
      FROM etl_job_seen AS s
      JOIN etl_checkpoints AS c ON c.scope = s.scope
      WHERE s.job_id = j.id
        AND c.last_complete_walk_at IS NOT NULL
        AND j.first_seen_at <= c.last_complete_walk_at
  )
UNION ALL
SELECT 'stale', 'outdated', COUNT(*),
    'live hydrated jobs whose v2 data predates the latest update: v1_updated_at after v2_updated_at, '
    || 'or hydrated_at before v1_updated_at or v2_updated_at'
FROM classify_jobs
WHERE deleted_at IS NULL AND hydration_status = 'ok'
  AND (v1_updated_at > v2_updated_at OR hydrated_at < v1_updated_at OR hydrated_at < v2_updated_at)
""",
    }


def test_views_give_the_rows_of_their_first_definitions(synced: Synced) -> None:
    """The views were redefined for speed (indexes, copies in the job row, summaries kept by
    triggers): over the same data, each gives the rows of its first definition (in the columns
    that one has: classify_daily_counts has gained some)."""
    engine = synced.engine
    head = {name: view(engine, name) for name in VIEWS}
    assert all(head.values())
    first = {
        name: view(engine, f"({sql}) AS first_definition")
        for name, sql in first_definitions(engine.dialect.name).items()
    }
    for name in VIEWS:
        columns = list(first[name][0])
        assert list(head[name][0])[: len(columns)] == columns, f"{name}: columns and their order"
        assert _comparable(head[name], columns) == _comparable(first[name]), name
