"""One sync per database and scope: overlapping cron runs refuse instead of double-writing.

PostgreSQL: a session-level advisory lock per scope, held on a dedicated connection for the
run (the server drops it if the process dies). SQLite: an OS file lock per scope beside the
database file (``filelock``), likewise released by the OS on death.
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

from etl.errors import DatabaseError, LockedError

log = logging.getLogger("etl.locks")


def advisory_key(scope: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock``."""
    digest = hashlib.sha256(f"classify-etl:{scope}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _locked(scope: str) -> LockedError:
    return LockedError(
        f"another classify-etl sync is running on this database for scope {scope!r}; "
        "this run did nothing (it is safe to let the next cron tick try again)"
    )


class LockGuard:
    """Held locks; ``check()`` before each commit proves they are still held."""

    def __init__(self, conn: Connection | None = None) -> None:
        self._conn = conn

    def check(self) -> None:
        if self._conn is None:
            return  # file locks cannot be lost while the process lives
        try:  # one round trip: the connection is in autocommit (no BEGIN, no COMMIT)
            self._conn.exec_driver_sql("SELECT 1")
        except DBAPIError:
            raise DatabaseError(
                "lost the database connection that holds the run lock (server restarted or connection "
                "dropped); stopped before writing more. The next run resumes from the checkpoint."
            ) from None


def _unlock(conn: Connection, key: int) -> None:
    try:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.commit()
    except SQLAlchemyError:
        log.debug("advisory lock %s went with its connection", key)  # the server released it


@contextmanager
def scope_locks(engine: Engine, scopes: Sequence[str]) -> Iterator[LockGuard]:
    """Hold the locks of all ``scopes`` for the duration, or raise LockedError at once."""
    with ExitStack() as stack:
        guard = LockGuard()
        if engine.dialect.name == "postgresql":
            # Autocommit: session-level locks need no transaction, and each check before a commit
            # is then one round trip instead of three.
            conn = stack.enter_context(engine.connect().execution_options(isolation_level="AUTOCOMMIT"))
            for scope in sorted(set(scopes)):
                key = advisory_key(scope)
                if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
                    raise _locked(scope)
                stack.callback(_unlock, conn, key)
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
