"""How the ``classify-etl`` process leaves (``etl.entry``): without the interpreter's teardown, but
with what Python's own exit guarantees: the status, the streams, the ``atexit`` handlers, and a
thread that is not a daemon finished first. Each case runs ``entry.run`` in a child process, with
``etl.cli.main`` replaced where the case needs an ending the real CLI does not have."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_PRELUDE = """
import atexit, sys, threading, time
import etl.cli
from etl import entry
"""


def _run(body: str) -> subprocess.CompletedProcess[str]:
    script = _PRELUDE + textwrap.dedent(body) + "\nentry.run()\n"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_status_streams_and_atexit_handlers_survive_the_fast_exit() -> None:
    done = _run(
        """
        atexit.register(lambda: print("atexit handler ran"))
        def main():
            sys.stdout.write("x" * 100_000)  # buffered, never flushed by the command itself
            sys.stderr.write("last words")
            sys.exit(3)
        etl.cli.main = main
        """
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout.startswith("x" * 100_000) and done.stdout.endswith("atexit handler ran\n")
    assert done.stderr == "last words"


def test_a_message_as_exit_code_is_written_with_status_one() -> None:
    done = _run(
        """
        def main():
            sys.exit("classify-etl: something went wrong")
        etl.cli.main = main
        """
    )
    assert (done.returncode, done.stderr) == (1, "classify-etl: something went wrong\n")


def test_a_thread_still_working_is_waited_for() -> None:
    """A thread that is not a daemon keeps Python's own exit, which joins it: its work is done."""
    done = _run(
        """
        def work():
            time.sleep(0.5)
            print("thread finished", flush=True)
        def main():
            threading.Thread(target=work).start()
            sys.exit(0)
        etl.cli.main = main
        """
    )
    assert (done.returncode, done.stdout) == (0, "thread finished\n"), done.stderr


def test_the_real_cli_exits_with_its_documented_status() -> None:
    """No replacement: a usage error is click's status 2 and its message, through the fast exit."""
    done = subprocess.run(
        [sys.executable, "-m", "etl", "sync", "--no-such-flag"], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (2, "classify-etl: error: No such option '--no-such-flag'.\n")


def test_the_interpreter_teardown_is_skipped() -> None:
    """What makes the exit fast: module globals are not torn down, so a finalizer that only the
    teardown would run does not run (under ``sys.exit`` it would print)."""
    done = _run(
        """
        class Finalized:
            def __del__(self):
                print("torn down")
        kept = Finalized()
        etl.cli.main = lambda: sys.exit(0)
        """
    )
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
