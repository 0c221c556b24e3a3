"""Summaries the sync keeps current for the whole-table reports, and plans that indexes drive.

The analysts' whole-table reports (no-match per week, confidence distribution, daily volume,
credits per project, pages scoped most often) read every live job, so at a million jobs they took
1-3 s however the views were written. Like classify_rule_stats (0010), their counts are now kept
current in the transaction that writes the rows, by triggers:

* ``classify_daily_stats``: live jobs counted per (UTC day of ``created_at``, project, status, result
  type), with their confidence and credits sums and a count per confidence tenth (``tenth_0`` ...
  ``tenth_9``: a column each, not a row each, which keeps the table a third as long).
  ``classify_daily_counts`` is redefined over it (same rows and columns as before, plus ``jobs_with_result``,
  ``jobs_with_usage`` and ``credits``), and the new view ``classify_confidence_counts`` keeps the
  tenth. A job's contribution depends on its classify_jobs row and its classify_results row:
  triggers on both tables take it out as it was and put it back as it is, each against the current
  state of the other table, so the order a writer touches them in does not matter.
  Credits are summed as integer millionths (``credits_micro``; credits have six decimals), so
  the sums are exact on SQLite too, whatever order the rows came and went in.
* ``classify_page_stats``: live jobs per scoped page number, from classify_target_pages and the
  job's ``deleted_at``.

Keys cannot hold NULL: a job without ``created_at`` is counted under day 0001-01-01 and a job
without a result type under ``''``; the views turn both back into NULL. A group whose count falls to
zero keeps its row with ``jobs = 0`` (the views leave it out): the keys are bounded by the days,
projects, statuses and types there have ever been.

Also: a partial index for "jobs scoped to some pages" (live jobs with pages, by page count: one
small integer, which deduplicates to ~2 bytes a job; ties are sorted by id on the fly), and, on
PostgreSQL, the hydration-health view's "unconfirmed" bound computed by a STABLE function: the
planner estimates a comparison with a function call from its value (a comparison with a subquery
it cannot, and guessed a third of the table, so it scanned all of it).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 17:00:00
"""

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAILY = "classify_daily_stats"
PAGES = "classify_page_stats"
NO_DAY = "0001-01-01"
KEY = ("day", "project_id", "status", "result_type")
TENTHS = tuple(f"tenth_{k}" for k in range(10))
SUMS = ("jobs", "confidence_sum", "jobs_with_usage", "credits_micro", *TENTHS)
SCOPED_INDEX = "ix_classify_jobs_live_scoped"
# The views' filters on project and day (their NULLIF(day, ...) exactly) go to this index.
DAY_INDEX = "ix_classify_daily_stats_project_id_day"
SCOPED_WHERE = "deleted_at IS NULL AND target_page_count > 0"
BOUND_FUNCTION = "classify_etl_unconfirmed_bound"


