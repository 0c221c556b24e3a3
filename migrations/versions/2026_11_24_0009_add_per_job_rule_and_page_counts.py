"""Add classify_jobs.rule_count, rule_types and target_page_count, filled from the child rows.

The current-state view computed them by aggregating all of classify_rules and
classify_target_pages before any filter applied (7 s at 1M jobs for a LIMIT 100). The loader now
writes them with the job's child rows; this revision fills them for the jobs already stored.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 01:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("classify_jobs", sa.Column("rule_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("classify_jobs", sa.Column("rule_types", sa.Text(), nullable=True))
    op.add_column(
        "classify_jobs", sa.Column("target_page_count", sa.Integer(), server_default="0", nullable=False)
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """UPDATE classify_jobs AS j SET rule_count = r.n, rule_types = r.types
            FROM (SELECT job_id, COUNT(*) AS n, string_agg(type, ',' ORDER BY position) AS types
                  FROM classify_rules GROUP BY job_id) AS r
            WHERE r.job_id = j.id"""
        )
        op.execute(
            """UPDATE classify_jobs AS j SET target_page_count = p.n
            FROM (SELECT job_id, COUNT(*) AS n FROM classify_target_pages GROUP BY job_id) AS p
            WHERE p.job_id = j.id"""
        )
    else:
        op.execute(
            """UPDATE classify_jobs SET
                rule_count = (SELECT COUNT(*) FROM classify_rules AS r WHERE r.job_id = classify_jobs.id),
                rule_types = (SELECT group_concat(type, ',') FROM (
                    SELECT type FROM classify_rules AS r WHERE r.job_id = classify_jobs.id
                    ORDER BY position)),
                target_page_count = (
                    SELECT COUNT(*) FROM classify_target_pages AS p WHERE p.job_id = classify_jobs.id)"""
        )


def downgrade() -> None:
    # Native DROP COLUMN on both (SQLite >= 3.35): no batch rebuild, which would drop the triggers.
    for column in ("target_page_count", "rule_types", "rule_count"):
        op.execute(f"ALTER TABLE classify_jobs DROP COLUMN {column}")
