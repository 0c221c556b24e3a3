"""Settings from flags, environment and a TOML file (flag > environment > file > default).

Every setting is declared once, as a field of ``Settings`` made with ``setting()``: its name (the
field, also the TOML key), its type (the annotation and the parser), its default, its environment
variable and its help. ``etl/cli.py`` derives the click options from these fields, click reads the
environment and the TOML file (as its ``default_map``) through the same parsers, and ``Settings``
parses again in ``__post_init__``, so a value is validated the same way whichever way it came.

To add a setting: add a field here with ``setting(...)``, and name it in the command(s) of
``etl/cli.py`` that use it (``SYNC_SETTINGS`` ...). ``tests/test_settings.py`` then checks it as a
flag, an environment variable and a TOML key, and that a bad value is a one-line exit 2.

Built on demand, never at import; secrets are held as ``SecretStr``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

US_BASE_URL = "https://api.cloud.llamaindex.ai"
EU_BASE_URL = "https://api.cloud.eu.llamaindex.ai"
DEFAULT_DATABASE_URL = "sqlite:///classify_etl.db"
CONNECT_TIMEOUT = 5.0

Kind = Literal["value", "flag", "switch", "multiple"]


# -- parsers: each takes what a flag, the environment or TOML gives and returns the typed value, or
# raises ValueError with a message that completes "invalid value for --flag: ..." ---------------------

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: Any) -> timedelta:
    """``<n><unit>`` with unit s, m, h or d: ``90m``, ``6h``, ``2d``."""
    if isinstance(value, timedelta):
        return value
    m = _DURATION.match(str(value))
    if m is None:
        raise ValueError(f"{value!r} is not a duration such as 90m, 6h or 2d (units: s, m, h, d)")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _parse_instant(value: Any, *, end_of_day: bool) -> datetime | None:
    if value is None or isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, date) and not isinstance(value, datetime):  # a TOML date
        day = value
    else:
        text = str(value).strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
        else:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                parsed = None
            if parsed is None or parsed.tzinfo is None:
                raise ValueError(
                    f"{value!r} is neither a date (2025-01-31) nor an ISO 8601 time with an offset "
                    "(2025-01-31T12:00:00+00:00)"
                ) from None
            return parsed
    bound = time.max if end_of_day else time.min
    return datetime.combine(day, bound, tzinfo=UTC)


def parse_created_after(value: Any) -> datetime | None:
    """An ISO 8601 time with an offset, or a date: 00:00:00 UTC that day."""
    return _parse_instant(value, end_of_day=False)


def parse_created_before(value: Any) -> datetime | None:
    """An ISO 8601 time with an offset, or a date: the end of that day (UTC), inclusive."""
    return _parse_instant(value, end_of_day=True)


def _int_range(lo: int, hi: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not an integer") from None
        if number < lo or (hi is not None and number > hi):
            raise ValueError(f"{number} is not in the range {lo}–{hi}" if hi else f"{number} is below {lo}")
        return number

    return parse


def _optional_count(value: Any) -> int | None:
    return None if value is None else _int_range(1)(value)


def _positive_float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if not number > 0:
        raise ValueError(f"{number} is not above 0")
    return number


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    return parse


def _http_url(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError(f"{value!r} is not an http(s) URL, e.g. {US_BASE_URL}")
    return value.rstrip("/")


_IDENT = re.compile(r"^[\w.:-]+$")


def _ident(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _IDENT.match(value):
        raise ValueError(f"{value!r} is not an id (letters, digits, '.', ':', '_', '-')")
    return value


def _secret(value: Any) -> SecretStr | None:
    if value is None or isinstance(value, SecretStr):
        return value
    if not isinstance(value, str):
        raise ValueError("is not a string")
    return SecretStr(value)


#: The database URL schemes classify-etl works with (``etl/db.py`` maps them to drivers).
SUPPORTED_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg")
SUPPORTED_HINT = "sqlite:///path/to/file.db or postgresql+psycopg://user@host/db (postgresql:// works too)"


def _database_url(value: Any) -> SecretStr:
    url = _secret(value)
    if url is None or "://" not in url.get_secret_value():
        raise ValueError(f"is not a valid SQLAlchemy URL, such as {SUPPORTED_HINT}")
    scheme = url.get_secret_value().split("://", 1)[0]
    if scheme not in SUPPORTED_SCHEMES:
        # The scheme only: the rest of the URL may carry a password.
        raise ValueError(
            f"{scheme}:// is not supported: classify-etl works with SQLite and "
            f"PostgreSQL through psycopg 3, e.g. {SUPPORTED_HINT}"
        )
    return url


DEFAULT_DB_SCHEMA = "public"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def parse_db_schema(value: Any) -> str:
    """A PostgreSQL schema name classify-etl can always write unquoted and the same in every tool:
    lower case letters, digits and ``_``, not starting with a digit, at most 63 bytes (PostgreSQL
    truncates longer names silently), not a system schema (``pg_*``, ``information_schema``)."""
    if not isinstance(value, str) or not _SCHEMA_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a schema name classify-etl accepts: lower case letters, digits and '_', "
            "not starting with a digit (e.g. analytics_classify)"
        )
    if len(value) > 63:
        raise ValueError(f"{value!r} is longer than PostgreSQL's 63-character limit for names")
    if value.startswith("pg_") or value == "information_schema":
        raise ValueError(f"{value!r} is a name PostgreSQL reserves for its system schemas")
    return value


def _ids(value: Any) -> tuple[str, ...]:
    items = value.split() if isinstance(value, str) else list(value or ())
    out = tuple(_ident(v) for v in items)
    return tuple(v for v in out if v is not None)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"{value!r} is not true or false")


def _tristate(value: Any) -> bool | None:
    return None if value is None else _bool(value)


def _path(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or not Path(value).parent.is_dir():
        raise ValueError(f"{value!r} is not a file path in an existing directory")
    return value


# -- the declaration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """How one setting is spelled and parsed; the field it sits on gives its name and default."""

    help: str
    parse: Callable[[Any], Any]
    kind: Kind = "value"
    env: str | None = None  # None: CLASSIFY_ETL_<NAME>
    flag: str | None = None  # None: --<name with dashes>; for a switch "--x/--no-x"
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False
    shown_default: str | None = None  # the default as the help shows it, when not str(default)


def setting(default: Any, help: str, parse: Callable[[Any], Any], **spec: Any) -> Any:
    """A field of ``Settings``: its default and everything the CLI needs to read it."""
    return field(default=default, metadata={"setting": Spec(help=help, parse=parse, **spec)})


def one_of(default: str, help: str, *choices: str) -> Any:
    """A setting that takes one of a few words."""
    return setting(default, help, _choice(*choices), choices=choices)


@dataclass(frozen=True)
class Declared:
    """A setting as the CLI sees it: name, default, environment variable, flag, spec."""

    name: str
    default: Any
    env: str
    flag: str
    spec: Spec

    @property
    def toml_key(self) -> str:
        return self.name


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know. ``repr`` and logs never show the key or a DB password."""

    api_key: SecretStr | None = setting(
        None,
        "LlamaCloud API key (never logged, never stored).",
        _secret,
        env="LLAMA_CLOUD_API_KEY",
        secret=True,
    )
    base_url: str = setting(
        US_BASE_URL,
        f"API host; EU keys need {EU_BASE_URL}.",
        _http_url,
        env="LLAMA_CLOUD_BASE_URL",
    )
    database_url: SecretStr = setting(
        SecretStr(DEFAULT_DATABASE_URL),
        "SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db (postgresql:// uses psycopg 3).",
        _database_url,
        secret=True,
        shown_default=DEFAULT_DATABASE_URL,
    )
    db_schema: str = setting(
        DEFAULT_DB_SCHEMA,
        "PostgreSQL schema that holds every table, view, function and alembic_version "
        "(created if missing); SQLite has none.",
        parse_db_schema,
        metavar="NAME",
    )
    project_ids: tuple[str, ...] = setting(
        (),
        "Scope to a project (repeatable): one scope, with its own checkpoint, per project.",
        _ids,
        kind="multiple",
        flag="--project-id",
        metavar="ID",
    )
    organization_id: str | None = setting(
        None, "Scope to an organization (or the organization of the projects).", _ident
    )
    page_size: int = setting(100, "Jobs per list page, 1–100.", _int_range(1, 100))
    concurrency: int = setting(16, "v2 requests in flight while hydrating, 1–256.", _int_range(1, 256))
    max_retries: int = setting(
        5, "Retries per request (connection errors, timeouts, 408/409/429/5xx), 0–20.", _int_range(0, 20)
    )
    request_timeout: float = setting(
        60.0, "Read timeout per request, seconds (connect timeout 5 s).", _positive_float, shown_default="60"
    )
    max_requests_per_minute: int | None = setting(
        None,
        "The API plan's request budget: never more than N requests in any minute (all endpoints, "
        "retries included).",
        _optional_count,
        metavar="N",
    )
    insecure: bool = setting(
        False, "Do not verify TLS certificates (never in production).", _bool, kind="flag"
    )
    full_refresh: bool = setting(
        False, "Ignore the checkpoint and stored updated_at: re-hydrate all.", _bool, kind="flag"
    )
    list_source: str = one_of(
        "auto",
        "Job list: v1, v2, or auto (v1, moving a scope to v2 for good when v1 answers 404/405/410).",
        "auto",
        "v1",
        "v2",
    )
    log_format: str = one_of(
        "text",
        "json: one JSON object per line, on stderr and on stdout (a line per page, then a summary line).",
        "text",
        "json",
    )
    progress: bool | None = setting(
        None, "Progress bar (default: only on a terminal).", _tristate, kind="switch", shown_default="auto"
    )
    allow_mass_delete: bool = setting(
        False, "Mark jobs deleted even when a walk finds most of a scope gone.", _bool, kind="flag"
    )
    max_walk_pages: int = setting(
        0, "Stop a walk after this many pages (0: an automatic bound).", _int_range(0)
    )
    lookback: timedelta = setting(
        timedelta(days=1), "How far behind the newest stored job a walk looks again.", parse_duration
    )
    full_walk_every: timedelta = setting(
        timedelta(hours=24), "Walk each scope completely at least this often.", parse_duration
    )
    full_walk: bool = setting(False, "Walk every scope completely this run.", _bool, kind="flag")
    list_concurrency: int = setting(8, "List requests in flight, 1–64.", _int_range(1, 64))
    credits_lag: timedelta = setting(
        timedelta(days=3), "Fetch credits again for jobs finished within this long.", parse_duration
    )
    credits: bool = setting(True, "Fetch usage credits (expand=usage).", _bool, kind="switch")
    created_after: datetime | None = setting(
        None,
        "Only jobs created at or after this ISO 8601 time (with offset) or date (00:00 UTC).",
        parse_created_after,
        metavar="TIME",
    )
    created_before: datetime | None = setting(
        None,
        "Only jobs created at or before this ISO 8601 time (with offset) or date (its end, UTC).",
        parse_created_before,
        metavar="TIME",
    )
    ping_url: str | None = setting(
        None, "URL to GET after each successful run (a dead man's switch).", _http_url
    )
    notify_url: str | None = setting(None, "URL to POST the run summary to.", _http_url)
    notify_on: str = one_of(
        "failure",
        "When to POST to --notify-url: failure or always.",
        "failure",
        "always",
    )
    metrics_file: str | None = setting(
        None, "Write Prometheus text-format metrics of the run to this file.", _path, metavar="PATH"
    )

    def __post_init__(self) -> None:
        for name, spec in _specs().items():
            try:
                value = spec.parse(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"invalid value for {declared()[name].flag}: {exc}") from None
            object.__setattr__(self, name, value)

    @property
    def verify_tls(self) -> bool:
        return not self.insecure

    @property
    def connect_timeout(self) -> float:
        return CONNECT_TIMEOUT

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from a command's parameters (the others are ignored); ValueError on a bad one."""
        known = _specs()
        return cls(**{k: v for k, v in values.items() if k in known})


def _specs() -> dict[str, Spec]:
    return {f.name: _spec(f) for f in fields(Settings)}


def _spec(f: Field[Any]) -> Spec:
    spec = f.metadata["setting"]
    assert isinstance(spec, Spec)
    return spec


def declared() -> dict[str, Declared]:
    """Every setting, in declaration order, with its environment variable and flag resolved."""
    out = {}
    for f in fields(Settings):
        spec = _spec(f)
        assert f.default is not MISSING
        dashed = f.name.replace("_", "-")
        flag = spec.flag or (f"--{dashed}/--no-{dashed}" if spec.kind == "switch" else f"--{dashed}")
        out[f.name] = Declared(
            name=f.name,
            default=f.default,
            env=spec.env or f"CLASSIFY_ETL_{f.name.upper()}",
            flag=flag,
            spec=spec,
        )
    return out
