"""The error hierarchy, named for what the caller must do.

The exit code each one ends ``classify-etl`` with (``etl/cli/errors.py``; docs/operations.md, "Exit codes")::

    EtlError                   anything else: exit 1
    ├── ConfigError            fix the configuration (exit 2); message names the fix
    ├── LockedError            another run holds the scope (exit 4)
    ├── InterruptedRun         SIGINT/SIGTERM: page rolled back, checkpoint kept (exit 1)
    ├── DatabaseError          the database went away mid-run; rerun resumes (exit 1)
    └── ApiError               the API failed us (exit 1)
        ├── AuthError          401/403: wrong key or region (a configuration problem: exit 2)
        ├── PageTokenRejected  an expired/garbage page token: restart the walk
        ├── ListRouteGone      the v1 list route is retired (404/405/410): switch source
        ├── FatalApiError      retries exhausted, or an answer we cannot use
        └── Throttled          only 429s for the request timeout: the run ends, checkpoint kept

A run that completes but quarantined records or could not hydrate some jobs exits 3; that is an
outcome of the run (``SyncResult.outcome == "partial"``), not an exception.

Item-level problems are not exceptions that stop a page: ``InvalidItem`` is raised by
``normalize`` and turned into a quarantine row by ``sync``.
"""

from __future__ import annotations


class EtlError(Exception):
    """Base of every error the CLI knows how to print as one line."""


class ConfigError(EtlError):
    """The configuration is wrong; the message says what to change."""


class LockedError(EtlError):
    """Another sync holds the lock for this database and scope."""


class InterruptedRun(EtlError):
    """The run was stopped by a signal; the last page was rolled back, the checkpoint kept."""


class DatabaseError(EtlError):
    """The database connection failed mid-run."""


class ApiError(EtlError):
    """The API answered with something we cannot use."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(ApiError):
    """401/403: the key is wrong, revoked, or from another region."""


class PageTokenRejected(ApiError):
    """The API rejected a saved page token (expired or unknown): restart the walk."""


class ListRouteGone(ApiError):
    """The list route answers 404/405/410: the endpoint is retired for this account."""


class FatalApiError(ApiError):
    """Retries are exhausted or the answer is unusable."""


class Throttled(ApiError):
    """Nothing but throttling answers (429) for the request timeout: the API's request budget
    leaves the run no room. The run ends (exit 1), its checkpoints kept; every scope would meet it."""


class InvalidItem(ValueError):
    """An API record that fails validation; it goes to quarantine with this reason."""

    def __init__(self, reason: str, *, job_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.job_id = job_id


# Exit codes a cron wrapper can act on (docs/operations.md, "Exit codes"): the command line returns
# them and the monitor reports them.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_PARTIAL = 3
EXIT_LOCKED = 4

#: SQLSTATEs duplicate_prepared_statement and invalid_sql_statement_name. classify-etl names no
#: prepared statement itself: psycopg prepares a statement a connection runs often (``_pg3_<n>``,
#: numbered per client connection), and a pooler in transaction mode runs it on another server
#: session, where the name is already taken, or unknown.
POOLED_STATEMENT_STATES = frozenset({"42P05", "26000"})
