"""The ``classify-etl`` command line: thin commands that build settings, engine and client,
call ``sync``, and map errors to one-line messages and exit codes.

Start-up is kept short (cron runs it every few minutes, people run ``--help``): this module imports
click and ``etl.config`` only; each command imports what it needs when it runs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from etl.config import Declared, Settings, declared, format_duration
from etl.errors import AuthError, ConfigError, EtlError, LockedError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from etl.api import ClassifyApi
    from etl.prefetch import Prefetch
    from etl.sync import PageCallback, SyncOptions, SyncResult

log = logging.getLogger("etl")

# Exit codes a cron wrapper can act on (docs/operations.md, "Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_PARTIAL = 3
EXIT_LOCKED = 4

F = TypeVar("F", bound=Callable[..., Any])

#: The settings each command takes (all of them come with --config).
DATABASE_SETTINGS = ("database_url", "log_format")
SYNC_SETTINGS = tuple(declared())

# -- errors: one line on stderr, JSON with --log-format json -------------------------------------------

_json_errors = False


def _wants_json(args: Sequence[str]) -> bool:
    """Whether errors should be JSON lines, before (or without) the --log-format option being parsed."""
    if _json_errors:
        return True
    for i, arg in enumerate(args):
        if arg == "--log-format=json" or (arg == "--log-format" and args[i + 1 : i + 2] == ["json"]):
            return True
    return os.environ.get(declared()["log_format"].env) == "json"


def _emit_error(message: str, code: int, *, as_json: bool) -> None:
    if as_json:
        line = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "error",
            "logger": "etl.cli",
            "event": "error",
            "message": message,
            "exit_code": code,
        }
        click.echo(json.dumps(line), err=True)
    else:
        click.echo(f"classify-etl: error: {message}", err=True)


def _fail(message: str, code: int) -> NoReturn:
    _emit_error(message, code, as_json=_wants_json(sys.argv[1:]))
    sys.exit(code)


class Cli(click.Group):
    """The command group; a usage error (bad flag, bad value, bad config file) is one line, exit 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        global _json_errors
        _json_errors = False
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            message = exc.format_message().replace("\n", " ")
            _emit_error(message, exc.exit_code, as_json=_wants_json(argv))
            sys.exit(exc.exit_code)
        except click.Abort:
            # click turns a KeyboardInterrupt (SIGINT, or SIGTERM through etl.entry) into Abort.
            _emit_error(
                "interrupted before the sync started; nothing was written",
                EXIT_FAILED,
                as_json=_wants_json(argv),
            )
            sys.exit(EXIT_FAILED)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


def error_exit(exc: BaseException) -> tuple[int, str] | None:
    """The exit code and one-line message of a known failure; None for a bug (a traceback)."""
    if isinstance(exc, LockedError):
        return EXIT_LOCKED, str(exc)
    if isinstance(exc, ConfigError | AuthError):
        return EXIT_CONFIG, str(exc)
    if isinstance(exc, EtlError):
        return EXIT_FAILED, str(exc)
    if _interrupt_behind(exc):
        return EXIT_FAILED, "interrupted; the last page was rolled back and the checkpoint kept"
    # SQLAlchemy is imported only by the commands that use it: if it is not loaded, this is not
    # one of its errors.
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError):
        return EXIT_FAILED, f"database error: {_db_reason(exc)}"
    return None


def _interrupt_behind(exc: BaseException | None) -> bool:
    """A KeyboardInterrupt, or an error it caused: the interpreter wraps what interrupts some of
    its own machinery (a class's ``__set_name__`` during an import is a RuntimeError caused by the
    interrupt), and a cleanup that fails after an interrupt has it as its context."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def handle_errors(func: F) -> F:
    """Turn known failures into one line on stderr and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (Exception, KeyboardInterrupt) as exc:
            known = error_exit(exc)
            if known is None:
                raise
            _fail(known[1], known[0])

    return wrapper  # type: ignore[return-value]


def _db_reason(exc: Any) -> str:
    # The driver's own message, first line only: it never carries the password, unlike a URL.
    orig = getattr(exc, "orig", None)
    return str(orig).strip().splitlines()[0] if orig is not None else type(exc).__name__


# -- settings as click options -------------------------------------------------------------------------


