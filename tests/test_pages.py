"""Each job is fetched once per run while a fetch is in flight: two pages wanting it share the GET.
A window page of jobs identical to the stored ones is checked against its window without a parse."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from etl.change.normalize import parse_v2
from etl.errors import InvalidItem
from etl.run import pages, results
from etl.run.pages import Fetches, PagePlanner
from etl.source.client import ClassifyApi, Fetched
from etl.warehouse import page
from tests.test_normalize import v2_item


async def one(fetches: Fetches, job_id: str) -> Fetched:
    """A page of one job: its answer."""
    return (await fetches.get_many([job_id], [], usage=True))[job_id]


def test_two_pages_wanting_the_same_job_share_one_request() -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        await asyncio.sleep(0.05)  # both asks arrive while the first is in flight
        job_id = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(200, json={"id": job_id})

    async def main() -> list[str]:
        api = ClassifyApi(base_url="http://api.test", api_key="k", transport=httpx.MockTransport(handler))
        fetches = Fetches(api, asyncio.Semaphore(4))
        try:
            got = await asyncio.gather(
                one(fetches, "a"),
                one(fetches, "a"),
                one(fetches, "b"),
            )
        finally:
            await api.aclose()
        assert not fetches.inflight  # nothing kept once answered
        return [g.body["id"] for g in got]

    assert asyncio.run(main()) == ["a", "a", "b"]
    assert sorted(seen) == ["/api/v2/classify/a", "/api/v2/classify/b"]


def test_a_cancelled_page_does_not_cancel_the_fetch_another_page_waits_for() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        return httpx.Response(200, json={"id": "a"})

    async def main() -> str:
        api = ClassifyApi(base_url="http://api.test", api_key="k", transport=httpx.MockTransport(handler))
        fetches = Fetches(api, asyncio.Semaphore(4))
        try:
            first = asyncio.ensure_future(one(fetches, "a"))
            second = asyncio.ensure_future(one(fetches, "a"))
            await asyncio.sleep(0.01)
            first.cancel()
            got = await second
        finally:
            await api.aclose()
        return str(got.body["id"])

    assert asyncio.run(main()) == "a"


def test_a_cancelled_page_of_gets_leaves_shared_gets_running_for_the_other_page() -> None:
    served: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        job_id = request.url.path.rsplit("/", 1)[1]
        served.append(job_id)
        return httpx.Response(200, json={"id": job_id})

    async def main() -> dict[str, str]:
        api = ClassifyApi(base_url="http://api.test", api_key="k", transport=httpx.MockTransport(handler))
        fetches = Fetches(api, asyncio.Semaphore(4))
        try:
            first = asyncio.ensure_future(fetches.get_many(["a", "b"], [], usage=True))
            second = asyncio.ensure_future(fetches.get_many(["b", "c"], [], usage=True))
            await asyncio.sleep(0.01)
            first.cancel()
            got = await second
            with pytest.raises(asyncio.CancelledError):
                await first
            await asyncio.sleep(0.1)
        finally:
            await api.aclose()
        assert not fetches.inflight
        return {k: str(v.body["id"]) for k, v in got.items()}

    assert asyncio.run(main()) == {"b": "b", "c": "c"}
    assert sorted(served) == ["a", "b", "c"]  # each once; the cancelled page's own GET finished too


# -- a window page of jobs identical to the stored ones: no parse, every created_at still checked --

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
ABSENT = "<absent>"


@pytest.mark.parametrize(
    "created",
    [
        "2026-11-01T10:00:00.000Z",
        "2026-11-01T10:00:00Z",
        "2026-11-01T12:00:00+02:00",
        "2026-11-01T10:00:00.123456Z",
        "2026-11-01T10:00:00",  # naive: taken as UTC
        "2026-11-01 10:00:00Z",
        "2026-11-01",
        None,
        "",
        "yesterday",
        1_761_991_200,  # a number: the models refuse to guess seconds or milliseconds
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        ABSENT,
    ],
)
def test_created_at_of_reads_it_as_the_parse_does(created: Any) -> None:
    raw = v2_item() if created is ABSENT else v2_item(created_at=created)
    if created is ABSENT:
        del raw["created_at"]
    try:
        want: Any = parse_v2(raw).created_at
    except InvalidItem:
        with pytest.raises(ValueError):
            pages.created_at_of(raw)
        return
    got = pages.created_at_of(raw)
    assert got == want and (got is None or got.utcoffset() == want.utcoffset() == timedelta(0))


def _items(n: int) -> list[dict[str, Any]]:
    later = "2026-11-02T10:00:00Z"
    return [
        v2_item(id=f"job-{i}", created_at=(T0 + timedelta(hours=i)).isoformat(), updated_at=later)
        for i in range(n)
    ]


def test_a_window_page_of_known_jobs_is_checked_without_a_parse(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected: {request.url}")

    async def main() -> None:
        api = ClassifyApi(base_url="http://api.test", api_key="k", transport=httpx.MockTransport(refuse))
        planner = PagePlanner(engine, Fetches(api, asyncio.Semaphore(4)), [], credits=False)
        items = _items(3)
        try:
            first = await planner.plan("v2", items, "default", window=(None, None))
            assert first.counters.new == 3
            with engine.begin() as conn:
                run_id = results.start(conn, ["default"], started_at=T0, full_refresh=False)
                page.commit_page(conn, first.write, run_id=run_id, now=T0, known=page.KnownSets(set(), set()))
            parsed: list[str] = []

            def counting(raw: Any) -> Any:
                parsed.append(raw["id"])
                return parse_v2(raw)

            monkeypatch.setattr(pages, "parse_v2", counting)
            # The window holds them all (its bounds are inclusive): unchanged, none parsed.
            inside = (T0, T0 + timedelta(hours=2))
            again = await planner.plan("v2", items, "default", window=inside)
            assert (again.counters.unchanged, again.counters.listed, parsed) == (3, 3, [])
            assert not again.write.rows
            # A service that ignores the window: job-0 lies before it. Found without a parse.
            with pytest.raises(pages.WindowIgnored, match="job job-0 created 2026-11-01T10:00:00"):
                await planner.plan("v2", items, "default", window=(T0 + timedelta(seconds=1), None))
            with pytest.raises(pages.WindowIgnored, match="job job-2"):
                await planner.plan("v2", items, "default", window=(None, T0 + timedelta(hours=1)))
            assert parsed == []
            # A changed item is parsed (and checked) as before; the known ones still are not.
            changed = [*items[:2], {**items[2], "status": "FAILED"}]
            moved = await planner.plan("v2", changed, "default", window=inside)
            assert (moved.counters.changed, moved.counters.unchanged, parsed) == (1, 2, ["job-2"])
            with pytest.raises(pages.WindowIgnored, match="job job-2"):
                await planner.plan("v2", changed, "default", window=(None, T0 + timedelta(hours=1)))
        finally:
            await api.aclose()

    asyncio.run(main())


def test_a_pages_rows_are_built_as_its_answers_arrive_and_kept_in_listing_order(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first job's rows are built while the page's other GETs are still in flight (the page's
    work is spread between answers, not held to its end); an answer that comes early waits for
    those listed before it, so the rows stay in listing order."""
    from tests.test_normalize import v1_item

    ids = ["job-0", "job-1", "job-2"]
    answer = {job_id: asyncio.Event() for job_id in ids}
    built: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        job_id = request.url.path.rsplit("/", 1)[1]
        await answer[job_id].wait()
        return httpx.Response(200, json=v2_item(id=job_id))

    real_rows = PagePlanner._rows

    def spy(self: PagePlanner, source: Any, item: Any, *args: Any) -> Any:
        built.append(item.job_id)
        return real_rows(self, source, item, *args)

    monkeypatch.setattr(PagePlanner, "_rows", spy)

    async def settle() -> None:
        for _ in range(50):
            await asyncio.sleep(0.005)

    async def main() -> list[str]:
        api = ClassifyApi(base_url="http://api.test", api_key="k", transport=httpx.MockTransport(handler))
        planner = PagePlanner(engine, Fetches(api, asyncio.Semaphore(4)), [])
        try:
            plan = asyncio.ensure_future(planner.plan("v1", [v1_item(id=i) for i in ids], "default"))
            answer["job-0"].set()
            await settle()
            assert built == ["job-0"] and not plan.done()
            answer["job-2"].set()  # out of order: waits for job-1
            await settle()
            assert built == ["job-0"] and not plan.done()
            answer["job-1"].set()
            done = await plan
        finally:
            await api.aclose()
        assert built == ids
        assert done.counters.hydrated == 3
        return [r.job_id for r in done.write.rows]

    assert asyncio.run(main()) == ids


