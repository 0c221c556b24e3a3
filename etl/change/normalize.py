"""Pure functions from API payloads to table rows.

Here live the reconciliations the two API versions force on us:

* status: v1 (PENDING, SUCCESS, ERROR, PARTIAL_SUCCESS, CANCELLED) and v2 (PENDING, RUNNING,
  COMPLETED, FAILED, CANCELLED) map onto one canonical set. The hydrated v2 status wins, being
  fetched after the list, except that v2 has no "partial": COMPLETED with v1 PARTIAL_SUCCESS
  stays ``partial``.
* target pages: v1 sends a 0-based list, v2 a 1-based range string ("1,3,5-7"); both become
  the same 1-based ``classify_target_pages`` rows.
* everything else: the v2 value when the job was hydrated, else the v1 value.

And the promise that a hostile record is quarantined (``InvalidItem``) while the rest of its
page loads. ``parse_v1``/``parse_v2`` refuse, naming the field and the value:

* a payload beyond the limits below (``MAX_*``): nesting deeper than ``MAX_DEPTH`` (checked
  without recursion, before anything else), a string or key longer than ``MAX_TEXT_CHARS``,
  more than ``MAX_PAYLOAD_CHARS`` of text or ``MAX_PAYLOAD_VALUES`` values in all, more than
  ``MAX_RULES`` rules or ``MAX_TARGET_PAGES`` target pages, an id, project id or rule/result
  type longer than ``MAX_KEY_CHARS`` (they are indexed: PostgreSQL refuses an index entry past
  ~2.7 kB);
* non-finite floats (NaN, ±Infinity: ``json.loads`` accepts those tokens) in ``confidence``
  and credits; credits outside 0..``MAX_CREDITS``;
* and whatever ``etl.models`` refuses (booleans as numbers, integers past a 32-bit column,
  timestamps outside years 1-9999 in UTC, ...).

Storable rows: ``build_rows`` returns text with NUL and lone surrogates replaced by U+FFFD (see
``etl.models``), and raw payloads (``v1_raw``, ``v2_raw``) passed through ``storable_raw``, so
that they are valid JSON that PostgreSQL's ``jsonb`` and SQLite's JSON functions take as they are:

* a string or object key that contains NUL or a lone surrogate, or that starts with
  ``RAW_ESCAPE`` ("␀json:"), becomes ``RAW_ESCAPE`` followed by the JSON text of the original
  string (NUL as ``\\u0000``, a lone surrogate as ``\\udXXX``);
* a number that ``jsonb`` would not give back as it came becomes ``RAW_ESCAPE`` followed by its
  JSON text: NaN and ±Infinity (``NaN``/``Infinity``/``-Infinity``: not JSON), ``-0.0``
  (``numeric`` has no negative zero) and a float of magnitude 1e16 or more (written ``1e+16``,
  read back by ``numeric`` as the integer ``10000000000000000``). Everything else is left alone,
  so an ordinary payload is stored exactly as sent. ``restore_raw`` undoes it:
  ``restore_raw(storable_raw(x)) == x`` for every payload within the limits, floats staying
  floats. (``jsonb`` keeps one copy of each key and its own key order; a JSON object has no
  other meaning.)
* a payload beyond the limits (only a quarantined one can be) is stored as
  ``{"␀cut": reason, "excerpt": the first EXCERPT_CHARS of its JSON text}``: bounded, lossy.

``payload_hash`` is computed on the payload as the API sent it (never on the stored form), with
the same text as ever for ordinary payloads, and without recursion for deep ones.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import reprlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from etl import jsontext
from etl.errors import InvalidItem
from etl.source.models import UNSTORABLE, Rule, V1Job, V2Job, storable_text, unmapped_fields

# -- limits: generous for real jobs, fatal for absurd ones ------------------------------------------

#: Highest page number; far beyond any real document ("1-999999999" must not explode into rows).
MAX_PAGE_NUMBER = 100_000
#: Distinct target pages of one job (rows of classify_target_pages).
MAX_TARGET_PAGES = 10_000
#: Length of v2's target_pages string.
MAX_TARGET_PAGES_CHARS = 100_000
#: Rules of one job (the API documents "at least one"; real jobs have a handful).
MAX_RULES = 1_000
#: Strings that land in indexed columns: job id, project id, rule type, result type.
MAX_KEY_CHARS = 512
#: Any one string (or object key) of a payload: a 1 MB reasoning loads, 2 M characters do not.
MAX_TEXT_CHARS = 2_000_000
#: All strings and keys of one payload together.
MAX_PAYLOAD_CHARS = 4_000_000
#: Values (objects, arrays and scalars) in one payload; 1,000 rules are ~3,000.
MAX_PAYLOAD_VALUES = 200_000
#: Nesting of objects and arrays; our payloads need 4 levels.
MAX_DEPTH = 200
#: Credits of one job, either kind.
MAX_CREDITS = Decimal(10**12)

#: Prefix of a raw-payload string that stands for an unstorable value (see the module docstring).
RAW_ESCAPE = "\u2400json:"
#: Key of the stand-in stored for a payload beyond the limits.
RAW_CUT = "\u2400cut"
#: How much of such a payload's JSON text the stand-in keeps.
EXCERPT_CHARS = 10_000

V1_STATUS = {
    "PENDING": "pending",
    "SUCCESS": "completed",
    "ERROR": "failed",
    "PARTIAL_SUCCESS": "partial",
    "CANCELLED": "cancelled",
}
V2_STATUS = {
    "PENDING": "pending",
    "RUNNING": "running",
    "COMPLETED": "completed",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
}

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = _SHOW.maxlong = 80
_SHOW.maxlist = _SHOW.maxdict = 5
_SURROGATE = re.compile("[\ud800-\udfff]")


def _show(value: Any) -> str:
    """A short, storable rendering of an offending value for a quarantine reason."""
    try:
        return _SHOW.repr(value)
    except ValueError:  # an int too long for str()
        return f"<{type(value).__name__}>"


def _page_number(digits: str) -> int:
    # More digits than MAX_PAGE_NUMBER has cannot be a page; int() of them could be slow or refused.
    return int(digits) if len(digits) <= len(str(MAX_PAGE_NUMBER)) else MAX_PAGE_NUMBER + 1


def parse_target_pages(value: str) -> list[int]:
    """Parse v2's 1-based "1,3,5-7" into sorted unique page numbers; raise ValueError if malformed
    or if it names more than MAX_TARGET_PAGES pages."""
    if len(value) > MAX_TARGET_PAGES_CHARS:
        raise ValueError(
            f"malformed target_pages {_show(value)}: more than {MAX_TARGET_PAGES_CHARS} characters"
        )
    pages: set[int] = set()
    for part in value.split(","):
        match = _RANGE.match(part)
        if not match:
            raise ValueError(f"malformed target_pages {_show(value)}: bad part {_show(part.strip())}")
        first = _page_number(match.group(1))
        last = _page_number(match.group(2) or match.group(1))
        if first < 1 or last < first or last > MAX_PAGE_NUMBER:
            raise ValueError(f"malformed target_pages {_show(value)}: bad range {_show(part.strip())}")
        pages.update(range(first, last + 1))
        if len(pages) > MAX_TARGET_PAGES:
            raise ValueError(f"malformed target_pages {_show(value)}: more than {MAX_TARGET_PAGES} pages")
    return sorted(pages)


def v1_target_pages(value: list[int]) -> list[int]:
    """v1's 0-based page list as sorted unique 1-based page numbers; raise ValueError if a page is
    negative or past MAX_PAGE_NUMBER, or if there are more than MAX_TARGET_PAGES of them."""
    if any(isinstance(p, bool) or p < 0 or p >= MAX_PAGE_NUMBER for p in value):
        raise ValueError(f"malformed target_pages {_show(value)}: pages are 0-based and non-negative")
    pages = {p + 1 for p in value}
    if len(pages) > MAX_TARGET_PAGES:
        raise ValueError(f"malformed target_pages {_show(value)}: more than {MAX_TARGET_PAGES} pages")
    return sorted(pages)


# -- walking payloads without recursion --------------------------------------------------------------

_Link = tuple[Any, Any] | None  # (parent link, key): the path to a value, built only on failure


def _path(link: _Link) -> str:
    parts: list[str] = []
    while link is not None:
        link, key = link
        parts.append(_show(key) if isinstance(key, str) and not key.isidentifier() else str(key))
    parts.reverse()
    if len(parts) > 8:
        parts[4:-3] = [f"...({len(parts) - 7} levels)..."]
    return ".".join(parts) or "item"


_RAW_ESCAPE_UTF8 = RAW_ESCAPE.encode()
#: Floats at least this large are integers that ``repr`` writes with an exponent (``1e+16``).
_EXPONENT_FLOAT = 1e16
#: In orjson's compact text, a number that may be one ``_unkept_float`` is true of (a false match,
#: inside a string, only costs the slow survey): ``-0.0``, or digits with a positive exponent.
_UNKEPT_FLOAT_TEXT = re.compile(rb"(?:^|[:,\[])(?:-0\.0(?:[,\]}]|$)|-?\d+(?:\.\d+)?e\+?\d)")


def _needs_escape(text: str) -> bool:
    return text.startswith(RAW_ESCAPE) or UNSTORABLE.search(text) is not None


def _unkept_float(value: Any) -> bool:
    """A float that JSON with jsonb's ``numeric`` numbers would not give back equal and a float:
    NaN, ±Infinity, -0.0, or 1e16 and beyond."""
    return isinstance(value, float) and (
        not abs(value) < _EXPONENT_FLOAT or (value == 0.0 and math.copysign(1.0, value) < 0)
    )


@dataclass
class _Survey:
    """What one walk of a payload found: the first limit it breaks, and whether it needs escaping."""

    broken: str | None = None
    escapes: bool = False


def _quick_survey(raw: Any) -> _Survey | None:
    """The common case at C speed: a payload whose JSON text proves it within every limit and in
    need of no escape (each count below over-estimates what it bounds); None when it cannot.

    orjson's text: it refuses what would need an escape or a closer look (a lone surrogate, a
    ``NonFinite``, an integer beyond 64 bits, a subclass); a plain float NaN, which it would write as
    null, does not read back equal (the slow survey then escapes it)."""
    try:
        text = orjson.dumps(raw, option=orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME)
        if orjson.loads(text) != raw:
            return None
    except (orjson.JSONEncodeError, orjson.JSONDecodeError):
        return None
    containers = text.count(b"[") + text.count(b"{")
    if (
        len(text) > MAX_TEXT_CHARS  # bytes: at least the characters
        or containers > MAX_DEPTH
        or 1 + containers + text.count(b",") + text.count(b":") > MAX_PAYLOAD_VALUES
        or b"\\u0000" in text
        or _RAW_ESCAPE_UTF8 in text
        or _UNKEPT_FLOAT_TEXT.search(text) is not None
    ):
        return None
    return _Survey()


class _Memo:
    """Results for payloads still referenced here, keyed by identity: a page's payloads pass the
    survey and the hash twice (read, then rows; the second use takes the entry out). Payloads are
    never modified once parsed, and the entry keeps its payload alive, so an id cannot be reused
    while it is here. Bounded: cleared when full, so the payloads of unchanged jobs (read, never
    made rows) are not kept for long; a miss only costs the work again."""

    def __init__(self, size: int = 1024) -> None:
        self._entries: dict[int, tuple[Any, Any]] = {}
        self._size = size

    def get(self, raw: Any, *, take: bool = False) -> Any:
        hit = self._entries.pop(id(raw), None) if take else self._entries.get(id(raw))
        return hit[1] if hit is not None and hit[0] is raw else None

    def put(self, raw: Any, value: Any) -> Any:
        if isinstance(raw, dict | list):  # only containers: small values are cheap and may be shared
            if len(self._entries) >= self._size:
                self._entries.clear()
            self._entries[id(raw)] = (raw, value)
        return value


_SURVEYS, _HASHES = _Memo(), _Memo()


def _survey(raw: Any, *, last_use: bool = False) -> _Survey:
    """Check a payload against the limits (stopping at the first one broken) and notice anything
    ``storable_raw`` must escape. Iterative: a deep payload costs no recursion."""
    known: _Survey | None = _SURVEYS.get(raw, take=last_use)
    if known is not None:
        return known
    survey = _quick_survey(raw) or _slow_survey(raw)
    return survey if last_use else _SURVEYS.put(raw, survey)


def _slow_survey(raw: Any) -> _Survey:
    survey = _Survey()
    values = chars = 0
    stack: list[tuple[Any, int, _Link]] = [(raw, 0, None)]
    while stack:
        value, depth, link = stack.pop()
        values += 1
        if depth > MAX_DEPTH:
            survey.broken = f"{_path(link)}: nested deeper than {MAX_DEPTH} levels"
            return survey
        if isinstance(value, str):
            keys: Any = (value,)
        elif isinstance(value, dict | list):
            if values + len(value) > MAX_PAYLOAD_VALUES:
                survey.broken = f"{_path(link)}: more than {MAX_PAYLOAD_VALUES} values in the payload"
                return survey
            if isinstance(value, list):
                stack.extend((child, depth + 1, (link, i)) for i, child in enumerate(value))
                continue
            stack.extend((child, depth + 1, (link, key)) for key, child in value.items())
            keys = value
        else:
            survey.escapes = survey.escapes or _unkept_float(value)
            continue
        for text in keys:
            if not isinstance(text, str):
                continue
            chars += len(text)
            if len(text) > MAX_TEXT_CHARS or chars > MAX_PAYLOAD_CHARS:
                where = _path(link if text is value else (link, "<key>"))
                survey.broken = (
                    f"{where}: a string of {len(text)} characters, more than {MAX_TEXT_CHARS} "
                    f"(got {_show(text)})"
                    if len(text) > MAX_TEXT_CHARS
                    else f"{where}: more than {MAX_PAYLOAD_CHARS} characters of text in the payload"
                )
                return survey
            survey.escapes = survey.escapes or _needs_escape(text)
    return survey


def check_depth(raw: Any, limit: int = MAX_DEPTH) -> None:
    """Raise InvalidItem if ``raw`` nests objects/arrays deeper than ``limit`` levels (no recursion)."""
    stack: list[tuple[Any, int]] = [(raw, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            raise InvalidItem(f"payload nested deeper than {limit} levels", job_id=_raw_id(raw))
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


class _Text(str):
    """A piece of already-encoded JSON text on ``_json_chunks``' stack."""


