"""A run: for each scope, choose the list source and the plan, walk it, and guard the deletions.

Prints nothing; returns a ``results.SyncResult``. The plans:

* **v1 walk** (``--list-source v1``, or ``auto`` while the v1 list answers): the whole list,
  sequentially, hydrating new and changed jobs through the v2 get (``pages``, ``walk``).
* **v2 full walk** (first run of a scope, every ``--full-walk-every``, ``--full-walk``): every job of
  the scope, split into created_at windows walked ``--list-concurrency`` at a time, each with its
  own checkpoint. Falls back to one sequential walk when the service ignores the window filters.
* **v2 incremental** (other runs): jobs created since the newest stored one minus ``--lookback``;
  the unfinished ones (``status=PENDING|RUNNING``); stored unfinished jobs the service no longer
  lists as unfinished, by ``job_ids``; finished jobs still waiting for their credits.
* **v2 partition** (``--created-after`` / ``--created-before``): one window, its own checkpoint,
  no effect on the scope's incremental state or deletions.

Only a complete walk of every job (v1 walk, v2 full walk) marks deletions, and only within the
delete guard: it never tombstones most of a scope unless ``--allow-mass-delete``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine

from etl.errors import AuthError, ConfigError, DatabaseError, FatalApiError, InterruptedRun, ListRouteGone
from etl.run import results
from etl.run.locks import LockGuard, scope_locks
from etl.run.pages import Fetches, PagePlanner
from etl.run.plans import MASS_DELETE_SHARE, ScopePlans
from etl.run.results import ScopeReport, SyncResult, utcnow
from etl.run.walk import PageCallback, Walker
from etl.source.client import ClassifyApi, Source
from etl.source.lists import Scope, build_scopes, scope_source
from etl.warehouse import checkpoints, deletions, page, planreads
from etl.warehouse.stats import StatsSchedule

log = logging.getLogger("etl.sync")

__all__ = [
    "MASS_DELETE_SHARE", "PageCallback", "Scope", "SyncOptions", "SyncResult", "build_scopes", "run_sync",
]  # fmt: skip


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
    allow_mass_delete: bool = False
    #: Pages without a new job a walk may list before it is stopped; 0: 2 × stored ÷ page + 1,000.
    max_walk_pages: int = 0
    lookback: timedelta = timedelta(days=1)
    full_walk_every: timedelta = timedelta(hours=24)
    full_walk: bool = False
    list_concurrency: int = 8
    credits_lag: timedelta = timedelta(days=3)
    credits: bool = True
    created_after: datetime | None = None
    created_before: datetime | None = None

    @property
    def partition(self) -> bool:
        return self.created_after is not None or self.created_before is not None


class Syncer:
    """Runs the plans of a list of scopes against one engine and one API client."""

    def __init__(
        self, engine: Engine, api: ClassifyApi, options: SyncOptions, *, on_page: PageCallback | None = None
    ) -> None:
        self.engine, self.api, self.options, self.on_page = engine, api, options, on_page
        self.fetches = Fetches(api, asyncio.Semaphore(options.concurrency))
        self.lock = LockGuard()
        self.known = page.KnownSets(set(), set())
        self.stats = (
            StatsSchedule(engine) if engine.dialect.name == "postgresql" and not options.dry_run else None
        )
        self.service_now: datetime | None = None

    async def run(self, scopes: Sequence[Scope]) -> SyncResult:
        """Walk every scope under its lock; one scope failing does not stop the others."""
        if self.options.dry_run:
            return await self._run_scopes(scopes, SyncResult(run_id=None, started_at=utcnow()))
        with scope_locks(self.engine, [s.key for s in scopes]) as self.lock:
            started = utcnow()
            with self.engine.begin() as conn:
                run_id = results.start(
                    conn, [s.key for s in scopes], started_at=started, full_refresh=self.options.full_refresh
                )
                self.known = page.KnownSets.read(conn)
            return await self._run_scopes(scopes, SyncResult(run_id=run_id, started_at=started))

    async def _run_scopes(self, scopes: Sequence[Scope], result: SyncResult) -> SyncResult:
        with self.engine.connect() as conn:
            self.service_now = planreads.newest_updated_at(conn)
        try:
            for scope in scopes:
                report = ScopeReport(scope.key, "v1")
                result.scopes.append(report)
                try:
                    await self._scope(scope, report, result.run_id or 0)
                except AuthError:
                    raise
                except (FatalApiError, DatabaseError) as exc:
                    report.error = str(exc)  # its checkpoints are intact; the other scopes go on
                    log.error("scope %s failed: %s", scope.key, exc)
                finally:
                    result.totals.add(report.counters)
        except BaseException as exc:
            self._close(result, "failed" if isinstance(exc, Exception) else "interrupted", exc)
            raise
        finally:
            if self.stats is not None:
                await self.stats.wait()
        self._close(result, result.outcome, None)
        return result

    def _close(self, result: SyncResult, outcome: str, error: BaseException | None) -> None:
        result.requests, result.retries = dict(self.api.stats.requests), self.api.stats.retries
        result.throttled_responses = self.api.throttle.throttled_answers
        result.throttle_wait_s = self.api.throttle.wait_s
        results.finish(self.engine, result, outcome=outcome, error=error)

    # -- choosing the source and the plan ---------------------------------------------------------

    async def _scope(self, scope: Scope, report: ScopeReport, run_id: int) -> None:
        source = self.options.source
        if source == "auto":
            with self.engine.connect() as conn:
                source = scope_source(source, checkpoints.chosen_source(conn, scope.key))
        report.source = source
        if self.options.partition and source != "v2":
            raise ConfigError(
                "--created-after / --created-before need the v2 list (--list-source v2): the v1 list "
                "cannot filter by date"
            )
        if source == "v2":
            return await self._v2(scope, report, run_id)
        try:
            await self._plans(scope, report, run_id).sequential("v1")
        except ListRouteGone as exc:
            if self.options.source != "auto":
                raise FatalApiError(f"scope {scope.key}: {exc} (try --list-source v2)") from None
            log.warning("scope %s: the v1 list answers HTTP %s; trying the v2 list", scope.key, exc.status)
            report.source, report.switched = "v2", True
            try:
                await self._v2(scope, report, run_id, switch_reason=f"v1 list answered HTTP {exc.status}")
            except ListRouteGone as exc2:
                raise FatalApiError(
                    f"neither list endpoint exists at {self.api.base_url} ({exc2}): check --base-url"
                ) from None

    async def _v2(
        self, scope: Scope, report: ScopeReport, run_id: int, switch_reason: str | None = None
    ) -> None:
        with self.engine.connect() as conn:
            cp = checkpoints.read_checkpoint(conn, scope.key, "v2")
            windows = checkpoints.read_windows(conn, scope.key, "full")
        plans = self._plans(scope, report, run_id)
        if switch_reason is not None:  # recorded with the first v2 page that commits, not before
            plans.walker.on_commit = self._record_switch(plans.walker, scope.key, switch_reason)
        last_full = cp.last_complete_walk_at if cp is not None else None
        if self.options.partition:
            return await plans.partition()
        due = last_full is None or utcnow() - last_full >= self.options.full_walk_every
        if self.options.full_walk or self.options.full_refresh or due or windows:
            return await plans.full_walk(windows)
        await plans.incremental()

    def _record_switch(self, walker: Walker, scope: str, reason: str) -> Callable[[Connection], None]:
        def record(conn: Connection) -> None:
            checkpoints.choose_source(conn, scope, "v2", reason, utcnow())
            walker.on_commit = None
            log.warning("scope %s: the v1 list is retired; this scope uses the v2 list from now on", scope)

        return record

    def _plans(self, scope: Scope, report: ScopeReport, run_id: int) -> ScopePlans:
        """The scope's plans over a fresh walker (its own planner and page budget)."""
        o = self.options
        planner = PagePlanner(
            self.engine,
            self.fetches,
            list(scope.params.items()),
            force=o.full_refresh,
            dry_run=o.dry_run,
            credits=o.credits,
            credits_lag=o.credits_lag,
            service_now=self.service_now,
        )
        with self.engine.connect() as conn:
            live = deletions.count_live(conn, scope.key)
        budget = o.max_walk_pages or 2 * (live // o.page_size + 1) + 1_000
        after = self.stats.page_committed if self.stats is not None else None
        walker = Walker(
            self.engine, self.api, planner, report, run_id, self.known, self.lock, o.page_size,
            o.lookahead_pages, o.dry_run, budget, self.on_page,
            after_commit=(lambda plan: after(plan.counters.new)) if after else None,
        )  # fmt: skip
        return ScopePlans(self.engine, self.api, o, scope, report, walker)


#: The cyclic garbage collector's first threshold while a run goes (CPython's default is 700). A run
#: allocates millions of short-lived objects (responses, payloads, models, rows) that reference
#: counting frees: at the default the collector scans the young ones again and again, for a sizeable
#: share of a cold sync's CPU; the cyclic garbage it leaves for longer costs a few MB of peak RSS
#: (bench/README.md, "Client CPU cuts, round two").
GC_THRESHOLD = 20_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's first threshold to ``GC_THRESHOLD`` for the block (not when the
    collector is off, or set higher already), then restore it."""
    before = gc.get_threshold()
    if 0 < before[0] < GC_THRESHOLD:
        gc.set_threshold(GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The run's event loop: uvloop's where it is installed (not on Windows) and the application
    has not set an event loop policy of its own; asyncio's otherwise. uvloop's loop runs the same
    run on ~7% less CPU (the event loop's own work: sockets, callbacks, timers; bench/README.md)."""
    policy = asyncio.get_event_loop_policy()
    if type(policy) is asyncio.DefaultEventLoopPolicy:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return policy.new_event_loop()


