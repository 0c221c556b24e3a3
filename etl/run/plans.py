"""The plans one scope can be walked by, each a set of list queries handed to one ``Walker``.

* ``sequential``: the whole list from the scope's checkpoint to its end (the v1 walk, and the v2
  walk when the service ignores the window filters).
* ``full_walk``: every job of the scope in ``created_at`` windows walked ``--list-concurrency`` at
  a time, each with its own checkpoint (``v2lists`` finds the windows).
* ``partition``: one window of ``--created-after`` / ``--created-before``; no deletions.
* ``incremental``: recent jobs, unfinished jobs, jobs finished since the last run, credits due.

``mark_unlisted`` is the end of a complete walk: the delete guard, then the deletions.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from etl.run import v2lists
from etl.run.pages import WindowIgnored
from etl.run.results import ScopeReport, utcnow
from etl.run.walk import NoCheckpoint, ScopeCheckpoint, Stream, Walker, WindowCheckpoint
from etl.source.client import ClassifyApi, Source
from etl.source.lists import resume_token
from etl.warehouse import checkpoints, deletions, planreads, quarantine, runs
from etl.warehouse.schema import etl_sync_runs

if TYPE_CHECKING:
    from etl.run.sync import Scope, SyncOptions

log = logging.getLogger("etl.sync")

#: A complete walk that would tombstone more than this share of a scope's live jobs is refused.
MASS_DELETE_SHARE = 0.5


@dataclass
class ScopePlans:
    """One scope's plans; each ends with ``report.complete`` set, or raises."""

    engine: Engine
    api: ClassifyApi
    options: SyncOptions
    scope: Scope
    report: ScopeReport
    walker: Walker

    @property
    def _base(self) -> list[tuple[str, str]]:
        return list(self.scope.params.items())

    async def sequential(self, source: Source) -> None:
        """Walk the whole list from the scope's checkpoint (kept per scope and source) to its end."""
        key, report = self.scope.key, self.report
        report.kind = f"{source} walk" if source == "v1" else "v2 sequential walk"
        with self.engine.connect() as conn:
            cp = checkpoints.read_checkpoint(conn, key, source) or checkpoints.Checkpoint(
                key, source, None, 0, None, None
            )
        if resume_token(self.options.full_refresh, cp.next_page_token) is None:
            cp.next_page_token, cp.pages_done, cp.walk_started_at = None, 0, utcnow()
        else:
            report.resumed_from_page = cp.pages_done
            log.info("scope %s: resuming the %s walk after page %d", key, source, cp.pages_done)

        def on_end(conn: Connection, walk_started_at: datetime, now: datetime) -> None:
            mark_unlisted(conn, self, walk_started_at, now, source)

        checkpoint = ScopeCheckpoint(cp, on_end)
        await self.walker.walk(Stream("walk", source, self._base, checkpoint, cp.next_page_token))
        report.complete = True

    async def full_walk(self, windows: list[checkpoints.Window]) -> None:
        """Every job, window by window; resumes the stored windows of a walk that was stopped."""
        key, report = self.scope.key, self.report
        report.kind = "v2 full walk"
        if windows and not self.options.full_refresh:
            report.resumed_from_page = sum(w.pages_done for w in windows)
        else:
            windows = await self.plan_windows()
        limit = asyncio.Semaphore(self.options.list_concurrency)

        async def one(w: checkpoints.Window) -> None:
            async with limit:
                bounds = (w.created_from, w.created_to)
                params = [*self._base, *v2lists.window_params(bounds)]
                await self.walker.walk(
                    Stream("window", "v2", params, WindowCheckpoint(w), w.next_page_token, bounds)
                )

        try:
            await gather_all(one(w) for w in windows if not w.done)
        except WindowIgnored as exc:
            log.warning("scope %s: %s; walking the whole list sequentially instead", key, exc)
            report.warnings.append(str(exc))
            with self.engine.begin() as conn:
                checkpoints.forget_windows(conn, key, "full")
            return await self.sequential("v2")
        if not self.options.dry_run:
            with self.engine.begin() as conn:
                now, started = utcnow(), windows[0].walk_started_at
                mark_unlisted(conn, self, started, now, "v2")
                checkpoints.forget_windows(conn, key, "full")
                cp = checkpoints.read_checkpoint(conn, key, "v2") or checkpoints.Checkpoint(
                    key, "v2", None, 0, None, None
                )
                cp.walk_started_at, cp.last_complete_walk_at = started, now
                checkpoints.write_checkpoint(conn, cp, now)
        report.complete = True

    async def plan_windows(self) -> list[checkpoints.Window]:
        """Equal-count windows from the stored created_at; on a first walk, found by probing."""
        key, started, parts = self.scope.key, utcnow(), max(1, self.options.list_concurrency * 2)
        with self.engine.connect() as conn:
            cuts = planreads.created_at_quantiles(conn, key, parts)
        if not cuts and parts > 1:
            cuts, probes = await v2lists.discover_cuts(
                self.api, self._base, parts=parts, now=started, concurrency=self.options.list_concurrency
            )
            self.report.list_requests["window probes"] = probes
        windows = [
            checkpoints.Window(key, "full", low, high, None, 0, False, started)
            for low, high in v2lists.windows_from_cuts(cuts)
        ]
        if not self.options.dry_run:
            with self.engine.begin() as conn:
                checkpoints.forget_windows(conn, key, "full")
                checkpoints.write_windows(conn, windows, started)
        return windows

    async def partition(self) -> None:
        """The ``--created-after`` / ``--created-before`` window, resumable, with no deletions."""
        key, o = self.scope.key, self.options
        self.report.kind = "v2 partition"
        with self.engine.connect() as conn:
            saved = {w.key: w for w in checkpoints.read_windows(conn, key, "partition")}
        window = checkpoints.Window(
            key, "partition", o.created_after, o.created_before, None, 0, False, utcnow()
        )
        window = saved.get(window.key, window)
        self.report.resumed_from_page = window.pages_done
        bounds = (o.created_after, o.created_before)
        params = [*self._base, *v2lists.window_params(bounds)]
        await self.walker.walk(
            Stream("partition", "v2", params, WindowCheckpoint(window), window.next_page_token, bounds)
        )
        if not o.dry_run:
            with self.engine.begin() as conn:
                checkpoints.forget_windows(conn, key, "partition")
        self.report.complete = True

    async def incremental(self) -> None:
        """What can have changed since the last run, without walking what cannot."""
        key, base, o = self.scope.key, self._base, self.options
        self.report.kind = "v2 incremental"
        with self.engine.connect() as conn:
            newest = planreads.newest_created_at(conn, key)
        since = newest - o.lookback if newest is not None else None
        recent = Stream("recent", "v2", [*base, *v2lists.window_params((since, None))], NoCheckpoint())
        older = v2lists.window_params((None, since)) if since is not None else []
        running = [
            Stream("unfinished", "v2", [*base, ("status", s), *older], NoCheckpoint())
            for s in ("PENDING", "RUNNING")
        ]
        listed_from = utcnow()  # every page these streams commit is seen at or after this
        await gather_all(self.walker.walk(s) for s in (recent, *running))
        with self.engine.connect() as conn:
            # Stored as unfinished, older than the window, and not listed as unfinished any more:
            # finished (or deleted) since the last run. Load them by id, whatever their age.
            left = planreads.unfinished_job_ids(
                conn, key, created_before=since, not_seen_since=None if o.dry_run else listed_from
            )
        if left:
            url_bytes = len(self.api.base_url) + 200 + sum(len(k) + len(v) + 2 for k, v in base)
            await gather_all(
                self.walker.walk(
                    Stream("finished since", "v2", [*base, *(("job_ids", j) for j in b)], NoCheckpoint())
                )
                for b in v2lists.id_batches(left, url_bytes)
            )
        await self.backfill_credits(since, listed_from)
        self.report.complete = True

    async def backfill_credits(self, since: datetime | None, listed_from: datetime) -> None:
        """Finished jobs outside the window still without credits: one GET each, within the lag."""
        o, walker = self.options, self.walker
        if not o.credits or o.dry_run:
            return
        now = walker.planner.service_now or utcnow()
        with self.engine.connect() as conn:
            ids = planreads.credit_candidates(
                conn, self.scope.key, finished_since=now - o.credits_lag, created_before=since,
                not_seen_since=listed_from,  # the jobs listed this run were planned already
            )  # fmt: skip
        if not ids:
            return
        plan = await walker.planner.credits_page(ids, self.scope.key)
        async with walker.commit_lock:
            await asyncio.to_thread(walker.commit_plan, plan)
        walker.report.counters.add(plan.counters)


