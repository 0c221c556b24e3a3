"""Add classify_rule_stats: rule match counts per rule type, kept current by triggers.

The rule match report aggregated every rule row (a DISTINCT over the whole of classify_rules that
spilled to disk: 8 s at 1M jobs). The counts are now maintained incrementally, in the transaction
that writes the rows, by triggers on the three tables they depend on:

* classify_rules: a (job, rule type) pair that appears or disappears (a type listed twice in a job
  counts once) adds or removes the job's contribution for that type;
* classify_results: a result that appears or disappears adds or removes it for each of the job's
  rule types;
* classify_jobs: a job tombstoned or brought back (``deleted_at``) removes or adds its whole
  contribution, as does a hard delete (before its child rows cascade away).

Each contribution is computed against the current state of the other two tables, so the order in
which a writer touches them does not matter. PostgreSQL triggers are per statement, over transition
tables (one aggregate per page, not one per row); SQLite's are per row. This revision fills the table
from the rows already stored.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATS = "classify_rule_stats"
NO_RULES = "(SELECT job_id, position, type FROM classify_rules WHERE 1 = 0)"
NO_RESULTS = "(SELECT job_id, type, confidence FROM classify_results WHERE 1 = 0)"


def _add(select_sql: str) -> str:
    """Add the (rule_type, offered, with_result, matched, confidence) rows of a SELECT (PostgreSQL)."""
    return f"""
    INSERT INTO {STATS} AS s (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    {select_sql}
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = s.jobs_offered + EXCLUDED.jobs_offered,
        jobs_with_result = s.jobs_with_result + EXCLUDED.jobs_with_result,
        jobs_matched = s.jobs_matched + EXCLUDED.jobs_matched,
        confidence_sum = s.confidence_sum + EXCLUDED.confidence_sum;"""


def _pg_rules_delta(old: str, new: str) -> str:
    """Pairs (job, type) whose presence changed: +1 appeared, -1 disappeared; times the job's result.

    Counted, not tested row by row: a pair was present before if its rows now, minus the new ones,
    plus the old ones are more than none. Aggregates and hash joins only, so a statement of n rows
    costs O(n) whatever its size (an EXISTS per pair over the transition table would be O(n²))."""
    return _add(f"""
    SELECT x.type, SUM(x.d), SUM(CASE WHEN r.job_id IS NOT NULL THEN x.d ELSE 0 END),
           SUM(CASE WHEN r.type = x.type THEN x.d ELSE 0 END),
           COALESCE(SUM(CASE WHEN r.type = x.type THEN x.d * CAST(r.confidence AS NUMERIC) END), 0)
    FROM (
        SELECT p.job_id, p.type,
            (CASE WHEN COALESCE(cur.n, 0) > 0 THEN 1 ELSE 0 END)
            - (CASE WHEN COALESCE(cur.n, 0) - COALESCE(nw.n, 0) + COALESCE(od.n, 0) > 0
                    THEN 1 ELSE 0 END) AS d
        FROM (SELECT job_id, type FROM {old} AS o UNION SELECT job_id, type FROM {new} AS n) AS p
        LEFT JOIN (SELECT job_id, type, COUNT(*) AS n FROM {old} AS o GROUP BY job_id, type) AS od
            ON od.job_id = p.job_id AND od.type = p.type
        LEFT JOIN (SELECT job_id, type, COUNT(*) AS n FROM {new} AS n GROUP BY job_id, type) AS nw
            ON nw.job_id = p.job_id AND nw.type = p.type
        LEFT JOIN (
            SELECT c.job_id, c.type, COUNT(*) AS n FROM classify_rules AS c
            WHERE c.job_id IN (SELECT job_id FROM {old} AS o UNION SELECT job_id FROM {new} AS n)
            GROUP BY c.job_id, c.type
        ) AS cur ON cur.job_id = p.job_id AND cur.type = p.type
    ) AS x
    JOIN classify_jobs AS j ON j.id = x.job_id AND j.deleted_at IS NULL
    LEFT JOIN classify_results AS r ON r.job_id = x.job_id
    WHERE x.d <> 0
    GROUP BY x.type""")


def _pg_results_delta(old: str, new: str) -> str:
    return _add(f"""
    SELECT t.type, 0, SUM(c.d), SUM(CASE WHEN c.type = t.type THEN c.d ELSE 0 END),
           COALESCE(SUM(CASE WHEN c.type = t.type THEN c.d * CAST(c.confidence AS NUMERIC) END), 0)
    FROM (SELECT job_id, type, confidence, -1 AS d FROM {old} AS o
          UNION ALL SELECT job_id, type, confidence, 1 FROM {new} AS n) AS c
    JOIN classify_jobs AS j ON j.id = c.job_id AND j.deleted_at IS NULL
    CROSS JOIN LATERAL (SELECT DISTINCT type FROM classify_rules AS x WHERE x.job_id = c.job_id) AS t
    GROUP BY t.type""")


def _pg_jobs_delta(changes: str) -> str:
    """``changes``: (job_id, d) with d = +1 for a job brought back, -1 for one tombstoned or deleted."""
    return _add(f"""
    SELECT t.type, SUM(c.d), SUM(CASE WHEN r.job_id IS NOT NULL THEN c.d ELSE 0 END),
           SUM(CASE WHEN r.type = t.type THEN c.d ELSE 0 END),
           COALESCE(SUM(CASE WHEN r.type = t.type THEN c.d * CAST(r.confidence AS NUMERIC) END), 0)
    FROM {changes} AS c
    CROSS JOIN LATERAL (SELECT DISTINCT type FROM classify_rules AS x WHERE x.job_id = c.job_id) AS t
    LEFT JOIN classify_results AS r ON r.job_id = c.job_id
    WHERE c.d <> 0
    GROUP BY t.type""")


PG_FUNCTIONS = {
    "classify_rule_stats_rules_insert": _pg_rules_delta(NO_RULES, "new_rows"),
    "classify_rule_stats_rules_delete": _pg_rules_delta("old_rows", NO_RULES),
    "classify_rule_stats_rules_update": _pg_rules_delta("old_rows", "new_rows"),
    "classify_rule_stats_results_insert": _pg_results_delta(NO_RESULTS, "new_rows"),
    "classify_rule_stats_results_delete": _pg_results_delta("old_rows", NO_RESULTS),
    "classify_rule_stats_results_update": _pg_results_delta("old_rows", "new_rows"),
    "classify_rule_stats_jobs_update": _pg_jobs_delta(
        "(SELECT n.id AS job_id, (CASE WHEN n.deleted_at IS NULL THEN 1 ELSE 0 END)"
        " - (CASE WHEN o.deleted_at IS NULL THEN 1 ELSE 0 END) AS d"
        " FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id)"
    ),
}
# (function, table, event, transition tables)
PG_TRIGGERS = [
    ("classify_rule_stats_rules_insert", "classify_rules", "INSERT", "NEW TABLE AS new_rows"),
    ("classify_rule_stats_rules_delete", "classify_rules", "DELETE", "OLD TABLE AS old_rows"),
    (
        "classify_rule_stats_rules_update",
        "classify_rules",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
    ("classify_rule_stats_results_insert", "classify_results", "INSERT", "NEW TABLE AS new_rows"),
    ("classify_rule_stats_results_delete", "classify_results", "DELETE", "OLD TABLE AS old_rows"),
    (
        "classify_rule_stats_results_update",
        "classify_results",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
    (
        "classify_rule_stats_jobs_update",
        "classify_jobs",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    ),
]
# A hard delete of a live job: its contribution goes before the cascade removes its rules.
PG_JOBS_DELETE = _pg_jobs_delta("(SELECT OLD.id AS job_id, -1 AS d WHERE OLD.deleted_at IS NULL)")


def _sqlite_add(select_sql: str) -> str:
    return f"""
    INSERT INTO {STATS} (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
    {select_sql}
    ON CONFLICT (rule_type) DO UPDATE SET
        jobs_offered = jobs_offered + excluded.jobs_offered,
        jobs_with_result = jobs_with_result + excluded.jobs_with_result,
        jobs_matched = jobs_matched + excluded.jobs_matched,
        confidence_sum = confidence_sum + excluded.confidence_sum;"""


def _sqlite_pair(row: str, sign: int, alone: str) -> str:
    """The pair (row.job_id, row.type) appeared (sign 1) or disappeared (-1), when ``alone`` holds."""
    return _sqlite_add(f"""
    SELECT {row}.type, {sign}, {sign} * COUNT(r.job_id),
           {sign} * COUNT(CASE WHEN r.type = {row}.type THEN 1 END),
           {sign} * COALESCE(SUM(CASE WHEN r.type = {row}.type THEN r.confidence END), 0)
    FROM classify_jobs AS j LEFT JOIN classify_results AS r ON r.job_id = j.id
    WHERE j.id = {row}.job_id AND j.deleted_at IS NULL AND {alone}
    GROUP BY j.id""")


def _sqlite_result(row: str, sign: int) -> str:
    return _sqlite_add(f"""
    SELECT t.type, 0, {sign}, {sign} * (CASE WHEN t.type = {row}.type THEN 1 ELSE 0 END),
           {sign} * (CASE WHEN t.type = {row}.type THEN {row}.confidence ELSE 0 END)
    FROM (SELECT DISTINCT type FROM classify_rules WHERE job_id = {row}.job_id) AS t
    WHERE EXISTS (SELECT 1 FROM classify_jobs AS j WHERE j.id = {row}.job_id AND j.deleted_at IS NULL)""")


def _sqlite_job(row: str, sign: int) -> str:
    return _sqlite_add(f"""
    SELECT t.type, {sign}, {sign} * COUNT(r.job_id), {sign} * COUNT(CASE WHEN r.type = t.type THEN 1 END),
           {sign} * COALESCE(SUM(CASE WHEN r.type = t.type THEN r.confidence END), 0)
    FROM (SELECT DISTINCT type FROM classify_rules WHERE job_id = {row}.id) AS t
    LEFT JOIN classify_results AS r ON r.job_id = {row}.id
    WHERE 1 = 1
    GROUP BY t.type""")


def _no_other(row: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM classify_rules AS c "
        f"WHERE c.job_id = {row}.job_id AND c.type = {row}.type "
        f"AND c.position <> {row}.position)"
    )


def _none_left(row: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM classify_rules AS c "
        f"WHERE c.job_id = {row}.job_id AND c.type = {row}.type)"
    )


SQLITE_TRIGGERS = {
    "classify_rule_stats_rules_insert": (
        "AFTER INSERT ON classify_rules",
        [_sqlite_pair("NEW", 1, _no_other("NEW"))],
    ),
    "classify_rule_stats_rules_delete": (
        "AFTER DELETE ON classify_rules",
        [_sqlite_pair("OLD", -1, _none_left("OLD"))],
    ),
    "classify_rule_stats_rules_update": (
        "AFTER UPDATE ON classify_rules WHEN OLD.job_id IS NOT NEW.job_id OR OLD.type IS NOT NEW.type",
        [_sqlite_pair("OLD", -1, _none_left("OLD")), _sqlite_pair("NEW", 1, _no_other("NEW"))],
    ),
    "classify_rule_stats_results_insert": ("AFTER INSERT ON classify_results", [_sqlite_result("NEW", 1)]),
    "classify_rule_stats_results_delete": ("AFTER DELETE ON classify_results", [_sqlite_result("OLD", -1)]),
    "classify_rule_stats_results_update": (
        "AFTER UPDATE ON classify_results",
        [_sqlite_result("OLD", -1), _sqlite_result("NEW", 1)],
    ),
    "classify_rule_stats_jobs_tombstone": (
        "AFTER UPDATE OF deleted_at ON classify_jobs "
        "WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL",
        [_sqlite_job("NEW", -1)],
    ),
    "classify_rule_stats_jobs_restore": (
        "AFTER UPDATE OF deleted_at ON classify_jobs "
        "WHEN OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL",
        [_sqlite_job("NEW", 1)],
    ),
    "classify_rule_stats_jobs_delete": (
        "BEFORE DELETE ON classify_jobs WHEN OLD.deleted_at IS NULL",
        [_sqlite_job("OLD", -1)],
    ),
}

BACKFILL = f"""
INSERT INTO {STATS} (rule_type, jobs_offered, jobs_with_result, jobs_matched, confidence_sum)
SELECT o.type, COUNT(*), COUNT(r.job_id), SUM(CASE WHEN r.type = o.type THEN 1 ELSE 0 END),
       COALESCE(SUM(CASE WHEN r.type = o.type THEN r.confidence END), 0)
FROM (SELECT DISTINCT job_id, type FROM classify_rules) AS o
JOIN classify_jobs AS j ON j.id = o.job_id AND j.deleted_at IS NULL
LEFT JOIN classify_results AS r ON r.job_id = o.job_id
GROUP BY o.type
"""


def upgrade() -> None:
    op.create_table(
        STATS,
        sa.Column("rule_type", sa.String(), nullable=False),
        sa.Column("jobs_offered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_with_result", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_matched", sa.Integer(), server_default="0", nullable=False),
        sa.Column("confidence_sum", sa.Numeric(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("rule_type", name=op.f("pk_classify_rule_stats")),
    )
    op.execute(BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        for name, body in PG_FUNCTIONS.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                f"BEGIN{body}\nRETURN NULL;\nEND\n$$"
            )
        for name, table, event, transitions in PG_TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transitions} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
        op.execute(
            "CREATE FUNCTION classify_rule_stats_jobs_delete() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN{PG_JOBS_DELETE}\nRETURN OLD;\nEND\n$$"
        )
        op.execute(
            "CREATE TRIGGER classify_rule_stats_jobs_delete BEFORE DELETE ON classify_jobs "
            "FOR EACH ROW EXECUTE FUNCTION classify_rule_stats_jobs_delete()"
        )
    else:
        for name, (when, statements) in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when}\nBEGIN{''.join(statements)}\nEND")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, _, _ in [*PG_TRIGGERS, ("classify_rule_stats_jobs_delete", "classify_jobs", "", "")]:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table(STATS)
