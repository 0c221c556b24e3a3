"""The run's first list page, asked for while the rest of the program is still being imported.

A cron run spends most of a second importing SQLAlchemy, aiohttp and the models before its first
request (issue 14). So, as soon as the settings are known, ``start`` reads the little stored state the
first list request depends on, with the lightest means (stdlib ``sqlite3``; psycopg without
SQLAlchemy), computes that request with the planner's own functions (``etl.firstpage``), and sends it
from a background thread on a plain ``httpx.Client``. The run's client (``etl.api``) later takes the
answer only if its own first request is exactly this one (method, URL with its query, Authorization
and Accept), and only once; otherwise, or if the prefetch failed or answered a status the client
would retry, it is dropped and the run asks as usual. A GET is read-only: a wasted one is harmless.

Predicted here: one scope walked by the v1 list (``--list-source v1``, or ``auto`` while the scope
has not moved to v2), from page 1 or from its stored token, with the schema at head. Anything else
(several scopes, v2 plans, a partition, a schema to migrate, a monitor whose start ping must go
first) sends nothing. Nothing here raises: a prediction that cannot be made is no prefetch.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.firstpage import MAX_BODY_BYTES, RETRY_STATUSES, build_scopes, list_query, resume_token, scope_source
from etl.revisions import head_from_files

if TYPE_CHECKING:
    import httpx

    from etl.config import Settings

log = logging.getLogger("etl.prefetch")


@dataclass(frozen=True)
class Answer:
    """What the server sent, as raw (still encoded) bytes, read to the end in the thread."""

    status: int
    headers: list[tuple[bytes, bytes]]
    raw: bytes
    extensions: dict[str, Any]


def _key(request: httpx.Request) -> tuple[str, str, str | None, str | None]:
    return (
        request.method,
        str(request.url),
        request.headers.get("authorization"),
        request.headers.get("accept"),
    )


class Prefetch:
    """One GET in flight (or done) on a background thread, and the request it answers."""

    def __init__(self, request: httpx.Request, future: Future[Answer | None]) -> None:
        self._key = _key(request)
        self.future = future
        self.used = False

    def matches(self, request: httpx.Request) -> bool:
        return _key(request) == self._key

    async def take(self, request: httpx.Request) -> httpx.Response | None:
        """The answer to ``request`` if it is the prefetched one and came back usable; else None
        (the caller sends ``request`` itself). Waits for the answer if it is still in flight."""
        import asyncio

        import httpx

        if not self.matches(request):
            log.debug("the prefetched list page is not the run's first request; not used")
            return None
        answer = await asyncio.wrap_future(self.future)
        if answer is None or answer.status in RETRY_STATUSES:
            log.debug("the prefetched list page failed; the run asks again")
            return None
        self.used = True
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=httpx.ByteStream(answer.raw),
            request=request,
            extensions=answer.extensions,
        )


def start(settings: Settings, *, monitored: bool) -> Prefetch | None:
    """Send the run's predicted first list request in the background; None if it cannot be predicted."""
    try:
        return _start(settings, monitored=monitored)
    except Exception as exc:  # a prediction that fails is no prefetch; the run reports real errors
        log.debug("no prefetch: %s", type(exc).__name__)
        return None


def _start(settings: Settings, *, monitored: bool) -> Prefetch | None:
    scopes = build_scopes(settings.project_ids, settings.organization_id)
    if monitored or len(scopes) != 1 or settings.list_source == "v2":
        return None
    if settings.created_after is not None or settings.created_before is not None:
        return None
    if settings.api_key is None or not settings.api_key.get_secret_value():
        return None
    scope = scopes[0]
    head = head_from_files()  # read once: the revision files are parsed, not imported
    if head is None:
        return None
    state = read_state(settings.database_url.get_secret_value(), scope.key, head)
    if state is None or state.revision != head:
        return None  # no database yet, or a schema to migrate: the run's state is not known yet
    source = scope_source(settings.list_source, state.chosen_source)
    if source != "v1":
        return None
    token = resume_token(settings.full_refresh, state.v1_token)  # as ScopePlans.sequential resumes
    path, query = list_query(source, scope.params.items(), page_token=token, page_size=settings.page_size)
    return send(
        settings.base_url.rstrip("/") + path,
        query,
        api_key=settings.api_key.get_secret_value(),
        timeout=settings.request_timeout,
        connect_timeout=settings.connect_timeout,
        verify=settings.verify_tls,
    )


