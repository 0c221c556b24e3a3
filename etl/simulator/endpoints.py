"""The three API endpoints as pure functions of the state and the query: validation, keyset
pagination with opaque filter-bound page tokens, filters, and rendering.

Listing order is the jobs' internal index, which is creation order: new jobs are appended at the
end and a changed job keeps its place. A page token holds the index of the last job served, so a
job that exists for the whole walk is neither skipped nor repeated, whatever changes meanwhile.
Callers hold ``state.lock``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from etl.simulator.data import V2_STATUS, hash_ints
from etl.simulator.render import corrupt, render_v1, render_v2
from etl.simulator.state import CACHE_ITEMS, SimState

Api = Literal["v1", "v2"]
Query = Mapping[str, Sequence[str]]
V2_STATUSES = ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED")
DEFAULT_PAGE_SIZE = 50


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as the API sends it."""
    return _ENCODER.encode(obj).encode()


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    is_page: bool = False  # a list page: counts for ``after_list_page`` once delivered intact


class ApiError(Exception):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail

    def reply(self) -> Reply:
        return Reply(self.status, dumps({"detail": self.detail}))


def json_reply(obj: Any, status: int = 200) -> Reply:
    return Reply(status, dumps(obj))


# -- query parameters ------------------------------------------------------------------------


