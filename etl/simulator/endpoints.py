"""The three API endpoints as pure functions of the state and the query: validation, keyset
pagination with opaque filter-bound page tokens, filters, and rendering.

Listing order is the jobs' internal index, which is creation order: new jobs are appended at the
end and a changed job keeps its place (``state.shuffle_pages`` shuffles the items within each page,
not the walk). A page token holds the index of the last job served, so a job that exists for the
whole walk is neither skipped nor repeated, whatever changes meanwhile; it also holds the page's
number in its walk, for the hostile token switches. Callers hold ``state.lock``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from etl.simulator.data import V2_STATUS, hash_ints
from etl.simulator.hostile import (
    TOKEN_MEMO_MAX,
    BadToken,
    ListKey,
    hostile_body,
    malformed_copy,
    wrong_id,
)
from etl.simulator.render import corrupt, render_v1, render_v2
from etl.simulator.state import CACHE_ITEMS, SimState

Api = Literal["v1", "v2"]
Where = Literal["list", "get"]
Query = Mapping[str, Sequence[str]]
V2_STATUSES = ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED")
DEFAULT_PAGE_SIZE = 50
REPEATED_PARAMS = frozenset({"job_ids", "expand"})
_LIST_KEYS: dict[Api, ListKey] = {"v1": "v1_list", "v2": "v2_list"}


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
    """The query as logged: one string per parameter, ``job_ids`` and ``expand`` as lists."""
    return {k: list(v) if k in REPEATED_PARAMS else v[-1] for k, v in query.items()}


# -- page tokens ------------------------------------------------------------------------------


def _token_key(state: SimState) -> bytes:
    return hash_ints(state.seed, 0x70CE).to_bytes(8, "big")


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after index ``after``; page ``page`` of its walk, issued by a page
    that started after index ``back``."""

    after: int = -1
    page: int = 1
    back: int = -1


def _issue_token(state: SimState, api: Api, at: Cursor, fingerprint: str) -> str:
    memo = state.hostile.token_memo if state.hostile.tokens else None
    key = (api, at.after, at.page, fingerprint)
    if memo is not None and key in memo:
        return memo[key]
    state.token_serial += 1
    data = {"a": api, "c": at.after, "s": state.token_serial, "f": fingerprint, "p": at.page, "b": at.back}
    payload = dumps(data)
    mac = hashlib.blake2b(payload, key=_token_key(state), digest_size=8).digest()
    token = base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode()
    if memo is not None:
        if len(memo) >= TOKEN_MEMO_MAX:
            memo.clear()
        memo[key] = token
    return token


