"""Spark's empty tables are written without a Spark job (one Parquet file carrying Spark's
schema), when a table is made and when it is emptied: Spark and DuckDB must read them, and the
rows Spark appends to them, exactly as they read a table Spark wrote itself, for every column
type a declared table uses."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from personae.engine.spark import SparkEngine, _spark_type
from personae.engine.tables import TABLES

pytestmark = pytest.mark.spark

TYPES = sorted({type_ for table in TABLES if table.columns for _, type_ in table.columns})
COLUMNS = [(f"c_{n}", type_) for n, type_ in enumerate(TYPES)]
ROW = "SELECT 5, true, DATE '2025-06-30', 12.34, 0.5, 7, TIMESTAMP '2025-06-30 12:34:56.789', 'text'"
"""One value per type of :data:`TYPES`, in its (alphabetical) order."""


def _duckdb_view(folder: Path) -> tuple[list[tuple[str, str]], list[tuple[object, ...]]]:
    with duckdb.connect() as reader:
        relation = reader.sql(f"SELECT * FROM read_parquet('{folder}/*.parquet') ORDER BY ALL")
        return list(zip(relation.columns, map(str, relation.types), strict=True)), relation.fetchall()


def test_an_empty_table_reads_as_one_spark_wrote_before_and_after_rows_are_appended(tmp_path: Path) -> None:
    assert TYPES == ["BIGINT", "BOOLEAN", "DATE", "DECIMAL(18,2)", "DOUBLE", "INTEGER", "TIMESTAMP", "VARCHAR"], (
        "a declared table uses a new column type: add a value for it to ROW"
    )
    engine = SparkEngine(tmp_path / "warehouse", master="local[2]", shuffle_partitions=2)
    try:
        engine.create_empty_table("ours", COLUMNS)
        ddl = ", ".join(f"`{column}` {_spark_type(type_)}" for column, type_ in COLUMNS)
        theirs = tmp_path / "warehouse" / "theirs"
        engine.session.createDataFrame([], ddl).write.parquet(str(theirs))
        ours = tmp_path / "warehouse" / "ours"
        assert list(ours.glob("*.parquet")), "no Parquet file: readers could not see the table's columns"
        assert engine.session.read.parquet(str(ours)).schema == engine.session.read.parquet(str(theirs)).schema
        assert _duckdb_view(ours) == _duckdb_view(theirs)
        assert engine.insert("ours", [c for c, _ in COLUMNS], ROW) == 1
        engine.session.sql(ROW).toDF(*[c for c, _ in COLUMNS]).selectExpr(
            *[f"CAST(`{c}` AS {_spark_type(t)}) AS `{c}`" for c, t in COLUMNS]
        ).write.mode("append").parquet(str(theirs))
        assert _duckdb_view(ours) == _duckdb_view(theirs)
        assert len(_duckdb_view(ours)[1]) == 1
        spark_rows = engine.fetch_arrow("SELECT * FROM ours").to_pylist()
        assert spark_rows == engine.session.read.parquet(str(theirs)).toArrow().to_pylist()
        schema = engine.session.table("ours").schema
        engine.delete_where("ours", "true")  # emptied the same way, without a job
        assert engine.fetch_rows("SELECT count(*) FROM ours") == [(0,)] and _duckdb_view(ours)[1] == []
        assert engine.session.read.parquet(str(ours)).schema == schema
        assert engine.insert("ours", [c for c, _ in COLUMNS], ROW) == 1
        assert engine.fetch_arrow("SELECT * FROM ours").to_pylist() == spark_rows
    finally:
        engine.close()
