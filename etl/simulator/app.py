"""The aiohttp application: routes, bearer auth, fault delivery, and the ``/_sim/`` control routes.

Each response is computed under the state's lock, then (outside it) delayed with
``asyncio.sleep`` until the injected latency has passed since the request arrived, and written in
one piece; aiohttp sets TCP_NODELAY, so an injected latency is the latency a client sees.

``GET /api/v2/classify/{job_id}`` is routed on the raw request target, not on aiohttp's decoded
path: the job id is the one path segment after the prefix, percent-decoded (``%2F`` is part of an
id, ``%2E%2E`` is the id ".."), while a bare ``.`` or ``..`` segment is a dot segment, as a
normalizing proxy sees it (404). A request target longer than :data:`MAX_TARGET_BYTES` gets 414.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from datetime import datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import ValidationError

from etl.simulator.data import hash_ints
from etl.simulator.endpoints import ApiError, Query, Reply, dumps, get_v2, list_v1, list_v2, query_record
from etl.simulator.faults import Decision, EndpointKey, Faults, decide
from etl.simulator.state import SimState

STATE: web.AppKey[SimState] = web.AppKey("state", SimState)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

JSON = "application/json"
V2_GET_PREFIX = "/api/v2/classify/"
#: Longer request targets get 414, as behind a typical proxy (8 KB).
MAX_TARGET_BYTES = 8192
#: The HTTP parser's own limit on the request line: above MAX_TARGET_BYTES, so that the simulator
#: (not the parser, which would answer 400) decides.
MAX_LINE_SIZE = 1 << 20
HUGE_CHUNK = b" " * 65536


def _abort(request: web.Request) -> web.Response:
    """Drop the connection with no response; aiohttp then fails the write quietly."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response()


def _fault_reply(d: Decision) -> Reply:
    s = d.settings
    headers: dict[str, str] = {}
    if s.should_retry is not None:
        headers["x-should-retry"] = "true" if s.should_retry else "false"
    if d.status == 429:
        if s.retry_after_s is not None:
            headers["Retry-After"] = (
                email.utils.formatdate(time.time() + s.retry_after_s, usegmt=True)
                if s.retry_after_http_date
                else f"{s.retry_after_s:g}"
            )
        if s.retry_after_ms is not None:
            headers["retry-after-ms"] = str(s.retry_after_ms)
    if d.status == 500:
        detail = f"Internal Server Error (correlation id: {d.correlation_id})"
    elif d.status == 429:
        detail = "Too Many Requests: rate limit exceeded"
    else:
        detail = HTTPStatus(d.status).phrase
    return Reply(d.status, dumps({"detail": detail}), headers)


def _over_budget(state: SimState, now: float) -> float | None:
    """None if the request fits the request budget (or there is none); else the seconds until one would."""
    faults = state.faults
    if not faults.rate_limit:
        return None
    return state.rate_window.refuse(now, faults.rate_limit, faults.rate_limit_window_s)


def _budget_reply(faults: Faults, room_in: float) -> Reply:
    headers = {"Retry-After": str(max(1, math.ceil(room_in)))} if faults.rate_limit_retry_after else {}
    return Reply(429, dumps({"detail": "Too Many Requests: rate limit exceeded"}), headers)


def _html(status: int) -> web.Response:
    title = f"{status} {HTTPStatus(status).phrase}"
    page = f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center><hr>"
    return web.Response(
        status=status, text=page + "<center>nginx</center></body></html>", content_type="text/html"
    )


