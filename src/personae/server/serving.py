"""Runs the app on an HTTP server (granian by default, uvicorn if ``[server] http_server``
says so) in the calling thread's event loop, until :meth:`Serving.stop`.

granian runs embedded (its ``Server`` in our own loop, one worker, no process of its own),
so the app keeps the open workspace and the journals of the process that holds the store's
lock. A failure while the app starts (a journal that cannot be opened, say) comes back out
of :meth:`Serving.run` as the error it was, not as a server's log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import threading
from typing import Literal

import uvicorn
from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server.embed import Server as GranianServer

from personae.errors import PersonaeError, UsageError
from personae.server.front import Front

HttpServer = Literal["granian", "uvicorn"]


class Serving:
    """``Serving(app, host, port).run()`` serves until ``stop()`` (from any thread)."""

    def __init__(self, app: Front, host: str, port: int, *, http_server: HttpServer = "granian") -> None:
        self.app, self.host, self.port, self.http_server = app, host, port, http_server
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.started = threading.Event()

    def run(self) -> None:
        """Serve in a new event loop (uvloop where installed) until stopped."""
        try:
            import uvloop
        except ImportError:  # uvloop is not on Windows; asyncio's own loop serves, a little slower
            asyncio.run(self.serve())
        else:
            uvloop.run(self.serve())

    async def serve(self) -> None:
        self.check_address()
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        if threading.current_thread() is threading.main_thread():  # Ctrl-C and kill stop it gracefully
            for number in (signal.SIGINT, signal.SIGTERM):
                self._loop.add_signal_handler(number, self._stop.set)
        if self.http_server == "uvicorn":
            await self._serve_uvicorn()
        else:
            await self._serve_granian()
        error = getattr(self.app.app.state, "startup_error", None)
        if isinstance(error, PersonaeError):
            raise error

    def check_address(self) -> None:
        """Refuse, in words, an address that cannot be bound (the servers would log a trace)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host, self.port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise UsageError(
                        f"port {self.port} on {self.host} is in use: stop what listens there, "
                        "or serve on another with --port (or [server] port in personae.toml)"
                    ) from None
                raise UsageError(
                    f"cannot listen on {self.host}:{self.port} ({error.strerror}): "
                    "give an address of this machine with --host (or [server] host)"
                ) from None

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def _serve_granian(self) -> None:
        server = GranianServer(
            self.app,
            address=self.host,
            port=self.port,
            interface=Interfaces.ASGI,
            websockets=False,
            backlog=1024,
            log_level=LogLevels.error,  # not its warning that embedding is experimental: that is our choice
        )
        serving = asyncio.create_task(server.serve())
        stopping = asyncio.create_task(self._wait_then(server.stop))
        self.started.set()
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not serving.done():
            await serving
        stopping.cancel()

    async def _serve_uvicorn(self) -> None:
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]  # ours stop it
        stopping = asyncio.create_task(self._wait_then(lambda: setattr(server, "should_exit", True)))
        self.started.set()
        await server.serve()
        stopping.cancel()

    async def _wait_then(self, action: object) -> None:
        assert self._stop is not None and callable(action)
        await self._stop.wait()
        action()


logging.getLogger("granian").setLevel(logging.ERROR)
