"""Alembic environment: the URL comes from the engine handed in, `-x url=`, or the environment; the
PostgreSQL schema from the engine (``etl.warehouse.db.make_engine``), `-x schema=`, or the environment.

On PostgreSQL the schema is created if missing and the whole migration runs with ``search_path``
set to it alone (``SET LOCAL``: this transaction only), so whatever a revision creates, by
``op`` or by raw SQL, lands there, and ``alembic_version`` is kept there too. Afterwards every
function of classify-etl in the schema is pinned to it (``ALTER FUNCTION ... SET search_path``): a
trigger function then finds its tables whatever the search_path of the session whose write fires it.
"""

from __future__ import annotations

import os
import warnings
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Engine

from etl.config import DEFAULT_DB_SCHEMA
from etl.migrations import baseline_sql
from etl.warehouse.db import create_schema, make_engine
from etl.warehouse.schema import metadata
from etl.warehouse.sql import schema_of

config = context.config
if config.config_file_name is not None and not config.attributes.get("engine"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata

# Indexes on expressions, created by raw SQL only (the baseline's in migrations/baseline_sql.py; a
# later revision that adds one adds its name here): autogenerate can neither reflect nor compare
# them (SQLite) or compares them poorly (PostgreSQL), so `alembic check` leaves them alone.
EXPRESSION_INDEXES = baseline_sql.EXPRESSION_INDEXES
for _name in EXPRESSION_INDEXES:
    warnings.filterwarnings(
        "ignore", message=f"Skipped unsupported reflection of expression-based index {_name}"
    )


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # alembic_version is Alembic's own; with an explicit version_table_schema Alembic no longer
    # recognizes it among the reflected tables of the default schema.
    if type_ == "table" and name == "alembic_version":
        return False
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def _url() -> str:
    return context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "CLASSIFY_ETL_DATABASE_URL", "sqlite:///classify_etl.db"
    )


def _schema() -> str:
    return context.get_x_argument(as_dictionary=True).get("schema") or os.environ.get(
        "CLASSIFY_ETL_DB_SCHEMA", DEFAULT_DB_SCHEMA
    )


def _quoted(schema: str) -> str:
    return '"' + schema.replace('"', '""') + '"'


def _pin_functions(schema: str) -> str:
    """Every function of classify-etl in the schema (named ``classify_*`` or ``etl_*``, as the
    revisions name theirs; never another source's in a shared ``public``) resolves names in the
    schema alone; pg_temp last, so that a session's temporary table cannot stand in for one of the
    schema's. No ``%`` in the text: the offline SQL (``migrate --sql``) would print it doubled."""
    literal = "'" + schema.replace("'", "''") + "'"
    return (
        "DO $pin$ DECLARE f record; BEGIN "
        "FOR f IN SELECT p.oid, p.proname, n.nspname FROM pg_proc AS p "
        "JOIN pg_namespace AS n ON n.oid = p.pronamespace "
        f"WHERE n.nspname = {literal} AND p.prokind = 'f' "
        "AND (starts_with(p.proname, 'classify_') OR starts_with(p.proname, 'etl_')) "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.classid = 'pg_proc'::regclass "
        "AND d.objid = p.oid AND d.deptype = 'e') LOOP "
        "EXECUTE 'ALTER FUNCTION ' || quote_ident(f.nspname) || '.' || quote_ident(f.proname) "
        "|| '(' || pg_get_function_identity_arguments(f.oid) || ') SET search_path = ' "
        "|| quote_ident(f.nspname) || ', pg_temp'; "
        "END LOOP; END $pin$"
    )


def _in_schema(schema: str | None) -> None:
    """Migrate inside the transaction alembic opened: the revisions, then the functions pinned."""
    if schema is not None:
        context.execute(f"SET LOCAL search_path TO {_quoted(schema)}")
    context.run_migrations()
    if schema is not None:
        context.execute(_pin_functions(schema))


def run_migrations_offline() -> None:
    url = _url()
    schema = _schema() if url.startswith("postgres") else None
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
        version_table_schema=schema,
    )
    if schema is not None:
        context.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(schema)}")
    with context.begin_transaction():
        _in_schema(schema)


def run_migrations_online() -> None:
    engine: Engine = config.attributes.get("engine") or make_engine(_url(), schema=_schema())
    with engine.connect() as connection:
        schema = schema_of(connection)
        if schema is not None:
            create_schema(connection)  # in the migration's transaction: a failed migration leaves none
        if connection.dialect.name == "sqlite":
            # Batch mode rebuilds a table by renaming; without this, SQLite rewrites the BI views'
            # references to the renamed table and the rebuild fails.
            connection.exec_driver_sql("PRAGMA legacy_alter_table=ON")
            # A batch rebuild drops the old table: with foreign keys on, that DROP deletes every
            # child row through ON DELETE CASCADE (rules, results, history...). Off for the
            # migration (the pragma is a no-op inside a transaction, so before it starts).
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            # pysqlite commits DDL as it goes (it opens transactions for DML only): a migration
            # killed half way would leave tables without their alembic_version row, and every
            # later run would fail on "table already exists". Own the transaction instead.
            connection.commit()
            driver = connection.connection.driver_connection
            driver.isolation_level = None  # type: ignore[union-attr]
            connection.exec_driver_sql("BEGIN")
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                # SQLite cannot ALTER most things: batch mode recreates the table.
                render_as_batch=True,
                compare_type=True,
                include_object=include_object,
                version_table_schema=schema,
            )
            with context.begin_transaction():
                _in_schema(schema)
            connection.commit()
        finally:
            if connection.dialect.name == "sqlite":
                connection.rollback()  # nothing left open (a no-op after the commit)
                driver.isolation_level = ""  # type: ignore[union-attr]  # the pool's default again
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
