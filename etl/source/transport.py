"""An httpx transport that sends requests over an aiohttp connection pool.

httpx's own async connection pool costs far more client CPU per request than aiohttp's, so the client
speaks httpx (its requests, responses, errors and decoders, and ``MockTransport`` in tests) and this
transport puts the requests on the wire with aiohttp. It is ours rather than
``httpx_aiohttp.AiohttpTransport`` because that one hands aiohttp the URL as text, and aiohttp then
decodes ``%2E`` and resolves dot segments: a job id ``..`` would request ``/api/v2``. Here the URL
goes as httpx encoded it (``yarl.URL(..., encoded=True)``), so a job id is one opaque path segment.

aiohttp's errors are raised as httpx's, so the retry policy sees one family of exceptions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
import yarl


def _as_httpx(exc: Exception) -> Exception:
    """aiohttp's exception as the httpx one that names the same failure; others unchanged."""
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS: before a byte was sent
        return httpx.ConnectError(str(exc))
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts are TimeoutErrors
        return httpx.TimeoutException(str(exc) or "timed out")
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(str(exc))
    if isinstance(exc, aiohttp.ClientError):  # dropped, reset, a body cut short
        return httpx.ReadError(str(exc) or type(exc).__name__)
    return exc


class _Body(httpx.AsyncByteStream):
    """The response body as aiohttp receives it (still encoded: httpx decodes it)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(1 << 16):
                yield chunk
        except Exception as exc:
            raise _as_httpx(exc) from exc

    async def aclose(self) -> None:
        # A body not read to its end (one over the size cap) closes its connection here.
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Requests sent by one aiohttp session, made on the first request (in the event loop that uses
    it); redirects are not followed."""

    def __init__(self, *, max_connections: int, keepalive_expiry: float = 5.0, verify: bool = True) -> None:
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._ssl = httpx.create_ssl_context(verify=verify)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, keepalive_timeout=self._keepalive_expiry, ssl=self._ssl
        )
        # httpx decodes the body (gzip, deflate), so that its size cap counts decoded bytes.
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        try:
            response = await session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),
                headers=request.headers,
                data=await request.aread() or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                    connect=timeout.get("pool"),
                ),
            )
        except Exception as exc:
            raise _as_httpx(exc) from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
