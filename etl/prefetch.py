"""The run's first list page, asked for while the rest of the program is still being imported.

A cron run spends most of a second importing SQLAlchemy, aiohttp and the models before its first
request (issue 14). So, as soon as the settings are known, ``start`` reads the little stored state the
first list request depends on, with the lightest means (stdlib ``sqlite3``; psycopg without
SQLAlchemy), computes that request with the planner's own functions (``etl.firstpage``), and sends it
from a background thread on a plain ``httpx.Client``; while the run is still starting, the thread
goes on to the pages each answer's ``next_page_token`` leads to (at most ``PREFETCH_PAGES``). The
run's client (``etl.api``) takes an answer only if its own list request is exactly the next one sent
here (method, URL with its query, Authorization and Accept), each once and in order; its first list
request that is not, or a prefetch that failed or answered a status the client would retry, ends the
chain, and the run asks as usual from there. Every answer taken is checked by the run's client as if
it had asked (the thread follows a token only as far as sending the next GET). A GET is read-only: a
wasted one is harmless.

Predicted here: one scope walked by the v1 list (``--list-source v1``, or ``auto`` while the scope
has not moved to v2), from page 1 or from its stored token, with the schema at head. Anything else
(several scopes, v2 plans, a partition, a schema to migrate, a monitor whose start ping must go
first) sends nothing. Nothing here raises: a prediction that cannot be made is no prefetch.

PostgreSQL: importing psycopg alone costs ~100–150 ms, more than the rest of the way to the request.
So a run on PostgreSQL leaves a start hint (``remember``): the state read here, as it is at the end of
the run, in a small per-user cache file (``$XDG_CACHE_HOME/classify-etl/``, else
``~/.cache/classify-etl/``) named by a hash of the database URL without its password, the PG*
environment (but PGPASSWORD), the base URL and the scope. The next run predicts its first request from
that hint without importing psycopg; without a hint it reads the database as above. The hint holds the
schema revision, the scope's list source and its v1 page token: no key, no password, no URL. A stale
hint costs one read-only GET whose answer the run does not take (its client compares it with the
request it makes from the database); the database stays the only source of truth. No HOME (nor
XDG_CACHE_HOME) or ``CLASSIFY_ETL_NO_START_HINT=1``: no hint is read or written; an unwritable cache:
none is written. Silently, always (docs/operations.md, "The start hint").
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.firstpage import (
    BASE_HEADERS,
    MAX_BODY_BYTES,
    RETRY_STATUSES,
    Scope,
    build_scopes,
    list_query,
    resume_token,
    scope_source,
)
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


#: Pages the prefetch walks at most: the first, then those its tokens lead to while the run is
#: still starting and after, until the run has caught up with the chain (the run takes a page in
#: a few ms; the chain brings one a request's latency apart), so its first own list request follows
#: the last prefetched page at once, with no gap in the walk. A run starts in ~0.6–0.9 s of imports
#: and database checks: ~30 pages at 28 ms a page, 3–8 at the service's own latency. The bound is
#: also that on requests wasted if the run asks for something else (a stale start hint): at most 64
#: read-only GETs at loopback latency, in practice the few sent before the run's first request.
PREFETCH_PAGES = 64


class Prefetch:
    """List pages in flight (or done) on a background thread, each with the request it answers: the
    run's first request, then the page each answer's token leads to, while the run has not asked
    for something else. The run takes them in order (``take``); the first request it makes that is
    not the next one here ends the chain, and from then on it asks the service itself."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[tuple[str, str, str | None, str | None], Future[Answer | None]]] = []
        self._taken = 0
        self._closed = False
        self.used = False

    @property
    def future(self) -> Future[Answer | None]:
        """The first page's answer."""
        return self._entries[0][1]

    @property
    def pages(self) -> int:
        """Requests the prefetch has sent (or is sending)."""
        return len(self._entries)

    def offer(self, request: httpx.Request) -> Future[Answer | None] | None:
        """The future for ``request``'s answer, registered as the next page; None once the run asked
        for something else or ``PREFETCH_PAGES`` are out (then it is not sent)."""
        with self._lock:
            if self._closed or len(self._entries) >= PREFETCH_PAGES:
                return None
            future: Future[Answer | None] = Future()
            self._entries.append((_key(request), future))
            return future

    def close(self) -> None:
        with self._lock:
            self._closed = True

    async def take(self, request: httpx.Request) -> httpx.Response | None:
        """The answer to ``request`` if it is the next prefetched one and came back usable; else None
        (the caller sends ``request`` itself, and the chain ends). Waits for the answer if it is
        still in flight."""
        import asyncio

        import httpx

        with self._lock:
            entry = self._entries[self._taken] if self._taken < len(self._entries) else None
            other = entry is not None and entry[0] != _key(request)
            if entry is None or other:
                self._closed, entry = True, None
            else:
                self._taken += 1
        if entry is None:
            log.debug(
                "the run's list request is %s; the run asks from here",
                "not the next prefetched one" if other else "past the prefetched pages",
            )
            return None
        answer = await asyncio.wrap_future(entry[1])
        if answer is None or answer.status in RETRY_STATUSES:
            log.debug("the prefetched list page failed; the run asks again")
            self.close()
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


