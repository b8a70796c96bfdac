"""Engines run the SQL that steps build: DuckDB (embedded default) and Spark."""

from __future__ import annotations

from pathlib import Path

from personae.engine.base import Engine
from personae.engine.dialects import transpile
from personae.engine.duckdb import DuckDBEngine
from personae.engine.specs import ENGINES, EngineSettings
from personae.errors import ConfigError
from personae.spec import did_you_mean

__all__ = ["ENGINES", "DuckDBEngine", "Engine", "open_engine", "transpile"]


def open_engine(root: Path, settings: EngineSettings, name: str, *, read_only: bool = False) -> Engine:
    """Open the engine ``name`` over the store in the workspace folder ``root``."""
    if name == "duckdb":
        duckdb = settings.duckdb
        return DuckDBEngine(
            root / duckdb.path,
            read_only=read_only,
            memory_limit=duckdb.memory_limit,
            threads=duckdb.threads,
        )
    if name == "spark":
        from personae.engine.spark import SparkEngine

        spark = settings.spark
        return SparkEngine(
            root / spark.warehouse,
            master=spark.master,
            shuffle_partitions=spark.shuffle_partitions,
            conf=spark.conf,
        )
    raise ConfigError(f"unknown engine {name!r}{did_you_mean(name, ENGINES)}; engines are {', '.join(ENGINES)}")
