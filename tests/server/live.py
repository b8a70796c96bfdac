"""A real ``personae serve`` for tests: the app on its HTTP server, on a free port of 127.0.0.1, in a
thread (or, for crash tests, in a process of its own)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personae import Workspace
from personae.server import create_app
from personae.server.front import Front
from personae.server.serving import HttpServer, Serving
from tests.workspaces import write_workspace

LIVE_SOURCE: dict[str, Any] = {"name": "web", "kind": "events", "live": True}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def live_workspace(root: Path, **sections: Any) -> Workspace:
    """A workspace with one live source, ``web``."""
    return Workspace(write_workspace(root, [LIVE_SOURCE], {}, **sections))


@dataclass
class Served:
    url: str
    workspace: Workspace
    write_key: str
    admin: str
    reader: str

    def call(
        self,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        *,
        token: str | None = None,
        basic: str | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body or text, headers) of one HTTP call."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request = urllib.request.Request(self.url + path, data=data, method=method or ("POST" if data else "GET"))
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        if basic is not None:
            import base64

            request.add_header("Authorization", "Basic " + base64.b64encode(f"{basic}:".encode()).decode())
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                raw, status, got = answer.read(), answer.status, dict(answer.headers.items())
        except urllib.error.HTTPError as error:
            raw, status, got = error.read(), error.code, dict(error.headers.items())
        try:
            return status, json.loads(raw), got
        except json.JSONDecodeError:
            return status, raw.decode("utf-8", "replace"), got

    def track(self, **message: Any) -> tuple[int, Any, dict[str, str]]:
        return self.call("/v1/track", message, basic=self.write_key)

    def live(self, events: int) -> dict[str, Any]:
        """The live processing stats once it runs and has applied ``events`` events (fails after 60 s)."""
        return self._live_when(
            lambda live: live["events"] >= events and not live["waiting"],
            f"live processing did not get to {events} events",
        )

    def waiting(self) -> dict[str, Any]:
        """The live processing stats once its thread has looked at the store and found no first
        batch run yet (fails after 60 s): the thread's first look may come after the server
        answers its first request on a busy machine."""
        return self._live_when(lambda live: bool(live["waiting"]), "live processing never said what it waits for")

    def _live_when(self, ready: Callable[[dict[str, Any]], bool], failure: str) -> dict[str, Any]:
        """``/health``'s live stats once ``ready`` holds, polled every 0.1 s for 60 s."""
        for _ in range(600):
            _, health, _ = self.call("/health")
            live: dict[str, Any] = health["live"]
            if ready(live):
                return live
            time.sleep(0.1)
        raise AssertionError(f"{failure}: {health}")

    def run(self) -> dict[str, Any]:
        """A batch run through the admin API, waited for; the run's row."""
        status, _, _ = self.call("/v1/admin/runs", {}, token=self.admin)
        assert status == 202
        for _ in range(600):
            _, runs, _ = self.call("/v1/admin/runs", token=self.admin)
            if not runs["running"] and runs["runs"]:
                assert runs["last_error"] is None, runs["last_error"]
                row: dict[str, Any] = runs["runs"][0]
                return row
            time.sleep(0.1)
        raise AssertionError("the run did not finish")


def keys(workspace: Workspace) -> tuple[str, str, str]:
    _, write = workspace.create_key("write", source="web", name="test site")
    _, admin = workspace.create_key("admin")
    _, reader = workspace.create_key("read")
    return write, admin, reader


@contextmanager
def serving(workspace: Workspace, *, http_server: HttpServer = "granian", front: bool = True) -> Iterator[Served]:
    """The app as ``personae serve`` runs it (granian, unless told; without the front that
    answers tracking calls if ``front`` is false), in a thread, over the workspace held
    open; stopped on leaving."""
    write, admin, reader = keys(workspace)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with workspace.open(command=f"personae serve ({url})"):
        app = create_app(workspace, url=url)
        server = Serving(app if front else Front(app.app, route=False), "127.0.0.1", port, http_server=http_server)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        _wait_for(url, thread)
        try:
            yield Served(url, workspace, write, admin, reader)
        finally:
            server.stop()
            thread.join(timeout=30)
            assert not thread.is_alive(), "the server did not stop"


def _wait_for(url: str, thread: threading.Thread) -> None:
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if not thread.is_alive():
                raise AssertionError("the server stopped while starting") from None
            time.sleep(0.05)
    raise AssertionError("the server did not start")


def serve_process(root: Path, port: int) -> subprocess.Popen[bytes]:
    """``personae serve`` as a process of its own (for kill -9); returns once it answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "personae", "serve", "-w", str(root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read().decode() if process.stderr else "the server died") from None
            time.sleep(0.1)
    process.kill()
    raise AssertionError("personae serve did not start")
