"""HTTP ceilings: walk the v1 list and GET every job with ``--concurrency`` requests in flight, JSON
decoded, and nothing else (no database, no validation, no rows). Prints a JSON summary on stdout.

``--client etl``: classify-etl's own client (``etl.api.ClassifyApi``: httpx requests on an aiohttp-backed
transport, tenacity retries), on the loader's event loop (uvloop's) with its collector
setting. What it reaches
is the most the loader can reach with that client here; the gap to the loader is the loader's own cost.
``--client aiohttp``: a bare ``aiohttp.ClientSession`` on asyncio's own loop, as anyone would write it:
the yardstick of issue 14.

``--list-only``: the list walk alone, no GETs: the floor of a re-sync with no change, for any client
(each page waits for the previous one's token). Start a simulator first, e.g.
``.venv/bin/python bench/sim.py --jobs 20000 --latency-ms 25 --api-key bench-key`` (it prints its port),
then ``/usr/bin/time .venv/bin/python bench/http_probe.py --client aiohttp --list-only --base-url
http://127.0.0.1:PORT --api-key bench-key``: the summary's ``elapsed_s`` is the walk, the time's wall
the whole process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

ListPage = Callable[[str | None], Awaitable[tuple[list[Any], str | None]]]
GetJob = Callable[[str], Awaitable[None]]


async def walk(
    list_page: ListPage, get_job: GetJob | None, concurrency: int, page_size: int
) -> dict[str, Any]:
    """List ahead (at most four pages of gets queued, as the loader's lookahead), get every job
    (``get_job`` None: the list alone)."""
    in_flight = asyncio.Semaphore(concurrency)
    queued = asyncio.Semaphore(4 * page_size)  # a counter: waiting on a set of tasks would cost O(n)

    async def get(job_id: str) -> None:
        try:
            async with in_flight:
                assert get_job is not None
                await get_job(job_id)
        finally:
            queued.release()

    t0 = time.perf_counter()
    tasks: set[asyncio.Task[None]] = set()
    token: str | None = None
    jobs = pages = 0
    while True:
        items, token = await list_page(token)
        pages += 1
        jobs += len(items)
        for item in items if get_job is not None else ():
            await queued.acquire()
            task = asyncio.create_task(get(item["id"]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if not token:
            break
    await asyncio.gather(*tasks)
    return {"jobs": jobs, "pages": pages, "elapsed_s": round(time.perf_counter() - t0, 3)}


async def with_etl_client(args: argparse.Namespace) -> dict[str, Any]:
    from etl.source.client import ClassifyApi

    async with ClassifyApi(
        base_url=args.base_url, api_key=args.api_key, max_connections=args.concurrency + 2
    ) as api:

        async def list_page(token: str | None) -> tuple[list[Any], str | None]:
            page = await api.list_page("v1", {}, page_token=token, page_size=args.page_size)
            return page.items, page.next_page_token

        async def get_job(job_id: str) -> None:
            await api.get_job(job_id, {})

        return await walk(list_page, None if args.list_only else get_job, args.concurrency, args.page_size)


async def with_aiohttp(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=args.concurrency + 2)
    headers = {"Authorization": f"Bearer {args.api_key}", "Accept": "application/json"}
    async with aiohttp.ClientSession(args.base_url, connector=connector, headers=headers) as session:

        async def list_page(token: str | None) -> tuple[list[Any], str | None]:
            params = {"page_size": str(args.page_size)} | ({"page_token": token} if token else {})
            async with session.get("/api/v1/classifier/jobs", params=params) as resp:
                resp.raise_for_status()
                body = json.loads(await resp.read())
            return body["items"], body.get("next_page_token") or None

        async def get_job(job_id: str) -> None:
            async with session.get(f"/api/v2/classify/{job_id}") as resp:
                body = await resp.read()
                if resp.status == 200:
                    json.loads(body)
                elif resp.status != 404:
                    resp.raise_for_status()

        return await walk(list_page, None if args.list_only else get_job, args.concurrency, args.page_size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--client", choices=["etl", "aiohttp"], default="etl")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--list-only", action="store_true", help="walk the list, GET nothing")
    args = parser.parse_args()
    if args.client == "etl":  # on the loader's event loop and collector setting (etl.sync.run_sync's)
        from etl.run.sync import fewer_collections, new_event_loop

        with fewer_collections(), asyncio.Runner(loop_factory=new_event_loop) as runner:
            summary = runner.run(with_etl_client(args))
    else:
        summary = asyncio.run(with_aiohttp(args))
    print(json.dumps({"client": args.client, **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