def _json_chunks(raw: Any) -> Iterator[str]:
    """The text of ``json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)``, in
    pieces and without recursion, so that any depth can be hashed or excerpted."""
    stack: list[Any] = [raw]
    while stack:
        value = stack.pop()
        if isinstance(value, _Text):
            yield str(value)
        elif isinstance(value, dict):
            items = sorted((_json_key(k), v) for k, v in value.items())
            seq: list[Any] = [_Text("{")]
            for i, (key, child) in enumerate(items):
                seq += [_Text(("," if i else "") + json.dumps(key) + ":"), child]
            stack.extend(reversed([*seq, _Text("}")]))
        elif isinstance(value, list | tuple):
            seq = [_Text("[")]
            for i, child in enumerate(value):
                seq += [_Text(",")] if i else []
                seq.append(child)
            stack.extend(reversed([*seq, _Text("]")]))
        elif isinstance(value, str | int | float) or value is None:
            yield json.dumps(value)
        else:
            yield json.dumps(str(value))


def _json_key(key: Any) -> str:
    # As json.dumps turns a non-string key into one.
    return (
        key
        if isinstance(key, str)
        else json.dumps(key)
        if key is None or isinstance(key, bool | float)
        else str(key)
    )


def payload_hash(raw: Any, *, last_use: bool = False) -> str:
    """A stable fingerprint of a payload, to notice a change that did not move ``updated_at``.

    The JSON text hashed is ASCII (``ensure_ascii``), so lone surrogates hash as ``\\udXXX``;
    a payload too deep for ``json.dumps`` gets the same text from an iterative encoder."""
    known: str | None = _HASHES.get(raw, take=last_use)
    if known is not None:
        return known
    try:
        text = jsontext.sorted_ascii(raw)
    except RecursionError:
        text = "".join(_json_chunks(raw)).encode()
    digest = hashlib.sha256(text).hexdigest()[:32]
    return digest if last_use else _HASHES.put(raw, digest)


