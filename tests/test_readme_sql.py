"""The analyst examples of docs/analysts.md never rot: every ```sql block of the section runs after a
real sync and returns rows, on PostgreSQL and on SQLite (a block whose first line is
``-- dialect: postgresql`` or ``-- dialect: sqlite`` runs on that database only)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from etl import db
from etl.simulator import SimServer, SimState
from tests.support import API_KEY, sync

README = Path(__file__).resolve().parent.parent / "docs" / "analysts.md"
START, END = "<!-- analysts:start -->", "<!-- analysts:end -->"
FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
DIALECT = re.compile(r"\A--\s*dialect:\s*(\S+)\s*$", re.M)
VIEWS = ("classify_jobs_current", "classify_daily_counts", "classify_rule_match", "classify_hydration_health")


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


def test_bi_role_snippet_is_valid_postgresql(pg_url: str) -> None:
    """The read-only role snippet runs (in a transaction, rolled back: roles are server-wide) and the
    role it creates can read every view."""
    (snippet,) = [b for b in analyst_blocks() if b.language == "plpgsql"]
    role = f"bi_{uuid.uuid4().hex[:10]}"
    database = make_url(pg_url).database
    assert database is not None
    sql = re.sub(r"\bbi\b", role, snippet.sql).replace("warehouse", f'"{database}"')
    engine = db.make_engine(pg_url)
    try:
        db.upgrade(engine)
        with engine.connect() as conn:
            transaction = conn.begin()
            try:
                conn.exec_driver_sql(sql)
                conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
                for name in VIEWS:
                    conn.exec_driver_sql(f"SELECT * FROM {name}").all()
            finally:
                transaction.rollback()
    finally:
        engine.dispose()
