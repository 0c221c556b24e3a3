"""The HTTP client on httpx.MockTransport: retries, wait hints, errors named for the caller."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from etl.errors import AuthError, FatalApiError, ListRouteGone, PageTokenRejected
from etl.source.client import MAX_BODY_BYTES, ClassifyApi, UntrustedPage, quote_id, retry_after_seconds

KEY = "sk-test-secret-123"
Handler = Callable[[httpx.Request], httpx.Response]


def run(handler: Handler, call: Callable[[ClassifyApi], Any], **kw: Any) -> tuple[Any, ClassifyApi]:
    async def main() -> tuple[Any, ClassifyApi]:
        api = ClassifyApi(
            **{"base_url": "http://api.test", **kw},
            api_key=KEY,
            transport=httpx.MockTransport(handler),
            backoff_initial=0.001,
            backoff_max=0.002,
        )
        async with api:
            return await call(api), api

    return asyncio.run(main())


def page(items: list[Any], token: str | None = None) -> httpx.Response:
    return httpx.Response(200, json={"items": items, "next_page_token": token})


def sequence(*responses: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses[min(len(seen), len(responses)) - 1]

    return handler, seen


def list_v1(token: str | None = None) -> Callable[[ClassifyApi], Any]:
    return lambda api: api.list_page("v1", {"project_id": "p1"}, page_token=token, page_size=10)


def test_list_sends_filters_token_and_bearer() -> None:
    handler, seen = sequence(page([{"id": "a"}], "t2"))
    result, _ = run(handler, list_v1("t1"))
    assert result.items == [{"id": "a"}] and result.next_page_token == "t2"
    q = seen[0].url.params
    assert (q["project_id"], q["page_size"], q["page_token"]) == ("p1", "10", "t1")
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_empty_token_ends_the_walk() -> None:
    handler, _ = sequence(page([], ""))
    result, _ = run(handler, list_v1())
    assert result.next_page_token is None


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(status: int) -> None:
    handler, seen = sequence(httpx.Response(status, json={"detail": "x"}), page([]))
    _, api = run(handler, list_v1())
    assert len(seen) == 2 and api.stats.retries == 1


def test_gives_up_after_max_retries() -> None:
    handler, seen = sequence(httpx.Response(503, json={"detail": "down"}))
    with pytest.raises(FatalApiError, match="gave up after 2 retries"):
        run(handler, list_v1(), max_retries=2)
    assert len(seen) == 3


def test_x_should_retry_overrides_status() -> None:
    handler, seen = sequence(httpx.Response(503, headers={"x-should-retry": "false"}, json={"detail": "no"}))
    with pytest.raises(FatalApiError, match="HTTP 503"):
        run(handler, list_v1())
    assert len(seen) == 1
    handler, seen = sequence(httpx.Response(400, headers={"x-should-retry": "true"}, json={}), page([]))
    run(handler, list_v1())
    assert len(seen) == 2


def test_non_json_body_is_retried_then_fatal() -> None:
    handler, seen = sequence(httpx.Response(200, text="<html>oops</html>"))
    with pytest.raises(FatalApiError, match="not JSON"):
        run(handler, list_v1(), max_retries=3)
    assert len(seen) == 4


def test_transport_errors_are_retried() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("connection refused", request=request)
        if calls["n"] == 2:
            raise httpx.ReadTimeout("timed out", request=request)
        return page([])

    run(handler, list_v1())
    assert calls["n"] == 3


def test_retry_after_hints() -> None:
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": "1500"})) == 1.5
    assert retry_after_seconds(httpx.Headers({"retry-after": "2"})) == 2.0
    assert retry_after_seconds(httpx.Headers({"retry-after": "600"})) is None  # beyond 60 s: backoff instead
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": "0", "retry-after": "1"})) == 1.0
    assert retry_after_seconds(httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) is None
    assert retry_after_seconds(httpx.Headers({})) is None


def test_429_waits_as_told(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("tenacity.asyncio._portable_async_sleep", fake_sleep, raising=False)
    monkeypatch.setattr("asyncio.sleep", fake_sleep)
    handler, _ = sequence(httpx.Response(429, headers={"retry-after-ms": "1234"}, json={}), page([]))
    run(handler, list_v1())
    assert slept == [1.234]


def test_401_is_an_auth_error_without_the_key() -> None:
    handler, seen = sequence(httpx.Response(401, json={"detail": "Invalid authentication token"}))
    with pytest.raises(AuthError) as info:
        run(handler, list_v1())
    assert len(seen) == 1
    assert KEY not in str(info.value) and "LLAMA_CLOUD_API_KEY" in str(info.value)


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_rejected_token(status: int) -> None:
    handler, _ = sequence(httpx.Response(status, json={"detail": "bad token"}))
    with pytest.raises(PageTokenRejected):
        run(handler, list_v1("stale"))


@pytest.mark.parametrize("status", [404, 405, 410])
def test_retired_list_route(status: int) -> None:
    handler, _ = sequence(httpx.Response(status, json={"detail": "Not Found"}))
    with pytest.raises(ListRouteGone):
        run(handler, list_v1())


def test_get_job_404_is_not_found_and_200_is_the_body_asked_with_expand_usage() -> None:
    handler, seen = sequence(
        httpx.Response(404, json={"detail": "not found"}), httpx.Response(200, json={"id": "j"})
    )
    result, _ = run(handler, lambda api: api.get_job("j", {"project_id": "p1"}))
    assert result.status == "not_found"
    result, _ = run(handler, lambda api: api.get_job("j", {}))
    assert result.status == "ok" and result.body == {"id": "j"}
    assert seen[0].url.path == "/api/v2/classify/j" and seen[0].url.params["project_id"] == "p1"
    assert seen[0].url.params.get_list("expand") == ["usage"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"id": "other"}, "the answer is for 'other'"),
        ({"id": "J"}, "the answer is for 'J'"),
        (None, "NoneType body"),
        ([1, 2], "list body"),
    ],
)
def test_get_job_answer_for_another_id_or_not_a_job_is_bad(body: object, reason: str) -> None:
    handler, _ = sequence(httpx.Response(200, content=json.dumps(body).encode()))
    result, _ = run(handler, lambda api: api.get_job("j", {}))
    assert result.status == "bad" and reason in (result.reason or "")


def test_get_job_without_expand_support_asks_again_without_it_and_remembers() -> None:
    rejected = httpx.Response(422, json={"detail": [{"loc": ["query", "expand"], "msg": "extra"}]})
    handler, seen = sequence(
        rejected, httpx.Response(200, json={"id": "j"}), httpx.Response(200, json={"id": "k"})
    )

    async def two(api: ClassifyApi) -> tuple[object, object]:
        return await api.get_job("j", {}), await api.get_job("k", {})

    (first, second), _ = run(handler, two)
    assert first.status == "ok" and second.status == "ok"  # type: ignore[attr-defined]
    assert [r.url.params.get_list("expand") for r in seen] == [["usage"], [], []]


@pytest.mark.parametrize("token", [7, {"t": 1}, ["a"], True])
def test_a_page_token_that_is_not_a_string_makes_the_page_untrusted(token: object) -> None:
    handler, _ = sequence(httpx.Response(200, json={"items": [{"id": "a"}], "next_page_token": token}))
    with pytest.raises(UntrustedPage, match="next_page_token"):
        run(handler, list_v1())


@pytest.mark.parametrize("token", [None, ""])
def test_null_or_empty_token_ends_the_walk(token: object) -> None:
    handler, _ = sequence(httpx.Response(200, json={"items": [{"id": "a"}], "next_page_token": token}))
    page, _ = run(handler, list_v1())
    assert page.next_page_token is None


@pytest.mark.parametrize(
    ("job_id", "encoded"),
    [("..", "%2E%2E"), (".", "%2E"), ("a;b", "a%3Bb"), ("a/b", "a%2Fb"), ("é", "%C3%A9"), ("a b", "a%20b")],
)
def test_job_ids_are_one_opaque_path_segment(job_id: str, encoded: str) -> None:
    assert quote_id(job_id) == encoded


def test_a_body_over_the_cap_is_unusable() -> None:
    handler, _ = sequence(httpx.Response(200, content=b"[" + b"0," * (MAX_BODY_BYTES // 2) + b"0]"))
    with pytest.raises(UntrustedPage, match="over"):
        run(handler, list_v1())
    handler, _ = sequence(httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000))
    result, _ = run(handler, lambda api: api.get_job("j", {}))
    # Read with its too-deep parts cut off (a 10,000-deep item must not block a list page): still
    # refused, for what it is.
    assert result.status == "bad" and "not a job" in (result.reason or "")
    deep_job = b'{"id":"j","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    handler, _ = sequence(httpx.Response(200, content=deep_job))
    result, _ = run(handler, lambda api: api.get_job("j", {}))
    assert result.status == "ok" and result.body["x"][0][0]  # cut: etl.normalize refuses it by depth


AWKWARD_IDS = ["cj-1", "..", ".", "a/b", "a b", "ü-日本", "%2E", "?#&=", "a;b", "\x00", "x" * 300, "\ud800"]


@pytest.mark.parametrize(
    "base", ["http://api.test", "https://api.cloud.llamaindex.ai", "http://h:8080/pre/fix"]
)
def test_urls_sent_are_the_parsed_urls(base: str) -> None:
    """For every awkward job id and query, the URL the transport gets is the one httpx's parser
    makes of the text: the base URL's prefix kept, the id one opaque segment, nothing decoded."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"detail": "no"})

    for job_id in AWKWARD_IDS:
        path = "/api/v2/classify/" + quote_id(job_id)
        queries: list[list[tuple[str, str]]] = [[]]
        if job_id.isprintable() and "\ud800" not in job_id:  # a project id is text a shell can pass
            queries.append([("project_id", job_id)])
        for query in queries:
            seen.clear()
            run(handler, lambda api, q=query, j=job_id: api.get_job(j, q, usage=False), base_url=base)
            text = str(httpx.QueryParams(query))
            want = httpx.URL(base + path + ("?" + text if text else ""))
            got = seen[0].url
            assert (got, str(got), got.raw_path, got.host, got.port) == (
                want,
                str(want),
                want.raw_path,
                want.host,
                want.port,
            ), job_id


