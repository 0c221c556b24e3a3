"""Store each distinct list of rules once: classify_rules becomes a view over rule sets.

classify_rules held every job's rules (2.5 a job, a ~115-character description each, with the
job id and a key of its own): ~770 bytes a job, a quarter of the database. Jobs of one classifier
share their rules, so each distinct list is now stored once, in ``classify_rule_sets`` (keyed by
the SHA-256 of its canonical JSON) and ``classify_rule_set_rules``; the job points at it with
``classify_jobs.rule_set_id``. ``classify_rules`` is a view with the same name, columns and rows,
so every query of it still runs.

Rule statistics (0010, 0014) followed classify_rules' rows; they now follow the job's
``rule_set_id`` (a job changes rule set, or is tombstoned, restored or deleted: its contribution
for the old set's types goes, the new one's comes). The triggers on classify_results look the types
up through the view and are unchanged.

Also dropped, no longer used by any view or report (``EXPLAIN`` in bench/warehouse.py): the index
on (project_id, created_at) (project_id's own index and created_at's serve the same filters) and
the UTC-day expression index (classify_daily_counts reads classify_daily_stats since 0015).

Existing rules are moved in batches (the digest computed here exactly as ``etl.load`` does: a
test checks they agree). ``migrate --sql`` cannot read rows: its SQL gives every job a rule set of
its own (``digest`` = ``job:<id>``), which the loader replaces with the shared one when it next
writes the job.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 18:00:00
"""

import hashlib
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import context, op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 20_000
SETS, SET_RULES = "classify_rule_sets", "classify_rule_set_rules"
RULES_VIEW = """
SELECT j.id AS job_id, r.position, r.type, r.description
FROM classify_jobs AS j
JOIN classify_rule_set_rules AS r ON r.rule_set_id = j.rule_set_id
"""
DAY_INDEX = "ix_classify_jobs_live_project_id_utc_day"
PROJECT_CREATED_INDEX = "ix_classify_jobs_project_id_created_at"