def _last(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _loc_error(name: str, kind: str, msg: str, value: str, **ctx: Any) -> dict[str, Any]:
    err: dict[str, Any] = {"type": kind, "loc": ["query", name], "msg": msg, "input": value}
    if ctx:
        err["ctx"] = ctx
    return err


def _page_size(query: Query, errors: list[dict[str, Any]]) -> int:
    raw = _last(query, "page_size")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        msg = "Input should be a valid integer, unable to parse string as an integer"
        errors.append(_loc_error("page_size", "int_parsing", msg, raw))
        return DEFAULT_PAGE_SIZE
    if size < 1:
        msg = "Input should be greater than or equal to 1"
        errors.append(_loc_error("page_size", "greater_than_equal", msg, raw, ge=1))
    elif size > 100:
        msg = "Input should be less than or equal to 100"
        errors.append(_loc_error("page_size", "less_than_equal", msg, raw, le=100))
    return size


def _datetime_us(query: Query, name: str, errors: list[dict[str, Any]]) -> int | None:
    raw = _last(query, name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        msg = "Input should be a valid datetime or date, invalid character in year"
        errors.append(_loc_error(name, "datetime_from_date_parsing", msg, raw))
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def query_record(query: Query) -> dict[str, Any]:
    """The query as logged: one string per parameter, ``job_ids`` as a list."""
    return {k: list(v) if k == "job_ids" else v[-1] for k, v in query.items()}


# -- page tokens ------------------------------------------------------------------------------


def _token_key(state: SimState) -> bytes:
    return hash_ints(state.seed, 0x70CE).to_bytes(8, "big")


def _issue_token(state: SimState, api: Api, cursor: int, fingerprint: str) -> str:
    state.token_serial += 1
    payload = dumps({"a": api, "c": cursor, "s": state.token_serial, "f": fingerprint})
    mac = hashlib.blake2b(payload, key=_token_key(state), digest_size=8).digest()
    return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode()


def _read_token(state: SimState, token: str, api: Api, fingerprint: str) -> int:
    """The cursor a token carries; ApiError for a forged, foreign, expired or mismatched token."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload, mac = raw[:-8], raw[-8:]
        if hashlib.blake2b(payload, key=_token_key(state), digest_size=8).digest() != mac:
            raise ValueError("bad mac")
        data = json.loads(payload)
        cursor, serial = int(data["c"]), int(data["s"])
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "Invalid page token") from None
    if data.get("a") != api:
        raise ApiError(400, "Invalid page token")
    if serial <= state.tokens_expired_below:
        status = state.token_expiry_status
        if status == 422:
            detail: Any = [_loc_error("page_token", "value_error", "Page token has expired", token)]
        else:
            detail = {400: "Invalid page token", 404: "Page token not found"}.get(
                status, "Page token has expired"
            )
        raise ApiError(status, detail)
    if data.get("f") != fingerprint:
        raise ApiError(400, "page_token does not match the other query parameters")
    return cursor


def _fingerprint(state: SimState, filters: tuple[Any, ...]) -> str:
    return hashlib.blake2b(repr(filters).encode(), key=_token_key(state), digest_size=6).hexdigest()


# -- listing ------------------------------------------------------------------------------------


def _scope(state: SimState, query: Query) -> frozenset[int] | None:
    """The project slots a query may see, or None for all of them."""
    project_id, org_id = _last(query, "project_id"), _last(query, "organization_id")
    slots: frozenset[int] | None = None
    if project_id is not None:
        slot = state.data.project_slot.get(project_id)
        slots = frozenset() if slot is None else frozenset({slot})
    if org_id is not None:
        in_org = frozenset(i for i, p in enumerate(state.data.projects) if p.organization_id == org_id)
        slots = in_org if slots is None else slots & in_org
    return slots


def item_bytes(state: SimState, api: Api, index: int) -> bytes:
    """One job rendered for ``api`` (cached by version), malformed if the faults say so."""
    invalid = state.faults.invalid_items
    if invalid:
        kind = invalid.get(state.data.codec.encode(index))
        if kind is not None:
            job = state.job_at(index)
            return dumps(corrupt(render_v1(job) if api == "v1" else render_v2(job), kind, api))
    key = (api, index, state.version(index))
    body = state.cache.get(key)
    if body is None:
        job = state.job_at(index)
        body = dumps(render_v1(job) if api == "v1" else render_v2(job))
        if len(state.cache) >= CACHE_ITEMS:
            state.cache.clear()
        state.cache[key] = body
    return body


def _page(
    state: SimState,
    api: Api,
    query: Query,
    size: int,
    filters: tuple[Any, ...],
    candidates: Callable[[int], Sequence[int]],
    accept: Callable[[int], bool],
    estimate: int | None,
) -> Reply:
    fingerprint = _fingerprint(state, (api, *filters))
    token = _last(query, "page_token")
    cursor = -1 if not token else _read_token(state, token, api, fingerprint)
    picked: list[int] = []
    more = False
    pool = candidates(cursor + 1)
    for pos, index in enumerate(pool):
        if accept(index):
            picked.append(index)
            if len(picked) == size:
                # The scan stops here without looking for a match further on: when jobs remain
                # but none match the filters, the walk ends with an empty page.
                more = pos + 1 < len(pool)
                break
    state.list_serial += 1
    head = b'{"items":[' + b",".join(item_bytes(state, api, i) for i in picked) + b"]"
    tail: dict[str, Any] = {}
    if more:
        tail["next_page_token"] = _issue_token(state, api, picked[-1], fingerprint)
    else:
        # The real API ends a walk with null, "" or no key at all; all three occur.
        variant = hash_ints(state.seed, 0x1A57, state.list_serial) % 3
        if variant < 2:
            tail["next_page_token"] = None if variant == 0 else ""
    if estimate is not None and not token and hash_ints(state.seed, 0x5123, state.list_serial) % 2:
        tail["total_size"] = estimate
    body = head + (b"," + dumps(tail)[1:] if tail else b"}")
    return Reply(200, body, is_page=True)


def _scope_estimate(state: SimState, slots: frozenset[int] | None, share: float) -> int:
    # total_size is documented as an estimate: a rounded share of the live jobs.
    n = len(state.data.projects)
    weight = 1.0 if slots is None else sum(n - s for s in slots) / (n * (n + 1) / 2)
    return int(round(state.live_count * weight * share, -1))


def list_v1(state: SimState, query: Query) -> Reply:
    """``GET /api/v1/classifier/jobs``."""
    errors: list[dict[str, Any]] = []
    size = _page_size(query, errors)
    if errors:
        raise ApiError(422, errors)
    slots = _scope(state, query)
    data, deleted = state.data, state.deleted_flags
    n = state.n_total

    def accept(i: int) -> bool:
        return not deleted[i] and (slots is None or data.project_of(i) in slots)

    filters = (_last(query, "project_id"), _last(query, "organization_id"))
    estimate = _scope_estimate(state, slots, 1.0)
    return _page(state, "v1", query, size, filters, lambda start: range(start, n), accept, estimate)


def list_v2(state: SimState, query: Query) -> Reply:
    """``GET /api/v2/classify``: v2-known jobs only, with the v2 filters."""
    errors: list[dict[str, Any]] = []
    size = _page_size(query, errors)
    status = _last(query, "status")
    if status is not None and status not in V2_STATUSES:
        msg = "Input should be 'PENDING', 'RUNNING', 'COMPLETED', 'FAILED' or 'CANCELLED'"
        errors.append(_loc_error("status", "enum", msg, status, expected=", ".join(map(repr, V2_STATUSES))))
    after = _datetime_us(query, "created_at_on_or_after", errors)
    before = _datetime_us(query, "created_at_on_or_before", errors)
    if errors:
        raise ApiError(422, errors)
    slots = _scope(state, query)
    data, deleted = state.data, state.deleted_flags
    n = state.n_total

    # Creation time increases with the index, so the created_at range is an index range.
    def created_us(i: int) -> int:
        return state.created_ms(i) * 1000

    lo = 0 if after is None else bisect_left(range(n), after, key=created_us)
    hi = n if before is None else bisect_right(range(n), before, key=created_us)

    config_id = _last(query, "configuration_id")
    config: tuple[int, int] | None = None
    if config_id is not None:
        config = (-1, -1)
        for slot, project in enumerate(data.projects):
            if config_id in project.configuration_ids:
                config = (slot, project.configuration_ids.index(config_id))
    wanted = None if status is None else {s for s, word in V2_STATUS.items() if word == status}

    def accept(i: int) -> bool:
        if deleted[i] or not data.v2_known(i):
            return False
        if slots is not None and data.project_of(i) not in slots:
            return False
        if config is not None and (data.project_of(i), data.configuration_slot(i)) != config:
            return False
        return wanted is None or data.status(i, state.version(i)) in wanted

    job_ids = query.get("job_ids")
    if job_ids:
        found = {state.index_of(j) for j in job_ids}
        chosen = sorted(i for i in found if i is not None and lo <= i < hi)

        def candidates(start: int) -> Sequence[int]:
            return chosen[bisect_left(chosen, start) :]
    else:

        def candidates(start: int) -> Sequence[int]:
            return range(max(start, lo), hi)

    filters = (
        _last(query, "project_id"),
        _last(query, "organization_id"),
        status,
        config_id,
        tuple(sorted(set(job_ids or ()))),
        after,
        before,
    )
    plain = status is None and config_id is None and not job_ids and after is None and before is None
    estimate = _scope_estimate(state, slots, 0.95) if plain else None
    return _page(state, "v2", query, size, filters, candidates, accept, estimate)


def get_v2(state: SimState, job_id: str, query: Query) -> Reply:
    """``GET /api/v2/classify/{job_id}``."""
    index = state.index_of(job_id)
    if index is None or not state.is_live(index) or not state.data.v2_known(index):
        raise ApiError(404, "Classify job not found")
    project = state.data.projects[state.data.project_of(index)]
    project_id, org_id = _last(query, "project_id"), _last(query, "organization_id")
    if (project_id is not None and project_id != project.id) or (
        org_id is not None and org_id != project.organization_id
    ):
        raise ApiError(404, "Classify job not found")
    return Reply(200, item_bytes(state, "v2", index))