class SettingType(click.ParamType):  # type: ignore[type-arg]
    """A setting's own parser, for its flag, its environment variable and its TOML key alike."""

    def __init__(self, item: Declared) -> None:
        self.item = item
        self.name = item.spec.metavar or item.name.upper()

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            if self.item.spec.kind == "multiple":  # click hands over the items one by one
                return self.item.spec.parse([value])[0]
            return self.item.spec.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _show_default(item: Declared) -> str | bool:
    if item.spec.shown_default is not None:
        return item.spec.shown_default
    if item.default is None or item.default == ():
        return False
    if hasattr(item.default, "total_seconds"):
        return format_duration(item.default)
    return str(item.default).lower() if isinstance(item.default, bool) else str(item.default)


def _option(item: Declared, **extra: Any) -> Callable[[F], F]:
    common: dict[str, Any] = {
        **extra,
        "envvar": item.env,
        "show_envvar": True,
        "help": item.spec.help,
        "show_default": _show_default(item),
    }
    if item.spec.kind in ("flag", "switch"):
        return click.option(item.flag, item.name, is_flag=True, default=item.default, **common)
    if item.spec.choices:
        return click.option(
            item.flag, item.name, type=click.Choice(item.spec.choices), default=item.default, **common
        )
    default = (
        item.default.get_secret_value() if item.spec.secret and item.default is not None else item.default
    )
    return click.option(
        item.flag,
        item.name,
        type=SettingType(item),
        default=default,
        multiple=item.spec.kind == "multiple",
        **common,
    )


CONFIG_ALIASES = {"project_id": "project_ids", "projects": "project_ids"}


def _load_config(ctx: click.Context, _param: click.Parameter, path: str | None) -> str | None:
    """Read a TOML file into click's default_map: flags and environment still override it. A key that
    is a setting another command takes is left for that command, so that one file serves them all."""
    if not path:
        return None
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise click.BadParameter(f"{path} is not valid TOML: {exc}") from None
    section = data.get("classify-etl", data)
    every = declared()
    taken = {p.name for p in ctx.command.params if p.name}
    defaults: dict[str, Any] = {}
    for key, value in section.items():
        name = CONFIG_ALIASES.get(key.replace("-", "_"), key.replace("-", "_"))
        if name not in every:
            raise click.BadParameter(f"{path}: unknown setting {key!r}")
        if name in taken:
            defaults[name] = value
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return path


