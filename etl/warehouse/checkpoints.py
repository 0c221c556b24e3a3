"""Where each walk stands: a scope's page token (``etl_checkpoints``), the created_at windows of
a v2 walk (``etl_walk_windows``), and the list source chosen for a scope (``etl_scope_sources``).

No function here commits: the caller owns the transaction, so a page's rows and its
checkpoint land together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Connection,
    delete,
    select,
)

from etl.warehouse.schema import (
    etl_checkpoints,
    etl_scope_sources,
    etl_walk_windows,
)
from etl.warehouse.sql import upsert


@dataclass
class Checkpoint:
    scope: str
    source: str
    next_page_token: str | None
    pages_done: int
    walk_started_at: datetime | None
    last_complete_walk_at: datetime | None


def read_checkpoint(conn: Connection, scope: str, source: str) -> Checkpoint | None:
    c = etl_checkpoints.c
    row = conn.execute(select(etl_checkpoints).where(c.scope == scope, c.source == source)).one_or_none()
    if row is None:
        return None
    return Checkpoint(
        row.scope,
        row.source,
        row.next_page_token,
        row.pages_done,
        row.walk_started_at,
        row.last_complete_walk_at,
    )


def write_checkpoint(conn: Connection, cp: Checkpoint, now: datetime) -> None:
    upsert(
        conn,
        etl_checkpoints,
        [
            {
                "scope": cp.scope,
                "source": cp.source,
                "next_page_token": cp.next_page_token,
                "pages_done": cp.pages_done,
                "walk_started_at": cp.walk_started_at,
                "last_complete_walk_at": cp.last_complete_walk_at,
                "updated_at": now,
            }
        ],
        ["scope", "source"],
    )


@dataclass
class Window:
    """One created_at window of a parallel v2 walk and where its walk stands."""

    scope: str
    walk_kind: str
    created_from: datetime | None
    created_to: datetime | None
    next_page_token: str | None
    pages_done: int
    done: bool
    walk_started_at: datetime

    @property
    def key(self) -> str:
        return "|".join(t.isoformat() if t else "" for t in (self.created_from, self.created_to))


def read_windows(conn: Connection, scope: str, walk_kind: str) -> list[Window]:
    w = etl_walk_windows.c
    rows = conn.execute(
        select(etl_walk_windows).where(w.scope == scope, w.walk_kind == walk_kind).order_by(w.window_key)
    )
    return [
        Window(
            r.scope,
            r.walk_kind,
            r.created_from,
            r.created_to,
            r.next_page_token,
            r.pages_done,
            bool(r.done),
            r.walk_started_at,
        )
        for r in rows
    ]


def write_windows(conn: Connection, windows: Sequence[Window], now: datetime) -> None:
    upsert(
        conn,
        etl_walk_windows,
        [
            {
                "scope": w.scope,
                "walk_kind": w.walk_kind,
                "window_key": w.key,
                "created_from": w.created_from,
                "created_to": w.created_to,
                "next_page_token": w.next_page_token,
                "pages_done": w.pages_done,
                "done": w.done,
                "walk_started_at": w.walk_started_at,
                "updated_at": now,
            }
            for w in windows
        ],
        ["scope", "walk_kind", "window_key"],
    )


def forget_windows(conn: Connection, scope: str, walk_kind: str) -> None:
    w = etl_walk_windows.c
    conn.execute(delete(etl_walk_windows).where(w.scope == scope, w.walk_kind == walk_kind))


def chosen_source(conn: Connection, scope: str) -> str | None:
    s = etl_scope_sources.c
    return conn.execute(select(s.list_source).where(s.scope == scope)).scalar_one_or_none()


def choose_source(conn: Connection, scope: str, source: str, reason: str, now: datetime) -> None:
    upsert(
        conn,
        etl_scope_sources,
        [{"scope": scope, "list_source": source, "chosen_at": now, "reason": reason[:2000]}],
        ["scope"],
    )
