"""The baseline's SQL that autogenerate cannot write: views, trigger functions, triggers, and the
indexes on expressions, for SQLite and for PostgreSQL: functions, indexes, views, then triggers,
each kind in the order the old revisions created them.

Frozen with the baseline revision (``0001_baseline``), which creates and drops these; ``env.py``
reads ``EXPRESSION_INDEXES`` from here so that ``alembic check`` leaves those indexes alone (it can
neither reflect them on SQLite nor compare them well on PostgreSQL). Nothing here may change once
released: a database made by the baseline holds exactly this text.

A later revision that changes one of these objects carries its own SQL: it writes the new
``CREATE`` (after a ``DROP``, or ``CREATE OR REPLACE FUNCTION``) in its own module, and for its
downgrade the statement it replaces, copied as text from here (or from the revision that last
changed it), never imported: a revision reads the same on the day it runs as on the day it was
written. A revision that adds an index on an expression adds its name to ``env.py``'s set.
"""

# ruff: noqa: E501

from __future__ import annotations

from typing import NamedTuple


class Raw(NamedTuple):
    kind: str  # "view", "function", "trigger" or "index"
    name: str
    table: str | None  # the table of a trigger or an index
    sql: str


SQLITE: tuple[Raw, ...] = (
    Raw(
        "index",
        "ix_classify_daily_stats_project_id_day",
        "classify_daily_stats",
        """CREATE INDEX ix_classify_daily_stats_project_id_day ON classify_daily_stats (project_id, (NULLIF(day, '0001-01-01')))""",
    ),
    Raw(
        "index",
        "ix_classify_jobs_live_scoped",
        "classify_jobs",
        """CREATE INDEX ix_classify_jobs_live_scoped ON classify_jobs (target_page_count DESC) WHERE deleted_at IS NULL AND target_page_count > 0""",
    ),
    Raw(
        "view",
        "classify_rule_match",
        None,
        """CREATE VIEW classify_rule_match AS 
SELECT
    rule_type,
    jobs_offered,
    jobs_matched,
    CAST(jobs_matched AS DOUBLE PRECISION) / jobs_offered AS match_rate,
    CASE WHEN jobs_matched > 0 THEN CAST(confidence_sum AS DOUBLE PRECISION) / jobs_matched END
        AS mean_confidence,
    jobs_with_result
FROM classify_rule_stats
WHERE jobs_offered > 0""",
    ),
    Raw(
        "view",
        "classify_daily_counts",
        None,
        """CREATE VIEW classify_daily_counts AS 
SELECT
    NULLIF(day, '0001-01-01') AS day, project_id, status, NULLIF(result_type, '') AS result_type,
    jobs,
    CAST(confidence_sum AS DOUBLE PRECISION) / NULLIF(tenth_0 + tenth_1 + tenth_2 + tenth_3 + tenth_4 + tenth_5 + tenth_6 + tenth_7 + tenth_8 + tenth_9, 0) AS mean_confidence,
    tenth_0 + tenth_1 + tenth_2 + tenth_3 + tenth_4 + tenth_5 + tenth_6 + tenth_7 + tenth_8 + tenth_9 AS jobs_with_result,
    jobs_with_usage,
    CASE WHEN jobs_with_usage > 0 THEN CAST(credits_micro / 1000000.0 AS NUMERIC(24, 6)) END AS credits
FROM classify_daily_stats
WHERE jobs > 0""",
    ),
    Raw(
        "view",
        "classify_hydration_health",
        None,
        """CREATE VIEW classify_hydration_health AS 
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
  ), '')
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
  AND (v1_updated_at > v2_updated_at OR hydrated_at < v1_updated_at OR hydrated_at < v2_updated_at)""",
    ),
    Raw(
        "view",
        "classify_confidence_counts",
        None,
        """CREATE VIEW classify_confidence_counts AS 
SELECT t.day, t.project_id, t.status, t.result_type, t.confidence_tenth, t.jobs
FROM (
    SELECT NULLIF(day, '0001-01-01') AS day, project_id, status, NULLIF(result_type, '') AS result_type, k.tenth AS confidence_tenth, CASE k.tenth WHEN 0 THEN s.tenth_0 WHEN 1 THEN s.tenth_1 WHEN 2 THEN s.tenth_2 WHEN 3 THEN s.tenth_3 WHEN 4 THEN s.tenth_4 WHEN 5 THEN s.tenth_5 WHEN 6 THEN s.tenth_6 WHEN 7 THEN s.tenth_7 WHEN 8 THEN s.tenth_8 WHEN 9 THEN s.tenth_9 END AS jobs
    FROM classify_daily_stats AS s CROSS JOIN (SELECT 0 AS tenth UNION ALL SELECT 1 AS tenth UNION ALL SELECT 2 AS tenth UNION ALL SELECT 3 AS tenth UNION ALL SELECT 4 AS tenth UNION ALL SELECT 5 AS tenth UNION ALL SELECT 6 AS tenth UNION ALL SELECT 7 AS tenth UNION ALL SELECT 8 AS tenth UNION ALL SELECT 9 AS tenth) AS k
) AS t
WHERE t.jobs > 0""",
    ),
    Raw(
        "view",
        "classify_rules",
        None,
        """CREATE VIEW classify_rules AS 
SELECT j.id AS job_id, r.position, r.type, r.description
FROM classify_jobs AS j
JOIN classify_rule_set_rules AS r ON r.rule_set_id = j.rule_set_id""",
    ),
    Raw(
        "view",
        "classify_parsing_configs",
        None,
        """CREATE VIEW classify_parsing_configs AS 
SELECT id AS job_id, lang, max_pages, target_pages, target_pages_source
FROM classify_jobs
WHERE parsing_configured""",
    ),
    Raw(
        "view",
        "classify_jobs_current",
        None,
        """CREATE VIEW classify_jobs_current AS 
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
    j.result_type,
    j.confidence,
    r.reasoning,
    (j.result_type IS NOT NULL) AS matched,
    j.rule_count,
    j.rule_types,
    j.lang,
    j.max_pages,
    j.target_pages,
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
LEFT JOIN classify_results AS r ON r.job_id = j.id""",
    ),
    Raw(
        "trigger",
        "classify_rule_stats_results_insert",
        "classify_results",
        """CREATE TRIGGER classify_rule_stats_results_insert AFTER INSERT ON classify_results
BEGIN
    INSERT INTO classify_rule_stats (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, 0, 1, 1 * (CASE WHEN t.type = NEW.type THEN 1 ELSE 0 END),
           1 * (CASE WHEN t.type = NEW.type THEN NEW.confidence ELSE 0 END)
    FROM (SELECT DISTINCT type FROM classify_rules WHERE job_id = NEW.job_id) AS t
    WHERE EXISTS (SELECT 1 FROM classify_jobs AS j WHERE j.id = NEW.job_id AND j.deleted_at IS NULL)
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = jobs_offered + excluded.jobs_offered,
        jobs_with_result = jobs_with_result + excluded.jobs_with_result,
        jobs_matched = jobs_matched + excluded.jobs_matched,
        confidence_sum = confidence_sum + excluded.confidence_sum;
END""",
    ),
    Raw(
        "trigger",
        "classify_rule_stats_results_delete",
        "classify_results",
        """CREATE TRIGGER classify_rule_stats_results_delete AFTER DELETE ON classify_results
BEGIN
    INSERT INTO classify_rule_stats (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, 0, -1, -1 * (CASE WHEN t.type = OLD.type THEN 1 ELSE 0 END),
           -1 * (CASE WHEN t.type = OLD.type THEN OLD.confidence ELSE 0 END)
    FROM (SELECT DISTINCT type FROM classify_rules WHERE job_id = OLD.job_id) AS t
    WHERE EXISTS (SELECT 1 FROM classify_jobs AS j WHERE j.id = OLD.job_id AND j.deleted_at IS NULL)
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = jobs_offered + excluded.jobs_offered,
        jobs_with_result = jobs_with_result + excluded.jobs_with_result,
        jobs_matched = jobs_matched + excluded.jobs_matched,
        confidence_sum = confidence_sum + excluded.confidence_sum;
END""",
    ),
    Raw(
        "trigger",
        "classify_rule_stats_results_update",
        "classify_results",
        """CREATE TRIGGER classify_rule_stats_results_update AFTER UPDATE ON classify_results
BEGIN
    INSERT INTO classify_rule_stats (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, 0, -1, -1 * (CASE WHEN t.type = OLD.type THEN 1 ELSE 0 END),
           -1 * (CASE WHEN t.type = OLD.type THEN OLD.confidence ELSE 0 END)
    FROM (SELECT DISTINCT type FROM classify_rules WHERE job_id = OLD.job_id) AS t
    WHERE EXISTS (SELECT 1 FROM classify_jobs AS j WHERE j.id = OLD.job_id AND j.deleted_at IS NULL)
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = jobs_offered + excluded.jobs_offered,
        jobs_with_result = jobs_with_result + excluded.jobs_with_result,
        jobs_matched = jobs_matched + excluded.jobs_matched,
        confidence_sum = confidence_sum + excluded.confidence_sum;
    INSERT INTO classify_rule_stats (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, 0, 1, 1 * (CASE WHEN t.type = NEW.type THEN 1 ELSE 0 END),
           1 * (CASE WHEN t.type = NEW.type THEN NEW.confidence ELSE 0 END)
    FROM (SELECT DISTINCT type FROM classify_rules WHERE job_id = NEW.job_id) AS t
    WHERE EXISTS (SELECT 1 FROM classify_jobs AS j WHERE j.id = NEW.job_id AND j.deleted_at IS NULL)
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = jobs_offered + excluded.jobs_offered,
        jobs_with_result = jobs_with_result + excluded.jobs_with_result,
        jobs_matched = jobs_matched + excluded.jobs_matched,
        confidence_sum = confidence_sum + excluded.confidence_sum;
END""",
    ),
    Raw(
        "trigger",
        "classify_daily_stats_jobs_insert",
        "classify_jobs",
        """CREATE TRIGGER classify_daily_stats_jobs_insert AFTER INSERT ON classify_jobs
BEGIN
    INSERT INTO classify_daily_stats (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * c.conf), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(DATE(x.created_at), '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (SELECT NEW.created_at, NEW.project_id, NEW.status, NEW.v2_usage_credits AS credits, r.type AS rtype, r.confidence AS conf, 1 AS d FROM (SELECT 1) AS one LEFT JOIN classify_results AS r ON r.job_id = NEW.id WHERE NEW.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = jobs + excluded.jobs, confidence_sum = confidence_sum + excluded.confidence_sum, jobs_with_usage = jobs_with_usage + excluded.jobs_with_usage, credits_micro = credits_micro + excluded.credits_micro, tenth_0 = tenth_0 + excluded.tenth_0, tenth_1 = tenth_1 + excluded.tenth_1, tenth_2 = tenth_2 + excluded.tenth_2, tenth_3 = tenth_3 + excluded.tenth_3, tenth_4 = tenth_4 + excluded.tenth_4, tenth_5 = tenth_5 + excluded.tenth_5, tenth_6 = tenth_6 + excluded.tenth_6, tenth_7 = tenth_7 + excluded.tenth_7, tenth_8 = tenth_8 + excluded.tenth_8, tenth_9 = tenth_9 + excluded.tenth_9;
END""",
    ),
    Raw(
        "trigger",
        "classify_daily_stats_jobs_update",
        "classify_jobs",
        """CREATE TRIGGER classify_daily_stats_jobs_update AFTER UPDATE ON classify_jobs WHEN OLD.created_at IS NOT NEW.created_at OR OLD.project_id IS NOT NEW.project_id OR OLD.status IS NOT NEW.status OR OLD.v2_usage_credits IS NOT NEW.v2_usage_credits OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
BEGIN
    INSERT INTO classify_daily_stats (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * c.conf), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(DATE(x.created_at), '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (SELECT OLD.created_at, OLD.project_id, OLD.status, OLD.v2_usage_credits AS credits, r.type AS rtype, r.confidence AS conf, -1 AS d FROM (SELECT 1) AS one LEFT JOIN classify_results AS r ON r.job_id = OLD.id WHERE OLD.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = jobs + excluded.jobs, confidence_sum = confidence_sum + excluded.confidence_sum, jobs_with_usage = jobs_with_usage + excluded.jobs_with_usage, credits_micro = credits_micro + excluded.credits_micro, tenth_0 = tenth_0 + excluded.tenth_0, tenth_1 = tenth_1 + excluded.tenth_1, tenth_2 = tenth_2 + excluded.tenth_2, tenth_3 = tenth_3 + excluded.tenth_3, tenth_4 = tenth_4 + excluded.tenth_4, tenth_5 = tenth_5 + excluded.tenth_5, tenth_6 = tenth_6 + excluded.tenth_6, tenth_7 = tenth_7 + excluded.tenth_7, tenth_8 = tenth_8 + excluded.tenth_8, tenth_9 = tenth_9 + excluded.tenth_9;
    INSERT INTO classify_daily_stats (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * c.conf), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(DATE(x.created_at), '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (SELECT NEW.created_at, NEW.project_id, NEW.status, NEW.v2_usage_credits AS credits, r.type AS rtype, r.confidence AS conf, 1 AS d FROM (SELECT 1) AS one LEFT JOIN classify_results AS r ON r.job_id = NEW.id WHERE NEW.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = jobs + excluded.jobs, confidence_sum = confidence_sum + excluded.confidence_sum, jobs_with_usage = jobs_with_usage + excluded.jobs_with_usage, credits_micro = credits_micro + excluded.credits_micro, tenth_0 = tenth_0 + excluded.tenth_0, tenth_1 = tenth_1 + excluded.tenth_1, tenth_2 = tenth_2 + excluded.tenth_2, tenth_3 = tenth_3 + excluded.tenth_3, tenth_4 = tenth_4 + excluded.tenth_4, tenth_5 = tenth_5 + excluded.tenth_5, tenth_6 = tenth_6 + excluded.tenth_6, tenth_7 = tenth_7 + excluded.tenth_7, tenth_8 = tenth_8 + excluded.tenth_8, tenth_9 = tenth_9 + excluded.tenth_9;
END""",
    ),
    Raw(
        "trigger",
        "classify_summary_stats_jobs_delete",
        "classify_jobs",
        """CREATE TRIGGER classify_summary_stats_jobs_delete BEFORE DELETE ON classify_jobs WHEN OLD.deleted_at IS NULL
BEGIN
    INSERT INTO classify_daily_stats (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * c.conf), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(DATE(x.created_at), '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (SELECT OLD.created_at, OLD.project_id, OLD.status, OLD.v2_usage_credits AS credits, r.type AS rtype, r.confidence AS conf, -1 AS d FROM (SELECT 1) AS one LEFT JOIN classify_results AS r ON r.job_id = OLD.id WHERE OLD.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = jobs + excluded.jobs, confidence_sum = confidence_sum + excluded.confidence_sum, jobs_with_usage = jobs_with_usage + excluded.jobs_with_usage, credits_micro = credits_micro + excluded.credits_micro, tenth_0 = tenth_0 + excluded.tenth_0, tenth_1 = tenth_1 + excluded.tenth_1, tenth_2 = tenth_2 + excluded.tenth_2, tenth_3 = tenth_3 + excluded.tenth_3, tenth_4 = tenth_4 + excluded.tenth_4, tenth_5 = tenth_5 + excluded.tenth_5, tenth_6 = tenth_6 + excluded.tenth_6, tenth_7 = tenth_7 + excluded.tenth_7, tenth_8 = tenth_8 + excluded.tenth_8, tenth_9 = tenth_9 + excluded.tenth_9;
    INSERT INTO classify_page_stats (page_number, jobs)
    
    SELECT c.page_number, SUM(c.d) FROM (SELECT page_number, -1 AS d FROM classify_target_pages WHERE job_id = OLD.id) AS c
    WHERE c.d <> 0
    GROUP BY c.page_number
    ON CONFLICT (page_number) DO UPDATE SET
        jobs = jobs + excluded.jobs;
END""",
    ),
    Raw(
        "trigger",
        "classify_daily_stats_results_insert",
        "classify_results",
        """CREATE TRIGGER classify_daily_stats_results_insert AFTER INSERT ON classify_results
BEGIN
    INSERT INTO classify_daily_stats (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * c.conf), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(DATE(x.created_at), '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits, NULL AS rtype, NULL AS conf, -1 AS d FROM classify_jobs AS j WHERE j.id = NEW.job_id AND j.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = jobs + excluded.jobs, confidence_sum = confidence_sum + excluded.confidence_sum, jobs_with_usage = jobs_with_usage + excluded.jobs_with_usage, credits_micro = credits_micro + excluded.credits_micro, tenth_0 = tenth_0 + excluded.tenth_0, tenth_1 = tenth_1 + excluded.tenth_1, tenth_2 = tenth_2 + excluded.tenth_2, tenth_3 = tenth_3 + excluded.tenth_3, tenth_4 = tenth_4 + excluded.tenth_4, tenth_5 = tenth_5 + excluded.tenth_5, tenth_6 = tenth_6 + excluded.tenth_6, tenth_7 = tenth_7 + excluded.tenth_7, tenth_8 = tenth_8 + excluded.tenth_8, tenth_9 = tenth_9 + excluded.tenth_9;
    INSERT INTO classify_daily_stats (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * c.conf), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(DATE(x.created_at), '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits, NEW.type AS rtype, NEW.confidence AS conf, 1 AS d FROM classify_jobs AS j WHERE j.id = NEW.job_id AND j.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = jobs + excluded.jobs, confidence_sum = confidence_sum + excluded.confidence_sum, jobs_with_usage = jobs_with_usage + excluded.jobs_with_usage, credits_micro = credits_micro + excluded.credits_micro, tenth_0 = tenth_0 + excluded.tenth_0, tenth_1 = tenth_1 + excluded.tenth_1, tenth_2 = tenth_2 + excluded.tenth_2, tenth_3 = tenth_3 + excluded.tenth_3, tenth_4 = tenth_4 + excluded.tenth_4, tenth_5 = tenth_5 + excluded.tenth_5, tenth_6 = tenth_6 + excluded.tenth_6, tenth_7 = tenth_7 + excluded.tenth_7, tenth_8 = tenth_8 + excluded.tenth_8, tenth_9 = tenth_9 + excluded.tenth_9;
END""",
    ),
    Raw(
        "trigger",
        "classify_daily_stats_results_delete",
        "classify_results",
        """CREATE TRIGGER classify_daily_stats_results_delete AFTER DELETE ON classify_results
BEGIN
    INSERT INTO classify_daily_stats (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * c.conf), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(DATE(x.created_at), '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits, OLD.type AS rtype, OLD.confidence AS conf, -1 AS d FROM classify_jobs AS j WHERE j.id = OLD.job_id AND j.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = jobs + excluded.jobs, confidence_sum = confidence_sum + excluded.confidence_sum, jobs_with_usage = jobs_with_usage + excluded.jobs_with_usage, credits_micro = credits_micro + excluded.credits_micro, tenth_0 = tenth_0 + excluded.tenth_0, tenth_1 = tenth_1 + excluded.tenth_1, tenth_2 = tenth_2 + excluded.tenth_2, tenth_3 = tenth_3 + excluded.tenth_3, tenth_4 = tenth_4 + excluded.tenth_4, tenth_5 = tenth_5 + excluded.tenth_5, tenth_6 = tenth_6 + excluded.tenth_6, tenth_7 = tenth_7 + excluded.tenth_7, tenth_8 = tenth_8 + excluded.tenth_8, tenth_9 = tenth_9 + excluded.tenth_9;
    INSERT INTO classify_daily_stats (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * c.conf), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(DATE(x.created_at), '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits, NULL AS rtype, NULL AS conf, 1 AS d FROM classify_jobs AS j WHERE j.id = OLD.job_id AND j.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = jobs + excluded.jobs, confidence_sum = confidence_sum + excluded.confidence_sum, jobs_with_usage = jobs_with_usage + excluded.jobs_with_usage, credits_micro = credits_micro + excluded.credits_micro, tenth_0 = tenth_0 + excluded.tenth_0, tenth_1 = tenth_1 + excluded.tenth_1, tenth_2 = tenth_2 + excluded.tenth_2, tenth_3 = tenth_3 + excluded.tenth_3, tenth_4 = tenth_4 + excluded.tenth_4, tenth_5 = tenth_5 + excluded.tenth_5, tenth_6 = tenth_6 + excluded.tenth_6, tenth_7 = tenth_7 + excluded.tenth_7, tenth_8 = tenth_8 + excluded.tenth_8, tenth_9 = tenth_9 + excluded.tenth_9;
END""",
    ),
    Raw(
        "trigger",
        "classify_daily_stats_results_update",
        "classify_results",
        """CREATE TRIGGER classify_daily_stats_results_update AFTER UPDATE ON classify_results WHEN OLD.job_id IS NOT NEW.job_id OR OLD.type IS NOT NEW.type OR OLD.confidence IS NOT NEW.confidence
BEGIN
    INSERT INTO classify_daily_stats (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * c.conf), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(DATE(x.created_at), '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits, OLD.type AS rtype, OLD.confidence AS conf, -1 AS d FROM classify_jobs AS j WHERE j.id = OLD.job_id AND j.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = jobs + excluded.jobs, confidence_sum = confidence_sum + excluded.confidence_sum, jobs_with_usage = jobs_with_usage + excluded.jobs_with_usage, credits_micro = credits_micro + excluded.credits_micro, tenth_0 = tenth_0 + excluded.tenth_0, tenth_1 = tenth_1 + excluded.tenth_1, tenth_2 = tenth_2 + excluded.tenth_2, tenth_3 = tenth_3 + excluded.tenth_3, tenth_4 = tenth_4 + excluded.tenth_4, tenth_5 = tenth_5 + excluded.tenth_5, tenth_6 = tenth_6 + excluded.tenth_6, tenth_7 = tenth_7 + excluded.tenth_7, tenth_8 = tenth_8 + excluded.tenth_8, tenth_9 = tenth_9 + excluded.tenth_9;
    INSERT INTO classify_daily_stats (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * c.conf), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(DATE(x.created_at), '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits, NULL AS rtype, NULL AS conf, 1 AS d FROM classify_jobs AS j WHERE j.id = OLD.job_id AND j.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = jobs + excluded.jobs, confidence_sum = confidence_sum + excluded.confidence_sum, jobs_with_usage = jobs_with_usage + excluded.jobs_with_usage, credits_micro = credits_micro + excluded.credits_micro, tenth_0 = tenth_0 + excluded.tenth_0, tenth_1 = tenth_1 + excluded.tenth_1, tenth_2 = tenth_2 + excluded.tenth_2, tenth_3 = tenth_3 + excluded.tenth_3, tenth_4 = tenth_4 + excluded.tenth_4, tenth_5 = tenth_5 + excluded.tenth_5, tenth_6 = tenth_6 + excluded.tenth_6, tenth_7 = tenth_7 + excluded.tenth_7, tenth_8 = tenth_8 + excluded.tenth_8, tenth_9 = tenth_9 + excluded.tenth_9;
    INSERT INTO classify_daily_stats (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * c.conf), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(DATE(x.created_at), '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits, NULL AS rtype, NULL AS conf, -1 AS d FROM classify_jobs AS j WHERE j.id = NEW.job_id AND j.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = jobs + excluded.jobs, confidence_sum = confidence_sum + excluded.confidence_sum, jobs_with_usage = jobs_with_usage + excluded.jobs_with_usage, credits_micro = credits_micro + excluded.credits_micro, tenth_0 = tenth_0 + excluded.tenth_0, tenth_1 = tenth_1 + excluded.tenth_1, tenth_2 = tenth_2 + excluded.tenth_2, tenth_3 = tenth_3 + excluded.tenth_3, tenth_4 = tenth_4 + excluded.tenth_4, tenth_5 = tenth_5 + excluded.tenth_5, tenth_6 = tenth_6 + excluded.tenth_6, tenth_7 = tenth_7 + excluded.tenth_7, tenth_8 = tenth_8 + excluded.tenth_8, tenth_9 = tenth_9 + excluded.tenth_9;
    INSERT INTO classify_daily_stats (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * c.conf), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(DATE(x.created_at), '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits, NEW.type AS rtype, NEW.confidence AS conf, 1 AS d FROM classify_jobs AS j WHERE j.id = NEW.job_id AND j.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = jobs + excluded.jobs, confidence_sum = confidence_sum + excluded.confidence_sum, jobs_with_usage = jobs_with_usage + excluded.jobs_with_usage, credits_micro = credits_micro + excluded.credits_micro, tenth_0 = tenth_0 + excluded.tenth_0, tenth_1 = tenth_1 + excluded.tenth_1, tenth_2 = tenth_2 + excluded.tenth_2, tenth_3 = tenth_3 + excluded.tenth_3, tenth_4 = tenth_4 + excluded.tenth_4, tenth_5 = tenth_5 + excluded.tenth_5, tenth_6 = tenth_6 + excluded.tenth_6, tenth_7 = tenth_7 + excluded.tenth_7, tenth_8 = tenth_8 + excluded.tenth_8, tenth_9 = tenth_9 + excluded.tenth_9;
END""",
    ),
    Raw(
        "trigger",
        "classify_page_stats_pages_insert",
        "classify_target_pages",
        """CREATE TRIGGER classify_page_stats_pages_insert AFTER INSERT ON classify_target_pages
BEGIN
    INSERT INTO classify_page_stats (page_number, jobs)
    
    SELECT c.page_number, SUM(c.d) FROM (SELECT NEW.page_number AS page_number, 1 AS d FROM classify_jobs AS j WHERE j.id = NEW.job_id AND j.deleted_at IS NULL) AS c
    WHERE c.d <> 0
    GROUP BY c.page_number
    ON CONFLICT (page_number) DO UPDATE SET
        jobs = jobs + excluded.jobs;
END""",
    ),
    Raw(
        "trigger",
        "classify_page_stats_pages_delete",
        "classify_target_pages",
        """CREATE TRIGGER classify_page_stats_pages_delete AFTER DELETE ON classify_target_pages
BEGIN
    INSERT INTO classify_page_stats (page_number, jobs)
    
    SELECT c.page_number, SUM(c.d) FROM (SELECT OLD.page_number AS page_number, -1 AS d FROM classify_jobs AS j WHERE j.id = OLD.job_id AND j.deleted_at IS NULL) AS c
    WHERE c.d <> 0
    GROUP BY c.page_number
    ON CONFLICT (page_number) DO UPDATE SET
        jobs = jobs + excluded.jobs;
END""",
    ),
    Raw(
        "trigger",
        "classify_page_stats_pages_update",
        "classify_target_pages",
        """CREATE TRIGGER classify_page_stats_pages_update AFTER UPDATE ON classify_target_pages
BEGIN
    INSERT INTO classify_page_stats (page_number, jobs)
    
    SELECT c.page_number, SUM(c.d) FROM (SELECT OLD.page_number AS page_number, -1 AS d FROM classify_jobs AS j WHERE j.id = OLD.job_id AND j.deleted_at IS NULL) AS c
    WHERE c.d <> 0
    GROUP BY c.page_number
    ON CONFLICT (page_number) DO UPDATE SET
        jobs = jobs + excluded.jobs;
    INSERT INTO classify_page_stats (page_number, jobs)
    
    SELECT c.page_number, SUM(c.d) FROM (SELECT NEW.page_number AS page_number, 1 AS d FROM classify_jobs AS j WHERE j.id = NEW.job_id AND j.deleted_at IS NULL) AS c
    WHERE c.d <> 0
    GROUP BY c.page_number
    ON CONFLICT (page_number) DO UPDATE SET
        jobs = jobs + excluded.jobs;
END""",
    ),
    Raw(
        "trigger",
        "classify_page_stats_jobs_tombstone",
        "classify_jobs",
        """CREATE TRIGGER classify_page_stats_jobs_tombstone AFTER UPDATE OF deleted_at ON classify_jobs WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
BEGIN
    INSERT INTO classify_page_stats (page_number, jobs)
    
    SELECT c.page_number, SUM(c.d) FROM (SELECT page_number, -1 AS d FROM classify_target_pages WHERE job_id = NEW.id) AS c
    WHERE c.d <> 0
    GROUP BY c.page_number
    ON CONFLICT (page_number) DO UPDATE SET
        jobs = jobs + excluded.jobs;
END""",
    ),
    Raw(
        "trigger",
        "classify_page_stats_jobs_restore",
        "classify_jobs",
        """CREATE TRIGGER classify_page_stats_jobs_restore AFTER UPDATE OF deleted_at ON classify_jobs WHEN OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL
BEGIN
    INSERT INTO classify_page_stats (page_number, jobs)
    
    SELECT c.page_number, SUM(c.d) FROM (SELECT page_number, 1 AS d FROM classify_target_pages WHERE job_id = NEW.id) AS c
    WHERE c.d <> 0
    GROUP BY c.page_number
    ON CONFLICT (page_number) DO UPDATE SET
        jobs = jobs + excluded.jobs;
END""",
    ),
    Raw(
        "trigger",
        "classify_rule_stats_jobs_insert",
        "classify_jobs",
        """CREATE TRIGGER classify_rule_stats_jobs_insert AFTER INSERT ON classify_jobs
BEGIN
    INSERT INTO classify_rule_stats (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, 1, 1 * COUNT(r.job_id), 1 * COUNT(CASE WHEN r.type = t.type THEN 1 END),
           1 * COALESCE(SUM(CASE WHEN r.type = t.type THEN r.confidence END), 0)
    FROM (SELECT DISTINCT type FROM classify_rule_set_rules WHERE rule_set_id = NEW.rule_set_id) AS t
    LEFT JOIN classify_results AS r ON r.job_id = NEW.id
    WHERE NEW.deleted_at IS NULL
    GROUP BY t.type
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = jobs_offered + excluded.jobs_offered,
        jobs_with_result = jobs_with_result + excluded.jobs_with_result,
        jobs_matched = jobs_matched + excluded.jobs_matched,
        confidence_sum = confidence_sum + excluded.confidence_sum;
END""",
    ),
    Raw(
        "trigger",
        "classify_rule_stats_jobs_update",
        "classify_jobs",
        """CREATE TRIGGER classify_rule_stats_jobs_update AFTER UPDATE ON classify_jobs WHEN OLD.rule_set_id IS NOT NEW.rule_set_id OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
BEGIN
    INSERT INTO classify_rule_stats (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, -1, -1 * COUNT(r.job_id), -1 * COUNT(CASE WHEN r.type = t.type THEN 1 END),
           -1 * COALESCE(SUM(CASE WHEN r.type = t.type THEN r.confidence END), 0)
    FROM (SELECT DISTINCT type FROM classify_rule_set_rules WHERE rule_set_id = OLD.rule_set_id) AS t
    LEFT JOIN classify_results AS r ON r.job_id = OLD.id
    WHERE OLD.deleted_at IS NULL
    GROUP BY t.type
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = jobs_offered + excluded.jobs_offered,
        jobs_with_result = jobs_with_result + excluded.jobs_with_result,
        jobs_matched = jobs_matched + excluded.jobs_matched,
        confidence_sum = confidence_sum + excluded.confidence_sum;
    INSERT INTO classify_rule_stats (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, 1, 1 * COUNT(r.job_id), 1 * COUNT(CASE WHEN r.type = t.type THEN 1 END),
           1 * COALESCE(SUM(CASE WHEN r.type = t.type THEN r.confidence END), 0)
    FROM (SELECT DISTINCT type FROM classify_rule_set_rules WHERE rule_set_id = NEW.rule_set_id) AS t
    LEFT JOIN classify_results AS r ON r.job_id = NEW.id
    WHERE NEW.deleted_at IS NULL
    GROUP BY t.type
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = jobs_offered + excluded.jobs_offered,
        jobs_with_result = jobs_with_result + excluded.jobs_with_result,
        jobs_matched = jobs_matched + excluded.jobs_matched,
        confidence_sum = confidence_sum + excluded.confidence_sum;
END""",
    ),
    Raw(
        "trigger",
        "classify_rule_stats_jobs_delete",
        "classify_jobs",
        """CREATE TRIGGER classify_rule_stats_jobs_delete BEFORE DELETE ON classify_jobs
BEGIN
    INSERT INTO classify_rule_stats (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, -1, -1 * COUNT(r.job_id), -1 * COUNT(CASE WHEN r.type = t.type THEN 1 END),
           -1 * COALESCE(SUM(CASE WHEN r.type = t.type THEN r.confidence END), 0)
    FROM (SELECT DISTINCT type FROM classify_rule_set_rules WHERE rule_set_id = OLD.rule_set_id) AS t
    LEFT JOIN classify_results AS r ON r.job_id = OLD.id
    WHERE OLD.deleted_at IS NULL
    GROUP BY t.type
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = jobs_offered + excluded.jobs_offered,
        jobs_with_result = jobs_with_result + excluded.jobs_with_result,
        jobs_matched = jobs_matched + excluded.jobs_matched,
        confidence_sum = confidence_sum + excluded.confidence_sum;
END""",
    ),
)

