"""Human and JSON renderings of a run's summary and of ``status``."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from etl.warehouse import schema, unmapped
from etl.warehouse.schema import (
    classify_jobs,
    etl_checkpoints,
    etl_quarantine,
    etl_scope_sources,
    etl_sync_runs,
)

if TYPE_CHECKING:
    from etl.run.results import SyncResult


def summary_dict(result: SyncResult) -> dict[str, Any]:
    t = result.totals
    return {
        "run_id": result.run_id,
        "outcome": result.outcome,
        "duration_s": round(result.duration_s, 3),
        "pages": t.pages,
        "jobs_listed": t.listed,
        "new": t.new,
        "changed": t.changed,
        "unchanged": t.unchanged,
        "hydrated": t.hydrated,
        "not_found_in_v2": t.not_found,
        "failed": t.failed,
        "quarantined": t.quarantined,
        "deleted": t.deleted,
        "credits_fetched": t.credits_fetched,
        "requests": result.requests,
        "retries": result.retries,
        "new_fields": [
            {"endpoint": f["endpoint"], "path": f["path"], "sample_job_id": f["sample_job_id"]}
            for f in result.new_fields
        ],
        "throttled_responses": result.throttled_responses,
        "throttle_wait_s": round(result.throttle_wait_s, 1),
        "scopes": [
            {
                "scope": s.scope,
                "source": s.source,
                "kind": s.kind,
                "complete": s.complete,
                "list_requests": s.list_requests,
                "guard": s.guard,
                "warnings": s.warnings,
                "resumed_after_page": s.resumed_from_page,
                "pages": s.counters.pages,
                "error": s.error,
            }
            for s in result.scopes
        ],
    }


def summary_text(result: SyncResult) -> str:
    d = summary_dict(result)
    lines = [
        f"sync run {d['run_id']}: {d['outcome']} in {d['duration_s']:.1f} s",
        f"  pages {d['pages']}   jobs listed {d['jobs_listed']}",
        f"  new {d['new']}   changed {d['changed']}   unchanged {d['unchanged']}",
        f"  hydrated {d['hydrated']}   not in v2 {d['not_found_in_v2']}   failed {d['failed']}"
        f"   quarantined {d['quarantined']}   deleted {d['deleted']}",
        f"  credits fetched {d['credits_fetched']}",
        "  requests "
        + (", ".join(f"{k} {v}" for k, v in sorted(d["requests"].items())) or "none")
        + f"   retries {d['retries']}",
    ]
    if d["throttled_responses"] or d["throttle_wait_s"]:
        lines.append(
            f"  throttled: {d['throttled_responses']} answers said too many requests; "
            f"requests held back {d['throttle_wait_s']:.1f} s"
        )
    for s in d["scopes"]:
        state = "complete" if s["complete"] else ("FAILED: " + s["error"] if s["error"] else "incomplete")
        resumed = f", resumed after page {s['resumed_after_page']}" if s["resumed_after_page"] else ""
        parts = ", ".join(f"{k} {v}" for k, v in s["list_requests"].items())
        lines.append(
            f"  scope {s['scope']} ({s['source']}): {s['pages']} pages{resumed}, {state}; {s['kind']}"
            + (f"; list requests: {parts}" if parts else "")
        )
        if s["guard"]:
            lines.append(f"  scope {s['scope']}: WARNING {s['guard']}")
    if d["new_fields"]:
        lines.append("  " + unmapped_sentence(d["new_fields"]))
    return "\n".join(lines)


def unmapped_sentence(fields: list[dict[str, Any]]) -> str:
    """What the run summary and ``status`` say of fields no column maps, in one sentence."""
    named = ", ".join(f"{f['endpoint']} `{f['path']}`" for f in fields)
    some = "a field" if len(fields) == 1 else "fields"
    return (
        f"the API sent {some} classify-etl does not map: {named}, readable in the raw JSON "
        f"(classify_job_payloads.raw; e.g. job {fields[0]['sample_job_id']})"
    )


COUNTED_TABLES = (
    schema.classify_jobs,
    schema.classify_rules,
    schema.classify_parsing_configs,
    schema.classify_target_pages,
    schema.classify_results,
)


def status_dict(
    conn: Connection,
    *,
    last_runs: int = 5,
    full_walk_every: timedelta = timedelta(hours=24),
    lookback: timedelta = timedelta(days=1),
) -> dict[str, Any]:
    """The checkpoints, the v2 plan per scope, the last runs and row counts, as plain data."""
    chosen = {r.scope: r for r in conn.execute(select(etl_scope_sources))}
    checkpoints = [
        {
            "scope": r.scope,
            "source": r.source,
            "source_in_use": chosen[r.scope].list_source if r.scope in chosen else None,
            "walk_in_progress": r.next_page_token is not None,
            "pages_done": r.pages_done,
            "walk_started_at": _iso(r.walk_started_at),
            "last_complete_walk_at": _iso(r.last_complete_walk_at),
        }
        for r in conn.execute(select(etl_checkpoints).order_by(etl_checkpoints.c.scope))
    ]
    runs = [
        {
            "id": r.id,
            "started_at": _iso(r.started_at),
            "finished_at": _iso(r.finished_at),
            "outcome": r.outcome,
            "pages": r.pages,
            "jobs_listed": r.jobs_listed,
            "new": r.jobs_new,
            "changed": r.jobs_changed,
            "hydrated": r.jobs_hydrated,
            "failed": r.jobs_failed,
            "message": r.message,
        }
        for r in conn.execute(select(etl_sync_runs).order_by(etl_sync_runs.c.id.desc()).limit(last_runs))
    ]
    # Per scope: the latest run that walked it (runs of several scopes carry run-wide counters).
    recent = conn.execute(select(etl_sync_runs).order_by(etl_sync_runs.c.id.desc()).limit(200)).all()
    for c in checkpoints:
        last = next((r for r in recent if c["scope"] in (r.scopes or [])), None)
        c["last_run"] = (
            {
                "id": last.id,
                "outcome": last.outcome,
                "finished_at": _iso(last.finished_at),
                "jobs_listed": last.jobs_listed,
                "hydrated": last.jobs_hydrated,
                "failed": last.jobs_failed,
                "quarantined": last.jobs_quarantined,
            }
            if last is not None
            else None
        )
    for c in checkpoints:
        if c["source"] == "v2":
            c["v2_plan"] = _v2_plan(conn, c, full_walk_every, lookback)
    counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in COUNTED_TABLES}
    j = classify_jobs.c
    by_hydration: dict[str, int] = dict(
        (r.hydration_status, r.n)
        for r in conn.execute(
            select(j.hydration_status, func.count().label("n")).group_by(j.hydration_status)
        )
    )
    q = etl_quarantine.c
    open_q = conn.execute(select(func.count()).where(q.resolved_at.is_(None))).scalar_one()
    resolved_q = conn.execute(select(func.count()).where(q.resolved_at.is_not(None))).scalar_one()
    deleted = conn.execute(select(func.count()).where(j.deleted_at.is_not(None))).scalar_one()
    return {
        "unmapped_fields": unmapped.still_unmapped(conn),
        "checkpoints": checkpoints,
        "runs": runs,
        "rows": counts,
        "hydration": by_hydration,
        "quarantine": {"open": open_q, "resolved": resolved_q},
        "deleted_jobs": deleted,
    }


def _v2_plan(conn: Connection, c: dict[str, Any], every: timedelta, lookback: timedelta) -> dict[str, Any]:
    """When the scope's next full walk is due, its incremental window, and what it holds unfinished."""
    from etl.warehouse import checkpoints, planreads

    last = checkpoints.read_checkpoint(conn, c["scope"], "v2")
    last_full = last.last_complete_walk_at if last is not None else None
    windows = checkpoints.read_windows(conn, c["scope"], "full")
    newest = planreads.newest_created_at(conn, c["scope"])
    return {
        "last_full_walk_at": _iso(last_full),
        "next_full_walk_due": _iso(last_full + every) if last_full is not None else "next run",
        "full_walk_windows_in_progress": sum(1 for w in windows if not w.done),
        "incremental_created_from": _iso(newest - lookback) if newest is not None else None,
        "unfinished_held": len(planreads.unfinished_job_ids(conn, c["scope"], created_before=None)),
    }


