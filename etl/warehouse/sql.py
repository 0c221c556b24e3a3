"""Dialect-aware set-based statements: one statement per table per batch, never one per row.

No function here commits: the caller owns the transaction, so a page's rows and its
checkpoint land together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    any_,
    insert,
    literal,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite


def schema_of(bind: Connection | Engine) -> str | None:
    """The PostgreSQL schema the product's objects live in (``etl.warehouse.db.make_engine`` puts it
    in the engine's ``schema_translate_map``); None on SQLite."""
    translate = bind.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(None)
    return str(schema) if schema is not None else None


def qualified(bind: Connection | Engine, name: str) -> str:
    """``name`` as raw SQL must write it: with its schema, quoted. The translate map reaches only the
    statements SQLAlchemy compiles, so every ``text()`` naming a product object goes through here."""
    quote = bind.dialect.identifier_preparer.quote
    schema = schema_of(bind)
    return f"{quote(schema)}.{quote(name)}" if schema is not None else quote(name)


def among(conn: Connection, column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(array)``: one parameter whatever the
    count, so the statement's text is the same on every page and psycopg parses it once (an IN
    list of 100 parameters is parsed again on each execution)."""
    if conn.dialect.name == "postgresql":
        return column == any_(literal(list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))


# Columns an upsert must not overwrite: when we first saw the job is set once.
_INSERT_ONLY = frozenset({"id", "first_seen_at"})


def upsert(conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
    """A set-based upsert: one statement for all rows (ON CONFLICT DO UPDATE)."""
    if not rows:
        return
    columns = [c for c in rows[0] if c not in keys and c not in _INSERT_ONLY]
    if conn.dialect.name == "postgresql":
        _pg_insert_json(conn, table, rows, conflict_keys=keys, update=columns)
        return
    stmt = sqlite.insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns})
    conn.execute(stmt, rows)  # SQLite's executemany is a C loop in-process: already set-based


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _pg_insert_json(conn, table, rows)
    else:
        conn.execute(insert(table), rows)


def _json_default(value: Any) -> Any:
    """What json.dumps cannot encode, as text PostgreSQL's input functions read exactly:
    timestamps as ISO 8601, Decimals as their digits (a JSON string: jsonb_populate_recordset
    reads it into NUMERIC as written, never through a float), bytes as bytea hex."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot store the non-finite decimal {value}")
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    raise TypeError(f"cannot encode {type(value).__name__}")


def jsonb_text(rows: list[dict[str, Any]]) -> str:
    """A batch of rows as the JSON text of one JSONB parameter. orjson (a tenth of json.dumps's CPU
    here: this was a tenth of a cold sync's client CPU) encodes timestamps as ISO 8601 itself, and
    the rest through ``_json_default``. It writes a non-finite float as null where json.dumps
    refused: no row holds one (``confidence`` is validated finite, credits are Decimals, which
    ``_json_default`` refuses when not finite, quarantined payloads have theirs escaped), and a
    test holds the two encodings equal."""
    try:
        return orjson.dumps(rows, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        # What orjson cannot encode (an integer beyond 64 bits in a quarantined payload) or what
        # _json_default refuses: json.dumps encodes the one and raises the other's error as before.
        return json.dumps(rows, default=_json_default, separators=(",", ":"), allow_nan=False)


def _pg_insert_json(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    conflict_keys: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """PostgreSQL: the whole batch travels as one JSONB parameter and jsonb_populate_recordset
    turns it into rows server-side. One short statement whatever the batch size, so its text is
    prepared once and cached, instead of a statement per row or a huge VALUES list to parse."""
    quote = conn.dialect.identifier_preparer.quote
    cols = ", ".join(quote(c) for c in rows[0])
    name = qualified(conn, table.name)
    sql = (
        f"INSERT INTO {name} ({cols}) SELECT {cols} "
        f"FROM jsonb_populate_recordset(NULL::{name}, CAST(:rows AS jsonb))"
    )
    if conflict_keys:
        sets = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in update)
        sql += f" ON CONFLICT ({', '.join(quote(k) for k in conflict_keys)}) DO UPDATE SET {sets}"
    payload = jsonb_text(rows)
    conn.execute(text(sql), {"rows": payload})


def insert_new(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: rows whose key exists are skipped, and nothing is written."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        quote = conn.dialect.identifier_preparer.quote
        cols = ", ".join(quote(c) for c in rows[0])
        keys = ", ".join(quote(c.name) for c in table.primary_key.columns)
        name = qualified(conn, table.name)
        payload = jsonb_text(rows)
        conn.execute(
            text(
                f"INSERT INTO {name} ({cols}) SELECT {cols} "
                f"FROM jsonb_populate_recordset(NULL::{name}, CAST(:rows AS jsonb)) "
                f"ON CONFLICT ({keys}) DO NOTHING"
            ),
            {"rows": payload},
        )
        return
    conn.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)
