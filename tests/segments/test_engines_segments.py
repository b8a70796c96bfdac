"""Traits, RFM, lifecycle and rule segments give identical tables on DuckDB and on Spark."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from personae import Workspace
from personae.engine.parquet_store import ParquetStoreEngine, store_engine
from personae.errors import UsageError
from tests.profiles.small_world import AS_OF, build

pytestmark = pytest.mark.spark

COMPARED = ("traits", "trait_shares", "customer_summary", "rfm_scores", "memberships", "membership_changes")
SEGMENTS = [
    {"name": "big", "rule": "revenue_365d > 150 and days_since_last_order < 200"},
    {"name": "big_champions", "rule": "in_segment('rules', 'big') and in_segment('rfm', 'Champions')"},
    {"name": "gardeners", "rule": "garden_views >= 1 or top_category = 'garden'"},
]


def _normalised(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 9)
    return value


def _tables(workspace: Workspace, engine: str) -> dict[str, list[dict[str, Any]]]:
    out = {}
    with workspace.engine(write=False, name=engine) as store:
        for table in COMPARED:
            rows = store.fetch_arrow(f"SELECT * FROM {table}").to_pylist()
            cleaned = [{k: _normalised(v) for k, v in row.items() if k != "sequence"} for row in rows]
            out[table] = sorted(cleaned, key=lambda row: repr(tuple(row.values())))
    return out


def _differences(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> list[str]:
    found = [f"{len(left)} rows vs {len(right)}"] if len(left) != len(right) else []
    for a, b in zip(left, right, strict=False):
        found += [f"{key}: {a[key]!r} vs {b.get(key)!r}" for key in a if a[key] != b.get(key)]
    return found[:10]


def test_traits_and_segments_are_identical_on_both_engines(tmp_path: Path) -> None:
    results = {}
    for engine in ("duckdb", "spark"):
        shop = build(tmp_path / engine, customers=25, segments=SEGMENTS)
        workspace = Workspace(shop.root, engine=engine)
        with workspace.engine(write=True) as store:
            store.create_empty_table("workspace_settings", [("key", "VARCHAR"), ("value", "VARCHAR")])
            store.insert("workspace_settings", ["key", "value"], "SELECT 'uid_salt', 'fixed-salt'")
        assert workspace.run(as_of=AS_OF).errors == []
        results[engine] = _tables(workspace, engine)
    duck, spark = results["duckdb"], results["spark"]
    assert len(duck["traits"]) > 20 and len(duck["memberships"]) > 50
    assert any(row["segmentation"] == "rules" for row in duck["memberships"])
    for table in COMPARED:
        assert _differences(duck[table], spark[table]) == [], f"{table} differs between engines"
    _reads_without_spark(tmp_path / "spark", spark)


def _reads_without_spark(root: Path, spark: dict[str, list[dict[str, Any]]]) -> None:
    """The Spark workspace's read commands, naming no engine, read its Parquet folders through
    DuckDB (no JVM) and give what Spark gives; user SQL keeps its sandbox there too."""
    assert store_engine(root) == "spark"
    workspace = Workspace(root)  # personae.toml names no engine: DuckDB's default
    with workspace.engine(write=False) as reader:
        assert isinstance(reader, ParquetStoreEngine)
        for table in ("memberships", "traits"):
            assert int(reader.scalar(f"SELECT count(*) FROM {table}")) == len(spark[table]) > 0
    held = workspace.sql("SELECT count(*) AS n FROM memberships WHERE exited_at IS NULL").to_pylist()[0]["n"]
    assert sum(s.members + s.anonymous for s in workspace.segments()) == held > 0
    assert sum(source.rows_loaded for source in workspace.status().sources) > 0
    person = workspace.sql("SELECT min(id_value) AS e FROM identity_map WHERE id_type = 'email'").to_pylist()[0]["e"]
    assert workspace.profile(f"email:{person}").uid
    shown = subprocess.run(
        [sys.executable, "-m", "personae", "sql", "select count(*) n from traits", "-w", str(root), "-f", "csv"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert shown.returncode == 0 and shown.stdout.split() == ["n", str(len(spark["traits"]))], shown.stderr
    with pytest.raises(UsageError, match=r"user SQL cannot read or write files|reads the store's tables"):
        workspace.sql("SELECT * FROM read_csv('/etc/passwd')")
