"""Shared fixtures: one engine fixture that runs a test on DuckDB and on Spark (local mode)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from personae.engine import DuckDBEngine, Engine

ENGINE_PARAMS = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]


def make_engine(name: str, folder: Path) -> Engine:
    if name == "duckdb":
        return DuckDBEngine(folder / "store.duckdb")
    from personae.engine.spark import SparkEngine

    return SparkEngine(folder / "warehouse", master="local[2]", shuffle_partitions=2)


@pytest.fixture(params=ENGINE_PARAMS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh, empty store on each engine."""
    store = make_engine(request.param, tmp_path)
    yield store
    store.close()
