"""Replace the BI views with definitions that indexes can drive, and add those indexes.

Same names, columns and rows as revision 0005's views; what changes is how they are computed:

* classify_jobs_current reads rule_count, rule_types and target_page_count from the job row
  (revision 0009) instead of joining aggregates of whole child tables, so a filter on the view
  is a filter on classify_jobs and an index can serve it;
* classify_daily_counts groups by the same UTC day, which an expression index on
  (project_id, UTC day) of live jobs now covers;
* classify_rule_match reads classify_rule_stats (revision 0010);
* classify_hydration_health counts from partial indexes whose predicates are its own, and looks for
  unconfirmed jobs only among those first seen after the oldest last complete walk of any scope.

Indexes: updated_at; (project_id, created_at); the UTC day (PostgreSQL and SQLite spellings);
the health view's partial indexes; history rows that were closed (jobs with more than one version).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 01:50:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = (
    "classify_jobs_current",
    "classify_daily_counts",
    "classify_rule_match",
    "classify_hydration_health",
)
LIVE_NOT_HYDRATED = "deleted_at IS NULL AND hydration_status IN ('not_found', 'failed', 'pending')"
LIVE_OUTDATED = (
    "deleted_at IS NULL AND hydration_status = 'ok' AND "
    "(v1_updated_at > v2_updated_at OR hydrated_at < v1_updated_at OR hydrated_at < v2_updated_at)"
)
# (name, table, columns, partial predicate)
INDEXES = [
    ("ix_classify_jobs_updated_at", "classify_jobs", ["updated_at"], None),
    ("ix_classify_jobs_project_id_created_at", "classify_jobs", ["project_id", "created_at"], None),
    ("ix_classify_jobs_live_not_hydrated", "classify_jobs", ["hydration_status"], LIVE_NOT_HYDRATED),
    ("ix_classify_jobs_live_outdated", "classify_jobs", ["hydrated_at"], LIVE_OUTDATED),
    ("ix_classify_jobs_live_first_seen_at", "classify_jobs", ["first_seen_at"], "deleted_at IS NULL"),
    ("ix_classify_job_history_closed_job_id", "classify_job_history", ["job_id"], "valid_to IS NOT NULL"),
]
# Not in etl.schema (autogenerate cannot compare expressions); migrations/env.py leaves it alone.
DAY_INDEX = "ix_classify_jobs_live_project_id_utc_day"


def _day(column: str, dialect: str) -> str:
    """The UTC calendar day of a timestamp column, spelled exactly as 0005 did (the index matches it)."""
    if dialect == "postgresql":
        return f"CAST({column} AT TIME ZONE 'UTC' AS DATE)"
    return f"DATE({column})"


def _jobs_current() -> str:
    return """
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
    j.rule_count,
    j.rule_types,
    pc.lang,
    pc.max_pages,
    pc.target_pages,
    j.target_page_count,
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
"""


def _daily_counts(dialect: str) -> str:
    return f"""
SELECT
    d.day,
    d.project_id,
    d.status,
    d.result_type,
    COUNT(*) AS jobs,
    AVG(d.confidence) AS mean_confidence
FROM (
    SELECT {_day("j.created_at", dialect)} AS day, j.project_id, j.status, r.type AS result_type, r.confidence
    FROM classify_jobs AS j
    LEFT JOIN classify_results AS r ON r.job_id = j.id
    WHERE j.deleted_at IS NULL
) AS d
GROUP BY d.day, d.project_id, d.status, d.result_type
"""


RULE_MATCH = """
SELECT
    rule_type,
    jobs_offered,
    jobs_matched,
    CAST(jobs_matched AS DOUBLE PRECISION) / jobs_offered AS match_rate,
    CASE WHEN jobs_matched > 0 THEN CAST(confidence_sum AS DOUBLE PRECISION) / jobs_matched END
        AS mean_confidence,
    jobs_with_result
FROM classify_rule_stats
WHERE jobs_offered > 0
"""


def _health(dialect: str) -> str:
    never = "CAST('-infinity' AS TIMESTAMP WITH TIME ZONE)" if dialect == "postgresql" else "''"
    return f"""
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
  -- A job first seen no later than every scope's last complete walk was listed by one of them (each
  -- job is listed by some scope): only the jobs first seen since can be unconfirmed.
  AND j.first_seen_at > COALESCE((
      SELECT CASE WHEN COUNT(*) = COUNT(w.last_walk) THEN MIN(w.last_walk) END
      FROM (SELECT scope, MAX(last_complete_walk_at) AS last_walk FROM etl_checkpoints GROUP BY scope) AS w
  ), {never})
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
"""


def _landed_0005() -> ModuleType:
    path = next(Path(__file__).parent.glob("*_0005_add_bi_views.py"))
    spec = importlib.util.spec_from_file_location("revision_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for name, table, columns, where in INDEXES:
        op.create_index(
            name,
            table,
            columns,
            postgresql_where=sa.text(where) if where else None,
            sqlite_where=sa.text(where) if where else None,
        )
    op.execute(
        f"CREATE INDEX {DAY_INDEX} ON classify_jobs (project_id, {_day('created_at', dialect)}) "
        "WHERE deleted_at IS NULL"
    )
    definitions = {
        "classify_jobs_current": _jobs_current(),
        "classify_daily_counts": _daily_counts(dialect),
        "classify_rule_match": RULE_MATCH,
        "classify_hydration_health": _health(dialect),
    }
    for name in VIEWS:
        op.execute(f"CREATE VIEW {name} AS {definitions[name]}")


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.execute(f"DROP INDEX IF EXISTS {DAY_INDEX}")
    for name, table, _, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    _landed_0005().upgrade()
