"""Drive the PostgreSQL rule-stats triggers (revision 0010) by index lookups, not table scans.

0010's statement triggers joined a page's transition rows to classify_rules, classify_jobs and
classify_results with plain joins. On a table of tens of thousands of rows the planner hashes the
whole table for a page of 100 jobs (a sequential scan of each per statement: ~45 ms a page at 20,000
jobs, and it grows with the table until the planner switches). Here every lookup of a stored row is
a LATERAL subquery correlated on the job id (``OFFSET 0`` keeps the planner from flattening it back
into a join), so a statement costs index probes for its own rows only, whatever the table's size.
Same counts, same order-independence; SQLite's per-row triggers already look rows up by key.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 14:10:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _revision_0010() -> ModuleType:
    """0010's module, for its ``_add`` and, on downgrade, its function bodies."""
    path = Path(__file__).with_name("2026_11_24_0010_add_classify_rule_stats.py")
    spec = importlib.util.spec_from_file_location("classify_etl_revision_0010", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


R0010 = _revision_0010()
NO_RULES, NO_RESULTS, add = R0010.NO_RULES, R0010.NO_RESULTS, R0010._add

LIVE = (
    "CROSS JOIN LATERAL (SELECT 1 AS live FROM classify_jobs AS j "
    "WHERE j.id = {id} AND j.deleted_at IS NULL OFFSET 0) AS j"
)
RESULT = (
    "LEFT JOIN LATERAL (SELECT r.job_id, r.type, r.confidence FROM classify_results AS r "
    "WHERE r.job_id = {id} OFFSET 0) AS r ON TRUE"
)
TYPES = "CROSS JOIN LATERAL (SELECT DISTINCT type FROM classify_rules AS x WHERE x.job_id = {id}) AS t"


def _rules_delta(old: str, new: str) -> str:
    """As 0010: pairs (job, type) whose presence changed, times the job's result; ``cur`` counted
    per pair from the primary key (job_id, position)."""
    return add(f"""
    SELECT x.type, SUM(x.d), SUM(CASE WHEN r.job_id IS NOT NULL THEN x.d ELSE 0 END),
           SUM(CASE WHEN r.type = x.type THEN x.d ELSE 0 END),
           COALESCE(SUM(CASE WHEN r.type = x.type THEN x.d * CAST(r.confidence AS NUMERIC) END), 0)
    FROM (
        SELECT p.job_id, p.type,
            (CASE WHEN cur.n > 0 THEN 1 ELSE 0 END)
            - (CASE WHEN cur.n - COALESCE(nw.n, 0) + COALESCE(od.n, 0) > 0 THEN 1 ELSE 0 END) AS d
        FROM (SELECT job_id, type FROM {old} AS o UNION SELECT job_id, type FROM {new} AS n) AS p
        LEFT JOIN (SELECT job_id, type, COUNT(*) AS n FROM {old} AS o GROUP BY job_id, type) AS od
            ON od.job_id = p.job_id AND od.type = p.type
        LEFT JOIN (SELECT job_id, type, COUNT(*) AS n FROM {new} AS n GROUP BY job_id, type) AS nw
            ON nw.job_id = p.job_id AND nw.type = p.type
        CROSS JOIN LATERAL (
            SELECT COUNT(*) AS n FROM classify_rules AS c WHERE c.job_id = p.job_id AND c.type = p.type
        ) AS cur
    ) AS x
    {LIVE.format(id="x.job_id")}
    {RESULT.format(id="x.job_id")}
    WHERE x.d <> 0
    GROUP BY x.type""")


def _results_delta(old: str, new: str) -> str:
    return add(f"""
    SELECT t.type, 0, SUM(c.d), SUM(CASE WHEN c.type = t.type THEN c.d ELSE 0 END),
           COALESCE(SUM(CASE WHEN c.type = t.type THEN c.d * CAST(c.confidence AS NUMERIC) END), 0)
    FROM (SELECT job_id, type, confidence, -1 AS d FROM {old} AS o
          UNION ALL SELECT job_id, type, confidence, 1 FROM {new} AS n) AS c
    {LIVE.format(id="c.job_id")}
    {TYPES.format(id="c.job_id")}
    GROUP BY t.type""")


def _jobs_delta(changes: str) -> str:
    return add(f"""
    SELECT t.type, SUM(c.d), SUM(CASE WHEN r.job_id IS NOT NULL THEN c.d ELSE 0 END),
           SUM(CASE WHEN r.type = t.type THEN c.d ELSE 0 END),
           COALESCE(SUM(CASE WHEN r.type = t.type THEN c.d * CAST(r.confidence AS NUMERIC) END), 0)
    FROM {changes} AS c
    {TYPES.format(id="c.job_id")}
    {RESULT.format(id="c.job_id")}
    WHERE c.d <> 0
    GROUP BY t.type""")


JOB_CHANGES = (
    "(SELECT n.id AS job_id, (CASE WHEN n.deleted_at IS NULL THEN 1 ELSE 0 END)"
    " - (CASE WHEN o.deleted_at IS NULL THEN 1 ELSE 0 END) AS d"
    " FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id)"
)
FUNCTIONS = {
    "classify_rule_stats_rules_insert": _rules_delta(NO_RULES, "new_rows"),
    "classify_rule_stats_rules_delete": _rules_delta("old_rows", NO_RULES),
    "classify_rule_stats_rules_update": _rules_delta("old_rows", "new_rows"),
    "classify_rule_stats_results_insert": _results_delta(NO_RESULTS, "new_rows"),
    "classify_rule_stats_results_delete": _results_delta("old_rows", NO_RESULTS),
    "classify_rule_stats_results_update": _results_delta("old_rows", "new_rows"),
    "classify_rule_stats_jobs_update": _jobs_delta(JOB_CHANGES),
}
JOBS_DELETE = _jobs_delta("(SELECT OLD.id AS job_id, -1 AS d WHERE OLD.deleted_at IS NULL)")


def _replace(functions: dict[str, str], jobs_delete: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's row triggers (0010) are unchanged
    for name, body in functions.items():
        op.execute(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN{body}\nRETURN NULL;\nEND\n$$"
        )
    op.execute(
        "CREATE OR REPLACE FUNCTION classify_rule_stats_jobs_delete() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$\nBEGIN{jobs_delete}\nRETURN OLD;\nEND\n$$"
    )


def upgrade() -> None:
    _replace(FUNCTIONS, JOBS_DELETE)


def downgrade() -> None:
    _replace(R0010.PG_FUNCTIONS, R0010.PG_JOBS_DELETE)
