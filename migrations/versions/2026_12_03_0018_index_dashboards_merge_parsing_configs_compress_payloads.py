"""Dashboards driven by indexes; the parsing configuration in the job row; payloads compressed
against their rules.

At 1M jobs with ten times the activity on the same days, three filtered dashboard queries read
every row of their 7-day window from the heap: one document type (the type is in
classify_results, the window in classify_jobs: 157 ms), counts per status for one project (47-108
ms) and a confidence histogram for one project (154 ms, a hash join with every result row).

* ``classify_jobs.result_type`` and ``classify_jobs.confidence``: copies of the job's result
  (classify_results stays the table of record; the loader writes both in one transaction).
* The parsing configuration moves into the job row (``parsing_configured``, ``lang``,
  ``max_pages``, ``target_pages``, ``target_pages_source``: it was one row per job, 116 bytes a job
  with its key and index); ``classify_parsing_configs`` is a view with the table's name, columns
  and rows.
* classify_jobs_current reads all of these from the job row and joins classify_results for
  ``reasoning`` only, so its filters on ``result_type`` and ``confidence`` use classify_jobs'
  indexes, and a query that does not ask for ``reasoning`` joins nothing (the planner drops a
  join on a unique key).
* ``ix_classify_jobs_live_project_created_at`` and ``ix_classify_jobs_live_result_type_created_at``:
  one project's or one type's window of live jobs.
* Payload codec ``zlib-rules-1``: the pair ``[v1, v2]`` compressed (zlib, checksummed) against the
  deflate-1 dictionary followed by the job's rules, which both payloads spell out in full and
  which jobs of one classifier share: ~190 bytes a job less. The rule set used is
  ``classify_job_payloads.rule_set_id``. Existing values are re-encoded here; ``deflate-1`` and
  ``json-1`` stay readable. An offline ``migrate --sql`` leaves them as they are (the loader
  re-encodes a job when it next writes it); the downgrade re-encodes them as ``deflate-1`` and
  needs a connection.

The codec is defined here as in ``etl.load`` (a test checks they agree), so that this revision
never changes when the code does.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 09:10:00
"""

import importlib.util
import json
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "deleted_at IS NULL"
PROJECT_INDEX = "ix_classify_jobs_live_project_created_at"
TYPE_INDEX = "ix_classify_jobs_live_result_type_created_at"
CODEC = "zlib-rules-1"
BATCH = 2_000


