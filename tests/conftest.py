"""Shared fixtures: one engine fixture that runs a test on DuckDB and on Spark (local mode)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


SHARED_SESSION_WORLDS = {
    "tests/dashboard/": "tests/dashboard/ (the dashboard's world, server and browser)",
    "tests/privacy/test_erasure.py": "tests/privacy/ (the erasure world)",
    "tests/privacy/test_erasure_requests.py": "tests/privacy/ (the erasure world)",
}
"""Test modules that share a session fixture built from a demo world (20–30 s each): one worker
takes them all, so the world is built once per suite, not once per worker that runs one."""


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` with the modules of :data:`SHARED_SESSION_WORLDS` as one unit each."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedWorldScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            unit = next((unit for prefix, unit in SHARED_SESSION_WORLDS.items() if nodeid.startswith(prefix)), None)
            return unit or super()._split_scope(nodeid)

    return SharedWorldScheduling(config, log)
