"""The HTTP client of the two classify endpoints: auth, timeouts, retries, pagination.

It knows no database. Retries use tenacity with the official client's policy as the floor:
connection errors, timeouts, 408, 409, 429 and 5xx are retried with exponential backoff and
jitter (0.5 s → 8 s), ``retry-after-ms`` / ``Retry-After`` are honoured when 0 < wait ≤ 60 s,
and ``x-should-retry: true|false`` overrides the status code. A body that is not JSON is
retried too. A throttling answer (429, or 503 with a wait) is not a retry of the request's own:
it slows the whole client (``etl.source.throttle``) and the request is asked again when allowed.
Requests are httpx's, sent on an httpx transport: by default an aiohttp connection pool
(``etl.source.transport``); tests hand in ``httpx.MockTransport`` as ``transport``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

import httpx
import orjson
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from etl import jsontext
from etl.errors import (
    ApiError,
    AuthError,
    FatalApiError,
    ListRouteGone,
    PageTokenRejected,
    Throttled,
)
from etl.source.lists import LIST_PATHS, Source, list_query
from etl.source.models import Page
from etl.source.throttle import Throttle
from etl.source.transport import AiohttpTransport

#: Statuses the client retries (connection errors and timeouts aside).
RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
#: A response body over this many bytes is not read (the client's ``UnusableBody``).
MAX_BODY_BYTES = 32_000_000
#: What every request carries besides the key. Accept-Encoding
#: names only what every path that reads a body decodes (aiohttp, and httpx whatever optional
#: decoders are installed).
BASE_HEADERS = {
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
    "User-Agent": "classify-etl",
}
#: Nesting a body keeps when ``json.loads`` cannot read it for its depth (see ``_loads``): deeper
#: than any payload ``etl.normalize`` accepts (``MAX_DEPTH``, 200) plus a list page's envelope, so
#: that an item with a cut-off part is always refused (quarantined), never loaded as if whole.
JSON_KEEP_DEPTH = 256
#: What stands for each cut-off array or object: a JSON string.
JSON_DEEP_MARK = b'"\\u2400deep"'
#: A JSON string (escapes included) or one bracket: all a depth count needs to look at.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*+"|[\[\]{}]', re.DOTALL)
#: Bytes of a job id sent as they are; every other byte is percent-encoded, "." included, so
#: that an id is always one opaque path segment ("..", "." and "a;b" are ids, not path syntax).
_ID_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~")
_ID_ALL_SAFE = re.compile(r"[A-Za-z0-9_~-]+", re.ASCII)


#: Query parameters: a mapping, or pairs when a key repeats (``job_ids``).
Params = Mapping[str, str] | Sequence[tuple[str, str]]


def _pairs(params: Params) -> list[tuple[str, str]]:
    return list(params.items()) if isinstance(params, Mapping) else list(params)


def quote_id(job_id: str) -> str:
    """The job id as one path segment: every byte of its UTF-8 outside [A-Za-z0-9-_~] as %XX."""
    if _ID_ALL_SAFE.fullmatch(job_id):  # the usual id (a UUID): nothing to escape
        return job_id
    return "".join(chr(b) if b in _ID_SAFE else f"%{b:02X}" for b in job_id.encode("utf-8", "surrogatepass"))


def transport_failure(exc: BaseException) -> str:
    """What happened on the wire, named for the operator: refused, DNS, timeout, TLS, reset."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    names = " ".join(type(e).__name__ for e in chain).lower()
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "the connection was refused"
    if any(isinstance(e, socket.gaierror) for e in chain) or "name resolution" in text:
        return "the host name does not resolve (DNS)"
    if any(isinstance(e, ssl.SSLError) for e in chain) or "ssl" in names or "certificate" in names:
        return "a TLS error (certificate or protocol)"
    if "timeout" in names or "timed out" in text:
        return "the request timed out"
    if "reset" in text or "disconnect" in names or "closed" in text:
        return "the connection was dropped"
    return type(exc).__name__


class UnusableBody(FatalApiError):
    """A body we will not read: over the size cap, or JSON nested too deeply."""


class UntrustedPage(FatalApiError):
    """A list page that cannot prove where the walk goes next: the walk stops, nothing deleted."""


