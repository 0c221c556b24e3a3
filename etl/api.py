"""The HTTP client of the two classify endpoints: auth, timeouts, retries, pagination.

It knows no database. Retries use tenacity with the official client's policy as the floor:
connection errors, timeouts, 408, 409, 429 and 5xx are retried with exponential backoff and
jitter (0.5 s → 8 s), ``retry-after-ms`` / ``Retry-After`` are honoured when 0 < wait ≤ 60 s,
and ``x-should-retry: true|false`` overrides the status code. A body that is not JSON is
retried too. The transport is injectable: tests hand in ``httpx.MockTransport``; the default
is the aiohttp transport, the fastest httpx transport on this hardware (see PERF-NOTES).
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from etl.errors import (
    ApiError,
    AuthError,
    FatalApiError,
    ListRouteGone,
    PageTokenRejected,
)
from etl.models import Page

log = logging.getLogger("etl.api")

Source = Literal["v1", "v2"]
LIST_PATHS: dict[str, str] = {"v1": "/api/v1/classifier/jobs", "v2": "/api/v2/classify"}
RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
MAX_RETRY_AFTER_S = 60.0


class _Retryable(Exception):
    """A response (or body) worth another try; carries the server's wait hint."""

    def __init__(self, message: str, *, status: int | None = None, wait_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.wait_s = wait_s


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's wait hint: ``retry-after-ms``, then ``retry-after`` (seconds or HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            wait = float(raw_ms) / 1000
        except ValueError:
            wait = -1
        if 0 < wait <= MAX_RETRY_AFTER_S:
            return wait
    raw = headers.get("retry-after")
    if raw:
        try:
            wait = float(raw)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(raw) if raw.strip() else None
            wait = parsed.timestamp() - time.time() if parsed is not None else -1
        if 0 < wait <= MAX_RETRY_AFTER_S:
            return wait
    return None


def _should_retry(exc: BaseException) -> bool:
    return isinstance(exc, _Retryable | httpx.TransportError)


@dataclass
class RequestStats:
    """Counters a run reports: requests per endpoint and retries."""

    requests: dict[str, int] = field(default_factory=dict)
    retries: int = 0

    def count(self, endpoint: str) -> None:
        self.requests[endpoint] = self.requests.get(endpoint, 0) + 1


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:200]


