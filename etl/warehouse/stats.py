"""PostgreSQL planner statistics kept current while a sync grows the tables."""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from etl.warehouse.jobs import CHILD_TABLES
from etl.warehouse.schema import (
    classify_job_history,
    classify_job_payloads,
    classify_jobs,
    classify_rule_set_rules,
    classify_rule_sets,
    etl_job_seen,
    etl_walk_sightings,
)
from etl.warehouse.sql import qualified

log = logging.getLogger("etl.stats")


class StatsSchedule:
    """PostgreSQL: ANALYZE the growing tables each time the job count has doubled since the
    statistics were last taken (from 1,000 jobs on). A cold sync of n jobs analyzes about log2(n)
    times, each a fixed-size sample; a routine run on a large table never does (autovacuum's job).
    ANALYZE runs in a worker thread on a connection of its own, beside the page commits (its lock
    does not conflict with row writes), so the pipeline never waits for it."""

    FLOOR = 1_000

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._base: int | None = None  # jobs covered by the newest statistics
        self._added = 0
        self._failed = False
        self._task: asyncio.Task[None] | None = None

    def page_committed(self, new_jobs: int) -> None:
        """Count a committed page's new jobs; start an ANALYZE when the tables have doubled."""
        if self._failed or new_jobs <= 0:
            return
        if self._base is None:
            with self.engine.connect() as conn:
                self._base = estimated_jobs(conn)
        self._added += new_jobs
        due = self._base + self._added >= max(2 * self._base, self.FLOOR)
        if due and (self._task is None or self._task.done()):
            self._base, self._added = self._base + self._added, 0
            self._task = asyncio.create_task(asyncio.to_thread(self._analyze, self._base))

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _analyze(self, jobs: int) -> None:
        started = time.monotonic()
        try:
            with self.engine.begin() as conn:
                analyze(conn)
        except SQLAlchemyError as exc:  # e.g. not the tables' owner: slower, never wrong
            self._failed = True
            reason = type(exc).__name__
            log.warning("could not refresh the planner statistics (%s); continuing without", reason)
            return
        log.debug("planner statistics refreshed at ~%d jobs in %.2f s", jobs, time.monotonic() - started)


GROWING_TABLES = (
    classify_jobs,
    *CHILD_TABLES,
    classify_rule_sets,
    classify_rule_set_rules,
    classify_job_history,
    classify_job_payloads,
    etl_job_seen,
    etl_walk_sightings,
)


def estimated_jobs(conn: Connection) -> int:
    """PostgreSQL only: its idea of how many jobs it holds (0 if the table was never analyzed)."""
    value = conn.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
        {"t": qualified(conn, classify_jobs.name)},
    ).scalar()
    return max(int(value or 0), 0)


def analyze(conn: Connection) -> None:
    """PostgreSQL only: refresh the planner's statistics of the tables a sync grows. Without them
    (a cold sync, or autovacuum off or behind), PostgreSQL guesses that ``job_id = ANY(:page_ids)``
    matches half a table and deletes a page's child rows by a sequential scan: each page then costs
    O(table)."""
    conn.execute(text("ANALYZE " + ", ".join(qualified(conn, t.name) for t in GROWING_TABLES)))