def _revision(name: str) -> ModuleType:
    path = next(Path(__file__).parent.glob(f"*_{name}_*.py"))
    spec = importlib.util.spec_from_file_location(f"classify_etl_revision_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


R0011 = _revision("0011")


def _no_day(dialect: str) -> str:
    return f"DATE '{NO_DAY}'" if dialect == "postgresql" else f"'{NO_DAY}'"


def _day(column: str, dialect: str) -> str:
    day = f"CAST({column} AT TIME ZONE 'UTC' AS DATE)" if dialect == "postgresql" else f"DATE({column})"
    return f"COALESCE({day}, {_no_day(dialect)})"


def _tenth(confidence: str) -> str:
    """-1 without a confidence, else 0-9: how many of 0.1 ... 0.9 it reaches (1.0 is in 9). The
    same comparisons with the same literals as a report's ``confidence < 0.5``, so a report's
    buckets on tenths are exactly its buckets on the confidence."""
    steps = " ".join(f"WHEN {confidence} >= 0.{k} THEN {k}" for k in range(9, 0, -1))
    return f"CASE WHEN {confidence} IS NULL THEN -1 {steps} ELSE 0 END"


def _accumulate(table: str, key: Sequence[str], sums: Sequence[str], select_sql: str, dialect: str) -> str:
    """Add the rows of ``select_sql`` (``key`` then ``sums``) to ``table``: a key already there
    gets each sum added to its own."""
    pg = dialect == "postgresql"
    old, new = ("s.", "EXCLUDED.") if pg else ("", "excluded.")
    return f"""
    INSERT INTO {f"{table} AS s" if pg else table} ({", ".join((*key, *sums))})
    {select_sql}
    ON CONFLICT ({", ".join(key)}) DO UPDATE SET
        {", ".join(f"{col} = {old}{col} + {new}{col}" for col in sums)};"""


def _add_daily(contributions: str, dialect: str) -> str:
    """Add ``contributions`` (created_at, project_id, status, credits, rtype, conf, d) per key."""
    conf = "CAST(c.conf AS NUMERIC)" if dialect == "postgresql" else "c.conf"
    tenths = ", ".join(f"SUM(CASE WHEN c.tenth = {k} THEN c.d ELSE 0 END)" for k in range(10))
    return _accumulate(
        DAILY,
        KEY,
        SUMS,
        f"""
    SELECT c.day, c.project_id, c.status, c.result_type, SUM(c.d), COALESCE(SUM(c.d * {conf}), 0),
           SUM(CASE WHEN c.credits IS NOT NULL THEN c.d ELSE 0 END),
           COALESCE(SUM(c.d * CAST(ROUND(c.credits * 1000000) AS BIGINT)), 0), {tenths}
    FROM (
        SELECT {_day("x.created_at", dialect)} AS day, x.project_id, x.status,
               COALESCE(x.rtype, '') AS result_type, {_tenth("x.conf")} AS tenth, x.conf, x.credits, x.d
        FROM ({contributions}) AS x
        WHERE x.d <> 0
    ) AS c
    GROUP BY c.day, c.project_id, c.status, c.result_type""",
        dialect,
    )


def _add_pages(contributions: str, dialect: str) -> str:
    """Add ``contributions`` (page_number, d)."""
    return _accumulate(
        PAGES,
        ("page_number",),
        ("jobs",),
        f"""
    SELECT c.page_number, SUM(c.d) FROM ({contributions}) AS c
    WHERE c.d <> 0
    GROUP BY c.page_number""",
        dialect,
    )


# -- PostgreSQL: statement triggers over transition tables, every stored row looked up by key ----

PG_RESULT = (
    "LEFT JOIN LATERAL (SELECT r.type, r.confidence FROM classify_results AS r "
    "WHERE r.job_id = {id} OFFSET 0) AS r ON TRUE"
)
PG_LIVE_JOB = (
    "CROSS JOIN LATERAL (SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits "
    "FROM classify_jobs AS j WHERE j.id = {id} AND j.deleted_at IS NULL OFFSET 0) AS j"
)
# What a job's contribution is made of; ``_signed(alias, d)`` selects them from a row, signed.
JOB_COLUMNS = ("id", "created_at", "project_id", "status", "v2_usage_credits", "deleted_at")


def _signed(alias: str, d: int) -> str:
    return ", ".join(f"{alias}.{c}" for c in JOB_COLUMNS) + f", {d} AS d"


# A job's contribution changes with these (and with its result).
JOB_CHANGED = (
    "(n.created_at, n.project_id, n.status, n.v2_usage_credits, n.deleted_at IS NULL) "
    "IS DISTINCT FROM (o.created_at, o.project_id, o.status, o.v2_usage_credits, o.deleted_at IS NULL)"
)
NO_RESULT_ROWS = "(SELECT job_id, type, confidence FROM classify_results WHERE 1 = 0)"
NO_PAGE_ROWS = "(SELECT job_id, page_number FROM classify_target_pages WHERE 1 = 0)"


def _pg_jobs(signed_jobs: str) -> str:
    """Contributions of ``signed_jobs`` (JOB_COLUMNS, d) with their current result, live ones only."""
    return f"""
        SELECT x.created_at, x.project_id, x.status, x.v2_usage_credits AS credits,
               r.type AS rtype, r.confidence AS conf, x.d
        FROM ({signed_jobs}) AS x
        {PG_RESULT.format(id="x.id")}
        WHERE x.deleted_at IS NULL"""


def _pg_results(old: str, new: str) -> str:
    """Each job's result as it is (+1) and as it was (-1): a row inserted replaces "no result", a
    row deleted leaves it."""
    return f"""
        SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits,
               c.type AS rtype, c.confidence AS conf, c.d
        FROM (
            SELECT job_id, type, confidence, 1 AS d FROM {new} AS n
            UNION ALL SELECT job_id, NULL, NULL, -1 FROM {new} AS n
            UNION ALL SELECT job_id, type, confidence, -1 FROM {old} AS o
            UNION ALL SELECT job_id, NULL, NULL, 1 FROM {old} AS o
        ) AS c
        {PG_LIVE_JOB.format(id="c.job_id")}"""


def _pg_pages(old: str, new: str) -> str:
    return f"""
        SELECT c.page_number, c.d
        FROM (SELECT job_id, page_number, 1 AS d FROM {new} AS n
              UNION ALL SELECT job_id, page_number, -1 FROM {old} AS o) AS c
        {PG_LIVE_JOB.format(id="c.job_id")}"""


def _pg_job_pages(signed_ids: str) -> str:
    return f"""
        SELECT p.page_number, x.d
        FROM ({signed_ids}) AS x
        CROSS JOIN LATERAL (SELECT p.page_number FROM classify_target_pages AS p
                            WHERE p.job_id = x.id OFFSET 0) AS p"""


PG_JOBS_UPDATED = (
    f"SELECT {_signed('n', 1)} FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id WHERE {JOB_CHANGED} "
    f"UNION ALL SELECT {_signed('o', -1)} FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id "
    f"WHERE {JOB_CHANGED}"
)
PG_LIVENESS_CHANGED = (
    "SELECT n.id, (CASE WHEN n.deleted_at IS NULL THEN 1 ELSE 0 END) "
    "- (CASE WHEN o.deleted_at IS NULL THEN 1 ELSE 0 END) AS d "
    "FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id "
    "WHERE (n.deleted_at IS NULL) <> (o.deleted_at IS NULL)"
)
PG = "postgresql"
NEW_ROWS, OLD_ROWS = "NEW TABLE AS new_rows", "OLD TABLE AS old_rows"
BOTH_ROWS = f"{OLD_ROWS} {NEW_ROWS}"


def _pg_each_event(
    prefix: str, table: str, none: str, delta: Callable[[str, str], str]
) -> dict[str, tuple[str, str, str, str]]:
    """Triggers for INSERT, DELETE and UPDATE of ``table``: ``delta(old, new)``, ``none`` standing
    for the side a statement does not have."""
    return {
        f"{prefix}_insert": (table, "INSERT", NEW_ROWS, delta(none, "new_rows")),
        f"{prefix}_delete": (table, "DELETE", OLD_ROWS, delta("old_rows", none)),
        f"{prefix}_update": (table, "UPDATE", BOTH_ROWS, delta("old_rows", "new_rows")),
    }


# name: (table, event, transition tables, body)
PG_STATEMENT_TRIGGERS: dict[str, tuple[str, str, str, str]] = {
    "classify_daily_stats_jobs_insert": (
        "classify_jobs",
        "INSERT",
        NEW_ROWS,
        _add_daily(_pg_jobs(f"SELECT {_signed('new_rows', 1)} FROM new_rows"), PG),
    ),
    "classify_daily_stats_jobs_update": (
        "classify_jobs",
        "UPDATE",
        BOTH_ROWS,
        _add_daily(_pg_jobs(PG_JOBS_UPDATED), PG),
    ),
    **_pg_each_event(
        "classify_daily_stats_results",
        "classify_results",
        NO_RESULT_ROWS,
        lambda old, new: _add_daily(_pg_results(old, new), PG),
    ),
    **_pg_each_event(
        "classify_page_stats_pages",
        "classify_target_pages",
        NO_PAGE_ROWS,
        lambda old, new: _add_pages(_pg_pages(old, new), PG),
    ),
    "classify_page_stats_jobs_update": (
        "classify_jobs",
        "UPDATE",
        BOTH_ROWS,
        _add_pages(_pg_job_pages(PG_LIVENESS_CHANGED), PG),
    ),
}
# A hard delete of a live job takes its contributions out before the cascade removes its rows (the
# cascaded deletes then find no live job and change nothing).
PG_OLD_JOB = f"SELECT {_signed('OLD', -1)}"
PG_JOBS_DELETE = "classify_summary_stats_jobs_delete"
PG_JOBS_DELETE_BODY = _add_daily(_pg_jobs(PG_OLD_JOB), PG) + _add_pages(
    _pg_job_pages("SELECT OLD.id, -1 AS d WHERE OLD.deleted_at IS NULL"), PG
)


# -- SQLite: row triggers ------------------------------------------------------------------------

SQ = "sqlite"


def _sq_job(row: str, sign: int) -> str:
    return _add_daily(
        f"SELECT {row}.created_at, {row}.project_id, {row}.status, {row}.v2_usage_credits AS credits, "
        f"r.type AS rtype, r.confidence AS conf, {sign} AS d "
        f"FROM (SELECT 1) AS one LEFT JOIN classify_results AS r ON r.job_id = {row}.id "
        f"WHERE {row}.deleted_at IS NULL",
        SQ,
    )


def _sq_result(row: str, rtype: str, conf: str, sign: int) -> str:
    return _add_daily(
        f"SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits, "
        f"{rtype} AS rtype, {conf} AS conf, {sign} AS d "
        f"FROM classify_jobs AS j WHERE j.id = {row}.job_id AND j.deleted_at IS NULL",
        SQ,
    )


def _sq_page(row: str, sign: int) -> str:
    return _add_pages(
        f"SELECT {row}.page_number AS page_number, {sign} AS d FROM classify_jobs AS j "
        f"WHERE j.id = {row}.job_id AND j.deleted_at IS NULL",
        SQ,
    )


def _sq_job_pages(row: str, sign: int) -> str:
    return _add_pages(
        f"SELECT page_number, {sign} AS d FROM classify_target_pages WHERE job_id = {row}.id", SQ
    )


SQ_JOB_CHANGED = (
    " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ("created_at", "project_id", "status", "v2_usage_credits"))
    + " OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)"
)
SQ_RESULT_CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ("job_id", "type", "confidence"))
SQLITE_TRIGGERS: dict[str, tuple[str, list[str]]] = {
    "classify_daily_stats_jobs_insert": ("AFTER INSERT ON classify_jobs", [_sq_job("NEW", 1)]),
    "classify_daily_stats_jobs_update": (
        f"AFTER UPDATE ON classify_jobs WHEN {SQ_JOB_CHANGED}",
        [_sq_job("OLD", -1), _sq_job("NEW", 1)],
    ),
    "classify_summary_stats_jobs_delete": (
        "BEFORE DELETE ON classify_jobs WHEN OLD.deleted_at IS NULL",
        [_sq_job("OLD", -1), _sq_job_pages("OLD", -1)],
    ),
    "classify_daily_stats_results_insert": (
        "AFTER INSERT ON classify_results",
        [_sq_result("NEW", "NULL", "NULL", -1), _sq_result("NEW", "NEW.type", "NEW.confidence", 1)],
    ),
    "classify_daily_stats_results_delete": (
        "AFTER DELETE ON classify_results",
        [_sq_result("OLD", "OLD.type", "OLD.confidence", -1), _sq_result("OLD", "NULL", "NULL", 1)],
    ),
    "classify_daily_stats_results_update": (
        f"AFTER UPDATE ON classify_results WHEN {SQ_RESULT_CHANGED}",
        [
            _sq_result("OLD", "OLD.type", "OLD.confidence", -1),
            _sq_result("OLD", "NULL", "NULL", 1),
            _sq_result("NEW", "NULL", "NULL", -1),
            _sq_result("NEW", "NEW.type", "NEW.confidence", 1),
        ],
    ),
    "classify_page_stats_pages_insert": ("AFTER INSERT ON classify_target_pages", [_sq_page("NEW", 1)]),
    "classify_page_stats_pages_delete": ("AFTER DELETE ON classify_target_pages", [_sq_page("OLD", -1)]),
    "classify_page_stats_pages_update": (
        "AFTER UPDATE ON classify_target_pages",
        [_sq_page("OLD", -1), _sq_page("NEW", 1)],
    ),
    "classify_page_stats_jobs_tombstone": (
        "AFTER UPDATE OF deleted_at ON classify_jobs "
        "WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL",
        [_sq_job_pages("NEW", -1)],
    ),
    "classify_page_stats_jobs_restore": (
        "AFTER UPDATE OF deleted_at ON classify_jobs "
        "WHEN OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL",
        [_sq_job_pages("NEW", 1)],
    ),
}