@dataclass
class Fetched:
    """A v2 get's answer: ``ok`` (body), ``not_found`` (404), ``bad`` (quarantine: body, reason),
    or ``failed`` (retries exhausted: reason)."""

    status: Literal["ok", "not_found", "bad", "failed"]
    body: Any = None
    reason: str | None = None


async def _read_capped(response: httpx.Response, cap: int) -> bytes | None:
    """The body, decoded, or None if it is over ``cap`` bytes: refused by its declared length
    before a byte is read, else as soon as the decoded chunks pass ``cap`` (an endless body or a
    small gzip that decodes to gigabytes is not read to its end)."""
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        return None
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _cut_deep(content: bytes, keep: int = JSON_KEEP_DEPTH) -> bytes:
    """The JSON text with every array or object nested deeper than ``keep`` replaced by
    ``JSON_DEEP_MARK``; no recursion, one pass over the strings and brackets."""
    out: list[bytes] = []
    depth, start, last = 0, -1, 0
    for match in _JSON_TOKEN.finditer(content):
        char = content[match.start()]
        if char in b"[{":
            depth += 1
            if depth == keep + 1:
                start = match.start()
        elif char in b"]}":
            if depth == keep + 1 and start >= 0:
                out += [content[last:start], JSON_DEEP_MARK]
                last, start = match.end(), -1
            depth -= 1
    out.append(content[last:])
    return b"".join(out)


#: 19 digits in a row: perhaps an integer beyond 64 bits (all of 18 digits fit), which json reads
#: exactly and orjson as a float. A long digit run in a string only costs the slower parser. Found by
#: mapping every digit to "0" and the rest to "." (a regex took eight times orjson's parse).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2E for b in range(256))
_LONG_NUMBER = b"0" * 19


def _has_long_number(content: bytes) -> bool:
    return _LONG_NUMBER in content.translate(_DIGITS_ONLY)


def _loads(content: bytes) -> Any:
    """orjson (a third of json's CPU) for what it reads, else ``json.loads``, and for a body
    nested too deeply for that (RecursionError), the same body with its too-deep parts cut off
    (``_cut_deep``). One item of a list page nested 10,000 deep
    must not make the whole page unreadable: the walk would stop there on every run (blocked
    for good); cut, the item is refused by ``etl.normalize`` and quarantined under its id, the
    rest of the page loads. A body still unreadable raises RecursionError."""
    if not _has_long_number(content):  # orjson reads an integer beyond 64 bits as a float
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass  # what only json reads (NaN, ±Infinity, a lone surrogate, deep nesting): below
    try:
        return jsontext.loads(content)
    except RecursionError:
        return jsontext.loads(_cut_deep(content))


log = logging.getLogger("etl.api")

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


def _detail(content: bytes) -> str:
    try:
        body = jsontext.loads(content)
    except (ValueError, RecursionError):
        return content[:200].decode("utf-8", "replace")
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:200]


