"""Erasure's second phase: the files personae keeps, rewritten without the erased.

- **Raw copies** (``raw/<source>/*.parquet``): each is read through its source's mapping
  and rewritten without the rows the suppression list refuses, the test ingest applies to
  new files (:func:`personae.sources.suppressing.scrub_raw_copy`).
- **The journal** (``journal/<source>/*.jsonl``): each segment is rewritten without the
  events that carry a suppressed identifier (its ``userId``, ``anonymousId``, an e-mail
  address anywhere in it, a ``phone`` trait), and live processing's cursor into a rewritten
  segment moves to the same event in the new file.

Every rewrite goes to a temporary file that is fsynced and renamed over the old one, so a
crash leaves one or the other, and running the phase again finds nothing more to do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.identity import live_normalise
from personae.privacy.suppression import Suppression
from personae.sources.raw_copy import raw_folder
from personae.sources.specs import JOURNAL_FOLDER, IngestSettings, SourceSpec
from personae.sources.suppressing import active_salt, record_hits, scrub_raw_copy

SEGMENT_SUFFIXES = (".jsonl", ".jsonl.active")


def scrub_raw_copies(
    engine: Engine, root: Path, sources: Sequence[SourceSpec], settings: IngestSettings, salt: str
) -> dict[str, int]:
    """Rows taken out of each source's raw copies."""
    removed: dict[str, int] = {}
    for spec in sources:
        folder = raw_folder(root, spec.name)
        rows = sum(scrub_raw_copy(engine, spec, settings, path, salt) for path in sorted(folder.glob("*.parquet")))
        if rows:
            removed[spec.name] = rows
    return removed


def _strings(value: Any, key: str) -> Iterator[str]:
    """Every string under ``key`` anywhere in a decoded message (``traits.phone``, ``context.traits.phone``)."""
    if isinstance(value, dict):
        for name, inner in value.items():
            if name == key and isinstance(inner, str | int):
                yield str(inner)
            else:
                yield from _strings(inner, key)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner, key)


def event_identifiers(message: Any, region: str) -> list[tuple[str, str]]:
    """The (type, normalised value) pairs a tracking message carries that erasure looks for."""
    found: list[tuple[str, str]] = []
    if not isinstance(message, dict):
        return found
    for field, id_type in (("userId", "user_id"), ("anonymousId", "anonymous_id")):
        value = message.get(field)
        if isinstance(value, str | int):
            normalised = live_normalise.text(str(value))
            if normalised:
                found.append((id_type, normalised))
    for id_type in ("email", "phone"):
        for raw in _strings(message, id_type):
            normalised = live_normalise.normalise(id_type, raw, region)
            if normalised:
                found.append((id_type, normalised))
    return found


class IntakeFilter:
    """The list in memory for the server: it drops an erased person's events at intake, before
    the journal, and in live processing. :meth:`reload` after each erasure."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.listed = Suppression("", frozenset())
        self.dropped = 0

    def reload(self, engine: Engine) -> None:
        salt = active_salt(engine)
        self.listed = Suppression.load(engine, salt) if salt else Suppression("", frozenset())

    def keep(self, lines: Sequence[bytes]) -> list[bytes]:
        """The lines of people not erased (all of them, at no cost, while nobody was)."""
        if not self.listed:
            return list(lines)
        kept = [line for line in lines if not suppressed_line(self.listed, line, self.region)]
        self.dropped += len(lines) - len(kept)
        return kept


def suppressed_line(listed: Suppression, line: bytes, region: str) -> bool:
    """Whether one journal line (a tracking message as received) belongs to an erased person."""
    if listed.holds_text(line):
        return True
    try:
        message = json.loads(line)
    except ValueError:
        return False
    return listed.holds(event_identifiers(message, region))


def scrub_journals(
    engine: Engine, root: Path, sources: Sequence[SourceSpec], salt: str, region: str, *, active: bool = True
) -> dict[str, int]:
    """Events taken out of each live source's journal segments (the segments being written
    too, unless ``active`` is False: a running server's, which it sealed first)."""
    listed = Suppression.load(engine, salt)
    removed: dict[str, int] = {}
    if not listed:
        return removed
    for spec in sources:
        folder = root / JOURNAL_FOLDER / spec.name
        if not spec.live or not folder.is_dir():
            continue
        rows = 0
        for path in sorted(folder.iterdir()):
            if path.name.endswith(SEGMENT_SUFFIXES if active else SEGMENT_SUFFIXES[:1]):
                rows += _scrub_segment(engine, spec.name, path, listed, region)
        if rows:
            removed[spec.name] = rows
            record_hits(engine, spec.name, f"{JOURNAL_FOLDER}/{spec.name}", rows, _now_sql(engine))
    return removed


def _now_sql(engine: Engine) -> str:
    return str(engine.scalar("SELECT CAST(now() AS TIMESTAMP)"))


def _scrub_segment(engine: Engine, source: str, path: Path, listed: Suppression, region: str) -> int:
    """Rewrite one segment without the erased person's lines; moves the live cursor along."""
    data = path.read_bytes()
    kept: list[bytes] = []
    offsets: list[tuple[int, int]] = []  # (end of the line in the old file, in the new one)
    dropped = 0
    old = new = 0
    for line in data.splitlines(keepends=True):
        old += len(line)
        if line.strip() and suppressed_line(listed, line.rstrip(b"\r\n"), region):
            dropped += 1
        else:
            kept.append(line)
            new += len(line)
        offsets.append((old, new))
    if not dropped:
        return 0
    scratch = path.with_name(path.name + ".scrub")
    with open(scratch, "wb") as out:
        out.write(b"".join(kept))
        out.flush()
        os.fsync(out.fileno())
    sequence = int(path.name.partition(".")[0])
    _move_cursor(engine, source, sequence, offsets)
    scratch.replace(path)
    return dropped


def _move_cursor(engine: Engine, source: str, sequence: int, offsets: list[tuple[int, int]]) -> None:
    if not engine.has_table("live_cursors"):
        return
    where = f"source = {literal(source)} AND segment = {sequence}"
    at = engine.scalar(f"SELECT max(byte_offset) FROM live_cursors WHERE {where}")
    if at is None:
        return
    moved = max([new for old, new in offsets if old <= int(at)], default=0)
    engine.execute(f"UPDATE live_cursors SET byte_offset = {moved} WHERE {where}")
