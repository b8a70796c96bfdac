"""Shared fixtures: one engine fixture that runs a test on DuckDB and on Spark (local mode)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from personae.engine import DuckDBEngine, Engine

ENGINE_PARAMS = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]
SLOW_MODULES_FIRST = (
    "tests/segments/test_engines_segments.py",
    "tests/privacy/test_erasure.py",
    "tests/identity/test_live_property.py",
    "tests/privacy/test_consent_engines.py",
    "tests/test_engines_agree.py",
    "tests/profiles/test_traits_engines.py",
    "tests/identity/test_identity_engines.py",
    "tests/pipeline/test_incremental_runs.py",
    "tests/identity/test_fuzzy_demo.py",
    "tests/segments/test_memberships.py",
)
"""Modules of a minute or more (``--durations``), started first: pytest-xdist hands modules to
its workers in collection order (``--dist loadscope``), and a long one collected last keeps one
worker busy while the other has nothing left."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {module: index for index, module in enumerate(SLOW_MODULES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep their order


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