POSTGRESQL: tuple[Raw, ...] = (
    Raw(
        "function",
        "classify_rule_stats_results_insert",
        None,
        """CREATE FUNCTION classify_rule_stats_results_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_rule_stats AS s (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, 0, SUM(c.d), SUM(CASE WHEN c.type = t.type THEN c.d ELSE 0 END),
           COALESCE(SUM(CASE WHEN c.type = t.type THEN c.d * CAST(c.confidence AS NUMERIC) END), 0)
    FROM (SELECT job_id, type, confidence, -1 AS d FROM (SELECT job_id, type, confidence FROM classify_results WHERE 1 = 0) AS o
          UNION ALL SELECT job_id, type, confidence, 1 FROM new_rows AS n) AS c
    CROSS JOIN LATERAL (SELECT 1 AS live FROM classify_jobs AS j WHERE j.id = c.job_id AND j.deleted_at IS NULL OFFSET 0) AS j
    CROSS JOIN LATERAL (SELECT DISTINCT type FROM classify_rules AS x WHERE x.job_id = c.job_id) AS t
    GROUP BY t.type
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = s.jobs_offered + EXCLUDED.jobs_offered,
        jobs_with_result = s.jobs_with_result + EXCLUDED.jobs_with_result,
        jobs_matched = s.jobs_matched + EXCLUDED.jobs_matched,
        confidence_sum = s.confidence_sum + EXCLUDED.confidence_sum;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_rule_stats_results_delete",
        None,
        """CREATE FUNCTION classify_rule_stats_results_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_rule_stats AS s (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, 0, SUM(c.d), SUM(CASE WHEN c.type = t.type THEN c.d ELSE 0 END),
           COALESCE(SUM(CASE WHEN c.type = t.type THEN c.d * CAST(c.confidence AS NUMERIC) END), 0)
    FROM (SELECT job_id, type, confidence, -1 AS d FROM old_rows AS o
          UNION ALL SELECT job_id, type, confidence, 1 FROM (SELECT job_id, type, confidence FROM classify_results WHERE 1 = 0) AS n) AS c
    CROSS JOIN LATERAL (SELECT 1 AS live FROM classify_jobs AS j WHERE j.id = c.job_id AND j.deleted_at IS NULL OFFSET 0) AS j
    CROSS JOIN LATERAL (SELECT DISTINCT type FROM classify_rules AS x WHERE x.job_id = c.job_id) AS t
    GROUP BY t.type
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = s.jobs_offered + EXCLUDED.jobs_offered,
        jobs_with_result = s.jobs_with_result + EXCLUDED.jobs_with_result,
        jobs_matched = s.jobs_matched + EXCLUDED.jobs_matched,
        confidence_sum = s.confidence_sum + EXCLUDED.confidence_sum;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_rule_stats_results_update",
        None,
        """CREATE FUNCTION classify_rule_stats_results_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_rule_stats AS s (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, 0, SUM(c.d), SUM(CASE WHEN c.type = t.type THEN c.d ELSE 0 END),
           COALESCE(SUM(CASE WHEN c.type = t.type THEN c.d * CAST(c.confidence AS NUMERIC) END), 0)
    FROM (SELECT job_id, type, confidence, -1 AS d FROM old_rows AS o
          UNION ALL SELECT job_id, type, confidence, 1 FROM new_rows AS n) AS c
    CROSS JOIN LATERAL (SELECT 1 AS live FROM classify_jobs AS j WHERE j.id = c.job_id AND j.deleted_at IS NULL OFFSET 0) AS j
    CROSS JOIN LATERAL (SELECT DISTINCT type FROM classify_rules AS x WHERE x.job_id = c.job_id) AS t
    GROUP BY t.type
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = s.jobs_offered + EXCLUDED.jobs_offered,
        jobs_with_result = s.jobs_with_result + EXCLUDED.jobs_with_result,
        jobs_matched = s.jobs_matched + EXCLUDED.jobs_matched,
        confidence_sum = s.confidence_sum + EXCLUDED.confidence_sum;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_daily_stats_jobs_insert",
        None,
        """CREATE FUNCTION classify_daily_stats_jobs_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_daily_stats AS s (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * CAST(c.conf AS NUMERIC)), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(CAST(x.created_at AT TIME ZONE 'UTC' AS DATE), DATE '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (
        SELECT x.created_at, x.project_id, x.status, x.v2_usage_credits AS credits,
               r.type AS rtype, r.confidence AS conf, x.d
        FROM (SELECT new_rows.id, new_rows.created_at, new_rows.project_id, new_rows.status, new_rows.v2_usage_credits, new_rows.deleted_at, 1 AS d FROM new_rows) AS x
        LEFT JOIN LATERAL (SELECT r.type, r.confidence FROM classify_results AS r WHERE r.job_id = x.id OFFSET 0) AS r ON TRUE
        WHERE x.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = s.jobs + EXCLUDED.jobs, confidence_sum = s.confidence_sum + EXCLUDED.confidence_sum, jobs_with_usage = s.jobs_with_usage + EXCLUDED.jobs_with_usage, credits_micro = s.credits_micro + EXCLUDED.credits_micro, tenth_0 = s.tenth_0 + EXCLUDED.tenth_0, tenth_1 = s.tenth_1 + EXCLUDED.tenth_1, tenth_2 = s.tenth_2 + EXCLUDED.tenth_2, tenth_3 = s.tenth_3 + EXCLUDED.tenth_3, tenth_4 = s.tenth_4 + EXCLUDED.tenth_4, tenth_5 = s.tenth_5 + EXCLUDED.tenth_5, tenth_6 = s.tenth_6 + EXCLUDED.tenth_6, tenth_7 = s.tenth_7 + EXCLUDED.tenth_7, tenth_8 = s.tenth_8 + EXCLUDED.tenth_8, tenth_9 = s.tenth_9 + EXCLUDED.tenth_9;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_daily_stats_jobs_update",
        None,
        """CREATE FUNCTION classify_daily_stats_jobs_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_daily_stats AS s (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * CAST(c.conf AS NUMERIC)), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(CAST(x.created_at AT TIME ZONE 'UTC' AS DATE), DATE '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (
        SELECT x.created_at, x.project_id, x.status, x.v2_usage_credits AS credits,
               r.type AS rtype, r.confidence AS conf, x.d
        FROM (SELECT n.id, n.created_at, n.project_id, n.status, n.v2_usage_credits, n.deleted_at, 1 AS d FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id WHERE (n.created_at, n.project_id, n.status, n.v2_usage_credits, n.deleted_at IS NULL) IS DISTINCT FROM (o.created_at, o.project_id, o.status, o.v2_usage_credits, o.deleted_at IS NULL) UNION ALL SELECT o.id, o.created_at, o.project_id, o.status, o.v2_usage_credits, o.deleted_at, -1 AS d FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id WHERE (n.created_at, n.project_id, n.status, n.v2_usage_credits, n.deleted_at IS NULL) IS DISTINCT FROM (o.created_at, o.project_id, o.status, o.v2_usage_credits, o.deleted_at IS NULL)) AS x
        LEFT JOIN LATERAL (SELECT r.type, r.confidence FROM classify_results AS r WHERE r.job_id = x.id OFFSET 0) AS r ON TRUE
        WHERE x.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = s.jobs + EXCLUDED.jobs, confidence_sum = s.confidence_sum + EXCLUDED.confidence_sum, jobs_with_usage = s.jobs_with_usage + EXCLUDED.jobs_with_usage, credits_micro = s.credits_micro + EXCLUDED.credits_micro, tenth_0 = s.tenth_0 + EXCLUDED.tenth_0, tenth_1 = s.tenth_1 + EXCLUDED.tenth_1, tenth_2 = s.tenth_2 + EXCLUDED.tenth_2, tenth_3 = s.tenth_3 + EXCLUDED.tenth_3, tenth_4 = s.tenth_4 + EXCLUDED.tenth_4, tenth_5 = s.tenth_5 + EXCLUDED.tenth_5, tenth_6 = s.tenth_6 + EXCLUDED.tenth_6, tenth_7 = s.tenth_7 + EXCLUDED.tenth_7, tenth_8 = s.tenth_8 + EXCLUDED.tenth_8, tenth_9 = s.tenth_9 + EXCLUDED.tenth_9;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_daily_stats_results_insert",
        None,
        """CREATE FUNCTION classify_daily_stats_results_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_daily_stats AS s (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * CAST(c.conf AS NUMERIC)), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(CAST(x.created_at AT TIME ZONE 'UTC' AS DATE), DATE '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (
        SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits,
               c.type AS rtype, c.confidence AS conf, c.d
        FROM (
            SELECT job_id, type, confidence, 1 AS d FROM new_rows AS n
            UNION ALL SELECT job_id, NULL, NULL, -1 FROM new_rows AS n
            UNION ALL SELECT job_id, type, confidence, -1 FROM (SELECT job_id, type, confidence FROM classify_results WHERE 1 = 0) AS o
            UNION ALL SELECT job_id, NULL, NULL, 1 FROM (SELECT job_id, type, confidence FROM classify_results WHERE 1 = 0) AS o
        ) AS c
        CROSS JOIN LATERAL (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits FROM classify_jobs AS j WHERE j.id = c.job_id AND j.deleted_at IS NULL OFFSET 0) AS j) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = s.jobs + EXCLUDED.jobs, confidence_sum = s.confidence_sum + EXCLUDED.confidence_sum, jobs_with_usage = s.jobs_with_usage + EXCLUDED.jobs_with_usage, credits_micro = s.credits_micro + EXCLUDED.credits_micro, tenth_0 = s.tenth_0 + EXCLUDED.tenth_0, tenth_1 = s.tenth_1 + EXCLUDED.tenth_1, tenth_2 = s.tenth_2 + EXCLUDED.tenth_2, tenth_3 = s.tenth_3 + EXCLUDED.tenth_3, tenth_4 = s.tenth_4 + EXCLUDED.tenth_4, tenth_5 = s.tenth_5 + EXCLUDED.tenth_5, tenth_6 = s.tenth_6 + EXCLUDED.tenth_6, tenth_7 = s.tenth_7 + EXCLUDED.tenth_7, tenth_8 = s.tenth_8 + EXCLUDED.tenth_8, tenth_9 = s.tenth_9 + EXCLUDED.tenth_9;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_daily_stats_results_delete",
        None,
        """CREATE FUNCTION classify_daily_stats_results_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_daily_stats AS s (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * CAST(c.conf AS NUMERIC)), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(CAST(x.created_at AT TIME ZONE 'UTC' AS DATE), DATE '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (
        SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits,
               c.type AS rtype, c.confidence AS conf, c.d
        FROM (
            SELECT job_id, type, confidence, 1 AS d FROM (SELECT job_id, type, confidence FROM classify_results WHERE 1 = 0) AS n
            UNION ALL SELECT job_id, NULL, NULL, -1 FROM (SELECT job_id, type, confidence FROM classify_results WHERE 1 = 0) AS n
            UNION ALL SELECT job_id, type, confidence, -1 FROM old_rows AS o
            UNION ALL SELECT job_id, NULL, NULL, 1 FROM old_rows AS o
        ) AS c
        CROSS JOIN LATERAL (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits FROM classify_jobs AS j WHERE j.id = c.job_id AND j.deleted_at IS NULL OFFSET 0) AS j) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = s.jobs + EXCLUDED.jobs, confidence_sum = s.confidence_sum + EXCLUDED.confidence_sum, jobs_with_usage = s.jobs_with_usage + EXCLUDED.jobs_with_usage, credits_micro = s.credits_micro + EXCLUDED.credits_micro, tenth_0 = s.tenth_0 + EXCLUDED.tenth_0, tenth_1 = s.tenth_1 + EXCLUDED.tenth_1, tenth_2 = s.tenth_2 + EXCLUDED.tenth_2, tenth_3 = s.tenth_3 + EXCLUDED.tenth_3, tenth_4 = s.tenth_4 + EXCLUDED.tenth_4, tenth_5 = s.tenth_5 + EXCLUDED.tenth_5, tenth_6 = s.tenth_6 + EXCLUDED.tenth_6, tenth_7 = s.tenth_7 + EXCLUDED.tenth_7, tenth_8 = s.tenth_8 + EXCLUDED.tenth_8, tenth_9 = s.tenth_9 + EXCLUDED.tenth_9;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_daily_stats_results_update",
        None,
        """CREATE FUNCTION classify_daily_stats_results_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_daily_stats AS s (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * CAST(c.conf AS NUMERIC)), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(CAST(x.created_at AT TIME ZONE 'UTC' AS DATE), DATE '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (
        SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits,
               c.type AS rtype, c.confidence AS conf, c.d
        FROM (
            SELECT job_id, type, confidence, 1 AS d FROM new_rows AS n
            UNION ALL SELECT job_id, NULL, NULL, -1 FROM new_rows AS n
            UNION ALL SELECT job_id, type, confidence, -1 FROM old_rows AS o
            UNION ALL SELECT job_id, NULL, NULL, 1 FROM old_rows AS o
        ) AS c
        CROSS JOIN LATERAL (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits FROM classify_jobs AS j WHERE j.id = c.job_id AND j.deleted_at IS NULL OFFSET 0) AS j) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = s.jobs + EXCLUDED.jobs, confidence_sum = s.confidence_sum + EXCLUDED.confidence_sum, jobs_with_usage = s.jobs_with_usage + EXCLUDED.jobs_with_usage, credits_micro = s.credits_micro + EXCLUDED.credits_micro, tenth_0 = s.tenth_0 + EXCLUDED.tenth_0, tenth_1 = s.tenth_1 + EXCLUDED.tenth_1, tenth_2 = s.tenth_2 + EXCLUDED.tenth_2, tenth_3 = s.tenth_3 + EXCLUDED.tenth_3, tenth_4 = s.tenth_4 + EXCLUDED.tenth_4, tenth_5 = s.tenth_5 + EXCLUDED.tenth_5, tenth_6 = s.tenth_6 + EXCLUDED.tenth_6, tenth_7 = s.tenth_7 + EXCLUDED.tenth_7, tenth_8 = s.tenth_8 + EXCLUDED.tenth_8, tenth_9 = s.tenth_9 + EXCLUDED.tenth_9;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_page_stats_pages_insert",
        None,
        """CREATE FUNCTION classify_page_stats_pages_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_page_stats AS s (page_number, jobs)
    
    SELECT c.page_number, SUM(c.d) FROM (
        SELECT c.page_number, c.d
        FROM (SELECT job_id, page_number, 1 AS d FROM new_rows AS n
              UNION ALL SELECT job_id, page_number, -1 FROM (SELECT job_id, page_number FROM classify_target_pages WHERE 1 = 0) AS o) AS c
        CROSS JOIN LATERAL (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits FROM classify_jobs AS j WHERE j.id = c.job_id AND j.deleted_at IS NULL OFFSET 0) AS j) AS c
    WHERE c.d <> 0
    GROUP BY c.page_number
    ON CONFLICT (page_number) DO UPDATE SET
        jobs = s.jobs + EXCLUDED.jobs;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_page_stats_pages_delete",
        None,
        """CREATE FUNCTION classify_page_stats_pages_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_page_stats AS s (page_number, jobs)
    
    SELECT c.page_number, SUM(c.d) FROM (
        SELECT c.page_number, c.d
        FROM (SELECT job_id, page_number, 1 AS d FROM (SELECT job_id, page_number FROM classify_target_pages WHERE 1 = 0) AS n
              UNION ALL SELECT job_id, page_number, -1 FROM old_rows AS o) AS c
        CROSS JOIN LATERAL (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits FROM classify_jobs AS j WHERE j.id = c.job_id AND j.deleted_at IS NULL OFFSET 0) AS j) AS c
    WHERE c.d <> 0
    GROUP BY c.page_number
    ON CONFLICT (page_number) DO UPDATE SET
        jobs = s.jobs + EXCLUDED.jobs;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_page_stats_pages_update",
        None,
        """CREATE FUNCTION classify_page_stats_pages_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_page_stats AS s (page_number, jobs)
    
    SELECT c.page_number, SUM(c.d) FROM (
        SELECT c.page_number, c.d
        FROM (SELECT job_id, page_number, 1 AS d FROM new_rows AS n
              UNION ALL SELECT job_id, page_number, -1 FROM old_rows AS o) AS c
        CROSS JOIN LATERAL (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits FROM classify_jobs AS j WHERE j.id = c.job_id AND j.deleted_at IS NULL OFFSET 0) AS j) AS c
    WHERE c.d <> 0
    GROUP BY c.page_number
    ON CONFLICT (page_number) DO UPDATE SET
        jobs = s.jobs + EXCLUDED.jobs;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_page_stats_jobs_update",
        None,
        """CREATE FUNCTION classify_page_stats_jobs_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_page_stats AS s (page_number, jobs)
    
    SELECT c.page_number, SUM(c.d) FROM (
        SELECT p.page_number, x.d
        FROM (SELECT n.id, (CASE WHEN n.deleted_at IS NULL THEN 1 ELSE 0 END) - (CASE WHEN o.deleted_at IS NULL THEN 1 ELSE 0 END) AS d FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id WHERE (n.deleted_at IS NULL) <> (o.deleted_at IS NULL)) AS x
        CROSS JOIN LATERAL (SELECT p.page_number FROM classify_target_pages AS p
                            WHERE p.job_id = x.id OFFSET 0) AS p) AS c
    WHERE c.d <> 0
    GROUP BY c.page_number
    ON CONFLICT (page_number) DO UPDATE SET
        jobs = s.jobs + EXCLUDED.jobs;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_summary_stats_jobs_delete",
        None,
        """CREATE FUNCTION classify_summary_stats_jobs_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_daily_stats AS s (day, project_id, status, result_type, jobs, confidence_sum, jobs_with_usage, credits_micro, tenth_0, tenth_1, tenth_2, tenth_3, tenth_4, tenth_5, tenth_6, tenth_7, tenth_8, tenth_9)
    
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * CAST(c.conf AS NUMERIC)), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), SUM(CASE WHEN c.tenth = 0 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 1 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 2 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 3 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 4 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 5 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 6 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 7 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 8 THEN c.d ELSE 0 END), SUM(CASE WHEN c.tenth = 9 THEN c.d ELSE 0 END)
    FROM (
        SELECT COALESCE(CAST(x.created_at AT TIME ZONE 'UTC' AS DATE), DATE '0001-01-01') AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, CASE WHEN x.conf IS NULL THEN -1 WHEN x.conf >= 0.9 THEN 9 WHEN x.conf >= 0.8 THEN 8 WHEN x.conf >= 0.7 THEN 7 WHEN x.conf >= 0.6 THEN 6 WHEN x.conf >= 0.5 THEN 5 WHEN x.conf >= 0.4 THEN 4 WHEN x.conf >= 0.3 THEN 3 WHEN x.conf >= 0.2 THEN 2 WHEN x.conf >= 0.1 THEN 1 ELSE 0 END AS tenth, x.conf, x.credits, x.d
        FROM (
        SELECT x.created_at, x.project_id, x.status, x.v2_usage_credits AS credits,
               r.type AS rtype, r.confidence AS conf, x.d
        FROM (SELECT OLD.id, OLD.created_at, OLD.project_id, OLD.status, OLD.v2_usage_credits, OLD.deleted_at, -1 AS d) AS x
        LEFT JOIN LATERAL (SELECT r.type, r.confidence FROM classify_results AS r WHERE r.job_id = x.id OFFSET 0) AS r ON TRUE
        WHERE x.deleted_at IS NULL) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type
    ON CONFLICT (day, project_id, status, result_type) DO UPDATE SET
        jobs = s.jobs + EXCLUDED.jobs, confidence_sum = s.confidence_sum + EXCLUDED.confidence_sum, jobs_with_usage = s.jobs_with_usage + EXCLUDED.jobs_with_usage, credits_micro = s.credits_micro + EXCLUDED.credits_micro, tenth_0 = s.tenth_0 + EXCLUDED.tenth_0, tenth_1 = s.tenth_1 + EXCLUDED.tenth_1, tenth_2 = s.tenth_2 + EXCLUDED.tenth_2, tenth_3 = s.tenth_3 + EXCLUDED.tenth_3, tenth_4 = s.tenth_4 + EXCLUDED.tenth_4, tenth_5 = s.tenth_5 + EXCLUDED.tenth_5, tenth_6 = s.tenth_6 + EXCLUDED.tenth_6, tenth_7 = s.tenth_7 + EXCLUDED.tenth_7, tenth_8 = s.tenth_8 + EXCLUDED.tenth_8, tenth_9 = s.tenth_9 + EXCLUDED.tenth_9;
    INSERT INTO classify_page_stats AS s (page_number, jobs)
    
    SELECT c.page_number, SUM(c.d) FROM (
        SELECT p.page_number, x.d
        FROM (SELECT OLD.id, -1 AS d WHERE OLD.deleted_at IS NULL) AS x
        CROSS JOIN LATERAL (SELECT p.page_number FROM classify_target_pages AS p
                            WHERE p.job_id = x.id OFFSET 0) AS p) AS c
    WHERE c.d <> 0
    GROUP BY c.page_number
    ON CONFLICT (page_number) DO UPDATE SET
        jobs = s.jobs + EXCLUDED.jobs;
RETURN OLD;
END
$$""",
    ),
    Raw(
        "function",
        "classify_etl_unconfirmed_bound",
        None,
        """CREATE FUNCTION classify_etl_unconfirmed_bound() RETURNS timestamp with time zone LANGUAGE sql STABLE AS $$
SELECT CASE WHEN COUNT(*) = COUNT(w.last_walk) THEN MIN(w.last_walk) END
FROM (SELECT scope, MAX(last_complete_walk_at) AS last_walk FROM etl_checkpoints GROUP BY scope) AS w
$$""",
    ),
    Raw(
        "function",
        "classify_rule_stats_jobs_insert",
        None,
        """CREATE FUNCTION classify_rule_stats_jobs_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_rule_stats AS s (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, SUM(c.d), SUM(CASE WHEN r.job_id IS NOT NULL THEN c.d ELSE 0 END),
           SUM(CASE WHEN r.type = t.type THEN c.d ELSE 0 END),
           COALESCE(SUM(CASE WHEN r.type = t.type THEN c.d * CAST(r.confidence AS NUMERIC) END), 0)
    FROM (SELECT id AS job_id, rule_set_id, 1 AS d FROM new_rows WHERE deleted_at IS NULL) AS c
    CROSS JOIN LATERAL (SELECT DISTINCT x.type FROM classify_rule_set_rules AS x WHERE x.rule_set_id = c.rule_set_id) AS t
    LEFT JOIN LATERAL (SELECT r.job_id, r.type, r.confidence FROM classify_results AS r WHERE r.job_id = c.job_id OFFSET 0) AS r ON TRUE
    WHERE c.d <> 0
    GROUP BY t.type
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = s.jobs_offered + EXCLUDED.jobs_offered,
        jobs_with_result = s.jobs_with_result + EXCLUDED.jobs_with_result,
        jobs_matched = s.jobs_matched + EXCLUDED.jobs_matched,
        confidence_sum = s.confidence_sum + EXCLUDED.confidence_sum;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_rule_stats_jobs_update",
        None,
        """CREATE FUNCTION classify_rule_stats_jobs_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_rule_stats AS s (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, SUM(c.d), SUM(CASE WHEN r.job_id IS NOT NULL THEN c.d ELSE 0 END),
           SUM(CASE WHEN r.type = t.type THEN c.d ELSE 0 END),
           COALESCE(SUM(CASE WHEN r.type = t.type THEN c.d * CAST(r.confidence AS NUMERIC) END), 0)
    FROM (SELECT n.id AS job_id, n.rule_set_id, 1 AS d FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id WHERE n.deleted_at IS NULL AND (n.rule_set_id IS DISTINCT FROM o.rule_set_id OR (n.deleted_at IS NULL) <> (o.deleted_at IS NULL)) UNION ALL SELECT o.id, o.rule_set_id, -1 FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id WHERE o.deleted_at IS NULL AND (n.rule_set_id IS DISTINCT FROM o.rule_set_id OR (n.deleted_at IS NULL) <> (o.deleted_at IS NULL))) AS c
    CROSS JOIN LATERAL (SELECT DISTINCT x.type FROM classify_rule_set_rules AS x WHERE x.rule_set_id = c.rule_set_id) AS t
    LEFT JOIN LATERAL (SELECT r.job_id, r.type, r.confidence FROM classify_results AS r WHERE r.job_id = c.job_id OFFSET 0) AS r ON TRUE
    WHERE c.d <> 0
    GROUP BY t.type
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = s.jobs_offered + EXCLUDED.jobs_offered,
        jobs_with_result = s.jobs_with_result + EXCLUDED.jobs_with_result,
        jobs_matched = s.jobs_matched + EXCLUDED.jobs_matched,
        confidence_sum = s.confidence_sum + EXCLUDED.confidence_sum;
RETURN NULL;
END
$$""",
    ),
    Raw(
        "function",
        "classify_rule_stats_jobs_delete",
        None,
        """CREATE FUNCTION classify_rule_stats_jobs_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO classify_rule_stats AS s (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    
    SELECT t.type, SUM(c.d), SUM(CASE WHEN r.job_id IS NOT NULL THEN c.d ELSE 0 END),
           SUM(CASE WHEN r.type = t.type THEN c.d ELSE 0 END),
           COALESCE(SUM(CASE WHEN r.type = t.type THEN c.d * CAST(r.confidence AS NUMERIC) END), 0)
    FROM (SELECT OLD.id AS job_id, OLD.rule_set_id AS rule_set_id, -1 AS d WHERE OLD.deleted_at IS NULL) AS c
    CROSS JOIN LATERAL (SELECT DISTINCT x.type FROM classify_rule_set_rules AS x WHERE x.rule_set_id = c.rule_set_id) AS t
    LEFT JOIN LATERAL (SELECT r.job_id, r.type, r.confidence FROM classify_results AS r WHERE r.job_id = c.job_id OFFSET 0) AS r ON TRUE
    WHERE c.d <> 0
    GROUP BY t.type
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = s.jobs_offered + EXCLUDED.jobs_offered,
        jobs_with_result = s.jobs_with_result + EXCLUDED.jobs_with_result,
        jobs_matched = s.jobs_matched + EXCLUDED.jobs_matched,
        confidence_sum = s.confidence_sum + EXCLUDED.confidence_sum;
RETURN OLD;
END
$$""",
    ),
    Raw(
        "index",
        "ix_classify_daily_stats_project_id_day",
        "classify_daily_stats",
        """CREATE INDEX ix_classify_daily_stats_project_id_day ON classify_daily_stats (project_id, (NULLIF(day, DATE '0001-01-01')))""",
    ),
    Raw(
        "index",
        "ix_classify_jobs_live_scoped",
        "classify_jobs",
        """CREATE INDEX ix_classify_jobs_live_scoped ON classify_jobs (target_page_count DESC) WHERE deleted_at IS NULL AND target_page_count > 0""",
    ),
    Raw(
        "view",
        "classify_rule_match",
        None,
        """CREATE VIEW classify_rule_match AS 
SELECT
    rule_type,
    jobs_offered,
    jobs_matched,
    CAST(jobs_matched AS DOUBLE PRECISION) / jobs_offered AS match_rate,
    CASE WHEN jobs_matched > 0 THEN CAST(confidence_sum AS DOUBLE PRECISION) / jobs_matched END
        AS mean_confidence,
    jobs_with_result
FROM classify_rule_stats
WHERE jobs_offered > 0""",
    ),
    Raw(
        "view",
        "classify_daily_counts",
        None,
        """CREATE VIEW classify_daily_counts AS 
SELECT
    NULLIF(day, DATE '0001-01-01') AS day, project_id, status, NULLIF(result_type, '') AS result_type,
    jobs,
    CAST(confidence_sum AS DOUBLE PRECISION) / NULLIF(tenth_0 + tenth_1 + tenth_2 + tenth_3 + tenth_4 + tenth_5 + tenth_6 + tenth_7 + tenth_8 + tenth_9, 0) AS mean_confidence,
    tenth_0 + tenth_1 + tenth_2 + tenth_3 + tenth_4 + tenth_5 + tenth_6 + tenth_7 + tenth_8 + tenth_9 AS jobs_with_result,
    jobs_with_usage,
    CASE WHEN jobs_with_usage > 0 THEN CAST(credits_micro / 1000000.0 AS NUMERIC(24, 6)) END AS credits
FROM classify_daily_stats
WHERE jobs > 0""",
    ),
    Raw(
        "view",
        "classify_hydration_health",
        None,
        """CREATE VIEW classify_hydration_health AS 
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
  AND j.first_seen_at > COALESCE(classify_etl_unconfirmed_bound(), CAST('-infinity' AS TIMESTAMP WITH TIME ZONE))
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
  AND (v1_updated_at > v2_updated_at OR hydrated_at < v1_updated_at OR hydrated_at < v2_updated_at)""",
    ),
    Raw(
        "view",
        "classify_confidence_counts",
        None,
        """CREATE VIEW classify_confidence_counts AS 
SELECT t.day, t.project_id, t.status, t.result_type, t.confidence_tenth, t.jobs
FROM (
    SELECT NULLIF(day, DATE '0001-01-01') AS day, project_id, status, NULLIF(result_type, '') AS result_type, k.tenth AS confidence_tenth, CASE k.tenth WHEN 0 THEN s.tenth_0 WHEN 1 THEN s.tenth_1 WHEN 2 THEN s.tenth_2 WHEN 3 THEN s.tenth_3 WHEN 4 THEN s.tenth_4 WHEN 5 THEN s.tenth_5 WHEN 6 THEN s.tenth_6 WHEN 7 THEN s.tenth_7 WHEN 8 THEN s.tenth_8 WHEN 9 THEN s.tenth_9 END AS jobs
    FROM classify_daily_stats AS s CROSS JOIN (SELECT 0 AS tenth UNION ALL SELECT 1 AS tenth UNION ALL SELECT 2 AS tenth UNION ALL SELECT 3 AS tenth UNION ALL SELECT 4 AS tenth UNION ALL SELECT 5 AS tenth UNION ALL SELECT 6 AS tenth UNION ALL SELECT 7 AS tenth UNION ALL SELECT 8 AS tenth UNION ALL SELECT 9 AS tenth) AS k
) AS t
WHERE t.jobs > 0""",
    ),
    Raw(
        "view",
        "classify_rules",
        None,
        """CREATE VIEW classify_rules AS 
SELECT j.id AS job_id, r.position, r.type, r.description
FROM classify_jobs AS j
JOIN classify_rule_set_rules AS r ON r.rule_set_id = j.rule_set_id""",
    ),
    Raw(
        "view",
        "classify_parsing_configs",
        None,
        """CREATE VIEW classify_parsing_configs AS 
SELECT id AS job_id, lang, max_pages, target_pages, target_pages_source
FROM classify_jobs
WHERE parsing_configured""",
    ),
    Raw(
        "view",
        "classify_jobs_current",
        None,
        """CREATE VIEW classify_jobs_current AS 
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
    j.result_type,
    j.confidence,
    r.reasoning,
    (j.result_type IS NOT NULL) AS matched,
    j.rule_count,
    j.rule_types,
    j.lang,
    j.max_pages,
    j.target_pages,
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
LEFT JOIN classify_results AS r ON r.job_id = j.id""",
    ),
    Raw(
        "trigger",
        "classify_rule_stats_results_insert",
        "classify_results",
        """CREATE TRIGGER classify_rule_stats_results_insert AFTER INSERT ON classify_results REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_rule_stats_results_insert()""",
    ),
    Raw(
        "trigger",
        "classify_rule_stats_results_delete",
        "classify_results",
        """CREATE TRIGGER classify_rule_stats_results_delete AFTER DELETE ON classify_results REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_rule_stats_results_delete()""",
    ),
    Raw(
        "trigger",
        "classify_rule_stats_results_update",
        "classify_results",
        """CREATE TRIGGER classify_rule_stats_results_update AFTER UPDATE ON classify_results REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_rule_stats_results_update()""",
    ),
    Raw(
        "trigger",
        "classify_rule_stats_jobs_delete",
        "classify_jobs",
        """CREATE TRIGGER classify_rule_stats_jobs_delete BEFORE DELETE ON classify_jobs FOR EACH ROW EXECUTE FUNCTION classify_rule_stats_jobs_delete()""",
    ),
    Raw(
        "trigger",
        "classify_daily_stats_jobs_insert",
        "classify_jobs",
        """CREATE TRIGGER classify_daily_stats_jobs_insert AFTER INSERT ON classify_jobs REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_daily_stats_jobs_insert()""",
    ),
    Raw(
        "trigger",
        "classify_daily_stats_jobs_update",
        "classify_jobs",
        """CREATE TRIGGER classify_daily_stats_jobs_update AFTER UPDATE ON classify_jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_daily_stats_jobs_update()""",
    ),
    Raw(
        "trigger",
        "classify_daily_stats_results_insert",
        "classify_results",
        """CREATE TRIGGER classify_daily_stats_results_insert AFTER INSERT ON classify_results REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_daily_stats_results_insert()""",
    ),
    Raw(
        "trigger",
        "classify_daily_stats_results_delete",
        "classify_results",
        """CREATE TRIGGER classify_daily_stats_results_delete AFTER DELETE ON classify_results REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_daily_stats_results_delete()""",
    ),
    Raw(
        "trigger",
        "classify_daily_stats_results_update",
        "classify_results",
        """CREATE TRIGGER classify_daily_stats_results_update AFTER UPDATE ON classify_results REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_daily_stats_results_update()""",
    ),
    Raw(
        "trigger",
        "classify_page_stats_pages_insert",
        "classify_target_pages",
        """CREATE TRIGGER classify_page_stats_pages_insert AFTER INSERT ON classify_target_pages REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_page_stats_pages_insert()""",
    ),
    Raw(
        "trigger",
        "classify_page_stats_pages_delete",
        "classify_target_pages",
        """CREATE TRIGGER classify_page_stats_pages_delete AFTER DELETE ON classify_target_pages REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_page_stats_pages_delete()""",
    ),
    Raw(
        "trigger",
        "classify_page_stats_pages_update",
        "classify_target_pages",
        """CREATE TRIGGER classify_page_stats_pages_update AFTER UPDATE ON classify_target_pages REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_page_stats_pages_update()""",
    ),
    Raw(
        "trigger",
        "classify_page_stats_jobs_update",
        "classify_jobs",
        """CREATE TRIGGER classify_page_stats_jobs_update AFTER UPDATE ON classify_jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_page_stats_jobs_update()""",
    ),
    Raw(
        "trigger",
        "classify_summary_stats_jobs_delete",
        "classify_jobs",
        """CREATE TRIGGER classify_summary_stats_jobs_delete BEFORE DELETE ON classify_jobs FOR EACH ROW EXECUTE FUNCTION classify_summary_stats_jobs_delete()""",
    ),
    Raw(
        "trigger",
        "classify_rule_stats_jobs_insert",
        "classify_jobs",
        """CREATE TRIGGER classify_rule_stats_jobs_insert AFTER INSERT ON classify_jobs REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_rule_stats_jobs_insert()""",
    ),
    Raw(
        "trigger",
        "classify_rule_stats_jobs_update",
        "classify_jobs",
        """CREATE TRIGGER classify_rule_stats_jobs_update AFTER UPDATE ON classify_jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION classify_rule_stats_jobs_update()""",
    ),
)

BY_DIALECT: dict[str, tuple[Raw, ...]] = {"sqlite": SQLITE, "postgresql": POSTGRESQL}

#: Indexes on expressions (or DESC), created here rather than from ``etl.warehouse.schema``.
EXPRESSION_INDEXES = frozenset(r.name for r in (*SQLITE, *POSTGRESQL) if r.kind == "index")


def creates(dialect: str) -> list[str]:
    """The statements that create every object, in dependency order."""
    return [r.sql for r in BY_DIALECT[dialect]]


def drops(dialect: str) -> list[str]:
    """The statements that drop every object, in reverse order (the tables stay)."""
    out = []
    for r in reversed(BY_DIALECT[dialect]):
        if r.kind == "view":
            out.append(f"DROP VIEW IF EXISTS {r.name}")
        elif r.kind == "function":
            out.append(f"DROP FUNCTION IF EXISTS {r.name}()")
        elif r.kind == "trigger" and dialect == "postgresql":
            out.append(f"DROP TRIGGER IF EXISTS {r.name} ON {r.table}")
        else:
            out.append(f"DROP {r.kind.upper()} IF EXISTS {r.name}")
    return out
