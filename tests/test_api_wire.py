"""The client's own HTTP path (httpx on ``etl.source.transport.AiohttpTransport``) against a real
server on loopback: what it sends, bodies encoded as a real service may encode them, and the size
cap counted on the decoded body."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web

from etl.source.client import MAX_BODY_BYTES, ClassifyApi

KEY = "sk-wire-secret-1"
JOB = {"id": "job-1", "status": "COMPLETED", "project_id": "p"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def serve(handler: Handler, call: Callable[[ClassifyApi], Awaitable[Any]]) -> Any:
    """``call(api)`` with a client on the default transport, against ``handler`` on loopback."""

    async def main() -> Any:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with ClassifyApi(
                base_url=f"http://127.0.0.1:{port}", api_key=KEY, max_retries=1, backoff_initial=0.001
            ) as api:
                return await call(api)
        finally:
            await runner.cleanup()

    return asyncio.run(main())


def test_a_get_sends_the_key_the_headers_and_the_path_as_encoded() -> None:
    seen: list[web.Request] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response({**JOB, "id": "a/..;b"})

    got = serve(handler, lambda api: api.get_job("a/..;b", {"project_id": "p 1"}))
    assert got.status == "ok" and got.body["id"] == "a/..;b"
    (request,) = seen
    assert request.raw_path == "/api/v2/classify/a%2F%2E%2E%3Bb?project_id=p+1&expand=usage"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Accept-Encoding"] == "gzip, deflate"
    assert request.headers["User-Agent"] == "classify-etl"


@pytest.mark.parametrize(
    ("job_id", "sent"),
    [("..", "%2E%2E"), (".", "%2E"), ("a;b", "a%3Bb"), ("%2E", "%252E"), ("a/b", "a%2Fb")],
)
def test_a_job_id_reaches_the_server_as_one_encoded_segment(job_id: str, sent: str) -> None:
    """aiohttp would decode ``%2E`` and resolve dot segments of a URL given as text (``..`` would
    ask for ``/api/v2``): the transport sends the path exactly as encoded."""
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response({**JOB, "id": job_id})

    got = serve(handler, lambda api: api.get_job(job_id, {}, usage=False))
    assert got.status == "ok"
    assert seen == [f"/api/v2/classify/{sent}"]


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
@pytest.mark.parametrize("sized", [True, False])
def test_an_encoded_body_is_decoded(encoding: str, encode: Callable[[bytes], bytes], sized: bool) -> None:
    """gzip and deflate (the two the client asks for), with a length and chunked without one."""
    body = encode(json.dumps({**JOB, "reasoning": "x" * 100_000}).encode())

    async def handler(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}
        if sized:
            return web.Response(body=body, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(0, len(body), 1000):
            await response.write(body[i : i + 1000])
        await response.write_eof()
        return response

    got = serve(handler, lambda api: api.get_job("job-1", {}))
    assert got.status == "ok"
    assert got.body["reasoning"] == "x" * 100_000


@pytest.mark.parametrize("sized", [True, False])
def test_a_body_over_the_cap_once_decoded_is_not_read(sized: bool) -> None:
    """A few kilobytes of gzip that decode past ``MAX_BODY_BYTES`` are refused like a body sent
    that large: the job's answer is unusable (quarantined by the page), not loaded, not retried."""
    text = b'{"id": "job-1", "pad": "' + b" " * (MAX_BODY_BYTES + 10) + b'"}'
    bomb = gzip.compress(text, compresslevel=9)
    assert len(bomb) < MAX_BODY_BYTES // 100
    calls: list[int] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        calls.append(1)
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        if sized:
            return web.Response(body=bomb, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(bomb)
        await response.write_eof()
        return response

    got = serve(handler, lambda api: api.get_job("job-1", {}))
    assert got.status == "bad"
    assert f"over {MAX_BODY_BYTES // 1_000_000} MB" in (got.reason or "")
    assert calls == [1]


def test_a_declared_length_over_the_cap_is_not_read() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(MAX_BODY_BYTES + 1)})
        await response.prepare(request)
        await response.write(b"{")  # the rest never comes: the client must not wait for it
        return response

    got = serve(handler, lambda api: api.get_job("job-1", {}))
    assert got.status == "bad" and "over" in (got.reason or "")


def test_a_connection_dropped_mid_body_is_retried_as_a_transport_error() -> None:
    """aiohttp's errors reach the retry policy as httpx's: a body cut short is retried, and the
    second answer is used."""
    calls: list[int] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        calls.append(1)
        if len(calls) == 1:
            response = web.StreamResponse(headers={"Content-Length": "1000"})
            await response.prepare(request)
            await response.write(b'{"id": "job-1"')
            assert request.transport is not None
            request.transport.close()
            return response
        return web.json_response(JOB)

    got = serve(handler, lambda api: api.get_job("job-1", {}))
    assert got.status == "ok" and got.body == JOB
    assert len(calls) == 2


def test_a_refused_connection_names_the_cause() -> None:
    async def main() -> None:
        api = ClassifyApi(base_url="http://127.0.0.1:9", api_key=KEY, max_retries=1, backoff_initial=0.001)
        async with api:
            await api.list_page("v1", {}, page_token=None, page_size=10)

    with pytest.raises(Exception, match="refused") as caught:
        asyncio.run(main())
    assert KEY not in str(caught.value)
    assert not isinstance(caught.value, httpx.TransportError)  # named by the client, not raw