def _predictable(settings: Settings, *, monitored: bool) -> Scope | None:
    """The one scope whose first list request can be predicted from the stored state, if any."""
    scopes = build_scopes(settings.project_ids, settings.organization_id)
    if monitored or len(scopes) != 1 or settings.list_source == "v2":
        return None
    if settings.created_after is not None or settings.created_before is not None:
        return None
    if settings.api_key is None or not settings.api_key.get_secret_value():
        return None
    return scopes[0]


def _start(settings: Settings, *, monitored: bool) -> Prefetch | None:
    scope, api_key = _predictable(settings, monitored=monitored), settings.api_key
    if scope is None or api_key is None:
        return None
    head = head_from_files()  # read once: the revision files are parsed, not imported
    if head is None:
        return None
    url = settings.database_url.get_secret_value()
    hint = hint_path(url, settings.base_url, scope.key)
    state = read_hint(hint) if hint is not None else None
    if state is None or state.revision != head:  # none, or left before a migration: the database says
        state = read_state(url, scope.key, head)
    if state is None or state.revision != head:
        return None  # no database yet, or a schema to migrate: the run's state is not known yet
    source = scope_source(settings.list_source, state.chosen_source)
    if source != "v1":
        return None
    token = resume_token(settings.full_refresh, state.v1_token)  # as ScopePlans.sequential resumes
    base = settings.base_url.rstrip("/")

    def request_for(page_token: str | None) -> tuple[str, list[tuple[str, Any]]]:
        params, size = scope.params.items(), settings.page_size
        path, query = list_query(source, params, page_token=page_token, page_size=size)
        return base + path, query

    return send(
        *request_for(token),
        api_key=api_key.get_secret_value(),
        timeout=settings.request_timeout,
        connect_timeout=settings.connect_timeout,
        verify=settings.verify_tls,
        follow=request_for,
    )


