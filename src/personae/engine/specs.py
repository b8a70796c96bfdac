"""Engine settings (``[engine.duckdb]``, ``[engine.spark]`` in ``personae.toml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from personae.spec import Spec

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[EngineName, ...] = ("duckdb", "spark")


class DuckDBSettings(Spec):
    path: str = "personae.duckdb"
    memory_limit: str | None = None
    """Memory DuckDB may use, per connection (``"3GB"``); unset: half the machine's memory."""
    temp_directory: str = ".personae/duckdb-tmp"
    """Where DuckDB spills what does not fit (relative to the workspace, or absolute)."""
    threads: int | None = Field(None, ge=1)


class SparkSettings(Spec):
    master: str = "local[2]"
    warehouse: str = "spark-warehouse"
    shuffle_partitions: int = Field(4, ge=1)
    conf: dict[str, str] = Field(default_factory=dict)


class EngineSettings(Spec):
    duckdb: DuckDBSettings = DuckDBSettings()
    spark: SparkSettings = SparkSettings()
