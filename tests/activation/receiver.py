"""A real HTTP receiver for the HTTP destinations' tests, on 127.0.0.1 in a thread.

It behaves as a careful receiver does: it checks the webhook signature (or the Segment
write key), keeps each change once by its idempotency key (``key`` in a webhook batch,
``messageId`` in a Segment batch) and counts the copies it was sent again. It can be told
to fail the ways receivers fail: be down (connection refused), answer 500, answer 429 with
``Retry-After``, be slower than the client's timeout, refuse one change with 400, or be
slow on every request (for the crash test).

Down for the first n requests: a refused connection reaches no server, so nothing here
can count it; but the sender waits once after each failed try, so :meth:`sleep` (handed
to the destination as its wait function) counts the waits and starts the receiver again
after the n-th. It records every wait, for the tests to check without waiting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Protocol = Literal["webhook", "segment"]


@dataclass
class Faults:
    """What the receiver does wrong, request by request."""

    statuses: list[int] = field(default_factory=list)
    """Answer each of the next requests with this status (500, 429…), one per request."""
    retry_after: str | None = None
    """The ``Retry-After`` sent with those answers."""
    fail_after: int | None = None
    """Accept this many requests, then answer 503 to every one after."""
    slow: list[float] = field(default_factory=list)
    """Wait this long before answering each of the next requests (longer than the timeout)."""
    delay: float = 0.0
    """Wait this long before answering every request."""
    refuse: set[str] = field(default_factory=set)
    """Answer 400 to any request carrying one of these keys."""
    hold_answer_of: int | None = None
    """Take request number n (counting those taken), then hold its answer until :meth:`Receiver.stop`:
    the sender has delivered a batch it does not know is delivered (what a crash then resends)."""


class Receiver:
    def __init__(self, protocol: Protocol = "webhook", *, secret: str = "", write_key: str = "") -> None:
        self.protocol, self.secret, self.write_key = protocol, secret, write_key
        self.faults = Faults()
        self.changes: dict[str, dict[str, Any]] = {}
        """Key -> the change, as first received."""
        self.duplicates = 0
        """Changes received again under a key already kept."""
        self.requests = 0
        self.accepted: list[tuple[str, tuple[str, ...]]] = []
        """(Idempotency-Key header, keys of its changes) of each request taken, in order."""
        self.bad_signatures = 0
        self.largest = 0
        """The largest body received, in bytes."""
        self.sleeps: list[float] = []
        self.port = 0
        self._down_for: int | None = None
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self._in_flight = 0
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._released.clear()
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listening socket: connections are refused until :meth:`start`."""
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def down(self, *, requests: int | None = None) -> None:
        """Refuse connections; for the next ``requests`` only (counted by :meth:`sleep`), or until started."""
        self.stop()
        self._down_for = requests

    def sleep(self, seconds: float) -> None:
        """The destination's wait: recorded, not waited; it ends an outage of n requests."""
        self.sleeps.append(seconds)
        if self._down_for is not None:
            self._down_for -= 1
            if self._down_for <= 0:
                self._down_for = None
                self.start()

    def keys(self) -> set[str]:
        return set(self.changes)

    def settle(self, timeout: float = 30) -> None:
        """Wait until every request received so far has been taken or refused (one the client
        stopped waiting for is still being handled after the sync returns)."""
        with self._lock:
            assert self._answered.wait_for(lambda: self._in_flight == 0, timeout), "a request is still being handled"

    def _take(self, body: bytes, headers: Any) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of the answer to one POST."""
        with self._lock:
            self._in_flight += 1
        try:
            return self._answer(body, headers)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._answered.notify_all()

    def _answer(self, body: bytes, headers: Any) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests += 1
            self.largest = max(self.largest, len(body))
            faults = self.faults
            delay = faults.delay + (faults.slow.pop(0) if faults.slow else 0.0)
        if delay:
            time.sleep(delay)
        if not self._authentic(body, headers):
            with self._lock:
                self.bad_signatures += 1
            return 401, {}, b"bad signature"
        document = json.loads(body)
        changes = document["changes"] if self.protocol == "webhook" else document["batch"]
        id_field = "key" if self.protocol == "webhook" else "messageId"
        keys = tuple(str(change[id_field]) for change in changes)
        with self._lock:
            if faults.statuses:
                status = faults.statuses.pop(0)
                extra = {"Retry-After": faults.retry_after} if faults.retry_after and status in (429, 503) else {}
                return status, extra, b"try again later"
            if faults.fail_after is not None and len(self.accepted) >= faults.fail_after:
                return 503, {}, b"down for maintenance"
            refused = sorted(set(keys) & faults.refuse)
            if refused:
                return 400, {}, f"change {refused[0]} is not valid here: unknown field".encode()
            for key, change in zip(keys, changes, strict=True):
                if key in self.changes:
                    self.duplicates += 1
                else:
                    self.changes[key] = change
            self.accepted.append((str(headers.get("Idempotency-Key", "")), keys))
            hold = faults.hold_answer_of == len(self.accepted)
        if hold:
            self._released.wait(60)
        return 200, {}, b'{"success":true}'

    def _authentic(self, body: bytes, headers: Any) -> bool:
        if self.protocol == "segment":
            expected = "Basic " + base64.b64encode(f"{self.write_key}:".encode()).decode()
            return bool(headers.get("Authorization") == expected)
        stamp = str(headers.get("X-Personae-Timestamp", ""))
        given = str(headers.get("X-Personae-Signature", ""))
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
            return False
        digest = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given, f"sha256={digest}")


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # an answer's second write would wait for a delayed ACK

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, headers, answer = receiver._take(body, self.headers)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout)
                return

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def receiving(protocol: Protocol = "webhook", **credentials: str) -> Iterator[Receiver]:
    receiver = Receiver(protocol, **credentials)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
