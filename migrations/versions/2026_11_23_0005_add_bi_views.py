"""Add the BI views: classify_jobs_current, _daily_counts, _rule_match and _hydration_health.

Views are not in ``etl.schema.metadata`` (autogenerate does not reflect views), so ``alembic check``
ignores them; this revision is their only definition. The SQL is shared by PostgreSQL and SQLite
except where noted (day truncation, string aggregation). A later revision that alters a table these
views read must drop the views first and recreate them afterwards (PostgreSQL refuses to alter a
column a view uses, and SQLite's batch mode recreates tables under the views).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 02:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Dependency order: nothing here reads another view, but keep creation and drop symmetric.
VIEWS = (
    "classify_jobs_current",
    "classify_daily_counts",
    "classify_rule_match",
    "classify_hydration_health",
)


def _day(column: str, dialect: str) -> str:
    """The UTC calendar day of a timestamp column (a DATE on PostgreSQL, 'YYYY-MM-DD' on SQLite)."""
    if dialect == "postgresql":
        return f"CAST({column} AT TIME ZONE 'UTC' AS DATE)"
    return f"DATE({column})"


def _rule_types(dialect: str) -> str:
    """Per job: rule count and rule types comma-separated in position order."""
    if dialect == "postgresql":
        return """
        SELECT job_id, COUNT(*) AS rule_count, string_agg(type, ',' ORDER BY position) AS rule_types
        FROM classify_rules
        GROUP BY job_id"""
    # SQLite before 3.44 has no ORDER BY inside group_concat: aggregate an ordered subquery.
    return """
        SELECT job_id, COUNT(*) AS rule_count, group_concat(type, ',') AS rule_types
        FROM (SELECT job_id, type FROM classify_rules ORDER BY job_id, position) AS ordered_rules
        GROUP BY job_id"""


def _jobs_current(dialect: str) -> str:
    return f"""
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
LEFT JOIN ({_rule_types(dialect)}
) AS ru ON ru.job_id = j.id
LEFT JOIN (
        SELECT job_id, COUNT(*) AS target_page_count
        FROM classify_target_pages
        GROUP BY job_id
) AS tp ON tp.job_id = j.id
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


# Per rule type over live jobs; a rule type listed twice in one job counts once for that job.
RULE_MATCH = """
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
"""

# One row per (category, detail), always present (jobs = 0 when none), plus a quarantine row for
# any endpoint beyond the three known ones.
HYDRATION_HEALTH = """
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
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    definitions = {
        "classify_jobs_current": _jobs_current(dialect),
        "classify_daily_counts": _daily_counts(dialect),
        "classify_rule_match": RULE_MATCH,
        "classify_hydration_health": HYDRATION_HEALTH,
    }
    for name in VIEWS:
        op.execute(f"CREATE VIEW {name} AS {definitions[name]}")


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
