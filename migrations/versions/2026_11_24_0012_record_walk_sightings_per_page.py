"""Record what a walk listed once per page (etl_walk_sightings), not once per job.

etl_job_seen.last_seen_at was rewritten for every listed job on every walk: a no-change sync of
100k jobs rewrote 99k rows (1.8 s of its 8.2 s in the database). Now a page adds one
etl_walk_sightings row (its job ids) and etl_job_seen only gains a row when a scope lists a job for
the first time; its column becomes first_listed_at. A complete walk tombstones the scope's jobs
absent from its sightings, then drops them.

A walk in progress at upgrade keeps its progress: the ids seen since the scope's last complete walk
become sightings, grouped by page time.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "etl_walk_sightings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etl_walk_sightings")),
    )
    op.create_index("ix_etl_walk_sightings_scope_seen_at", "etl_walk_sightings", ["scope", "seen_at"])
    pg = op.get_bind().dialect.name == "postgresql"
    never = "CAST('-infinity' AS TIMESTAMP WITH TIME ZONE)" if pg else "''"
    agg = "json_agg(s.job_id)" if pg else "json_group_array(s.job_id)"
    op.execute(
        f"""INSERT INTO etl_walk_sightings (scope, seen_at, job_ids)
        SELECT s.scope, s.last_seen_at, {agg}
        FROM etl_job_seen AS s
        WHERE s.last_seen_at > COALESCE(
            (SELECT MAX(c.last_complete_walk_at) FROM etl_checkpoints AS c WHERE c.scope = s.scope), {never})
        GROUP BY s.scope, s.last_seen_at"""
    )
    op.execute("ALTER TABLE etl_job_seen RENAME COLUMN last_seen_at TO first_listed_at")


def downgrade() -> None:
    op.execute("ALTER TABLE etl_job_seen RENAME COLUMN first_listed_at TO last_seen_at")
    # A job listed by the scope's last complete walk was seen no later than its end; one listed by
    # the walk in progress, at its page's time. Either way the next walk's comparison holds.
    op.execute(
        """UPDATE etl_job_seen SET last_seen_at = COALESCE(
            (SELECT MAX(c.last_complete_walk_at) FROM etl_checkpoints AS c
             WHERE c.scope = etl_job_seen.scope),
            last_seen_at)"""
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """UPDATE etl_job_seen AS s SET last_seen_at = w.seen_at
            FROM (SELECT scope, e.job_id, MAX(seen_at) AS seen_at
                  FROM etl_walk_sightings, json_array_elements_text(job_ids) AS e(job_id)
                  GROUP BY scope, e.job_id) AS w
            WHERE w.scope = s.scope AND w.job_id = s.job_id"""
        )
    else:
        op.execute(
            """UPDATE etl_job_seen SET last_seen_at = COALESCE((
                SELECT MAX(w.seen_at) FROM etl_walk_sightings AS w, json_each(w.job_ids) AS e
                WHERE w.scope = etl_job_seen.scope AND e.value = etl_job_seen.job_id), last_seen_at)"""
        )
    op.drop_index("ix_etl_walk_sightings_scope_seen_at", table_name="etl_walk_sightings")
    op.drop_table("etl_walk_sightings")