def _remember_log_format(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    global _json_errors
    _json_errors = value == "json"
    return value


def setting_options(names: Sequence[str]) -> Callable[[F], F]:
    """``--config`` and one option per named setting, all derived from ``etl.config.Settings``."""
    every = declared()

    def decorate(func: F) -> F:
        for name in reversed(names):
            # --log-format is eager, so that an error in any other value is reported in its format.
            eager = {"is_eager": True, "callback": _remember_log_format} if name == "log_format" else {}
            func = _option(every[name], **eager)(func)
        return click.option(
            "--config",
            type=click.Path(dir_okay=False),
            envvar="CLASSIFY_ETL_CONFIG",
            show_envvar=True,
            is_eager=True,
            expose_value=False,
            callback=_load_config,
            help="TOML file of settings (keys as the long flags: database_url, project_ids, ...).",
        )(func)

    return decorate


def verbosity_options(func: F) -> F:
    func = click.option("-v", "--verbose", count=True, help="More log output (repeatable).")(func)
    return click.option("-q", "--quiet", count=True, help="Less log output (repeatable).")(func)


def build_settings(**values: Any) -> Settings:
    """Settings from a command's parameters (the others are ignored); a bad value is a ConfigError."""
    try:
        return Settings.from_values(values)
    except ValueError as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None


def sync_options(settings: Settings, *, dry_run: bool) -> SyncOptions:
    """SyncOptions from Settings: every field of SyncOptions that is a setting of the same name (and the
    list source, named ``source`` there). A field that SyncOptions does not have yet is not passed."""
    from etl.sync import SyncOptions

    names = {f.name for f in fields(SyncOptions)}
    values: dict[str, Any] = {f.name: getattr(settings, f.name) for f in fields(Settings) if f.name in names}
    values["source"] = settings.list_source
    values["dry_run"] = dry_run
    return SyncOptions(**{k: v for k, v in values.items() if k in names})


def api_factory(settings: Settings, prefetched: Prefetch | None = None) -> Callable[[], ClassifyApi]:
    """The client the sync opens, built from Settings only; it may take the answer of the start-up
    prefetch for its first request (``etl.prefetch``)."""
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise ConfigError("no API key: pass --api-key or set LLAMA_CLOUD_API_KEY")
    key = settings.api_key.get_secret_value()
    from etl.api import ClassifyApi

    def make() -> ClassifyApi:
        api = ClassifyApi(
            base_url=settings.base_url,
            api_key=key,
            request_timeout=settings.request_timeout,
            connect_timeout=settings.connect_timeout,
            max_retries=settings.max_retries,
            max_connections=settings.concurrency + 2,
            verify=settings.verify_tls,
            max_requests_per_minute=settings.max_requests_per_minute,
        )
        return api

    return make


def connect(database_url: str, *, must_exist: bool = False) -> Engine:
    """An engine that has proved it can connect; else a ConfigError naming the fix."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from etl import db

    engine = db.make_engine(database_url, must_exist=must_exist)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        raise ConfigError(
            f"cannot connect to the database {db.safe_url(db.normalize_url(database_url))}: "
            f"{_db_reason(exc)}. "
            "Check --database-url / CLASSIFY_ETL_DATABASE_URL and that the server is running."
        ) from None
    return engine


def do_sync(
    settings: Settings,
    *,
    dry_run: bool = False,
    on_page: PageCallback | None = None,
    prefetched: Prefetch | None = None,
) -> SyncResult:
    """Migrate, then walk every scope. Shared by ``sync`` and ``demo``."""
    from etl import db
    from etl.entry import interrupted
    from etl.sync import build_scopes, run_sync

    if interrupted():  # a signal whose interrupt was lost (the imports): stop, as if it had not been
        raise click.Abort
    factory = api_factory(settings, prefetched)
    engine = connect(settings.database_url.get_secret_value())
    try:
        if dry_run:
            if db.current_revision(engine) != db.head_revision():
                raise ConfigError(
                    "--dry-run writes nothing, not even the schema: run `classify-etl migrate` first"
                )
        else:
            db.upgrade(engine)
        options = sync_options(settings, dry_run=dry_run)
        scopes = build_scopes(settings.project_ids, settings.organization_id)
        if interrupted():
            raise KeyboardInterrupt
        return run_sync(engine, factory, options, scopes, on_page=on_page)
    finally:
        engine.dispose()


def lean_http() -> None:
    """Keep httpx from importing its own command line (``httpx._main``: rich, pygments) on import, which
    it does whenever rich is installed; ~50 ms of start-up that a sync does not use. A ``None`` entry in
    ``sys.modules`` makes that import fail, and httpx then falls back as when rich is absent."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def exit_code(result: SyncResult) -> int:
    return {"success": EXIT_OK, "partial": EXIT_PARTIAL}.get(result.outcome, EXIT_FAILED)


def emit(data: dict[str, Any], text: str, *, as_json: bool, log_format: str) -> None:
    """A command's output: text, or JSON (one line under --log-format json, so a log stays JSON lines)."""
    if log_format == "json":
        click.echo(json.dumps(data, default=str))
    elif as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(text)


# -- the commands --------------------------------------------------------------------------------------


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="classify-etl")
def main() -> None:
    """Keep a SQL copy of LlamaCloud classify jobs in PostgreSQL or SQLite."""


