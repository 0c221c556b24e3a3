"""Raw payloads readable from SQL: ``classify_job_payloads.raw``, JSON (jsonb on PostgreSQL); and
``etl_unmapped_fields``, the fields the API sent that no column maps.

``classify_job_payloads`` loses ``codec``, ``payloads`` and ``rule_set_id`` and gets ``raw``: one
JSON object ``{"v1": the v1 list item, "v2": the v2 body}``, a key absent when the job has no such
payload. Every stored value is decoded here (codecs ``zlib-rules-1``, ``deflate-1`` and ``json-1``)
and written as JSON. The payloads were stored escaped already (NUL, lone surrogates and non-finite
numbers as ``"␀json:..."`` strings); this revision escapes in the same way the floats ``jsonb``
would not give back as they were (``-0.0``, and 1e16 or more, which ``numeric`` reads as integers),
so that reading a value back and unescaping it gives the payload the API sent.

``etl_unmapped_fields``: one row per (endpoint, JSON path) of a field the models do not declare,
with when it was first and last seen, by which runs, and a job that had it.

An offline ``migrate --sql`` cannot decode the compressed values: its script fails on the NOT NULL
of ``raw`` if the table has rows (run it without ``--sql``); on an empty table it is complete.
The downgrade writes every value back as ``deflate-1`` (which 0018 reads, and re-encodes when the
loader next writes the job) and needs a connection.

Everything this revision needs is defined here (the codecs, the dictionary, the escape), so that it
never changes when the code does.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 10:40:00
"""

import json
import math
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2_000
TABLE = "classify_job_payloads"
RAW_TYPE = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
#: The prefix of an escaped value in a raw payload (etl.change.normalize.RAW_ESCAPE).
RAW_ESCAPE = "\u2400json:"
#: The preset dictionary of codecs deflate-1 and zlib-rules-1 (revisions 0008 and 0018).
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


