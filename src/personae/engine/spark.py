"""Apache Spark engine: the same SQL, transpiled by sqlglot, on tables kept as Parquet.

Each table is a Parquet folder under the workspace's warehouse, exposed to Spark SQL as a
temporary view of the same name; writes go to a fresh folder that then replaces the old
one, so a failed statement leaves the previous table whole. A process killed between the
two renames of a swap leaves the table under its retired name: the next write open puts it
back (:meth:`SparkEngine.recover`), and drops fresh folders no swap adopted. Input files are read by
DuckDB (the reader every engine shares) and streamed to Spark in Arrow batches.
Requires the ``spark`` extra (``pip install personae[spark]``) and Java 17+.
"""

from __future__ import annotations

import json
import shutil
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from personae.engine.base import ROW_COLUMN, Engine, numbered_order
from personae.engine.dialects import transpile
from personae.engine.spark_scratch import StageScratch
from personae.engine.spark_session import open_session
from personae.errors import EngineError

try:
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException
    from pyspark.sql import SparkSession
    from pyspark.sql.pandas.types import to_arrow_schema
except ImportError as missing:  # pragma: no cover - depends on the installed extras
    raise EngineError("engine 'spark' needs pyspark: install it with `pip install 'personae[spark]'`") from missing

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

SPARK_ERRORS = (PySparkException, Py4JError)
# pyspark 4 warns on the user's terminal, at its first Arrow conversion, that it does not fully
# support pandas 3; personae hands Spark Arrow, not pandas, so the warning says nothing to them.
warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
SPARK_SCHEMA_KEY = "org.apache.spark.sql.parquet.row.metadata"
"""The Parquet footer key under which Spark keeps a file's Spark schema, and reads it back."""


def _spark_type(duckdb_type: str) -> str:
    return exp.DataType.build(duckdb_type, dialect="duckdb").sql(dialect="spark")


def _duckdb_type(spark_type: str) -> str:
    """A Spark type in the spelling DuckDB's DESCRIBE uses (STRING -> VARCHAR, no spaces)."""
    duck = exp.DataType.build(spark_type, dialect="spark").sql(dialect="duckdb")
    return {"TEXT": "VARCHAR", "TIMESTAMP_NTZ": "TIMESTAMP"}.get(duck, duck).replace(", ", ",")