class ClassifyApi:
    """Async client for ``/api/v1/classifier/jobs``, ``/api/v2/classify`` and ``/api/v2/classify/{id}``."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        transport: httpx.AsyncBaseTransport | None = None,
        request_timeout: float = 60.0,
        connect_timeout: float = 5.0,
        max_retries: int = 5,
        max_connections: int = 32,
        verify: bool = True,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.stats = RequestStats()
        # 0.5 s, 1, 2, 4, 8 (capped), each plus up to 0.5 s of jitter so clients do not retry in step.
        self._backoff = wait_exponential(multiplier=backoff_initial, max=backoff_max) + wait_random(
            0, backoff_initial
        )
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        if transport is None:
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport(verify=verify, limits=limits)
        # No base_url: each request is built with an absolute URL (see _attempt).
        self._client = httpx.AsyncClient(
            transport=transport,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=httpx.Timeout(request_timeout, connect=connect_timeout),
            limits=limits,
            verify=verify,
        )

    async def __aenter__(self) -> ClassifyApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.wait_s is not None:
            return exc.wait_s
        return float(self._backoff(state))

    def _before_sleep(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.info(
            "retrying %s (attempt %d): %s",
            state.args[1] if len(state.args) > 1 else "request",
            state.attempt_number,
            type(exc).__name__ + (f": {exc}" if str(exc) else ""),
        )

    async def _get_json(self, endpoint: str, path: str, params: list[tuple[str, Any]]) -> tuple[int, Any]:
        """GET with retries. Returns (status, parsed body) for final answers; raises for the rest."""
        try:
            # Fast path: most requests succeed at once and need no retry machinery built for them.
            return await self._attempt(endpoint, path, params)
        except (_Retryable, httpx.TransportError) as exc:
            first_failure: BaseException = exc
        retrying = AsyncRetrying(
            retry=retry_if_exception(_should_retry),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number == 1:
                        raise first_failure  # tenacity's attempt 1 is the one already made
                    return await self._attempt(endpoint, path, params)
        except (_Retryable, httpx.TransportError) as exc:
            return self._give_up(endpoint, path, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _give_up(self, endpoint: str, path: str, exc: BaseException) -> tuple[int, Any]:
        if isinstance(exc, _Retryable):
            raise FatalApiError(
                f"{endpoint} {path}: gave up after {self.max_retries} retries: {exc}", status=exc.status
            ) from None
        raise FatalApiError(
            f"{endpoint} {path}: gave up after {self.max_retries} retries: "
            f"{type(exc).__name__} talking to {self.base_url}"
            + (f" ({exc})" if str(exc) else "")
            + "; check --base-url / LLAMA_CLOUD_BASE_URL and the network"
        ) from None

    async def _attempt(self, endpoint: str, path: str, params: list[tuple[str, Any]]) -> tuple[int, Any]:
        self.stats.count(endpoint)
        # An absolute URL and no empty params: httpx then skips merging them with the client's base
        # URL, which costs more client CPU than the rest of building the request (~100 µs a request).
        url = httpx.URL(self.base_url + path)
        response = await self._client.get(url, params=params or None)
        status = response.status_code
        should = response.headers.get("x-should-retry", "").lower()
        if should == "true" or (should != "false" and status in RETRY_STATUSES):
            raise _Retryable(
                f"HTTP {status}: {_detail(response)}",
                status=status,
                wait_s=retry_after_seconds(response.headers),
            )
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            if status < 400:
                raise _Retryable(f"HTTP {status} with a body that is not JSON", status=status) from None
            body = {"detail": response.text[:200]}
        return status, body

    async def list_page(
        self,
        source: Source,
        params: Mapping[str, str],
        *,
        page_token: str | None,
        page_size: int,
    ) -> Page:
        """One page of a list endpoint, the scope filters re-sent with the token."""
        path = LIST_PATHS[source]
        query: list[tuple[str, Any]] = [*params.items(), ("page_size", str(page_size))]
        if page_token:
            query.append(("page_token", page_token))
        status, body = await self._get_json(f"{source}_list", path, query)
        if status == 200:
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise FatalApiError(f"{path}: a 200 answer without an items list")
            token = body.get("next_page_token")
            total = body.get("total_size")
            return Page(
                items=body["items"],
                next_page_token=token if isinstance(token, str) and token else None,
                total_size=total if isinstance(total, int) else None,
            )
        self._raise_for(status, body, path, page_token=page_token, is_list=True)
        raise AssertionError("unreachable")  # pragma: no cover

    async def get_job(self, job_id: str, params: Mapping[str, str]) -> Any | None:
        """The v2 payload of one job, or None when v2 does not know the id (404)."""
        path = f"/api/v2/classify/{quote(job_id, safe='')}"
        status, body = await self._get_json("v2_get", path, list(params.items()))
        if status == 200:
            return body
        if status == 404:
            return None
        self._raise_for(status, body, path, page_token=None, is_list=False)
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_for(self, status: int, body: Any, path: str, *, page_token: str | None, is_list: bool) -> None:
        detail = str(body.get("detail"))[:300] if isinstance(body, dict) else str(body)[:200]
        if status in (401, 403):
            raise AuthError(
                f"the API rejected the key (HTTP {status}) at {self.base_url}: check LLAMA_CLOUD_API_KEY / "
                "--api-key, and that --base-url is the key's region (US https://api.cloud.llamaindex.ai, "
                "EU https://api.cloud.eu.llamaindex.ai)",
                status=status,
            )
        if is_list and page_token and status in (400, 404, 410, 422):
            raise PageTokenRejected(f"{path}: page token rejected (HTTP {status}: {detail})", status=status)
        if is_list and status in (404, 405, 410):
            raise ListRouteGone(f"{path} answers HTTP {status}: {detail}", status=status)
        raise FatalApiError(f"{path}: HTTP {status}: {detail}", status=status)


__all__ = ["ApiError", "ClassifyApi", "RequestStats", "retry_after_seconds"]