# -- raw payloads the databases can store -------------------------------------------------------------


def _escape(text: str) -> str:
    if not _needs_escape(text):
        return text
    literal = json.dumps(text, ensure_ascii=False)  # NUL and other controls as \uXXXX
    return RAW_ESCAPE + _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", literal)


def _escape_leaf(value: Any) -> Any:
    if isinstance(value, str):
        return _escape(value)
    if _unkept_float(value):
        return RAW_ESCAPE + json.dumps(value)
    return value


def _restore(text: Any) -> Any:
    if isinstance(text, str) and text.startswith(RAW_ESCAPE):
        return jsontext.loads(text[len(RAW_ESCAPE) :])
    return text


def _rebuild(raw: Any, leaf: Any, key: Any) -> Any:
    """A copy of ``raw`` with ``leaf`` applied to every scalar and ``key`` to every object key;
    iterative, and keeping key order."""
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(raw, root, 0)]
    while stack:
        value, parent, slot = stack.pop()
        if isinstance(value, dict):
            obj: dict[Any, Any] = {}
            for k, child in value.items():
                new_key = key(k)
                obj[new_key] = None
                stack.append((child, obj, new_key))
            parent[slot] = obj
        elif isinstance(value, list):
            arr: list[Any] = [None] * len(value)
            stack.extend((child, arr, i) for i, child in enumerate(value))
            parent[slot] = arr
        else:
            parent[slot] = leaf(value)
    return root[0]