def test_pages_planned_together_keep_their_listing_order_in_time(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's time is taken when its plan starts: a first page whose stored state comes back
    later than the second's still has the earlier time (a complete walk's last page drops the
    sightings up to its own time, so a later time on an earlier page would leave one behind)."""
    import threading
    import time

    from tests.test_normalize import v1_item

    real_read = PagePlanner._read
    first_read = threading.Event()

    def slow_first(self: PagePlanner, read: Any, ids: Any) -> Any:
        if list(ids) == ["job-a"]:
            time.sleep(0.1)  # the second page's plan goes on meanwhile
            first_read.set()
        return real_read(self, read, ids)

    monkeypatch.setattr(PagePlanner, "_read", slow_first)

    async def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected: {request.url}")

    async def main() -> tuple[Any, Any]:
        api = ClassifyApi(base_url="http://api.test", api_key="k", transport=httpx.MockTransport(refuse))
        planner = PagePlanner(engine, Fetches(api, asyncio.Semaphore(4)), [], dry_run=True)
        try:
            first = asyncio.ensure_future(planner.plan("v1", [v1_item(id="job-a")], "default"))
            second = asyncio.ensure_future(planner.plan("v1", [v1_item(id="job-b")], "default"))
            later = await second
            assert not first_read.is_set()  # the second page was planned while the first still read
            return (await first).now, later.now
        finally:
            await api.aclose()

    first_now, second_now = asyncio.run(main())
    assert first_now <= second_now
