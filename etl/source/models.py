"""Pydantic models of both endpoints' payloads.

Tolerant of new fields (``extra="allow"``; the raw JSON is stored anyway) and strict about
the ones we rely on: an unknown status or mode, a bad timestamp or a missing id is a
validation error that sends the record to quarantine rather than into the tables.

Strict where lax coercion would change a value's meaning:

* numbers are numbers: a JSON ``true`` is never ``max_pages = 1``, ``confidence = 1.0`` or
  page 2, and a numeric string is not a number either;
* strings are strings (an id of ``5`` is not ``"5"``); ``id``, ``project_id`` and ``user_id``
  are non-empty;
* timestamps are ISO 8601 strings (not Unix seconds) that stay within years 1-9999 once
  converted to UTC;
* integers that land in an ``Integer`` column (``max_pages``) fit PostgreSQL's signed 32 bits;
* ``confidence`` is a finite number in [0, 1]; credits are finite and exact (``Decimal``,
  built from the digits the API sent: a JSON ``12.34`` is ``Decimal("12.34")``, never the
  binary float's expansion);
* ``lang`` fits its ``String(16)`` column.

Storable text: every string that reaches a text column has NUL and lone surrogates (valid JSON,
not valid UTF-8) replaced by U+FFFD, which neither PostgreSQL nor SQLite can store otherwise.
The job ``id`` is the exception: it is a primary key and goes back into request URLs, so an id
that is not storable as sent is rejected rather than altered.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict

#: The range of an ``Integer`` column on PostgreSQL (signed 32-bit).
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
#: Width of ``classify_jobs.lang`` (``String(16)``).
LANG_MAX_CHARS = 16

#: What neither database stores in text: NUL, and UTF-16 surrogates (in a Python ``str`` they
#: are always lone: ``json.loads`` joins a valid pair into one character).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(value: str) -> str:
    """``value`` with NUL and lone surrogates replaced by U+FFFD (the same length)."""
    return UNSTORABLE.sub("\ufffd", value)


# Text reaches the models storable already: ``normalize._parse`` replaces NUL and lone surrogates
# (which pydantic's own str check refuses outright) in the payloads its survey finds them in. The
# job id alone is not replaced: it must be storable as sent. This runs before pydantic's str check.
def _storable_id(value: Any) -> Any:
    if isinstance(value, str) and UNSTORABLE.search(value):
        raise ValueError("an id must be storable as sent: it contains NUL or a lone surrogate")
    return value


def _iso_text(value: Any) -> Any:
    # pydantic would read a number as Unix seconds (or milliseconds, by its size): a guess.
    if not isinstance(value, str | datetime):
        raise ValueError("a timestamp must be an ISO 8601 string")
    return value


def _as_utc(value: datetime) -> datetime:
    # The API sends "...Z"; a naive timestamp is taken to be UTC rather than local time.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside years 1-9999 once converted to UTC") from None


def _exact_decimal(value: Any) -> Any:
    if value is None or isinstance(value, Decimal):
        pass
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("credits must be a number")
    else:
        # str() of a float is the shortest text that reads back as it: the digits the API sent.
        value = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if value is not None and not value.is_finite():
        raise ValueError("credits must be finite")
    return value


#: Text bound for a text column (made storable before validation: NUL and lone surrogates are U+FFFD).
StorableStr = Annotated[str, Strict()]
#: A required id: a non-empty string, made storable before validation.
RequiredId = Annotated[str, Strict(), Field(min_length=1)]
#: The job id: non-empty and storable exactly as sent.
JobId = Annotated[str, Strict(), Field(min_length=1), BeforeValidator(_storable_id)]
Lang = Annotated[str, Strict(), Field(max_length=LANG_MAX_CHARS)]
Int32 = Annotated[int, Strict(), Field(ge=INT32_MIN, le=INT32_MAX)]
PageIndex = Annotated[int, Strict()]
Confidence = Annotated[float, Strict(), Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Credits = Annotated[Decimal, BeforeValidator(_exact_decimal)]
UtcDatetime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_as_utc)]

V1Status = Literal["PENDING", "SUCCESS", "ERROR", "PARTIAL_SUCCESS", "CANCELLED"]
V2Status = Literal["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"]


class _ApiModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Rule(_ApiModel):
    type: StorableStr
    description: StorableStr


class V1ParsingConfiguration(_ApiModel):
    lang: Lang | None = None
    max_pages: Int32 | None = None
    target_pages: list[PageIndex] | None = None


class V1Job(_ApiModel):
    """An item of ``GET /api/v1/classifier/jobs``."""

    id: JobId
    project_id: RequiredId
    rules: list[Rule]
    status: V1Status
    user_id: RequiredId
    created_at: UtcDatetime | None = None
    effective_at: UtcDatetime | None = None
    error_message: StorableStr | None = None
    job_record_id: StorableStr | None = None
    mode: Literal["FAST", "MULTIMODAL"] | None = None
    parsing_configuration: V1ParsingConfiguration | None = None
    updated_at: UtcDatetime | None = None


class V2ParsingConfiguration(_ApiModel):
    lang: Lang | None = None
    max_pages: Int32 | None = None
    target_pages: StorableStr | None = None


class V2Configuration(_ApiModel):
    rules: list[Rule]
    mode: Literal["FAST"] | None = None
    parsing_configuration: V2ParsingConfiguration | None = None


class V2Result(_ApiModel):
    confidence: Confidence
    reasoning: StorableStr
    type: StorableStr | None = None


class V2Usage(_ApiModel):
    credits: Credits | None = None
    parse_credits: Credits | None = None


class V2Job(_ApiModel):
    """``GET /api/v2/classify/{id}`` and an item of ``GET /api/v2/classify``."""

    id: JobId
    configuration: V2Configuration
    document_input_type: Literal["url", "file_id", "parse_job_id"]
    file_input: StorableStr
    project_id: RequiredId
    status: V2Status
    user_id: RequiredId
    configuration_id: StorableStr | None = None
    created_at: UtcDatetime | None = None
    error_message: StorableStr | None = None
    parse_job_id: StorableStr | None = None
    result: V2Result | None = None
    transaction_id: StorableStr | None = None
    updated_at: UtcDatetime | None = None
    usage: V2Usage | None = None


class Page(BaseModel):
    """One page of a list endpoint; items stay raw so a bad one can be quarantined as sent."""

    items: list[Any]
    next_page_token: str | None = None
    total_size: int | None = None


# -- fields the models do not declare ---------------------------------------------------------------

#: Undeclared fields reported for one payload, at most (a hostile payload may have thousands).
MAX_UNMAPPED = 16
#: A reported path's length, at most (keys are up to 2 M characters).
MAX_PATH_CHARS = 200
#: The model of each endpoint's payload, as ``unmapped_fields`` and ``declared`` name them.
ENDPOINT_MODELS: dict[str, type[BaseModel]] = {"v1": V1Job, "v2": V2Job}


@cache
def _nested(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The fields of ``model`` that hold a model (alone, optional, or in a list): name → its model."""
    out: dict[str, type[BaseModel]] = {}
    for name, info in model.model_fields.items():
        todo: list[Any] = [info.annotation]
        while todo:
            hint = todo.pop()
            if isinstance(hint, type) and issubclass(hint, BaseModel):
                out[name] = hint
            else:
                todo.extend(get_args(hint))
    return out


