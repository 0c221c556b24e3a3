"""Running the simulator: in a background thread for tests, or in the foreground for the CLI."""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import Any

from aiohttp import web

from etl.simulator.app import MAX_LINE_SIZE, make_app
from etl.simulator.state import SimState

#: How long a stopping server waits for requests in flight (a hanging fault) before cancelling them.
SHUTDOWN_TIMEOUT_S = 0.5


class SimServer:
    """The simulator on a loopback port, served by its own event loop in a daemon thread.

    ``with SimServer(state) as sim: ...`` starts it and stops it; ``sim.url`` is its base URL.
    ``state`` stays shared: changes made to it are seen by the next request.
    """

    def __init__(self, state: SimState, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.host = host
        self._requested_port = port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimServer:
        """Bind, start serving, and return once requests can be made."""
        if self._thread is not None:
            raise RuntimeError("already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, args=(sock,), name=f"sim-{self.port}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError("simulator failed to start") from self._error
        return self

    def _run(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        runner = web.AppRunner(
            make_app(self.state),
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            max_line_size=MAX_LINE_SIZE,
        )
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, sock).start())
        except BaseException as exc:
            self._error = exc
            sock.close()
            loop.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Stop serving (requests in flight are cut off) and wait for the thread to end."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_forever(
    state: SimState, host: str = "127.0.0.1", port: int = 8765, *, sock: socket.socket | None = None
) -> None:
    """Serve ``state`` in the foreground until Ctrl-C or SIGTERM (for ``classify-etl simulate``).

    Prints nothing: the caller announces the address. ``sock``, an already bound socket, takes the
    place of ``host`` and ``port``.
    """
    where: dict[str, Any] = {"sock": sock} if sock is not None else {"host": host, "port": port}
    web.run_app(
        make_app(state),
        **where,
        access_log=None,
        handler_cancellation=True,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        print=None,
        max_line_size=MAX_LINE_SIZE,
    )