def _revision(name: str) -> ModuleType:
    path = next(Path(__file__).parent.glob(f"*_{name}_*.py"))
    spec = importlib.util.spec_from_file_location(f"classify_etl_revision_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


R0008, R0011 = _revision("0008"), _revision("0011")


def rules_dictionary(rules: Iterable[tuple[str, str]]) -> bytes:
    listed = [{"description": d, "type": t} for t, d in rules]
    return json.dumps(listed, separators=(",", ":"), ensure_ascii=False).encode() if listed else b""


def encode(v1: Any, v2: Any, rules: Iterable[tuple[str, str]]) -> bytes:
    z = zlib.compressobj(
        6, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, R0008.DICTIONARY + rules_dictionary(rules)
    )
    return z.compress(b"[" + R0008._text(v1) + b"," + R0008._text(v2) + b"]") + z.flush()


def decode(codec: str, data: bytes, rules: Iterable[tuple[str, str]]) -> tuple[Any, Any]:
    if codec != CODEC:
        result: tuple[Any, Any] = R0008.decode(codec, data)
        return result
    z = zlib.decompressobj(15, R0008.DICTIONARY + rules_dictionary(rules))
    v1, v2 = json.loads(z.decompress(bytes(data)) + z.flush())
    return v1, v2


def _jobs_current() -> str:
    """0011's view, reading the result's type and confidence and the parsing configuration from
    the job row: classify_results is joined for ``reasoning`` only."""
    view = R0011._jobs_current()
    for before, after in (
        ("r.type AS result_type", "j.result_type"),
        ("    r.confidence,", "    j.confidence,"),
        ("(r.type IS NOT NULL) AS matched", "(j.result_type IS NOT NULL) AS matched"),
        ("pc.lang", "j.lang"),
        ("pc.max_pages", "j.max_pages"),
        ("pc.target_pages", "j.target_pages"),
        ("LEFT JOIN classify_parsing_configs AS pc ON pc.job_id = j.id\n", ""),
    ):
        assert view.count(before) == 1, before
        view = view.replace(before, after)
    return view


PARSING_CONFIGS = """
SELECT id AS job_id, lang, max_pages, target_pages, target_pages_source
FROM classify_jobs
WHERE parsing_configured
"""
CONFIG_COLUMNS = ("lang", "max_pages", "target_pages", "target_pages_source")
BACKFILL = f"""
UPDATE classify_jobs
SET result_type = s.type, confidence = s.confidence, parsing_configured = s.configured,
    {", ".join(f"{c} = s.{c}" for c in CONFIG_COLUMNS)}
FROM (
    SELECT j.id, r.type, r.confidence, (pc.job_id IS NOT NULL) AS configured,
           {", ".join(f"pc.{c}" for c in CONFIG_COLUMNS)}
    FROM classify_jobs AS j
    LEFT JOIN classify_results AS r ON r.job_id = j.id
    LEFT JOIN classify_parsing_configs AS pc ON pc.job_id = j.id
    WHERE r.job_id IS NOT NULL OR pc.job_id IS NOT NULL
) AS s
WHERE s.id = classify_jobs.id
"""


def _payloads() -> sa.TableClause:
    return sa.table(
        "classify_job_payloads",
        sa.column("job_id", sa.String()),
        sa.column("codec", sa.String()),
        sa.column("payloads", sa.LargeBinary()),
        sa.column("rule_set_id", sa.Integer()),
    )


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


def _recode(to_rules_codec: bool) -> None:
    """Re-encode every payload not in the target codec, a batch of jobs at a time: to zlib-rules-1
    against the job's rule set (upgrade), or back to deflate-1 (downgrade)."""
    bind = op.get_bind()
    p = _payloads()
    jobs = sa.table("classify_jobs", sa.column("id", sa.String()), sa.column("rule_set_id", sa.Integer()))
    last = ""
    while True:
        batch = bind.execute(
            sa.select(
                p.c.job_id, p.c.codec, p.c.payloads, p.c.rule_set_id, jobs.c.rule_set_id.label("job_set")
            )
            .join(jobs, jobs.c.id == p.c.job_id)
            .where(p.c.job_id > last, jobs.c.id > last)  # both: a merge join starts at last too
            .order_by(p.c.job_id)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        last = batch[-1].job_id
        todo = [r for r in batch if (r.codec == CODEC) != to_rules_codec]
        ids = {r.rule_set_id for r in todo if r.rule_set_id is not None}
        ids |= {r.job_set for r in todo if to_rules_codec and r.job_set is not None}
        rules = _rules(bind, ids)
        values = []
        for r in todo:
            v1, v2 = decode(r.codec, r.payloads, rules.get(r.rule_set_id, []))
            if to_rules_codec:
                values.append(
                    {"k": r.job_id, "c": CODEC, "p": encode(v1, v2, rules.get(r.job_set, [])), "s": r.job_set}
                )
            else:
                values.append({"k": r.job_id, "c": R0008.CODEC, "p": R0008.encode(v1, v2), "s": None})
        if values:
            bind.execute(
                p.update()
                .where(p.c.job_id == sa.bindparam("k"))
                .values(codec=sa.bindparam("c"), payloads=sa.bindparam("p"), rule_set_id=sa.bindparam("s")),
                values,
            )


def upgrade() -> None:
    op.add_column("classify_jobs", sa.Column("result_type", sa.String(), nullable=True))
    op.add_column("classify_jobs", sa.Column("confidence", sa.Float(), nullable=True))
    op.add_column(
        "classify_jobs",
        sa.Column("parsing_configured", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("classify_jobs", sa.Column("lang", sa.String(length=16), nullable=True))
    op.add_column("classify_jobs", sa.Column("max_pages", sa.Integer(), nullable=True))
    op.add_column("classify_jobs", sa.Column("target_pages", sa.Text(), nullable=True))
    # With its CHECK (the dropped table's), inline: SQLite adds a column's constraint only so.
    op.execute(
        "ALTER TABLE classify_jobs ADD COLUMN target_pages_source VARCHAR(2) "
        "CONSTRAINT ck_classify_jobs_target_pages_source CHECK (target_pages_source IN ('v1', 'v2'))"
    )
    op.add_column("classify_job_payloads", sa.Column("rule_set_id", sa.Integer(), nullable=True))
    op.execute(BACKFILL)
    op.execute("DROP VIEW IF EXISTS classify_jobs_current")
    op.drop_table("classify_parsing_configs")
    op.execute(f"CREATE VIEW classify_parsing_configs AS {PARSING_CONFIGS}")
    op.execute(f"CREATE VIEW classify_jobs_current AS {_jobs_current()}")
    live = sa.text(LIVE)
    for name, first in ((PROJECT_INDEX, "project_id"), (TYPE_INDEX, "result_type")):
        op.create_index(
            name, "classify_jobs", [first, "created_at"], postgresql_where=live, sqlite_where=live
        )
    if not context.is_offline_mode():
        _recode(to_rules_codec=True)


def downgrade() -> None:
    if context.is_offline_mode():
        raise RuntimeError(
            "revision 0018's downgrade re-encodes the stored payloads and needs a database "
            "connection: run it without --sql"
        )
    _recode(to_rules_codec=False)
    op.execute("DROP VIEW IF EXISTS classify_jobs_current")
    op.execute("DROP VIEW IF EXISTS classify_parsing_configs")
    op.create_table(  # as revision 0001 created it
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
    op.execute(
        f"INSERT INTO classify_parsing_configs (job_id, {', '.join(CONFIG_COLUMNS)}) {PARSING_CONFIGS}"
    )
    op.execute(f"CREATE VIEW classify_jobs_current AS {R0011._jobs_current()}")
    op.drop_index(TYPE_INDEX, table_name="classify_jobs")
    op.drop_index(PROJECT_INDEX, table_name="classify_jobs")
    # Native DROP COLUMN on both (SQLite >= 3.35).
    op.execute("ALTER TABLE classify_job_payloads DROP COLUMN rule_set_id")
    for column in (*CONFIG_COLUMNS, "parsing_configured", "confidence", "result_type"):
        op.execute(f"ALTER TABLE classify_jobs DROP COLUMN {column}")
