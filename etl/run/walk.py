"""One list query walked to its end: list ahead → plan → commit in order, a transaction a page.

The list runs ahead (tokens chain, so one page at a time), each listed page is planned (decided and
fetched) as soon as it arrives, and pages commit strictly in order, each with the token of the page
after it. Requests stay in flight across page boundaries while the checkpoint stays exact.

A walk ends only on a proven end marker (``next_page_token`` null, ``""`` or absent, or an empty
page). A token of the wrong type is an untrusted page (``api.UntrustedPage``); a token seen before
in the same walk is a loop; more than ``budget`` pages that bring no new job is a runaway walk.
Each stops the walk with the checkpoint at the last committed page and nothing marked deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from etl.errors import FatalApiError, PageTokenRejected
from etl.run import results
from etl.run.locks import LockGuard
from etl.run.pages import PagePlan, PagePlanner
from etl.run.results import Counters, ScopeReport, utcnow
from etl.source.client import ClassifyApi, Source
from etl.warehouse import checkpoints, page, runs

log = logging.getLogger("etl.walk")

PageCallback = Callable[[ScopeReport, Counters], None]


class Checkpointer(Protocol):
    """Where a walk stands, written in each page's transaction."""

    @property
    def pages_done(self) -> int: ...

    def write(self, conn: Connection, next_token: str | None, end: bool, now: datetime) -> None: ...

    def restart(self, now: datetime) -> None: ...


@dataclass
class ScopeCheckpoint:
    """A sequential walk of a scope's list (``etl_checkpoints``); at its end, ``on_end`` runs in the
    last page's transaction (deletions, quarantine resolution)."""

    cp: checkpoints.Checkpoint
    on_end: Callable[[Connection, datetime, datetime], None] | None = None

    @property
    def pages_done(self) -> int:
        return self.cp.pages_done

    def write(self, conn: Connection, next_token: str | None, end: bool, now: datetime) -> None:
        self.cp.pages_done += 1
        self.cp.next_page_token = None if end else next_token
        if end:
            self.cp.last_complete_walk_at = now
            if self.on_end is not None and self.cp.walk_started_at is not None:
                self.on_end(conn, self.cp.walk_started_at, now)
        checkpoints.write_checkpoint(conn, self.cp, now)

    def restart(self, now: datetime) -> None:
        self.cp.next_page_token, self.cp.pages_done, self.cp.walk_started_at = None, 0, now


@dataclass
class WindowCheckpoint:
    """One created_at window of a parallel walk (``etl_walk_windows``)."""

    window: checkpoints.Window

    @property
    def pages_done(self) -> int:
        return self.window.pages_done

    def write(self, conn: Connection, next_token: str | None, end: bool, now: datetime) -> None:
        self.window.pages_done += 1
        self.window.next_page_token = None if end else next_token
        self.window.done = end
        checkpoints.write_windows(conn, [self.window], now)

    def restart(self, now: datetime) -> None:
        self.window.next_page_token, self.window.pages_done = None, 0


@dataclass
class NoCheckpoint:
    """A short query of an incremental run: a killed run simply asks again."""

    pages_done: int = 0

    def write(self, conn: Connection, next_token: str | None, end: bool, now: datetime) -> None:
        self.pages_done += 1

    def restart(self, now: datetime) -> None:
        self.pages_done = 0


@dataclass
class Stream:
    """One list query: the scope's filters plus this part's, walked from ``token`` to the end."""

    part: str  # named in the run's list-request counts: "walk", "window", "recent", ...
    source: Source
    params: list[tuple[str, str]]
    checkpoint: Checkpointer
    token: str | None = None
    #: The created_at window asked for: every listed job must fall in it (else WindowIgnored).
    window: tuple[datetime | None, datetime | None] | None = None


@dataclass
class _Listed:
    plan: asyncio.Task[PagePlan] | None = None
    next_token: str | None = None
    end: bool = False
    error: BaseException | None = None
    restarted_at: datetime | None = None