def _parsed(path: str, status: int, content: bytes | None) -> tuple[int, Any]:
    """(status, body) of a final answer's body; a body that is not JSON is worth another try."""
    if content is None:
        raise UnusableBody(f"{path}: HTTP {status} with a body over {MAX_BODY_BYTES // 1_000_000} MB")
    try:
        body = _loads(content)
    except RecursionError:
        raise UnusableBody(f"{path}: HTTP {status} with JSON nested too deeply to read") from None
    except ValueError:
        if status < 400:
            raise _Retryable(f"HTTP {status} with a body that is not JSON", status=status) from None
        body = {"detail": content[:200].decode("utf-8", "replace")}
    return status, body


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
        max_requests_per_minute: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.stats = RequestStats()
        #: Cleared for the run when the service rejects ``expand=usage``.
        self.expand_usage = True
        #: Every request of the run waits for it: throttling answers slow them all down.
        self.throttle = Throttle(
            max_per_minute=max_requests_per_minute, backoff_s=backoff_initial, backoff_max_s=backoff_max
        )
        #: A run that gets nothing but throttling answers for this long (and more of them than
        #: ``max_retries``) ends (``Throttled``).
        self.stall_s = request_timeout
        # 0.5 s, 1, 2, 4, 8 (capped), each plus up to 0.5 s of jitter so clients do not retry in step.
        self._backoff = wait_exponential(multiplier=backoff_initial, max=backoff_max) + wait_random(
            0, backoff_initial
        )
        #: httpx's transport API is the one way requests go: aiohttp's pool here, a mock in tests.
        #: No ``httpx.AsyncClient`` around it: its send adds cookie jars, auth flows and redirects,
        #: none of which this API uses, at a cost per response comparable to the request itself.
        self._transport = transport or AiohttpTransport(max_connections=max_connections, verify=verify)
        self._headers = httpx.Headers({**BASE_HEADERS, "Authorization": f"Bearer {api_key}"})
        self._extensions = {"timeout": httpx.Timeout(request_timeout, connect=connect_timeout).as_dict()}

    async def __aenter__(self) -> ClassifyApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

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
            _give_up(self, endpoint, path, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, endpoint: str, path: str, params: list[tuple[str, Any]]) -> tuple[int, Any]:
        # The path is already encoded (``quote_id``): httpx sends it as it is.
        query = str(httpx.QueryParams(params))
        url = self.base_url + path + ("?" + query if query else "")
        waited_until = 0.0
        while True:  # a throttling answer is asked again once the throttle allows: no retry spent
            sent_at = await self.throttle.acquire(waited_until)
            self.stats.count(endpoint)
            request = httpx.Request("GET", url, headers=self._headers, extensions=self._extensions)
            response = await self._transport.handle_async_request(request)
            try:
                status = response.status_code
                should = response.headers.get("x-should-retry", "").lower()
                if should == "true" or (should != "false" and status in RETRY_STATUSES):
                    wait_s = retry_after_seconds(response.headers)
                    # Read, so that the connection is kept for the next request.
                    detail = _detail(await _read_capped(response, 64_000) or b"")
                    if not (status == 429 or (status == 503 and wait_s is not None)):
                        raise _Retryable(f"HTTP {status}: {detail}", status=status, wait_s=wait_s)
                    answer = f"HTTP {status}: {detail}"
                else:
                    self.throttle.succeeded()
                    return _parsed(path, status, await _read_capped(response, MAX_BODY_BYTES))
            finally:
                await response.aclose()
            pause, waited_until = self._throttled(endpoint, path, answer, wait_s, sent_at)
            await self.throttle.wait(pause)

    def _throttled(
        self, endpoint: str, path: str, answer: str, wait_s: float | None, sent_at: float
    ) -> tuple[float, float]:
        """Slow the whole client down: the pause this request sits out, and when it ends. Ends the
        run once nothing but throttling came back for ``stall_s``: the budget leaves no room, and
        waiting longer would not finish the run."""
        pause = self.throttle.throttled(wait_s, sent_at)
        self.stats.retries += 1  # sent again, though not counted against the request's retries
        stalled = self.throttle.stalled_for()
        # Give up as a request would after its retries, but only once the whole run has had nothing
        # but throttling answers (no progress) for the request timeout.
        if stalled > self.stall_s and self.throttle.refused_in_a_row > self.max_retries:
            error = Throttled(
                f"{endpoint} {path}: {answer}; nothing but throttling answers for {stalled:.0f} s: the "
                "API's request budget leaves this run no room (the checkpoint is kept; run again later, "
                "or set --max-requests-per-minute to the plan's budget)",
                status=429,
            )
            self.throttle.stop(error)  # the run's other requests end now, not each after its own wait
            raise error
        log.debug("throttled: %s %s: %s", endpoint, path, answer)
        return pause

    async def list_page(
        self,
        source: Source,
        params: Params,
        *,
        page_token: str | None,
        page_size: int,
    ) -> Page:
        """One page of a list endpoint, the scope filters re-sent with the token.

        The walk's end must be proven: ``next_page_token`` null, ``""`` or absent, or no items.
        A token of another type (a number, an object) makes the page untrusted."""
        path, query = list_query(source, _pairs(params), page_token=page_token, page_size=page_size)
        try:
            status, body = await self._get_json(f"{source}_list", path, query)
        except UnusableBody as exc:
            raise UntrustedPage(f"{exc}; the walk stops here, nothing is marked deleted") from None
        if status == 200:
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise UntrustedPage(f"{path}: a 200 answer without an items list")
            token = body.get("next_page_token")
            if token is not None and not isinstance(token, str):
                raise UntrustedPage(
                    f"{path}: next_page_token is a {type(token).__name__} ({str(token)[:80]!r}), not a "
                    "string; the walk stops here, nothing is marked deleted"
                )
            total = body.get("total_size")
            return Page(
                items=body["items"],
                next_page_token=token or None,
                total_size=total if isinstance(total, int) and not isinstance(total, bool) else None,
            )
        _raise_for(self.base_url, status, body, path, page_token=page_token, is_list=True)
        raise AssertionError("unreachable")  # pragma: no cover

    async def get_job(self, job_id: str, params: Params, *, usage: bool = True) -> Fetched:
        """The v2 payload of one job (with ``expand=usage`` for its credits, unless told not to).

        A service that rejects ``expand`` (400/422 naming it) is asked again without it, and not
        asked with it again for the rest of the run."""
        path = "/api/v2/classify/" + quote_id(job_id)
        query = _pairs(params)
        expand = usage and self.expand_usage
        if expand:
            query.append(("expand", "usage"))
        try:
            status, body = await self._get_json("v2_get", path, query)
        except UnusableBody as exc:
            return Fetched("bad", reason=str(exc))
        if expand and status in (400, 422) and "expand" in json.dumps(body, default=str):
            if self.expand_usage:
                self.expand_usage = False
                log.warning(
                    "the API rejects expand=usage (HTTP %d): credits will not be fetched this run", status
                )
            return await self.get_job(job_id, params, usage=False)
        if status == 200:
            if not isinstance(body, dict):
                return Fetched("bad", body, reason=f"HTTP 200 with a {type(body).__name__} body, not a job")
            if body.get("id") != job_id:
                return Fetched(
                    "bad", body, reason=f"asked for job {job_id!r}, the answer is for {body.get('id')!r}"
                )
            return Fetched("ok", body)
        if status == 404:
            return Fetched("not_found")
        _raise_for(self.base_url, status, body, path, page_token=None, is_list=False)
        raise AssertionError("unreachable")  # pragma: no cover


