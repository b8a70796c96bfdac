"""The webhook destination against a real receiver on 127.0.0.1 (tests/activation/receiver.py):
outages, 5xx, 429 with Retry-After, timeouts, a refused change, a change too big, the
signature, and ``kill -9`` in the middle of a sync."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from personae import Workspace
from personae.activation.delivery import SyncResult, sync_destination
from personae.activation.destination import DeliveryContext
from personae.activation.http_delivery import Change, backoff, pack
from personae.activation.kinds import parse_destination
from personae.activation.kinds.webhook import WebhookDestination, WebhookDestinationSpec, signature
from personae.cli.app import app
from tests.activation.http_workspaces import (
    dead_letters,
    demo_workspace,
    feed_end,
    now,
    sequences,
    store,
    with_destination,
)
from tests.activation.receiver import Receiver, receiving

SECRET = "whsec-test-0123456789"
ENV = {"HOOK_SECRET": SECRET}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_workspace(tmp_path_factory.mktemp("webhook") / "demo")


@pytest.fixture
def receiver() -> Any:
    with receiving("webhook", secret=SECRET) as running:
        yield running


def hook(receiver: Receiver, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "hook",
        "kind": "webhook",
        "url": receiver.url,
        "secret_env": "HOOK_SECRET",
        "segmentations": ["rfm"],
        "batch_size": 50,
        "backoff_seconds": 0.5,
        "max_backoff_seconds": 30.0,
        "max_attempts": 5,
    }
    return {**spec, **overrides}


def sync(root: Path, receiver: Receiver, env: dict[str, str] | None = None) -> SyncResult:
    """One sync of the workspace's destination, waiting through ``receiver.sleep`` (not really)."""
    env = ENV if env is None else env
    workspace = Workspace(root, env=env)
    spec = workspace.config.destinations[0]
    assert isinstance(spec, WebhookDestinationSpec)
    destination = WebhookDestination(spec, DeliveryContext(root, env), sleep=receiver.sleep)
    with workspace.engine(write=True) as engine:
        return sync_destination(engine, spec, destination, now())


def keys(root: Path, segmentation: str = "rfm") -> set[str]:
    return {f"hook:m:{sequence}" for sequence in sequences(root, segmentation)}


