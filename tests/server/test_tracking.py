"""``personae serve`` tracking API: the official Segment and RudderStack Python SDKs work
unmodified against it, what it acknowledges is in the journal and, after a run, in the
store once each; bad requests are refused with a status that says why, storing nothing."""

from __future__ import annotations

import gzip
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from personae.realtime.journal import Journal
from tests.server.live import Served, live_workspace, serving


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(live_workspace(tmp_path / "shop")) as server:
        yield server


def _journal_lines(served: Served) -> list[dict[str, Any]]:
    folder = served.workspace.root / "journal" / "web"
    lines = []
    for path in sorted(folder.glob("*.jsonl*")):
        lines += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return lines


def _events(served: Served) -> list[dict[str, Any]]:
    status, answer, _ = served.call(
        "/v1/admin/sql",
        {"query": "SELECT event_id, type, name, user_id, email FROM events ORDER BY event_id"},
        token=served.admin,
    )
    assert status == 200, answer
    rows: list[dict[str, Any]] = answer["rows"]
    return rows


def test_the_segment_sdk_sends_unmodified(served: Served) -> None:
    analytics = pytest.importorskip("segment.analytics", reason="segment-analytics-python is a test extra")
    errors: list[Any] = []
    client = analytics.Client(
        served.write_key,
        host=served.url,
        gzip=True,
        max_retries=0,
        upload_interval=0.05,
        on_error=lambda e, b: errors.append(e),
    )
    client.identify("u-1", {"email": "Jane@Shop.org", "name": "Zoë"})
    client.track("u-1", "Order Completed", {"revenue": 12.5})
    client.page(anonymous_id="anon-1", name="Home")
    client.alias(previous_id="anon-1", user_id="u-1")
    client.flush()
    client.shutdown()
    assert errors == []
    assert [line["type"] for line in _journal_lines(served)] == ["identify", "track", "page", "alias"]
    assert all(line["personae"]["source"] == "web" for line in _journal_lines(served))
    served.run()
    rows = _events(served)
    assert sorted(row["type"] for row in rows) == ["alias", "identify", "page", "track"]
    status, person, _ = served.call("/v1/profiles/email:jane@shop.org", token=served.reader)
    assert status == 200, person
    assert {row["id_type"] for row in person["identifiers"]} >= {"user_id", "email", "anonymous_id"}


def test_the_rudderstack_sdk_sends_unmodified(served: Served) -> None:
    rudder = pytest.importorskip("rudderstack.analytics", reason="rudder-sdk-python is a test extra")
    errors: list[Any] = []
    client = rudder.Client(
        served.write_key, host=served.url, max_retries=0, upload_interval=0.05, on_error=lambda e, b: errors.append(e)
    )
    client.track(anonymous_id="anon-9", event="Viewed", properties={"x": 1})
    client.identify(user_id="7", traits={"email": "ali@shop.org"})
    client.flush()
    client.shutdown()
    assert errors == []
    assert [line["type"] for line in _journal_lines(served)] == ["track", "identify"]


def test_messages_are_idempotent_by_message_id(served: Served) -> None:
    message = {"userId": "u1", "event": "Clicked", "messageId": "m-1"}
    for _ in range(3):
        assert served.track(**message)[0] == 200
    served.run()
    assert [row["event_id"] for row in _events(served)] == ["m-1"]


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/v1/track", b"{not json", 400, "not valid JSON"),
        ("/v1/track", json.dumps({"event": "x"}).encode(), 400, "userId"),
        ("/v1/batch", json.dumps({"batch": [{"type": "bogus", "userId": "u"}]}).encode(), 400, "bogus"),
        (
            "/v1/track",
            json.dumps({"userId": "u", "event": "x", "properties": {"p": "y" * 40_000}}).encode(),
            413,
            "32,768 bytes a track call",
        ),
        ("/v1/nothing", b"{}", 404, "Not Found"),
    ],
)
def test_bad_bodies_are_refused_and_store_nothing(
    served: Served, path: str, body: bytes, status: int, says: str
) -> None:
    got, answer, _ = served.call(path, body, basic=served.write_key)
    assert got == status, answer
    assert says in json.dumps(answer)
    assert _journal_lines(served) == []