def send(
    url: str,
    query: list[tuple[str, Any]],
    *,
    api_key: str,
    timeout: float,
    connect_timeout: float,
    verify: bool,
) -> Prefetch:
    """GET ``url`` with ``query`` on a daemon thread (it never holds the process up at exit)."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # as etl.cli.lean_http
    import httpx

    client = httpx.Client(timeout=httpx.Timeout(timeout, connect=connect_timeout), verify=verify)
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
    request = client.build_request("GET", httpx.URL(url), params=query or None, headers=headers)
    future: Future[Answer | None] = Future()
    threading.Thread(
        target=_fetch, args=(client, request, future), name="classify-etl-prefetch", daemon=True
    ).start()
    return Prefetch(request, future)


def _fetch(client: httpx.Client, request: httpx.Request, future: Future[Answer | None]) -> None:
    answer: Answer | None = None
    try:
        with client:
            response = client.send(request, stream=True)
            try:
                chunks, size = [], 0
                for chunk in response.iter_raw():
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        break
                    chunks.append(chunk)
                else:
                    answer = Answer(
                        response.status_code,
                        list(response.headers.raw),
                        b"".join(chunks),
                        {"http_version": response.extensions.get("http_version", b"HTTP/1.1")},
                    )
            finally:
                response.close()
    except Exception as exc:  # refused, timed out, reset: the run asks again, with its retries
        log.debug("prefetch failed: %s", type(exc).__name__)
    future.set_result(answer)


# -- the stored state, read without SQLAlchemy ------------------------------------------------------


@dataclass(frozen=True)
class State:
    revision: str | None
    chosen_source: str | None
    v1_token: str | None


Query = Callable[[str, tuple[str, ...]], list[Any]]


def read_state(url: str, scope: str, head: str) -> State | None:
    """The schema revision, and at ``head`` (the revision files' head) the scope's recorded list
    source and v1 token; None when the URL is not one of the plain forms read here, or the database
    is not there."""
    scheme, _, rest = url.partition("://")
    if scheme in ("sqlite", "sqlite+pysqlite"):
        return _sqlite_state(rest, scope, head)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return _pg_state("postgresql://" + rest, scope, head)
    return None


def _read(query: Query, p: str, scope: str, head: str) -> State:
    found = query("SELECT version_num FROM alembic_version", ())
    revision = found[0][0] if len(found) == 1 else None
    if revision is None or revision != head:
        return State(revision, None, None)  # the tables read below may not be there yet
    source = query(f"SELECT list_source FROM etl_scope_sources WHERE scope = {p}", (scope,))
    token = query(
        f"SELECT next_page_token FROM etl_checkpoints WHERE scope = {p} AND source = 'v1'", (scope,)
    )
    return State(revision, source[0][0] if source else None, token[0][0] if token else None)


def _sqlite_state(rest: str, scope: str, head: str) -> State | None:
    # sqlite:///relative.db and sqlite:////absolute.db; a query string or memory database is not read.
    if not rest.startswith("/") or "?" in rest or "%" in rest or rest in ("/", "/:memory:"):
        return None
    path = Path(rest[1:])
    if not path.is_file():
        return None
    conn = sqlite3.connect(path, timeout=1.0, isolation_level=None)
    try:
        return _read(lambda sql, args: conn.execute(sql, args).fetchall(), "?", scope, head)
    finally:
        conn.close()


def _pg_state(conninfo: str, scope: str, head: str) -> State | None:
    import psycopg

    with psycopg.connect(conninfo, connect_timeout=5, autocommit=True) as conn:
        return _read(lambda sql, args: conn.execute(sql, args).fetchall(), "%s", scope, head)