def storable_raw(raw: Any) -> Any:
    """``raw`` (any JSON value) in a form both databases store as JSON/JSONB: strings and keys
    with NUL or lone surrogates, and non-finite numbers, escaped reversibly (``restore_raw``);
    a payload beyond the limits replaced by a bounded excerpt. Never raises, never recurses:
    call it on whatever goes into a raw column, quarantine rows included."""
    survey = _survey(raw, last_use=True)
    if survey.broken is not None:
        excerpt: list[str] = []
        size = 0
        for chunk in _json_chunks(raw):
            excerpt.append(chunk[: EXCERPT_CHARS - size])
            size += len(excerpt[-1])
            if size >= EXCERPT_CHARS:
                break
        return {RAW_CUT: storable_text(survey.broken), "excerpt": storable_text("".join(excerpt))}
    if not survey.escapes:
        return raw
    return _rebuild(raw, _escape_leaf, lambda k: _escape(k) if isinstance(k, str) else k)


def restore_raw(stored: Any) -> Any:
    """Undo ``storable_raw``: the payload as the API sent it, from a raw column's value."""
    return _rebuild(stored, _restore, _restore)


# -- validation ----------------------------------------------------------------------------------


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "item"
        parts.append(f"{loc}: {err['msg']} (got {_show(err.get('input'))})")
    return "; ".join(parts)


