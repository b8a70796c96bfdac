"""The real SDKs against a local server: what they send is what ``parse_call`` accepts.

Each test points an SDK client at a tiny ``http.server`` on 127.0.0.1 (a thread), flushes,
and checks the captured path, headers and body. No network beyond the loopback.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from personae.realtime.messages import journal_line, parse_call, write_key_from_authorization


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def parsed(self) -> Any:
        content_encoding = self.headers.get("Content-Encoding")
        return parse_call(
            self.path.rsplit("/", 1)[-1],
            self.body,
            content_encoding=content_encoding,
            received_at=datetime.now(UTC),
        )

    def document(self) -> Any:
        body = gzip.decompress(self.body) if self.headers.get("Content-Encoding") == "gzip" else self.body
        return json.loads(body)


class Capture:
    """A local HTTP server that answers 200 ``{}`` and keeps every request."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                capture.requests.append(Request(self.path, dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def capture() -> Iterator[Capture]:
    server = Capture()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join()


def send_with_segment(client: Any) -> None:
    client.identify("u-1", {"email": "jane@example.com", "name": "Zoë"})
    client.track(user_id=42, event="Order Completed", properties={"revenue": 12.5, "items": [{"sku": "a"}]})
    client.page(anonymous_id="anon-1", name="Home", properties={"path": "/"})
    client.screen(user_id="u-1", name="Basket")
    client.group(user_id="u-1", group_id="g-1", traits={"name": "Initech"})
    client.alias(previous_id="anon-1", user_id="u-1")
    client.flush()
    client.shutdown()


@pytest.mark.parametrize("compress", [False, True])
def test_segment_analytics_python_requests_are_accepted(capture: Capture, compress: bool) -> None:
    analytics = pytest.importorskip("segment.analytics", reason="segment-analytics-python is a test-only extra")
    send_with_segment(analytics.Client("seg-key", host=capture.host, gzip=compress, max_retries=0, upload_interval=0.1))
    (request,) = capture.requests
    assert request.path == "/v1/batch"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers.get("Content-Encoding") == ("gzip" if compress else None)
    assert write_key_from_authorization(request.headers["Authorization"]) == "seg-key"
    document = request.document()
    assert sorted(document) == ["batch", "sentAt", "writeKey"]
    call = request.parsed()
    assert call.write_key == "seg-key"
    assert [message.type for message in call.messages] == ["identify", "track", "page", "screen", "group", "alias"]
    identify, track, *_ = call.messages
    assert track.user_id == "42" and track.fields["properties"]["revenue"] == 12.5
    assert identify.fields["traits"]["name"] == "Zoë"
    assert identify.fields["context"]["library"]["name"] == "analytics-python"
    assert [m.message_id for m in call.messages] == [item["messageId"] for item in document["batch"]]
    assert all(message.flags == () for message in call.messages)
    assert all(b"seg-key" not in journal_line(message, source="sdk") for message in call.messages)


def test_rudder_sdk_python_requests_are_accepted(capture: Capture) -> None:
    rudder = pytest.importorskip("rudderstack.analytics", reason="rudder-sdk-python is a test-only extra")
    client = rudder.Client("rud-key", host=capture.host, max_retries=0, upload_interval=0.1)
    client.track(anonymous_id="anon-1", event="Viewed", properties={"x": 1})
    client.identify(user_id=7, traits={"email": "ali@example.com"})
    client.alias(previous_id="anon-1", user_id="7")
    client.flush()
    client.shutdown()
    (request,) = capture.requests
    assert request.path == "/v1/batch"
    assert request.headers["Content-Encoding"] == "gzip"  # rudder compresses by default
    assert write_key_from_authorization(request.headers["Authorization"]) == "rud-key"
    assert sorted(request.document()) == ["batch", "sentAt"]  # no writeKey in the body
    call = request.parsed()
    assert call.write_key is None
    assert [(m.type, m.user_id, m.anonymous_id) for m in call.messages] == [
        ("track", None, "anon-1"),
        ("identify", "7", None),
        ("alias", "7", None),
    ]
    assert call.messages[0].fields["channel"] == "server"
    assert call.messages[0].fields["integrations"] == {"All": True}
