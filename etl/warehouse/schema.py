"""The relational schema: the single source Alembic compares against (``alembic check``).

Table and column names are a contract analysts write SQL against; change them only with a new
Alembic revision. All timestamps are timezone-aware UTC: ``timestamptz`` on PostgreSQL, ISO text
with an explicit ``+00:00`` on SQLite. Credits are exact decimals. Raw API payloads are kept as
JSON in ``classify_job_payloads`` (readable from SQL with ``->`` / ``->>``) so that
a field the API adds later is never lost, and readable before a release maps it, without weighing
on every scan of ``classify_jobs``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: JSON on SQLite, JSONB on PostgreSQL.
JsonType = JSON().with_variant(JSONB(), "postgresql")
#: The same, where Python's None is SQL NULL rather than the JSON ``null``.
JsonOrNull = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

CANONICAL_STATUSES = ("pending", "running", "completed", "partial", "failed", "cancelled")
HYDRATION_STATUSES = ("pending", "ok", "not_found", "failed")


#: How SQLite stores a timestamp: fixed-width ISO 8601 with microseconds and an explicit UTC offset,
#: so that text comparison is chronological and every reader (SQL, pandas, a BI tool) sees UTC.
SQLITE_TIMESTAMP_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d+00:00"
)
_SQLITE_TIMESTAMP = sqlite.DATETIME(  # type: ignore[no-untyped-call]
    storage_format=SQLITE_TIMESTAMP_FORMAT,
    regexp=r"(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)\.(\d{6})\+00:00$",
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out: ``timestamptz`` on PostgreSQL; on SQLite, text ending in
    ``+00:00`` (``2025-01-02 03:04:05.000000+00:00``): SQLite's date functions read the offset, and
    all stored values share one width, so comparing them as text compares them in time."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLITE_TIMESTAMP)
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: Credits: exact decimals (NUMERIC on PostgreSQL, so ``SUM`` is exact; Decimal in Python).
Credits = Numeric(18, 6, asdecimal=True)


def _utc() -> UtcDateTime:
    return UtcDateTime()


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


classify_jobs = Table(
    "classify_jobs",
    metadata,
    Column("id", String, primary_key=True),
    # Canonical, reconciled from both endpoints (v2 wins where it has the field).
    Column("project_id", String, nullable=False, index=True),
    Column("user_id", String),
    Column("status", String(16), nullable=False, index=True),
    Column("mode", String(16)),
    Column("error_message", Text),
    Column("created_at", _utc(), index=True),
    Column("updated_at", _utc()),
    # v1 list fields, as listed.
    Column("v1_status", String(32)),
    Column("v1_mode", String(16)),
    Column("v1_user_id", String),
    Column("v1_project_id", String),
    Column("v1_created_at", _utc()),
    Column("v1_updated_at", _utc()),
    Column("v1_effective_at", _utc()),
    Column("v1_error_message", Text),
    Column("v1_job_record_id", String),
    # v2 get fields, as hydrated.
    Column("v2_status", String(32)),
    Column("v2_mode", String(16)),
    Column("v2_document_input_type", String(32)),
    Column("v2_file_input", String),
    Column("v2_parse_job_id", String),
    Column("v2_configuration_id", String),
    Column("v2_transaction_id", String),
    Column("v2_error_message", Text),
    Column("v2_created_at", _utc()),
    Column("v2_updated_at", _utc()),
    Column("v2_usage_credits", Credits),
    Column("v2_usage_parse_credits", Credits),
    # Bookkeeping.
    Column("first_seen_at", _utc(), nullable=False),
    Column("hydrated_at", _utc()),
    Column("hydration_status", String(16), nullable=False),
    Column("hydration_error", Text),
    # Fingerprint of v1_raw: notices a listed change that did not move updated_at.
    Column("v1_hash", String(32)),
    CheckConstraint(_in("status", CANONICAL_STATUSES), name="status"),
    CheckConstraint(_in("hydration_status", HYDRATION_STATUSES), name="hydration_status"),
)

#: Relations that are views: readable like tables, not in ``metadata`` (which
#: ``alembic check`` compares with the database's tables).
views = MetaData()

# A job's rules, as the API sent them: a view joining the job to its deduplicated rule set
# (classify_rule_sets / classify_rule_set_rules below); same name, columns and rows as the table
# it replaced.
classify_rules = Table(
    "classify_rules",
    views,
    Column("job_id", String, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("type", String, nullable=False),
    Column("description", Text, nullable=False),
)

# A job's parsing configuration: a view over the job row's columns of the same names
# (classify_jobs.parsing_configured says the job has one); same name, columns and rows as the
# table it replaced.
classify_parsing_configs = Table(
    "classify_parsing_configs",
    views,
    Column("job_id", String, primary_key=True),
    Column("lang", String(16)),
    Column("max_pages", Integer),
    Column("target_pages", Text),
    Column("target_pages_source", String(2)),
)

classify_target_pages = Table(
    "classify_target_pages",
    metadata,
    Column("job_id", String, ForeignKey("classify_jobs.id", ondelete="CASCADE"), primary_key=True),
    # 1-based, whichever endpoint it came from.
    Column("page_number", Integer, primary_key=True),
    CheckConstraint("page_number >= 1", name="page_number_1_based"),
)

classify_results = Table(
    "classify_results",
    metadata,
    Column("job_id", String, ForeignKey("classify_jobs.id", ondelete="CASCADE"), primary_key=True),
    # NULL when no rule matched.
    Column("type", String, index=True),
    Column("confidence", Float, nullable=False),
    Column("reasoning", Text, nullable=False),
    CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
)

etl_sync_runs = Table(
    "etl_sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", _utc(), nullable=False),
    Column("finished_at", _utc()),
    Column("outcome", String(16), nullable=False),
    Column("full_refresh", Boolean, nullable=False, server_default=false()),
    Column("scopes", JsonType),
    Column("pages", Integer, nullable=False, server_default="0"),
    Column("jobs_listed", Integer, nullable=False, server_default="0"),
    Column("jobs_new", Integer, nullable=False, server_default="0"),
    Column("jobs_changed", Integer, nullable=False, server_default="0"),
    Column("jobs_unchanged", Integer, nullable=False, server_default="0"),
    Column("jobs_hydrated", Integer, nullable=False, server_default="0"),
    Column("jobs_not_found", Integer, nullable=False, server_default="0"),
    Column("jobs_failed", Integer, nullable=False, server_default="0"),
    Column("message", Text),
    # Answers that said "too many requests" (429, or 503 with a wait), and the seconds during which
    # the client held requests back for them or for --max-requests-per-minute.
    Column("throttled_responses", Integer, nullable=False, server_default="0"),
    Column("throttle_wait_s", Float, nullable=False, server_default="0"),
)

etl_checkpoints = Table(
    "etl_checkpoints",
    metadata,
    # "project:<id>", "organization:<id>" or "default" (the key's own scope).
    Column("scope", String, primary_key=True),
    # Which list endpoint the walk uses ("v1" or "v2"): a v1 token is never resumed against v2.
    Column("source", String(2), primary_key=True),
    Column("next_page_token", Text),
    Column("pages_done", Integer, nullable=False, server_default="0"),
    Column("walk_started_at", _utc()),
    Column("last_complete_walk_at", _utc()),
    Column("updated_at", _utc(), nullable=False),
)

# -- reliability -----------------------------------------------------------------------------------------

classify_jobs.append_column(Column("deleted_at", _utc(), index=True))

etl_quarantine = Table(
    "etl_quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # v1_list, v2_get or v2_list: where the malformed record came from.
    Column("endpoint", String(16), nullable=False),
    # The record's id when it has one; else a fingerprint of its raw payload.
    Column("item_key", String, nullable=False),
    Column("job_id", String, index=True),
    # The scope whose walk met it: a complete walk of that scope that no longer meets it resolves it.
    Column("scope", String),
    Column("reason", Text, nullable=False),
    Column("raw", JsonType),
    Column("run_id", Integer, ForeignKey("etl_sync_runs.id", ondelete="SET NULL")),
    Column("first_seen_at", _utc(), nullable=False),
    Column("last_seen_at", _utc(), nullable=False),
    Column("resolved_at", _utc()),
    Column("resolved_run_id", Integer, ForeignKey("etl_sync_runs.id", ondelete="SET NULL")),
    UniqueConstraint("endpoint", "item_key", name="uq_etl_quarantine_endpoint_item_key"),
)

etl_job_seen = Table(
    "etl_job_seen",
    metadata,
    # Which scopes have listed each job (written once, when a scope first lists it, so that a walk
    # that lists nothing new writes nothing here). What one walk listed is in
    # etl_walk_sightings; a job of the scope absent from a complete walk's sightings is deleted.
    Column("scope", String, primary_key=True),
    Column("job_id", String, primary_key=True),
    Column("first_listed_at", _utc(), nullable=False),
)

etl_sync_runs.append_column(Column("jobs_quarantined", Integer, nullable=False, server_default="0"))
etl_sync_runs.append_column(Column("jobs_deleted", Integer, nullable=False, server_default="0"))

# -- classification history ------------------------------------------------------------------------------

classify_job_history = Table(
    "classify_job_history",
    metadata,
    # One row per observed version of a job's outcome (status, result type, confidence, error),
    # valid from when the API says it changed until the next version (NULL: current). "As of"
    # queries are a BETWEEN; "what changed" reads each row's predecessor columns.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String, ForeignKey("classify_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("valid_from", _utc(), nullable=False),
    Column("valid_to", _utc()),
    Column("status", String(16), nullable=False),
    Column("result_type", String),
    Column("confidence", Float),
    Column("error_message", Text),
    Column("observed_at", _utc(), nullable=False),
    Column("run_id", Integer, ForeignKey("etl_sync_runs.id", ondelete="SET NULL")),
    Index("ix_classify_job_history_job_id_valid_from", "job_id", "valid_from"),
)

# -- list source per scope -------------------------------------------------------------------------------

etl_scope_sources = Table(
    "etl_scope_sources",
    metadata,
    # The list endpoint `--list-source auto` settled on for a scope, once v1 answered 404/405/410.
    Column("scope", String, primary_key=True),
    Column("list_source", String(2), nullable=False),
    Column("chosen_at", _utc(), nullable=False),
    Column("reason", Text),
    CheckConstraint("list_source IN ('v1', 'v2')", name="list_source"),
)

# -- raw payloads out of the hot row ---------------------------------------------------------------------

classify_job_payloads = Table(
    "classify_job_payloads",
    metadata,
    # A job's raw payloads, as one JSON object (jsonb on PostgreSQL): ``{"v1": the v1 list item,
    # "v2": the v2 body}``, a key absent when the job has no such payload. Text and numbers the
    # databases cannot hold are escaped (etl.change.normalize.storable_raw; restore_raw undoes it).
    # One value, not a column per payload: PostgreSQL compresses a value only past ~2 kB, which
    # the pair reaches and a payload alone mostly does not, and the pair's repeats (ids, rules)
    # compress against each other. Kept apart so that scans of classify_jobs never read it.
    Column("job_id", String, ForeignKey("classify_jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("raw", JsonOrNull, nullable=False),
)

# -- per-job rule and page counts ------------------------------------------------------------------

# Derived from the job's classify_rules / classify_target_pages rows, written with them by
# load.upsert_jobs, so that the current-state view reads them per row instead of aggregating the
# child tables whole.
classify_jobs.append_column(Column("rule_count", Integer, nullable=False, server_default="0"))
classify_jobs.append_column(Column("rule_types", Text))
classify_jobs.append_column(Column("target_page_count", Integer, nullable=False, server_default="0"))

# -- rule match statistics -------------------------------------------------------------------------------

classify_rule_stats = Table(
    "classify_rule_stats",
    metadata,
    # Per rule type over live jobs, kept current by triggers on classify_rules, classify_results and
    # classify_jobs (in the writing transaction): what classify_rule_match reports.
    Column("rule_type", String, primary_key=True),
    Column("jobs_offered", Integer, nullable=False, server_default="0"),
    Column("jobs_with_result", Integer, nullable=False, server_default="0"),
    Column("jobs_matched", Integer, nullable=False, server_default="0"),
    Column("confidence_sum", Numeric(asdecimal=False), nullable=False, server_default="0"),
)

# -- indexes for the analysts' queries -------------------------------------------------------------------
# Expression indexes (the UTC day) are in the migrations only: autogenerate cannot compare them.

Index("ix_classify_jobs_updated_at", classify_jobs.c.updated_at)
# No (project_id, created_at) index: project_id's own index and created_at's serve the same
# queries, bitmap-ANDed, for a tenth of its bytes.
# Partial indexes that answer classify_hydration_health's counts (their predicates are the view's).
LIVE_NOT_HYDRATED = "deleted_at IS NULL AND hydration_status IN ('not_found', 'failed', 'pending')"
LIVE_OUTDATED = (
    "deleted_at IS NULL AND hydration_status = 'ok' AND "
    "(v1_updated_at > v2_updated_at OR hydrated_at < v1_updated_at OR hydrated_at < v2_updated_at)"
)
LIVE = "deleted_at IS NULL"
for _name, _column, _where in (
    ("ix_classify_jobs_live_not_hydrated", classify_jobs.c.hydration_status, LIVE_NOT_HYDRATED),
    ("ix_classify_jobs_live_outdated", classify_jobs.c.hydrated_at, LIVE_OUTDATED),
    ("ix_classify_jobs_live_first_seen_at", classify_jobs.c.first_seen_at, LIVE),
):
    Index(_name, _column, sqlite_where=text(_where), postgresql_where=text(_where))
# "Which jobs changed result type" only needs jobs with more than one version.
Index(
    "ix_classify_job_history_closed_job_id",
    classify_job_history.c.job_id,
    sqlite_where=text("valid_to IS NOT NULL"),
    postgresql_where=text("valid_to IS NOT NULL"),
)

# -- what each walk listed -------------------------------------------------------------------------------

etl_walk_sightings = Table(
    "etl_walk_sightings",
    metadata,
    # One row per committed page of a walk: the ids it listed (a JSON array). A complete walk's
    # mark_deleted tombstones the scope's jobs absent from its sightings, then drops them.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String, nullable=False),
    Column("seen_at", _utc(), nullable=False),
    Column("job_ids", JSON, nullable=False),
    Index("ix_etl_walk_sightings_scope_seen_at", "scope", "seen_at"),
)

# -- the v2 walk plan ------------------------------------------------------------------------------------

# Fingerprint of the v2 list item as served: notices a listed change that did not move updated_at
# (the v1 path has v1_hash). A body fetched with expand=usage does not change it.
classify_jobs.append_column(Column("v2_hash", String(32)))
# True while the service reports usage without credits (billing has not recorded them yet), or
# while a listed item without usage could not be fetched with expand=usage: the sync fetches the
# job again until its credits appear or --credits-lag has passed since it finished.
classify_jobs.append_column(Column("v2_credits_pending", Boolean))

etl_walk_windows = Table(
    "etl_walk_windows",
    metadata,
    # One created_at window of a parallel v2 walk, with its own page checkpoint: a killed walk
    # resumes every window where it stopped. Rows live while the walk is under way.
    Column("scope", String, primary_key=True),
    # "full": a window of the scope's full reconciliation walk; "partition": a --created-after /
    # --created-before run, which never touches the scope's incremental state or deletions.
    Column("walk_kind", String(16), primary_key=True),
    # The window's bounds, rendered: "<from>|<to>" (either side may be empty: unbounded).
    Column("window_key", String, primary_key=True),
    Column("created_from", _utc()),
    Column("created_to", _utc()),
    Column("next_page_token", Text),
    Column("pages_done", Integer, nullable=False, server_default="0"),
    Column("done", Boolean, nullable=False, server_default=false()),
    Column("walk_started_at", _utc(), nullable=False),
    Column("updated_at", _utc(), nullable=False),
)

# What kind of run it was (v1 walk, v2 incremental, v2 full walk, partition) and its counters
# beyond the job counts, as JSON: list requests per part of the plan, credit fetches, guards.
etl_sync_runs.append_column(Column("run_kind", String(32)))
etl_sync_runs.append_column(Column("details", JsonType))

# -- summaries for the whole-table reports ---------------------------------------------------------

classify_daily_stats = Table(
    "classify_daily_stats",
    metadata,
    # Live jobs per (UTC day of created_at, project, status, result type), kept current by triggers
    # on classify_jobs and classify_results (in the writing transaction): what
    # classify_daily_counts and classify_confidence_counts report. ``tenth_k``: those of them whose
    # result's confidence is in [k/10, (k+1)/10) (1.0 in tenth_9). Keys hold no NULL: day
    # 0001-01-01 is "no created_at", result_type '' is "no result type"; a group counted down to
    # zero keeps its row with jobs = 0.
    Column("day", Date, primary_key=True),
    Column("project_id", String, primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("result_type", String, primary_key=True),
    Column("jobs", Integer, nullable=False, server_default="0"),
    Column("confidence_sum", Numeric(asdecimal=False), nullable=False, server_default="0"),
    Column("jobs_with_usage", Integer, nullable=False, server_default="0"),
    # Credits in millionths (credits have six decimals): exact sums on SQLite too.
    Column("credits_micro", BigInteger, nullable=False, server_default="0"),
    *(Column(f"tenth_{k}", Integer, nullable=False, server_default="0") for k in range(10)),
)

# The views filter on (project_id, NULLIF(day, '0001-01-01')): the expression index
# ix_classify_daily_stats_project_id_day, defined by the migrations only (migrations/env.py).

classify_page_stats = Table(
    "classify_page_stats",
    metadata,
    # Live jobs scoped to each (1-based) page, kept current by triggers on classify_target_pages
    # and classify_jobs.deleted_at.
    Column("page_number", Integer, primary_key=True, autoincrement=False),
    Column("jobs", Integer, nullable=False, server_default="0"),
)
# "Jobs scoped to some pages", in the report's order: ix_classify_jobs_live_scoped on
# (target_page_count DESC) WHERE deleted_at IS NULL AND target_page_count > 0, defined by the
# migrations only (migrations/env.py: autogenerate compares a DESC column poorly).

# -- rule sets, stored once ------------------------------------------------------------------------------

classify_rule_sets = Table(
    "classify_rule_sets",
    metadata,
    # One row per distinct list of rules (jobs of one classifier share theirs): the job points at
    # it (classify_jobs.rule_set_id). ``digest``: SHA-256 of the canonical JSON of the list
    # (etl.load.rule_set_digest). Never updated, kept when no job points at it any more.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, unique=True),
)

classify_rule_set_rules = Table(
    "classify_rule_set_rules",
    metadata,
    Column("rule_set_id", Integer, ForeignKey("classify_rule_sets.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("type", String, nullable=False, index=True),
    Column("description", Text, nullable=False),
)
# NULL: the job has no rules. No foreign key (SQLite cannot add one to an existing table); the
# loader writes the set before the job.
classify_jobs.append_column(Column("rule_set_id", Integer, index=True))

# -- history rows carry their predecessor ----------------------------------------------------------------

# ``version``: 1 for a job's first observed version, then 2, 3, ...; ``previous_result_type`` and
# ``previous_confidence``: those of the version this row replaced (NULL for version 1).
classify_job_history.append_column(Column("version", Integer, nullable=False, server_default="1"))
classify_job_history.append_column(Column("previous_result_type", String))
classify_job_history.append_column(Column("previous_confidence", Float))
HISTORY_TYPE_CHANGED = (
    "version > 1 AND COALESCE(previous_result_type, '(none)') <> COALESCE(result_type, '(none)')"
)
# "Which jobs changed result type", newest first: exactly the rows where it changed.
Index(
    "ix_classify_job_history_type_changed",
    classify_job_history.c.valid_from,
    classify_job_history.c.job_id,
    sqlite_where=text(HISTORY_TYPE_CHANGED),
    postgresql_where=text(HISTORY_TYPE_CHANGED),
)

# -- dashboards driven by indexes ------------------------------------------------------------------------

# Copies of the job's classify_results.type and .confidence (NULL without a result), written by the
# loader with the result row: classify_jobs_current reads them from the job row, so that a filter
# on a document type or a confidence is answered by classify_jobs' own indexes.
classify_jobs.append_column(Column("result_type", String))
classify_jobs.append_column(Column("confidence", Float))
# The job's parsing configuration, as the API sent it:
# ``parsing_configured`` is true when the job has one, even with every field null.
classify_jobs.append_column(Column("parsing_configured", Boolean, nullable=False, server_default=false()))
classify_jobs.append_column(Column("lang", String(16)))
classify_jobs.append_column(Column("max_pages", Integer))
# target_pages exactly as the API sent it: v2's "1,3,5-7" string, or v1's 0-based JSON list.
classify_jobs.append_column(Column("target_pages", Text))
classify_jobs.append_column(Column("target_pages_source", String(2)))
classify_jobs.append_constraint(
    CheckConstraint("target_pages_source IN ('v1', 'v2')", name="target_pages_source")
)
# A dashboard's "one project, last N days" (counts per status, confidence histogram) reads the live
# jobs of its window through this index, and "one document type, last N days" through the next one.
# (Columns carried in the index would not make it index-only: the view's join to classify_results
# keeps the job's id needed on PostgreSQL 15, even where the planner drops the join.)
Index(
    "ix_classify_jobs_live_project_created_at",
    classify_jobs.c.project_id,
    classify_jobs.c.created_at,
    postgresql_where=text(LIVE),
    sqlite_where=text(LIVE),
)
Index(
    "ix_classify_jobs_live_result_type_created_at",
    classify_jobs.c.result_type,
    classify_jobs.c.created_at,
    postgresql_where=text(LIVE),
    sqlite_where=text(LIVE),
)

# -- fields the API sent that no column maps -------------------------------------------------------------

etl_unmapped_fields = Table(
    "etl_unmapped_fields",
    metadata,
    # A field of a payload that the models do not declare (etl.source.models.unmapped_fields): kept
    # in classify_job_payloads.raw, announced by the run that first stored it and by `status`.
    # ``endpoint``: "v1" (the v1 list item) or "v2" (the v2 body or list item); ``path``: dotted,
    # "[]" after a list ("usage.new_thing", "configuration.rules[].weight").
    Column("endpoint", String(8), primary_key=True),
    Column("path", String, primary_key=True),
    Column("first_seen_at", _utc(), nullable=False),
    Column("last_seen_at", _utc(), nullable=False),
    # A job whose payload had it, as of last_seen_at.
    Column("sample_job_id", String, nullable=False),
    Column("first_run_id", Integer, ForeignKey("etl_sync_runs.id", ondelete="SET NULL")),
    Column("last_run_id", Integer, ForeignKey("etl_sync_runs.id", ondelete="SET NULL")),
)