def mark_unlisted(
    conn: Connection, plans: ScopePlans, walk_started_at: datetime, now: datetime, source: Source
) -> None:
    """A complete walk of every job: mark the jobs it did not list deleted, within the guard."""
    scope, report, run_id = plans.scope.key, plans.report, plans.walker.run_id
    only_v2 = source == "v2"
    gone = deletions.count_unseen(conn, scope, walk_started_at, only_v2_known=only_v2)
    # The live count serves the guard and the empty-walk warning only: on a walk that listed every
    # job (the usual run) neither needs it, nor the tombstoning update (the same predicate, in the
    # same transaction, under the scope's lock: it would change nothing). Each is a join over the
    # scope's jobs, which grows with the table.
    live = deletions.count_live(conn, scope) if gone or report.counters.listed == 0 else None
    if report.counters.listed == 0 and live == 0:
        warning = f"scope {scope}: the walk listed no jobs; check --project-id / --organization-id"
        log.warning(warning)
        report.warnings.append(warning)
    if not gone:
        deletions.drop_sightings(conn, scope, now)
    else:
        assert live is not None
        mass = gone == live or gone > MASS_DELETE_SHARE * live
        if mass and not plans.options.allow_mass_delete:
            report.guard = (
                f"the complete walk did not list {gone} of the scope's {live} live jobs; none marked "
                "deleted (a wrong --project-id, --organization-id or --base-url?). If they really are "
                "gone, run again with --allow-mass-delete"
            )
            log.warning("scope %s: %s", scope, report.guard)
            return
        deleted = deletions.mark_deleted(conn, scope, walk_started_at, now, only_v2_known=only_v2)
        report.counters.deleted += deleted
        runs.update_run(conn, run_id, jobs_deleted=etl_sync_runs.c.jobs_deleted + deleted)
    quarantine.resolve_unseen_quarantine(conn, scope, f"{source}_list", walk_started_at, run_id, now)


async def gather_all(coroutines: Any) -> None:
    """Run coroutines together; the first failure cancels the rest, which are awaited before it is
    raised (so no request is left running on a client about to close)."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
