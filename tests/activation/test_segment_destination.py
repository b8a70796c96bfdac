"""The segment destination: Segment-spec batches to a local receiver, and to personae's own
``personae serve``, which keeps each message once by ``messageId`` however often it is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from personae import Workspace
from personae.activation.delivery import SyncResult, sync_destination
from personae.activation.destination import DeliveryContext
from personae.activation.kinds.segment import SegmentDestination, SegmentDestinationSpec, message_id
from personae.activation.specs import segment_external_id
from tests.activation.http_workspaces import dead_letters, demo_workspace, now, sequences, store, with_destination
from tests.activation.receiver import Receiver, receiving
from tests.server.live import live_workspace, serving

WRITE_KEY = "wk-test-123"
ENV = {"SEGMENT_WRITE_KEY": WRITE_KEY}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_workspace(tmp_path_factory.mktemp("segment") / "demo")


@pytest.fixture
def receiver() -> Any:
    with receiving("segment", write_key=WRITE_KEY) as running:
        yield running


def audience(endpoint: str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "cdp",
        "kind": "segment",
        "endpoint": endpoint,
        "write_key_env": "SEGMENT_WRITE_KEY",
        "segmentations": ["rfm"],
        "traits": ["orders", "revenue"],
        "batch_size": 200,
    }
    return {**spec, **overrides}


def sync(root: Path, receiver: Receiver, env: dict[str, str] | None = None) -> SyncResult:
    env = ENV if env is None else env
    workspace = Workspace(root, env=env)
    spec = workspace.config.destinations[0]
    assert isinstance(spec, SegmentDestinationSpec)
    destination = SegmentDestination(spec, DeliveryContext(root, env), sleep=receiver.sleep)
    with workspace.engine(write=True) as engine:
        return sync_destination(engine, spec, destination, now())


def people(root: Path) -> int:
    with store(root) as connection:
        return int(connection.execute("SELECT count(*) FROM profiles").fetchone()[0])  # type: ignore[index]


def test_memberships_go_as_audience_events_and_traits_as_identify(
    demo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    root = with_destination(demo, tmp_path / "ws", audience(receiver.base))
    receiver.faults.statuses = [500]  # retried through the same sender as the webhook's
    result = sync(root, receiver)
    assert result.status == "ok", result.error
    assert receiver.bad_signatures == 0 and len(receiver.sleeps) == 1  # the write key, as HTTP Basic user
    memberships = len(sequences(root, "rfm"))
    assert result.sent == memberships + people(root) == len(receiver.changes) and receiver.duplicates == 0
    tracks = [m for m in receiver.changes.values() if m["type"] == "track"]
    identifies = [m for m in receiver.changes.values() if m["type"] == "identify"]
    assert len(tracks) == memberships and len(identifies) == people(root)
    first = tracks[0]
    assert first["event"] == "Audience Entered" and first["messageId"] == f"cdp:m:{sequences(root, 'rfm')[0]}"
    properties = first["properties"]
    assert properties["audience_key"] == segment_external_id("rfm", properties["segment"])
    assert properties["segmentation"] == "rfm" and "score" in properties
    assert first["timestamp"].endswith("Z") and first["userId"].startswith("p")
    assert first["context"]["library"]["name"] == "personae"
    assert set(identifies[0]["traits"]) == {"orders", "revenue"}
    assert identifies[0]["messageId"] == f"cdp:traits:{identifies[0]['userId']}:1"


def test_an_oversized_message_is_dead_lettered_and_batches_stay_under_500_kb(
    demo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    spec = audience(receiver.base, segmentations=[], traits=["first_name"], batch_size=1000)
    root = with_destination(demo, tmp_path / "ws", spec)
    with store(root) as connection:
        uids = [row[0] for row in connection.execute("SELECT uid FROM profiles ORDER BY uid LIMIT 41").fetchall()]
        connection.execute("UPDATE profiles SET first_name = repeat('x', 40000) WHERE uid = ?", [uids[0]])
        for uid in uids[1:]:  # 40 messages of 20 KB: 800 KB, more than one batch may be
            connection.execute("UPDATE profiles SET first_name = repeat('y', 20000) WHERE uid = ?", [uid])
    result = sync(root, receiver)
    assert result.status == "ok" and result.dead_lettered == 1
    (letter,) = dead_letters(root)
    assert letter["uid"] == uids[0]
    assert "bytes of JSON; Segment takes at most 32,768" in letter["reason"]
    assert len(receiver.changes) == people(root) - 1
    assert receiver.largest <= 500 * 1024 and len(receiver.accepted) >= 2


def test_a_wrong_or_missing_write_key_stops_the_sync_and_moves_nothing(
    demo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    root = with_destination(demo, tmp_path / "ws", audience(receiver.base))
    wrong = sync(root, receiver, env={"SEGMENT_WRITE_KEY": "nope"})
    assert wrong.status == "failed" and wrong.cursor == 0 and wrong.dead_lettered == 0
    assert "/v1/batch answered 401" in wrong.error and "credentials" in wrong.error
    missing = sync(root, receiver, env={})
    assert "environment variable SEGMENT_WRITE_KEY is not set" in missing.error
    assert receiver.changes == {}


def test_a_long_key_becomes_a_message_id_segment_takes() -> None:
    assert message_id("short") == "short"
    long = message_id("d" * 120)
    assert len(long) < 100 and long == message_id("d" * 120) != message_id("d" * 121)


def test_personae_serve_keeps_each_audience_event_once_when_sent_twice(demo: Path, tmp_path: Path) -> None:
    with serving(live_workspace(tmp_path / "hub")) as served:
        root = with_destination(demo, tmp_path / "ws", audience(served.url, traits=[]))
        env = {"SEGMENT_WRITE_KEY": served.write_key}
        (first,) = Workspace(root, env=env).sync()
        assert first.status == "ok", first.error
        with store(root) as connection:  # forget what was sent: the next sync resends all of it
            connection.execute("DELETE FROM sync_state")
        (again,) = Workspace(root, env=env).sync()
        assert again.status == "ok" and again.sent == first.sent == len(sequences(root, "rfm"))
        served.run()
        counts = served.workspace.sql(
            "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM events WHERE name = 'Audience Entered'"
        ).to_pylist()[0]
        assert counts == {"n": first.sent, "ids": first.sent}
        expected = {f"cdp:m:{sequence}" for sequence in sequences(root, "rfm")}
        stored = served.workspace.sql("SELECT event_id FROM events").column("event_id").to_pylist()
        assert set(stored) == expected
