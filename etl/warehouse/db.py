"""Engines and schema migrations for the configured database URL.

Alembic is imported only when a command needs the schema's head revision (``sync``, ``migrate``):
the revision a database is at is read with one plain query. The migrations ship inside the package
(``etl.migrations``, mapped from the repository's top-level ``migrations/`` by pyproject.toml), so a
wheel install migrates as a source checkout does.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from etl.config import DEFAULT_DB_SCHEMA, SUPPORTED_HINT
from etl.errors import ConfigError
from etl.warehouse.sql import qualified, schema_of

if TYPE_CHECKING:
    from alembic.config import Config

#: drivername → what it is served by; anything else is refused with a one-line message.
SUPPORTED = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` / ``postgres://`` URLs and use psycopg 3 for them; refuse the rest."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "the database URL is not a valid SQLAlchemy URL: set --database-url / "
            f"CLASSIFY_ETL_DATABASE_URL to e.g. {SUPPORTED_HINT}"
        ) from None
    driver = SUPPORTED.get(parsed.drivername)
    if driver is None:
        raise ConfigError(
            f"database URLs of the form {parsed.drivername}://... are not supported: "
            f"classify-etl works with SQLite and PostgreSQL through psycopg 3, e.g. {SUPPORTED_HINT}"
        )
    if driver != parsed.drivername and parsed.drivername.startswith("postgres"):
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, *, schema: str = DEFAULT_DB_SCHEMA, must_exist: bool = False) -> Engine:
    """An engine for the URL; SQLite gets WAL, foreign keys and a busy timeout. With ``must_exist``, a
    SQLite file that is not there is a ConfigError rather than a new, empty database.

    On PostgreSQL every statement SQLAlchemy compiles names its table with ``schema`` (the
    engine's ``schema_translate_map``), and the raw statements qualify theirs from the same map
    (``etl.warehouse.sql.qualified``): nothing depends on the connecting role's ``search_path``,
    and nothing is set per session, which a transaction-mode pooler would not keep."""
    url = normalize_url(url)
    path = sqlite_path(url)
    if url.startswith("sqlite") and schema != DEFAULT_DB_SCHEMA:
        raise ConfigError(
            f"--db-schema {schema} is for PostgreSQL: SQLite has no schemas (a SQLite file is one install); "
            "leave --db-schema / CLASSIFY_ETL_DB_SCHEMA / db_schema unset, or use a PostgreSQL URL"
        )
    if must_exist and path is not None and not path.is_file():
        raise ConfigError(
            f"no database at {path}: check --database-url / CLASSIFY_ETL_DATABASE_URL "
            "(`classify-etl migrate` or `sync` creates it)"
        )
    if url.startswith("sqlite"):
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        _batch_executemany(engine)
        return engine
    engine = create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10},
        execution_options={"schema_translate_map": {None: schema}},
    )
    _batch_executemany(engine)
    return engine


def _batch_executemany(engine: Engine) -> None:
    # An executemany of INSERTs becomes a few multi-row INSERT ... VALUES statements rendered from
    # the cached single-row compile (SQLAlchemy's "insertmanyvalues"), instead of one statement per
    # row: a 100-job page is a handful of statements, not hundreds.
    engine.dialect.use_insertmanyvalues_wo_returning = True


def migrations_dir() -> Path:
    """The Alembic script directory inside the installed package (a real directory: Alembic needs one)."""
    from importlib.util import find_spec

    spec = find_spec("etl.migrations")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        if Path(location, "versions").is_dir():
            return Path(location)
    from importlib.resources import as_file, files  # a package that is not plain files

    with as_file(files("etl.migrations")) as path:
        return Path(path)


def alembic_config(engine: Engine | None = None) -> Config:
    """Alembic's config pointing at the packaged migrations; the engine goes to env.py via attributes."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The revision in ``alembic_version``, by one plain query; None for an empty database (or a
    PostgreSQL schema that is not there yet)."""
    with engine.connect() as conn:
        try:
            version_table = qualified(conn, "alembic_version")
            rows = conn.execute(text(f"SELECT version_num FROM {version_table}")).scalars().all()
        except (OperationalError, DBAPIError):
            conn.rollback()
            check_schema(conn, may_migrate=False)  # a missing privilege is a GRANT to run, not a DB error
            if _has_table(conn, "alembic_version"):
                raise
            return None
    return rows[0] if rows else None


def _has_table(conn: Any, name: str) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(conn).has_table(name, schema=schema_of(conn)))


def check_schema(conn: Connection, *, may_migrate: bool, creating: bool = False) -> bool:
    """PostgreSQL: whether the configured schema exists; a ConfigError naming the GRANT to run when
    the connecting role may not use it (``may_migrate``: use and create in it), or, ``creating``
    (a migration is due), may not create in it, or create it."""
    schema = schema_of(conn)
    if schema is None:
        return True
    row = conn.execute(
        text(
            "SELECT n.oid IS NOT NULL AS found, current_user AS role, current_database() AS db, "
            "has_database_privilege(current_database(), 'CREATE') AS db_create, "
            "n.oid IS NOT NULL AND has_schema_privilege(n.oid, 'USAGE') AS usage, "
            "n.oid IS NOT NULL AND has_schema_privilege(n.oid, 'CREATE') AS can_create "
            "FROM (SELECT CAST(:schema AS name) AS name) AS wanted "
            "LEFT JOIN pg_namespace AS n ON n.nspname = wanted.name"
        ),
        {"schema": schema},
    ).one()
    quote = conn.dialect.identifier_preparer.quote
    role, database, name = quote(row.role), quote(row.db), quote(schema)
    if row.found and not (row.usage and (row.can_create or not creating)):
        grant = "USAGE, CREATE" if may_migrate or creating else "USAGE"
        raise ConfigError(
            f"role {row.role} may not {'create in' if creating else 'use'} schema {schema}: "
            f"have its owner run GRANT {grant} ON SCHEMA {name} TO {role}"
        )
    if creating and not row.found and not row.db_create:
        raise ConfigError(
            f"schema {schema} does not exist and role {row.role} may not create it: have an admin run "
            f"GRANT CREATE ON DATABASE {database} TO {role} (or CREATE SCHEMA {name} AUTHORIZATION {role})"
        )
    return bool(row.found)


def create_schema(conn: Connection) -> None:
    """PostgreSQL: the configured schema, created if it is missing (checked first: ``CREATE SCHEMA
    IF NOT EXISTS`` asks for the database's CREATE privilege even when the schema is there)."""
    schema = schema_of(conn)
    if schema is not None and not check_schema(conn, may_migrate=True, creating=True):
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {conn.dialect.identifier_preparer.quote(schema)}"))


@cache
def head_revision() -> str:
    """The head revision of the packaged migrations, as Alembic reads it."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


#: The revisions of classify-etl 0.1 (never released), replaced by the baseline ``0001_baseline``.
#: No revision of this version leads from them: a database at one of them is refused.
RETIRED_REVISIONS = frozenset(f"{n:04d}" for n in range(1, 19))


def refuse_retired(current: str | None) -> None:
    """A ConfigError for a database made by classify-etl 0.1, naming the way out."""
    if current in RETIRED_REVISIONS:
        raise ConfigError(
            f"the database schema is at revision {current} of classify-etl 0.1, which this version "
            "cannot upgrade: create a new database and run `classify-etl sync` into it (the API gives "
            "back every job it still lists; jobs deleted since, result history, past runs and "
            "quarantine records are not re-fetched, so keep the old database if you need them)"
        )


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; refuse if the database is ahead of this version."""
    current = current_revision(engine)
    refuse_retired(current)
    if revision == "head" and current is not None and current == head_revision():
        return  # the common cron case: nothing to do
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    if current is not None:
        try:
            script.get_revision(current)
        except Exception:
            raise ConfigError(
                f"the database schema is at revision {current}, which this version of classify-etl does "
                "not know: it was migrated by a newer classify-etl. Upgrade classify-etl (pip install -U) "
                "rather than run an older one against it."
            ) from None
    command.upgrade(alembic_config(engine), revision)


def upgrade_sql(
    url: str, start: str | None, revision: str = "head", *, schema: str = DEFAULT_DB_SCHEMA
) -> None:
    """Print the SQL that takes a database at ``start`` (None: empty) to ``revision``, running nothing."""
    import argparse

    refuse_retired(start)
    from alembic import command

    cfg = alembic_config()
    # env.py reads -x url= and -x schema=
    cfg.cmd_opts = argparse.Namespace(x=[f"url={normalize_url(url)}", f"schema={schema}"])
    command.upgrade(cfg, f"{start}:{revision}" if start else revision, sql=True)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(engine), revision)
