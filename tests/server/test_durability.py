"""Acknowledged means durable: ``kill -9`` in the middle of a load loses no acknowledged event
and doubles none (after a restart each is in the journal once, and after a run in
``events`` once); a full disk refuses new events with the reason and ``Retry-After``."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.live import Served, free_port, keys, live_workspace, serve_process, serving


def _journal_ids(root: Path) -> list[str]:
    ids = []
    for path in sorted((root / "journal" / "web").glob("*.jsonl*")):
        ids += [json.loads(line)["messageId"] for line in path.read_text(encoding="utf-8").splitlines() if line]
    return ids


def test_kill_9_during_a_load_loses_and_doubles_no_acknowledged_event(tmp_path: Path) -> None:
    workspace = live_workspace(tmp_path / "shop")
    write, admin, _ = keys(workspace)
    port = free_port()
    process = serve_process(workspace.root, port)
    served = Served(f"http://127.0.0.1:{port}", workspace, write, admin, "")
    acknowledged: list[str] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            batch = [
                {"type": "track", "userId": f"u{n % 7}", "event": "Viewed", "messageId": str(uuid.uuid4())}
                for n in range(50)
            ]
            try:
                status, _, _ = served.call("/v1/batch", {"batch": batch}, basic=write)
            except OSError:
                return  # the server is gone
            if status == 200:
                acknowledged.extend(item["messageId"] for item in batch)

    sender = threading.Thread(target=load)
    sender.start()
    while len(acknowledged) < 500:
        assert process.poll() is None
        stop.wait(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stop.set()
    sender.join()
    process = serve_process(workspace.root, port)  # recovery: a torn tail is set aside
    try:
        in_journal = _journal_ids(workspace.root)
        assert set(acknowledged) <= set(in_journal)
        assert len(in_journal) == len(set(in_journal))  # nothing twice
        served.run()
        status, answer, _ = served.call(
            "/v1/admin/sql", {"query": "SELECT event_id, count(*) AS n FROM events GROUP BY 1"}, token=admin
        )
        assert status == 200
        counted = {row["event_id"]: row["n"] for row in answer["rows"]}
        assert set(acknowledged) <= set(counted) and set(counted.values()) == {1}
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs for the live source's journal (real ENOSPC); skipped where mounting is not allowed."""
    folder = tmp_path / "shop" / "journal" / "web"
    folder.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here to fill a disk for real: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_refuses_events_with_the_reason(small_disk: Path) -> None:
    with serving(live_workspace(small_disk.parent.parent)) as served:
        assert served.track(userId="u", event="before", messageId="m-before")[0] == 200
        filler = small_disk / "filler"
        with filler.open("wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError as error:
                assert error.errno == errno.ENOSPC
        status, answer, headers = served.track(userId="u", event="during", properties={"p": "x" * 5000})
        assert status == 503, answer
        assert "space" in answer["error"].lower() and headers.get("retry-after") == "5"
        _, health, _ = served.call("/health")
        assert health["ok"] is False and health["journal_faults"]
        filler.unlink()
        assert served.track(userId="u", event="after", messageId="m-after")[0] == 200
        ids = _journal_ids(small_disk.parent.parent)
        assert ids == ["m-before", "m-after"]
