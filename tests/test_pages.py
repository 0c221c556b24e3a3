"""Each job is fetched once per run while a fetch is in flight: two pages wanting it share the GET."""

from __future__ import annotations

import asyncio

import httpx

from etl.api import ClassifyApi
from etl.pages import Fetches


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
                fetches.get("a", [], usage=True),
                fetches.get("a", [], usage=True),
                fetches.get("b", [], usage=True),
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
            first = asyncio.ensure_future(fetches.get("a", [], usage=True))
            second = asyncio.ensure_future(fetches.get("a", [], usage=True))
            await asyncio.sleep(0.01)
            first.cancel()
            got = await second
        finally:
            await api.aclose()
        return str(got.body["id"])

    assert asyncio.run(main()) == "a"
