"""Checksums of the input files, remembered beside the store, so an unchanged file is not read
again to learn that it is unchanged.

Ingest knows a file by the BLAKE2b checksum of its content: the ledger skips a file it holds
with the same checksum (:mod:`personae.sources.ledger`). Computing it read every input file on
every run: 3.6 GB in nine files at 1M customers, most of an incremental run's ingest step
(bench/RESULTS.md). The cache (``.personae/checksums.json``) keeps each file's checksum with its
stamp: size, inode, modification time and status-change time, in nanoseconds. A file whose
stamp is the same is not read; any difference reads it again. The status-change time (ctime)
is what makes this safe against a tool that restores the modification time after writing
(``rsync -t``, ``cp -p``, ``touch -d``): the system sets ctime on every write or metadata change
and no user tool sets it back. (Only a rewrite of the same size within one tick of the file
system's clock after the file was read, with the modification time put back, could pass.)

A checksum is kept only when the file's stamp is the same after reading it as before (a file
being written meanwhile is read again next run). The cache is a cache: a missing, unreadable or
corrupt one is rebuilt, and one that cannot be written costs the next run the reading again.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from personae.sources import readers

CACHE = Path(".personae") / "checksums.json"
FORMAT = 1


def _stamp(path: Path) -> list[int]:
    found = path.stat()
    return [found.st_size, found.st_ino, found.st_mtime_ns, found.st_ctime_ns]


class ChecksumCache:
    """The checksums of one workspace's input files, by absolute path (see the module)."""

    def __init__(self, root: Path) -> None:
        self.path = root / CACHE
        self._entries: dict[str, dict[str, Any]] = {}
        self._changed = False
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # none yet, or unreadable: rebuilt as files are read
            return
        if isinstance(stored, dict) and stored.get("format") == FORMAT and isinstance(stored.get("files"), dict):
            self._entries = stored["files"]

    def checksum(self, path: Path) -> str:
        """The file's checksum, read from the file only when its stamp changed."""
        key = str(path.resolve())
        before = _stamp(path)
        known = self._entries.get(key)
        if isinstance(known, dict) and known.get("stamp") == before and isinstance(known.get("checksum"), str):
            return str(known["checksum"])
        digest = readers.checksum(path)
        if _stamp(path) == before:  # not written while it was read
            self._entries[key] = {"stamp": before, "checksum": digest}
            self._changed = True
        return digest

    def save(self) -> None:
        """Write the cache (atomically: a new file renamed over the old) if it changed, without
        the files that are gone; a cache that cannot be written is left as it was."""
        if not self._changed:
            return
        self._entries = {key: entry for key, entry in self._entries.items() if os.path.exists(key)}
        fresh = self.path.with_suffix(".json.partial")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh.write_text(json.dumps({"format": FORMAT, "files": self._entries}), encoding="utf-8")
            os.replace(fresh, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                fresh.unlink(missing_ok=True)
            return
        self._changed = False