def run_sync(
    engine: Engine,
    api_factory: Callable[[], ClassifyApi],
    options: SyncOptions,
    scopes: Sequence[Scope],
    *,
    on_page: PageCallback | None = None,
) -> SyncResult:
    """Synchronous entry point: run the plans on a fresh event loop.

    SIGINT and SIGTERM cancel the run: every task is cancelled and awaited before the client
    closes, a commit already under way finishes (or never started), the checkpoints stay at the
    last committed page, and InterruptedRun is raised.

    The loop's signal handlers are installed before the run's task exists. With the CLI's own
    handlers (which raise KeyboardInterrupt at any bytecode) still in place while ``asyncio.run``
    created its task, a signal landing inside ``loop.call_soon`` during ``Task.__init__`` left a
    scheduled task that was never registered: it was not cancelled at shutdown, and the closing
    loop dropped it with "Task was destroyed but it is pending!" on stderr.
    """

    async def main() -> SyncResult:
        syncer: Syncer | None = None
        try:
            async with api_factory() as api:
                syncer = Syncer(engine, api, options, on_page=on_page)
                try:
                    return await syncer.run(scopes)
                finally:
                    await asyncio.gather(*syncer.fetches.cancel(), return_exceptions=True)
        except asyncio.CancelledError:
            raise InterruptedRun(INTERRUPTED) from None

    # While the loop is built and torn down, a signal is only noted (``held``): the CLI's handlers
    # raise KeyboardInterrupt at any bytecode, and one landing inside the loop's constructor left a
    # half-built loop that complained at exit ("Exception ignored ... _thread_id").
    held: list[int] = []
    previous = _hold_signals(held)
    try:
        loop = new_event_loop()
    except BaseException:
        _restore_signals(previous)
        raise
    running: list[asyncio.Task[SyncResult]] = []  # the signal callback runs on the loop: after it is set
    result: SyncResult | None = None
    try:
        for sig in previous:
            loop.add_signal_handler(sig, _on_signal, running)  # in place of the holding handler
        asyncio.set_event_loop(loop)
        task = loop.create_task(main())
        running.append(task)
        if held:  # a signal while the loop was being built
            _on_signal(running)
        try:
            with fewer_collections():
                result = loop.run_until_complete(task)
        except asyncio.CancelledError:  # cancelled before its first step
            raise InterruptedRun(INTERRUPTED) from None
        finally:
            _shut_down(loop)
    except KeyboardInterrupt:  # off the main thread (no handlers of ours), or in a teardown step
        raise InterruptedRun(INTERRUPTED) from None
    finally:
        for sig in previous:
            loop.remove_signal_handler(sig)  # the defaults, for a moment: hold again before closing
            signal.signal(sig, _hold(held))
        asyncio.set_event_loop(None)
        loop.close()
        _restore_signals(previous)  # the CLI's own handlers, not the defaults
    assert result is not None  # run_until_complete returned it, or raised
    return result


def _hold(held: list[int]) -> Callable[[int, Any], None]:
    def note(signum: int, _frame: Any) -> None:
        held.append(signum)

    return note


def _hold_signals(held: list[int]) -> dict[signal.Signals, Any]:
    """Note SIGTERM and SIGINT in ``held`` instead of acting on them; the handlers replaced, by
    signal (none off the main thread, where handlers cannot be set)."""
    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _hold(held))
    except ValueError:  # not the main thread
        _restore_signals(previous)
        return {}
    except BaseException:  # SIGINT between the two: it interrupts as before, nothing left held
        _restore_signals(previous)
        raise
    return previous


def _restore_signals(previous: dict[signal.Signals, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    """What ``asyncio.run`` does after its task: cancel and await what is left, close the
    asynchronous generators, join the worker threads (a commit under way finishes)."""
    left = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in left:
        t.cancel()
    if left:
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())


INTERRUPTED = "interrupted; the last page was rolled back and the checkpoint kept"
#: Set when SIGINT/SIGTERM stopped a run (``etl.entry`` then exits without CPython's SIGINT re-raise).
signalled = False


def _on_signal(running: list[asyncio.Task[Any]]) -> None:
    global signalled
    signalled = True
    for task in running:
        task.cancel()
