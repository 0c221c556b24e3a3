"""Alembic environment: the URL comes from the engine handed in, `-x url=`, or the environment."""

from __future__ import annotations

import os
import warnings
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Engine

from etl.migrations import baseline_sql
from etl.warehouse.db import make_engine
from etl.warehouse.schema import metadata

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
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def _url() -> str:
    return context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "CLASSIFY_ETL_DATABASE_URL", "sqlite:///classify_etl.db"
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine: Engine = config.attributes.get("engine") or make_engine(_url())
    with engine.connect() as connection:
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
            )
            with context.begin_transaction():
                context.run_migrations()
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