def _raw_id(raw: Any) -> str | None:
    """The record's id if it can name a quarantine row (storable, not too long)."""
    if isinstance(raw, dict):
        job_id = raw.get("id")
        if isinstance(job_id, str) and 0 < len(job_id) <= MAX_KEY_CHARS and not UNSTORABLE.search(job_id):
            return job_id
    return None


def _too_long(where: str, value: str | None) -> str | None:
    if value is not None and len(value) > MAX_KEY_CHARS:
        return f"{where}: {len(value)} characters, more than {MAX_KEY_CHARS} (got {_show(value)})"
    return None


def _credits_problem(where: str, value: Decimal | None) -> str | None:
    if value is not None and not Decimal(0) <= value <= MAX_CREDITS:
        return f"{where}: credits must be between 0 and {MAX_CREDITS} (got {_show(value)})"
    return None


def _common_problems(job: V1Job | V2Job, rules_at: str, rules: list[Rule]) -> list[str | None]:
    problems = [_too_long("id", job.id), _too_long("project_id", job.project_id)]
    return problems + [_too_long(f"{rules_at}.{i}.type", r.type) for i, r in enumerate(rules)]


def _v1_problems(job: V1Job) -> list[str | None]:
    cfg = job.parsing_configuration
    if cfg is not None and cfg.target_pages is not None:
        v1_target_pages(cfg.target_pages)
    return _common_problems(job, "rules", job.rules)


def _v2_problems(job: V2Job) -> list[str | None]:
    cfg = job.configuration.parsing_configuration
    if cfg is not None and cfg.target_pages is not None:
        parse_target_pages(cfg.target_pages)
    problems = _common_problems(job, "configuration.rules", job.configuration.rules)
    if job.result is not None:
        problems.append(_too_long("result.type", job.result.type))
    if job.usage is not None:
        problems.append(_credits_problem("usage.credits", job.usage.credits))
        problems.append(_credits_problem("usage.parse_credits", job.usage.parse_credits))
    return problems


