"""The event journal: group commit, durability across kill -9, torn tails, faults, backpressure, sealing.

Real files in ``tmp_path``, real threads and processes. Faults are injected by replacing
the journal's own file operations (``journal_files.write_at``/``sync_data``/…), never
``os`` itself; where the machine allows it, a tiny tmpfs gives a real full disk and a
real read-only file system.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

import personae
from personae import Workspace
from personae.errors import InvalidRecord, JournalBusy, JournalError, StoreLockedError
from personae.realtime import journal_files as files
from personae.realtime.journal import Journal, Position, Receipt
from tests.workspaces import write_workspace


def record(key: str, pad: int = 0) -> bytes:
    message = {"messageId": key, "type": "track", "event": "Product Viewed", "userId": "u1", "pad": "x" * pad}
    return json.dumps(message, separators=(",", ":")).encode()


def ids(lines: list[bytes]) -> list[str]:
    return [json.loads(line)["messageId"] for line in lines]


def lines_on_disk(folder: Path) -> list[bytes]:
    """Every line of every segment file, sealed and active, in sequence order."""
    names = sorted(path.name for path in folder.glob("[0-9]*.jsonl*"))
    return [line for name in names for line in (folder / name).read_bytes().splitlines()]


def line_of(folder: Path, receipt: Receipt) -> bytes:
    """The line a receipt names, read from whichever name its segment has now."""
    sealed = files.segment_path(folder, receipt.segment)
    path = sealed if sealed.exists() else files.segment_path(folder, receipt.segment, active=True)
    return path.read_bytes().splitlines()[receipt.first_line - 1]


def digest(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


class Gate:
    """Replaces ``sync_data``: the first fsync waits until released, so tests can queue work behind it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.real = files.sync_data

    def __call__(self, fd: int) -> None:
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(30), "the test never released the fsync"
        self.real(fd)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    blocker = Gate()
    monkeypatch.setattr(files, "sync_data", blocker)
    yield blocker
    blocker.release.set()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal") as opened:
        yield opened


