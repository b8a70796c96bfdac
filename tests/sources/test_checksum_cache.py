"""Ingest remembers each input file's checksum with its stamp (size, inode, modification and
status-change times): an unchanged file is not read again, and a file rewritten with its size
and modification time put back is still read and loaded again."""

from __future__ import annotations

import json
import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from personae import Workspace
from personae.sources import readers
from personae.sources.checksums import CACHE
from tests.workspaces import POS_CSV, POS_SOURCE, write_workspace

AS_OF = date(2024, 3, 1)


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files whose content ingest reads to checksum them, as it reads them."""
    seen: list[str] = []
    original = readers.checksum

    def counting(path: Path) -> str:
        seen.append(path.name)
        return original(path)

    monkeypatch.setattr(readers, "checksum", counting)
    return seen


def _statuses(workspace: Workspace) -> list[str]:
    report = workspace.run(only="ingest", as_of=AS_OF)
    return [file.status for source in report.sources for file in source.files]


def test_an_unchanged_file_is_not_read_again_and_a_rewritten_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/a.csv": POS_CSV, "data/pos/b.csv": POS_CSV[:60]})
    workspace = Workspace(root)
    reads = _reads(monkeypatch)
    assert _statuses(workspace) == ["loaded", "loaded"] and sorted(reads) == ["a.csv", "b.csv"]
    reads.clear()
    assert _statuses(workspace) == ["skipped", "skipped"] and reads == []

    # the same size and modification time, another amount: only the status-change time tells
    path = root / "data/pos/a.csv"
    before = path.stat()
    path.write_text(POS_CSV.replace("99.99", "89.99"), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    assert _statuses(workspace) == ["reloaded", "skipped"] and reads == ["a.csv"]
    amounts = workspace.sql("SELECT amount FROM events WHERE event_id = 'pos:R2'").to_pylist()
    assert amounts == [{"amount": Decimal("89.99")}]

    (root / "data/pos/b.csv").unlink()  # a file gone leaves the cache with the next change
    (root / "data/pos/c.csv").write_text(POS_CSV[:60], encoding="utf-8")
    _statuses(workspace)
    stored = json.loads((root / CACHE).read_text(encoding="utf-8"))
    assert sorted(Path(key).name for key in stored["files"]) == ["a.csv", "c.csv"]


def test_a_corrupt_cache_is_rebuilt_and_an_unwritable_one_costs_only_the_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/a.csv": POS_CSV})
    workspace = Workspace(root)
    assert _statuses(workspace) == ["loaded"]
    cache = root / CACHE
    cache.write_text('{"format": 1, "files": {', encoding="utf-8")  # cut short
    reads = _reads(monkeypatch)
    assert _statuses(workspace) == ["skipped"] and reads == ["a.csv"]
    stored = json.loads(cache.read_text(encoding="utf-8"))
    assert [Path(key).name for key in stored["files"]] == ["a.csv"]

    cache.unlink()
    cache.mkdir()  # a folder where the file should be: the cache cannot be written
    reads.clear()
    assert _statuses(workspace) == ["skipped"] and reads == ["a.csv"]
    assert _statuses(workspace) == ["skipped"] and reads == ["a.csv", "a.csv"]
