"""The ``classify-etl`` entry point: signals are the operator's from the first instruction.

SIGTERM (systemd, cron's kill, an orchestrator's timeout) becomes KeyboardInterrupt, as SIGINT
already is, and the CLI turns both into one line and exit 1. The handlers are installed before the
CLI's imports, so that a signal during start-up is a clean exit too, never a traceback.

The process leaves with ``os._exit`` once everything worth keeping is written (the run is recorded,
the engines disposed, the streams flushed below):

* after an interrupt, because CPython otherwise re-raises SIGINT at exit when a KeyboardInterrupt
  once interrupted module code (an import), and the exit status would be "killed by SIGINT"
  instead of the documented 1;
* after any other ending, because the interpreter's teardown of what a command imports
  (SQLAlchemy, pydantic, aiohttp, the models: ~80,000 objects) costs ~0.2 s on this machine, a
  third of a ``--help`` and a sizeable share of a cron run that finds nothing changed (issue 14).
  The ``atexit`` handlers run first (logging's flush among them); while a thread that is not a
  daemon is still alive, the exit is Python's own, which waits for it.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn

EARLY = "classify-etl: error: interrupted before the sync started; nothing was written"
_interrupted = False


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether SIGINT or SIGTERM arrived, even if its KeyboardInterrupt was lost: Python cannot raise
    out of a weakref callback, a ``__del__`` or a collector callback (the import system runs such
    callbacks), where an interrupt is only reported, as "Exception ignored", and the program goes
    on. The CLI asks before it starts work (the schema, the run)."""
    return _interrupted


def _quiet_interrupts(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``sys.unraisablehook`` without the report of an interrupt raised where it cannot propagate
    (noted: see ``interrupted``); anything else as before."""

    def hook_(unraisable: Any) -> None:
        if unraisable.exc_type is None or not issubclass(unraisable.exc_type, KeyboardInterrupt):
            hook(unraisable)

    return hook_


def run() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    sys.unraisablehook = _quiet_interrupts(sys.unraisablehook)
    code: str | int | None = 0
    try:
        from etl.cli import main
    except KeyboardInterrupt:
        print(EARLY, file=sys.stderr)
        code = 1
    else:
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        except KeyboardInterrupt:  # a second signal while the first one's message was written
            code = 1
    sync = sys.modules.get("etl.sync")
    _leave(code, interrupted=_interrupted or getattr(sync, "signalled", False))


def _status(code: str | int | None) -> int:
    """The exit status ``sys.exit(code)`` would give (a message: written to stderr, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _others_running() -> bool:
    main = threading.main_thread()
    return any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate())


def _leave(code: str | int | None, *, interrupted: bool) -> NoReturn:
    """Exit with ``code``, without the interpreter's teardown (the module's docstring says why)."""
    if not interrupted:
        if _others_running():
            sys.exit(code)
        atexit._run_exitfuncs()
    status = _status(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)
