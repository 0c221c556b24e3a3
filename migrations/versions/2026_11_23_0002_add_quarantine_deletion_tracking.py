"""Add the quarantine, deletion tracking (deleted_at, etl_job_seen) and run counters for both.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 01:05:33.894236
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "etl_job_seen",
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("job_id", sa.String(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "job_id", name=op.f("pk_etl_job_seen")),
    )
    op.create_table(
        "etl_quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("endpoint", sa.String(length=16), nullable=False),
        sa.Column("item_key", sa.String(), nullable=False),
        sa.Column("job_id", sa.String(), nullable=True),
        sa.Column("scope", sa.String(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", JSON_TYPE, nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["resolved_run_id"],
            ["etl_sync_runs.id"],
            name=op.f("fk_etl_quarantine_resolved_run_id_etl_sync_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["etl_sync_runs.id"],
            name=op.f("fk_etl_quarantine_run_id_etl_sync_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etl_quarantine")),
        sa.UniqueConstraint("endpoint", "item_key", name="uq_etl_quarantine_endpoint_item_key"),
    )
    with op.batch_alter_table("etl_quarantine", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_etl_quarantine_job_id"), ["job_id"], unique=False)

    with op.batch_alter_table("classify_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_classify_jobs_deleted_at"), ["deleted_at"], unique=False)

    with op.batch_alter_table("etl_sync_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("jobs_quarantined", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("jobs_deleted", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("etl_sync_runs", schema=None) as batch_op:
        batch_op.drop_column("jobs_deleted")
        batch_op.drop_column("jobs_quarantined")

    with op.batch_alter_table("classify_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_classify_jobs_deleted_at"))
        batch_op.drop_column("deleted_at")

    with op.batch_alter_table("etl_quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_etl_quarantine_job_id"))

    op.drop_table("etl_quarantine")
    op.drop_table("etl_job_seen")
