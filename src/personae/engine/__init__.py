"""Engines run the SQL that steps build: DuckDB (embedded default) and Spark."""

from __future__ import annotations

from pathlib import Path

from personae.config import WorkspaceConfig
from personae.engine.base import Engine
from personae.engine.dialects import transpile
from personae.engine.duckdb import DuckDBEngine

ENGINES = ("duckdb", "spark")

__all__ = ["ENGINES", "DuckDBEngine", "Engine", "open_engine", "transpile"]


def open_engine(root: Path, config: WorkspaceConfig, name: str | None = None, *, read_only: bool = False) -> Engine:
    """Open the engine a workspace is configured for (or ``name``, overriding it)."""
    chosen = name or config.workspace.engine
    if chosen == "duckdb":
        settings = config.engine.duckdb
        return DuckDBEngine(
            root / settings.path,
            read_only=read_only,
            memory_limit=settings.memory_limit,
            threads=settings.threads,
        )
    if chosen == "spark":
        from personae.engine.spark import SparkEngine

        spark = config.engine.spark
        return SparkEngine(
            root / spark.warehouse,
            master=spark.master,
            shuffle_partitions=spark.shuffle_partitions,
            conf=spark.conf,
        )
    raise ValueError(f"unknown engine {chosen!r}; engines are {', '.join(ENGINES)}")
