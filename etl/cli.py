"""The ``classify-etl`` command line: thin commands that build settings, engine and client,
call ``sync``, and map errors to one-line messages and exit codes."""

from __future__ import annotations

import functools
import json
import logging
import sys
import tomllib
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from etl import db
from etl.api import ClassifyApi
from etl.config import DEFAULT_DATABASE_URL, US_BASE_URL, Settings
from etl.errors import AuthError, ConfigError, EtlError, LockedError
from etl.logs import PageReporter, setup_logging
from etl.report import status_dict, status_text, summary_dict, summary_text
from etl.sync import PageCallback, SyncOptions, SyncResult, build_scopes, run_sync

log = logging.getLogger("etl")

# Exit codes a cron wrapper can act on (docs/operations.md, "Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_PARTIAL = 3
EXIT_LOCKED = 4

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"classify-etl: error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Turn known failures into one line on stderr and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LockedError as exc:
            _fail(str(exc), EXIT_LOCKED)
        except (ConfigError, AuthError) as exc:
            _fail(str(exc), EXIT_CONFIG)
        except EtlError as exc:
            _fail(str(exc), EXIT_FAILED)
        except (OperationalError, DBAPIError) as exc:
            _fail(f"database error: {_db_reason(exc)}", EXIT_FAILED)
        except KeyboardInterrupt:
            _fail("interrupted; the last page was rolled back and the checkpoint kept", EXIT_FAILED)

    return wrapper  # type: ignore[return-value]


def _db_reason(exc: DBAPIError) -> str:
    # The driver's own message, first line only: it never carries the password, unlike a URL.
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__


def connect(database_url: str) -> Engine:
    """An engine that has proved it can connect; else a ConfigError naming the fix."""
    engine = db.make_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError) as exc:
        raise ConfigError(
            f"cannot connect to the database {db.safe_url(db.normalize_url(database_url))}: "
            f"{_db_reason(exc)}. "
            "Check --database-url / CLASSIFY_ETL_DATABASE_URL and that the server is running."
        ) from None
    return engine


def database_option(func: F) -> F:
    return click.option(
        "--database-url",
        envvar="CLASSIFY_ETL_DATABASE_URL",
        default=DEFAULT_DATABASE_URL,
        show_default=True,
        show_envvar=True,
        help="Any SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db.",
    )(func)


def verbosity_options(func: F) -> F:
    func = click.option("-v", "--verbose", count=True, help="More log output (repeatable).")(func)
    return click.option("-q", "--quiet", count=True, help="Less log output (repeatable).")(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="classify-etl")
def main() -> None:
    """Keep a SQL copy of LlamaCloud classify jobs in PostgreSQL or SQLite."""


CONFIG_ALIASES = {"project_id": "project_ids", "projects": "project_ids"}


def _load_config(ctx: click.Context, _param: click.Parameter, path: str | None) -> str | None:
    """Read a TOML file into click's default_map: flags and environment still override it."""
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise click.BadParameter(f"{path} is not valid TOML: {exc}") from None
    section = data.get("classify-etl", data)
    known = {p.name for p in ctx.command.params if p.name}
    defaults: dict[str, Any] = {}
    for key, value in section.items():
        name = CONFIG_ALIASES.get(key.replace("-", "_"), key.replace("-", "_"))
        if name not in known or name == "config":
            raise click.BadParameter(f"{path}: unknown setting {key!r}")
        defaults[name] = value
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return path


