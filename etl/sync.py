"""The walk: per page list → decide → hydrate → normalize → load → checkpoint, one transaction a page.

Prints nothing; returns a ``SyncResult``. Incremental by row, not by high-water mark: each listed
job's ``updated_at`` (and payload fingerprint) is compared with what the database holds, so a job
changed behind the cursor mid-walk is still picked up by the next run.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from etl import load
from etl.api import ClassifyApi, Source
from etl.errors import (
    AuthError,
    DatabaseError,
    FatalApiError,
    InterruptedRun,
    InvalidItem,
    ListRouteGone,
    PageTokenRejected,
)
from etl.locks import LockGuard, scope_locks
from etl.models import V1Job
from etl.normalize import JobRows, build_rows, parse_v1, parse_v2, payload_hash

log = logging.getLogger("etl.sync")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Scope:
    """A slice of the API walked on its own, with its own checkpoint."""

    key: str
    params: dict[str, str]


def build_scopes(project_ids: Sequence[str], organization_id: str | None) -> list[Scope]:
    """One scope per project (filtered by the organization too, if given), else the organization,
    else the key's default scope."""
    org = {"organization_id": organization_id} if organization_id else {}
    if project_ids:
        return [Scope(f"project:{p}", {"project_id": p, **org}) for p in dict.fromkeys(project_ids)]
    if organization_id:
        return [Scope(f"organization:{organization_id}", org)]
    return [Scope("default", {})]


@dataclass
class Counters:
    pages: int = 0
    listed: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    hydrated: int = 0
    not_found: int = 0
    failed: int = 0
    quarantined: int = 0
    deleted: int = 0

    def add(self, other: Counters) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class ScopeOutcome:
    scope: str
    source: str
    counters: Counters = field(default_factory=Counters)
    complete: bool = False
    resumed_from_page: int = 0
    switched: bool = False
    error: str | None = None


@dataclass
class SyncResult:
    run_id: int | None
    started_at: datetime
    finished_at: datetime | None = None
    scopes: list[ScopeOutcome] = field(default_factory=list)
    totals: Counters = field(default_factory=Counters)
    requests: dict[str, int] = field(default_factory=dict)
    retries: int = 0

    @property
    def duration_s(self) -> float:
        end = self.finished_at or utcnow()
        return (end - self.started_at).total_seconds()

    @property
    def ok(self) -> bool:
        return all(s.error is None for s in self.scopes)

    @property
    def outcome(self) -> str:
        if not self.ok:
            return "failed"
        if self.totals.failed or self.totals.quarantined:
            return "partial"
        return "success"


@dataclass
class SyncOptions:
    page_size: int = 100
    full_refresh: bool = False
    concurrency: int = 16
    source: Source | Literal["auto"] = "auto"
    #: Pages listed ahead of the one being committed (bounded memory; keeps requests in flight).
    lookahead_pages: int = 3
    #: Walk and compare only: no v2 request, no write of any kind (not even the run record).
    dry_run: bool = False


