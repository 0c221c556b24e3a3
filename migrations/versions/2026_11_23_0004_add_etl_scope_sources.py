"""Add etl_scope_sources: the list endpoint auto mode chose per scope after v1 was retired.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 01:08:53.712789
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "etl_scope_sources",
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("list_source", sa.String(length=2), nullable=False),
        sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint("list_source IN ('v1', 'v2')", name=op.f("ck_etl_scope_sources_list_source")),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_etl_scope_sources")),
    )


def downgrade() -> None:
    op.drop_table("etl_scope_sources")
