"""The journal's files on disk: segment names and positions, the folder lock, records, torn tails.

A segment is ``<12-digit sequence>.jsonl``. The one being written is named
``<sequence>.jsonl.active`` until it is sealed (renamed, then the folder fsynced), so a
glob of ``*.jsonl`` — what batch ingest reads — only ever matches sealed files, whose
bytes and checksum never change. The active segment is always the newest.

A crash (``kill -9``, power loss) can leave the active segment ending in part of a record:
the write of a batch that was never acknowledged was cut. On open the bytes after the last
complete line — and a last line that is not a JSON object, which only garbage can be,
since every record was checked on append — are moved to ``torn/<segment>-<offset>.bin``
(kept for inspection, never loaded) and the segment is truncated to the last good line.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from personae.errors import InvalidRecord, JournalError
from personae.store_lock import StoreLock

DIGITS = 12
SEALED = ".jsonl"
ACTIVE = ".jsonl.active"
LOCK_FILE = ".journal.lock"
TORN = "torn"
CHUNK = 1 << 20

ADVICE = {
    errno.ENOSPC: "the disk is full; free space on it or move the workspace to a larger disk",
    errno.EDQUOT: "the disk quota is used up; raise the quota or free space",
    errno.EROFS: "the file system is read-only; remount it read-write or move the workspace",
    errno.EACCES: "make the journal folder writable by this user",
    errno.EPERM: "make the journal folder writable by this user",
    errno.EIO: "the disk reported an I/O error; check the disk and its logs",
}


@dataclass(frozen=True)
class Recovery:
    """What opening the journal found in the active segment and did about a torn tail."""

    segment: Path
    records: int
    size: int
    torn_bytes: int = 0
    kept: Path | None = None
    reason: str = ""

    @property
    def summary(self) -> str:
        found = f"journal segment {self.segment.name}: {self.records} records ({self.size} bytes) kept"
        if not self.torn_bytes:
            return found
        return f"{found}; {self.torn_bytes} torn bytes ({self.reason}, never acknowledged) moved to {self.kept}"


@dataclass(frozen=True, order=True)
class Position:
    """A place just past one record: a follower resumes reading from here."""

    segment: int
    offset: int


@dataclass(frozen=True)
class Receipt:
    """Where one append's records are stored; given only after their fsync returned.

    ``first_line`` is the 1-based line of the first record in the segment file (the ``_row``
    batch ingest gives it); the records fill bytes ``start`` to ``end``.
    """

    segment: int
    start: int
    end: int
    first_line: int
    count: int

    @property
    def file_name(self) -> str:
        """The segment's name once sealed (what batch ingest loads)."""
        return segment_path(Path(), self.segment).name

    @property
    def position(self) -> Position:
        return Position(self.segment, self.end)


def failure(action: str, path: Path, error: OSError) -> str:
    """A message naming the path, what failed and what to do."""
    advice = ADVICE.get(error.errno or 0, "check the disk and the folder's permissions")
    return f"journal {path}: cannot {action} ({error.strerror or error}); {advice}"


def segment_path(folder: Path, sequence: int, *, active: bool = False) -> Path:
    return folder / f"{sequence:0{DIGITS}d}{ACTIVE if active else SEALED}"


def sequences(folder: Path) -> tuple[list[int], list[int]]:
    """The sequence numbers of the sealed and of the active segments, each sorted."""
    sealed: list[int] = []
    active: list[int] = []
    for entry in os.scandir(folder):
        stem, dot, suffix = entry.name.partition(".")
        if len(stem) == DIGITS and stem.isdigit() and dot + suffix in (SEALED, ACTIVE):
            (sealed if dot + suffix == SEALED else active).append(int(stem))
    return sorted(sealed), sorted(active)


def sync_data(fd: int) -> None:
    """Make written bytes durable: ``fdatasync`` where the platform has it."""
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS and Windows
        os.fsync(fd)


def sync_folder(folder: Path) -> None:
    """Make created, renamed and removed names in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_at(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (``pwrite`` may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def truncate(fd: int, size: int) -> None:
    os.ftruncate(fd, size)


def create_segment(folder: Path, sequence: int) -> int:
    """The next active segment, its name made durable; returns its descriptor. An empty file
    left by an attempt whose folder fsync failed is taken over."""
    fd = os.open(segment_path(folder, sequence, active=True), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        sync_folder(folder)
    except OSError:
        os.close(fd)
        raise
    return fd


def open_segment(folder: Path, sequence: int) -> int:
    return os.open(segment_path(folder, sequence, active=True), os.O_WRONLY | os.O_CLOEXEC)


def seal_segment(folder: Path, sequence: int) -> None:
    """Give the active segment its sealed name; it is never written again (the caller fsyncs the folder)."""
    os.rename(segment_path(folder, sequence, active=True), segment_path(folder, sequence))


def lock_folder(folder: Path, command: str) -> StoreLock:
    """Hold the journal folder exclusively (released when the process ends, even by a crash)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):  # else a lock file left there would open and hide it
            code = errno.EROFS if os.statvfs(folder).f_flag & os.ST_RDONLY else errno.EACCES
            raise OSError(code, os.strerror(code), str(folder))
        return StoreLock(folder, command, file=LOCK_FILE, what="journal").acquire()
    except OSError as error:
        raise JournalError(failure("open the journal folder for writing", folder, error)) from error


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # one decoder: json.loads(**options) builds one a call