@dataclass
class _PagePlan:
    """What one page will write, decided before the transaction opens."""

    counters: Counters
    now: datetime
    rows: list[JobRows] = field(default_factory=list)
    stored: dict[str, load.Stored] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    bad: list[dict[str, Any]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    resolved: dict[str, list[str]] = field(default_factory=dict)
    v2_walk: bool = False


def _parse_or_none(v1_raw: Any) -> V1Job | None:
    if v1_raw is None:
        return None
    try:
        return parse_v1(v1_raw)
    except InvalidItem:
        return None


@dataclass
class _Listed:
    """A queue item from the lister: a page being planned, a restart marker, or an error."""

    plan: asyncio.Task[_PagePlan] | None = None
    next_token: str | None = None
    error: Exception | None = None
    restarted_at: datetime | None = None


@dataclass
class _Hydration:
    status: str  # ok | not_found | failed
    raw: Any = None
    error: str | None = None


PageCallback = Callable[[ScopeOutcome, Counters], None]


class _StatsSchedule:
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
                self._base = load.estimated_jobs(conn)
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
                load.analyze(conn)
        except SQLAlchemyError as exc:  # e.g. not the tables' owner: slower, never wrong
            self._failed = True
            reason = type(exc).__name__
            log.warning("could not refresh the planner statistics (%s); continuing without", reason)
            return
        log.debug("planner statistics refreshed at ~%d jobs in %.2f s", jobs, time.monotonic() - started)


class Syncer:
    """Runs the walk for a list of scopes against one engine and one API client."""

    def __init__(
        self,
        engine: Engine,
        api: ClassifyApi,
        options: SyncOptions,
        *,
        on_page: PageCallback | None = None,
    ) -> None:
        self.engine = engine
        self.api = api
        self.options = options
        self.on_page = on_page
        self._open_quarantine: set[tuple[str, str]] = set()
        self._deleted: set[str] = set()
        self._lock = LockGuard()
        # One bound on v2 requests in flight for the whole run, shared by the pages in the pipeline.
        self._semaphore = asyncio.Semaphore(options.concurrency)
        # A dry run writes nothing, so it has no statistics to refresh.
        analyzes = engine.dialect.name == "postgresql" and not options.dry_run
        self._stats = _StatsSchedule(engine) if analyzes else None

    async def run(self, scopes: Sequence[Scope]) -> SyncResult:
        """Walk every scope under its lock; one scope failing does not stop the others."""
        if self.options.dry_run:
            return await self._run_locked(scopes)
        with scope_locks(self.engine, [s.key for s in scopes]) as self._lock:
            return await self._run_locked(scopes)

    async def _run_locked(self, scopes: Sequence[Scope]) -> SyncResult:
        started = utcnow()
        keys = [s.key for s in scopes]
        with self.engine.begin() as conn:
            if self.options.dry_run:
                conn.rollback()
                return await self._run_scopes(scopes, SyncResult(run_id=None, started_at=started), 0)
            load.abandon_stale_runs(conn, keys, now=started)
            run_id = load.start_run(
                conn, started_at=started, full_refresh=self.options.full_refresh, scopes=keys
            )
            # Small sets, read once: they let the common page skip the statements that fix them up.
            self._open_quarantine = load.open_quarantine(conn)
            self._deleted = load.deleted_job_ids(conn)
        return await self._run_scopes(scopes, SyncResult(run_id=run_id, started_at=started), run_id)

    async def _run_scopes(self, scopes: Sequence[Scope], result: SyncResult, run_id: int) -> SyncResult:
        try:
            for scope in scopes:
                outcome = ScopeOutcome(scope.key, "v1")
                result.scopes.append(outcome)
                try:
                    await self._walk(scope, outcome, run_id)
                except AuthError:
                    raise
                except (FatalApiError, DatabaseError) as exc:
                    # One failing scope does not stop the others; its checkpoint is intact.
                    outcome.error = str(exc)
                    log.error("scope %s failed: %s", scope.key, exc)
                finally:
                    result.totals.add(outcome.counters)
        except BaseException as exc:
            self._finish(result, outcome="failed" if isinstance(exc, Exception) else "interrupted", error=exc)
            raise
        self._finish(result, outcome=result.outcome, error=None)
        return result

    def _finish(self, result: SyncResult, *, outcome: str, error: BaseException | None) -> None:
        result.finished_at = utcnow()
        result.requests = dict(self.api.stats.requests)
        result.retries = self.api.stats.retries
        errors = [f"{s.scope}: {s.error}" for s in result.scopes if s.error]
        if error is not None:
            errors.append(str(error) or type(error).__name__)
        if result.run_id is None:  # dry run
            return
        try:
            with self.engine.begin() as conn:
                load.update_run(
                    conn,
                    result.run_id,
                    finished_at=result.finished_at,
                    outcome=outcome,
                    message="; ".join(errors)[:4000] or None,
                    **_run_counters(result.totals),
                )
        except Exception:  # the database may be what failed; the caller reports the original error
            log.warning("could not record the end of run %s", result.run_id)

    async def _walk(self, scope: Scope, outcome: ScopeOutcome, run_id: int) -> None:
        source = self._source_for(scope)
        outcome.source = source
        try:
            await self._walk_source(scope, source, outcome, run_id)
        except ListRouteGone as exc:
            if self.options.source != "auto" or source != "v1":
                raise FatalApiError(f"scope {scope.key}: {exc} (try --list-source v2)") from None
            log.warning(
                "scope %s: the v1 list is retired (%s); switching this scope to the v2 list for good",
                scope.key,
                exc,
            )
            if not self.options.dry_run:
                with self.engine.begin() as conn:
                    load.choose_source(conn, scope.key, "v2", f"v1 list answered HTTP {exc.status}", utcnow())
            outcome.source, outcome.switched = "v2", True
            try:
                await self._walk_source(scope, "v2", outcome, run_id)
            except ListRouteGone as exc2:
                raise FatalApiError(
                    f"neither list endpoint exists at {self.api.base_url} ({exc2}): check --base-url"
                ) from None

    def _source_for(self, scope: Scope) -> Source:
        if self.options.source != "auto":
            return self.options.source
        with self.engine.connect() as conn:
            return "v2" if load.chosen_source(conn, scope.key) == "v2" else "v1"

    async def _walk_source(self, scope: Scope, source: Source, outcome: ScopeOutcome, run_id: int) -> None:
        """Walk one scope's list from its checkpoint (kept per scope and source) to the end.

        A pipeline: the list runs ahead (tokens chain, so one page at a time), each listed page is
        decided and hydrated as soon as it arrives (all pages share one bound on requests in flight),
        and pages commit strictly in order, each with the token of the page after it. So requests stay
        in flight across page boundaries while the checkpoint stays exact.
        """
        with self.engine.connect() as conn:
            cp = load.read_checkpoint(conn, scope.key, source)
        if cp is None:
            cp = load.Checkpoint(scope.key, source, None, 0, None, None)
        if self.options.full_refresh or cp.next_page_token is None:
            cp.next_page_token, cp.pages_done, cp.walk_started_at = None, 0, utcnow()
        else:
            outcome.resumed_from_page = cp.pages_done
            log.info("scope %s: resuming the %s walk after page %d", scope.key, source, cp.pages_done)
        queue: asyncio.Queue[_Listed] = asyncio.Queue(maxsize=self.options.lookahead_pages)
        producer = asyncio.create_task(self._list_ahead(scope, source, cp.next_page_token, queue))
        try:
            while True:
                item = await queue.get()
                if item.error is not None:
                    raise item.error
                if item.plan is None:  # the walk restarted from page 1
                    cp.next_page_token, cp.pages_done, cp.walk_started_at = None, 0, item.restarted_at
                    continue
                plan = await item.plan
                # The commit runs in a worker thread so that responses keep flowing meanwhile.
                await asyncio.to_thread(self._commit_page, scope, plan, run_id, cp, item.next_token)
                if self._stats is not None:
                    self._stats.page_committed(plan.counters.new)
                outcome.counters.add(plan.counters)
                if self.on_page is not None:
                    self.on_page(outcome, plan.counters)
                if cp.next_page_token is None:
                    outcome.complete = True
                    return
        finally:
            producer.cancel()
            pending: list[asyncio.Task[Any]] = [producer]
            while not queue.empty():
                left = queue.get_nowait()
                if left.plan is not None:
                    left.plan.cancel()
                    pending.append(left.plan)
            await asyncio.gather(*pending, return_exceptions=True)
            if self._stats is not None:
                await self._stats.wait()

    async def _list_ahead(
        self, scope: Scope, source: Source, token: str | None, queue: asyncio.Queue[_Listed]
    ) -> None:
        """List pages in order, start each one's planning, and queue them for the committer."""
        restarted = False
        try:
            while True:
                try:
                    page = await self.api.list_page(
                        source, scope.params, page_token=token, page_size=self.options.page_size
                    )
                except PageTokenRejected as exc:
                    if restarted or token is None:
                        raise FatalApiError(
                            f"scope {scope.key}: {exc} even after restarting the walk"
                        ) from None
                    log.warning(
                        "scope %s: page token rejected (%s); restarting the walk from page 1", scope.key, exc
                    )
                    restarted, token = True, None
                    # Stamped here, before any page of the new walk is planned (and marked seen).
                    await queue.put(_Listed(restarted_at=utcnow()))
                    continue
                plan = asyncio.create_task(self._plan_page(scope, source, page.items))
                next_token = page.next_page_token if page.items else None
                await queue.put(_Listed(plan=plan, next_token=next_token))
                if next_token is None:
                    return
                token = next_token
        except Exception as exc:  # handed to the committer, which raises it in order
            await queue.put(_Listed(error=exc))

    async def _plan_page(self, scope: Scope, source: Source, items: list[Any]) -> _PagePlan:
        if source == "v1":
            return await self._plan_v1_page(scope, items)
        return self._plan_v2_page(items)

    def _parse_items(
        self, items: list[Any], endpoint: str, parse: Callable[[Any], Any], plan: _PagePlan
    ) -> dict[str, tuple[Any, Any]]:
        listed: dict[str, tuple[Any, Any]] = {}
        for raw in items:
            try:
                job = parse(raw)
            except InvalidItem as exc:
                plan.bad.append(_quarantine_record(endpoint, raw, exc))
                if exc.job_id:
                    plan.seen.append(exc.job_id)  # present though malformed: not deleted
                continue
            listed[job.id] = (job, raw)  # a duplicate id within a page: the last one wins
        plan.seen.extend(listed)
        plan.resolved[endpoint] = list(listed)
        return listed

    async def _plan_v1_page(self, scope: Scope, items: list[Any]) -> _PagePlan:
        """v1: decide per row against the database, hydrate what changed through v2 get."""
        plan = _PagePlan(Counters(pages=1, listed=len(items)), utcnow())
        listed = self._parse_items(items, "v1_list", parse_v1, plan)
        with self.engine.connect() as conn:
            plan.stored = load.stored_state(conn, list(listed))
        to_hydrate = self._decide(listed, plan.stored, plan.counters)
        if self.options.dry_run:
            return plan  # new + changed is what a real run would hydrate
        hydrated = await self._hydrate(to_hydrate, scope)
        v2_ok: list[str] = []
        for job_id in to_hydrate:
            job, raw = listed[job_id]
            h = hydrated[job_id]
            v2 = None
            if h.status == "ok":
                try:
                    v2 = parse_v2(h.raw)
                    v2_ok.append(job_id)
                except InvalidItem as exc:
                    plan.bad.append(_quarantine_record("v2_get", h.raw, exc, job_id=job_id))
                    h = _Hydration("failed", raw=h.raw, error=f"quarantined: {exc.reason}")
            if h.status == "failed":
                plan.counters.failed += 1
                if job_id in plan.stored:
                    plan.failed[job_id] = h.error or "hydration failed"
                    continue
            elif h.status == "ok":
                plan.counters.hydrated += 1
            else:
                plan.counters.not_found += 1
            plan.rows.append(
                build_rows(
                    v1=job,
                    v1_raw=raw,
                    v2=v2,
                    v2_raw=h.raw if v2 is not None else None,
                    hydration_status=h.status,
                    hydration_error=h.error,
                    now=plan.now,
                )
            )
        plan.resolved["v2_get"] = v2_ok
        return plan

    def _plan_v2_page(self, items: list[Any]) -> _PagePlan:
        """v2 list: items carry the v2 shape already, so no per-job request. A job known from v1
        keeps its v1 columns (and its partial status), rebuilt from the stored v1 payload."""
        plan = _PagePlan(Counters(pages=1, listed=len(items)), utcnow(), v2_walk=True)
        listed = self._parse_items(items, "v2_list", parse_v2, plan)
        changed: list[str] = []
        with self.engine.connect() as conn:
            plan.stored = load.stored_state(conn, list(listed))
            for job_id, (job, _raw) in listed.items():
                have = plan.stored.get(job_id)
                if have is None:
                    plan.counters.new += 1
                elif (
                    self.options.full_refresh
                    or have.v2_updated_at != job.updated_at
                    or have.hydration_status != "ok"
                ):
                    plan.counters.changed += 1
                else:
                    plan.counters.unchanged += 1
                    continue
                changed.append(job_id)
            if self.options.dry_run:
                return plan
            v1_raws = load.stored_v1_raw(conn, changed)
        for job_id in changed:
            job, raw = listed[job_id]
            v1 = _parse_or_none(v1_raws.get(job_id))
            plan.counters.hydrated += 1
            plan.rows.append(
                build_rows(
                    v1=v1,
                    v1_raw=v1_raws.get(job_id) if v1 is not None else None,
                    v2=job,
                    v2_raw=raw,
                    hydration_status="ok",
                    hydration_error=None,
                    now=plan.now,
                )
            )
        return plan

    def _commit_page(
        self, scope: Scope, plan: _PagePlan, run_id: int, cp: load.Checkpoint, next_token: str | None
    ) -> None:
        """The page's rows, history, quarantine, sightings and checkpoint: one transaction."""
        now = plan.now
        plan.counters.quarantined = len(plan.bad)
        for record in plan.bad:
            record["scope"] = scope.key
            log.warning("quarantined a %s record: %s", record["endpoint"], record["reason"])
        cp.pages_done += 1
        cp.next_page_token = next_token
        walk_complete = next_token is None
        if walk_complete:
            cp.last_complete_walk_at = now
        if self.options.dry_run:
            return
        self._lock.check()
        t0 = time.perf_counter()
        with self.engine.begin() as conn:
            # Read in the transaction, not from the plan: a page planned while an earlier one was
            # still committing may have seen a job before that page wrote it.
            current = load.stored_state(conn, [r.job_id for r in plan.rows]) if plan.rows else {}
            load.upsert_jobs(conn, plan.rows)
            load.record_history(conn, plan.rows, current, run_id, now)
            load.mark_hydration_failed(conn, plan.failed)
            load.quarantine(conn, plan.bad, run_id, now)
            for endpoint, job_ids in plan.resolved.items():
                self._resolve(conn, endpoint, job_ids, run_id, now)
            load.mark_seen(conn, scope.key, plan.seen, now)
            back = [j for j in plan.seen if j in self._deleted]
            if back:
                load.undelete(conn, back)
                self._deleted.difference_update(back)
            if walk_complete and cp.walk_started_at is not None:
                plan.counters.deleted = load.mark_deleted(
                    conn, scope.key, cp.walk_started_at, now, only_v2_known=plan.v2_walk
                )
                endpoint = "v2_list" if plan.v2_walk else "v1_list"
                load.resolve_unseen_quarantine(conn, scope.key, endpoint, cp.walk_started_at, run_id, now)
            load.write_checkpoint(conn, cp, now)
            load.update_run(conn, run_id, **_run_counters_increment(plan.counters))
        log.debug(
            "scope %s page %d committed in %.1f ms (%d rows)",
            scope.key,
            cp.pages_done,
            (time.perf_counter() - t0) * 1000,
            len(plan.rows),
        )

    def _decide(
        self, listed: dict[str, tuple[Any, Any]], stored: dict[str, load.Stored], counters: Counters
    ) -> list[str]:
        """Which listed v1 jobs need a v2 request: new, changed, or not successfully hydrated yet."""
        to_hydrate: list[str] = []
        for job_id, (job, raw) in listed.items():
            have = stored.get(job_id)
            if have is None:
                counters.new += 1
            elif (
                self.options.full_refresh
                or have.v1_updated_at != job.updated_at
                or have.v1_hash != payload_hash(raw)
                or have.hydration_status in ("failed", "pending")
            ):
                counters.changed += 1
            else:
                counters.unchanged += 1
                continue
            to_hydrate.append(job_id)
        return to_hydrate

    def _resolve(
        self, conn: Connection, endpoint: str, job_ids: list[str], run_id: int, now: datetime
    ) -> None:
        fixed = [j for j in job_ids if (endpoint, j) in self._open_quarantine]
        if fixed:
            load.resolve_quarantine(conn, endpoint, fixed, run_id, now)
            self._open_quarantine.difference_update((endpoint, j) for j in fixed)

    async def _hydrate(self, job_ids: list[str], scope: Scope) -> dict[str, _Hydration]:
        if not job_ids:
            return {}
        semaphore = self._semaphore

        async def one(job_id: str) -> _Hydration:
            async with semaphore:
                try:
                    raw = await self.api.get_job(job_id, scope.params)
                except (FatalApiError, DatabaseError) as exc:
                    return _Hydration("failed", error=str(exc))
            return _Hydration("not_found") if raw is None else _Hydration("ok", raw=raw)

        results = await asyncio.gather(*(one(j) for j in job_ids))
        failures = [r for r in results if r.status == "failed"]
        if len(failures) == len(results) and len(results) >= 3:
            # Every hydration of the page failed: the API is down, not a job broken. Fail the run
            # with the checkpoint intact instead of flagging a whole page as failed.
            raise FatalApiError(f"every v2 request of the page failed; last error: {failures[-1].error}")
        return dict(zip(job_ids, results, strict=True))


_RUN_FIELDS = {
    "pages": "pages",
    "listed": "jobs_listed",
    "new": "jobs_new",
    "changed": "jobs_changed",
    "unchanged": "jobs_unchanged",
    "hydrated": "jobs_hydrated",
    "not_found": "jobs_not_found",
    "failed": "jobs_failed",
    "quarantined": "jobs_quarantined",
    "deleted": "jobs_deleted",
}


def _quarantine_record(
    endpoint: str, raw: Any, exc: InvalidItem, *, job_id: str | None = None
) -> dict[str, Any]:
    job_id = job_id or exc.job_id
    return {
        "endpoint": endpoint,
        "item_key": job_id or f"sha256:{payload_hash(raw)}",
        "job_id": job_id,
        "reason": exc.reason[:4000],
        "raw": raw if isinstance(raw, dict | list) else {"unparsed": repr(raw)[:4000]},
    }


def _run_counters(c: Counters) -> dict[str, int]:
    return {col: getattr(c, name) for name, col in _RUN_FIELDS.items()}


def _run_counters_increment(c: Counters) -> dict[str, Any]:
    from etl.schema import etl_sync_runs

    return {col: etl_sync_runs.c[col] + getattr(c, name) for name, col in _RUN_FIELDS.items()}


def run_sync(
    engine: Engine,
    api_factory: Callable[[], ClassifyApi],
    options: SyncOptions,
    scopes: Sequence[Scope],
    *,
    on_page: PageCallback | None = None,
) -> SyncResult:
    """Synchronous entry point: run the walk on a fresh event loop.

    SIGINT and SIGTERM cancel the run: the pipeline stops, a commit already under way finishes
    (or never started), the checkpoint stays at the last committed page, and InterruptedRun is raised.
    """

    async def main() -> SyncResult:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        handled = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, task.cancel)
                handled.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                pass
        try:
            async with api_factory() as api:
                return await Syncer(engine, api, options, on_page=on_page).run(scopes)
        except asyncio.CancelledError:
            raise InterruptedRun(INTERRUPTED) from None
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        raise InterruptedRun(INTERRUPTED) from None


INTERRUPTED = "interrupted; the last page was rolled back and the checkpoint kept"