def api_options(func: F) -> F:
    options = [
        click.option(
            "--config",
            type=click.Path(dir_okay=False),
            envvar="CLASSIFY_ETL_CONFIG",
            show_envvar=True,
            is_eager=True,
            expose_value=False,
            callback=_load_config,
            help="TOML file of settings (keys as the long flags: database_url, project_ids, ...).",
        ),
        click.option("--api-key", envvar="LLAMA_CLOUD_API_KEY", show_envvar=True, help="LlamaCloud API key."),
        click.option(
            "--base-url",
            envvar="LLAMA_CLOUD_BASE_URL",
            default=US_BASE_URL,
            show_default=True,
            show_envvar=True,
            help="API host; EU keys need https://api.cloud.eu.llamaindex.ai.",
        ),
        click.option("--project-id", "project_ids", multiple=True, help="Scope to a project (repeatable)."),
        click.option("--organization-id", help="Scope to an organization."),
        click.option("--page-size", type=click.IntRange(1, 100), default=100, show_default=True),
        click.option(
            "--concurrency",
            type=click.IntRange(1, 256),
            default=16,
            show_default=True,
            help="v2 requests in flight while hydrating a page.",
        ),
        click.option(
            "--max-retries",
            type=click.IntRange(0, 20),
            default=5,
            show_default=True,
            help="Retries per request (connection errors, timeouts, 408/409/429/5xx).",
        ),
        click.option(
            "--request-timeout",
            type=click.FloatRange(min=0.1),
            default=60.0,
            show_default=True,
            help="Read timeout per request, seconds (connect timeout 5 s).",
        ),
        click.option(
            "--insecure", is_flag=True, help="Do not verify TLS certificates (never in production)."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_settings(**kw: Any) -> Settings:
    try:
        return Settings(
            api_key=kw.get("api_key"),
            base_url=kw.get("base_url") or US_BASE_URL,
            database_url=kw["database_url"],
            project_ids=tuple(kw.get("project_ids") or ()),
            organization_id=kw.get("organization_id"),
            page_size=kw.get("page_size", 100),
            concurrency=kw.get("concurrency", 16),
            max_retries=kw.get("max_retries", 5),
            request_timeout=kw.get("request_timeout", 60.0),
            verify_tls=not kw.get("insecure", False),
            full_refresh=kw.get("full_refresh", False),
            list_source=kw.get("list_source", "auto"),
        )
    except ValueError as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None


def api_factory(settings: Settings) -> Callable[[], ClassifyApi]:
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise ConfigError("no API key: pass --api-key or set LLAMA_CLOUD_API_KEY")
    key = settings.api_key.get_secret_value()
    if not settings.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"--base-url {settings.base_url!r} is not an http(s) URL, e.g. {US_BASE_URL}")

    def make() -> ClassifyApi:
        return ClassifyApi(
            base_url=settings.base_url,
            api_key=key,
            request_timeout=settings.request_timeout,
            connect_timeout=settings.connect_timeout,
            max_retries=settings.max_retries,
            max_connections=settings.concurrency + 2,
            verify=settings.verify_tls,
        )

    return make


def do_sync(settings: Settings, *, dry_run: bool = False, on_page: PageCallback | None = None) -> SyncResult:
    """Migrate, then walk every scope. Shared by ``sync`` and ``demo``."""
    factory = api_factory(settings)
    engine = connect(settings.database_url.get_secret_value())
    try:
        if dry_run:
            if db.current_revision(engine) != db.head_revision():
                raise ConfigError(
                    "--dry-run writes nothing, not even the schema: run `classify-etl migrate` first"
                )
        else:
            db.upgrade(engine)
        options = SyncOptions(
            dry_run=dry_run,
            page_size=settings.page_size,
            full_refresh=settings.full_refresh,
            concurrency=settings.concurrency,
            source=settings.list_source,
        )
        scopes = build_scopes(settings.project_ids, settings.organization_id)
        return run_sync(engine, factory, options, scopes, on_page=on_page)
    finally:
        engine.dispose()


def exit_code(result: SyncResult) -> int:
    return {"success": EXIT_OK, "partial": EXIT_PARTIAL}.get(result.outcome, EXIT_FAILED)


@main.command()
@api_options
@database_option
@click.option(
    "--full-refresh", is_flag=True, help="Ignore the checkpoint and stored updated_at: re-hydrate all."
)
@click.option(
    "--dry-run", is_flag=True, help="Walk and compare; report what would be hydrated; write nothing."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar="CLASSIFY_ETL_LOG_FORMAT",
    help="json: one object per line on stderr (a line per page, then a summary line).",
)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: only on a terminal).")
@verbosity_options
@handle_errors
def sync(
    as_json: bool, dry_run: bool, log_format: str, progress: bool | None, verbose: int, quiet: int, **kw: Any
) -> None:
    """Bring the schema to head, walk the job list, hydrate new and changed jobs, and load them.

    Exit codes: 0 success; 3 success but some jobs were quarantined or not hydrated;
    1 failure (or interrupted); 4 another sync holds the lock; 2 configuration or usage error.
    """
    setup_logging(verbose, quiet, log_format)
    settings = build_settings(**kw)
    show = (sys.stderr.isatty() and log_format == "text" and quiet == 0) if progress is None else progress
    with PageReporter(show_progress=show) as reporter:
        result = do_sync(settings, dry_run=dry_run, on_page=reporter)
    summary = summary_dict(result)
    summary["dry_run"] = dry_run
    if log_format == "json":
        log.info("sync %s", result.outcome, extra={"event": "summary", **summary})
    if as_json:
        click.echo(json.dumps(summary))
    else:
        banner = "DRY RUN: nothing written; new + changed is what a sync would hydrate\n" if dry_run else ""
        click.echo(banner + summary_text(result))
    sys.exit(exit_code(result))