def record_problem(record: bytes) -> str | None:
    """Why ``record`` cannot be a journal line, or None: it must be one line of compact JSON, an object."""
    if b"\n" in record or b"\r" in record:
        return "it contains a raw line break"
    try:
        text = record.decode("utf-8")
        value, end = _DECODER.raw_decode(text)  # 3.8 µs for 300 bytes, json.loads 5-8 µs
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        return f"it is not UTF-8 JSON ({error})"
    if end != len(text):
        return "it has more than one JSON value, or spaces around it"
    return None if isinstance(value, dict) else "it is JSON but not an object"


def encode(records: Sequence[bytes]) -> bytes:
    """The journal lines of ``records``, each checked to be one line of a JSON object."""
    if not records:
        raise InvalidRecord("an append needs at least one record")
    for number, record in enumerate(records, 1):
        problem = record_problem(record) if isinstance(record, bytes) else "it is not bytes"
        if problem is not None:
            raise InvalidRecord(
                f"journal record {number} of {len(records)} ({record[:60]!r}) is not one line of a JSON object: "
                f"{problem}; encode each message with json.dumps (no indent)"
            )
    return b"\n".join(records) + b"\n"


def read_records(folder: Path, sequence: int, start: int, end: int | None) -> Iterator[tuple[int, bytes]]:
    """The records of a segment from byte ``start`` up to ``end`` (None: the end of the file),
    each with the offset just past its newline."""
    try:
        handle = segment_path(folder, sequence, active=True).open("rb")
    except FileNotFoundError:  # sealed (renamed) since the caller looked
        handle = segment_path(folder, sequence).open("rb")
    with handle:
        if start > 0:
            handle.seek(start - 1)
            if handle.read(1) != b"\n":
                raise JournalError(
                    f"journal {folder}: byte {start} of segment {sequence} is not the end of a record; "
                    "resume from a position that read() or a Receipt gave"
                )
        offset, rest = start, b""
        while end is None or offset + len(rest) < end:
            chunk = handle.read(CHUNK if end is None else min(CHUNK, end - offset - len(rest)))
            if not chunk:
                break
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                offset += len(line) + 1
                yield offset, line
    if rest:
        raise JournalError(f"journal {folder}: segment {sequence} ends inside a record at byte {offset}")


def _scan(path: Path) -> tuple[int, int, int, str]:
    """Count the complete lines of ``path``; return (records, good size, file size, why the rest is torn)."""
    records, last, before, size = 0, -1, -1, 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            found = chunk.count(b"\n")
            if found:
                end = chunk.rfind(b"\n")
                before = size + chunk.rfind(b"\n", 0, end) if found > 1 else last
                last = size + end
                records += found
            size += len(chunk)
        if last < 0:
            return 0, 0, size, "a partial record" if size else ""
        handle.seek(before + 1)
        if record_problem(handle.read(last - before - 1)) is not None:
            return records - 1, before + 1, size, "the last line is not a JSON object"
    return records, last + 1, size, "a partial record" if last + 1 < size else ""


def _keep_torn(folder: Path, segment: Path, offset: int, torn: bytes) -> Path:
    """Write the torn bytes to ``torn/`` (durably) under a name no earlier tail holds."""
    kept_in = folder / TORN
    kept_in.mkdir(exist_ok=True)
    stem = f"{segment.name.partition('.')[0]}-{offset}"
    for attempt in range(1, 1000):
        path = kept_in / (f"{stem}.bin" if attempt == 1 else f"{stem}-{attempt}.bin")
        if path.exists():
            if path.read_bytes() == torn:  # a recovery interrupted before it truncated
                return path
            continue
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            write_at(fd, torn, 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        sync_folder(kept_in)
        sync_folder(folder)
        return path
    raise JournalError(
        f"journal {folder}: {kept_in} holds too many torn tails of {segment.name}; inspect and remove them"
    )


def newest_record_end(folder: Path, sequence: int, size: int) -> Position | None:
    """Just past the newest record in the folder, given the active segment's sequence and
    size; None when no segment holds a record."""
    if size:
        return Position(sequence, size)
    for sealed in reversed(sequences(folder)[0]):
        length = segment_path(folder, sealed).stat().st_size
        if length:
            return Position(sealed, length)
    return None


def recover(folder: Path) -> tuple[int, Recovery]:
    """Find the active segment (creating it if there is none), move a torn tail out of it,
    and return its sequence with what was done."""
    sealed, active = sequences(folder)
    if len(active) > 1 or (active and sealed and active[0] < sealed[-1]):
        raise JournalError(
            f"journal {folder}: only the newest segment may be active, found active {active} and sealed up to "
            f"{sealed[-1] if sealed else None}; restore the folder from the journal's own files"
        )
    if not active:
        sequence = sealed[-1] + 1 if sealed else 1
        os.close(create_segment(folder, sequence))
        return sequence, Recovery(segment_path(folder, sequence, active=True), 0, 0)
    sequence = active[0]
    path = segment_path(folder, sequence, active=True)
    records, good, size, reason = _scan(path)
    if good == size:
        return sequence, Recovery(path, records, size)
    with path.open("rb") as handle:
        handle.seek(good)
        torn = handle.read()
    kept = _keep_torn(folder, path, good, torn)
    fd = open_segment(folder, sequence)
    try:
        truncate(fd, good)
        os.fsync(fd)
    finally:
        os.close(fd)
    return sequence, Recovery(path, records, good, len(torn), kept, reason)
