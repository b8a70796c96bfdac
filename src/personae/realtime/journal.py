"""The append-only event journal: a tracking call is acknowledged only once it is on disk.

``personae serve`` answers 2xx only after the call's events are fsynced here, and batch
ingest loads the sealed segments as ordinary JSONL files (idempotent by ``messageId``), so
batch and live see the same events. This module knows nothing of HTTP.

Group commit: an fsync of a growing file costs 0.3 ms on this machine's idle disk and
2-3 ms when it is busy, so one fsync per request would cap intake at the disk's fsync
rate. One writer thread takes everything queued since its last commit, writes it with one
``pwrite`` and one ``fdatasync``, and only then wakes every waiter of that batch: requests
that arrive together share one fsync (64 appenders of 100-event batches: 28 appends per
fsync, 5x the records/s of one appender; ``bench/journal.py``). Threads wait on an event,
coroutines on a future the writer resolves through their loop, so the event loop never
blocks on the disk.

Faults: a failed write or fsync (full disk, read-only folder) fails every waiter of its
batch with :class:`JournalError`, truncates the segment back to the last committed byte so
no partial record stays, and marks the journal unhealthy; the next append checks the file
(truncates again) and tries once more, so intake resumes when the condition clears. At
most ``max_pending_bytes`` may wait for a commit; past that an append raises
:class:`JournalBusy` at once, so the server answers 429/503 instead of acknowledging what
it did not store.

Torn records (a crash during a write) are moved out of the segment on open; see
:mod:`personae.realtime.journal_files`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from personae.errors import InvalidRecord, JournalBusy, JournalError
from personae.realtime import journal_files as files
from personae.realtime.journal_files import Position, Receipt, Recovery
from personae.store_lock import StoreLock

SEGMENT_BYTES = 64 << 20
MAX_PENDING_BYTES = 32 << 20

__all__ = ["Journal", "JournalStats", "Position", "Receipt", "Recovery"]


@dataclass(frozen=True)
class JournalStats:
    """Counters since the journal was opened (for the benchmark and ``/health``).

    ``commits`` counts batches stored, each with one data fsync; ``fsyncs`` counts those and
    every other fsync (folder at rollover, segment after a fault); ``pending_bytes`` wait now.
    """

    appends: int
    records: int
    bytes: int
    commits: int
    fsyncs: int
    failed_commits: int
    busy_refusals: int
    pending_bytes: int

    @property
    def mean_batch(self) -> float:
        """Appends committed per commit (one data fsync each): above 1 means group commit."""
        return self.appends / self.commits if self.commits else 0.0


_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Receipt]", int]


class _Batch:
    """Appends that share one write and one fsync, and the way to wake their waiters."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.counts: list[int] = []
        self.size = 0
        self.waiters: list[_Waiter] = []
        self.done = threading.Event()
        self.receipts: list[Receipt] = []
        self.error = ""

    def add(self, data: bytes, count: int) -> int:
        self.parts.append(data)
        self.counts.append(count)
        self.size += len(data)
        return len(self.parts) - 1

    def outcome(self, index: int) -> Receipt:
        if self.error:
            raise JournalError(self.error)
        return self.receipts[index]

    def finish(self, receipts: list[Receipt], error: str) -> None:
        self.receipts, self.error = receipts, error
        self.done.set()
        loops: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Receipt], int]]] = {}
        for loop, future, index in self.waiters:
            loops.setdefault(loop, []).append((future, index))
        for loop, futures in loops.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                loop.call_soon_threadsafe(self._resolve, futures)

    def _resolve(self, futures: list[tuple[asyncio.Future[Receipt], int]]) -> None:
        for future, index in futures:
            if future.done():  # cancelled; its records are stored all the same
                continue
            if self.error:
                future.set_exception(JournalError(self.error))
            else:
                future.set_result(self.receipts[index])


