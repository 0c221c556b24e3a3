"""Print the differences between the schemas of two databases; nothing when they are the same.

Usage: python scripts/compare_schemas.py OLD_URL NEW_URL [--ignore-column-order]

Both URLs are SQLite or both PostgreSQL (the ``public`` schema). Each database is reflected into one
line per fact (a table's columns in order with their type, nullability, default and identity; its
primary key, indexes with their predicates, unique constraints, foreign keys and check constraints;
every view with its definition; on PostgreSQL every function with its source, every trigger and
every sequence from pg_catalog; on SQLite every index, view and trigger as sqlite_master holds it,
whitespace collapsed), and the two sets of lines are diffed. The rows of ``alembic_version`` are not
compared: they name the revision that made each database. Exit status 1 when they differ.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import warnings
from typing import Any

from sqlalchemy import Engine, create_engine, inspect, text


def _ws(sql: str | None) -> str:
    return re.sub(r"\s+", " ", sql or "").strip()


def _columns(engine: Engine, insp: Any, table: str, ordered: bool) -> list[str]:
    out = []
    for position, col in enumerate(insp.get_columns(table)):
        kind = col["type"].compile(dialect=engine.dialect)
        where = f"{position:02d} " if ordered else ""
        out.append(
            f"column {table}.{col['name']}: {where}{kind} nullable={col['nullable']} "
            f"default={_ws(col.get('default'))} identity={col.get('identity')}"
        )
    return out


def _table_facts(engine: Engine, insp: Any, table: str, ordered: bool) -> list[str]:
    out = _columns(engine, insp, table, ordered)
    pk = insp.get_pk_constraint(table)
    out.append(f"primary key {table}: {pk.get('name')} {pk['constrained_columns']}")
    for ix in insp.get_indexes(table):
        options = {k: _ws(str(v)) for k, v in sorted(ix.get("dialect_options", {}).items())}
        out.append(
            f"index {table}.{ix['name']}: {ix['column_names']} expressions={ix.get('expressions')} "
            f"unique={ix['unique']} sorting={ix.get('column_sorting')} {options}"
        )
    for uq in insp.get_unique_constraints(table):
        out.append(f"unique {table}.{uq['name']}: {uq['column_names']}")
    for fk in insp.get_foreign_keys(table):
        out.append(
            f"foreign key {table}.{fk['name']}: {fk['constrained_columns']} -> "
            f"{fk['referred_table']}{fk['referred_columns']} {sorted(fk.get('options', {}).items())}"
        )
    for ck in insp.get_check_constraints(table):
        out.append(f"check {table}.{ck['name']}: {_ws(ck['sqltext'])}")
    return out


def facts(url: str, *, ordered: bool = True) -> list[str]:
    # SQLite's expression indexes are not reflected; their sqlite_master lines below cover them.
    warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        out: list[str] = []
        for table in sorted(insp.get_table_names()):
            out += _table_facts(engine, insp, table, ordered)
        for view in sorted(insp.get_view_names()):
            out.append(f"view {view}: {_ws(insp.get_view_definition(view))}")
            for col in insp.get_columns(view):
                out.append(f"view column {view}.{col['name']}: {col['type']!r}")
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                rows = conn.execute(
                    text(
                        "SELECT type, name, tbl_name, sql FROM sqlite_master "
                        "WHERE type IN ('index', 'view', 'trigger') ORDER BY type, name"
                    )
                )
                out += [f"sqlite_master {r.type} {r.name} on {r.tbl_name}: {_ws(r.sql)}" for r in rows]
            else:
                out += _pg_catalog(conn)
        return out
    finally:
        engine.dispose()


def _pg_catalog(conn: Any) -> list[str]:
    out = []
    functions = conn.execute(
        text(
            "SELECT p.proname, pg_get_functiondef(p.oid) AS body FROM pg_proc AS p "
            "JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1, 2"
        )
    )
    out += [f"function {r.proname}: {_ws(r.body)}" for r in functions]
    triggers = conn.execute(
        text(
            "SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid) AS definition, t.tgenabled "
            "FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY 1, 2"
        )
    )
    out += [f"trigger {r.relname}.{r.tgname}: {r.tgenabled} {r.definition}" for r in triggers]
    sequences = conn.execute(
        text(
            "SELECT sequencename, data_type, start_value, increment_by, cycle FROM pg_sequences "
            "WHERE schemaname = 'public' ORDER BY 1"
        )
    )
    out += [f"sequence {r[0]}: {tuple(r[1:])}" for r in sequences]
    indexes = conn.execute(
        text(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2"
        )
    )
    out += [f"pg index {r.tablename}.{r.indexname}: {r.indexdef}" for r in indexes]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_url")
    parser.add_argument("new_url")
    parser.add_argument(
        "--ignore-column-order", action="store_true", help="compare each table's columns as a set"
    )
    args = parser.parse_args(argv)
    ordered = not args.ignore_column_order
    old, new = facts(args.old_url, ordered=ordered), facts(args.new_url, ordered=ordered)
    diff = list(difflib.unified_diff(sorted(old), sorted(new), "old", "new", lineterm="", n=0))
    for line in diff:
        print(line)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