async def _stream_huge(request: web.Request, size: int | None) -> web.StreamResponse:
    """A chunked 200 that looks like JSON and goes on for ``size`` bytes (None: until the client
    hangs up or the server stops)."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": JSON})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    head, sent = b'{"items":[', 0
    try:
        await resp.write(head)
        sent = len(head)
        while size is None or sent < size:
            chunk = HUGE_CHUNK if size is None else HUGE_CHUNK[: size - sent]
            await resp.write(chunk)
            sent += len(chunk)
        await resp.write(b"]}")
        await resp.write_eof()
    except (ConnectionError, asyncio.CancelledError):
        # The client gave up (the point of the exercise) or the server is stopping.
        if request.transport is not None:
            request.transport.abort()
    return resp


async def _deliver(request: web.Request, d: Decision, reply: Reply, arrived: float) -> web.StreamResponse:
    # The latency counts from the request's arrival, so the time spent computing the reply is part
    # of it (as on a real server), not added on top: 25 ms injected is 25 ms seen.
    wait = d.delay_s - (asyncio.get_running_loop().time() - arrived)
    if wait > 0:
        await asyncio.sleep(wait)
    if d.kind == "hang":
        await asyncio.sleep(d.settings.hang_s)
        if d.settings.hang_then == "drop":
            return _abort(request)
    if d.kind == "reset":
        return _abort(request)
    if d.kind == "html":
        return _html(d.status)
    if d.kind == "truncate" and reply.status == 200:
        cut = reply.body[: max(1, len(reply.body) // 2)]
        if d.settings.truncate_mode == "cut_json":
            return web.Response(status=200, body=cut, content_type=JSON)
        # Promise the whole body, send half, hang up.
        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON})
        resp.content_length = len(reply.body)
        await resp.prepare(request)
        await resp.write(cut)
        return _abort(request)
    return web.Response(status=reply.status, body=reply.body, headers=reply.headers, content_type=JSON)


def _api_route(endpoint: EndpointKey, compute: Callable[[SimState, web.Request, Query], Reply]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        arrived = asyncio.get_running_loop().time()
        state = request.app[STATE]
        query: Query = {k: request.query.getall(k) for k in dict.fromkeys(request.query.keys())}
        huge: int | None | bool = False
        with state.lock:
            if len(request.raw_path.encode()) > MAX_TARGET_BYTES:
                # A proxy in front of the API refuses it: no auth, no fault.
                d, reply = Decision(), Reply(414, dumps({"detail": "URI Too Long"}))
            elif endpoint == "v1_list" and state.v1_retired:
                # The route is unpublished: the router answers before any auth or fault.
                d, reply = Decision(), Reply(404, dumps({"detail": "Not Found"}))
            elif (room_in := _over_budget(state, arrived)) is not None:
                d = Decision("burst429", 429, state.faults.latency_ms / 1000)
                reply = _budget_reply(state.faults, room_in)
            else:
                n = state.fault_counters[endpoint]
                state.fault_counters[endpoint] += 1
                faults = state.faults
                seed = hash_ints(state.seed, faults.seed)
                d = decide(faults.for_endpoint(endpoint), seed=seed, endpoint=endpoint, n=n)
                if d.kind in ("burst429", "error"):
                    reply = _fault_reply(d)
                elif request.headers.get("Authorization") != f"Bearer {state.api_key}":
                    reply = Reply(401, dumps({"detail": "Invalid authentication token"}))
                elif endpoint in state.hostile.huge:
                    huge, reply = state.hostile.huge[endpoint], Reply(200, b"")
                else:
                    try:
                        reply = compute(state, request, query)
                    except ApiError as exc:
                        reply = exc.reply()
            dropped = d.kind == "reset" or (d.kind == "hang" and d.settings.hang_then == "drop")
            status = 0 if dropped else d.status if d.kind == "html" else reply.status
            record = query_record(query)
            state.record(endpoint, record, status, request.path, request.raw_path, d.delay_s * 1000, arrived)
            if reply.is_page and d.kind in ("ok", "hang") and not dropped:
                state.note_list_page()
        if huge is not False:
            assert huge is None or isinstance(huge, int)
            return await _stream_huge(request, huge)
        return await _deliver(request, d, reply, arrived)

    return handler


def _v1_list(state: SimState, request: web.Request, query: Query) -> Reply:
    return list_v1(state, query)


def _v2_list(state: SimState, request: web.Request, query: Query) -> Reply:
    return list_v2(state, query)


def _v2_get(state: SimState, request: web.Request, query: Query) -> Reply:
    segment = request.raw_path.partition("?")[0][len(V2_GET_PREFIX) :]
    try:
        job_id = urllib.parse.unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise ApiError(404, "Classify job not found") from None
    return get_v2(state, job_id, query)


def _raw_v2_get_segment(request: web.Request) -> str | None:
    """The raw job-id segment of a v2 get, or None when the target is not one."""
    path = request.raw_path.partition("?")[0]
    if request.method != "GET" or not path.startswith(V2_GET_PREFIX):
        return None
    segment = path[len(V2_GET_PREFIX) :]
    return None if not segment or "/" in segment or segment in (".", "..") else segment


# -- /_sim/ control routes (no auth: for tests and benchmarks in another process) ---------------


def _int_param(request: web.Request, name: str, default: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None and default is not None:
        return default
    try:
        return int(raw or "")
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"detail": f"{name} must be an integer"}), content_type=JSON
        ) from None


def _control(fn: Callable[[SimState, web.Request], Any]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        try:
            with state.lock:
                result = fn(state, request)
        except (KeyError, ValueError) as exc:
            return web.json_response({"detail": str(exc)}, status=400)
        return web.json_response(result, dumps=lambda o: json.dumps(o, default=_jsonable))

    return handler


def _jsonable(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


async def _set_faults(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        faults = Faults.model_validate_json(await request.read())
    except ValidationError as exc:
        detail = json.loads(exc.json(include_url=False))
        return web.json_response({"detail": detail}, status=422)
    state.faults = faults
    return web.Response(body=faults.model_dump_json(), content_type=JSON)


def _ids(request: web.Request) -> list[str]:
    return request.query.getall("id", [])


def _change(s: SimState, r: web.Request) -> dict[str, Any]:
    ids = _ids(r)
    return {"changed": [s.change_job(i) for i in ids] if ids else s.change_jobs(_int_param(r, "k"))}


def _add(s: SimState, r: web.Request) -> dict[str, Any]:
    return {"added": s.add_jobs(_int_param(r, "m"))}


def _delete(s: SimState, r: web.Request) -> dict[str, Any]:
    ids = _ids(r)
    return {"deleted": [s.delete_job(i) for i in ids] if ids else s.delete_jobs(_int_param(r, "k"))}


def _restore(s: SimState, r: web.Request) -> dict[str, Any]:
    return {"restored": [s.restore_job(i) for i in _ids(r)]}


def _reset_counts(s: SimState, r: web.Request) -> dict[str, Any]:
    s.reset_counts()
    return {"ok": True}


def _retire_v1(s: SimState, r: web.Request) -> dict[str, Any]:
    s.retire_v1(bool(_int_param(r, "on", 1)))
    return {"v1_retired": s.v1_retired}


def _expire_tokens(s: SimState, r: web.Request) -> dict[str, Any]:
    s.expire_tokens(_int_param(r, "status", 410))
    return {"ok": True}


def _finish(s: SimState, r: web.Request) -> dict[str, Any]:
    return {"finished": s.finish_jobs(_int_param(r, "k"))}


def _late_change(s: SimState, r: web.Request) -> dict[str, Any]:
    return {"changed": s.late_change(_int_param(r, "k"))}


def _advance_clock(s: SimState, r: web.Request) -> dict[str, Any]:
    return {"now_ms": s.advance_clock(_int_param(r, "ms"))}


def _clear_hostile(s: SimState, r: web.Request) -> dict[str, Any]:
    s.clear_hostile()
    return {"ok": True}


SWITCHES = (
    "expand_support",
    "usage_on_list",
    "billing_lag_ms",
    "ignore_window_filters",
    "shuffle_pages",
    "extra_field",
)


def _switches(s: SimState, r: web.Request) -> dict[str, Any]:
    """Set the behaviour switches given as query parameters (none: just read them)."""
    for name in SWITCHES:
        raw = r.query.get(name)
        if raw is None:
            continue
        if name == "expand_support":
            if raw not in ("yes", "ignore", "reject"):
                raise ValueError("expand_support is yes, ignore or reject")
            s.expand_support = raw  # type: ignore[assignment]
        elif name == "billing_lag_ms":
            s.billing_lag_ms = _int_param(r, name)
        elif name == "extra_field":
            s.extra_field = raw or None  # empty: none
        else:
            setattr(s, name, raw.lower() in ("1", "true", "yes", "on"))
    return {name: getattr(s, name) for name in SWITCHES}


CONTROL_ROUTES: dict[tuple[str, str], Callable[[SimState, web.Request], Any]] = {
    ("POST", "/_sim/change"): _change,
    ("POST", "/_sim/add"): _add,
    ("POST", "/_sim/delete"): _delete,
    ("POST", "/_sim/restore"): _restore,
    ("GET", "/_sim/stats"): lambda s, r: s.stats(),
    ("POST", "/_sim/reset-counts"): _reset_counts,
    ("GET", "/_sim/faults"): lambda s, r: s.faults.model_dump(mode="json"),
    ("POST", "/_sim/retire-v1"): _retire_v1,
    ("POST", "/_sim/expire-tokens"): _expire_tokens,
    ("POST", "/_sim/finish"): _finish,
    ("POST", "/_sim/late-change"): _late_change,
    ("POST", "/_sim/advance-clock"): _advance_clock,
    ("POST", "/_sim/switches"): _switches,
    ("GET", "/_sim/unfinished"): lambda s, r: {"unfinished": s.unfinished_job_ids()},
    ("POST", "/_sim/clear-hostile"): _clear_hostile,
    # Ground truth and ids for a checker in another process (datetimes as ISO strings).
    ("GET", "/_sim/expected"): lambda s, r: s.expected_rows(r.query.get("source", "v1")),
    ("GET", "/_sim/jobs"): lambda s, r: {"live": s.live_job_ids(), "deleted": s.deleted_job_ids()},
}


def _v2_get_router(v2_get: Handler) -> Middleware:
    @web.middleware
    async def route(request: web.Request, handler: Handler) -> web.StreamResponse:
        # aiohttp routes on the decoded path, where an id holding "/" spans two segments.
        if _raw_v2_get_segment(request) is not None:
            return await v2_get(request)
        return await handler(request)

    return route


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """FastAPI-style JSON bodies for routing errors (unknown path, wrong method)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == JSON:
            raise
        return web.Response(
            status=exc.status, body=dumps({"detail": exc.reason}), headers=_allow(exc), content_type=JSON
        )


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}


async def _not_found(request: web.Request) -> web.StreamResponse:
    raise web.HTTPNotFound()


def make_app(state: SimState) -> web.Application:
    """The simulator as an aiohttp application serving ``state``."""
    v2_get = _api_route("v2_get", _v2_get)
    app = web.Application(middlewares=[_json_errors, _v2_get_router(v2_get)])
    app[STATE] = state
    app.router.add_get("/api/v1/classifier/jobs", _api_route("v1_list", _v1_list))
    app.router.add_get("/api/v2/classify", _api_route("v2_list", _v2_list))
    # Only for the answers on other methods (405); GETs are routed by _v2_get_router.
    app.router.add_get("/api/v2/classify/{job_id}", _not_found)
    for (method, path), fn in CONTROL_ROUTES.items():
        app.router.add_route(method, path, _control(fn))
    app.router.add_post("/_sim/faults", _set_faults)
    return app