def unmapped_fields(payload: BaseModel) -> list[str]:
    """The paths of the fields of a validated payload that its model does not declare:
    ``usage.new_thing``, ``configuration.rules[].weight`` (in a list's items), sorted, at most
    ``MAX_UNMAPPED``. They are what pydantic kept aside while validating (``extra="allow"``), so
    finding them reads a few small dicts, never the payload; an undeclared field's own contents
    are not looked into."""
    found: set[str] = set()
    stack: list[tuple[BaseModel, str]] = [(payload, "")]
    while stack and len(found) < MAX_UNMAPPED:
        model, prefix = stack.pop()
        for key in model.__pydantic_extra__ or ():
            found.add(storable_text(prefix + key)[:MAX_PATH_CHARS])
            if len(found) >= MAX_UNMAPPED:
                break
        for name in _nested(type(model)):
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                stack.append((value, f"{prefix}{name}."))
            elif isinstance(value, list):
                stack.extend((v, f"{prefix}{name}[].") for v in value if isinstance(v, BaseModel))
    return sorted(found)


def declared(endpoint: str, path: str) -> bool:
    """Whether the model of ``endpoint`` (``v1``, ``v2``) declares the field at ``path`` (as
    ``unmapped_fields`` writes it): a field a later release maps is no longer reported."""
    model: type[BaseModel] | None = ENDPOINT_MODELS.get(endpoint)
    parts = path.split(".")
    for i, part in enumerate(parts):
        name = part.removesuffix("[]")
        if model is None or name not in model.model_fields:
            return False
        if i < len(parts) - 1:
            model = _nested(model).get(name)
    return True
