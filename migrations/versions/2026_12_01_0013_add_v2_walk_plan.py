"""Add the v2 walk plan: classify_jobs.v2_hash and v2_credits_pending, etl_walk_windows, run details.

Native ADD / DROP COLUMN on both databases (SQLite >= 3.35): a batch rebuild of classify_jobs would
drop revision 0010's triggers.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 10:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("classify_jobs", sa.Column("v2_hash", sa.String(length=32), nullable=True))
    op.add_column("classify_jobs", sa.Column("v2_credits_pending", sa.Boolean(), nullable=True))
    op.create_table(
        "etl_walk_windows",
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("walk_kind", sa.String(length=16), nullable=False),
        sa.Column("window_key", sa.String(), nullable=False),
        sa.Column("created_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_page_token", sa.Text(), nullable=True),
        sa.Column("pages_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("done", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("walk_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "walk_kind", "window_key", name=op.f("pk_etl_walk_windows")),
    )
    op.add_column("etl_sync_runs", sa.Column("run_kind", sa.String(length=32), nullable=True))
    op.add_column("etl_sync_runs", sa.Column("details", JSON_TYPE, nullable=True))


def downgrade() -> None:
    for table, column in (
        ("etl_sync_runs", "details"),
        ("etl_sync_runs", "run_kind"),
        ("classify_jobs", "v2_credits_pending"),
        ("classify_jobs", "v2_hash"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.drop_table("etl_walk_windows")