def test_keys_are_checked_and_a_revoked_one_stops_at_once(served: Served) -> None:
    assert served.call("/v1/track", {"userId": "u", "event": "x"})[0] == 401
    assert served.call("/v1/track", {"userId": "u", "event": "x"}, basic="pw_nope")[0] == 401
    assert served.call("/v1/track", {"userId": "u", "event": "x"}, basic=served.admin)[0] == 403
    assert served.call("/v1/admin/status", token=served.reader)[0] == 403  # read, not admin
    assert served.call("/v1/admin/status", token=served.write_key)[0] in (401, 403)
    assert served.call("/v1/profiles/email:a@b.org")[0] == 401
    body = {"userId": "u", "event": "x", "writeKey": served.write_key}
    assert served.call("/v1/track", body)[0] == 200  # the key in the body, as Segment allows
    key = next(k for k in served.workspace.key_ring.entries() if k.scope == "write")
    served.workspace.key_ring.revoke(key.id)
    assert served.track(userId="u", event="after")[0] == 401
    assert len(_journal_lines(served)) == 1


def test_a_gzip_bomb_is_stopped_without_storing(served: Served) -> None:
    bomb = gzip.compress(b'{"userId":"u","event":"x","properties":{"p":"' + b"0" * 50_000_000 + b'"}}')
    assert len(bomb) < 100_000
    status, answer, _ = served.call("/v1/track", bomb, basic=served.write_key, headers={"Content-Encoding": "gzip"})
    assert status == 413, answer
    assert _journal_lines(served) == []


def _raw(served: Served, request: bytes, *, wait: float = 0.0, read: bool = True) -> bytes:
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        time.sleep(wait)
        return connection.recv(65536) if read else b""


