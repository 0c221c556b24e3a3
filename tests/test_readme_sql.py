"""The analyst examples of docs/analysts.md never rot: every ```sql block of the section runs after a
real sync and returns rows, on PostgreSQL and on SQLite (a block whose first line is
``-- dialect: postgresql`` or ``-- dialect: sqlite`` runs on that database only)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from etl.simulator import SimServer, SimState
from etl.warehouse import db
from tests.support import API_KEY, sync

README = Path(__file__).resolve().parent.parent / "docs" / "analysts.md"
START, END = "<!-- analysts:start -->", "<!-- analysts:end -->"
FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
DIALECT = re.compile(r"\A--\s*dialect:\s*(\S+)\s*$", re.M)
VIEWS = (
    "classify_jobs_current",
    "classify_daily_counts",
    "classify_confidence_counts",
    "classify_rule_match",
    "classify_hydration_health",
)


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence in docs/analysts.md
    language: str
    sql: str
    dialect: str | None

    def describe(self) -> str:
        return f"docs/analysts.md line {self.line} ({self.dialect or 'portable'}):\n{self.sql}"


def analyst_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1, "the analysts markers must appear once each"
    start = text.index(START) + len(START)
    section = text[start : text.index(END)]
    first_line = text.count("\n", 0, start) + 1
    blocks = []
    for m in FENCE.finditer(section):
        sql = m.group(2).strip()
        dialect = DIALECT.match(sql)
        blocks.append(
            Block(
                line=first_line + section.count("\n", 0, m.start()),
                language=m.group(1),
                sql=sql,
                dialect=dialect.group(1) if dialect else None,
            )
        )
    return blocks


SQL_BLOCKS = [b for b in analyst_blocks() if b.language == "sql"]


def test_analyst_section_has_its_examples() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(START) : text.index(END)]
    assert "\n## For analysts\n" in section
    assert len(SQL_BLOCKS) >= 7
    assert {b.dialect for b in SQL_BLOCKS} <= {None, "postgresql", "sqlite"}, "unknown dialect line"
    assert sum(b.dialect is None for b in SQL_BLOCKS) >= 7, "most examples should be portable"
    every_sql = "\n".join(b.sql for b in SQL_BLOCKS)
    for name in (*VIEWS, "classify_job_history"):
        assert name in section and name in every_sql, f"{name} is neither explained nor queried"


@pytest.fixture
def populated(engine: Engine) -> Engine:
    """A synced simulator whose history has result type changes, deleted jobs and a second week."""
    state = SimState.generate(n_jobs=150, seed=31, api_key=API_KEY)
    with SimServer(state) as sim:
        assert sync(engine, sim.url).outcome == "success"
        state.change_jobs(40)
        state.add_jobs(10)
        state.delete_jobs(2)
        assert sync(engine, sim.url).outcome == "success"
    return engine


def test_every_analyst_query_runs_and_returns_rows(populated: Engine) -> None:
    dialect = populated.dialect.name
    failures, ran = [], 0
    for block in SQL_BLOCKS:
        if block.dialect not in (None, dialect):
            continue
        ran += 1
        try:
            with populated.connect() as conn:
                # Verbatim, as an analyst would paste it: no bind-parameter parsing of the text.
                result = conn.exec_driver_sql(block.sql).all()
        except Exception as exc:
            failures.append(f"{block.describe()}\nfailed on {dialect}: {type(exc).__name__}: {exc}")
            continue
        if not result:
            failures.append(f"{block.describe()}\nreturned no rows on {dialect}")
    assert ran >= 7
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


def test_bi_role_snippet_grants_reads_on_the_schema_only(pg_url: str) -> None:
    """The read-only role snippet, run as printed (but for the role's and the database's names) by the
    owner of an install in ``analytics_classify``: the role it creates logs in, finds every view by its
    bare name, reads a view a later revision creates, and can neither write there nor read the
    warehouse's other schemas."""
    (snippet,) = [b for b in analyst_blocks() if b.language == "plpgsql"]
    role = f"bi_{uuid.uuid4().hex[:10]}"
    database = make_url(pg_url).database
    assert database is not None
    sql = re.sub(r"\bbi\b", role, snippet.sql).replace("warehouse", f'"{database}"')
    engine = db.make_engine(pg_url, schema="analytics_classify")
    bi = create_engine(make_url(pg_url).set(username=role, password="change-me"))
    try:
        db.upgrade(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE public.another_source (secret text)")
            conn.exec_driver_sql(sql)
            conn.exec_driver_sql(  # what a later revision would add
                "CREATE VIEW analytics_classify.classify_later AS SELECT count(*) AS jobs "
                "FROM analytics_classify.classify_jobs"
            )
        with bi.connect() as conn:
            assert conn.exec_driver_sql("SHOW search_path").scalar_one() == "analytics_classify"
            for name in (*VIEWS, "classify_later"):
                conn.exec_driver_sql(f"SELECT * FROM {name}").all()
        for denied in (
            "SELECT * FROM public.another_source",
            "DELETE FROM classify_jobs",
            "CREATE TABLE analytics_classify.mine (x int)",
        ):
            with bi.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
                conn.exec_driver_sql(denied)
    finally:
        bi.dispose()
        with engine.begin() as conn:  # roles belong to the server, not to the test's database
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        engine.dispose()


NO_MATCH_PER_WEEK = """
SELECT {week} AS week,
       COUNT(*) AS jobs_with_result,
       SUM(CASE WHEN matched THEN 0 ELSE 1 END) AS no_match,
       ROUND(AVG(CASE WHEN matched THEN 0.0 ELSE 1.0 END), 3) AS no_match_rate
FROM classify_jobs_current
WHERE NOT is_deleted AND confidence IS NOT NULL
GROUP BY 1
ORDER BY 1"""
# The reports revision 0015 rewrote over trigger-kept summaries, as they were first written (over
# the base tables and classify_jobs_current): the same data must give the same rows.
FIRST_VERSIONS = {
    ("postgresql", "FROM classify_daily_counts\nWHERE jobs_with_result > 0"): NO_MATCH_PER_WEEK.format(
        week="CAST(date_trunc('week', created_at AT TIME ZONE 'UTC') AS DATE)"
    ),
    ("sqlite", "FROM classify_daily_counts\nWHERE jobs_with_result > 0"): NO_MATCH_PER_WEEK.format(
        week="DATE(created_at, 'weekday 0', '-6 days')"
    ),
    (None, "previous_type"): """
SELECT job_id, previous_type, result_type AS new_type,
       previous_confidence, confidence AS new_confidence, valid_from AS changed_at
FROM (
    SELECT job_id, result_type, confidence, valid_from,
           LAG(result_type) OVER (PARTITION BY job_id ORDER BY valid_from, id) AS previous_type,
           LAG(confidence) OVER (PARTITION BY job_id ORDER BY valid_from, id) AS previous_confidence,
           ROW_NUMBER() OVER (PARTITION BY job_id ORDER BY valid_from, id) AS version
    FROM classify_job_history
) AS versions
WHERE version > 1
  AND COALESCE(previous_type, '(none)') <> COALESCE(result_type, '(none)')
ORDER BY changed_at DESC, job_id""",
    (None, "FROM classify_confidence_counts"): """
SELECT COALESCE(result_type, '(no match)') AS result_type,
       CASE
           WHEN confidence < 0.5 THEN '0.0-0.5'
           WHEN confidence < 0.7 THEN '0.5-0.7'
           WHEN confidence < 0.8 THEN '0.7-0.8'
           WHEN confidence < 0.9 THEN '0.8-0.9'
           ELSE '0.9-1.0'
       END AS confidence_bucket,
       COUNT(*) AS jobs
FROM classify_jobs_current
WHERE NOT is_deleted AND confidence IS NOT NULL
GROUP BY 1, 2
ORDER BY 1, 2""",
    (None, "FROM classify_page_stats"): """
SELECT p.page_number, COUNT(*) AS jobs
FROM classify_target_pages AS p
JOIN classify_jobs AS j ON j.id = p.job_id
WHERE j.deleted_at IS NULL
GROUP BY p.page_number
ORDER BY jobs DESC, p.page_number
LIMIT 20""",
    (None, "AS mean_credits_per_job"): """
SELECT project_id,
       COUNT(*) AS jobs,
       COUNT(credits) AS jobs_with_usage,
       COALESCE(SUM(credits), 0) AS total_credits,
       ROUND(CAST(AVG(credits) AS NUMERIC), 2) AS mean_credits_per_job
FROM classify_jobs_current
WHERE NOT is_deleted
GROUP BY project_id
ORDER BY total_credits DESC, project_id""",
}


def _plain(value: object) -> object:
    """Numbers compared as numbers (a SUM is numeric where a COUNT was an integer; SQLite's REAL
    sum of credits differs from the exact one in the last bits), dates as text."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return round(Decimal(str(value)), 6)
    return str(value)


def test_rewritten_reports_give_the_rows_of_their_first_versions(populated: Engine) -> None:
    dialect = populated.dialect.name
    compared = 0
    for (only, needle), first in FIRST_VERSIONS.items():
        if only not in (None, dialect):
            continue
        (block,) = [b for b in SQL_BLOCKS if needle in b.sql and b.dialect in (None, dialect)]
        with populated.connect() as conn:
            now = conn.exec_driver_sql(block.sql).all()
            then = conn.exec_driver_sql(first).all()
        assert now, block.describe()
        assert [tuple(map(_plain, r)) for r in now] == [tuple(map(_plain, r)) for r in then], block.describe()
        compared += 1
    assert compared == 5
