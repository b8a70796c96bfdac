"""A Spark workspace's store, read by DuckDB: each table a view over its Parquet folder.

A Spark run keeps every table as a folder of Parquet files under the warehouse
(:mod:`personae.engine.spark`). Reading one back through Spark costs a JVM and a session
(tens of seconds) for what DuckDB answers in milliseconds, so every read command
(``status``, ``sql``, ``profile``, ``segment list``, ``personas``, …) on a workspace whose
store Spark wrote opens this instead: an in-memory DuckDB database with one view per
table. It writes nothing; a run still goes through Spark.

Which engine wrote the store is remembered in ``.personae/store.json`` (:func:`store_engine`),
written when a run starts, so the read commands need no ``--engine``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pyarrow as pa

from personae.engine.duckdb import DuckDBEngine
from personae.engine.sql import identifier, literal
from personae.errors import EngineError, UsageError

STORE_FILE = Path(".personae") / "store.json"


def store_engine(root: Path) -> str | None:
    """The engine that wrote the workspace's store, or None when no run has said."""
    try:
        return str(json.loads((root / STORE_FILE).read_text(encoding="utf-8"))["engine"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember_store_engine(root: Path, engine: str) -> None:
    """Say which engine writes the store (at the start of each run)."""
    path = root / STORE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"engine": engine}) + "\n", encoding="utf-8")
    os.replace(partial, path)


def table_folders(warehouse: Path) -> dict[str, Path]:
    """Each table of a Spark warehouse that holds Parquet files, by name."""
    if not warehouse.is_dir():
        return {}
    return {
        folder.name: folder
        for folder in sorted(warehouse.iterdir())
        if folder.is_dir() and not folder.name.startswith(("_", ".")) and any(folder.glob("*.parquet"))
    }


class ParquetStoreEngine(DuckDBEngine):
    """Read-only DuckDB views over a Spark warehouse's tables."""

    def __init__(self, warehouse: Path, *, memory_limit: str | None = None, threads: int | None = None) -> None:
        super().__init__(None, memory_limit=memory_limit, threads=threads)
        self.warehouse = warehouse
        self.folders = table_folders(warehouse)
        self.root = warehouse.parent
        self.connection.execute(f"SET file_search_path = {literal(str(self.root))}")
        for name, folder in self.folders.items():
            files = literal(str(folder / "*.parquet"))
            self.connection.execute(
                f"CREATE VIEW {identifier(name)} AS SELECT * FROM read_parquet({files}, union_by_name = true)"
            )

    def has_table(self, name: str) -> bool:
        return name in self.folders

    def user_sql(self, query: str, folders: Mapping[str, Path]) -> pa.Table:
        """As on a DuckDB store: the tables and the raw copies' views, no other file, no write."""
        statement = self.user_query(query)
        connection = self._user_database(folders)
        try:
            return connection.sql(statement).to_arrow_table()
        except duckdb.PermissionException as error:
            raise UsageError(
                f"user SQL cannot read or write files ({' '.join(str(error).split())}); "
                "it reads the store's tables and views, raw_<source> for the rows as loaded"
            ) from None
        except duckdb.Error as error:
            raise EngineError("duckdb failed: " + " ".join(str(error).split()), sql=query) from error
        finally:
            connection.close()

    def _user_database(self, folders: Mapping[str, Path]) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect(":memory:", config=self._config)
        connection.execute("SET enable_progress_bar = false")
        allowed = [*folders.values(), *self.folders.values()]
        listed = ", ".join(literal(f"{folder.resolve()}{os.sep}") for folder in allowed)
        connection.execute(f"SET allowed_directories = [{listed}]")
        for name, folder in self.folders.items():
            files = literal(str(folder.resolve() / "*.parquet"))
            connection.execute(
                f"CREATE TEMP VIEW {identifier(name)} AS SELECT * FROM read_parquet({files}, union_by_name = true)"
            )
        for name, folder in folders.items():
            files = f"read_parquet({literal(str(folder.resolve() / '*.parquet'))}, union_by_name = true, "
            files += "file_row_number = true)"
            connection.execute(f"CREATE TEMP VIEW {identifier(name)} AS {self._numbered(files, connection)}")
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
        return connection