def test_a_slow_client_is_cut_off_and_a_vanishing_one_still_counts(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    from personae.server import tracking

    monkeypatch.setattr(tracking, "BODY_SECONDS", 1.0)
    auth = base64.b64encode(f"{served.write_key}:".encode()).decode()
    head = f"POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\n"
    slow = _raw(served, (head + 'Content-Length: 100\r\n\r\n{"userId":').encode(), wait=2.5)
    assert b" 408 " in slow.split(b"\r\n")[0]
    body = json.dumps({"userId": "u", "event": "gone", "messageId": str(uuid.uuid4())}).encode()
    _raw(served, (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body, read=False)
    for _ in range(100):
        if _journal_lines(served):
            break
        time.sleep(0.05)
    assert [line["event"] for line in _journal_lines(served)] == ["gone"]
    assert served.call("/health")[0] == 200


def test_odd_values_are_kept_as_sent_or_flagged(served: Served) -> None:
    text = "Zoë 😀 \u202e ok"
    assert served.track(userId="u", event="odd", properties={"text": text, "nul": "a\u0000b"})[0] == 200
    assert served.track(userId="u", event="future", timestamp="2999-01-01T00:00:00Z")[0] == 200
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    assert served.track(userId="u", event="deep", properties=deep)[0] == 400
    odd, future = _journal_lines(served)
    assert odd["properties"]["text"] == text and odd["properties"]["nul"] == "ab"
    assert "timestamp_future" in future["personae"]["flags"] and future["originalTimestamp"].startswith("2999")
    served.run()
    assert len(_events(served)) == 2


def test_the_api_is_documented(served: Served) -> None:
    status, schema, _ = served.call("/openapi.json")
    assert status == 200
    for path in ("/v1/track", "/v1/batch", "/v1/profiles/{identifier}", "/v1/changes", "/v1/admin/runs"):
        assert path in schema["paths"], path
    status, page, _ = served.call("/docs")
    assert status == 200 and "swagger" in page.lower()


def test_a_second_server_gets_the_lock_error(served: Served) -> None:
    from personae import Workspace
    from personae.errors import StoreLockedError

    second = Workspace(served.workspace.root)
    with pytest.raises(StoreLockedError, match=r"held for writing by pid \d+ .*personae serve"), second.open():
        pass


def test_the_journal_is_loaded_by_a_run_without_the_server(tmp_path: Path) -> None:
    """After the server stops, `personae run` seals what it left and loads it."""
    workspace = live_workspace(tmp_path / "shop")
    with serving(workspace) as served:
        assert served.track(userId="u", event="x", messageId="m-9")[0] == 200
    with Journal(workspace.root / "journal" / "web") as journal:
        assert journal.sealed_segments() == []  # the active segment is left as it was
    report = workspace.run()
    assert report.errors == [] and workspace.sql("SELECT count(*) AS n FROM events").column("n")[0].as_py() == 1


def test_the_change_feed_streams_and_resumes(served: Served) -> None:
    """`GET /v1/changes` sends the feed as Server-Sent Events; a client resumes by sequence."""
    import urllib.request

    assert served.track(userId="u1", event="x", properties={"revenue": 5})[0] == 200
    served.run()
    total = served.workspace.sql("SELECT count(*) AS n FROM membership_changes").column("n")[0].as_py()
    assert total > 0

    def read(after: int, count: int) -> list[dict[str, Any]]:
        request = urllib.request.Request(f"{served.url}/v1/changes?after={after}")
        request.add_header("Authorization", f"Bearer {served.reader}")
        got: list[dict[str, Any]] = []
        with urllib.request.urlopen(request, timeout=30) as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            event: dict[str, str] = {}
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if not line:
                    if "data" in event:
                        got.append({"id": int(event["id"]), **json.loads(event["data"])})
                    event = {}
                    if len(got) == count:
                        return got
                elif not line.startswith(":"):
                    field, _, value = line.partition(": ")
                    event[field] = value
        return got

    first = read(0, total)
    assert [item["id"] for item in first] == list(range(1, total + 1))
    assert {item["change"] for item in first} == {"entered"}
    assert read(total - 1, 1)[0]["id"] == total  # resumed after the last one seen


def _answers(served: Served) -> list[tuple[int, Any]]:
    """What a fixed set of tracking calls gets back (the good ones stored)."""
    calls: list[tuple[str, bytes | dict[str, Any], str | None]] = [
        ("/v1/track", {"userId": "u1", "event": "Order Completed", "messageId": "m1"}, served.write_key),
        (
            "/v1/batch",
            {"batch": [{"type": "identify", "userId": "u2", "traits": {"email": "a@b.org"}}]},
            served.write_key,
        ),
        ("/v1/track", b"{not json", served.write_key),
        ("/v1/identify", {"traits": {}}, served.write_key),
        ("/v1/page", {"userId": "u1"}, None),
        ("/v1/track", {"userId": "u1", "event": "x"}, "pw_nope"),
        ("/v1/screen", {"userId": "u", "name": "s", "properties": {"p": "y" * 40_000}}, served.write_key),
    ]
    answers = []
    for path, body, key in calls:
        status, answer, headers = served.call(path, body, basic=key)
        answers.append((status, answer, headers.get("WWW-Authenticate")))
    return [(status, (answer, challenge)) for status, answer, challenge in answers]


def test_every_http_server_and_both_paths_answer_alike(tmp_path: Path) -> None:
    """granian with the front (what ``personae serve`` runs), uvicorn with the front, and
    granian with FastAPI's own tracking routes give the same answers and store the same."""
    seen = []
    for number, (http_server, front) in enumerate([("granian", True), ("uvicorn", True), ("granian", False)]):
        with serving(live_workspace(tmp_path / f"shop{number}"), http_server=http_server, front=front) as server:
            answers = _answers(server)
            stored = [(line["type"], line.get("userId")) for line in _journal_lines(server)]
        seen.append((answers, stored))
    statuses = [status for status, _ in seen[0][0]]
    assert statuses == [200, 200, 400, 400, 401, 401, 413]
    assert seen[0][1] == [("track", "u1"), ("identify", "u2")]
    assert seen[1] == seen[0]
    assert seen[2] == seen[0]
