"""Engines run the SQL that steps build: DuckDB (embedded default) and Spark."""

from __future__ import annotations

from pathlib import Path

from personae.engine.base import Engine
from personae.engine.dialects import transpile
from personae.engine.duckdb import DuckDBEngine
from personae.engine.specs import ENGINES, EngineSettings
from personae.errors import ConfigError
from personae.spec import did_you_mean

__all__ = ["ENGINES", "DuckDBEngine", "Engine", "check_engine", "open_engine", "transpile"]


def check_engine(name: str) -> str:
    """``name`` if it names an engine; a ConfigError listing the engines otherwise."""
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}{did_you_mean(name, ENGINES)}; engines are {', '.join(ENGINES)}")
    return name


def open_engine(root: Path, settings: EngineSettings, name: str, *, read_only: bool = False) -> Engine:
    """Open the engine ``name`` over the store in the workspace folder ``root``."""
    if check_engine(name) == "duckdb":
        duckdb = settings.duckdb
        return DuckDBEngine(
            root / duckdb.path,
            read_only=read_only,
            memory_limit=duckdb.memory_limit,
            threads=duckdb.threads,
            temp_directory=root / duckdb.temp_directory,
        )
    from personae.engine.spark import SparkEngine  # only with the spark extra installed

    spark = settings.spark
    return SparkEngine(
        root / spark.warehouse,
        master=spark.master,
        shuffle_partitions=spark.shuffle_partitions,
        conf=spark.conf,
        read_only=read_only,
    )