def _backfill(dialect: str) -> list[str]:
    return [
        _add_daily(
            "SELECT j.created_at, j.project_id, j.status, j.v2_usage_credits AS credits, "
            "r.type AS rtype, r.confidence AS conf, 1 AS d "
            "FROM classify_jobs AS j LEFT JOIN classify_results AS r ON r.job_id = j.id "
            "WHERE j.deleted_at IS NULL",
            dialect,
        ),
        _add_pages(
            "SELECT p.page_number, 1 AS d FROM classify_target_pages AS p "
            "JOIN classify_jobs AS j ON j.id = p.job_id WHERE j.deleted_at IS NULL",
            dialect,
        ),
    ]


# -- views ---------------------------------------------------------------------------------------


def _group(dialect: str) -> str:
    """The key columns as the views show them: NULL where the table holds its stand-ins."""
    return (
        f"NULLIF(day, {_no_day(dialect)}) AS day, project_id, status, NULLIF(result_type, '') AS result_type"
    )


def _daily_counts(dialect: str) -> str:
    with_result = " + ".join(TENTHS)
    return f"""
SELECT
    {_group(dialect)},
    jobs,
    CAST(confidence_sum AS DOUBLE PRECISION) / NULLIF({with_result}, 0) AS mean_confidence,
    {with_result} AS jobs_with_result,
    jobs_with_usage,
    CASE WHEN jobs_with_usage > 0 THEN CAST(credits_micro / 1000000.0 AS NUMERIC(24, 6)) END AS credits
FROM {DAILY}
WHERE jobs > 0
"""


