"""The fixture stores of every schema version (``tests/fixtures/stores/v<N>.tar.gz``, made by
``scripts/store_fixture.py``): unpacked for a test, and stamped as a newer personae would."""

from __future__ import annotations

import tarfile
from pathlib import Path

import duckdb

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stores"


def unpack_store(fixture: Path, into: Path) -> Path:
    """The workspace of ``fixture`` (a path under :data:`FIXTURES`), unpacked in a folder of ``into``."""
    root = into / fixture.name.removesuffix(".tar.gz")
    with tarfile.open(fixture) as archive:
        archive.extractall(root, filter="data")
    return root


def stamp_version(root: Path, version: int, written_by: str) -> None:
    """Record in the workspace's store that a personae ``written_by`` brought it to ``version``."""
    with duckdb.connect(str(root / "personae.duckdb")) as store:
        store.execute(
            "INSERT INTO store_schema VALUES (?, ?, TIMESTAMP '2030-01-01 00:00:00', 'a later schema')",
            [version, written_by],
        )
        store.execute("CHECKPOINT")
