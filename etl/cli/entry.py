"""The ``classify-etl`` entry point: signals are the operator's from the first instruction.

SIGTERM (systemd, cron's kill, an orchestrator's timeout) becomes KeyboardInterrupt, as SIGINT
already is, and the CLI turns both into one line and exit 1. The handlers are installed before the
CLI's imports, so that a signal during start-up is a clean exit too, never a traceback.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

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
    global _interrupted
    # The signals wait while the commands are imported: a KeyboardInterrupt raised inside module code
    # that is being imported (a dataclass's generated methods, say) makes CPython kill the process by
    # SIGINT when it exits, whatever status the program asked for; held, the signal is taken here.
    held = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        from etl.cli.commands import main
    except KeyboardInterrupt:  # a signal raised from inside the process (it is not held)
        _interrupted = True
    finally:
        pending = signal.sigpending() & held
        for signum in pending:
            signal.sigwait({signum})
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
    if pending or _interrupted:
        _interrupted = True
        print(EARLY, file=sys.stderr)
        sys.exit(1)
    try:
        main()
    except KeyboardInterrupt:  # a second signal while the first one's message was written
        sys.exit(1)
    finally:
        if _interrupted:
            _keep_exit_status()


def _keep_exit_status() -> None:
    """Keep the exit status the CLI chose after an interrupt. CPython remembers a KeyboardInterrupt
    that left code run by ``exec`` of a string (a dataclass's generated methods, built by a module
    imported during the run) and, under ``python -m``, kills the process by SIGINT at exit whatever
    status was asked for. The next ``exec`` of a string that completes forgets it."""
    exec("pass")