@main.command()
@setting_options(SYNC_SETTINGS)
@click.option(
    "--dry-run", is_flag=True, help="Walk and compare; report what would be hydrated; write nothing."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@verbosity_options
@handle_errors
def sync(as_json: bool, dry_run: bool, verbose: int, quiet: int, **values: Any) -> None:
    """Bring the schema to head, walk the job list, hydrate new and changed jobs, and load them.

    Exit codes: 0 success; 3 success but some jobs were quarantined or not hydrated;
    1 failure (or interrupted); 4 another sync holds the lock; 2 configuration or usage error.
    """
    lean_http()
    settings = build_settings(**values)
    # The first list page is asked for now, before SQLAlchemy, aiohttp and the models are imported
    # (most of a second); the run uses the answer only if its first request is exactly this one.
    from etl import prefetch

    monitored = _monitored(settings, dry_run=dry_run)
    prefetched = prefetch.start(settings, monitored=monitored)
    from etl.logs import PageReporter, setup_logging
    from etl.report import summary_dict, summary_text

    setup_logging(verbose, quiet, settings.log_format)
    text_logs = settings.log_format == "text"
    show = (
        (sys.stderr.isatty() and text_logs and quiet == 0) if settings.progress is None else settings.progress
    )
    monitor = _monitor(settings, dry_run=dry_run)
    code, summary, message = EXIT_FAILED, None, None
    try:
        with PageReporter(show_progress=show) as reporter:
            result = do_sync(settings, dry_run=dry_run, on_page=reporter, prefetched=prefetched)
        summary, code = summary_dict(result), exit_code(result)
        if not dry_run:  # PostgreSQL: what the next run's first request follows from, for its start
            prefetch.remember(settings, monitored=monitored)
    except (Exception, KeyboardInterrupt) as exc:
        known = error_exit(exc)
        code, message = known if known is not None else (EXIT_FAILED, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if monitor is not None:
            _finish_monitor(monitor, settings, code, summary, message)
    summary["dry_run"] = dry_run
    if not text_logs:
        log.info("sync %s", result.outcome, extra={"event": "summary", **summary})
    if text_logs:
        banner = "DRY RUN: nothing written; new + changed is what a sync would hydrate\n" if dry_run else ""
        click.echo(json.dumps(summary) if as_json else banner + summary_text(result))
    elif as_json:  # stdout stays JSON lines too; without --json the summary line on stderr is the output
        click.echo(json.dumps(summary))
    sys.exit(code)


def _monitored(settings: Settings, *, dry_run: bool) -> bool:
    return not dry_run and bool(settings.ping_url or settings.notify_url or settings.metrics_file)


def _monitor(settings: Settings, *, dry_run: bool) -> Any:
    """Cron-monitor pings, notifications and the metrics file around a run (each optional; a dry
    run is never monitored). Imported only when asked for: it costs start-up time."""
    if not _monitored(settings, dry_run=dry_run):
        return None
    from sqlalchemy.engine import make_url

    from etl.monitor import RunMonitor

    secrets = [settings.api_key.get_secret_value() if settings.api_key else None]
    try:
        secrets.append(make_url(settings.database_url.get_secret_value()).password)
    except Exception:  # an invalid URL fails later with its own message
        pass
    monitor = RunMonitor(
        ping_url=settings.ping_url,
        notify_url=settings.notify_url,
        notify_on=settings.notify_on,  # type: ignore[arg-type]
        metrics_file=settings.metrics_file,
        secrets=[s for s in secrets if s],
    )
    monitor.start()  # before the first API request
    return monitor


def _finish_monitor(
    monitor: Any, settings: Settings, code: int, summary: dict[str, Any] | None, message: str | None
) -> None:
    from etl import db
    from etl.sync import build_scopes

    engine = None
    if settings.metrics_file and code != EXIT_LOCKED:
        try:
            engine = db.make_engine(settings.database_url.get_secret_value())
        except Exception:
            engine = None  # metrics from the previous file, as etl.monitor documents
    scopes = [s.key for s in build_scopes(settings.project_ids, settings.organization_id)]
    try:
        monitor.finish(code, summary=summary, engine=engine, error=message, scopes=scopes)
    finally:
        if engine is not None:
            engine.dispose()


@main.command()
@setting_options(DATABASE_SETTINGS)
@click.option("--sql", is_flag=True, help="Print the SQL from the database's revision instead of running it.")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@verbosity_options
@handle_errors
def migrate(sql: bool, revision: str, verbose: int, quiet: int, **values: Any) -> None:
    """Upgrade the database schema (alembic upgrade head); --sql prints the SQL and creates nothing."""
    from etl import db
    from etl.logs import setup_logging

    settings = build_settings(**values)
    setup_logging(verbose, quiet, settings.log_format)
    url = settings.database_url.get_secret_value()
    if sql:
        start = None
        path = db.sqlite_path(db.normalize_url(url))
        if path is None or path.is_file():  # a SQLite file that is not there is at no revision
            engine = connect(url, must_exist=True)
            try:
                start = db.current_revision(engine)
            finally:
                engine.dispose()
        db.upgrade_sql(url, start, revision)
        return
    engine = connect(url)
    try:
        before = db.current_revision(engine)
        db.upgrade(engine, revision)
        after = db.current_revision(engine)
    finally:
        engine.dispose()
    text = f"schema at {after}" + (f" (was {before or 'empty'})" if before != after else " (up to date)")
    emit(
        {"event": "migrate", "revision": after, "was": before},
        text,
        as_json=False,
        log_format=settings.log_format,
    )


@contextlib.contextmanager
def _open_schema(settings: Settings) -> Iterator[Engine]:
    """An engine on an existing database that has the schema (never creates either), disposed after."""
    from etl import db

    engine = connect(settings.database_url.get_secret_value(), must_exist=True)
    try:
        if db.current_revision(engine) is None:
            raise ConfigError(
                "the database has no classify-etl schema yet: run `classify-etl migrate` or `sync`"
            )
        yield engine
    finally:
        engine.dispose()


@main.command()
@setting_options((*DATABASE_SETTINGS, "full_walk_every", "lookback"))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def status(as_json: bool, **values: Any) -> None:
    """Show the checkpoints, the v2 plan per scope, the last runs and row counts."""
    from etl.report import status_dict, status_text

    settings = build_settings(**values)
    with _open_schema(settings) as engine, engine.connect() as conn:
        data = status_dict(conn, full_walk_every=settings.full_walk_every, lookback=settings.lookback)
    emit(data, status_text(data), as_json=as_json, log_format=settings.log_format)


@main.group()
def scopes() -> None:
    """Show and clear per-scope state: checkpoints and the list source ``auto`` chose."""


@scopes.command("list")
@setting_options(DATABASE_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def scopes_list(as_json: bool, **values: Any) -> None:
    """List every scope with its checkpoints and recorded list source."""
    from etl import scopes as state

    settings = build_settings(**values)
    with _open_schema(settings) as engine, engine.connect() as conn:
        found = state.list_scopes(conn)
    data = {"scopes": [s.as_dict() for s in found]}
    emit(data, state.render(found), as_json=as_json, log_format=settings.log_format)


def _clear_scope(action: str, scope: str, values: dict[str, Any]) -> None:
    from etl import scopes as state
    from etl.locks import scope_locks

    settings = build_settings(**values)
    with _open_schema(settings) as engine, scope_locks(engine, [scope]), engine.begin() as conn:
        if not state.known(conn, scope):  # the scope lock: not while a sync walks it
            raise ConfigError(f"no scope {scope!r}: `classify-etl scopes list` shows them")
        rows = state.reset(conn, scope) if action == "reset" else state.forget(conn, scope)
    done = "the next run walks it from page 1" if action == "reset" else "the next run starts it afresh"
    emit(
        {"event": f"scope_{action}", "scope": scope, "rows_deleted": rows},
        f"scope {scope}: {action} ({rows} rows deleted); {done}",
        as_json=False,
        log_format=settings.log_format,
    )


@scopes.command("reset")
@click.argument("scope")
@setting_options(DATABASE_SETTINGS)
@handle_errors
def scopes_reset(scope: str, **values: Any) -> None:
    """Drop a scope's checkpoints, so that its next run walks it completely from page 1."""
    _clear_scope("reset", scope, values)


@scopes.command("forget")
@click.argument("scope")
@setting_options(DATABASE_SETTINGS)
@handle_errors
def scopes_forget(scope: str, **values: Any) -> None:
    """Drop everything kept about a scope (checkpoints, list source, seen jobs); job rows stay."""
    _clear_scope("forget", scope, values)


@main.command()
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--jobs", "n_jobs", type=click.IntRange(0), default=1000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--api-key", default="sim-key", show_default=True, help="The key the simulator accepts.")
@click.option("--latency-ms", type=float, default=0.0, show_default=True, help="Delay of every API response.")
@click.option("--retire-v1", is_flag=True, help="Answer 404 on the v1 list route.")
@click.option(
    "--rate-limit",
    callback=lambda _ctx, _param, value: _rate_limit(value),
    metavar="N/s|N/m",
    help="A request budget: at most N requests in any second (N/s) or minute (N/m), 429 beyond.",
)
@click.option(
    "--rate-limit-retry-after/--no-rate-limit-retry-after",
    default=True,
    show_default=True,
    help="Whether a 429 of the budget says when to come back (Retry-After).",
)
def simulate(
    port: int,
    host: str,
    n_jobs: int,
    seed: int,
    api_key: str,
    latency_ms: float,
    retire_v1: bool,
    rate_limit: tuple[int, float] | None,
    rate_limit_retry_after: bool,
) -> None:
    """Serve the bundled LlamaCloud classify API simulator on loopback."""
    from etl.simulator import Faults, SimState, serve_forever

    state = SimState.generate(n_jobs=n_jobs, seed=seed, api_key=api_key)
    limit, window_s = rate_limit or (0, 1.0)
    if latency_ms or limit:
        state.faults = Faults(
            latency_ms=latency_ms,
            rate_limit=limit,
            rate_limit_window_s=window_s,
            rate_limit_retry_after=rate_limit_retry_after,
        )
    if retire_v1:
        state.retire_v1(True)
    click.echo(f"simulator: {n_jobs} jobs on http://{host}:{port} (key {api_key!r}); Ctrl-C stops", err=True)
    serve_forever(state, host=host, port=port)


def _rate_limit(value: str | None) -> tuple[int, float] | None:
    """``N/s`` or ``N/m`` as (N, the window in seconds)."""
    if value is None:
        return None
    count, _, unit = value.partition("/")
    if not count.isdigit() or int(count) < 1 or unit not in ("s", "m"):
        raise click.BadParameter(f"{value!r} is not N/s or N/m with N ≥ 1, e.g. 10/s or 20/m")
    return int(count), 1.0 if unit == "s" else 60.0


DEMO_QUERY = """
SELECT status,
       CASE WHEN confidence IS NULL THEN '(no result yet)'
            WHEN result_type IS NULL THEN '(no rule matched)'
            ELSE result_type END AS result,
       COUNT(*) AS jobs,
       ROUND(AVG(confidence), 2) AS mean_confidence
FROM classify_jobs_current
WHERE NOT is_deleted
GROUP BY 1, 2
ORDER BY jobs DESC, status, result
LIMIT 12
"""


@main.command()
@setting_options(("database_url",))
@click.option("--jobs", "n_jobs", type=click.IntRange(1), default=500, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@verbosity_options
@handle_errors
def demo(n_jobs: int, seed: int, verbose: int, quiet: int, **values: Any) -> None:
    """Start the simulator on a free loopback port, sync it into the database, show a query."""
    from sqlalchemy import text

    from etl import db
    from etl.logs import setup_logging
    from etl.report import summary_text
    from etl.simulator import SimServer, SimState

    setup_logging(verbose, quiet, "text")
    database_url = build_settings(**values).database_url.get_secret_value()
    state = SimState.generate(n_jobs=n_jobs, seed=seed, api_key="demo-key")
    with SimServer(state) as sim:
        click.echo(f"simulator with {n_jobs} jobs on {sim.url}; syncing into {db.safe_url(database_url)}")
        settings = build_settings(api_key="demo-key", base_url=sim.url, database_url=database_url)
        result = do_sync(settings)
    click.echo(summary_text(result))
    engine = connect(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(DEMO_QUERY)).all()
    finally:
        engine.dispose()
    click.echo("\n" + DEMO_QUERY.strip() + "\n")
    header = ("status", "result", "jobs", "mean_confidence")
    table = [header] + [tuple("" if v is None else str(v) for v in row) for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        click.echo(
            "  ".join(
                v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    sys.exit(exit_code(result))


@main.command()
@setting_options(DATABASE_SETTINGS)
@handle_errors
def metrics(**values: Any) -> None:
    """Print the Prometheus metrics (last run, last success, jobs by status, checkpoint age) from the
    database alone, as --metrics-file writes them after a run."""
    from etl.monitor import metrics_text

    settings = build_settings(**values)
    engine = connect(settings.database_url.get_secret_value(), must_exist=True)
    try:
        with engine.connect() as conn:
            click.echo(metrics_text(conn), nl=False)
    finally:
        engine.dispose()
