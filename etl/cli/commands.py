"""The ``classify-etl`` command line: thin commands that build settings, engine and client,
call ``sync``, and map errors to one-line messages and exit codes (``etl.cli.errors``); the
settings become options in ``etl.cli.options``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from etl.cli.entry import interrupted
from etl.cli.errors import (
    Cli,
    db_reason,
    error_exit,
    handle_errors,
)
from etl.cli.options import (
    DATABASE_SETTINGS,
    SYNC_SETTINGS,
    build_settings,
    setting_options,
    sync_options,
    verbosity_options,
)
from etl.config import DEFAULT_DB_SCHEMA, Settings
from etl.errors import EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_PARTIAL, ConfigError
from etl.ops.dbt import scaffold
from etl.ops.logs import PageReporter, setup_logging
from etl.ops.monitor import RunMonitor, metrics_text
from etl.ops.report import status_dict, status_text, summary_dict, summary_text
from etl.run.locks import scope_locks
from etl.run.sync import PageCallback, SyncResult, build_scopes, run_sync
from etl.simulator import Faults, SimServer, SimState, serve_forever
from etl.source.client import ClassifyApi
from etl.warehouse import db
from etl.warehouse import scopes as state
from etl.warehouse.sql import qualified

log = logging.getLogger("etl")


def api_factory(settings: Settings) -> Callable[[], ClassifyApi]:
    """The client the sync opens, built from Settings only."""
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise ConfigError("no API key: pass --api-key or set LLAMA_CLOUD_API_KEY")
    key = settings.api_key.get_secret_value()

    def make() -> ClassifyApi:
        return ClassifyApi(
            base_url=settings.base_url,
            api_key=key,
            request_timeout=settings.request_timeout,
            connect_timeout=settings.connect_timeout,
            max_retries=settings.max_retries,
            max_connections=settings.concurrency + 2,
            verify=settings.verify_tls,
            max_requests_per_minute=settings.max_requests_per_minute,
        )

    return make


def connect(settings: Settings, *, must_exist: bool = False, may_migrate: bool = False) -> Engine:
    """An engine on the settings' database and schema that has proved it can connect (and, on
    PostgreSQL, use the schema if it is there); else a ConfigError naming the fix (with
    ``may_migrate``, the privileges a migration needs)."""

    database_url = settings.database_url.get_secret_value()
    engine = db.make_engine(database_url, schema=settings.db_schema, must_exist=must_exist)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            db.check_schema(conn, may_migrate=may_migrate)
    except ConfigError:
        engine.dispose()
        raise
    except DBAPIError as exc:
        engine.dispose()
        raise ConfigError(
            f"cannot connect to the database {db.safe_url(db.normalize_url(database_url))}: "
            f"{db_reason(exc)}. "
            "Check --database-url / CLASSIFY_ETL_DATABASE_URL and that the server is running."
        ) from None
    return engine


def do_sync(
    settings: Settings,
    *,
    dry_run: bool = False,
    on_page: PageCallback | None = None,
) -> SyncResult:
    """Migrate, then walk every scope. Shared by ``sync`` and ``demo``."""

    if interrupted():  # a signal whose interrupt was lost (the imports): stop, as if it had not been
        raise click.Abort
    factory = api_factory(settings)
    engine = connect(settings, may_migrate=not dry_run)
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
    settings = build_settings(**values)

    setup_logging(verbose, quiet, settings.log_format)
    text_logs = settings.log_format == "text"
    show = (
        (sys.stderr.isatty() and text_logs and quiet == 0) if settings.progress is None else settings.progress
    )
    monitor = _monitor(settings, dry_run=dry_run)
    code, summary, message = EXIT_FAILED, None, None
    try:
        with PageReporter(show_progress=show) as reporter:
            result = do_sync(settings, dry_run=dry_run, on_page=reporter)
        summary, code = summary_dict(result), exit_code(result)
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

    engine = None
    if settings.metrics_file and code != EXIT_LOCKED:
        try:
            engine = db.make_engine(settings.database_url.get_secret_value(), schema=settings.db_schema)
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

    settings = build_settings(**values)
    setup_logging(verbose, quiet, settings.log_format)
    url = settings.database_url.get_secret_value()
    if sql:
        start = None
        path = db.sqlite_path(db.normalize_url(url))
        if path is None or path.is_file():  # a SQLite file that is not there is at no revision
            engine = connect(settings, must_exist=True)
            try:
                start = db.current_revision(engine)
            finally:
                engine.dispose()
        db.upgrade_sql(url, start, revision, schema=settings.db_schema)
        return
    engine = connect(settings, may_migrate=True)
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

    engine = connect(settings, must_exist=True)
    try:
        if db.current_revision(engine) is None:
            where = "" if settings.db_schema == DEFAULT_DB_SCHEMA else f" in schema {settings.db_schema}"
            raise ConfigError(
                f"the database has no classify-etl schema yet{where}: run `classify-etl migrate` or `sync`"
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

    settings = build_settings(**values)
    with _open_schema(settings) as engine, engine.connect() as conn:
        found = state.list_scopes(conn)
    data = {"scopes": [s.as_dict() for s in found]}
    emit(data, state.render(found), as_json=as_json, log_format=settings.log_format)


def _clear_scope(action: str, scope: str, values: dict[str, Any]) -> None:

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
    "--extra-field",
    metavar="PATH",
    help="Add a field no release maps to every v2 body and list item, at this dotted path "
    "(e.g. usage.new_thing: on bodies that have usage).",
)
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
    extra_field: str | None,
    rate_limit: tuple[int, float] | None,
    rate_limit_retry_after: bool,
) -> None:
    """Serve the bundled LlamaCloud classify API simulator on loopback."""

    state = SimState.generate(n_jobs=n_jobs, seed=seed, api_key=api_key)
    state.extra_field = extra_field or None
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
FROM {classify_jobs_current}
WHERE NOT is_deleted
GROUP BY 1, 2
ORDER BY jobs DESC, status, result
LIMIT 12
"""


