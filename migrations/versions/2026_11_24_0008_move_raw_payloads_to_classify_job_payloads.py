"""Move the raw payloads out of classify_jobs into classify_job_payloads, compressed.

``v1_raw`` and ``v2_raw`` were 80% of classify_jobs' heap (about 1.9 kB of a job's 2.3 kB row), so
every query that scans the table read them. They now live in a side table keyed by job, as one
raw-deflate stream (codec ``deflate-1``: level 9 with a preset dictionary of the payloads' field
names) of the compact JSON text ``[v1, v2]``: about 490 bytes a job instead of 1,900. Payloads
stored before this revision come from JSONB on PostgreSQL, whose key order they keep.

The codec is defined here as in ``etl.load`` (a test checks they agree), so that this revision
never changes when the code does.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 01:20:00.000000
"""

import json
import zlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
CODEC = "deflate-1"
DICTIONARY = (
    b'{"id":"","mode":"FAST","rules":[{"type":"","description":""}],"status":"SUCCESS",'
    b'"user_id":"usr-","created_at":"2025-01-01T00:00:00.000Z","project_id":"","updated_at":"",'
    b'"effective_at":null,"error_message":null,"job_record_id":"jr-","parsing_configuration":'
    b'{"lang":null,"max_pages":null,"target_pages":[]}}{"id":"","result":{"type":null,"reasoning":"",'
    b'"confidence":0.},"status":"COMPLETED","user_id":"usr-","created_at":"","file_input":"",'
    b'"project_id":"","updated_at":"","parse_job_id":"","configuration":{"mode":"FAST","rules":'
    b'[{"type":"","description":""}],"parsing_configuration":{"lang":null,"max_pages":null,'
    b'"target_pages":""}},"error_message":null,"transaction_id":null,"configuration_id":"cfg-",'
    b'"document_input_type":"file_id","usage":{"credits":,"parse_credits":}}'
)
BATCH = 5_000


def _text(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def encode(v1: Any, v2: Any) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
    return z.compress(b"[" + _text(v1) + b"," + _text(v2) + b"]") + z.flush()


def decode(codec: str, data: bytes) -> tuple[Any, Any]:
    if codec == "json-1":
        v1, v2 = json.loads(bytes(data))
        return v1, v2
    z = zlib.decompressobj(-15, DICTIONARY)
    v1, v2 = json.loads(z.decompress(bytes(data)) + z.flush())
    return v1, v2


def _jobs_raw() -> sa.Table:
    return sa.table(
        "classify_jobs",
        sa.column("id", sa.String()),
        sa.column("v1_raw", JSON_TYPE),
        sa.column("v2_raw", JSON_TYPE),
    )


def _payloads() -> sa.Table:
    return sa.table(
        "classify_job_payloads",
        sa.column("job_id", sa.String()),
        sa.column("codec", sa.String()),
        sa.column("payloads", sa.LargeBinary()),
    )


def upgrade() -> None:
    op.create_table(
        "classify_job_payloads",
        sa.Column("job_id", sa.String(), nullable=False),
        sa.Column("codec", sa.String(length=16), nullable=False),
        sa.Column("payloads", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["classify_jobs.id"],
            name=op.f("fk_classify_job_payloads_job_id_classify_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_classify_job_payloads")),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Already compressed: TOAST would only spend time failing to shrink it further.
        op.execute("ALTER TABLE classify_job_payloads ALTER COLUMN payloads SET STORAGE EXTERNAL")
    if context.is_offline_mode():
        # No rows to read in a --sql script: the SQL copies them as plain JSON (codec json-1,
        # which etl.load also reads), and the loader compresses each job when it next writes it.
        pg = bind.dialect.name == "postgresql"
        blob = (
            "convert_to(CAST(json_build_array(v1_raw, v2_raw) AS TEXT), 'UTF8')"
            if pg
            else "CAST(json_array(json(v1_raw), json(v2_raw)) AS BLOB)"
        )
        op.execute(
            "INSERT INTO classify_job_payloads (job_id, codec, payloads) "
            f"SELECT id, 'json-1', {blob} FROM classify_jobs"
        )
    jobs, payloads = _jobs_raw(), _payloads()
    last = ""
    while not context.is_offline_mode():
        rows = bind.execute(
            sa.select(jobs.c.id, jobs.c.v1_raw, jobs.c.v2_raw)
            .where(jobs.c.id > last)
            .order_by(jobs.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            payloads.insert(),
            [{"job_id": r.id, "codec": CODEC, "payloads": encode(r.v1_raw, r.v2_raw)} for r in rows],
        )
        last = rows[-1].id
    # Native DROP COLUMN on both (SQLite >= 3.35): no batch rebuild of the table.
    op.execute("ALTER TABLE classify_jobs DROP COLUMN v2_raw")
    op.execute("ALTER TABLE classify_jobs DROP COLUMN v1_raw")


def downgrade() -> None:
    op.add_column("classify_jobs", sa.Column("v1_raw", JSON_TYPE, nullable=True))
    op.add_column("classify_jobs", sa.Column("v2_raw", JSON_TYPE, nullable=True))
    bind = op.get_bind()
    jobs, payloads = _jobs_raw(), _payloads()
    last = ""
    while True:
        rows = bind.execute(
            sa.select(payloads.c.job_id, payloads.c.codec, payloads.c.payloads)
            .where(payloads.c.job_id > last)
            .order_by(payloads.c.job_id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        values = []
        for r in rows:
            v1, v2 = decode(r.codec, r.payloads)
            values.append({"b_id": r.job_id, "b_v1": v1, "b_v2": v2})
        bind.execute(
            jobs.update()
            .where(jobs.c.id == sa.bindparam("b_id"))
            .values(
                v1_raw=sa.bindparam("b_v1", type_=JSON_TYPE), v2_raw=sa.bindparam("b_v2", type_=JSON_TYPE)
            ),
            values,
        )
        last = rows[-1].job_id
    op.drop_table("classify_job_payloads")
