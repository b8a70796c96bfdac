"""The engine interface: run SQL steps written in the DuckDB dialect, register and read tables.

Algorithms build SQL (functions ending in ``_sql``); an engine executes it. DuckDB runs the
SQL as written; other engines receive it transpiled by sqlglot, with the gaps declared in
:mod:`personae.engine.dialects`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from personae.engine.dialects import transpile
from personae.engine.specs import default_memory_limit
from personae.engine.sql import identifier
from personae.engine.tables import TABLE
from personae.errors import EngineError, UsageError

ROW_COLUMN = "_row"
"""A raw file's row number. Raw copies of CSV files are written without it, since the only
way to number CSV rows in DuckDB is a window that runs on one thread (about half the copy's
time on two cores); DuckDB keeps the reading order when it writes, so a row's position in
the copy is its number, and the engines add it when they read the copy."""


USER_STATEMENTS = frozenset({"SELECT", "EXPLAIN"})
"""What SQL a user writes may be, by DuckDB's statement type: a query (``WITH``, ``FROM``,
``VALUES``, ``DESCRIBE``, ``SHOW`` and ``SUMMARIZE`` are SELECTs to DuckDB) or its plan.
Everything else either changes something (COPY and EXPORT write files, ATTACH opens them,
INSTALL/LOAD fetch code, SET/RESET would undo the limits below) or has no business there."""


def numbered_order(columns: list[str]) -> list[str]:
    """``columns`` with ``_row`` just before ``_loaded_at`` (or last), the order raw files
    show their columns in whether or not the file holds ``_row``.

    >>> numbered_order(["a", "_file", "_loaded_at"])
    ['a', '_file', '_row', '_loaded_at']
    """
    kept = [c for c in columns if c not in (ROW_COLUMN, "_loaded_at")]
    return [*kept, ROW_COLUMN, *(["_loaded_at"] if "_loaded_at" in columns else [])]


class Engine(ABC):
    """Runs DuckDB-dialect SQL and holds the workspace's tables."""

    name: str
    _reader: duckdb.DuckDBPyConnection | None = None

    def sql_for(self, sql: str) -> str:
        """The SQL as this engine will run it (also what `segment show --sql` prints)."""
        return transpile(sql, self.name)

    @abstractmethod
    def execute(self, sql: str) -> None:
        """Run one statement for its effect."""

    @abstractmethod
    def fetch_arrow(self, sql: str) -> pa.Table:
        """Run a query and return its result as an Arrow table (small results only)."""

    def fetch_batches(self, sql: str, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """A query's result as Arrow batches of at most ``rows`` rows, read as they are used
        (engines that can stream hold one batch in Python at a time)."""
        yield from self.fetch_arrow(sql).to_batches(max_chunksize=rows)

    def fetch_slices(self, sql: str, key: str, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """A query's result in batches of at most ``rows`` rows, in the order of ``key`` (a
        column of the result), with no statement running while the caller holds a batch: the
        caller may use the cores, and this engine, between batches (a streaming reader would
        share the cores with the engine's threads, and DuckDB refuses other statements while
        one is open). Here the result is materialised with row numbers and read a slice at a time."""
        numbered = f"_slices_{id(self):x}"
        self.materialise(numbered, f"SELECT q.*, row_number() OVER (ORDER BY q.{key}) AS _slice FROM ({sql}) AS q")
        try:
            for start in range(0, self.row_count(numbered), rows):
                part = self.fetch_arrow(f"SELECT * FROM {numbered} WHERE _slice > {start} AND _slice <= {start + rows}")
                yield from part.drop_columns(["_slice"]).combine_chunks().to_batches()
        finally:
            self.drop_table(numbered)

    def fetch_rows(self, sql: str) -> list[tuple[Any, ...]]:
        table = self.fetch_arrow(sql)
        columns = [column.to_pylist() for column in table.columns]
        return list(zip(*columns, strict=True)) if columns else []

    def scalar(self, sql: str) -> Any:
        rows = self.fetch_rows(sql)
        return rows[0][0] if rows else None

    @abstractmethod
    def tables(self) -> list[str]:
        """Names of the persistent tables, sorted."""

    @abstractmethod
    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, DuckDB type) of each column of a table or temporary view."""

    def has_table(self, name: str) -> bool:
        return name in self.tables()

    def create_table(self, name: str, sql: str) -> None:
        """Create or replace a persistent table from a query; where the engine has transactions, a
        reader on another cursor sees the old table or the new one, never none."""
        with self.transaction():
            self.drop_table(name)
            self.execute(f"CREATE TABLE {name} AS {self.clustered(name, sql)}")
            self.create_indexes(name)

    def clustered(self, name: str, sql: str) -> str:
        """The query that writes table ``name``, in the order of its ``clustered_by`` column where
        it declares one (:class:`~personae.engine.table_spec.Table`), so that looking one person
        up reads a row group, not the table. (Spark writes its tables in its own order.)"""
        declared = TABLE.get(name)
        if declared is None or declared.clustered_by is None:
            return sql
        return f"SELECT * FROM ({sql}) AS _rows ORDER BY {identifier(declared.clustered_by)}"

    def create_indexes(self, name: str) -> None:
        """Index the columns a table declares in ``indexed_by``, where the engine keeps indexes
        (DuckDB does; Spark's Parquet tables have none)."""
        return None

    def restore_indexes(self, name: str) -> None:
        """Build the declared indexes a table lacks, where the engine keeps indexes."""
        return None

    def create_empty_table(self, name: str, columns: Iterable[tuple[str, str]]) -> None:
        """Create a persistent table with the given (name, DuckDB type) columns, if missing."""
        if not self.has_table(name):
            body = ", ".join(f"{identifier(column)} {type_}" for column, type_ in columns)
            self.execute(f"CREATE TABLE {name} ({body})")

    @abstractmethod
    def insert(self, table: str, columns: list[str], sql: str) -> int:
        """Insert a query's rows into the named columns (plain names); returns the row count."""

    def add_columns(self, table: str, columns: Iterable[tuple[str, str]]) -> None:
        for column, type_ in columns:
            self.execute(f"ALTER TABLE {table} ADD COLUMN {identifier(column)} {type_}")

    @abstractmethod
    def delete_where(self, table: str, condition: str) -> None:
        """Delete the rows of a persistent table that meet a condition."""

    @abstractmethod
    def drop_table(self, name: str) -> None:
        """Drop a persistent table or temporary view if it exists."""

    def scratch_names(self) -> set[str]:
        """The temporary tables and views that hold memory or spill space until dropped
        (DuckDB's temporary tables, registered Arrow tables, views over them); the pipeline
        drops those a step made when it ends (on Spark, the views that read the folders
        of materialised results, which go with them)."""
        return set()

    @abstractmethod
    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Expose an Arrow table as a temporary view for the following statements."""

    @abstractmethod
    def stage(self, name: str, path: Path | Sequence[Path]) -> None:
        """Expose one Parquet file, or several with the same columns, as the temporary view ``name``.

        A file without a ``_row`` column gets one: each row's position in its file, from 1
        (see :data:`ROW_COLUMN`)."""

    @abstractmethod
    def expose_folder(self, name: str, folder: Path) -> None:
        """Expose a folder of Parquet files (columns united by name) as the view ``name``.

        Rows of files without ``_row`` are numbered by their position in their file."""

    @abstractmethod
    def materialise(self, name: str, sql: str) -> None:
        """Compute a query once into a temporary table for the statements that follow."""

    @abstractmethod
    def define(self, name: str, sql: str) -> None:
        """Name a query for the statements that follow.

        Engines that stream (DuckDB) keep it as a view, recomputed where it is used and
        never held in memory; the others may materialise it.
        """

    def view(self, name: str, sql: str) -> None:
        """Name a query that costs no more to recompute than to read back (a projection or a
        filter of one stored or materialised table), or one that a single statement reads:
        every engine keeps it as a view. The tables it reads must not change before it is read."""
        self.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")

    def row_count(self, name: str) -> int:
        """How many rows a table, view or materialised result holds."""
        return int(self.scalar(f"SELECT count(*) FROM {name}"))

    def user_sql(self, query: str, folders: Mapping[str, Path]) -> pa.Table:
        """Run one read-only query a user wrote: ``personae sql``, and the server's read tokens.

        ``folders`` names the Parquet folders the query may read, each as the view over it
        (``raw_<source>`` -> ``raw/<source>/``). The text must hold one query
        (:meth:`user_query`). This default runs it as the engine runs any query, so its
        SQL could still name files; engines that can confine file access (DuckDB) override it.
        """
        return self.fetch_arrow(self.user_query(query))

    def user_query(self, query: str) -> str:
        """The one query ``query`` holds, as DuckDB's parser splits it; a one-line UsageError
        naming what else it holds (a second statement, a COPY, a SET, …)."""
        try:
            statements = self.reader().extract_statements(query)
        except duckdb.Error as error:
            raise EngineError("duckdb failed: " + " ".join(str(error).split()), sql=query) from None
        if not statements:
            raise UsageError("the query is empty; write one, e.g. `select count(*) from profiles`")
        if len(statements) > 1:
            raise UsageError(f"write one query; this text holds {len(statements)} statements")
        kind = statements[0].type.name
        if kind == "MULTI":  # DuckDB makes a PIVOT without its values into CREATE TYPE + SELECT
            raise UsageError("a PIVOT runs here with its values listed: PIVOT … ON column IN ('a', 'b') USING …")
        if kind not in USER_STATEMENTS:
            raise UsageError(
                f"a {kind} statement cannot run here: user SQL is one read-only query "
                "(SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN) over the store"
            )
        return str(statements[0].query)

    def reader(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection that reads input files and rewrites raw copies (every engine
        has one, made on first use by :meth:`_open_reader`)."""
        if self._reader is None:
            self._reader = self._open_reader()
            self._reader.execute("SET enable_progress_bar = false").complete()  # progress is personae's to show
        return self._reader

    def _open_reader(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB instance of its own, under :func:`default_memory_limit` (DuckDB's
        own default is 80 % of the machine, beside a Spark driver's heap); an engine whose store
        is DuckDB gives a cursor of the store's instance instead."""
        return duckdb.connect(config={"memory_limit": default_memory_limit()})

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing where the engine can; engines without transactions run as is."""
        yield

    def cursor(self) -> Engine:
        """An engine over the same store for use in another thread (closing it leaves this one
        open). Engines whose connection is safe to share return themselves."""
        return self

    def interrupt(self) -> None:
        """Stop the statement running on this engine, from another thread; the statement fails
        in its own thread. An engine that cannot does nothing (the statement runs to its end)."""
        return None

    def close(self) -> None:
        """Release the engine's resources."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
