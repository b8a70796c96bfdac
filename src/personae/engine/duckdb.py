"""The embedded default engine: one DuckDB file in the workspace.

SQL a user writes runs on a database of its own (:meth:`DuckDBEngine.user_sql`): DuckDB's
file-access settings belong to a database, not a connection, so turning them off on the
pipeline's database would take its own reading away. That database is in memory, attaches
the store read-only, allows just the raw copies' folders (``allowed_directories``), turns
external access off (no other file, no ``COPY``/``EXPORT``/``ATTACH`` of a file, no
extension, no scan of Python variables) and locks its configuration so no ``SET`` can undo
it. Allowed folders can be written to as well as read, so the statement check in
:meth:`Engine.user_query` (one query, nothing that writes) is what keeps them unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import duckdb
import pyarrow as pa

from personae.engine.base import ROW_COLUMN, Engine, numbered_order
from personae.engine.guard import refusal
from personae.engine.specs import MEMORY_SHARE, default_memory_limit
from personae.engine.sql import identifier, literal
from personae.engine.tables import TABLE
from personae.errors import EngineError, StoreLockedError, UsageError


def _failed(error: duckdb.Error, sql: str, config: Mapping[str, object]) -> EngineError:
    """DuckDB's message on one line (it spreads hints and carets over several), with the SQL kept;
    running out of memory or of spill room names personae's setting, not DuckDB's ``SET``."""
    text = " ".join(str(error).split())
    if isinstance(error, duckdb.OutOfMemoryException):
        text = text.split(" Possible solutions:")[0]  # DuckDB advises SET statements, which personae issues itself
        spill = config.get("temp_directory", "DuckDB's own spill folder")
        if "max_temp_directory_size" in text:  # spilling, it filled the spill folder's disk
            text = text.split(" This limit was set by")[0]  # and its PRAGMA advice, likewise
            advice = (
                f"the spill folder {spill} is full: free space on its disk, or set [engine.duckdb] "
                "temp_directory in personae.toml to a folder on a disk with room"
            )
        else:
            advice = (
                f"a step needs more memory than [engine.duckdb] memory_limit = {config.get('memory_limit')!r} "
                f"allows, even spilling to {spill}: raise memory_limit in personae.toml (left out, it is "
                f"{MEMORY_SHARE:.0%} of the machine's memory) or lower [engine.duckdb] threads"
            )
        return EngineError(f"{advice} (duckdb: {text})", sql=sql)
    return EngineError("duckdb failed: " + text, sql=sql)


def _makes(folder: Path) -> bool:
    """Whether ``folder`` exists or could be made (DuckDB does not make a spill folder's
    parents; a read-only workspace keeps DuckDB's own spill place)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return True


class DuckDBEngine(Engine):
    """Runs SQL on a DuckDB database file (or in memory when ``path`` is None)."""

    name = "duckdb"

    _in_transaction = False
    """Inside :meth:`transaction` (a nested one joins it)."""
    _pending_indexes: dict[str, tuple[str, str]] | None = None
    """Index name -> (table, ``CREATE INDEX`` statement) of the indexes the open transaction's
    tables declare, built after it commits (see :meth:`create_indexes`)."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
        temp_directory: Path | None = None,
    ) -> None:
        config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": memory_limit or default_memory_limit()
        }
        if temp_directory is not None and _makes(temp_directory):
            config["temp_directory"] = str(temp_directory)
        if threads:
            config["threads"] = threads
        self._config = config
        try:
            self.connection = duckdb.connect(str(path) if path else ":memory:", read_only=read_only, config=config)
        except duckdb.IOException as error:
            if "lock" in str(error).lower():
                raise StoreLockedError(f"the store {path} is open in another process: {error}") from None
            raise EngineError(f"cannot open the store {path}: {error}") from None
        # DuckDB draws its own progress bar on stderr for long queries, even without a
        # terminal; personae reports progress itself, so the two would interleave
        self.connection.execute("SET enable_progress_bar = false").complete()
        self.path = path
        self.root = path.parent if path else None
        if self.root:  # views over files name them relative to the workspace, so it can move
            self.connection.execute(f"SET file_search_path = {literal(str(self.root))}").complete()

    @property
    def connection_config(self) -> dict[str, str | bool | int | float | list[str]]:
        """The limits this store was opened with, for the other DuckDB connections a step opens
        (the fuzzy matcher's), so that every connection keeps to them."""
        return dict(self._config)

    def _open_reader(self) -> duckdb.DuckDBPyConnection:
        """A cursor of the store's own instance, so that reading and copying input files keeps
        the store's ``memory_limit``, threads and spill folder: an instance of its own took
        DuckDB's default of 80 % of the machine, and copying the 0.9 GB order-line files of
        the 3M-customer world took the run 2 GB past its 3 GB limit (bench/RESULTS.md)."""
        return self.connection.cursor()

    def cursor(self) -> DuckDBEngine:
        """A connection of its own to the same database, for another thread: DuckDB's
        connections are not thread-safe, its database is (one process may hold one open)."""
        other = DuckDBEngine.__new__(DuckDBEngine)
        other._config = self._config
        other._shared = True
        other.connection = self.connection.cursor()
        other.connection.execute("SET enable_progress_bar = false").complete()
        other.path, other.root = self.path, self.root
        if self.root:
            other.connection.execute(f"SET file_search_path = {literal(str(self.root))}").complete()
        return other

    def error_from(self, error: duckdb.Error, sql: str = "") -> EngineError:
        """The :class:`EngineError` for a DuckDB error raised on this store's instance by a
        library running its own SQL there (Splink): out of memory or spill room names the setting."""
        return _failed(error, sql, self._config)

    def execute(self, sql: str) -> None:
        try:
            self.connection.execute(sql).complete()
        except duckdb.Error as error:
            raise _failed(error, sql, self._config) from error

    def fetch_arrow(self, sql: str) -> pa.Table:
        try:
            return self.connection.sql(sql).to_arrow_table()
        except duckdb.Error as error:
            raise _failed(error, sql, self._config) from error

    def fetch_batches(self, sql: str, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        try:
            reader = self.connection.sql(sql).to_arrow_reader(rows)
        except duckdb.Error as error:
            raise _failed(error, sql, self._config) from error
        yield from reader

    _shared = False
    """A connection of a store this process holds open (see :meth:`cursor`)."""

    def user_sql(self, query: str, folders: Mapping[str, Path]) -> pa.Table:
        statement = self.user_query(query)
        if self._shared:  # the file cannot be attached twice in one process: the query is checked instead
            return self._guarded(statement)
        with closing(self._user_database(folders)) as connection:
            try:
                return connection.sql(statement).to_arrow_table()
            except duckdb.PermissionException as error:
                raise UsageError(
                    f"user SQL cannot read or write files ({' '.join(str(error).split())}); "
                    "it reads the store's tables and views, raw_<source> for the rows as loaded"
                ) from None
            except duckdb.Error as error:
                raise _failed(error, query, self._config) from error

    def _guarded(self, statement: str) -> pa.Table:
        serialized = self.connection.execute("SELECT json_serialize_sql(?)", [statement]).fetchall()[0][0]
        why = refusal(serialized, set(self.tables()))
        if why is not None:
            raise UsageError(f"{why}; it reads the store's tables and views, raw_<source> for the rows as loaded")
        try:
            return self.connection.sql(statement).to_arrow_table()
        except duckdb.Error as error:
            raise _failed(error, statement, self._config) from error

    def _user_database(self, folders: Mapping[str, Path]) -> duckdb.DuckDBPyConnection:
        """An in-memory database over the store, read-only, reading no file but ``folders``'
        (each exposed as its view, under absolute paths: the store's own ``raw_*`` views name
        them relative to the workspace, which ``allowed_directories`` does not match). An
        engine in memory gives an empty store (a workspace nothing has run in yet)."""
        connection = duckdb.connect(":memory:", config=self._config)
        try:
            connection.execute("SET enable_progress_bar = false")
            if self.path is not None:
                connection.execute(f"ATTACH {literal(str(self.path))} AS store (READ_ONLY)")
                connection.execute("USE store")
            allowed = ", ".join(literal(f"{folder.resolve()}{os.sep}") for folder in folders.values())
            connection.execute(f"SET allowed_directories = [{allowed}]")
            for name, folder in folders.items():
                files = f"read_parquet({literal(str(folder.resolve() / '*.parquet'))}, union_by_name = true, "
                files += "file_row_number = true)"
                connection.execute(f"CREATE TEMP VIEW {identifier(name)} AS {self._numbered(files, connection)}")
            connection.execute("SET enable_external_access = false")
            connection.execute("SET lock_configuration = true")
        except duckdb.Error as error:
            connection.close()
            reason = " ".join(str(error).split())
            raise EngineError(f"cannot open the store {self.path} for user SQL: {reason}") from None
        return connection

    def tables(self) -> list[str]:
        rows = self.connection.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary AND schema_name = 'main' "
            "UNION SELECT view_name FROM duckdb_views() WHERE NOT temporary AND NOT internal "
            "AND schema_name = 'main' ORDER BY 1"
        ).fetchall()
        return [row[0] for row in rows]

    def has_table(self, name: str) -> bool:
        rows = self.connection.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [name]
        ).fetchall()  # a base table (raw_* views over files are not)
        return bool(rows[0][0])

    def columns(self, table: str) -> list[tuple[str, str]]:
        rows = self.connection.execute(f"DESCRIBE {table}").fetchall()
        return [(row[0], row[1]) for row in rows]

    def insert(self, table: str, columns: list[str], sql: str) -> int:
        names = ", ".join(identifier(column) for column in columns)
        statement = f"INSERT INTO {table} ({names}) {sql}"
        try:
            rows = self.connection.execute(statement).fetchall()
        except duckdb.Error as error:
            raise _failed(error, statement, self._config) from error
        return int(rows[0][0]) if rows else 0

    def delete_where(self, table: str, condition: str) -> None:
        self.execute(f"DELETE FROM {table} WHERE {condition}")

    def create_indexes(self, name: str) -> None:
        """The table's declared indexes; inside a transaction, built once it commits.

        - DuckDB builds an index created inside a transaction at its COMMIT, row by row: the
          identity step's ``identity_map`` (5.7M rows at 1M customers) took 10-12 s to commit
          that way, and 3.9 s as a statement of its own (bench/RESULTS.md). The index is not
          data: a reader between the commit and the index scans instead of looking up.
        - After the indexes, a checkpoint: DuckDB skips its automatic checkpoint after a
          transaction that built an index and keeps the new index pinned in memory until one
          (894 MB of the 3 GB limit after the identity step at 3M customers, which the golden
          step then lacked).
        """
        declared = TABLE.get(name)
        columns = declared.indexed_by if declared is not None else ()
        statements = {
            f"{name}_{column}": (
                name,
                f"CREATE INDEX {identifier(f'{name}_{column}')} ON {name} ({identifier(column)})",
            )
            for column in columns
        }
        if not statements:
            return
        if self._in_transaction:
            self._pending_indexes = {**(self._pending_indexes or {}), **statements}
            return
        for _, statement in statements.values():
            self.execute(statement)
        self._checkpoint()

    def restore_indexes(self, name: str) -> None:
        """Build the declared indexes a table lacks (dropped to add a column, see
        :meth:`add_columns`), for a step that updates the table in place instead of writing it."""
        existing = {
            str(index)
            for (index,) in self.connection.execute(
                "SELECT index_name FROM duckdb_indexes() WHERE table_name = ?", [name]
            ).fetchall()
        }
        declared = TABLE.get(name)
        if declared is not None and any(f"{name}_{column}" not in existing for column in declared.indexed_by):
            self.create_indexes(name)

    def _build_pending_indexes(self) -> None:
        """The indexes :meth:`create_indexes` put off until the transaction committed, for the
        tables that are still there (each table was created in it, so none has its index yet)."""
        pending, self._pending_indexes = self._pending_indexes or {}, None
        if not pending:
            return
        tables = self.tables()
        for table, statement in pending.values():
            if table in tables:
                self.execute(statement)
        self._checkpoint()

    def _checkpoint(self) -> None:
        """Best effort: another cursor's open write defers it to DuckDB's next checkpoint."""
        with suppress(duckdb.TransactionException):
            self.connection.execute("CHECKPOINT").complete()

    def add_columns(self, table: str, columns: Iterable[tuple[str, str]]) -> None:
        """DuckDB refuses to alter an indexed table: its indexes go first (the table's next
        write by its step makes them again; until then a lookup by value scans)."""
        indexes = self.connection.execute(
            "SELECT index_name FROM duckdb_indexes() WHERE table_name = ?", [table]
        ).fetchall()
        for (index,) in indexes:
            self.execute(f"DROP INDEX IF EXISTS {identifier(index)}")
        super().add_columns(table, columns)

    def drop_table(self, name: str) -> None:
        kinds = self.connection.execute(
            "SELECT 'VIEW' FROM duckdb_views() WHERE view_name = ? UNION ALL "
            "SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = ?",
            [name, name],
        ).fetchall()
        for (kind,) in kinds:
            self.execute(f"DROP {kind} IF EXISTS {name}")

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self.connection.register(name, table)

    def scratch_names(self) -> set[str]:
        rows = self.connection.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary "
            "UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal"
        ).fetchall()
        return {name for (name,) in rows}

    def stage(self, name: str, path: Path | Sequence[Path]) -> None:
        paths = [path] if isinstance(path, Path) else list(path)
        listed = ", ".join(literal(str(each)) for each in paths)
        self.define(name, self._numbered(f"read_parquet([{listed}], file_row_number = true)"))

    def expose_folder(self, name: str, folder: Path) -> None:
        where = folder.relative_to(self.root) if self.root and folder.is_relative_to(self.root) else folder
        pattern = literal(str(where / "*.parquet"))
        files = f"read_parquet({pattern}, union_by_name = true, file_row_number = true)"
        self.execute(f"CREATE OR REPLACE VIEW {name} AS {self._numbered(files)}")

    def _numbered(self, files: str, connection: duckdb.DuckDBPyConnection | None = None) -> str:
        """The rows of ``files`` (read with ``file_row_number``), ``_row`` from it where a file lacks one."""
        described = (connection or self.connection).execute(f"DESCRIBE SELECT * FROM {files}").fetchall()
        columns = [row[0] for row in described]
        columns = [c for c in columns if c != "file_row_number"]
        position = "file_row_number + 1"
        row = f"coalesce({ROW_COLUMN}, {position})" if ROW_COLUMN in columns else position
        select = [f"{row} AS {ROW_COLUMN}" if c == ROW_COLUMN else identifier(c) for c in numbered_order(columns)]
        return f"SELECT {', '.join(select)} FROM {files}"

    def materialise(self, name: str, sql: str) -> None:
        self.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def define(self, name: str, sql: str) -> None:
        self.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; a transaction inside another is part of it (the outer one commits)."""
        if self._in_transaction:
            yield
            return
        self.connection.execute("BEGIN TRANSACTION").complete()
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._pending_indexes = None
            with suppress(duckdb.Error):  # a fatal error (a full disk) ends the transaction itself
                self.connection.execute("ROLLBACK").complete()
            raise
        finally:
            self._in_transaction = False
        try:
            self.connection.execute("COMMIT").complete()
        except duckdb.Error as error:  # a full disk at COMMIT; nothing of the transaction is kept
            self._pending_indexes = None
            raise EngineError("the store could not commit: " + " ".join(str(error).split())) from error
        self._build_pending_indexes()

    def interrupt(self) -> None:
        with suppress(duckdb.Error):  # closed meanwhile: nothing runs on it any more
            self.connection.interrupt()

    def close(self) -> None:
        super().close()
        self.connection.close()


def compact_database(path: Path) -> None:
    """Rewrite a store file whole (``COPY FROM DATABASE`` into a new file, fsynced, renamed over
    it), with nobody else holding it. DuckDB frees the blocks of deleted rows without
    overwriting them; after an erasure this is what takes the erased bytes off the disk."""
    if not path.exists():
        return
    fresh = path.with_name(path.name + ".compact")
    for left in (fresh, fresh.with_name(fresh.name + ".wal")):
        left.unlink(missing_ok=True)
    connection = duckdb.connect()
    try:
        connection.execute(f"ATTACH {literal(str(path))} AS old_store")
        connection.execute("CHECKPOINT old_store")
        connection.execute(f"ATTACH {literal(str(fresh))} AS new_store")
        connection.execute("COPY FROM DATABASE old_store TO new_store")
        connection.execute("CHECKPOINT new_store")
        connection.execute("DETACH new_store")
        connection.execute("DETACH old_store")
    finally:
        connection.close()
    with open(fresh, "rb") as written:
        os.fsync(written.fileno())
    fresh.replace(path)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)