def _confidence_counts(dialect: str) -> str:
    tenths = " UNION ALL ".join(f"SELECT {k} AS tenth" for k in range(10))
    pick = " ".join(f"WHEN {k} THEN s.tenth_{k}" for k in range(10))
    return f"""
SELECT t.day, t.project_id, t.status, t.result_type, t.confidence_tenth, t.jobs
FROM (
    SELECT {_group(dialect)}, k.tenth AS confidence_tenth, CASE k.tenth {pick} END AS jobs
    FROM {DAILY} AS s CROSS JOIN ({tenths}) AS k
) AS t
WHERE t.jobs > 0
"""


BOUND_SQL = """
SELECT CASE WHEN COUNT(*) = COUNT(w.last_walk) THEN MIN(w.last_walk) END
FROM (SELECT scope, MAX(last_complete_walk_at) AS last_walk FROM etl_checkpoints GROUP BY scope) AS w
"""


def _health(dialect: str) -> str:
    landed: str = R0011._health(dialect)
    if dialect != "postgresql":
        return landed
    start = landed.index("COALESCE((")
    end = landed.index("), ", start) + 1
    return landed[:start] + f"COALESCE({BOUND_FUNCTION}()" + landed[end:]


def _create_views(dialect: str, daily: str, health: str) -> None:
    op.execute("DROP VIEW IF EXISTS classify_daily_counts")
    op.execute(f"CREATE VIEW classify_daily_counts AS {daily}")
    op.execute("DROP VIEW IF EXISTS classify_hydration_health")
    op.execute(f"CREATE VIEW classify_hydration_health AS {health}")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        DAILY,
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result_type", sa.String(), nullable=False),
        sa.Column("jobs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("confidence_sum", sa.Numeric(), server_default="0", nullable=False),
        sa.Column("jobs_with_usage", sa.Integer(), server_default="0", nullable=False),
        sa.Column("credits_micro", sa.BigInteger(), server_default="0", nullable=False),
        *(sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in TENTHS),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_classify_daily_stats")),
    )
    op.create_table(
        PAGES,
        sa.Column("page_number", sa.Integer(), nullable=False),
        sa.Column("jobs", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("page_number", name=op.f("pk_classify_page_stats")),
    )
    for statement in _backfill(dialect):
        op.execute(statement)
    op.execute(f"CREATE INDEX {DAY_INDEX} ON {DAILY} (project_id, (NULLIF(day, {_no_day(dialect)})))")
    op.create_index(
        SCOPED_INDEX,
        "classify_jobs",
        [sa.text("target_page_count DESC")],
        postgresql_where=sa.text(SCOPED_WHERE),
        sqlite_where=sa.text(SCOPED_WHERE),
    )
    if dialect == "postgresql":
        for name, (table, event, transitions, body) in PG_STATEMENT_TRIGGERS.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                f"BEGIN{body}\nRETURN NULL;\nEND\n$$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transitions} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
        op.execute(
            f"CREATE FUNCTION {PG_JOBS_DELETE}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN{PG_JOBS_DELETE_BODY}\nRETURN OLD;\nEND\n$$"
        )
        op.execute(
            f"CREATE TRIGGER {PG_JOBS_DELETE} BEFORE DELETE ON classify_jobs "
            f"FOR EACH ROW EXECUTE FUNCTION {PG_JOBS_DELETE}()"
        )
        op.execute(
            f"CREATE FUNCTION {BOUND_FUNCTION}() RETURNS timestamp with time zone "
            f"LANGUAGE sql STABLE AS $${BOUND_SQL}$$"
        )
    else:
        for name, (when, statements) in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when}\nBEGIN{''.join(statements)}\nEND")
    _create_views(dialect, _daily_counts(dialect), _health(dialect))
    op.execute(f"CREATE VIEW classify_confidence_counts AS {_confidence_counts(dialect)}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DROP VIEW IF EXISTS classify_confidence_counts")
    _create_views(dialect, R0011._daily_counts(dialect), R0011._health(dialect))
    if dialect == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {BOUND_FUNCTION}()")
        op.execute(f"DROP TRIGGER IF EXISTS {PG_JOBS_DELETE} ON classify_jobs")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_JOBS_DELETE}()")
        for name, (table, *_) in PG_STATEMENT_TRIGGERS.items():
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index(SCOPED_INDEX, table_name="classify_jobs")
    op.drop_table(PAGES)
    op.drop_table(DAILY)