def _rule_count(raw: Any, rules_at: tuple[str, ...]) -> str | None:
    # Before validation, so that 100,000 rules are refused without building 100,000 models.
    for key in rules_at:
        raw = raw.get(key) if isinstance(raw, dict) else None
    if isinstance(raw, list) and len(raw) > MAX_RULES:
        return f"{'.'.join(rules_at)}: {len(raw)} rules, more than {MAX_RULES}"
    return None


_Job = TypeVar("_Job", V1Job, V2Job)


def _storable_strings(value: Any, *, top: bool = True) -> Any:
    """``value`` with every string made storable (``storable_text``), but the top-level ``id``.
    Recursive: called only on a payload the survey bounded to ``MAX_DEPTH`` levels."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return [_storable_strings(v, top=False) for v in value]
    if isinstance(value, dict):
        return {k: v if top and k == "id" else _storable_strings(v, top=False) for k, v in value.items()}
    return value


def _parse(
    raw: Any,
    version: str,
    model: type[_Job],
    rules_at: tuple[str, ...],
    checks: Callable[[_Job], list[str | None]],
) -> _Job:
    job_id = _raw_id(raw)
    try:
        survey = _survey(raw)
        problem = _rule_count(raw, rules_at) or survey.broken
        if problem is None:
            # The models take text as it is: only a payload the survey found NUL or a lone surrogate
            # in has its strings made storable first (the job id excepted: it must be storable as sent).
            job = model.model_validate(_storable_strings(raw) if survey.escapes else raw)
            problem = "; ".join(p for p in checks(job) if p)
            if not problem:
                return job
    except (ValidationError, ValueError) as exc:
        problem = _describe(exc) if isinstance(exc, ValidationError) else str(exc)
    raise InvalidItem(storable_text(f"{version} job {job_id or '<no id>'}: {problem}"), job_id=job_id)


def parse_v1(raw: Any) -> V1Job:
    """Validate a v1 list item, or raise InvalidItem naming the job, the field and the bad value
    (limits and checks: see the module docstring)."""
    return _parse(raw, "v1", V1Job, ("rules",), _v1_problems)


def parse_v2(raw: Any) -> V2Job:
    """Validate a v2 job, or raise InvalidItem naming the job, the field and the bad value
    (limits and checks: see the module docstring)."""
    return _parse(raw, "v2", V2Job, ("configuration", "rules"), _v2_problems)


def canonical_status(v1_status: str | None, v2_status: str | None) -> str:
    """Reconcile the two status vocabularies into pending/running/completed/partial/failed/cancelled."""
    if v2_status is not None:
        if v2_status == "COMPLETED" and v1_status == "PARTIAL_SUCCESS":
            return "partial"
        return V2_STATUS[v2_status]
    if v1_status is None:
        raise ValueError("a job needs a v1 or a v2 status")
    return V1_STATUS[v1_status]


@dataclass
class JobRows:
    """Everything one job contributes to the tables."""

    job: dict[str, Any]
    rules: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] | None = None
    pages: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    #: (endpoint, path) of each field of its payloads that the models do not declare
    #: (``etl.source.models.unmapped_fields``): kept in the raw JSON, no column maps it.
    unmapped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def job_id(self) -> str:
        return str(self.job["id"])


_V1_EMPTY = dict.fromkeys(
    (
        "v1_status",
        "v1_mode",
        "v1_user_id",
        "v1_project_id",
        "v1_created_at",
        "v1_updated_at",
        "v1_effective_at",
        "v1_error_message",
        "v1_job_record_id",
        "v1_raw",
        "v1_hash",
    )
)
_V2_EMPTY = dict.fromkeys(
    (
        "v2_status",
        "v2_mode",
        "v2_document_input_type",
        "v2_file_input",
        "v2_parse_job_id",
        "v2_configuration_id",
        "v2_transaction_id",
        "v2_error_message",
        "v2_created_at",
        "v2_updated_at",
        "v2_raw",
        "v2_usage_credits",
        "v2_usage_parse_credits",
    )
)


def _v1_columns(v1: V1Job, raw: Any) -> dict[str, Any]:
    return {
        "v1_status": v1.status,
        "v1_mode": v1.mode,
        "v1_user_id": v1.user_id,
        "v1_project_id": v1.project_id,
        "v1_created_at": v1.created_at,
        "v1_updated_at": v1.updated_at,
        "v1_effective_at": v1.effective_at,
        "v1_error_message": v1.error_message,
        "v1_job_record_id": v1.job_record_id,
        "v1_raw": storable_raw(raw),
        "v1_hash": payload_hash(raw, last_use=True),
    }


def _v2_columns(v2: V2Job, raw: Any) -> dict[str, Any]:
    return {
        "v2_status": v2.status,
        "v2_mode": v2.configuration.mode,
        "v2_document_input_type": v2.document_input_type,
        "v2_file_input": v2.file_input,
        "v2_parse_job_id": v2.parse_job_id,
        "v2_configuration_id": v2.configuration_id,
        "v2_transaction_id": v2.transaction_id,
        "v2_error_message": v2.error_message,
        "v2_created_at": v2.created_at,
        "v2_updated_at": v2.updated_at,
        "v2_raw": storable_raw(raw),
        "v2_usage_credits": v2.usage.credits if v2.usage else None,
        "v2_usage_parse_credits": v2.usage.parse_credits if v2.usage else None,
    }


def _rules(job_id: str, rules: list[Rule]) -> list[dict[str, Any]]:
    return [
        {"job_id": job_id, "position": i, "type": r.type, "description": r.description}
        for i, r in enumerate(rules)
    ]


def build_rows(
    *,
    v1: V1Job | None,
    v1_raw: Any,
    v2: V2Job | None,
    v2_raw: Any,
    hydration_status: str,
    hydration_error: str | None,
    now: datetime,
) -> JobRows:
    """Normalize one job from its v1 list item and/or its v2 payload into table rows."""
    if v1 is None and v2 is None:
        raise ValueError("build_rows needs a v1 item or a v2 payload")
    job_id = v2.id if v2 is not None else v1.id  # type: ignore[union-attr]
    job: dict[str, Any] = {"id": job_id}
    job.update(_v1_columns(v1, v1_raw) if v1 is not None else _V1_EMPTY)
    job.update(_v2_columns(v2, v2_raw) if v2 is not None else _V2_EMPTY)
    job["status"] = canonical_status(v1.status if v1 else None, v2.status if v2 else None)
    if v2 is not None:
        job.update(
            project_id=v2.project_id,
            user_id=v2.user_id,
            mode=v2.configuration.mode or (v1.mode if v1 else None),
            error_message=v2.error_message,
            created_at=v2.created_at,
            updated_at=v2.updated_at,
        )
    else:
        assert v1 is not None
        job.update(
            project_id=v1.project_id,
            user_id=v1.user_id,
            mode=v1.mode,
            error_message=v1.error_message,
            created_at=v1.created_at,
            updated_at=v1.updated_at,
        )
    job.update(
        first_seen_at=now,
        hydrated_at=now if v2 is not None else None,
        hydration_status=hydration_status,
        hydration_error=hydration_error,
    )
    rows = JobRows(job=job)
    rows.unmapped = [("v1", p) for p in unmapped_fields(v1)] if v1 is not None else []
    if v2 is not None:
        rows.unmapped += [("v2", p) for p in unmapped_fields(v2)]

    if v2 is not None:
        rows.rules = _rules(job_id, v2.configuration.rules)
        cfg2 = v2.configuration.parsing_configuration
        if cfg2 is not None:
            pages = parse_target_pages(cfg2.target_pages) if cfg2.target_pages is not None else []
            rows.config = {
                "job_id": job_id,
                "lang": cfg2.lang,
                "max_pages": cfg2.max_pages,
                "target_pages": cfg2.target_pages,
                "target_pages_source": "v2" if cfg2.target_pages is not None else None,
            }
            rows.pages = [{"job_id": job_id, "page_number": p} for p in pages]
        if v2.result is not None:
            rows.result = {
                "job_id": job_id,
                "type": v2.result.type,
                "confidence": v2.result.confidence,
                "reasoning": v2.result.reasoning,
            }
    else:
        assert v1 is not None
        rows.rules = _rules(job_id, v1.rules)
        cfg1 = v1.parsing_configuration
        if cfg1 is not None:
            tp = cfg1.target_pages
            rows.config = {
                "job_id": job_id,
                "lang": cfg1.lang,
                "max_pages": cfg1.max_pages,
                "target_pages": json.dumps(tp, separators=(",", ":")) if tp is not None else None,
                "target_pages_source": "v1" if tp is not None else None,
            }
            rows.pages = [{"job_id": job_id, "page_number": p} for p in v1_target_pages(tp or [])]
    return rows