@main.command()
@setting_options(("database_url", "db_schema"))
@click.option("--jobs", "n_jobs", type=click.IntRange(1), default=500, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@verbosity_options
@handle_errors
def demo(n_jobs: int, seed: int, verbose: int, quiet: int, **values: Any) -> None:
    """Start the simulator on a free loopback port, sync it into the database, show a query."""

    setup_logging(verbose, quiet, "text")
    given = build_settings(**values)
    database_url = given.database_url.get_secret_value()
    state = SimState.generate(n_jobs=n_jobs, seed=seed, api_key="demo-key")
    with SimServer(state) as sim:
        click.echo(f"simulator with {n_jobs} jobs on {sim.url}; syncing into {db.safe_url(database_url)}")
        settings = build_settings(
            api_key="demo-key", base_url=sim.url, database_url=database_url, db_schema=given.db_schema
        )
        result = do_sync(settings)
    click.echo(summary_text(result))
    engine = connect(settings)
    try:
        with engine.connect() as conn:
            query = DEMO_QUERY.format(classify_jobs_current=qualified(conn, "classify_jobs_current"))
            rows = conn.execute(text(query)).all()
    finally:
        engine.dispose()
    click.echo("\n" + query.strip() + "\n")
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

    settings = build_settings(**values)
    engine = connect(settings, must_exist=True)
    try:
        with engine.connect() as conn:
            click.echo(metrics_text(conn), nl=False)
    finally:
        engine.dispose()


@main.command("dbt-scaffold")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@setting_options(("db_schema",))  # the schema the sync writes to: the default of the package's schema var
@click.option("--warn-after-hours", type=click.IntRange(1), default=2, show_default=True)
@click.option("--error-after-hours", type=click.IntRange(1), default=12, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite files changed since an earlier scaffold wrote them.")
@handle_errors
def dbt_scaffold(
    directory: Path, db_schema: str, warn_after_hours: int, error_after_hours: int, force: bool
) -> None:
    """Write a dbt package (sources, tests, staging models) for these tables into DIRECTORY, generated
    from classify-etl's own table definitions; rerun it after an upgrade."""
    result = scaffold(
        directory,
        db_schema=db_schema,
        warn_after_hours=warn_after_hours,
        error_after_hours=error_after_hours,
        force=force,
    )
    click.echo(
        f"dbt package in {directory}: {len(result.written)} file(s) written, "
        f"{len(result.unchanged)} unchanged" + (f", {len(result.removed)} removed" if result.removed else "")
    )