def _text(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _rules_dictionary(rules: Iterable[tuple[str, str]]) -> bytes:
    listed = [{"description": d, "type": t} for t, d in rules]
    return _text(listed) if listed else b""


def decode(codec: str, data: bytes, rules: Iterable[tuple[str, str]]) -> tuple[Any, Any]:
    """(v1, v2) of a stored value of revision 0018's table (``rules``: its rule set's, in order)."""
    if codec == "json-1":
        v1, v2 = json.loads(bytes(data))
        return v1, v2
    if codec == "zlib-rules-1":
        z = zlib.decompressobj(15, DICTIONARY + _rules_dictionary(rules))
    elif codec == "deflate-1":
        z = zlib.decompressobj(-15, DICTIONARY)
    else:
        raise ValueError(f"unknown payload codec {codec!r} in {TABLE}")
    v1, v2 = json.loads(z.decompress(bytes(data)) + z.flush())
    return v1, v2


def encode_deflate_1(v1: Any, v2: Any) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
    return z.compress(b"[" + _text(v1) + b"," + _text(v2) + b"]") + z.flush()


def _unkept(value: Any) -> bool:
    return isinstance(value, float) and (
        not abs(value) < 1e16 or (value == 0.0 and math.copysign(1.0, value) < 0)
    )


def escape_floats(payload: Any) -> Any:
    """``payload`` with each float that jsonb would not give back as it is replaced by its escape
    (in place; iterative: a stored payload may nest 200 levels)."""
    if _unkept(payload):
        return RAW_ESCAPE + json.dumps(payload)
    stack = [payload] if isinstance(payload, dict | list) else []
    while stack:
        value = stack.pop()
        slots: Iterable[Any] = list(value) if isinstance(value, dict) else range(len(value))
        for slot in slots:
            child = value[slot]
            if isinstance(child, dict | list):
                stack.append(child)
            elif _unkept(child):
                value[slot] = RAW_ESCAPE + json.dumps(child)
    return payload


def raw_value(v1: Any, v2: Any) -> dict[str, Any]:
    value = {}
    if v1 is not None:
        value["v1"] = escape_floats(v1)
    if v2 is not None:
        value["v2"] = escape_floats(v2)
    return value


def _table(*columns: sa.Column[Any]) -> sa.Table:
    """The table as it stands before a batch step (what SQLite's rebuild copies, with or without
    a connection)."""
    meta = sa.MetaData()
    sa.Table("classify_jobs", meta, sa.Column("id", sa.String(), primary_key=True))
    return sa.Table(
        TABLE,
        meta,
        sa.Column("job_id", sa.String(), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["classify_jobs.id"],
            name="fk_classify_job_payloads_job_id_classify_jobs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name="pk_classify_job_payloads"),
    )


def _codec_columns(nullable: bool) -> list[sa.Column[Any]]:
    return [
        sa.Column("codec", sa.String(length=16), nullable=nullable),
        sa.Column("payloads", sa.LargeBinary(), nullable=nullable),
        sa.Column("rule_set_id", sa.Integer(), nullable=True),
    ]


def _rules(bind: sa.Connection, ids: set[int]) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    if ids:
        r = sa.table(
            "classify_rule_set_rules",
            sa.column("rule_set_id", sa.Integer()),
            sa.column("position", sa.Integer()),
            sa.column("type", sa.String()),
            sa.column("description", sa.Text()),
        )
        for row in bind.execute(
            sa.select(r.c.rule_set_id, r.c.type, r.c.description)
            .where(r.c.rule_set_id.in_(sorted(ids)))
            .order_by(r.c.rule_set_id, r.c.position)
        ):
            out[row.rule_set_id].append((row.type, row.description))
    return out


def _to_json(bind: sa.Connection) -> None:
    """Every stored value decoded and written to ``raw``, a batch of jobs at a time."""
    raw = "CAST(:raw AS jsonb)" if bind.dialect.name == "postgresql" else ":raw"
    write = sa.text(f"UPDATE {TABLE} SET raw = {raw} WHERE job_id = :k")
    last = ""
    while True:
        batch = bind.execute(
            sa.text(
                f"SELECT job_id, codec, payloads, rule_set_id FROM {TABLE} "
                "WHERE job_id > :last ORDER BY job_id LIMIT :n"
            ),
            {"last": last, "n": BATCH},
        ).all()
        if not batch:
            return
        last = batch[-1].job_id
        rules = _rules(bind, {r.rule_set_id for r in batch if r.rule_set_id is not None})
        values = []
        for r in batch:
            v1, v2 = decode(r.codec, r.payloads, rules.get(r.rule_set_id, []))
            values.append({"k": r.job_id, "raw": json.dumps(raw_value(v1, v2), ensure_ascii=False)})
        bind.execute(write, values)


def _to_codec(bind: sa.Connection) -> None:
    """Every ``raw`` written back as a ``deflate-1`` value, a batch of jobs at a time."""
    write = sa.text(f"UPDATE {TABLE} SET codec = 'deflate-1', payloads = :p WHERE job_id = :k")
    write = write.bindparams(sa.bindparam("p", type_=sa.LargeBinary()))
    last = ""
    while True:
        batch = bind.execute(
            sa.text(f"SELECT job_id, raw FROM {TABLE} WHERE job_id > :last ORDER BY job_id LIMIT :n"),
            {"last": last, "n": BATCH},
        ).all()
        if not batch:
            return
        last = batch[-1].job_id
        values = []
        for r in batch:
            value = json.loads(r.raw) if isinstance(r.raw, str | bytes) else r.raw
            values.append({"k": r.job_id, "p": encode_deflate_1(value.get("v1"), value.get("v2"))})
        bind.execute(write, values)


def upgrade() -> None:
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
            name="fk_etl_unmapped_fields_first_run_id_etl_sync_runs",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["etl_sync_runs.id"],
            name="fk_etl_unmapped_fields_last_run_id_etl_sync_runs",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("endpoint", "path", name="pk_etl_unmapped_fields"),
    )
    op.add_column(TABLE, sa.Column("raw", RAW_TYPE, nullable=True))
    if not context.is_offline_mode():
        _to_json(op.get_bind())
    before = _table(*_codec_columns(nullable=False), sa.Column("raw", RAW_TYPE, nullable=True))
    with op.batch_alter_table(TABLE, copy_from=before) as batch:
        batch.drop_column("codec")
        batch.drop_column("payloads")
        batch.drop_column("rule_set_id")
        batch.alter_column("raw", existing_type=RAW_TYPE, nullable=False)


def downgrade() -> None:
    if context.is_offline_mode():
        raise RuntimeError(
            "revision 0019's downgrade compresses the stored payloads and needs a database "
            "connection: run it without --sql"
        )
    for column in _codec_columns(nullable=True):
        op.add_column(TABLE, column)
    _to_codec(op.get_bind())
    before = _table(sa.Column("raw", RAW_TYPE, nullable=False), *_codec_columns(nullable=True))
    with op.batch_alter_table(TABLE, copy_from=before) as batch:
        batch.drop_column("raw")
        batch.alter_column("codec", existing_type=sa.String(length=16), nullable=False)
        batch.alter_column("payloads", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_table("etl_unmapped_fields")