def test_after_an_outage_every_change_arrives_once_and_the_cursor_ends_at_the_last(
    demo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    root = with_destination(demo, tmp_path / "ws", hook(receiver))
    receiver.down(requests=3)  # three refused connections, then back
    result = sync(root, receiver)
    assert result.status == "ok", result.error
    assert receiver.keys() == keys(root) and receiver.duplicates == 0
    assert result.sent == len(keys(root)) and result.cursor == feed_end(root)
    assert len(receiver.sleeps) == 3
    for attempt, waited in enumerate(receiver.sleeps, start=1):  # full jitter under an exponential cap
        assert 0 <= waited <= 0.5 * 2 ** (attempt - 1)
    assert receiver.bad_signatures == 0
    again = sync(root, receiver)  # nothing new: nothing sent
    assert again.sent == 0 and receiver.duplicates == 0


def test_giving_up_keeps_the_cursor_at_what_was_accepted_and_the_next_sync_sends_the_rest(
    demo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    root = with_destination(demo, tmp_path / "ws", hook(receiver, max_attempts=3))
    receiver.faults.fail_after = 2  # two batches taken, then 503 for longer than three tries
    result = sync(root, receiver)
    assert result.status == "failed"
    assert "did not take a request in 3 tries (last: HTTP 503" in result.error
    assert len(receiver.sleeps) == 2  # three tries, two waits
    accepted = sequences(root, "rfm")[:100]
    assert result.cursor == accepted[-1] and result.sent == 100
    assert receiver.keys() == {f"hook:m:{sequence}" for sequence in accepted}
    receiver.faults.fail_after = None
    rest = sync(root, receiver)
    assert rest.status == "ok" and rest.sent == len(keys(root)) - 100
    assert receiver.keys() == keys(root) and receiver.duplicates == 0
    assert rest.cursor == feed_end(root)


def test_a_receiver_down_for_longer_than_max_attempts_moves_nothing(
    demo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    root = with_destination(demo, tmp_path / "ws", hook(receiver, max_attempts=2))
    receiver.down()
    result = sync(root, receiver)
    assert result.status == "failed" and "ConnectError" in result.error and result.cursor == 0
    assert Workspace(root).destinations()[0].lag == len(keys(root))
    receiver.start()
    assert sync(root, receiver).status == "ok"
    assert receiver.keys() == keys(root) and receiver.duplicates == 0


def test_500_and_429_are_retried_and_retry_after_is_honoured(demo: Path, tmp_path: Path, receiver: Receiver) -> None:
    root = with_destination(demo, tmp_path / "ws", hook(receiver))
    receiver.faults.statuses = [500, 429, 429]
    receiver.faults.retry_after = "7"
    result = sync(root, receiver)
    assert result.status == "ok" and receiver.keys() == keys(root)
    assert receiver.sleeps[0] <= 0.5 and receiver.sleeps[1:] == [7.0, 7.0]


def test_retry_after_as_an_http_date(demo: Path, tmp_path: Path, receiver: Receiver) -> None:
    root = with_destination(demo, tmp_path / "ws", hook(receiver))
    receiver.faults.statuses = [429]
    receiver.faults.retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    assert sync(root, receiver).status == "ok"
    assert len(receiver.sleeps) == 1 and 15 <= receiver.sleeps[0] <= 20


def test_retry_after_longer_than_max_backoff_ends_the_sync_without_waiting(
    demo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    root = with_destination(demo, tmp_path / "ws", hook(receiver))
    receiver.faults.statuses = [429]
    receiver.faults.retry_after = "3600"
    result = sync(root, receiver)
    assert result.status == "failed" and receiver.sleeps == []
    assert "asks to retry after 3600 s, longer than max_backoff_seconds = 30" in result.error
    assert result.cursor == 0


def test_a_timeout_is_retried_and_the_receiver_keeps_the_change_once(
    demo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    root = with_destination(demo, tmp_path / "ws", hook(receiver, timeout_seconds=0.2))
    receiver.faults.slow = [0.6]  # the first request answers after the client stopped waiting
    result = sync(root, receiver)
    assert result.status == "ok" and len(receiver.sleeps) == 1
    assert receiver.keys() == keys(root)
    receiver.settle()  # the request that timed out is taken after its retry, or before it on a busy machine
    first = receiver.accepted[0]
    assert Counter(receiver.accepted) == {request: 2 if request == first else 1 for request in receiver.accepted}
    assert receiver.duplicates == len(first[1])  # only the changes of the request sent again came twice


def test_a_refused_change_is_dead_lettered_and_the_rest_delivered(
    demo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    root = with_destination(demo, tmp_path / "ws", hook(receiver))
    bad = f"hook:m:{sequences(root, 'rfm')[7]}"
    receiver.faults.refuse = {bad}
    result = sync(root, receiver)
    assert result.status == "ok" and result.dead_lettered == 1
    assert receiver.keys() == keys(root) - {bad}
    assert result.cursor == feed_end(root)
    (letter,) = dead_letters(root)
    assert letter["key"] == bad and letter["part"] == "membership"
    assert letter["reason"] == f"HTTP 400: change {bad} is not valid here: unknown field"
    assert json.loads(letter["payload"])["key"] == bad


def test_a_change_too_big_for_a_batch_is_dead_lettered_before_sending(
    demo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    spec = hook(receiver, segmentations=[], traits=["first_name", "orders"], max_batch_bytes=4096)
    root = with_destination(demo, tmp_path / "ws", spec)
    with store(root) as connection:
        big = str(connection.execute("SELECT min(uid) FROM profiles").fetchone()[0])  # type: ignore[index]
        connection.execute("UPDATE profiles SET first_name = repeat('x', 5000) WHERE uid = ?", [big])
        people = int(connection.execute("SELECT count(*) FROM profiles").fetchone()[0])  # type: ignore[index]
    result = sync(root, receiver)
    assert result.status == "ok" and result.dead_lettered == 1 and result.sent == people - 1
    (letter,) = dead_letters(root)
    assert letter["uid"] == big and letter["part"] == "traits"
    assert "bytes of JSON, more than the" in letter["reason"]
    assert big not in {change["uid"] for change in receiver.changes.values()}
    assert len(receiver.changes) == people - 1 and 0 < receiver.largest <= 4096
    cli = CliRunner()
    shown = cli.invoke(app, ["destinations", "-w", str(root), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    (row,) = json.loads(shown.output)
    assert row["dead_lettered"] == 1 and row["status"] == "ok"
    letters = cli.invoke(app, ["destinations", "-w", str(root), "--dead-letters", "hook", "--format", "json"])
    assert json.loads(letters.output)[0]["reason"] == letter["reason"]


def test_the_signature_verifies_and_a_wrong_secret_moves_nothing(
    demo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    root = with_destination(demo, tmp_path / "ws", hook(receiver))
    wrong = sync(root, receiver, env={"HOOK_SECRET": "not-the-secret"})
    assert wrong.status == "failed" and wrong.cursor == 0 and wrong.dead_lettered == 0
    assert "answered 401 (bad signature): the receiver does not accept its credentials" in wrong.error
    assert receiver.bad_signatures == 1 and receiver.changes == {}
    missing = sync(root, receiver, env={})
    assert missing.status == "failed" and "environment variable HOOK_SECRET is not set" in missing.error
    assert sync(root, receiver).status == "ok"
    assert receiver.bad_signatures == 1 and receiver.keys() == keys(root)
    idempotency = [key for key, _ in receiver.accepted]
    assert all(len(key) == 40 for key in idempotency) and len(set(idempotency)) == len(idempotency)


def test_the_documented_receiver_check_verifies_a_signed_request() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "destinations.md").read_text(encoding="utf-8")
    (recipe,) = [block for block in page.split("```python\n")[1:] if "def verified" in block]
    scope: dict[str, Any] = {}
    exec(recipe.split("```")[0], scope)
    body, stamp = b'{"changes":[]}', str(int(time.time()))
    headers = {"X-Personae-Timestamp": stamp, "X-Personae-Signature": signature(SECRET.encode(), stamp, body)}
    assert scope["verified"](SECRET.encode(), headers, body)
    assert not scope["verified"](SECRET.encode(), headers, body + b" ")
    assert not scope["verified"](b"other", headers, body)


def test_requests_are_packed_under_max_batch_bytes() -> None:
    changes = [Change(f"k{i}", b"x" * 100) for i in range(10)]
    requests, dead = pack([*changes, Change("big", b"x" * 1000)], max_request_bytes=400, overhead=50)
    assert [[c.key for c in r] for r in requests] == [[f"k{i}" for i in range(s, min(s + 3, 10))] for s in (0, 3, 6, 9)]
    assert list(dead) == ["big"] and "1,000 bytes of JSON" in dead["big"]
    assert all(50 + sum(len(c.body) for c in r) + len(r) - 1 <= 400 for r in requests)
    assert backoff(4, 0.5, 3.0, draw=lambda: 1.0) == 3.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url": "ftp://x"}, "url = 'ftp://x' is not an http(s) URL"),
        ({"secret_env": "s3cr3t value!"}, "is not the name of an environment variable"),
        ({"headers": {"X-Personae-Signature": "x"}}, "is set by personae on every request"),
        ({"max_attempt": 3}, "unknown key 'max_attempt' for a webhook destination; did you mean 'max_attempts'?"),
        ({"secret_env": None}, "secret_env"),
    ],
)
def test_spec_errors_name_the_key_and_the_fix(change: dict[str, Any], message: str) -> None:
    data = {"name": "hook", "kind": "webhook", "url": "https://example.org/hook", "secret_env": "S", "traits": ["x"]}
    data = {key: value for key, value in {**data, **change}.items() if value is not None}
    with pytest.raises(ValueError, match="destination 'hook'") as error:
        parse_destination(data, 0)
    assert message in str(error.value)


@pytest.mark.slow
def test_kill_9_during_a_sync_then_a_rerun_loses_nothing_and_doubles_nothing(demo: Path, tmp_path: Path) -> None:
    with receiving("webhook", secret=SECRET) as receiver:
        root = with_destination(demo, tmp_path / "ws", hook(receiver, batch_size=20, timeout_seconds=60))
        receiver.faults.delay = 0.2  # about 23 batches of 20: some seconds of sync to kill into
        receiver.faults.hold_answer_of = 5  # the fifth is taken but not yet answered when the kill comes
        command = [sys.executable, "-m", "personae", "sync", "-w", str(root)]
        env = {**os.environ, **ENV}
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(receiver.accepted) < 5 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL, "the sync ended before it could be killed"
        seen = len(receiver.accepted)
        assert seen == 5 and seen < len(keys(root)) // 20
        receiver.faults.delay, receiver.faults.hold_answer_of = 0.0, None
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert receiver.keys() == keys(root)  # nothing lost
        assert receiver.bad_signatures == 0
        by_request: dict[str, tuple[str, ...]] = {}
        for idempotency_key, request_keys in receiver.accepted:  # a request sent again carries the same keys
            assert by_request.setdefault(idempotency_key, request_keys) == request_keys
        resent = len(receiver.accepted) - len(by_request)
        assert resent == 1 and receiver.duplicates == 20  # only the batch in flight, with the same keys
        state = Workspace(root).destinations()[0]
        assert state.lag == 0 and state.state.status == "ok"
