"""Add classify_job_history: one row per observed version of a job's outcome (valid_from, valid_to).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 01:08:21.568400
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "classify_job_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result_type", sa.String(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["classify_jobs.id"],
            name=op.f("fk_classify_job_history_job_id_classify_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["etl_sync_runs.id"],
            name=op.f("fk_classify_job_history_run_id_etl_sync_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classify_job_history")),
    )
    with op.batch_alter_table("classify_job_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_classify_job_history_job_id_valid_from", ["job_id", "valid_from"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("classify_job_history", schema=None) as batch_op:
        batch_op.drop_index("ix_classify_job_history_job_id_valid_from")

    op.drop_table("classify_job_history")
