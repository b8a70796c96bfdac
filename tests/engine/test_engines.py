"""The engine operations every step relies on behave the same on DuckDB and Spark."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from personae.engine import Engine
from personae.errors import EngineError


def _sorted(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    return sorted(engine.fetch_rows(sql), key=repr)


def test_create_insert_delete_add_columns(engine: Engine) -> None:
    engine.create_empty_table("t", [("id", "BIGINT"), ("amount", "DECIMAL(18,2)"), ("odd name", "VARCHAR")])
    engine.create_empty_table("t", [("ignored", "VARCHAR")])  # exists: left alone
    engine.register_arrow("src", pa.table({"i": [1, 2, 3], "v": ["1.50", "2.25", "x"]}))
    engine.insert("t", ["id", "amount", "odd name"], "SELECT i, TRY_CAST(v AS DECIMAL(18,2)), v FROM src")
    assert _sorted(engine, "SELECT * FROM t") == [
        (1, Decimal("1.50"), "1.50"),
        (2, Decimal("2.25"), "2.25"),
        (3, None, "x"),
    ]
    engine.delete_where("t", "amount IS NULL")
    engine.add_columns("t", [("note", "VARCHAR")])
    assert engine.columns("t") == [
        ("id", "BIGINT"),
        ("amount", "DECIMAL(18,2)"),
        ("odd name", "VARCHAR"),
        ("note", "VARCHAR"),
    ]
    assert _sorted(engine, "SELECT id, note FROM t") == [(1, None), (2, None)]
    assert engine.tables() == ["t"]


def test_create_table_replaces_and_drop_removes(engine: Engine) -> None:
    engine.create_table("t", "SELECT 1 AS a")
    engine.create_table("t", "SELECT 2 AS a UNION ALL SELECT 3")
    assert _sorted(engine, "SELECT a FROM t") == [(2,), (3,)]
    assert engine.scalar("SELECT sum(a) FROM t") == 5
    engine.drop_table("t")
    assert not engine.has_table("t")


def test_materialise_is_temporary(engine: Engine) -> None:
    engine.materialise("scratch", "SELECT 7 AS x")
    assert engine.scalar("SELECT x FROM scratch") == 7
    assert "scratch" not in engine.tables()


def test_row_counts_and_views_of_stored_and_materialised_rows(engine: Engine) -> None:
    engine.create_empty_table("t", [("id", "BIGINT")])
    assert engine.row_count("t") == 0
    engine.register_arrow("src", pa.table({"i": list(range(10))}))
    engine.insert("t", ["id"], "SELECT i FROM src WHERE i < 6")
    engine.insert("t", ["id"], "SELECT i FROM src WHERE i >= 6 AND i < 8")
    engine.materialise("odd", "SELECT id FROM t WHERE id % 2 = 1")
    engine.materialise("none", "SELECT id FROM t WHERE id > 100")
    engine.view("doubled", "SELECT id * 2 AS twice FROM odd")
    assert [engine.row_count(name) for name in ("t", "odd", "none", "doubled", "src")] == [8, 4, 0, 4, 10]
    assert sorted(engine.fetch_rows("SELECT twice FROM doubled")) == [(2,), (6,), (10,), (14,)]
    assert "doubled" not in engine.tables()
    engine.drop_table("odd")
    engine.materialise("odd", "SELECT 1 AS id")  # the name again: its new rows, not the old ones
    assert engine.row_count("odd") == 1


def test_failed_sql_is_an_engine_error_carrying_the_sql(engine: Engine) -> None:
    with pytest.raises(EngineError) as caught:
        engine.fetch_arrow("SELECT no_such_column FROM (SELECT 1 AS a) AS t")
    assert caught.value.sql is not None and "no_such_column" in caught.value.sql


def test_fetch_batches_returns_every_row_in_bounded_batches(engine: Engine) -> None:
    engine.register_arrow("numbers_in", pa.table({"n": list(range(2_500))}))
    engine.materialise("numbers", "SELECT n FROM numbers_in")
    batches = list(engine.fetch_batches("SELECT n FROM numbers ORDER BY n", rows=1_000))
    assert all(batch.num_rows <= 1_000 for batch in batches) and len(batches) >= 3
    assert [n for batch in batches for n in batch.column("n").to_pylist()] == list(range(2_500))


def test_fetch_slices_come_in_key_order_with_the_engine_free_between_batches(engine: Engine) -> None:
    keys = [f"u{(n * 7919) % 2_500:05d}" for n in range(2_500)]  # a permutation, not in order
    engine.register_arrow("people_in", pa.table({"uid": keys, "x": list(range(2_500))}))
    engine.materialise("people", "SELECT uid, x FROM people_in")
    seen, counts = [], []
    spark = getattr(engine, "session", None)
    if spark is not None:  # keep the sort's 2 partitions apart, so the rows come from 2 files
        spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
    try:
        for batch in engine.fetch_slices("SELECT uid, x * 2 AS y FROM people", "uid", rows=1_000):
            assert batch.num_rows <= 1_000 and batch.schema.names == ["uid", "y"]
            counts.append(engine.scalar("SELECT count(*) FROM people"))  # another statement between batches
            seen += batch.column("uid").to_pylist()
    finally:
        if spark is not None:
            spark.conf.unset("spark.sql.adaptive.coalescePartitions.enabled")
    assert seen == sorted(keys) and len(counts) >= 3 and set(counts) == {2_500}
    assert engine.fetch_rows("SELECT count(*) FROM people") == [(2_500,)]


def test_staged_and_exposed_files_number_their_rows_by_position(engine: Engine, tmp_path: Path) -> None:
    """Raw copies of CSV files carry no ``_row``; the engines give each row its position.

    A folder may mix such files with files that have ``_row`` (every other format, and raw
    copies written before): theirs is kept, and the columns come in one order.
    """
    folder = tmp_path / "raw"
    folder.mkdir()
    unnumbered = pa.table({"v": ["a", "b", "c"], "_file": ["new.csv"] * 3, "_loaded_at": [None] * 3})
    numbered = pa.table({"v": ["x", "y"], "_file": ["old.csv"] * 2, "_row": [7, 9], "_loaded_at": [None] * 2})
    pq.write_table(unnumbered, folder / "new.parquet")
    pq.write_table(numbered, folder / "old.parquet")
    engine.stage("staged", folder / "new.parquet")
    assert _sorted(engine, "SELECT v, _row FROM staged") == [("a", 1), ("b", 2), ("c", 3)]
    other = folder.parent / "other.parquet"  # files of one source staged together: each numbered by itself
    pq.write_table(pa.table({"v": ["d", "e"], "_file": ["next.csv"] * 2, "_loaded_at": [None] * 2}), other)
    engine.stage("together", [folder / "new.parquet", other])
    together = [
        ("new.csv", "a", 1),
        ("new.csv", "b", 2),
        ("new.csv", "c", 3),
        ("next.csv", "d", 1),
        ("next.csv", "e", 2),
    ]
    assert _sorted(engine, "SELECT _file, v, _row FROM together") == together
    engine.expose_folder("raw_test", folder)
    assert [name for name, _ in engine.columns("raw_test")] == ["v", "_file", "_row", "_loaded_at"]
    rows = _sorted(engine, "SELECT _file, v, _row FROM raw_test")
    assert rows == [
        ("new.csv", "a", 1),
        ("new.csv", "b", 2),
        ("new.csv", "c", 3),
        ("old.csv", "x", 7),
        ("old.csv", "y", 9),
    ]


def test_duckdb_connections_leave_progress_to_personae(tmp_path: Path) -> None:
    """DuckDB's own progress bar would draw on stderr in the middle of personae's."""
    from personae.engine.duckdb import DuckDBEngine

    engine = DuckDBEngine(tmp_path / "store.duckdb")
    try:
        assert engine.scalar("SELECT current_setting('enable_progress_bar')") is False
        assert engine.reader().execute("SELECT current_setting('enable_progress_bar')").fetchall() == [(False,)]
    finally:
        engine.close()
