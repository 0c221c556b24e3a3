"""One listed page → what it writes: validate, decide per row, fetch what must be fetched, build rows.

Both list sources go through ``PagePlanner.plan``:

* v1 list: a new or changed job is hydrated with ``GET /api/v2/classify/{id}?expand=usage``; an
  unchanged finished job still without credits is fetched again within ``--credits-lag``.
* v2 list: the item is the v2 job already. A finished job whose item carries no ``usage`` (the
  list has no ``expand``) is fetched once with ``expand=usage`` for its credits, and again on later
  runs while billing has not recorded them, within ``--credits-lag``. With ``--no-credits``, never.

Each job is fetched at most once per run while a fetch is in flight: a job listed on two pages
planned at the same time shares one request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import Connection, Engine

from etl.change import decide
from etl.change.normalize import JobRows, build_rows, parse_v1, parse_v2
from etl.errors import DatabaseError, FatalApiError, InvalidItem
from etl.run.results import Counters, utcnow
from etl.source.client import ClassifyApi, Fetched, Source
from etl.source.models import UtcDatetime
from etl.warehouse import jobs, page


class WindowIgnored(FatalApiError):
    """The service answered a created_at window with jobs outside it: it ignores the filters."""


@dataclass
class PagePlan:
    counters: Counters
    now: datetime
    write: page.PageWrite
    #: The newest updated_at on the page: the service's clock moves with it.
    newest_update: datetime | None = None


@dataclass
class Fetches:
    """GETs in flight, shared by every page of the run; one bound on how many at once."""

    api: ClassifyApi
    limit: asyncio.Semaphore
    inflight: dict[tuple[str, bool], asyncio.Task[Fetched]] = field(default_factory=dict)

    def _task(self, job_id: str, params: Sequence[tuple[str, str]], usage: bool) -> asyncio.Task[Fetched]:
        key = (job_id, usage)
        task = self.inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._get(job_id, params, usage))
            self.inflight[key] = task
            task.add_done_callback(lambda _t: self.inflight.pop(key, None))
        return task

    def start(
        self, job_ids: Sequence[str], params: Sequence[tuple[str, str]], usage: bool
    ) -> dict[str, asyncio.Task[Fetched]]:
        """A GET per id, or the one already in flight for it (a job another page is fetching is not
        asked again). Wait for them with ``asyncio.wait``, which leaves them running when the
        waiting page is cancelled (another page may wait for one of them)."""
        return {j: self._task(j, params, usage) for j in job_ids}

    async def get_many(
        self, job_ids: Sequence[str], params: Sequence[tuple[str, str]], *, usage: bool
    ) -> dict[str, Fetched]:
        """The answers for a list of ids, all at once (``start``, then one wait for all)."""
        tasks = self.start(job_ids, params, usage)
        if tasks:
            await asyncio.wait(tasks.values())
        return {j: t.result() for j, t in tasks.items()}

    async def _get(self, job_id: str, params: Sequence[tuple[str, str]], usage: bool) -> Fetched:
        async with self.limit:
            try:
                return await self.api.get_job(job_id, params, usage=usage)
            except (FatalApiError, DatabaseError) as exc:
                return Fetched("failed", reason=str(exc))

    def cancel(self) -> list[asyncio.Task[Fetched]]:
        tasks = list(self.inflight.values())
        for task in tasks:
            task.cancel()
        return tasks


_T = TypeVar("_T")

#: Items read, or rows built, between two yields to the event loop: small enough that the answers
#: in flight are read without waiting for a page's validation.
SLICE = 16


@dataclass
class PagePlanner:
    engine: Engine
    fetches: Fetches
    params: Sequence[tuple[str, str]]  # the scope's filters, re-sent with each GET
    force: bool = False
    dry_run: bool = False
    credits: bool = True
    credits_lag: timedelta = timedelta(days=3)
    service_now: datetime | None = None  # the newest updated_at the service has sent us

    async def plan(
        self, source: Source, items: Sequence[Any], scope: str, *, window: tuple[Any, Any] | None = None
    ) -> PagePlan:
        # The page's time, taken before the first await: pages are planned concurrently but their
        # plans start in listing order, so each page's time is no earlier than the page's before it
        # (a complete walk's last page drops the sightings up to its own time: all of the walk's).
        now = utcnow()
        endpoint = f"{source}_list"
        ids = [i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)]
        stored = await asyncio.to_thread(self._read, jobs.stored_state, ids)
        known = None if self.force else self._known(source, stored)
        reader = decide.PageReader(
            endpoint,
            parse_v1 if source == "v1" else parse_v2,
            known,
            source=source,
            # _check_window reads every item's created_at; a known item's alone, not the whole item.
            created_at=created_at_of if window is not None else None,
        )
        for n, raw in enumerate(items, 1):
            reader.add(raw)
            if n % SLICE == 0:
                await asyncio.sleep(0)  # let answers in and requests out between slices
        read = reader.done()
        if window is not None:
            _check_window(read, window)
        counters = Counters(pages=1, listed=len(items), quarantined=len(read.bad))
        plan = PagePlan(counters, now, page.PageWrite(scope, [], {}, list(read.bad), read.seen, {}))
        plan.write.resolved[endpoint] = list(read.valid)
        plan.newest_update = max((i.updated_at for i in read.valid.values() if i.updated_at), default=None)
        self._see(plan.newest_update)
        todo: dict[str, tuple[decide.Listed, decide.Change, bool]] = {}  # id → (item, change, fetch?)
        for job_id, item in read.valid.items():
            verdict = decide.change(item, stored.get(job_id), source=source, force=self.force)
            setattr(counters, verdict, getattr(counters, verdict) + 1)
            fetch = self._wants_fetch(source, item, verdict, stored.get(job_id))
            if verdict != "unchanged" or fetch:
                todo[job_id] = (item, verdict, fetch)
            elif source == "v2" and decide.adopt_fingerprint(item, stored.get(job_id)):
                plan.write.fingerprints[job_id] = item.fingerprint
        if self.dry_run:
            return plan
        v1_raws: dict[str, Any] = {}
        in_db = [j for j in todo if j in stored]  # only a stored job can have a stored v1 payload
        if source == "v2" and in_db:  # a job known from v1 keeps its v1 columns: only those written
            v1_raws = await asyncio.to_thread(self._read, jobs.stored_v1_raw, in_db)
        fetching = self.fetches.start([j for j, (_i, _v, f) in todo.items() if f], self.params, self.credits)
        fetched: list[Fetched] = []
        # Each job's rows are built as its answer arrives, in listing order: the work of a page
        # (validation and row building) is spread between the answers instead of
        # holding the event loop at the page's end while the requests in flight wait.
        for n, (job_id, (item, what, fetch)) in enumerate(todo.items(), 1):
            task = fetching.get(job_id)
            if task is not None and not task.done():
                await asyncio.wait((task,))  # not cancelled with this page: another may share it
            elif n % SLICE == 0:
                await asyncio.sleep(0)
            got = task.result() if task is not None else None
            if got is not None:
                fetched.append(got)
            if got is not None and got.status == "bad":
                _quarantine_get(plan, got.body, got.reason or "", job_id)
                got = Fetched("failed", reason=f"quarantined: {got.reason}")
            if what == "unchanged":
                counters.credits_fetched += 1
                if got is None or got.status != "ok" or _credits(got.body) is None:
                    continue  # billing has still not recorded them: try again next run, within the lag
            elif fetch and source == "v2":
                counters.credits_fetched += 1
            rows = self._rows(source, item, got, stored.get(job_id), v1_raws.get(job_id), plan)
            if rows is not None:
                plan.write.rows.append(rows)
        if source == "v1" and len(fetched) >= 3 and all(f.status == "failed" for f in fetched):
            # Every hydration of the page failed: the API is down, not a job broken. Fail the run
            # with the checkpoint intact instead of flagging a whole page as failed.
            raise FatalApiError(f"every v2 request of the page failed; last error: {fetched[-1].reason}")
        plan.write.resolved["v2_get"] = [
            r.job_id for r in plan.write.rows if r.job["hydration_status"] == "ok"
        ]
        return plan

    async def credits_page(self, job_ids: Sequence[str], scope: str) -> PagePlan:
        """Finished jobs still without credits, fetched by id (no list item): the rows are rebuilt
        from the answer for those whose credits billing has recorded since."""
        counters = Counters(credits_fetched=len(job_ids))
        plan = PagePlan(counters, utcnow(), page.PageWrite(scope, [], {}, [], [], {}))
        fetched = await self._fetch_all(list(job_ids))
        with self.engine.connect() as conn:
            stored = jobs.stored_state(conn, list(job_ids))
            v1_raws = jobs.stored_v1_raw(conn, list(job_ids))
        for job_id, got in fetched.items():
            if got.status == "bad":
                _quarantine_get(plan, got.body, got.reason or "", job_id)
            if got.status != "ok" or _credits(got.body) is None or job_id not in stored:
                continue
            try:
                v2 = parse_v2(got.body)
            except InvalidItem as exc:
                _quarantine_get(plan, got.body, exc.reason, job_id)
                continue
            rows = _v2_rows(v2, got.body, v1_raws.get(job_id), plan.now)
            rows.job["v2_hash"] = stored[job_id].v2_hash
            rows.job["v2_credits_pending"] = False
            plan.write.rows.append(rows)
            counters.changed += 1
        plan.write.resolved["v2_get"] = [r.job_id for r in plan.write.rows]
        return plan

    def _read(self, read: Callable[[Connection, Sequence[str]], _T], ids: Sequence[str]) -> _T:
        """One read of the stored jobs, on a connection of its own (called in a worker thread, off
        the event loop)."""
        with self.engine.connect() as conn:
            return read(conn, ids)

    def _see(self, when: datetime | None) -> None:
        if when is not None and (self.service_now is None or when > self.service_now):
            self.service_now = when

    def _known(
        self, source: Source, stored: dict[str, decide.Stored]
    ) -> Callable[[str, str], decide.Stored | None]:
        """read_page's ``known``: the stored state of a listed job identical to it, needing nothing
        (credits are judged without the listed payload: a list carrying usage takes the slow path)."""

        def due(st: decide.Stored) -> bool:
            return self._credits_due(source, st)

        def known(job_id: str, fingerprint: str) -> decide.Stored | None:
            st = stored.get(job_id)
            return st if decide.known_unchanged(st, fingerprint, source=source, wants_fetch=due) else None

        return known

    def _usage_listed_or_unwanted(self, source: Source, raw: Any) -> bool:
        """No GET for credits: they are not asked for, or the list item carries ``usage`` (what the
        service has billed)."""
        return not self.credits or (source == "v2" and isinstance(raw, dict) and "usage" in raw)

    def _credits_due(self, source: Source, stored: decide.Stored, raw: Any = None) -> bool:
        """An unchanged job is fetched again only for credits billing has not recorded yet."""
        if self._usage_listed_or_unwanted(source, raw):
            return False
        return decide.wants_credits(
            status=stored.status,
            credits_missing=stored.credits_missing,
            finished_at=stored.updated_at,
            now=self.service_now or utcnow(),
            lag=self.credits_lag,
        )

    def _wants_fetch(
        self, source: Source, item: decide.Listed, verdict: str, stored: decide.Stored | None
    ) -> bool:
        if source == "v1" and verdict != "unchanged":
            return True  # hydration
        if verdict == "unchanged":
            assert stored is not None
            return self._credits_due(source, stored, item.raw)
        if self._usage_listed_or_unwanted(source, item.raw):
            return False
        return source == "v2" and decide.canonical_of(item.job, source) in decide.FINISHED

    async def _fetch_all(self, job_ids: list[str]) -> dict[str, Fetched]:
        if not job_ids:
            return {}
        return await self.fetches.get_many(job_ids, self.params, usage=self.credits)

    def _rows(
        self,
        source: Source,
        item: decide.Listed,
        got: Fetched | None,
        stored: decide.Stored | None,
        v1_raw: Any,
        plan: PagePlan,
    ) -> JobRows | None:
        counters = plan.counters
        v2 = v2_raw = None
        if got is not None and got.status == "ok":
            try:
                v2, v2_raw = parse_v2(got.body), got.body
            except InvalidItem as exc:
                _quarantine_get(plan, got.body, exc.reason, item.job_id)
                got = Fetched("failed", reason=f"quarantined: {exc.reason}")
        if source == "v2":
            rows = _v2_rows(v2 or item.job, v2_raw if v2 is not None else item.raw, v1_raw, plan.now)
            counters.hydrated += 1
            rows.job["v2_hash"] = item.fingerprint
            rows.job["v2_credits_pending"] = _pending(
                v2_raw if v2 is not None else item.raw, listed=v2 is None
            )
            return rows
        status = "ok" if v2 is not None else (got.status if got is not None else "failed")
        if status == "failed":
            counters.failed += 1
            if stored is not None:  # keep what we have; the next run tries again
                plan.write.failed[item.job_id] = (got.reason if got else None) or "hydration failed"
                return None
        elif status == "ok":
            counters.hydrated += 1
        else:
            counters.not_found += 1
        rows = build_rows(
            v1=item.job,
            v1_raw=item.raw,
            v2=v2,
            v2_raw=v2_raw,
            hydration_status=status,
            hydration_error=got.reason if got is not None and status == "failed" else None,
            now=plan.now,
        )
        rows.job["v2_hash"] = None
        rows.job["v2_credits_pending"] = _pending(v2_raw, listed=False) if v2 is not None else None
        return rows


def _pending(raw: Any, *, listed: bool) -> bool:
    """Credits still to come: usage reported without credits, or a listed item without usage (its
    get with expand=usage did not succeed). An answer to expand=usage without usage has none."""
    if not isinstance(raw, dict):
        return False
    usage = raw.get("usage")
    if isinstance(usage, dict):
        return usage.get("credits") is None
    return listed and "usage" not in raw


def _quarantine_get(plan: PagePlan, body: Any, reason: str, job_id: str) -> None:
    """A v2 get's answer we will not store (another id, not a job, invalid): quarantined."""
    plan.write.bad.append(decide.quarantine_record("v2_get", body, reason, job_id=job_id))
    plan.counters.quarantined += 1