class SparkEngine(Engine):
    """Runs transpiled SQL on a Spark session (local mode by default)."""

    name = "spark"

    def __init__(
        self,
        warehouse: Path,
        *,
        master: str = "local[2]",
        shuffle_partitions: int = 4,
        conf: dict[str, str] | None = None,
        read_only: bool = False,
    ) -> None:
        # Executors of a cluster resolve paths against their own work folder: every path
        # handed to Spark is absolute (and, on a real cluster, one the workers can reach).
        self.warehouse = warehouse.resolve()
        self.warehouse.mkdir(parents=True, exist_ok=True)
        self.master = master
        self.read_only = read_only
        self.session: SparkSession = open_session(
            master, self.warehouse, {"spark.sql.shuffle.partitions": str(shuffle_partitions), **(conf or {})}
        )
        self._folders: dict[str, Path] = {}
        self._scratch = StageScratch(self.warehouse / "_stage")
        """The views the engine made and the folders of materialised results they read."""
        if not read_only:
            self.recover()
        for folder in sorted(self.warehouse.iterdir()):
            if folder.is_dir() and not folder.name.startswith("_"):
                self._expose(folder.name)

    # -- tables as Parquet folders -------------------------------------------------------
    def recover(self) -> list[str]:
        """Undo what a killed writer left half done; the tables it put back.

        A swap (:meth:`_write`) renames the table to ``_old_<name>_<id>``, then the fresh folder
        to the table: killed between the two, the table is missing and its last whole version is
        the retired one, which goes back. A retired folder beside its table, a fresh one no swap
        adopted (``_new_…``), the temporary results (``_stage``) and an append's uncommitted
        files (``<table>/_temporary``) are deleted. The store lock keeps any other writer out
        while this runs."""
        restored = []
        for retired in sorted(self.warehouse.glob("_old_*")):
            table = self._folder(retired.name.removeprefix("_old_").rsplit("_", 1)[0])
            if table.exists():
                shutil.rmtree(retired, ignore_errors=True)
            else:
                retired.rename(table)
                restored.append(table.name)
        leftovers = [*self.warehouse.glob("_new_*"), self.warehouse / "_stage", *self.warehouse.glob("*/_temporary")]
        for folder in leftovers:
            shutil.rmtree(folder, ignore_errors=True)
        return restored

    def _folder(self, name: str) -> Path:
        return self.warehouse / name

    def _expose(self, name: str, schema: StructType | None = None) -> None:
        """The table ``name`` as a view over its folder. Its schema is ``schema`` or the one
        Spark wrote in a file's footer: Spark would read the same footer in a job of its own
        (~60 ms, for each table a command opens and each one a run writes)."""
        folder = self._folder(name)
        reader = self.session.read
        known = schema or _written_schema(folder)
        if known is not None:
            reader = reader.schema(known)
        reader.parquet(str(folder)).createOrReplaceTempView(name)

    def _write(self, name: str, frame: DataFrame, *, append: bool = False) -> None:
        """Write a frame as the table ``name`` (replacing it, or appending to it)."""
        fresh = self.warehouse / f"_new_{name}_{uuid.uuid4().hex[:8]}"
        source = frame
        if append and self.has_table(name):
            source = self.session.table(name).unionByName(frame)
        try:
            source.write.parquet(str(fresh))
        except SPARK_ERRORS as error:
            shutil.rmtree(fresh, ignore_errors=True)
            raise EngineError(f"spark could not write table {name!r}: {error}") from error
        self._swap(name, fresh)
        self._expose(name, source.schema)

    def _swap(self, name: str, fresh: Path) -> None:
        """Put the folder ``fresh`` in place of the table ``name`` (see :meth:`recover`)."""
        old = self._folder(name)
        retired = self.warehouse / f"_old_{name}_{uuid.uuid4().hex[:8]}"
        if old.exists():
            old.rename(retired)
        fresh.rename(old)
        shutil.rmtree(retired, ignore_errors=True)

    def _write_empty(self, name: str, schema: StructType) -> None:
        """The table ``name`` as one empty Parquet file written here, not by a Spark job (a
        quarter of a second each, and a fresh store makes dozens): Spark's schema rides in the
        file's metadata, where Spark looks for it, and timestamps are INT96 as Spark writes them,
        so Spark and DuckDB read the table as they read one Spark wrote."""
        fresh = self.warehouse / f"_new_{name}_{uuid.uuid4().hex[:8]}"
        fresh.mkdir()
        arrow = to_arrow_schema(schema, timezone="UTC").with_metadata({SPARK_SCHEMA_KEY: schema.json()})
        pq.write_table(arrow.empty_table(), fresh / "part-00000-empty.parquet", use_deprecated_int96_timestamps=True)
        self._swap(name, fresh)
        self.session.createDataFrame([], schema).createOrReplaceTempView(name)

    def _frame(self, sql: str) -> DataFrame:
        spark_sql = transpile(sql, self.name)
        try:
            return self.session.sql(spark_sql)
        except SPARK_ERRORS as error:
            raise EngineError(f"spark failed: {error}", sql=spark_sql) from error

    # -- the Engine interface ------------------------------------------------------------
    def execute(self, sql: str) -> None:
        tree = sqlglot.parse_one(sql, read="duckdb")
        if isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Query):
            self.create_table(tree.this.name, tree.expression.sql(dialect="duckdb"))
        elif isinstance(tree, exp.Insert):
            self._insert_tree(tree)
        elif isinstance(tree, exp.Drop):
            self.drop_table(tree.this.name)
        else:
            self._frame(sql).collect()

    def _insert_tree(self, tree: exp.Insert) -> None:
        target = tree.this
        if isinstance(target, exp.Schema):
            names = [column.name for column in target.expressions]
            table = target.this.name
        else:
            table = target.name
            names = [name for name, _ in self.columns(table)]
        self.insert(table, names, tree.expression.sql(dialect="duckdb"))

    def fetch_arrow(self, sql: str) -> pa.Table:
        frame = self._frame(sql)
        try:
            return frame.toArrow()
        except SPARK_ERRORS as error:
            raise EngineError(f"spark failed: {error}", sql=transpile(sql, self.name)) from error

    def fetch_batches(self, sql: str, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The rows of ``sql`` in batches of at most ``rows``, in the query's order: written
        once as Parquet (one job) and read here file by file (in the order of the query's
        partitions), not row by row through the JVM."""
        name = f"_batches_{uuid.uuid4().hex[:8]}"
        self.materialise(name, sql)
        folder = self._scratch.folder(name)
        assert folder is not None  # materialised just now
        schema = to_arrow_schema(self.session.table(name).schema, timezone="UTC")
        try:
            read = (
                batch.cast(schema)
                for path in sorted(folder.glob("*.parquet"))
                for batch in pq.ParquetFile(path).iter_batches(batch_size=rows)
            )
            yield from _rebatched(read, rows)
        finally:
            self.drop_table(name)
            shutil.rmtree(folder, ignore_errors=True)

    def fetch_slices(self, sql: str, key: str, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """Read from the files of one job (:meth:`fetch_batches`): no Spark job runs between
        batches, and the order is a sort over every partition, not row numbers that Spark
        computes in one."""
        yield from self.fetch_batches(f"SELECT * FROM ({sql}) AS q ORDER BY q.{key}", rows)

    def tables(self) -> list[str]:
        stored = [
            folder.name for folder in self.warehouse.iterdir() if folder.is_dir() and not folder.name.startswith("_")
        ]
        return sorted([*stored, *self._folders])

    def has_table(self, name: str) -> bool:
        return self._folder(name).is_dir()

    def columns(self, table: str) -> list[tuple[str, str]]:
        schema = self.session.table(table).schema
        return [(field.name, _duckdb_type(field.dataType.simpleString())) for field in schema]

    def create_table(self, name: str, sql: str) -> None:
        self._write(name, self._frame(sql))

    def create_empty_table(self, name: str, columns: Any) -> None:
        if self.has_table(name):
            return
        ddl = ", ".join(f"`{column}` {_spark_type(type_)}" for column, type_ in columns)
        self._write_empty(name, self.session.createDataFrame([], ddl).schema)  # the DDL parsed by Spark, no job

    def insert(self, table: str, columns: list[str], sql: str) -> int:
        frame = self._frame(sql).toDF(*columns)
        existing = self.columns(table)
        for column, type_ in existing:
            if column not in columns:
                frame = frame.selectExpr("*", f"CAST(NULL AS {_spark_type(type_)}) AS `{column}`")
        frame = frame.selectExpr(
            *[f"CAST(`{column}` AS {_spark_type(type_)}) AS `{column}`" for column, type_ in existing]
        )
        # Appending adds part files (Spark's commit protocol makes them appear all at once),
        # so a load costs the new rows, not a rewrite of the table. The query runs once: the
        # rows are counted from the new files' Parquet footers, not by a count() that would
        # run the whole query a second time.
        folder = self._folder(table)
        before = set(folder.glob("*.parquet"))
        try:
            frame.write.mode("append").parquet(str(folder))
        except SPARK_ERRORS as error:
            raise EngineError(f"spark could not append to table {table!r}: {error}") from error
        added = sorted(set(folder.glob("*.parquet")) - before)
        count = sum(int(pq.ParquetFile(path).metadata.num_rows) for path in added)
        if not count:
            for path in added:
                path.unlink()
        self._expose(table)
        return count

    def add_columns(self, table: str, columns: Any) -> None:
        additions = ", ".join(f"CAST(NULL AS {_spark_type(type_)}) AS `{column}`" for column, type_ in columns)
        self._write(table, self.session.sql(f"SELECT *, {additions} FROM {table}"))

    def delete_where(self, table: str, condition: str) -> None:
        if condition.strip().lower() == "true":  # emptied: no job reads the rows to drop them all
            self._write_empty(table, self.session.table(table).schema)
            return
        keep = f"SELECT * FROM {table} WHERE NOT coalesce(({condition}), false)"
        self._write(table, self._frame(keep))

    def drop_table(self, name: str) -> None:
        self.session.catalog.dropTempView(name)
        self._scratch.dropped(name)
        if not name.startswith("_"):
            shutil.rmtree(self._folder(name), ignore_errors=True)

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self.session.createDataFrame(table).createOrReplaceTempView(name)
        self._scratch.made(name)

    def stage(self, name: str, path: Path | Sequence[Path]) -> None:
        paths = [path] if isinstance(path, Path) else list(path)
        frame = self.session.read.parquet(*(str(each.resolve()) for each in paths))
        _numbered(frame).createOrReplaceTempView(name)
        self._scratch.made(name)

    def expose_folder(self, name: str, folder: Path) -> None:
        files = sorted(str(path.resolve()) for path in folder.glob("*.parquet"))
        if files:
            frame = self.session.read.option("mergeSchema", "true").parquet(*files)
            _numbered(frame).createOrReplaceTempView(name)
            self._folders[name] = folder

    def materialise(self, name: str, sql: str) -> None:
        fresh = self._scratch.new_folder(name)
        frame = self._frame(sql)
        try:
            frame.write.parquet(str(fresh))
        except SPARK_ERRORS as error:
            raise EngineError(f"spark failed: {error}", sql=transpile(sql, self.name)) from error
        self.session.read.schema(frame.schema).parquet(str(fresh)).createOrReplaceTempView(name)
        self._scratch.made(name, fresh)

    def define(self, name: str, sql: str) -> None:
        self.materialise(name, sql)

    def view(self, name: str, sql: str) -> None:
        self._frame(sql).createOrReplaceTempView(name)
        self._scratch.made(name)

    def scratch_names(self) -> set[str]:
        """The views this engine made (materialised results, views, staged files, Arrow
        tables): dropping them lets their ``_stage`` folders go (:mod:`personae.engine.spark_scratch`)."""
        return self._scratch.names

    def row_count(self, name: str) -> int:
        """A materialised result's or stored table's rows from its Parquet footers (no job);
        anything else is counted by a query."""
        folder = self._scratch.folder(name) or (self._folder(name) if self.has_table(name) else None)
        if folder is None:
            return super().row_count(name)
        return sum(int(pq.ParquetFile(path).metadata.num_rows) for path in folder.glob("*.parquet"))

    def close(self) -> None:
        super().close()
        if not self.read_only:  # a reader leaves its own (if any) to the next write open
            shutil.rmtree(self.warehouse / "_stage", ignore_errors=True)


def _rebatched(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """``batches`` joined and cut into batches of ``rows`` rows (the last one shorter), in order."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            joined = pa.Table.from_batches(pending).combine_chunks()
            yield from joined.slice(0, rows).to_batches()
            rest = joined.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield from pa.Table.from_batches(pending).combine_chunks().to_batches()


def _written_schema(folder: Path) -> StructType | None:
    """The schema Spark wrote in the footer of a Parquet file of ``folder`` (None if none has one)."""
    from pyspark.sql.types import StructType

    for path in sorted(folder.glob("*.parquet"))[:1]:
        written = pq.read_schema(path).metadata or {}
        text = written.get(SPARK_SCHEMA_KEY.encode())
        if text is not None:
            return StructType.fromJson(json.loads(text))
    return None


def _numbered(frame: DataFrame) -> DataFrame:
    """``frame`` with ``_row`` from each row's position in its Parquet file where it has none."""
    from pyspark.sql import functions

    position = functions.col("_metadata.row_index") + 1
    has_row = ROW_COLUMN in frame.columns
    row = functions.coalesce(functions.col(ROW_COLUMN), position) if has_row else position
    columns = [
        row.alias(ROW_COLUMN) if c == ROW_COLUMN else functions.col(f"`{c}`") for c in numbered_order(frame.columns)
    ]
    return frame.select(*columns)
