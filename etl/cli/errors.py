"""How the command line fails: one line on stderr (a JSON line under ``--log-format json``) and an
exit code a cron wrapper can act on, never a traceback for a known failure."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from sqlalchemy.exc import DBAPIError

from etl.config import declared
from etl.errors import POOLED_STATEMENT_STATES, AuthError, ConfigError, EtlError, LockedError

if TYPE_CHECKING:
    pass


from etl.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_LOCKED, EXIT_OK

F = TypeVar("F", bound=Callable[..., Any])

# -- errors: one line on stderr, JSON with --log-format json -------------------------------------------

_json_errors = False


def wants_json(args: Sequence[str]) -> bool:
    """Whether errors should be JSON lines, before (or without) the --log-format option being parsed."""
    if _json_errors:
        return True
    for i, arg in enumerate(args):
        if arg == "--log-format=json" or (arg == "--log-format" and args[i + 1 : i + 2] == ["json"]):
            return True
    return os.environ.get(declared()["log_format"].env) == "json"


def emit_error(message: str, code: int, *, as_json: bool) -> None:
    if as_json:
        line = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "error",
            "logger": "etl.cli",
            "event": "error",
            "message": message,
            "exit_code": code,
        }
        click.echo(json.dumps(line), err=True)
    else:
        click.echo(f"classify-etl: error: {message}", err=True)


def fail(message: str, code: int) -> NoReturn:
    emit_error(message, code, as_json=wants_json(sys.argv[1:]))
    sys.exit(code)


class Cli(click.Group):
    """The command group; a usage error (bad flag, bad value, bad config file) is one line, exit 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        global _json_errors
        _json_errors = False
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            message = exc.format_message().replace("\n", " ")
            emit_error(message, exc.exit_code, as_json=wants_json(argv))
            sys.exit(exc.exit_code)
        except click.Abort:
            # click turns a KeyboardInterrupt (SIGINT, or SIGTERM through etl.entry) into Abort.
            emit_error(
                "interrupted before the sync started; nothing was written",
                EXIT_FAILED,
                as_json=wants_json(argv),
            )
            sys.exit(EXIT_FAILED)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


def error_exit(exc: BaseException) -> tuple[int, str] | None:
    """The exit code and one-line message of a known failure; None for a bug (a traceback)."""
    if isinstance(exc, LockedError):
        return EXIT_LOCKED, str(exc)
    if isinstance(exc, ConfigError | AuthError):
        return EXIT_CONFIG, str(exc)
    if isinstance(exc, EtlError):
        return EXIT_FAILED, str(exc)
    if _interrupt_behind(exc):
        return EXIT_FAILED, "interrupted; the last page was rolled back and the checkpoint kept"
    if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in POOLED_STATEMENT_STATES:
        return EXIT_CONFIG, POOLED_STATEMENTS
    if isinstance(exc, DBAPIError):
        return EXIT_FAILED, f"database error: {db_reason(exc)}"
    return None


POOLED_STATEMENTS = (
    "the database connection goes through a pooler in transaction mode that does not keep prepared "
    "statements (PgBouncer before 1.21, or max_prepared_statements = 0): point --database-url at the "
    "pooler's session-mode port (or the server itself); the last page was rolled back"
)


def _interrupt_behind(exc: BaseException | None) -> bool:
    """A KeyboardInterrupt, or an error it caused: the interpreter wraps what interrupts some of
    its own machinery (a class's ``__set_name__`` during an import is a RuntimeError caused by the
    interrupt), and a cleanup that fails after an interrupt has it as its context."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def handle_errors(func: F) -> F:
    """Turn known failures into one line on stderr and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (Exception, KeyboardInterrupt) as exc:
            known = error_exit(exc)
            if known is None:
                raise
            fail(known[1], known[0])

    return wrapper  # type: ignore[return-value]


def db_reason(exc: Any) -> str:
    # The driver's own message, first line only: it never carries the password, unlike a URL.
    orig = getattr(exc, "orig", None)
    return str(orig).strip().splitlines()[0] if orig is not None else type(exc).__name__


def remember_log_format(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    global _json_errors
    _json_errors = value == "json"
    return value
