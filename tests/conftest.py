"""Shared fixtures: one engine fixture that runs a test on DuckDB and on Spark (local mode);
and the order in which the suite's longest modules start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from personae.engine import DuckDBEngine, Engine

ENGINE_PARAMS = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]

LONGEST_FIRST = (
    "tests/segments/test_engines_segments.py",
    "tests/privacy/test_erasure.py",
    "tests/identity/test_matching_workspace.py",
    "tests/identity/test_live_property.py",
    "tests/identity/test_identity_engines.py",
    "tests/engine/test_spark_masters.py",
    "tests/identity/test_fuzzy.py",
    "tests/privacy/test_consent_engines.py",
    "tests/test_engines_agree.py",
)
"""The modules that take longest (``--durations``, 2026-12-06: the Spark cluster pipeline alone
~180 s), in that order. ``make test`` hands whole modules to two workers in collection order
(``--dist loadscope``), so one of these handed out last can keep one worker busy long after
the other has finished. Started first (the longest-first rule of scheduling), the short
modules fill in around them."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the tests of :data:`LONGEST_FIRST` to the front, in its order; the rest keep theirs."""
    rank = {module: position for position, module in enumerate(LONGEST_FIRST)}

    def position(item: pytest.Item) -> int:
        module = item.nodeid.split("::", 1)[0]
        return rank.get(module, len(rank))

    items.sort(key=position)  # stable: tests keep their order within a module


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
