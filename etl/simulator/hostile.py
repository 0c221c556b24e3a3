"""Hostile responses: switches that make the API answer in ways a client must survive.

Every switch is set through a :class:`~etl.simulator.state.SimState` method, is deterministic,
never changes the ground truth, and is undone by ``state.clear_hostile()``:

* ``bad_page_token(after_page=n, kind, endpoint=None)``: on page n of every walk of a list (both
  lists unless ``endpoint`` names one), ``next_page_token`` is

  - ``"number"``: a JSON number; ``"object"``: a JSON object;
  - ``"empty"``: ``""`` although more items are coming;
  - ``"repeat_self"``: the very token that fetched page n (for page 1, a token that fetches page 1
    again, which then repeats itself): the walk loops on one page;
  - ``"cycle2"``: page n's token is normal (B), but page n+1's is the one that fetched page n (A):
    A → B → A → B …

  While a token switch is set, tokens are issued deterministically (the same page of the same
  walk always gets the same token string), so that loops repeat byte for byte.
* ``wrong_body_id(job_id, kind)``: ``GET /api/v2/classify/{job_id}`` answers a body whose ``id``
  is ``"other"`` (another listed job's id), ``"unknown"`` (an id no job has) or ``"case"`` (the
  same id in another letter case).
* ``hostile_item(job_id, kind, where="both")``: that job's payload in the lists (``"list"``), the
  v2 get (``"get"``) or both, with one of the :data:`HostileKind` values (see :func:`hostile_body`):
  NUL and lone-surrogate escapes, a 1 MB string, JSON nested 10,000 deep, huge integers,
  ``NaN``/``Infinity``, timestamps at the ends of the calendar, ``true`` for numbers, a 200 whose
  body is ``null``, a page holding the job twice (one copy malformed).
* ``huge_body(endpoint, size_mb=50)``: that endpoint streams a JSON-looking body of ``size_mb``
  megabytes (``None``: without end, until the client hangs up), chunked, for a client's size cap.

Odd job ids (``state.add_job_with_id``, :data:`ODD_IDS`) are data, not a switch: they stay until
deleted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from etl.simulator.faults import EndpointKey

TokenKind = Literal["number", "object", "empty", "repeat_self", "cycle2"]
WrongIdKind = Literal["other", "unknown", "case"]
HostileKind = Literal[
    "nul",
    "lone_surrogate",
    "huge_string",
    "deep_nesting",
    "int_2_31",
    "int_2_63",
    "int_10_30",
    "nan",
    "infinity",
    "min_timestamp",
    "max_timestamp",
    "bool_numbers",
    "null_body",
    "duplicate_malformed",
]
HOSTILE_KINDS: Final[tuple[HostileKind, ...]] = get_args(HostileKind)
Where = Literal["list", "get", "both"]
ListKey = Literal["v1_list", "v2_list"]

#: Ids that break naive URL building: dot segments, reserved and non-ASCII characters.
ODD_IDS: Final = ("..", ".", "a;b", "a/b", "a%2Fb", "a b", "é", "a?b", "a#b", "a+b", "a&b=c", "~x")

#: An id no job has (a well-formed UUID that decodes to nothing).
UNKNOWN_ID: Final = "00000000-0000-4000-8000-00000000dead"
HUGE_STRING_LEN: Final = 1_000_000
DEEP_LEVELS: Final = 10_000
MIN_TIMESTAMP: Final = "0001-01-01T00:00:00+05:00"
MAX_TIMESTAMP: Final = "9999-12-31T23:59:59-05:00"
_INTS: Final = {"int_2_31": 2**31, "int_2_63": 2**63, "int_10_30": 10**30}
_DEEP_MARK: Final = "\x00deep\x00"
TOKEN_MEMO_MAX: Final = 10_000


@dataclass(frozen=True)
class BadToken:
    after_page: int
    kind: TokenKind
    endpoints: frozenset[ListKey]


@dataclass
class Hostile:
    """The hostile switches in force (all empty: a well-behaved API)."""

    tokens: list[BadToken] = field(default_factory=list)
    wrong_ids: dict[str, WrongIdKind] = field(default_factory=dict)
    items: dict[str, tuple[HostileKind, Where]] = field(default_factory=dict)
    huge: dict[EndpointKey, int | None] = field(default_factory=dict)  # bytes, None: endless
    # (api, cursor, page, fingerprint) -> token, while a token switch is set
    token_memo: dict[tuple[str, int, int, str], str] = field(default_factory=dict)

    def token_switch(self, endpoint: ListKey, page: int) -> BadToken | None:
        """The token switch for page ``page`` of a walk, or for the page before it (cycle2)."""
        for bad in self.tokens:
            if endpoint not in bad.endpoints:
                continue
            if bad.after_page == page or (bad.kind == "cycle2" and bad.after_page + 1 == page):
                return bad
        return None

    def item_kind(self, job_id: str, where: Literal["list", "get"]) -> HostileKind | None:
        entry = self.items.get(job_id)
        if entry is None or entry[1] not in (where, "both"):
            return None
        return entry[0]


def _encode(obj: Any) -> bytes:
    # ensure_ascii writes a lone surrogate as its \\ud800 escape (valid JSON, not valid UTF-8 when
    # decoded) and NUL as \\u0000; allow_nan writes the non-standard NaN and Infinity tokens.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True, allow_nan=True).encode("ascii")


def _parsing(item: dict[str, Any], api: str) -> dict[str, Any]:
    """The item's parsing configuration (created if absent), ready to be edited in place."""
    holder = item if api == "v1" else item.setdefault("configuration", {})
    cfg = dict(holder.get("parsing_configuration") or {})
    holder["parsing_configuration"] = cfg
    return cfg