def _v2_rows(v2: Any, v2_raw: Any, v1_raw: Any, now: datetime) -> JobRows:
    """Rows from a v2 job; a job known from v1 keeps its v1 columns, rebuilt from the stored item."""
    v1 = _parse_or_none(v1_raw)
    return build_rows(
        v1=v1,
        v1_raw=v1_raw if v1 is not None else None,
        v2=v2,
        v2_raw=v2_raw,
        hydration_status="ok",
        hydration_error=None,
        now=now,
    )


def _credits(body: Any) -> Any:
    usage = body.get("usage") if isinstance(body, dict) else None
    return usage.get("credits") if isinstance(usage, dict) else None


def _parse_or_none(v1_raw: Any) -> Any:
    if v1_raw is None:
        return None
    try:
        return parse_v1(v1_raw)
    except InvalidItem:
        return None


#: The models' own created_at field (same type, same validators), to read it alone.
_CREATED_AT: TypeAdapter[datetime | None] = TypeAdapter(UtcDatetime | None)


def created_at_of(raw: Any) -> datetime | None:
    """A listed item's ``created_at`` as ``parse_v1``/``parse_v2`` would read it (absent or null:
    None), without validating the rest; ValueError (pydantic's ValidationError is one) if it
    is not a timestamp. For an item identical to a stored one, which was validated whole."""
    return _CREATED_AT.validate_python(raw.get("created_at"))


def _check_window(read: decide.ReadPage, window: tuple[Any, Any]) -> None:
    low, high = window
    for item in read.valid.values():
        created = item.created_at
        if created is not None and (
            (low is not None and created < low) or (high is not None and created > high)
        ):
            raise WindowIgnored(
                f"the v2 list answered the created_at window {low}..{high} with job {item.job_id} "
                f"created {created.isoformat()}: the service ignores the window filters"
            )
