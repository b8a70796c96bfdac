"""Live processing in the running server: an event sent to the tracking API changes the person's
profile and their rule segments, and the change reaches ``/v1/changes``, without a batch run;
live waits for a first run, resumes where it stopped after a restart, and never applies an
event twice."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from personae import Workspace
from personae.engine import Engine
from personae.identity.live import LiveIdentity
from personae.realtime.live import LiveProcessor
from tests.server.live import Served, live_workspace, serving

SEGMENTS = [{"name": "visitors", "rule": "page_views >= 2"}]


def _workspace(root: Path) -> Workspace:
    return live_workspace(root, segments=SEGMENTS)


def _feed(served: Served, after: int, count: int) -> list[dict[str, Any]]:
    """``count`` membership events of the feed after ``after`` (the stream is left open otherwise)."""
    request = urllib.request.Request(f"{served.url}/v1/changes?after={after}&segmentation=rules")
    request.add_header("Authorization", f"Bearer {served.reader}")
    got: list[dict[str, Any]] = []
    with urllib.request.urlopen(request, timeout=60) as stream:
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                got.append(json.loads(line[6:]))
                if len(got) == count:
                    break
    return got


def _profile(served: Served, identifier: str) -> dict[str, Any]:
    status, profile, _ = served.call(f"/v1/profiles/{identifier}", token=served.reader)
    assert status == 200, profile
    return dict(profile)


def test_an_event_changes_the_profile_and_the_segments_at_once(tmp_path: Path) -> None:
    with serving(_workspace(tmp_path / "shop")) as served:
        assert served.track(userId="early", event="Signed Up", messageId="e0")[0] == 200
        live = served.waiting()
        assert "first batch run" in live["waiting"] and live["caught_up"] is False
        served.run()  # loads the early event; live then starts and leaves it alone
        assert served.live(0)["waiting"] == ""
        sequence = served.workspace.sql("SELECT coalesce(max(sequence), 0) AS s FROM membership_changes")
        after = sequence.column("s")[0].as_py()

        for number in range(2):
            assert (
                served.call(
                    "/v1/page", {"userId": "jo", "name": "Home", "messageId": f"p{number}"}, basic=served.write_key
                )[0]
                == 200
            )
        live = served.live(2)
        assert live["fault"] == "" and live["events"] == 2  # the early event was not applied again
        assert live["caught_up"] is True
        [change] = _feed(served, after, 1)
        profile = _profile(served, "user_id:jo")
        assert change["uid"] == profile["uid"]
        assert (change["segmentation"], change["segment"], change["change"]) == ("rules", "visitors", "entered")
        assert profile["golden"]["page_views"] == 2
        assert [(i["id_type"], i["id_value"]) for i in profile["identifiers"]] == [("user_id", "jo")]
        assert ("rules", "visitors") in {(s["segmentation"], s["segment"]) for s in profile["segments"]}
        events = served.workspace.sql("SELECT count(*) AS n FROM events WHERE user_id = 'jo'").column("n")[0].as_py()
        assert events == 2


def test_live_resumes_after_a_restart_and_a_run_agrees(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path / "shop")
    workspace.run()
    with serving(workspace) as served:
        assert (
            served.call("/v1/page", {"userId": "jo", "name": "Home", "messageId": "p1"}, basic=served.write_key)[0]
            == 200
        )
        assert served.live(1)["events"] == 1
    with serving(workspace) as served:
        assert (
            served.call("/v1/page", {"userId": "jo", "name": "Cart", "messageId": "p2"}, basic=served.write_key)[0]
            == 200
        )
        live = served.live(1)
        assert live["events"] == 1  # only the new one: the first was applied before the restart
        assert _profile(served, "user_id:jo")["golden"]["page_views"] == 2
        stays = served.workspace.sql(
            "SELECT uid, segment FROM memberships WHERE segmentation = 'rules' AND exited_at IS NULL"
        ).to_pylist()
        served.run()
        assert (
            served.workspace.sql(
                "SELECT uid, segment FROM memberships WHERE segmentation = 'rules' AND exited_at IS NULL"
            ).to_pylist()
            == stays
        )
        assert [segment["segment"] for segment in stays] == ["visitors"]


def test_stopping_the_server_interrupts_live_processing_reading_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a million people live processing reads the store for minutes after a run; Ctrl-C (or
    any stop) must not wait for it, nor deadlock on the write turn it holds."""
    reading = threading.Event()

    def endless_read(engine: Engine, *args: object, **kwargs: object) -> None:
        reading.set()
        engine.fetch_rows("SELECT sum(hash(i)) FROM range(1000000000000) AS t(i)")  # hours of work
        raise AssertionError("the read was not interrupted")

    monkeypatch.setattr(LiveIdentity, "load", staticmethod(endless_read))
    with serving(_workspace(tmp_path / "shop")) as served:
        served.run()
        assert reading.wait(60), "live processing did not start reading the store after the run"
        _, health, _ = served.call("/health")
        assert health["live"]["caught_up"] is False  # not caught up while it reads
    # leaving `serving` stopped the server and asserted that its thread ended within 30 s


def test_a_stop_between_two_statements_still_interrupts_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB interrupts the statement running, not the next one: a stop that lands between two
    statements of the store's read must still stop the long one that follows (it was lost, and
    the server hung, on a loaded machine)."""
    reading, stopping = threading.Event(), threading.Event()
    original_stop = LiveProcessor.stop

    def stop(self: LiveProcessor) -> None:
        stopping.set()
        original_stop(self)

    def read_after_the_stop(engine: Engine, *args: object, **kwargs: object) -> None:
        reading.set()
        assert stopping.wait(120), "the server was not stopped"
        time.sleep(0.5)  # the stop's first interrupt came while no statement ran
        engine.fetch_rows("SELECT sum(hash(i)) FROM range(1000000000000) AS t(i)")  # hours of work
        raise AssertionError("the read was not interrupted")

    monkeypatch.setattr(LiveProcessor, "stop", stop)
    monkeypatch.setattr(LiveIdentity, "load", staticmethod(read_after_the_stop))
    with serving(_workspace(tmp_path / "shop")) as served:
        served.run()
        assert reading.wait(60), "live processing did not start reading the store after the run"
    assert stopping.is_set()  # and `serving` asserted that the server's thread ended within 30 s