@main.command()
@database_option
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@verbosity_options
@handle_errors
def migrate(database_url: str, sql: bool, revision: str, verbose: int, quiet: int) -> None:
    """Upgrade the database schema (alembic upgrade head)."""
    setup_logging(verbose, quiet, "text")
    if sql:
        from alembic import command

        cfg = db.alembic_config()
        cfg.cmd_opts = None
        cfg.set_main_option("sqlalchemy.url", db.normalize_url(database_url))
        import os

        os.environ["CLASSIFY_ETL_DATABASE_URL"] = db.normalize_url(database_url)
        command.upgrade(cfg, revision, sql=True)
        return
    engine = connect(database_url)
    try:
        before = db.current_revision(engine)
        db.upgrade(engine, revision)
        after = db.current_revision(engine)
    finally:
        engine.dispose()
    click.echo(f"schema at {after}" + (f" (was {before or 'empty'})" if before != after else " (up to date)"))


@main.command()
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def status(database_url: str, as_json: bool) -> None:
    """Show the checkpoints, the last runs and row counts."""
    engine = connect(database_url)
    try:
        if db.current_revision(engine) is None:
            raise ConfigError(
                "the database has no classify-etl schema yet: run `classify-etl migrate` or `sync`"
            )
        with engine.connect() as conn:
            data = status_dict(conn)
    finally:
        engine.dispose()
    click.echo(json.dumps(data, indent=2) if as_json else status_text(data))


@main.command()
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--jobs", "n_jobs", type=click.IntRange(0), default=1000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--api-key", default="sim-key", show_default=True, help="The key the simulator accepts.")
@click.option("--latency-ms", type=float, default=0.0, show_default=True, help="Delay of every API response.")
@click.option("--retire-v1", is_flag=True, help="Answer 404 on the v1 list route.")
def simulate(
    port: int, host: str, n_jobs: int, seed: int, api_key: str, latency_ms: float, retire_v1: bool
) -> None:
    """Serve the bundled LlamaCloud classify API simulator on loopback."""
    from etl.simulator import Faults, SimState, serve_forever

    state = SimState.generate(n_jobs=n_jobs, seed=seed, api_key=api_key)
    if latency_ms:
        state.faults = Faults(latency_ms=latency_ms)
    if retire_v1:
        state.retire_v1(True)
    click.echo(f"simulator: {n_jobs} jobs on http://{host}:{port} (key {api_key!r}); Ctrl-C stops", err=True)
    serve_forever(state, host=host, port=port)


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
@database_option
@click.option("--jobs", "n_jobs", type=click.IntRange(1), default=500, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@verbosity_options
@handle_errors
def demo(database_url: str, n_jobs: int, seed: int, verbose: int, quiet: int) -> None:
    """Start the simulator on a free loopback port, sync it into the database, show a query."""
    from etl.simulator import SimServer, SimState

    setup_logging(verbose, quiet, "text")
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
