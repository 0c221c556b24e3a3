"""Per-scope state, for ``classify-etl scopes``: the checkpoints (``etl_checkpoints``) and the list source
``auto`` chose (``etl_scope_sources``), shown and cleared.

``reset`` drops a scope's checkpoints: its next run walks from page 1, as a complete walk, and keeps the
list source it moved to. ``forget`` also drops the recorded list source and which jobs its walks listed
(``etl_job_seen``): the scope starts as if it had never been synced. Job rows are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from etl.warehouse.schema import etl_checkpoints, etl_job_seen, etl_scope_sources, etl_walk_windows


@dataclass(frozen=True)
class ScopeState:
    scope: str
    list_source: str | None  # what ``auto`` moved the scope to, if it did
    checkpoints: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "list_source": self.list_source, "checkpoints": self.checkpoints}


def list_scopes(conn: Connection) -> list[ScopeState]:
    """Every scope that has a checkpoint or a recorded list source, by name."""
    sources = {r.scope: r.list_source for r in conn.execute(select(etl_scope_sources))}
    checkpoints: dict[str, list[dict[str, Any]]] = {}
    c = etl_checkpoints.c
    for r in conn.execute(select(etl_checkpoints).order_by(c.scope, c.source)):
        checkpoints.setdefault(r.scope, []).append(
            {
                "source": r.source,
                "walk_in_progress": r.next_page_token is not None,
                "pages_done": r.pages_done,
                "walk_started_at": _iso(r.walk_started_at),
                "last_complete_walk_at": _iso(r.last_complete_walk_at),
            }
        )
    names = sorted(set(sources) | set(checkpoints))
    return [ScopeState(n, sources.get(n), checkpoints.get(n, [])) for n in names]


def known(conn: Connection, scope: str) -> bool:
    """Whether anything is kept about the scope (a reset one may have seen-jobs only)."""
    seen = conn.execute(select(etl_job_seen.c.scope).where(etl_job_seen.c.scope == scope).limit(1)).first()
    return seen is not None or any(s.scope == scope for s in list_scopes(conn))


def reset(conn: Connection, scope: str) -> int:
    """Drop the scope's checkpoints (the list walks' and the v2 windows') and its recorded list
    source: its next run starts from page 1 and asks the v1 list again. Rows deleted."""
    n = conn.execute(delete(etl_checkpoints).where(etl_checkpoints.c.scope == scope)).rowcount
    n += conn.execute(delete(etl_walk_windows).where(etl_walk_windows.c.scope == scope)).rowcount
    n += conn.execute(delete(etl_scope_sources).where(etl_scope_sources.c.scope == scope)).rowcount
    return int(n)


def forget(conn: Connection, scope: str) -> int:
    """Everything ``reset`` drops, and the seen-jobs of the scope (its deletion baseline)."""
    n = reset(conn, scope)
    n += conn.execute(delete(etl_job_seen).where(etl_job_seen.c.scope == scope)).rowcount
    return int(n)


def render(states: list[ScopeState]) -> str:
    if not states:
        return "no scopes yet: a sync records one per project, organization or the default"
    lines = []
    for s in states:
        moved = f" (list source: {s.list_source})" if s.list_source else ""
        lines.append(f"{s.scope}{moved}")
        for c in s.checkpoints:
            walk = f"walk in progress, {c['pages_done']} pages done" if c["walk_in_progress"] else "idle"
            lines.append(
                f"  [{c['source']}] {walk}; last complete walk {c['last_complete_walk_at'] or 'never'}"
            )
    return "\n".join(lines)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
