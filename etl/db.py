"""Engines and schema migrations for the configured database URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from etl.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
ALEMBIC_INI = ROOT / "alembic.ini"
MIGRATIONS = ROOT / "migrations"


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` / ``postgres://`` URLs and use psycopg 3 for them."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "the database URL is not a valid SQLAlchemy URL: set --database-url / "
            "CLASSIFY_ETL_DATABASE_URL to e.g. sqlite:///classify_etl.db or postgresql+psycopg://user@host/db"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL, foreign keys and a busy timeout."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        _batch_executemany(engine)
        return engine
    engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    _batch_executemany(engine)
    return engine


def _batch_executemany(engine: Engine) -> None:
    # An executemany of INSERTs becomes a few multi-row INSERT ... VALUES statements rendered from
    # the cached single-row compile (SQLAlchemy's "insertmanyvalues"), instead of one statement per
    # row: a 100-job page is a handful of statements, not hundreds.
    engine.dialect.use_insertmanyvalues_wo_returning = True


def alembic_config(engine: Engine | None = None) -> Config:
    """Alembic's config pointing at ``migrations/``; the engine goes to env.py via attributes."""
    cfg = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.exists() else Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; refuse if the database is ahead of this version."""
    script = ScriptDirectory.from_config(alembic_config())
    current = current_revision(engine)
    if revision == "head" and current is not None and current == script.get_current_head():
        return  # the common cron case: nothing to do, and no need to run Alembic's environment
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


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)