@dataclass
class Walker:
    """Walks streams for one scope of a run; several streams may run at once (commits serialize)."""

    engine: Engine
    api: ClassifyApi
    planner: PagePlanner
    report: ScopeReport
    run_id: int
    known: page.KnownSets
    lock: LockGuard
    page_size: int
    lookahead: int
    dry_run: bool
    #: Pages that bring no new job a walk may list before it is called a runaway.
    budget: int
    on_page: PageCallback | None = None
    on_commit: Callable[[Connection], None] | None = None  # e.g. record the v1→v2 switch, once
    after_commit: Callable[[PagePlan], None] | None = None
    commit_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def walk(self, stream: Stream) -> None:
        queue: asyncio.Queue[_Listed] = asyncio.Queue(maxsize=self.lookahead)
        planning: set[asyncio.Task[Any]] = set()
        producer = asyncio.create_task(self._list_ahead(stream, queue, planning))
        stale = 0
        try:
            while True:
                item = await queue.get()
                if item.error is not None:
                    raise item.error
                if item.plan is None:  # the walk restarted from page 1
                    assert item.restarted_at is not None
                    stream.checkpoint.restart(item.restarted_at)
                    continue
                plan = await item.plan
                async with self.commit_lock:
                    await asyncio.to_thread(self._commit, stream, plan, item.next_token, item.end)
                if self.after_commit is not None:
                    self.after_commit(plan)
                self.report.counters.add(plan.counters)
                throttle = self.api.throttle
                self.report.throttled, self.report.throttle_wait_s = (
                    throttle.throttled_answers,
                    throttle.wait_s,
                )
                self.report.held_back = throttle.is_waiting()
                if self.on_page is not None:
                    self.on_page(self.report, plan.counters)
                if item.end:
                    return
                stale = 0 if plan.counters.new else stale + 1
                if stale > self.budget:
                    raise FatalApiError(
                        f"scope {self.report.scope}: the {stream.source} list went on for {stale} pages "
                        "without a new job (a runaway walk?); stopped, nothing marked deleted. "
                        "If the list really is that long, raise --max-walk-pages"
                    )
        finally:
            producer.cancel()
            planning.add(producer)
            while not queue.empty():
                left = queue.get_nowait()
                if left.plan is not None:
                    planning.add(left.plan)
            for task in planning:
                task.cancel()
            await asyncio.gather(*planning, return_exceptions=True)

    async def _list_ahead(
        self, stream: Stream, queue: asyncio.Queue[_Listed], planning: set[asyncio.Task[Any]]
    ) -> None:
        token, restarted = stream.token, False
        seen: set[bytes] = set()
        try:
            while True:
                try:
                    self.report.list_requests[stream.part] = self.report.list_requests.get(stream.part, 0) + 1
                    page = await self.api.list_page(
                        stream.source, stream.params, page_token=token, page_size=self.page_size
                    )
                except PageTokenRejected as exc:
                    if restarted or token is None:
                        raise FatalApiError(
                            f"scope {self.report.scope}: {exc} even after restarting"
                        ) from None
                    log.warning(
                        "scope %s: page token rejected (%s); restarting from page 1", self.report.scope, exc
                    )
                    restarted, token = True, None
                    seen.clear()
                    await queue.put(_Listed(restarted_at=utcnow()))  # before any page of the new walk
                    continue
                plan = asyncio.create_task(
                    self.planner.plan(stream.source, page.items, self.report.scope, window=stream.window)
                )
                planning.add(plan)
                plan.add_done_callback(planning.discard)
                end = page.next_page_token is None or not page.items
                await queue.put(_Listed(plan=plan, next_token=page.next_page_token, end=end))
                if end:
                    return
                assert page.next_page_token is not None
                digest = hashlib.sha256(page.next_page_token.encode("utf-8", "surrogatepass")).digest()
                if digest in seen:
                    raise FatalApiError(
                        f"scope {self.report.scope}: the {stream.source} list sent a page token it had "
                        "sent before in this walk (a loop); stopped, checkpoint kept, nothing marked deleted"
                    )
                seen.add(digest)
                token = page.next_page_token
        except Exception as exc:  # handed to the committer, which raises it in order
            await queue.put(_Listed(error=exc))

    def commit_plan(self, plan: PagePlan) -> None:
        """Commit a plan that belongs to no list walk (the credits backfill)."""
        self._commit(None, plan, None, True)

    def _commit(self, stream: Stream | None, plan: PagePlan, next_token: str | None, end: bool) -> None:
        """The page's rows, quarantine, sightings and checkpoint: one transaction."""
        checkpoint = stream.checkpoint if stream is not None else NoCheckpoint()
        if self.dry_run:
            return
        self.lock.check()
        t0 = time.perf_counter()
        with self.engine.begin() as conn:
            page.commit_page(conn, plan.write, run_id=self.run_id, now=plan.now, known=self.known)
            checkpoint.write(conn, next_token, end, plan.now)
            if self.on_commit is not None:
                self.on_commit(conn)
            runs.update_run(conn, self.run_id, **results.counter_increments(plan.counters))
        log.debug(
            "scope %s %s page %d committed in %.1f ms (%d rows)",
            self.report.scope,
            stream.part if stream is not None else "credits",
            checkpoint.pages_done,
            (time.perf_counter() - t0) * 1000,
            len(plan.write.rows),
        )
