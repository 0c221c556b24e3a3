"""SQLite: store every timestamp with an explicit UTC offset (``...06.123456+00:00``).

Until now SQLite held naive text (``2025-01-02 03:04:05.123456``) that only the ETL knew to be
UTC. Every existing value is rewritten to the new fixed-width form in this revision, so that text
comparisons (in views, README queries and the loader's own) never mix the two. PostgreSQL stores
``timestamptz`` and is untouched.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 01:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every timestamp column as of revision 0006.
TIMESTAMPS = {
    "classify_jobs": (
        "created_at",
        "updated_at",
        "v1_created_at",
        "v1_updated_at",
        "v1_effective_at",
        "v2_created_at",
        "v2_updated_at",
        "first_seen_at",
        "hydrated_at",
        "deleted_at",
    ),
    "etl_sync_runs": ("started_at", "finished_at"),
    "etl_checkpoints": ("walk_started_at", "last_complete_walk_at", "updated_at"),
    "etl_quarantine": ("first_seen_at", "last_seen_at", "resolved_at"),
    "etl_job_seen": ("last_seen_at",),
    "classify_job_history": ("valid_from", "valid_to", "observed_at"),
    "etl_scope_sources": ("chosen_at",),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, columns in TIMESTAMPS.items():
        for c in columns:
            # SQLAlchemy always wrote microseconds; a value without them (written by hand) gets them.
            op.execute(
                f"UPDATE {table} SET {c} = CASE WHEN length({c}) = 19 THEN {c} || '.000000+00:00' "
                f"ELSE {c} || '+00:00' END WHERE {c} IS NOT NULL AND {c} NOT LIKE '%+00:00'"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, columns in TIMESTAMPS.items():
        for c in columns:
            op.execute(f"UPDATE {table} SET {c} = substr({c}, 1, length({c}) - 6) WHERE {c} LIKE '%+00:00'")
