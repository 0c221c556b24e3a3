"""Create the core tables: jobs, rules, parsing configs, target pages, results, runs, checkpoints.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 00:56:54.994219
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:

    op.create_table(
        "classify_jobs",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("v1_status", sa.String(length=32), nullable=True),
        sa.Column("v1_mode", sa.String(length=16), nullable=True),
        sa.Column("v1_user_id", sa.String(), nullable=True),
        sa.Column("v1_project_id", sa.String(), nullable=True),
        sa.Column("v1_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("v1_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("v1_effective_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("v1_error_message", sa.Text(), nullable=True),
        sa.Column("v1_job_record_id", sa.String(), nullable=True),
        sa.Column("v2_status", sa.String(length=32), nullable=True),
        sa.Column("v2_mode", sa.String(length=16), nullable=True),
        sa.Column("v2_document_input_type", sa.String(length=32), nullable=True),
        sa.Column("v2_file_input", sa.String(), nullable=True),
        sa.Column("v2_parse_job_id", sa.String(), nullable=True),
        sa.Column("v2_configuration_id", sa.String(), nullable=True),
        sa.Column("v2_transaction_id", sa.String(), nullable=True),
        sa.Column("v2_error_message", sa.Text(), nullable=True),
        sa.Column("v2_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("v2_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("v2_usage_credits", sa.Float(), nullable=True),
        sa.Column("v2_usage_parse_credits", sa.Float(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hydrated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hydration_status", sa.String(length=16), nullable=False),
        sa.Column("hydration_error", sa.Text(), nullable=True),
        sa.Column("v1_raw", JSON_TYPE, nullable=True),
        sa.Column("v2_raw", JSON_TYPE, nullable=True),
        sa.Column("v1_hash", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "hydration_status IN ('pending', 'ok', 'not_found', 'failed')",
            name=op.f("ck_classify_jobs_hydration_status"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'partial', 'failed', 'cancelled')",
            name=op.f("ck_classify_jobs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classify_jobs")),
    )
    with op.batch_alter_table("classify_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_classify_jobs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_classify_jobs_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_classify_jobs_status"), ["status"], unique=False)

    op.create_table(
        "etl_checkpoints",
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("source", sa.String(length=2), nullable=False),
        sa.Column("next_page_token", sa.Text(), nullable=True),
        sa.Column("pages_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("walk_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_complete_walk_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "source", name=op.f("pk_etl_checkpoints")),
    )
    op.create_table(
        "etl_sync_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("full_refresh", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("scopes", JSON_TYPE, nullable=True),
        sa.Column("pages", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_listed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_new", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_changed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_unchanged", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_hydrated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_not_found", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etl_sync_runs")),
    )
    op.create_table(
        "classify_parsing_configs",
        sa.Column("job_id", sa.String(), nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=True),
        sa.Column("max_pages", sa.Integer(), nullable=True),
        sa.Column("target_pages", sa.Text(), nullable=True),
        sa.Column("target_pages_source", sa.String(length=2), nullable=True),
        sa.CheckConstraint(
            "target_pages_source IN ('v1', 'v2')",
            name=op.f("ck_classify_parsing_configs_target_pages_source"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["classify_jobs.id"],
            name=op.f("fk_classify_parsing_configs_job_id_classify_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_classify_parsing_configs")),
    )
    op.create_table(
        "classify_results",
        sa.Column("job_id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("reasoning", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "confidence >= 0 AND confidence <= 1", name=op.f("ck_classify_results_confidence_range")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["classify_jobs.id"],
            name=op.f("fk_classify_results_job_id_classify_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_classify_results")),
    )
    with op.batch_alter_table("classify_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_classify_results_type"), ["type"], unique=False)

    op.create_table(
        "classify_rules",
        sa.Column("job_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["classify_jobs.id"],
            name=op.f("fk_classify_rules_job_id_classify_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "position", name=op.f("pk_classify_rules")),
    )
    with op.batch_alter_table("classify_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_classify_rules_type"), ["type"], unique=False)

    op.create_table(
        "classify_target_pages",
        sa.Column("job_id", sa.String(), nullable=False),
        sa.Column("page_number", sa.Integer(), nullable=False),
        sa.CheckConstraint("page_number >= 1", name=op.f("ck_classify_target_pages_page_number_1_based")),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["classify_jobs.id"],
            name=op.f("fk_classify_target_pages_job_id_classify_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "page_number", name=op.f("pk_classify_target_pages")),
    )


def downgrade() -> None:

    op.drop_table("classify_target_pages")
    with op.batch_alter_table("classify_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_classify_rules_type"))

    op.drop_table("classify_rules")
    with op.batch_alter_table("classify_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_classify_results_type"))

    op.drop_table("classify_results")
    op.drop_table("classify_parsing_configs")
    op.drop_table("etl_sync_runs")
    op.drop_table("etl_checkpoints")
    with op.batch_alter_table("classify_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_classify_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_classify_jobs_project_id"))
        batch_op.drop_index(batch_op.f("ix_classify_jobs_created_at"))

    op.drop_table("classify_jobs")