class Journal:
    """An append-only journal in ``folder``, held exclusively while open (use ``with`` or close())."""

    def __init__(
        self,
        folder: Path | str,
        *,
        segment_bytes: int = SEGMENT_BYTES,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        command: str | None = None,
    ) -> None:
        if segment_bytes <= 0 or max_pending_bytes <= 0:
            raise ValueError("segment_bytes and max_pending_bytes must be positive")
        self.folder = Path(folder)
        self.segment_bytes = segment_bytes
        self.max_pending_bytes = max_pending_bytes
        held = files.lock_folder(self.folder, command or " ".join(["personae", *sys.argv[1:]]))
        try:
            self._sequence, self.recovery = files.recover(self.folder)
            self._fd: int | None = files.open_segment(self.folder, self._sequence)
        except OSError as error:
            held.release()
            raise JournalError(files.failure("recover the active segment", self.folder, error)) from error
        except BaseException:
            held.release()
            raise
        self._held: StoreLock | None = held
        self._offset, self._lines = self.recovery.size, self.recovery.records
        self._fault = ""
        self._closed = ""
        self._lock = threading.Lock()  # the queue, the committed position, the counters
        self._io = threading.Lock()  # the active segment's descriptor, offset and sequence
        self._work = threading.Condition(self._lock)
        self._advanced = threading.Condition(self._lock)
        self._queued = _Batch()
        self._pending = 0
        self._committed = Position(self._sequence, self._offset)
        self._newest: Position | None = files.newest_record_end(self.folder, self._sequence, self._offset)
        """Just past the newest committed record: a seal moves ``_committed`` on, not this."""
        counted = ("appends", "records", "bytes", "commits", "fsyncs", "failed_commits", "busy_refusals")
        self._counts = dict.fromkeys(counted, 0)
        self._writer = threading.Thread(target=self._run, name=f"journal writer {self.folder}", daemon=True)
        self._writer.start()

    # appending

    def append(self, records: Sequence[bytes]) -> Receipt:
        """Store ``records`` (compact JSON objects, one line each); return once they are fsynced."""
        batch, index = self._enqueue(records, None)
        batch.done.wait()
        return batch.outcome(index)

    async def commit(self, records: Sequence[bytes]) -> Receipt:
        """``append`` for a coroutine: waits for the fsync without blocking the event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Receipt] = loop.create_future()
        self._enqueue(records, (loop, future))
        return await future

    def _enqueue(
        self, records: Sequence[bytes], waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[Receipt]] | None
    ) -> tuple[_Batch, int]:
        data = files.encode(records)
        if len(data) > self.max_pending_bytes:
            raise InvalidRecord(
                f"an append of {len(data)} bytes is larger than the journal's max_pending_bytes "
                f"({self.max_pending_bytes}); split it into smaller appends"
            )
        with self._lock:
            if self._closed:
                raise JournalError(self._closed)
            if self._pending + len(data) > self.max_pending_bytes:
                self._counts["busy_refusals"] += 1
                raise JournalBusy(
                    f"journal {self.folder}: {self._pending} bytes already wait for a commit "
                    f"(max_pending_bytes {self.max_pending_bytes}); nothing was stored, retry after a moment"
                )
            self._pending += len(data)
            index = self._queued.add(data, len(records))
            if waiter is not None:
                self._queued.waiters.append((*waiter, index))
            self._work.notify()
            return self._queued, index

    # the writer thread

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queued.parts and not self._closed:
                    self._work.wait()
                batch, self._queued = self._queued, _Batch()
            if not batch.parts:
                return
            try:
                receipts = self._write(batch)
            except JournalError as error:
                self._publish(batch, [], str(error))
            except BaseException as bug:  # never leave waiters hanging; re-raised below
                message = f"journal {self.folder}: the writer stopped ({bug!r}); reopen the journal"
                with self._lock:
                    self._closed = message
                    stranded, self._queued = self._queued, _Batch()
                self._publish(batch, [], message)
                self._publish(stranded, [], message)
                raise
            else:
                self._publish(batch, receipts, "")

    def _write(self, batch: _Batch) -> list[Receipt]:
        with self._io:
            try:
                fd = self._settle()
                if self._offset and self._offset + batch.size > self.segment_bytes:
                    fd = self._roll()
                files.write_at(fd, b"".join(batch.parts), self._offset)
                files.sync_data(fd)
            except OSError as error:
                raise JournalError(self._fail(error)) from error
            receipts: list[Receipt] = []
            for part, count in zip(batch.parts, batch.counts, strict=True):
                receipts.append(Receipt(self._sequence, self._offset, self._offset + len(part), self._lines + 1, count))
                self._offset += len(part)
                self._lines += count
            self._fault = ""
            return receipts

    def _settle(self) -> int:
        """The active segment's descriptor, checked after a fault: truncated back to the committed size."""
        if self._fd is None:
            self._fd = files.create_segment(self.folder, self._sequence)
        elif self._fault:
            files.truncate(self._fd, self._offset)
            files.sync_data(self._fd)
            self._count("fsyncs")
        return self._fd

    def _fail(self, error: OSError) -> str:
        path = files.segment_path(self.folder, self._sequence, active=True)
        message = files.failure("write records", path, error)
        if self._fd is not None:
            try:
                files.truncate(self._fd, self._offset)
            except OSError as again:
                message += f"; truncating back to byte {self._offset} failed too ({again.strerror}), retried next time"
        self._fault = f"{message}. Nothing of the failed batch was acknowledged; appends retry once it clears"
        return self._fault

    def _roll(self) -> int:
        """Seal the active segment and start the next one (called holding ``_io``).

        Once renamed the old segment is sealed even if what follows fails: the next
        append then creates the new segment (``_settle``).
        """
        assert self._fd is not None
        files.seal_segment(self.folder, self._sequence)
        os.close(self._fd)
        self._fd, self._sequence, self._offset, self._lines = None, self._sequence + 1, 0, 0
        with self._lock:
            self._committed = Position(self._sequence, 0)
            self._advanced.notify_all()
        files.sync_folder(self.folder)
        self._fd = files.create_segment(self.folder, self._sequence)
        self._count("fsyncs", 2)
        return self._fd

    def _publish(self, batch: _Batch, receipts: list[Receipt], error: str) -> None:
        with self._lock:
            self._pending -= batch.size
            if receipts:
                self._committed = self._newest = receipts[-1].position
                self._counts["appends"] += len(receipts)
                self._counts["records"] += sum(batch.counts)
                self._counts["bytes"] += batch.size
                self._counts["commits"] += 1
                self._counts["fsyncs"] += 1
                self._advanced.notify_all()
            elif batch.parts:
                self._counts["failed_commits"] += 1
        batch.finish(receipts, error)

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    # reading

    def seal(self) -> Path | None:
        """Close the active segment so every committed record is in a sealed file; its path,
        or None when the active segment held nothing."""
        with self._io:
            if self._closed:
                raise JournalError(self._closed)
            try:
                self._settle()
                if not self._offset:
                    return None
                self._roll()
            except OSError as error:
                raise JournalError(self._fail(error)) from error
            return files.segment_path(self.folder, self._sequence - 1)

    def sealed_segments(self) -> list[Path]:
        """The sealed segment files, oldest first: what batch ingest loads."""
        return [files.segment_path(self.folder, sequence) for sequence in files.sequences(self.folder)[0]]

    def read(self, after: Position | None = None) -> Iterator[tuple[Position, bytes]]:
        """Committed records after ``after`` (from the start when None), oldest first, each with
        the position to resume from; ends when it has caught up with the last commit."""
        sequence, offset = (after.segment, after.offset) if after else (self._first().segment, 0)
        while True:
            with self._lock:
                committed = self._committed
            if sequence > committed.segment:
                return
            end = committed.offset if sequence == committed.segment else None
            if end is None or end > offset:
                for stop, record in files.read_records(self.folder, sequence, offset, end):
                    offset = stop
                    yield Position(sequence, stop), record
            if sequence < committed.segment:
                sealed = [later for later in files.sequences(self.folder)[0] if later > sequence]
                sequence, offset = min([*sealed, committed.segment]), 0
                continue
            with self._lock:
                if self._committed == committed:
                    return

    def wait(self, after: Position | None = None, timeout: float | None = None) -> bool:
        """Block until a record is committed past ``after``; False on timeout.

        A seal alone does not wake it: a follower at the end of a sealed segment has read
        everything until the next record, wherever that lands.
        """
        target = after or self._first()

        def advanced() -> bool:
            return (self._newest is not None and self._newest > target) or bool(self._closed)

        with self._lock:
            return self._advanced.wait_for(advanced, timeout)

    def _first(self) -> Position:
        """The start of the oldest segment still in the folder."""
        return Position(min([*files.sequences(self.folder)[0], self.committed.segment]), 0)

    # state

    @property
    def committed(self) -> Position:
        """The position just past the last committed record."""
        with self._lock:
            return self._committed

    @property
    def healthy(self) -> bool:
        """False after a failed write or fsync until an append succeeds again (answer 503 meanwhile)."""
        return not self._fault and not self._closed

    @property
    def fault(self) -> str:
        """Why the journal is unhealthy ('' when healthy)."""
        return self._closed or self._fault

    def stats(self) -> JournalStats:
        with self._lock:
            return JournalStats(**self._counts, pending_bytes=self._pending)

    def close(self) -> None:
        """Commit what is queued, then release the files and the folder lock."""
        with self._lock:
            if not self._closed:
                self._closed = f"journal {self.folder} is closed; open it again to append"
            self._work.notify_all()
            self._advanced.notify_all()
        self._writer.join()
        with self._io:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._held is not None:
                self._held.release()
                self._held = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
