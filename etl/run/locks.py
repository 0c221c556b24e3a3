"""One sync per install and scope: overlapping cron runs refuse instead of double-writing.

PostgreSQL: a transaction-level advisory lock per scope, taken in a transaction that a dedicated
connection keeps open for the run. The lock goes with the transaction, not the session, so it
holds behind a pooler in transaction mode as well (PgBouncer gives a client its server connection
for as long as its transaction is open), and the server drops it if the process dies. An idle
open transaction at READ COMMITTED holds no snapshot, so it does not hold back vacuum. The key
includes the install's schema: two installs in one database never exclude each other. SQLite: an
OS file lock per scope beside the database file (``filelock``), likewise released by the OS on
death.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from etl.config import DEFAULT_DB_SCHEMA
from etl.errors import POOLED_STATEMENT_STATES, DatabaseError, LockedError
from etl.warehouse.sql import schema_of

log = logging.getLogger("etl.locks")


def advisory_key(scope: str, schema: str | None = DEFAULT_DB_SCHEMA) -> int:
    """A stable signed 64-bit key for the advisory lock of ``scope`` in the install in ``schema``.
    The default schema keeps the key it always had (a run of an earlier version still excludes a run
    of this one); another schema's keys hash ``schema/scope``, which no scope spells (scopes have no
    ``/``)."""
    name = scope if schema in (None, DEFAULT_DB_SCHEMA) else f"{schema}/{scope}"
    digest = hashlib.sha256(f"classify-etl:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _locked(scope: str, schema: str | None = None) -> LockedError:
    where = "this database" if schema in (None, DEFAULT_DB_SCHEMA) else f"schema {schema} of this database"
    return LockedError(
        f"another classify-etl sync is running on {where} for scope {scope!r}; "
        "this run did nothing (it is safe to let the next cron tick try again)"
    )


class LockGuard:
    """Held locks; ``check()`` before each commit proves they are still held."""

    def __init__(self, conn: Connection | None = None) -> None:
        self._conn = conn

    def check(self) -> None:
        if self._conn is None:
            return  # file locks cannot be lost while the process lives
        try:  # one round trip, inside the transaction that holds the locks
            self._conn.exec_driver_sql("SELECT 1")
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) in POOLED_STATEMENT_STATES:
                raise  # not a lost connection: a pooler that does not fit (etl.cli.errors says so)
            raise DatabaseError(
                "lost the database connection that holds the run lock (server restarted or connection "
                "dropped); stopped before writing more. The next run resumes from the checkpoint."
            ) from None


def _release(conn: Connection) -> None:
    try:
        conn.rollback()  # ends the transaction, and with it the locks
    except SQLAlchemyError:
        log.debug("the run lock went with its connection")  # the server released it


@contextmanager
def scope_locks(engine: Engine, scopes: Sequence[str]) -> Iterator[LockGuard]:
    """Hold the locks of all ``scopes`` for the duration, or raise LockedError at once."""
    with ExitStack() as stack:
        guard = LockGuard()
        if engine.dialect.name == "postgresql":
            conn = stack.enter_context(engine.connect())
            schema = schema_of(conn)
            # The transaction stays open for the run: a server's idle-in-transaction timeout,
            # meant for sessions someone forgot, must not end it between two page commits.
            conn.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
            stack.callback(_release, conn)
            for scope in sorted(set(scopes)):
                key = advisory_key(scope, schema)
                if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar_one():
                    raise _locked(scope, schema)
            guard = LockGuard(conn)
        elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            base = Path(str(engine.url.database)).resolve()
            for scope in sorted(set(scopes)):
                digest = hashlib.sha256(scope.encode()).hexdigest()[:12]
                lock = FileLock(f"{base}.{digest}.lock", timeout=0)
                try:
                    lock.acquire()
                except Timeout:
                    raise _locked(scope) from None
                stack.callback(lock.release)
        yield guard
