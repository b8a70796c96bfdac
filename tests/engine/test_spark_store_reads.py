"""A workspace whose store Spark wrote is read without Spark: every read command finds the
tables (DuckDB over the warehouse's Parquet folders), with the same answers Spark gives,
and without naming the engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from personae import Workspace
from personae.engine.parquet_store import ParquetStoreEngine, store_engine
from personae.errors import UsageError
from tests.profiles.small_world import AS_OF, build

pytestmark = pytest.mark.spark


def test_read_commands_on_a_spark_store_need_no_spark(tmp_path: Path) -> None:
    shop = build(tmp_path / "shop", customers=25)
    assert Workspace(shop.root, engine="spark").run(as_of=AS_OF).errors == []
    assert store_engine(shop.root) == "spark"
    workspace = Workspace(shop.root)  # personae.toml names no engine: DuckDB's default
    with workspace.engine(write=False, name="spark") as spark:
        expected = {
            table: int(spark.scalar(f"SELECT count(*) FROM {table}"))
            for table in ("profiles", "memberships", "identity_map", "events")
        }
        person = str(spark.scalar("SELECT min(id_value) FROM identity_map WHERE id_type = 'email'"))
        revenue = float(spark.scalar("SELECT sum(revenue) FROM profiles"))
    with workspace.engine(write=False) as reader:
        assert isinstance(reader, ParquetStoreEngine)
        assert {table: int(reader.scalar(f"SELECT count(*) FROM {table}")) for table in expected} == expected
    assert expected["profiles"] > 20 and expected["memberships"] > 20
    status = workspace.status()
    assert sum(source.rows_loaded for source in status.sources) >= expected["events"]
    assert workspace.sql("SELECT round(sum(revenue), 2) AS r FROM profiles").to_pylist() == [{"r": round(revenue, 2)}]
    assert workspace.profile(f"email:{person}").uid
    assert sum(summary.members for summary in workspace.segments()) > 0
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "personae",
            "sql",
            "select count(*) as n from profiles",
            "-w",
            str(shop.root),
            "-f",
            "csv",
        ],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert shown.returncode == 0 and shown.stdout.split() == ["n", str(expected["profiles"])], shown.stderr
    refused = workspace.sql  # user SQL keeps its sandbox on a Spark store too
    with pytest.raises(UsageError, match=r"user SQL cannot read or write files|reads the store's tables"):
        refused("SELECT * FROM read_csv('/etc/passwd')")