def _read_token(state: SimState, token: str, api: Api, fingerprint: str) -> Cursor:
    """Where a token points; ApiError for a forged, foreign, expired or mismatched token."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload, mac = raw[:-8], raw[-8:]
        if hashlib.blake2b(payload, key=_token_key(state), digest_size=8).digest() != mac:
            raise ValueError("bad mac")
        data = json.loads(payload)
        cursor, serial = int(data["c"]), int(data["s"])
        page, back = int(data.get("p", 2)), int(data.get("b", -1))
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
    return Cursor(cursor, page, back)


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


def _render(state: SimState, api: Api, index: int, usage: bool) -> dict[str, Any]:
    job = state.job_at(index)
    return render_v1(job) if api == "v1" else render_v2(job, state.usage_shown(index) if usage else None)


#: The value of the field ``SimState.extra_field`` adds.
EXTRA_FIELD_VALUE = 0.5


def with_extra_field(item: dict[str, Any], path: str) -> dict[str, Any]:
    """``item`` with the field at ``path`` (dotted) set to EXTRA_FIELD_VALUE, if its parent object
    is there (a body without ``usage`` gets no ``usage.new_thing``: adding ``usage`` would say
    something of its credits)."""
    *parents, name = path.split(".")
    target: Any = item
    for part in parents:
        target = target.get(part) if isinstance(target, dict) else None
    if isinstance(target, dict):
        target[name] = EXTRA_FIELD_VALUE
    return item


def item_bytes(state: SimState, api: Api, index: int, *, usage: bool = False, where: Where = "list") -> bytes:
    """One job rendered for ``api`` (cached by version and billing), with ``usage`` if asked for,
    malformed or hostile if the switches say so."""
    if state.faults.invalid_items or state.hostile.items:
        job_id = state.id_of(index)
        invalid = state.faults.invalid_items.get(job_id)
        if invalid is not None:
            return dumps(corrupt(_render(state, api, index, usage), invalid, api))
        kind = state.hostile.item_kind(job_id, where)
        if kind is not None:
            return hostile_body(_render(state, api, index, usage), kind, api)
    if state.extra_field and api == "v2":  # rare, and not cached: the switch can change at any time
        return dumps(with_extra_field(_render(state, api, index, usage), state.extra_field))
    variant = 0 if not usage else 2 if state.is_billed(index) else 1
    key = (api, index, state.version(index), variant)
    body = state.cache.get(key)
    if body is None:
        body = dumps(_render(state, api, index, usage))
        if len(state.cache) >= CACHE_ITEMS:
            state.cache.clear()
        state.cache[key] = body
    return body


def _bad_token(
    state: SimState, api: Api, bad: BadToken, at: Cursor, token: str | None, fingerprint: str, normal: Any
) -> Any:
    """The ``next_page_token`` a hostile token switch serves instead of ``normal``."""
    if bad.kind == "number":
        return 1000 + at.page
    if bad.kind == "object":
        return {"cursor": at.after, "page": at.page + 1}
    if bad.kind == "empty":
        return ""
    if bad.kind == "repeat_self":
        return token or _issue_token(state, api, Cursor(), fingerprint)
    # cycle2: page n goes on normally (to B); page n+1 sends the walk back to the token of page n.
    if at.page == bad.after_page:
        return normal
    return _issue_token(state, api, Cursor(at.back, at.page - 1), fingerprint)


def _page(
    state: SimState,
    api: Api,
    query: Query,
    size: int,
    filters: tuple[Any, ...],
    candidates: Callable[[int], Sequence[int]],
    accept: Callable[[int], bool],
    estimate: int | None,
    usage: bool = False,
) -> Reply:
    fingerprint = _fingerprint(state, (api, *filters))
    token = _last(query, "page_token")
    at = Cursor() if not token else _read_token(state, token, api, fingerprint)
    picked: list[int] = []
    more = False
    pool = candidates(at.after + 1)
    for pos, index in enumerate(pool):
        if accept(index):
            picked.append(index)
            if len(picked) == size:
                # The scan stops here without looking for a match further on: when jobs remain
                # but none match the filters, the walk ends with an empty page.
                more = pos + 1 < len(pool)
                break
    state.list_serial += 1
    hostile = state.hostile
    doubled: set[int] = set()
    if hostile.items:
        kinds = {i: hostile.item_kind(state.id_of(i), "list") for i in picked}
        if "null_body" in kinds.values():
            return Reply(200, b"null", is_page=True)
        doubled = {i for i, kind in kinds.items() if kind == "duplicate_malformed"}
    order = picked
    if state.shuffle_pages:
        order = list(picked)
        random.Random(hash_ints(state.seed, 0x5F1E, state.list_serial)).shuffle(order)
    parts = []
    for i in order:
        parts.append(item_bytes(state, api, i, usage=usage))
        if i in doubled:
            parts.append(malformed_copy(state.id_of(i)))
    head = b'{"items":[' + b",".join(parts) + b"]"
    tail: dict[str, Any] = {}
    if more:
        after = Cursor(picked[-1], at.page + 1, at.after)
        tail["next_page_token"] = _issue_token(state, api, after, fingerprint)
    else:
        # The real API ends a walk with null, "" or no key at all; all three occur.
        variant = hash_ints(state.seed, 0x1A57, state.list_serial) % 3
        if variant < 2:
            tail["next_page_token"] = None if variant == 0 else ""
    bad = hostile.token_switch(_LIST_KEYS[api], at.page) if hostile.tokens else None
    if bad is not None:
        tail["next_page_token"] = _bad_token(
            state, api, bad, at, token, fingerprint, tail.get("next_page_token")
        )
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
    slots, n = _scope(state, query), state.n_total

    def accept(i: int) -> bool:
        return not state.deleted_flags[i] and (slots is None or state.data.project_of(i) in slots)

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
    if state.ignore_window_filters:
        lo, hi = 0, n  # a broken service: the window filters are accepted, and ignored

    config_id = _last(query, "configuration_id")
    config: tuple[int, int] | None = None
    if config_id is not None:
        config = (-1, -1)
        for slot, project in enumerate(data.projects):
            if config_id in project.configuration_ids:
                config = (slot, project.configuration_ids.index(config_id))
    wanted = None if status is None else {s for s, word in V2_STATUS.items() if word == status}

    def accept(i: int) -> bool:
        if deleted[i] or not state.v2_known(i):
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
    usage = state.usage_on_list and state.expand_support != "ignore"
    return _page(state, "v2", query, size, filters, candidates, accept, estimate, usage)


def _wants_usage(state: SimState, query: Query) -> bool:
    expand = query.get("expand")
    if expand and state.expand_support == "reject":
        # An older service that forbids unknown query parameters.
        msg = "Extra inputs are not permitted"
        raise ApiError(422, [_loc_error("expand", "extra_forbidden", msg, expand[-1])])
    return state.expand_support == "yes" and "usage" in (expand or ())


def get_v2(state: SimState, job_id: str, query: Query) -> Reply:
    """``GET /api/v2/classify/{job_id}``; ``expand=usage`` (repeatable) adds ``usage``."""
    usage = _wants_usage(state, query)
    index = state.index_of(job_id)
    if index is None or not state.is_live(index) or not state.v2_known(index):
        raise ApiError(404, "Classify job not found")
    project = state.data.projects[state.data.project_of(index)]
    project_id, org_id = _last(query, "project_id"), _last(query, "organization_id")
    if (project_id is not None and project_id != project.id) or (
        org_id is not None and org_id != project.organization_id
    ):
        raise ApiError(404, "Classify job not found")
    hostile = state.hostile
    if hostile.item_kind(job_id, "get") == "null_body":
        return Reply(200, b"null")
    kind = hostile.wrong_ids.get(job_id)
    if kind is not None:
        item = _render(state, "v2", index, usage)
        item["id"] = wrong_id(job_id, kind, _other_listed(state, index))
        return Reply(200, dumps(item))
    return Reply(200, item_bytes(state, "v2", index, usage=usage, where="get"))


def _other_listed(state: SimState, index: int) -> str | None:
    """The nearest other job the v2 list shows (after ``index``, else before it)."""
    for i in itertools.chain(range(index + 1, state.n_total), range(index - 1, -1, -1)):
        if state.is_live(i) and state.v2_known(i):
            return state.id_of(i)
    return None
