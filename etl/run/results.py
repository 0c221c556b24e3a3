"""Run bookkeeping: the counters a run keeps, its result object, and its ``etl_sync_runs`` row.

Words used throughout: a *run* is one ``classify-etl sync``; it walks one or more *scopes*; a run's
*outcome* is success, partial, failed or interrupted (the ``etl_sync_runs.outcome`` column); each
scope's part of it is a ``ScopeReport``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from etl.warehouse import runs, unmapped
from etl.warehouse.schema import etl_sync_runs

log = logging.getLogger("etl.runs")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Counters:
    pages: int = 0
    listed: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    hydrated: int = 0
    not_found: int = 0
    failed: int = 0
    quarantined: int = 0
    deleted: int = 0
    credits_fetched: int = 0

    def add(self, other: Counters) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class ScopeReport:
    """One scope's part of a run."""

    scope: str
    source: str
    counters: Counters = field(default_factory=Counters)
    #: "v1 walk", "v2 incremental", "v2 full walk", "v2 sequential walk" or "v2 partition".
    kind: str = "v1 walk"
    complete: bool = False
    resumed_from_page: int = 0
    switched: bool = False
    error: str | None = None
    #: Why a complete walk marked no deletions (the delete guard), if it did not.
    guard: str | None = None
    #: The run's throttling so far (run-wide, for the progress line): answers that said too many
    #: requests, seconds requests were held back, and whether one is held back now.
    throttled: int = 0
    throttle_wait_s: float = 0.0
    held_back: bool = False
    #: List requests per part of the plan ("window", "unfinished", "finished since", "full walk"...).
    list_requests: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class SyncResult:
    run_id: int | None
    started_at: datetime
    finished_at: datetime | None = None
    scopes: list[ScopeReport] = field(default_factory=list)
    totals: Counters = field(default_factory=Counters)
    requests: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    #: The fields of the API's payloads that no column maps and that this run stored first
    #: (``etl.warehouse.unmapped``): endpoint, path, sample_job_id, first/last seen.
    new_fields: list[dict[str, Any]] = field(default_factory=list)
    #: Throttling answers (429, or 503 with a wait) and the seconds requests were held back.
    throttled_responses: int = 0
    throttle_wait_s: float = 0.0

    @property
    def duration_s(self) -> float:
        end = self.finished_at or utcnow()
        return (end - self.started_at).total_seconds()

    @property
    def ok(self) -> bool:
        return all(s.error is None for s in self.scopes)

    @property
    def outcome(self) -> str:
        if not self.ok:
            return "failed"
        if self.totals.failed or self.totals.quarantined or any(s.guard for s in self.scopes):
            return "partial"
        return "success"


_RUN_FIELDS = {
    "pages": "pages",
    "listed": "jobs_listed",
    "new": "jobs_new",
    "changed": "jobs_changed",
    "unchanged": "jobs_unchanged",
    "hydrated": "jobs_hydrated",
    "not_found": "jobs_not_found",
    "failed": "jobs_failed",
    "quarantined": "jobs_quarantined",
    "deleted": "jobs_deleted",
}


def counter_columns(c: Counters) -> dict[str, int]:
    return {col: getattr(c, name) for name, col in _RUN_FIELDS.items()}


def counter_increments(c: Counters) -> dict[str, Any]:
    """Column increments for a page's counters (``jobs_new = jobs_new + n``), in its transaction."""
    return {col: etl_sync_runs.c[col] + getattr(c, name) for name, col in _RUN_FIELDS.items()}


def start(conn: Connection, scopes: list[str], *, started_at: datetime, full_refresh: bool) -> int:
    """Record a run as running; runs left running on these (now locked) scopes died: say so."""
    runs.abandon_stale_runs(conn, scopes, now=started_at)
    return runs.start_run(conn, started_at=started_at, full_refresh=full_refresh, scopes=scopes)


def details(result: SyncResult) -> dict[str, Any]:
    """What the run's counters columns do not hold, for ``etl_sync_runs.details``."""
    return {
        "credits_fetched": result.totals.credits_fetched,
        "requests": result.requests,
        "retries": result.retries,
        "new_fields": [{"endpoint": f["endpoint"], "path": f["path"]} for f in result.new_fields],
        "scopes": {
            s.scope: {
                "kind": s.kind,
                "source": s.source,
                "complete": s.complete,
                "list_requests": s.list_requests,
                "guard": s.guard,
                "warnings": s.warnings,
            }
            for s in result.scopes
        },
    }


def finish(engine: Engine, result: SyncResult, *, outcome: str, error: BaseException | None) -> None:
    """Close the run's row; never raises (the database may be what failed)."""
    result.finished_at = utcnow()
    if result.run_id is None:  # dry run
        return
    try:
        with engine.connect() as conn:
            result.new_fields = unmapped.first_seen_in_run(conn, result.run_id)
    except Exception:
        log.warning("could not read the fields run %s met that no column maps", result.run_id)
    messages = [f"{s.scope}: {s.error}" for s in result.scopes if s.error]
    messages += [f"{s.scope}: {s.guard}" for s in result.scopes if s.guard]
    if error is not None:
        messages.append(str(error) or type(error).__name__)
    kinds = sorted({s.kind for s in result.scopes})
    try:
        with engine.begin() as conn:
            runs.update_run(
                conn,
                result.run_id,
                finished_at=result.finished_at,
                outcome=outcome,
                message="; ".join(messages)[:4000] or None,
                run_kind=", ".join(kinds)[:32] or None,
                details=details(result),
                throttled_responses=result.throttled_responses,
                throttle_wait_s=round(result.throttle_wait_s, 3),
                **counter_columns(result.totals),
            )
    except Exception:
        log.warning("could not record the end of run %s", result.run_id)
