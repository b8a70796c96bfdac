"""A Spark writer killed mid-swap leaves its table under a retired name: the next write open
puts the last whole version back and clears what no swap adopted; a read-only open touches nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from personae.engine.spark import SparkEngine

pytestmark = pytest.mark.spark


def _engine(warehouse: Path, *, read_only: bool = False) -> SparkEngine:
    return SparkEngine(warehouse, master="local[2]", shuffle_partitions=2, read_only=read_only)


def _killed_mid_swap(warehouse: Path) -> None:
    """What ``kill -9`` leaves at each point of a swap and of an append (see ``SparkEngine._write``)."""
    first = _engine(warehouse)
    first.create_table("orders", "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(id, name)")
    first.create_table("people", "SELECT 7 AS uid")
    first.close()
    # orders: killed between the two renames (retired, the fresh copy not yet in place)
    (warehouse / "orders").rename(warehouse / "_old_orders_0badf00d")
    (warehouse / "_new_orders_5ca1ab1e").mkdir()
    (warehouse / "_new_orders_5ca1ab1e" / "part-00000.parquet").write_bytes(b"half a file")
    # people: killed after the swap, while the retired copy was being deleted
    (warehouse / "_old_people_deadbeef").mkdir()
    (warehouse / "_old_people_deadbeef" / "part-00001.parquet").write_bytes(b"the rest of it")
    # an append killed before its commit, and temporary results of the step that ran
    (warehouse / "people" / "_temporary" / "0").mkdir(parents=True)
    (warehouse / "_stage" / "candidates_1234abcd").mkdir(parents=True)


def test_a_write_open_puts_back_a_table_killed_mid_swap_and_clears_the_rest(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    _killed_mid_swap(warehouse)
    engine = _engine(warehouse)
    try:
        assert engine.fetch_rows("SELECT id, name FROM orders ORDER BY id") == [(1, "a"), (2, "b")]
        assert engine.fetch_rows("SELECT uid FROM people") == [(7,)]
        assert sorted(path.name for path in warehouse.iterdir() if path.name != "_catalog") == ["orders", "people"]
        assert not (warehouse / "people" / "_temporary").exists()
        assert engine.recover() == []  # nothing left to do
    finally:
        engine.close()


def test_a_read_only_open_leaves_a_killed_writers_folders_alone(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    _killed_mid_swap(warehouse)
    before = sorted(str(path.relative_to(warehouse)) for path in warehouse.rglob("*"))
    _engine(warehouse, read_only=True).close()
    assert sorted(str(path.relative_to(warehouse)) for path in warehouse.rglob("*")) == before
    assert not (warehouse / "orders").exists()
