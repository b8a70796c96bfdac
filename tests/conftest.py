"""Shared fixtures: one engine fixture that runs a test on DuckDB and on Spark (local mode)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from personae.engine import DuckDBEngine, Engine

ENGINE_PARAMS = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]

TEST_JVM_OPTIONS = "-XX:TieredStopAtLevel=1"
"""For every JVM the suite starts (Spark drivers, executors, the cluster's daemons, inherited
through the environment): the quick compiler only. The suite's Spark work is many small
statements on a cold JVM, where the optimising compiler's work does not pay back: a new local
session and three days of membership assignments took 0.61 of the default's time, one GC
thread as well 0.77, one GC thread alone 0.87 (``bench/spark_cold.py``, bench/RESULTS.md,
2026-12-07). Speed only: a user's JVM is left as Java starts it."""
os.environ.setdefault("JAVA_TOOL_OPTIONS", TEST_JVM_OPTIONS)


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


LONG_UNITS = {
    "tests/segments/test_engines_segments.py": 154,
    SHARED_SESSION_WORLDS["tests/privacy/test_erasure.py"]: 103,
    SHARED_SESSION_WORLDS["tests/dashboard/"]: 96,
    "tests/identity/test_identity_engines.py": 76,
    "tests/identity/test_live_property.py": 60,
    "tests/segments/test_memberships.py": 49,
    "tests/pipeline/test_incremental_runs.py": 45,
    "tests/engine/test_spark_masters.py": 45,
    "tests/sources/test_guarded_ingest.py": 43,
    "tests/identity/test_matching_workspace.py": 40,
    "tests/engine/test_memory_limits.py": 35,
    "tests/privacy/test_consent_engines.py": 32,
    "tests/sources/test_bad_input.py": 30,
    "tests/identity/test_resolve.py": 30,
    "tests/identity/test_fuzzy.py": 26,
    "tests/profiles/test_traits_engines.py": 24,
}
"""Units of work that take longest, with their seconds (the sum of their tests' ``--durations``
on two workers, 2026-12-07, with :data:`TEST_JVM_OPTIONS`): they start first, so that the
suite does not end with one worker running a long unit alone. Any other unit counts one
second per test (the suite's average is 1.1 s). A stale figure only orders the work less well; it cannot fail a test."""


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` with the modules of :data:`SHARED_SESSION_WORLDS` as one unit each,
    the longest units (:data:`LONG_UNITS`) first: xdist would order them by their number of
    tests, which put the suite's longest test (one in its module) near the end."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedWorldScheduling(LoadScopeScheduling):
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            unit = next((unit for prefix, unit in SHARED_SESSION_WORLDS.items() if nodeid.startswith(prefix)), None)
            return unit or super()._split_scope(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            if not self.ordered:  # the first assignment: the queue is complete
                self.ordered = True
                units = sorted(self.workqueue.items(), key=lambda unit: -LONG_UNITS.get(unit[0], len(unit[1])))
                self.workqueue.clear()
                self.workqueue.update(units)
            super()._assign_work_unit(node)

    return SharedWorldScheduling(config, log)