def _revision(name: str) -> ModuleType:
    path = next(Path(__file__).parent.glob(f"*_{name}_*.py"))
    spec = importlib.util.spec_from_file_location(f"classify_etl_revision_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


R0010, R0011, R0014 = _revision("0010"), _revision("0011"), _revision("0014")


def digest(rules: Sequence[tuple[str, str]]) -> str:
    """The rule set's key: SHA-256 of ``[[type, description], ...]`` in position order, as compact
    ASCII JSON."""
    text = json.dumps([list(r) for r in rules], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# -- rule statistics, following the job's rule set ------------------------------------------------

PG_SET_TYPES = (
    "CROSS JOIN LATERAL (SELECT DISTINCT x.type FROM classify_rule_set_rules AS x "
    "WHERE x.rule_set_id = c.rule_set_id) AS t"
)
PG_RESULT = R0014.RESULT.format(id="c.job_id")


def _pg_jobs_delta(changes: str) -> str:
    """``changes``: (job_id, rule_set_id, d): the job's contribution for that set's types, signed."""
    add: str = R0010._add(f"""
    SELECT t.type, SUM(c.d), SUM(CASE WHEN r.job_id IS NOT NULL THEN c.d ELSE 0 END),
           SUM(CASE WHEN r.type = t.type THEN c.d ELSE 0 END),
           COALESCE(SUM(CASE WHEN r.type = t.type THEN c.d * CAST(r.confidence AS NUMERIC) END), 0)
    FROM {changes} AS c
    {PG_SET_TYPES}
    {PG_RESULT}
    WHERE c.d <> 0
    GROUP BY t.type""")
    return add


PG_JOB_SET_CHANGED = (
    "(n.rule_set_id IS DISTINCT FROM o.rule_set_id OR (n.deleted_at IS NULL) <> (o.deleted_at IS NULL))"
)
PG_FUNCTIONS = {
    "classify_rule_stats_jobs_insert": _pg_jobs_delta(
        "(SELECT id AS job_id, rule_set_id, 1 AS d FROM new_rows WHERE deleted_at IS NULL)"
    ),
    "classify_rule_stats_jobs_update": _pg_jobs_delta(
        "(SELECT n.id AS job_id, n.rule_set_id, 1 AS d FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id"
        f" WHERE n.deleted_at IS NULL AND {PG_JOB_SET_CHANGED}"
        " UNION ALL SELECT o.id, o.rule_set_id, -1 FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id"
        f" WHERE o.deleted_at IS NULL AND {PG_JOB_SET_CHANGED})"
    ),
}
PG_JOBS_DELETE = _pg_jobs_delta(
    "(SELECT OLD.id AS job_id, OLD.rule_set_id AS rule_set_id, -1 AS d WHERE OLD.deleted_at IS NULL)"
)
PG_RULES_FUNCTIONS = ("rules_insert", "rules_delete", "rules_update")


def _sqlite_set(row: str, sign: int) -> str:
    """The job ``row`` (OLD or NEW) adds (1) or removes (-1) its contribution for its set's types."""
    return R0010._sqlite_add(f"""
    SELECT t.type, {sign}, {sign} * COUNT(r.job_id), {sign} * COUNT(CASE WHEN r.type = t.type THEN 1 END),
           {sign} * COALESCE(SUM(CASE WHEN r.type = t.type THEN r.confidence END), 0)
    FROM (SELECT DISTINCT type FROM classify_rule_set_rules WHERE rule_set_id = {row}.rule_set_id) AS t
    LEFT JOIN classify_results AS r ON r.job_id = {row}.id
    WHERE {row}.deleted_at IS NULL
    GROUP BY t.type""")


SQLITE_JOB_TRIGGERS = {
    "classify_rule_stats_jobs_insert": ("AFTER INSERT ON classify_jobs", [_sqlite_set("NEW", 1)]),
    "classify_rule_stats_jobs_update": (
        "AFTER UPDATE ON classify_jobs WHEN OLD.rule_set_id IS NOT NEW.rule_set_id "
        "OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)",
        [_sqlite_set("OLD", -1), _sqlite_set("NEW", 1)],
    ),
    "classify_rule_stats_jobs_delete": ("BEFORE DELETE ON classify_jobs", [_sqlite_set("OLD", -1)]),
}
# 0010's SQLite triggers this revision replaces (the classify_rules ones go with the table).
SQLITE_LANDED_JOB_TRIGGERS = (
    "classify_rule_stats_jobs_tombstone",
    "classify_rule_stats_jobs_restore",
    "classify_rule_stats_jobs_delete",
)


def _pg_function(name: str, body: str, returns: str = "NULL") -> None:
    op.execute(
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN{body}\nRETURN {returns};\nEND\n$$"
    )


# -- moving the rows -------------------------------------------------------------------------------


def _move_rules(bind: sa.Connection) -> None:
    """classify_rules' rows → rule sets (shared by digest) and each job's rule_set_id, in batches
    of jobs in id order."""
    rules = sa.table(
        "classify_rules",
        sa.column("job_id", sa.String()),
        sa.column("position", sa.Integer()),
        sa.column("type", sa.String()),
        sa.column("description", sa.Text()),
    )
    sets = sa.table(SETS, sa.column("id", sa.Integer()), sa.column("digest", sa.String()))
    set_rules = sa.table(
        SET_RULES,
        sa.column("rule_set_id", sa.Integer()),
        sa.column("position", sa.Integer()),
        sa.column("type", sa.String()),
        sa.column("description", sa.Text()),
    )
    jobs = sa.table("classify_jobs", sa.column("id", sa.String()), sa.column("rule_set_id", sa.Integer()))
    known: dict[str, int] = {}
    last = ""
    while True:
        batch = (
            bind.execute(
                sa.select(rules.c.job_id)
                .where(rules.c.job_id > last)
                .group_by(rules.c.job_id)
                .order_by(rules.c.job_id)
                .limit(BATCH)
            )
            .scalars()
            .all()
        )
        if not batch:
            break
        of_job: dict[str, list[tuple[str, str]]] = {}
        for r in bind.execute(
            sa.select(rules.c.job_id, rules.c.type, rules.c.description)
            .where(rules.c.job_id >= batch[0], rules.c.job_id <= batch[-1])
            .order_by(rules.c.job_id, rules.c.position)
        ):
            of_job.setdefault(r.job_id, []).append((r.type, r.description))
        digests = {job: digest(listed) for job, listed in of_job.items()}
        new: dict[str, list[tuple[str, str]]] = {}
        for job, d in digests.items():
            if d not in known and d not in new:
                new[d] = of_job[job]
        if new:
            bind.execute(sets.insert(), [{"digest": d} for d in new])
            for row in bind.execute(sa.select(sets.c.digest, sets.c.id).where(sets.c.digest.in_(list(new)))):
                known[row.digest] = row.id
            bind.execute(
                set_rules.insert(),
                [
                    {"rule_set_id": known[d], "position": i, "type": t, "description": text}
                    for d, listed in new.items()
                    for i, (t, text) in enumerate(listed)
                ],
            )
        bind.execute(
            jobs.update().where(jobs.c.id == sa.bindparam("b_id")).values(rule_set_id=sa.bindparam("b_set")),
            [{"b_id": job, "b_set": known[d]} for job, d in digests.items()],
        )
        last = batch[-1]


def _move_rules_offline() -> None:
    """What ``migrate --sql`` writes: a rule set per job, keyed ``job:<id>``."""
    op.execute(f"INSERT INTO {SETS} (digest) SELECT DISTINCT 'job:' || job_id FROM classify_rules")
    op.execute(
        f"INSERT INTO {SET_RULES} (rule_set_id, position, type, description) "
        f"SELECT s.id, r.position, r.type, r.description FROM classify_rules AS r "
        f"JOIN {SETS} AS s ON s.digest = 'job:' || r.job_id"
    )
    op.execute(
        f"UPDATE classify_jobs SET rule_set_id = (SELECT s.id FROM {SETS} AS s "
        f"WHERE s.digest = 'job:' || classify_jobs.id)"
    )


# -- upgrade / downgrade ---------------------------------------------------------------------------


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    op.create_table(
        SETS,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classify_rule_sets")),
        sa.UniqueConstraint("digest", name=op.f("uq_classify_rule_sets_digest")),
    )
    op.create_table(
        SET_RULES,
        sa.Column("rule_set_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_set_id"],
            [f"{SETS}.id"],
            name=op.f("fk_classify_rule_set_rules_rule_set_id_classify_rule_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_set_id", "position", name=op.f("pk_classify_rule_set_rules")),
    )
    op.create_index(op.f("ix_classify_rule_set_rules_type"), SET_RULES, ["type"])
    op.add_column("classify_jobs", sa.Column("rule_set_id", sa.Integer(), nullable=True))
    # The rule-stats triggers on classify_jobs are replaced below; none may fire while the rows move.
    if pg:
        op.execute("DROP TRIGGER IF EXISTS classify_rule_stats_jobs_update ON classify_jobs")
    else:
        for name in SQLITE_LANDED_JOB_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if context.is_offline_mode():
        _move_rules_offline()
    else:
        _move_rules(bind)
    op.create_index(op.f("ix_classify_jobs_rule_set_id"), "classify_jobs", ["rule_set_id"])
    op.drop_table("classify_rules")  # its triggers go with it
    op.execute(f"CREATE VIEW classify_rules AS {RULES_VIEW}")
    if pg:
        for suffix in PG_RULES_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS classify_rule_stats_{suffix}()")
        for name, body in PG_FUNCTIONS.items():
            _pg_function(name, body)
        _pg_function("classify_rule_stats_jobs_delete", PG_JOBS_DELETE, returns="OLD")
        for name, event, transitions in (
            ("classify_rule_stats_jobs_insert", "INSERT", "NEW TABLE AS new_rows"),
            ("classify_rule_stats_jobs_update", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ):
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON classify_jobs REFERENCING {transitions} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
    else:
        for name, (when, statements) in SQLITE_JOB_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when}\nBEGIN{''.join(statements)}\nEND")
    op.execute(f"DROP INDEX IF EXISTS {DAY_INDEX}")
    op.drop_index(PROJECT_CREATED_INDEX, table_name="classify_jobs")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    pg = dialect == "postgresql"
    op.create_index(PROJECT_CREATED_INDEX, "classify_jobs", ["project_id", "created_at"])
    op.execute(
        f"CREATE INDEX {DAY_INDEX} ON classify_jobs (project_id, {R0011._day('created_at', dialect)}) "
        "WHERE deleted_at IS NULL"
    )
    if pg:
        op.execute("DROP TRIGGER IF EXISTS classify_rule_stats_jobs_insert ON classify_jobs")
        op.execute("DROP FUNCTION IF EXISTS classify_rule_stats_jobs_insert()")
        op.execute("DROP TRIGGER IF EXISTS classify_rule_stats_jobs_update ON classify_jobs")
    else:
        for name in SQLITE_JOB_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP VIEW IF EXISTS classify_rules")
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
    op.create_index(op.f("ix_classify_rules_type"), "classify_rules", ["type"])
    op.execute(f"INSERT INTO classify_rules (job_id, position, type, description) {RULES_VIEW}")
    op.drop_index(op.f("ix_classify_jobs_rule_set_id"), table_name="classify_jobs")
    op.execute("ALTER TABLE classify_jobs DROP COLUMN rule_set_id")
    op.drop_table(SET_RULES)
    op.drop_table(SETS)
    # Rule statistics follow classify_rules again: 0010's triggers, with 0014's bodies on PostgreSQL.
    if pg:
        for name, body in R0014.FUNCTIONS.items():
            _pg_function(name, body)
        _pg_function("classify_rule_stats_jobs_delete", R0014.JOBS_DELETE, returns="OLD")
        for name, table, event, transitions in R0010.PG_TRIGGERS:
            if table == "classify_rules" or name == "classify_rule_stats_jobs_update":
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transitions} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
                )
    else:
        for name, (when, statements) in R0010.SQLITE_TRIGGERS.items():
            if name.startswith("classify_rule_stats_rules_") or name in SQLITE_LANDED_JOB_TRIGGERS:
                op.execute(f"CREATE TRIGGER {name} {when}\nBEGIN{''.join(statements)}\nEND")
