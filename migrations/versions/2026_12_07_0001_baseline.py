"""Baseline: the whole schema of classify-etl 1.0, in one revision.

Replaces revisions 0001-0018 (never released). It first made the database they made (the same
tables, columns, types, defaults, keys, indexes, views, trigger functions and triggers, on SQLite and
on PostgreSQL: ``scripts/compare_schemas.py`` reflects two databases and prints their differences);
then the changes made before 1.0 were folded in: the raw payloads as one JSON value
(``classify_job_payloads.raw``, where 0018 kept them compressed), ``etl_unmapped_fields``, and the
throttling counters of ``etl_sync_runs`` (``throttled_responses``, ``throttle_wait_s``).
One difference: on SQLite, ``classify_jobs.v2_usage_credits`` and ``v2_usage_parse_credits``
follow ``v2_updated_at`` as they do on PostgreSQL, not ``deleted_at`` (0006 had re-added them at
the end there). A database at one of those revisions is refused (``etl.warehouse.db``).

The tables and their indexes were generated from ``etl/warehouse/schema.py`` by autogenerate and
spelled out here in plain SQLAlchemy types, so that this revision never changes when that module
does. The views, trigger functions, triggers and indexes on expressions are SQL, frozen in
``migrations/baseline_sql.py`` (also read by ``env.py``). A later revision that changes a view or
a trigger carries its own SQL (see that module); it imports neither this revision nor that SQL.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from etl.migrations import baseline_sql

revision: str = "0001_baseline"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# Predicates of the partial indexes.
LIVE = "deleted_at IS NULL"
LIVE_NOT_HYDRATED = "deleted_at IS NULL AND hydration_status IN ('not_found', 'failed', 'pending')"
LIVE_OUTDATED = (
    "deleted_at IS NULL AND hydration_status = 'ok' AND "
    "(v1_updated_at > v2_updated_at OR hydrated_at < v1_updated_at OR hydrated_at < v2_updated_at)"
)
CLOSED = "valid_to IS NOT NULL"
TYPE_CHANGED = "version > 1 AND COALESCE(previous_result_type, '(none)') <> COALESCE(result_type, '(none)')"


def upgrade() -> None:
    op.create_table(
        "classify_daily_stats",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result_type", sa.String(), nullable=False),
        sa.Column("jobs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("confidence_sum", sa.Numeric(asdecimal=False), server_default="0", nullable=False),
        sa.Column("jobs_with_usage", sa.Integer(), server_default="0", nullable=False),
        sa.Column("credits_micro", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tenth_0", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tenth_1", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tenth_2", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tenth_3", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tenth_4", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tenth_5", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tenth_6", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tenth_7", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tenth_8", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tenth_9", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "project_id", "status", "result_type", name=op.f("pk_classify_daily_stats")
        ),
    )
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
        sa.Column("v2_usage_credits", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("v2_usage_parse_credits", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hydrated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hydration_status", sa.String(length=16), nullable=False),
        sa.Column("hydration_error", sa.Text(), nullable=True),
        sa.Column("v1_hash", sa.String(length=32), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rule_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rule_types", sa.Text(), nullable=True),
        sa.Column("target_page_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("v2_hash", sa.String(length=32), nullable=True),
        sa.Column("v2_credits_pending", sa.Boolean(), nullable=True),
        sa.Column("rule_set_id", sa.Integer(), nullable=True),
        sa.Column("result_type", sa.String(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("parsing_configured", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=True),
        sa.Column("max_pages", sa.Integer(), nullable=True),
        sa.Column("target_pages", sa.Text(), nullable=True),
        sa.Column("target_pages_source", sa.String(length=2), nullable=True),
        sa.CheckConstraint(
            "hydration_status IN ('pending', 'ok', 'not_found', 'failed')",
            name=op.f("ck_classify_jobs_hydration_status"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'partial', 'failed', 'cancelled')",
            name=op.f("ck_classify_jobs_status"),
        ),
        sa.CheckConstraint(
            "target_pages_source IN ('v1', 'v2')", name=op.f("ck_classify_jobs_target_pages_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classify_jobs")),
    )
    op.create_index(op.f("ix_classify_jobs_created_at"), "classify_jobs", ["created_at"], unique=False)
    op.create_index(op.f("ix_classify_jobs_deleted_at"), "classify_jobs", ["deleted_at"], unique=False)
    op.create_index(
        "ix_classify_jobs_live_first_seen_at",
        "classify_jobs",
        ["first_seen_at"],
        unique=False,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )
    op.create_index(
        "ix_classify_jobs_live_not_hydrated",
        "classify_jobs",
        ["hydration_status"],
        unique=False,
        sqlite_where=sa.text(LIVE_NOT_HYDRATED),
        postgresql_where=sa.text(
            "deleted_at IS NULL AND hydration_status IN ('not_found', 'failed', 'pending')"
        ),
    )
    op.create_index(
        "ix_classify_jobs_live_outdated",
        "classify_jobs",
        ["hydrated_at"],
        unique=False,
        sqlite_where=sa.text(LIVE_OUTDATED),
        postgresql_where=sa.text(LIVE_OUTDATED),
    )
    op.create_index(
        "ix_classify_jobs_live_project_created_at",
        "classify_jobs",
        ["project_id", "created_at"],
        unique=False,
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )
    op.create_index(
        "ix_classify_jobs_live_result_type_created_at",
        "classify_jobs",
        ["result_type", "created_at"],
        unique=False,
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )
    op.create_index(op.f("ix_classify_jobs_project_id"), "classify_jobs", ["project_id"], unique=False)
    op.create_index(op.f("ix_classify_jobs_rule_set_id"), "classify_jobs", ["rule_set_id"], unique=False)
    op.create_index(op.f("ix_classify_jobs_status"), "classify_jobs", ["status"], unique=False)
    op.create_index("ix_classify_jobs_updated_at", "classify_jobs", ["updated_at"], unique=False)

    op.create_table(
        "classify_page_stats",
        # autoincrement: a serial on PostgreSQL, as the revisions before the baseline made it (unused:
        # the triggers always give the page number).
        sa.Column("page_number", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("jobs", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("page_number", name=op.f("pk_classify_page_stats")),
    )
    op.create_table(
        "classify_rule_sets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classify_rule_sets")),
        sa.UniqueConstraint("digest", name=op.f("uq_classify_rule_sets_digest")),
    )
    op.create_table(
        "classify_rule_stats",
        sa.Column("rule_type", sa.String(), nullable=False),
        sa.Column("jobs_offered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_with_result", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_matched", sa.Integer(), server_default="0", nullable=False),
        sa.Column("confidence_sum", sa.Numeric(asdecimal=False), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("rule_type", name=op.f("pk_classify_rule_stats")),
    )
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
        "etl_job_seen",
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("job_id", sa.String(), nullable=False),
        sa.Column("first_listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "job_id", name=op.f("pk_etl_job_seen")),
    )
    op.create_table(
        "etl_scope_sources",
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("list_source", sa.String(length=2), nullable=False),
        sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint("list_source IN ('v1', 'v2')", name=op.f("ck_etl_scope_sources_list_source")),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_etl_scope_sources")),
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
        sa.Column("jobs_quarantined", sa.Integer(), server_default="0", nullable=False),
        sa.Column("jobs_deleted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("run_kind", sa.String(length=32), nullable=True),
        sa.Column("details", JSON_TYPE, nullable=True),
        sa.Column("throttled_responses", sa.Integer(), server_default="0", nullable=False),
        sa.Column("throttle_wait_s", sa.Float(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etl_sync_runs")),
    )
    op.create_table(
        "etl_walk_sightings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etl_walk_sightings")),
    )
    op.create_index(
        "ix_etl_walk_sightings_scope_seen_at", "etl_walk_sightings", ["scope", "seen_at"], unique=False
    )

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
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("previous_result_type", sa.String(), nullable=True),
        sa.Column("previous_confidence", sa.Float(), nullable=True),
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
    op.create_index(
        "ix_classify_job_history_closed_job_id",
        "classify_job_history",
        ["job_id"],
        unique=False,
        sqlite_where=sa.text(CLOSED),
        postgresql_where=sa.text(CLOSED),
    )
    op.create_index(
        "ix_classify_job_history_job_id_valid_from",
        "classify_job_history",
        ["job_id", "valid_from"],
        unique=False,
    )
    op.create_index(
        "ix_classify_job_history_type_changed",
        "classify_job_history",
        ["valid_from", "job_id"],
        unique=False,
        sqlite_where=sa.text(
            "version > 1 AND COALESCE(previous_result_type, '(none)') <> COALESCE(result_type, '(none)')"
        ),
        postgresql_where=sa.text(
            "version > 1 AND COALESCE(previous_result_type, '(none)') <> COALESCE(result_type, '(none)')"
        ),
    )

    op.create_table(
        "classify_job_payloads",
        sa.Column("job_id", sa.String(), nullable=False),
        sa.Column("raw", JSON_TYPE, nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["classify_jobs.id"],
            name=op.f("fk_classify_job_payloads_job_id_classify_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_classify_job_payloads")),
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
    op.create_index(op.f("ix_classify_results_type"), "classify_results", ["type"], unique=False)

    op.create_table(
        "classify_rule_set_rules",
        sa.Column("rule_set_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_set_id"],
            ["classify_rule_sets.id"],
            name=op.f("fk_classify_rule_set_rules_rule_set_id_classify_rule_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_set_id", "position", name=op.f("pk_classify_rule_set_rules")),
    )
    op.create_index(
        op.f("ix_classify_rule_set_rules_type"), "classify_rule_set_rules", ["type"], unique=False
    )

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
    op.create_index(op.f("ix_etl_quarantine_job_id"), "etl_quarantine", ["job_id"], unique=False)
    op.create_table(
        "etl_unmapped_fields",
        sa.Column("endpoint", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sample_job_id", sa.String(), nullable=False),
        sa.Column("first_run_id", sa.Integer(), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["first_run_id"],
            ["etl_sync_runs.id"],
            name=op.f("fk_etl_unmapped_fields_first_run_id_etl_sync_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["etl_sync_runs.id"],
            name=op.f("fk_etl_unmapped_fields_last_run_id_etl_sync_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("endpoint", "path", name=op.f("pk_etl_unmapped_fields")),
    )
    for statement in baseline_sql.creates(op.get_context().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in baseline_sql.drops(op.get_context().dialect.name):
        op.execute(statement)
    op.drop_table("etl_unmapped_fields")
    op.drop_table("etl_quarantine")
    op.drop_table("classify_target_pages")
    op.drop_table("classify_rule_set_rules")
    op.drop_table("classify_results")
    op.drop_table("classify_job_payloads")
    op.drop_table("classify_job_history")
    op.drop_table("etl_walk_windows")
    op.drop_table("etl_walk_sightings")
    op.drop_table("etl_sync_runs")
    op.drop_table("etl_scope_sources")
    op.drop_table("etl_job_seen")
    op.drop_table("etl_checkpoints")
    op.drop_table("classify_rule_stats")
    op.drop_table("classify_rule_sets")
    op.drop_table("classify_page_stats")
    op.drop_table("classify_jobs")
    op.drop_table("classify_daily_stats")