def status_text(d: dict[str, Any]) -> str:
    lines = []
    for f in d["unmapped_fields"]:
        lines.append(
            unmapped_sentence([f]) + f"; first seen {f['first_seen_at']}, last seen {f['last_seen_at']}"
        )
    for c in d["checkpoints"]:
        if c.get("source_in_use") == "v2" and c["source"] == "v2":
            lines.append(f"scope {c['scope']}: v1 list retired; using the v2 list (GET /api/v2/classify)")
    lines.append("checkpoints:")
    for c in d["checkpoints"] or [{"scope": "(none yet)"}]:
        if "source" not in c:
            lines.append("  (none yet)")
            continue
        walk = f"walk in progress, {c['pages_done']} pages done" if c["walk_in_progress"] else "idle"
        run = c.get("last_run")
        last = f"; last run #{run['id']} {run['outcome']}" if run else ""
        lines.append(
            f"  {c['scope']} [{c['source']}]: {walk}; "
            f"last complete walk {c['last_complete_walk_at'] or 'never'}{last}"
        )
        plan = c.get("v2_plan")
        if plan:
            lines.append(
                f"    v2: next full walk {plan['next_full_walk_due']}"
                + (
                    f" ({plan['full_walk_windows_in_progress']} windows to go)"
                    if plan["full_walk_windows_in_progress"]
                    else ""
                )
                + f"; incremental from created {plan['incremental_created_from'] or '-'}; "
                f"{plan['unfinished_held']} jobs held unfinished"
            )
    lines.append("last runs:")
    for r in d["runs"] or []:
        lines.append(
            f"  #{r['id']} {r['started_at']} {r['outcome']}: pages {r['pages']}, listed {r['jobs_listed']}, "
            f"new {r['new']}, changed {r['changed']}, hydrated {r['hydrated']}, failed {r['failed']}"
            + (f" — {r['message']}" if r["message"] else "")
        )
    if not d["runs"]:
        lines.append("  (none yet)")
    lines.append("rows: " + ", ".join(f"{k} {v}" for k, v in d["rows"].items()))
    lines.append("hydration: " + (", ".join(f"{k} {v}" for k, v in sorted(d["hydration"].items())) or "-"))
    lines.append(
        f"quarantine: {d['quarantine']['open']} open, {d['quarantine']['resolved']} resolved; "
        f"deleted jobs: {d['deleted_jobs']}"
    )
    return "\n".join(lines)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