def _result(item: dict[str, Any]) -> dict[str, Any]:
    result = dict(item.get("result") or {"reasoning": "hostile", "type": None})
    item["result"] = result
    return result


def _poison_text(item: dict[str, Any], api: str, text: str) -> None:
    """Put ``text`` into the error message, the first rule's description and the reasoning."""
    item["error_message"] = f"before{text}after"
    holder = item if api == "v1" else item.setdefault("configuration", {})
    rules = [dict(r) for r in holder.get("rules") or [{"type": "t", "description": "d"}]]
    rules[0]["description"] = f"{rules[0]['description']}{text}"
    holder["rules"] = rules
    if api == "v2":
        result = _result(item)
        result["reasoning"] = f"{result['reasoning']}{text}"
        result.setdefault("confidence", 0.5)


def hostile_body(item: dict[str, Any], kind: HostileKind, api: str) -> bytes:
    """The JSON bytes of a rendered item, made hostile the way ``kind`` says.

    ``null_body`` and ``duplicate_malformed`` act on the whole response and are handled by the
    endpoints; here they leave the item as it is.
    """
    item = dict(item)
    if kind == "nul":
        _poison_text(item, api, "\u0000")
    elif kind == "lone_surrogate":
        _poison_text(item, api, "\ud800")
    elif kind == "huge_string":
        item["error_message"] = "x" * HUGE_STRING_LEN
    elif kind == "deep_nesting":
        item["x_nested"] = _DEEP_MARK
    elif kind in _INTS:
        cfg = _parsing(item, api)
        cfg["max_pages"] = _INTS[kind]
        cfg["target_pages"] = None
    elif kind in ("nan", "infinity"):
        value = float("nan") if kind == "nan" else float("inf")
        if api == "v2":
            _result(item)["confidence"] = value
        item["usage"] = {"credits": value, "parse_credits": value}
    elif kind in ("min_timestamp", "max_timestamp"):
        stamp = MIN_TIMESTAMP if kind == "min_timestamp" else MAX_TIMESTAMP
        item["created_at"] = item["updated_at"] = stamp
    elif kind == "bool_numbers":
        cfg = _parsing(item, api)
        cfg["max_pages"] = True
        if api == "v1":
            cfg["target_pages"] = [True]
        else:
            result = _result(item)
            result["confidence"] = True
    body = _encode(item)
    if kind == "deep_nesting":
        deep = b"[" * DEEP_LEVELS + b"]" * DEEP_LEVELS
        body = body.replace(_encode(_DEEP_MARK), deep)
    return body


def malformed_copy(job_id: str) -> bytes:
    """A copy of a job's item that no model accepts: its id and little else, all of it wrong."""
    return _encode({"id": job_id, "status": 17, "configuration": "none", "created_at": False})


def wrong_id(job_id: str, kind: WrongIdKind, other: str | None) -> str:
    if kind == "unknown" or (kind == "other" and other is None):
        return UNKNOWN_ID
    if kind == "other":
        assert other is not None
        return other
    swapped = job_id.swapcase()
    return swapped if swapped != job_id else job_id + "X"