def test_the_requests_sent_carry_the_clients_headers_and_timeouts() -> None:
    """Requests go to the transport without the client's send: they still carry what the client
    would have put in them (the key, Accept, the user agent, the timeouts), and the exact URL."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "a b", "status": "COMPLETED"})

    got, _api = run(handler, lambda api: api.get_job("a b", {"project_id": "p 1"}), request_timeout=7.0)
    assert got.status == "ok"
    (request,) = seen
    assert str(request.url) == "http://api.test/api/v2/classify/a%20b?project_id=p+1&expand=usage"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "application/json" and request.headers["host"] == "api.test"
    assert request.headers["user-agent"] == "classify-etl"
    assert request.headers["accept-encoding"] == "gzip, deflate"
    assert request.extensions["timeout"]["read"] == 7.0


@pytest.mark.parametrize(
    "text",
    [
        b'{"n": 10000000000000000000000000000000, "m": -9223372036854775809}',
        b'{"u": 18446744073709551615, "f": 1e400, "g": -Infinity}',
        b'{"s": "\\ud800", "nan": NaN, "zero": -0.0, "dup": 1, "dup": 2}',
        b'{"deep": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    ],
)
def test_bodies_read_as_json_reads_them(text: bytes) -> None:
    """Bodies are read by orjson where it reads them as json does, by json otherwise: the values
    (an integer beyond 64 bits stays an exact integer, NaN and a lone surrogate are read)."""
    import math

    from etl.jsontext import NonFinite
    from etl.source.client import _loads

    got, want = _loads(text), None
    try:
        want = json.loads(text)
    except RecursionError:
        assert got["deep"] is not None
        return

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, float) and type(b) is float and not math.isfinite(b):
            # NaN, ±Infinity and 1e400 are read as NonFinite: so that orjson never writes them as null
            return type(a) is NonFinite and (math.isnan(a) if math.isnan(b) else a == b)
        if isinstance(a, dict):
            return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        return type(a) is type(b) and a == b

    assert same(got, want)


@pytest.mark.parametrize(
    ("headers", "retried"),
    [
        ([], True),
        ([("X-Should-Retry", "FALSE")], False),
        ([("x-should-retry", "false"), ("X-SHOULD-RETRY", "true")], True),  # "false, true": no flag
        ([("Content-Length", "1"), ("Content-Length", "2"), ("X-Should-Retry-After", "x")], True),
    ],
)
def test_x_should_retry_is_read_as_httpx_joins_it(headers: list[tuple[str, str]], retried: bool) -> None:
    """A 503 is retried unless ``x-should-retry: false``, in any case; a repeated header is joined
    (``"false, true"``), which is no flag, so the status decides."""
    handler, seen = sequence(
        httpx.Response(503, headers=headers, content=b"{}"), httpx.Response(200, json={"id": "j"})
    )
    if retried:
        got, _ = run(handler, lambda api: api.get_job("j", {}), max_retries=1)
        assert got.status == "ok" and len(seen) == 2
    else:
        with pytest.raises(FatalApiError, match="HTTP 503"):
            run(handler, lambda api: api.get_job("j", {}), max_retries=1)
        assert len(seen) == 1