def _give_up(api: ClassifyApi, endpoint: str, path: str, exc: BaseException) -> NoReturn:
    """The error for a request that failed on every attempt."""
    if isinstance(exc, _Retryable):
        raise FatalApiError(
            f"{endpoint} {path}: gave up after {api.max_retries} retries: {exc}", status=exc.status
        ) from None
    raise FatalApiError(
        f"{endpoint} {path}: gave up after {api.max_retries} retries: {transport_failure(exc)} "
        f"talking to {api.base_url}; check --base-url / LLAMA_CLOUD_BASE_URL and the network"
    ) from None


def _raise_for(
    base_url: str, status: int, body: Any, path: str, *, page_token: str | None, is_list: bool
) -> None:
    """The error an unexpected answer means for the caller."""
    detail = str(body.get("detail"))[:300] if isinstance(body, dict) else str(body)[:200]
    if status in (401, 403):
        raise AuthError(
            f"the API rejected the key (HTTP {status}) at {base_url}: check LLAMA_CLOUD_API_KEY / "
            "--api-key, and that --base-url is the key's region (US https://api.cloud.llamaindex.ai, "
            "EU https://api.cloud.eu.llamaindex.ai)",
            status=status,
        )
    if is_list and page_token and status in (400, 404, 410, 422):
        raise PageTokenRejected(f"{path}: page token rejected (HTTP {status}: {detail})", status=status)
    if is_list and status in (404, 405, 410):
        raise ListRouteGone(f"{path} answers HTTP {status}: {detail}", status=status)
    raise FatalApiError(f"{path}: HTTP {status}: {detail}", status=status)


__all__ = [
    "LIST_PATHS",
    "MAX_BODY_BYTES",
    "RETRY_STATUSES",
    "ApiError",
    "ClassifyApi",
    "RequestStats",
    "Source",
    "retry_after_seconds",
]