def send(
    url: str,
    query: list[tuple[str, Any]],
    *,
    api_key: str,
    timeout: float,
    connect_timeout: float,
    verify: bool,
    follow: Callable[[str], tuple[str, list[tuple[str, Any]]]] | None = None,
) -> Prefetch:
    """GET ``url`` with ``query`` on a daemon thread (it never holds the process up at exit), then,
    with ``follow`` (a page token → the next request's URL and query), the pages the tokens lead
    to, up to ``PREFETCH_PAGES``, while the run takes them."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # as etl.cli.lean_http
    import httpx

    client = httpx.Client(timeout=httpx.Timeout(timeout, connect=connect_timeout), verify=verify)
    headers = {**BASE_HEADERS, "Authorization": f"Bearer {api_key}"}

    def build(url: str, query: list[tuple[str, Any]]) -> httpx.Request:
        return client.build_request("GET", httpx.URL(url), params=query or None, headers=headers)

    sent = Prefetch()
    request = build(url, query)
    future = sent.offer(request)
    assert future is not None  # the first offer always registers
    chain = (lambda token: build(*follow(token))) if follow is not None else None
    threading.Thread(
        target=_walk, args=(client, sent, request, future, chain), name="classify-etl-prefetch", daemon=True
    ).start()
    return sent


def _walk(
    client: httpx.Client,
    sent: Prefetch,
    request: httpx.Request,
    future: Future[Answer | None],
    chain: Callable[[str], httpx.Request] | None,
) -> None:
    """The thread: each page, then (with ``chain``) the next one while its token is a usable one."""
    seen: set[str] = set()
    with client:
        while True:
            answer = _fetch(client, request)
            future.set_result(answer)
            token = _next_token(answer) if chain is not None else None
            if chain is None or token is None or token in seen:
                return
            seen.add(token)
            request = chain(token)
            next_future = sent.offer(request)
            if next_future is None:
                return
            future = next_future


def _next_token(answer: Answer | None) -> str | None:
    """The page token a usable list page leads to; None for anything the run would not follow as
    it is (an error, a body that is not a page, an end marker, a token that is not a string)."""
    import httpx
    import orjson

    if answer is None or answer.status != 200:
        return None
    try:  # decoded as the run's client decodes it (gzip, deflate); what orjson cannot read: not followed
        body = orjson.loads(httpx.Response(200, headers=answer.headers, content=answer.raw).content)
    except (orjson.JSONDecodeError, httpx.HTTPError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("items"), list) or not body["items"]:
        return None
    token = body.get("next_page_token")
    return token if isinstance(token, str) and token else None


def _fetch(client: httpx.Client, request: httpx.Request) -> Answer | None:
    try:
        response = client.send(request, stream=True)
        try:
            chunks, size = [], 0
            for chunk in response.iter_raw():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return None
                chunks.append(chunk)
            return Answer(
                response.status_code,
                list(response.headers.raw),
                b"".join(chunks),
                {"http_version": response.extensions.get("http_version", b"HTTP/1.1")},
            )
        finally:
            response.close()
    except Exception as exc:  # refused, timed out, reset: the run asks again, with its retries
        log.debug("prefetch failed: %s", type(exc).__name__)
        return None


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


# -- the start hint: the state as the last run left it, for PostgreSQL ------------------------------

#: Set (to any non-empty value, e.g. 1) to neither read nor write the start hint.
NO_HINT_ENV = "CLASSIFY_ETL_NO_START_HINT"
_HINT_FORMAT = 1


def hint_path(database_url: str, base_url: str, scope: str) -> Path | None:
    """The start hint's file for this database, API and scope; None for SQLite (read in ~2 ms, a hint
    would not be faster), when turned off, or with no cache directory (no HOME, as under cron)."""
    if os.environ.get(NO_HINT_ENV) or not database_url.startswith(("postgresql", "postgres:")):
        return None
    cache = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(cache):
        home = os.environ.get("HOME", "")
        if not os.path.isabs(home):
            return None
        cache = os.path.join(home, ".cache")
    pg_env = sorted((k, v) for k, v in os.environ.items() if k.startswith("PG") and k != "PGPASSWORD")
    what = [_HINT_FORMAT, _without_password(database_url), pg_env, base_url.rstrip("/"), scope]
    import hashlib

    digest = hashlib.sha256(json.dumps(what).encode()).hexdigest()
    return Path(cache, "classify-etl", f"start-{digest[:32]}.json")


def _without_password(url: str) -> str:
    """The URL with no password in its user part or its query (libpq's ``password=``)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    user, at, host = parts.netloc.rpartition("@")
    netloc = user.partition(":")[0] + at + host
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in ("password", "sslpassword")])
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def read_hint(path: Path) -> State | None:
    """The state a start hint holds; None if there is none or it is not one."""
    try:
        from etl.jsontext import loads  # etl/ reads JSON text through it (tests/test_jsontext.py)

        data = loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _HINT_FORMAT:
        return None
    values = [data.get(k) for k in ("revision", "list_source", "v1_page_token")]
    if not isinstance(values[0], str) or not all(v is None or isinstance(v, str) for v in values):
        return None
    return State(*values)


def write_hint(path: Path, state: State) -> None:
    """Write the hint atomically (a file of its own, renamed over the old one), readable by its owner."""
    data = {
        "format": _HINT_FORMAT,
        "revision": state.revision,
        "list_source": state.chosen_source,
        "v1_page_token": state.v1_token,
    }
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(json.dumps(data).encode())
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def remember(settings: Settings, *, monitored: bool) -> None:
    """After a run: leave the state the next run's first request follows from as its start hint (only
    where ``start`` would use one). Never raises: without a hint the next run reads the database."""
    try:
        scope = _predictable(settings, monitored=monitored)
        head = head_from_files()
        url = settings.database_url.get_secret_value()
        path = hint_path(url, settings.base_url, scope.key) if scope is not None else None
        if path is None or scope is None or head is None:
            return
        state = read_state(url, scope.key, head)
        if state is not None and state.revision == head:
            write_hint(path, state)
        else:
            path.unlink(missing_ok=True)
    except Exception as exc:  # an unwritable cache, a database gone: the next run reads the database
        log.debug("no start hint written: %s", type(exc).__name__)