def test_concurrent_appends_are_stored_once_in_order_and_share_fsyncs(tmp_path: Path) -> None:
    threads, appends = 16, 40
    start = threading.Barrier(threads)
    receipts: dict[int, list[Receipt]] = {thread: [] for thread in range(threads)}
    with Journal(tmp_path / "journal", segment_bytes=64 << 10) as journal:

        def appender(thread: int) -> None:
            start.wait()
            for number in range(appends):
                batch = [record(f"{thread}-{number}-{k}", pad=100) for k in range(3)]
                receipts[thread].append(journal.append(batch))

        workers = [threading.Thread(target=appender, args=(thread,)) for thread in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        stats = journal.stats()
        read_back = [line for _, line in journal.read()]

    stored = ids(lines_on_disk(tmp_path / "journal"))
    expected = [f"{thread}-{number}-{k}" for thread in range(threads) for number in range(appends) for k in range(3)]
    assert sorted(stored) == sorted(expected)  # every record, exactly once
    assert ids(read_back) == stored
    for thread in range(threads):
        mine = [key for key in stored if key.startswith(f"{thread}-")]
        assert mine == [f"{thread}-{number}-{k}" for number in range(appends) for k in range(3)]
        for number, receipt in enumerate(receipts[thread]):
            assert ids([line_of(tmp_path / "journal", receipt)]) == [f"{thread}-{number}-0"]
            assert receipt.count == 3
    assert len(list((tmp_path / "journal").glob("*.jsonl"))) > 1  # the records span segments
    assert stats.appends == threads * appends and stats.records == 3 * threads * appends
    assert stats.commits < stats.appends  # group commit: fewer data fsyncs than appends
    assert stats.mean_batch > 1


def test_concurrent_commits_wait_for_one_shared_fsync(journal: Journal, gate: Gate) -> None:
    async def scenario() -> list[Receipt]:
        first = asyncio.create_task(journal.commit([record("first")]))
        assert await asyncio.to_thread(gate.entered.wait, 30)
        rest = [asyncio.create_task(journal.commit([record(f"r{n}")])) for n in range(20)]
        await asyncio.sleep(0)  # each task runs up to its await: all 20 are queued behind the fsync
        assert not first.done() and not any(task.done() for task in rest)  # nothing before its fsync
        assert list(journal.read()) == []  # a reader never sees an uncommitted record
        gate.release.set()
        return [await first, *await asyncio.gather(*rest)]

    receipts = asyncio.run(scenario())
    stats = journal.stats()
    assert (stats.appends, stats.commits) == (21, 2)  # the 20 queued commits shared one fsync
    assert [receipt.first_line for receipt in receipts] == list(range(1, 22))
    assert ids([line for _, line in journal.read()]) == ["first", *(f"r{n}" for n in range(20))]


CHILD = """
import json, sys, threading
from personae.realtime.journal import Journal

journal = Journal(sys.argv[1], segment_bytes=32 << 10)
printing = threading.Lock()

def appender(thread):
    for number in range(10**9):
        keys = [f"{thread}-{number}-{k}" for k in range(5)]
        receipt = journal.append([json.dumps({"messageId": key, "pad": "x" * 250}).encode() for key in keys])
        with printing:
            print(json.dumps({"keys": keys, "segment": receipt.segment, "line": receipt.first_line}), flush=True)

for thread in range(4):
    threading.Thread(target=appender, args=(thread,), daemon=True).start()
threading.Event().wait()
"""


def acknowledgement(line: str) -> tuple[list[str], int, int]:
    entry = json.loads(line)
    return entry["keys"], entry["segment"], entry["line"]


def test_acknowledged_records_survive_kill_9(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    environment = {**os.environ, "PYTHONPATH": str(Path(personae.__file__).parents[1])}
    acknowledged: list[tuple[list[str], int, int]] = []  # keys, segment, first line
    command = [sys.executable, "-c", CHILD, str(folder)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, env=environment, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            acknowledged.append(acknowledgement(line))
            if len(acknowledged) == 400:
                child.send_signal(signal.SIGKILL)  # mid-stream: four threads are still appending
                break
        rest = child.stdout.read()
    assert child.returncode == -signal.SIGKILL, "the child ended before it was killed"
    acknowledged += [acknowledgement(line) for line in rest.splitlines(keepends=True) if line.endswith("\n")]

    with Journal(folder) as journal:
        recovery = journal.recovery
        stored = ids([line for _, line in journal.read()])
    assert len(stored) == len(set(stored))
    assert set(stored) == set(ids(lines_on_disk(folder)))  # every complete line is a record
    promised = [key for keys, _, _ in acknowledged for key in keys]
    assert not set(promised) - set(stored)  # every acknowledged record is there, exactly once
    for keys, segment, first_line in acknowledged:
        assert ids([line_of(folder, Receipt(segment, 0, 0, first_line, len(keys)))]) == keys[:1]
    if recovery.torn_bytes:  # a cut write: moved out whole, holding nothing acknowledged
        assert recovery.kept is not None and len(recovery.kept.read_bytes()) == recovery.torn_bytes
        assert not any(key.encode() in recovery.kept.read_bytes() for key in promised)
    else:
        assert not (folder / "torn").exists()


@pytest.mark.parametrize(
    ("tail", "kept", "reason"),
    [
        (b'{"messageId":"half', b'{"messageId":"half', "a partial record"),
        (b'{"messageId": broken}\n', b'{"messageId": broken}\n', "not a JSON object"),
        (b"[1, 2]\n", b"[1, 2]\n", "not a JSON object"),
        (b"\0\0\0\0", b"\0\0\0\0", "a partial record"),
        (b'{"bad"\n{"messageId":"ha', b'{"bad"\n{"messageId":"ha', "not a JSON object"),
    ],
    ids=["partial", "invalid-json", "not-an-object", "zeros", "invalid-then-partial"],
)
def test_torn_tail_is_moved_aside_on_open(tmp_path: Path, tail: bytes, kept: bytes, reason: str) -> None:
    folder = tmp_path / "journal"
    with Journal(folder) as journal:
        journal.append([record("a"), record("b")])
        good = journal.append([record("c")]).end
    active = files.segment_path(folder, 1, active=True)
    with active.open("ab") as handle:
        handle.write(tail)

    with Journal(folder) as journal:
        recovery = journal.recovery
        assert (recovery.torn_bytes, recovery.records, recovery.size) == (len(kept), 3, good)
        assert reason in recovery.reason and str(recovery.kept) in recovery.summary
        assert recovery.kept == folder / "torn" / f"000000000001-{good}.bin"
        assert recovery.kept.read_bytes() == kept
        assert active.read_bytes().endswith(record("c") + b"\n") and active.stat().st_size == good
        assert ids([line for _, line in journal.read()]) == ["a", "b", "c"]
        assert journal.append([record("d")]).first_line == 4
    assert ids(lines_on_disk(folder)) == ["a", "b", "c", "d"]


def test_a_second_tear_at_the_same_offset_keeps_both_tails(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    Journal(folder).close()
    active = files.segment_path(folder, 1, active=True)
    for tail in (b'{"one', b'{"two'):
        active.write_bytes(tail)
        Journal(folder).close()
    assert sorted(path.read_bytes() for path in (folder / "torn").iterdir()) == [b'{"one', b'{"two']


@pytest.mark.parametrize(
    "bad",
    [b'{"a":\n1}', b'{"a":1}\r', b"not json", b'{"a":NaN}', b"[1]", b"", b'{"a":"\xff"}', "text"],
    ids=["newline", "carriage-return", "not-json", "nan", "array", "empty", "not-utf8", "str"],
)
def test_records_must_be_one_line_of_a_json_object(journal: Journal, bad: bytes) -> None:
    with pytest.raises(InvalidRecord, match="record 2 of 2"):
        journal.append([record("fine"), bad])
    with pytest.raises(InvalidRecord, match="at least one record"):
        journal.append([])
    assert list(journal.read()) == [] and journal.stats().appends == 0


@pytest.fixture
def failing_writes(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """While the returned event is set, a write stores half its bytes and then fails with ENOSPC."""
    full = threading.Event()
    real = files.write_at

    def write_at(fd: int, data: bytes, offset: int) -> None:
        if full.is_set():
            real(fd, data[: len(data) // 2], offset)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data, offset)

    monkeypatch.setattr(files, "write_at", write_at)
    return full


def test_full_disk_fails_the_whole_batch_leaves_no_partial_record_and_recovers(
    journal: Journal, gate: Gate, failing_writes: threading.Event
) -> None:
    async def scenario() -> tuple[Receipt, list[BaseException | Receipt]]:
        held = asyncio.create_task(journal.commit([record("held")]))
        assert await asyncio.to_thread(gate.entered.wait, 30)
        doomed = [asyncio.create_task(journal.commit([record(f"lost{n}", pad=500)])) for n in range(5)]
        await asyncio.sleep(0)  # the five wait together behind the held fsync
        failing_writes.set()
        gate.release.set()
        return await held, await asyncio.gather(*doomed, return_exceptions=True)

    held, outcomes = asyncio.run(scenario())
    active = files.segment_path(journal.folder, 1, active=True)
    assert all(isinstance(outcome, JournalError) for outcome in outcomes)
    message = str(outcomes[0])
    assert str(active) in message and "disk is full" in message and "free space" in message
    assert active.stat().st_size == held.end  # the half-written batch was truncated away
    assert ids(active.read_bytes().splitlines()) == ["held"]
    assert not journal.healthy and "disk is full" in journal.fault
    with pytest.raises(JournalError, match="disk is full"):  # refused while the disk stays full
        journal.append([record("still-full")])
    assert active.stat().st_size == held.end

    failing_writes.clear()  # space was freed
    assert journal.append([record("after")]).start == held.end
    assert journal.healthy and journal.fault == ""
    assert ids([line for _, line in journal.read()]) == ["held", "after"]
    assert journal.stats().failed_commits == 2


def test_a_failed_rollover_seals_the_old_segment_and_resumes_in_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = files.create_segment

    def read_only(folder: Path, sequence: int) -> int:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(folder))

    with Journal(tmp_path / "journal", segment_bytes=500) as journal:
        first = journal.append([record("one", pad=300)])
        monkeypatch.setattr(files, "create_segment", read_only)
        with pytest.raises(JournalError, match="file system is read-only") as caught:
            journal.append([record("two", pad=300)])
        assert str(tmp_path / "journal") in str(caught.value)
        assert journal.sealed_segments() == [tmp_path / "journal" / "000000000001.jsonl"]
        sealed = digest(journal.sealed_segments()[0])
        monkeypatch.setattr(files, "create_segment", real)
        second = journal.append([record("two", pad=300)])
        assert (first.segment, second.segment, second.first_line) == (1, 2, 1)
        assert ids([line for _, line in journal.read()]) == ["one", "two"]
    assert digest(tmp_path / "journal" / "000000000001.jsonl") == sealed


def test_read_only_folder_is_refused_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: chmod does not stop root from writing (see the tmpfs test)")
        with pytest.raises(JournalError, match="make the journal folder writable") as caught:
            Journal(folder)
        assert str(folder) in str(caught.value)
    finally:
        folder.chmod(0o755)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Callable[[str], None]]:
    """A 64 KiB tmpfs at ``tmp_path/disk`` (skipped where mounting is not allowed); yields a remounter."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")

    def remount(options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(disk)], check=True)

    yield remount
    subprocess.run(["umount", str(disk)], check=True)


def test_a_really_full_disk(tmp_path: Path, tiny_disk: Callable[[str], None]) -> None:
    folder = tmp_path / "disk" / "journal"
    with Journal(folder) as journal:
        stored: list[str] = []
        with pytest.raises(JournalError, match="disk is full") as caught:
            for number in range(1000):
                journal.append([record(f"k{number}", pad=2000)])
                stored.append(f"k{number}")
        assert str(files.segment_path(folder, 1, active=True)) in str(caught.value)
        assert stored and not journal.healthy
        assert ids(lines_on_disk(folder)) == stored  # no partial record after the failed write
        tiny_disk("size=1m")
        journal.append([record("after", pad=2000)])
        assert journal.healthy
        assert ids([line for _, line in journal.read()]) == [*stored, "after"]


def test_a_read_only_file_system_is_refused_naming_the_folder(tmp_path: Path, tiny_disk: Callable[[str], None]) -> None:
    folder = tmp_path / "disk" / "journal"
    with Journal(folder) as journal:
        journal.append([record("kept")])
    tiny_disk("ro")
    with pytest.raises(JournalError, match="read-only") as caught:
        Journal(folder)
    assert str(folder) in str(caught.value)


def test_backpressure_refuses_instead_of_queueing(tmp_path: Path, gate: Gate) -> None:
    async def scenario(journal: Journal) -> list[Receipt]:
        first = asyncio.create_task(journal.commit([record("first", pad=900)]))
        assert await asyncio.to_thread(gate.entered.wait, 30)
        second = asyncio.create_task(journal.commit([record("second", pad=1400)]))
        await asyncio.sleep(0)
        assert journal.stats().pending_bytes > 2300
        with pytest.raises(JournalBusy, match="max_pending_bytes 3000"):
            await asyncio.wait_for(journal.commit([record("third", pad=900)]), 30)
        with pytest.raises(JournalBusy, match="nothing was stored"):
            await asyncio.wait_for(asyncio.to_thread(journal.append, [record("third", pad=900)]), 30)
        gate.release.set()
        return [await first, await second, await journal.commit([record("third", pad=900)])]

    with Journal(tmp_path / "journal", max_pending_bytes=3000) as journal:
        receipts = asyncio.run(scenario(journal))
        assert [receipt.first_line for receipt in receipts] == [1, 2, 3]
        assert journal.stats().busy_refusals == 2
        assert ids([line for _, line in journal.read()]) == ["first", "second", "third"]
        with pytest.raises(InvalidRecord, match="larger than the journal's max_pending_bytes"):
            journal.append([record("huge", pad=4000)])


def test_second_journal_on_the_folder_gets_the_lock_error(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    with Journal(folder, command="personae serve"):
        with pytest.raises(StoreLockedError) as caught:
            Journal(folder)
        message = str(caught.value)
        assert f"journal {folder} is held for writing by pid {os.getpid()}" in message and "personae serve" in message
    Journal(folder).close()  # released on close


def test_rollover_and_seal_never_change_sealed_files(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    with Journal(folder, segment_bytes=2000) as journal:
        receipts = [journal.append([record(f"a{n}-{k}", pad=150) for k in range(2)]) for n in range(20)]
        sealed = journal.sealed_segments()
        assert len(sealed) > 2 and sorted(folder.glob("*.jsonl")) == sealed  # the active one is not matched
        before = {path: digest(path) for path in sealed}
        receipts += [journal.append([record(f"b{n}-{k}", pad=150) for k in range(2)]) for n in range(20)]
        last = journal.seal()
        assert last == journal.sealed_segments()[-1] and journal.seal() is None  # nothing left to seal
        assert {path: digest(path) for path in sealed} == before
        assert all(path.stat().st_size <= 2000 for path in journal.sealed_segments())
        assert [receipt.segment for receipt in receipts] == sorted(receipt.segment for receipt in receipts)
        everything = list(journal.read())
        keys = [f"{letter}{n}-{k}" for letter in "ab" for n in range(20) for k in range(2)]
        assert ids([line for _, line in everything]) == keys
        assert [position for position, _ in everything] == sorted(position for position, _ in everything)
        assert [line for path in journal.sealed_segments() for line in path.read_bytes().splitlines()] == [
            line for _, line in everything
        ]
        halfway = everything[30][0]
        assert ids([line for _, line in journal.read(after=halfway)]) == keys[31:]


def test_a_crash_between_sealing_and_the_next_segment_is_completed_on_open(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    with Journal(folder) as journal:
        journal.append([record("one")])
        sealed = journal.seal()
    assert sealed is not None
    files.segment_path(folder, 2, active=True).unlink()  # as if killed after the rename
    before = digest(sealed)
    with Journal(folder) as journal:
        assert journal.append([record("two")]).segment == 2
        assert ids([line for _, line in journal.read()]) == ["one", "two"]
    assert digest(sealed) == before


def test_an_active_segment_older_than_a_sealed_one_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    Journal(folder).close()
    files.segment_path(folder, 1, active=True).rename(files.segment_path(folder, 3))
    files.segment_path(folder, 2, active=True).write_bytes(b"")
    with pytest.raises(JournalError, match="only the newest segment may be active"):
        Journal(folder)
    with pytest.raises(JournalError, match="only the newest segment may be active"):  # not locked: released
        Journal(folder)


def test_a_follower_sees_every_record_once_in_order(tmp_path: Path) -> None:
    total = 300
    seen: list[bytes] = []
    with Journal(tmp_path / "journal", segment_bytes=4000) as journal:

        def follow() -> None:
            after: Position | None = None
            while True:
                for position, line in journal.read(after):
                    seen.append(line)
                    after = position
                if len(seen) >= total:
                    return
                assert journal.wait(after, timeout=30), "no commit within 30 s"

        follower = threading.Thread(target=follow)
        follower.start()
        for number in range(0, total, 3):
            journal.append([record(f"f{number + k}") for k in range(3)])
            if number % 60 == 0:
                journal.seal()
        follower.join(30)
        assert not follower.is_alive(), f"the follower saw {len(seen)} of {total} records in 30 s"
        with pytest.raises(JournalError, match="not the end of a record"):
            list(journal.read(Position(1, 5)))
    assert ids(seen) == [f"f{number}" for number in range(total)]


def test_a_seal_does_not_wake_a_follower_that_has_read_everything(tmp_path: Path) -> None:
    """Else a follower at the end of a sealed segment would spin until the next record."""
    folder = tmp_path / "journal"
    with Journal(folder) as journal:
        assert not journal.wait(None, timeout=0.01)  # an empty journal has nothing to read
        last = journal.append([record("one"), record("two")]).position
        journal.seal()
        assert journal.committed > last and not journal.wait(last, timeout=0.01)
        assert [line for _, line in journal.read(last)] == []
    with Journal(folder) as journal:  # reopened: the newest record is in the sealed segment
        assert not journal.wait(last, timeout=0.01) and journal.wait(None, timeout=0.01)
        journal.append([record("three")])
        assert journal.wait(last, timeout=0.01)
        assert ids([line for _, line in journal.read(last)]) == ["three"]


def test_closed_journal_refuses_appends_and_reopens_where_it_stopped(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal")
    journal.append([record("one")])
    journal.close()
    journal.close()
    with pytest.raises(JournalError, match="is closed"):
        journal.append([record("two")])
    with Journal(tmp_path / "journal") as again:
        assert again.recovery.torn_bytes == 0 and again.recovery.records == 1
        assert again.append([record("two")]).first_line == 2


def test_batch_ingest_loads_sealed_segments_idempotently(tmp_path: Path) -> None:
    source = {"name": "live", "kind": "events", "path": "journal/*.jsonl"}
    root = write_workspace(tmp_path / "ws", [source], {})

    def event(key: str) -> bytes:
        message = {"messageId": key, "type": "track", "event": "Viewed", "timestamp": "2024-01-05T09:00:00Z"}
        return json.dumps({**message, "userId": "u1"}).encode()

    with Journal(root / "journal") as journal:
        journal.append([event("m1"), event("m2")])
        journal.seal()
        resent = journal.append([event("m2"), event("m3")])  # m2 sent again; m3 stays in the active segment
        Workspace(root).run(as_of=date(2024, 3, 1), only="ingest")
        loaded = Workspace(root).sql("SELECT event_id FROM events ORDER BY 1").column(0).to_pylist()
        assert loaded == ["m1", "m2"]  # the active segment is not loaded
        journal.seal()
        Workspace(root).run(as_of=date(2024, 3, 1), only="ingest")
    loaded = Workspace(root).sql("SELECT event_id FROM events ORDER BY 1").column(0).to_pylist()
    assert loaded == ["m1", "m2", "m3"]
    rows = Workspace(root).sql("SELECT _file, _row FROM raw_live WHERE _raw LIKE '%m3%'").to_pylist()
    assert rows == [{"_file": f"journal/{resent.file_name}", "_row": resent.first_line + 1}]  # a receipt names the row
