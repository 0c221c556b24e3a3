"""Logging for people and for cron: text on a terminal, one JSON object per line with
``--log-format json``; a progress bar only when stderr is a terminal."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import Progress

    from etl.run.results import Counters, ScopeReport

#: Attributes of a LogRecord that are not extra fields.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "event", "message", ...extra fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", "log"),
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in _STANDARD and k != "event"})
        if record.exc_info and record.exc_info[0] is not None:
            data["error"] = repr(record.exc_info[1])
        return json.dumps(data, default=str)


def drop_interrupt_tracebacks(record: logging.LogRecord) -> bool:
    """Leave out a library's log of an interrupt it was handling (SQLAlchemy's pool logs "Exception
    closing connection" with the traceback when a signal lands while it closes one, then re-raises):
    the interrupt is reported once, by the CLI's one line."""
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, KeyboardInterrupt)


def setup_logging(verbose: int, quiet: int, log_format: str) -> None:
    """Warnings by default, -v for info (a line per page), -vv for debug; -q for errors only."""
    level = max(logging.DEBUG, min(logging.WARNING + 10 * (quiet - verbose), logging.CRITICAL))
    if log_format == "json":
        level = min(level, logging.INFO)  # cron wants the page lines and the summary
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(drop_interrupt_tracebacks)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("etl").setLevel(level)


class PageReporter:
    """The per-page callback: a log line per page and, on a terminal, a live progress line."""

    def __init__(self, *, show_progress: bool) -> None:
        from etl.run.results import Counters

        self.started = time.monotonic()
        self.totals = Counters()
        self.log = logging.getLogger("etl.progress")
        self.progress: Progress | None = None
        self.task: Any = None
        if show_progress:  # rich is imported only to draw on a terminal
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.fields[scope]}[/]"),
                TextColumn(
                    "pages {task.fields[pages]}  jobs {task.completed:,.0f}  {task.fields[rate]} jobs/s"
                ),
                TextColumn("hydrated {task.fields[hydrated]}  failed {task.fields[failed]}"),
                TextColumn("{task.fields[throttled]}"),
                TimeElapsedColumn(),
                transient=True,  # the bar disappears when done; the summary stays
                console=None,
            )

    def __enter__(self) -> PageReporter:
        if self.progress is not None:
            self.progress.start()
            self.task = self.progress.add_task(
                "sync", total=None, scope="", pages=0, rate="0", hydrated=0, failed=0, throttled=""
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, report: ScopeReport, page: Counters) -> None:
        self.totals.add(page)
        t = self.totals
        elapsed = max(time.monotonic() - self.started, 1e-6)
        self.log.info(
            "scope %s page %d: %d listed, %d new, %d changed, %d hydrated, %d failed, %d quarantined",
            report.scope,
            report.resumed_from_page + report.counters.pages,
            page.listed,
            page.new,
            page.changed,
            page.hydrated,
            page.failed,
            page.quarantined,
            extra={
                "event": "page",
                "scope": report.scope,
                "source": report.source,
                "page": report.resumed_from_page + report.counters.pages,
                "jobs_listed": page.listed,
                "new": page.new,
                "changed": page.changed,
                "unchanged": page.unchanged,
                "hydrated": page.hydrated,
                "not_found": page.not_found,
                "failed": page.failed,
                "quarantined": page.quarantined,
                "run_jobs_per_s": round(t.listed / elapsed, 1),
                "run_throttled_responses": report.throttled,
                "run_throttle_wait_s": round(report.throttle_wait_s, 1),
            },
        )
        if self.progress is not None:
            self.progress.update(
                self.task,
                completed=t.listed,
                scope=report.scope,
                pages=t.pages,
                rate=f"{t.listed / elapsed:,.0f}",
                hydrated=t.hydrated,
                failed=t.failed,
                throttled=_throttling(report),
            )


def _throttling(report: ScopeReport) -> str:
    """The progress line's word on the API's request budget: empty until an answer said too many."""
    if not report.throttled and not report.throttle_wait_s:
        return ""
    now = "THROTTLED, " if report.held_back else ""
    return f"{now}throttled {report.throttled}×, waited {report.throttle_wait_s:.0f} s"
