"""Small demo workspaces for the HTTP destinations' tests: one run per test module, copied
per test with the destination under test added to its personae.toml."""

from __future__ import annotations

import shutil
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import tomli_w

from personae import Workspace

CUSTOMERS = 200


def demo_workspace(folder: Path) -> Path:
    """A demo world of 200 customers, run once (about 6 s on two cores)."""
    workspace = Workspace.init(folder, demo=True, customers=CUSTOMERS, seed=11)
    assert workspace.run().errors == []
    return folder


def with_destination(demo: Path, target: Path, destination: dict[str, Any]) -> Path:
    """A copy of ``demo`` at ``target`` whose personae.toml declares ``destination``."""
    shutil.copytree(demo, target)
    path = target / "personae.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    config["destinations"] = [destination]  # instead of the demo's own
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return target


def store(root: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(root / "personae.duckdb"))


def sequences(root: Path, segmentation: str) -> list[int]:
    """The sequence of every membership change of ``segmentation``, in order."""
    with store(root) as connection:
        rows = connection.execute(
            "SELECT sequence FROM membership_changes WHERE segmentation = ? ORDER BY sequence", [segmentation]
        ).fetchall()
    return [int(row[0]) for row in rows]


def dead_letters(root: Path) -> list[dict[str, Any]]:
    with store(root) as connection:
        cursor = connection.execute("SELECT key, uid, part, reason, payload FROM sync_dead_letters ORDER BY key")
        names = [column[0] for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def feed_end(root: Path) -> int:
    """The last sequence of the whole feed: where a finished sync leaves the cursor."""
    with store(root) as connection:
        row = connection.execute("SELECT max(sequence) FROM membership_changes").fetchone()
    return int(row[0]) if row and row[0] is not None else 0
