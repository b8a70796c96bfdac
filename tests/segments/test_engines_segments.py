"""Every table a run writes (traits, every segmentation, scores, summaries) is the same on
DuckDB and on a real Spark standalone cluster (a master and a worker on 127.0.0.1), even
when the Spark run is killed (``kill -9``, with its JVM) in the middle and run again.

The Spark run is the suite's one Spark pipeline run; it runs on the cluster, so the SQL runs
on executors that read and write the warehouse themselves, not inside the driver. Spark has
no transactions: the rerun must finish or undo what the killed run left (rows of a file
half loaded, a table between its two renames) and then equal a clean run, which the DuckDB
run stands for, table for table.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from personae import Workspace
from personae.engine.parquet_store import ParquetStoreEngine, store_engine
from personae.errors import UsageError
from tests.engine.spark_cluster import standalone_cluster
from tests.profiles.small_world import AS_OF, build

pytestmark = pytest.mark.spark

SEGMENTS = [
    {"name": "big", "rule": "revenue_365d > 150 and days_since_last_order < 200"},
    {"name": "big_champions", "rule": "in_segment('rules', 'big') and in_segment('rfm', 'Champions')"},
    {"name": "gardeners", "rule": "garden_views >= 1 or top_category = 'garden'"},
]
VOLATILE = {
    "_loaded_at": "when a file was loaded",
    "loaded_at": "when a file was loaded",
    "received_at": "when an event was loaded",
    "found_at": "when a bad field was found",
    "quarantined_at": "when a row was quarantined",
    "created_at": "when a rule was saved",
    "sequence": "the change feed's counter, numbered in write order",
}
"""Columns that hold the wall clock of the run (or its order of writes), not a result."""
WALL_CLOCK = datetime(2026, 1, 1)
"""The small world's data ends in mid-2025: a later time is the wall clock of the run's load."""
NOT_RESULTS = {
    "runs": "the run's own record (times, engine)",
    "audit_log": "who changed what, when",
    "traits_state": "when the traits were last computed, and from which settings",
    "identity_state": "what the last identity run left to fold forward from (DuckDB only)",
    "golden_digests": "a hash of each person's golden-record inputs, for the next run (DuckDB only)",
    "golden_state": "the settings the golden records were built with (DuckDB only)",
    "traits_record_digests": "each engine's own 64- or 32-bit hash of a person's records, compared only with itself",
}
"""Tables that record the run rather than compute from the data."""


@pytest.fixture(scope="module")
def spark_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with standalone_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield url


def _same(a: Any, b: Any) -> bool:
    """Equal, floats within 1e-9 (sums in another order), JSON documents compared parsed."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, str) and isinstance(b, str) and a[:1] in "{[" and a != b:
        try:
            return _same(json.loads(a), json.loads(b))
        except ValueError:
            return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime) and isinstance(b, datetime) and min(a, b) > WALL_CLOCK:
        return True  # both the time of the load: a record with no time of its own takes it
    return bool(a == b)


def _sort_key(row: dict[str, Any]) -> str:
    return repr(tuple(round(v, 4) if isinstance(v, float) and not math.isnan(v) else v for v in row.values()))


def _tables(store: Any, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for table in names:
        rows = store.fetch_arrow(f"SELECT * FROM {table}").to_pylist()
        out[table] = sorted(({k: v for k, v in row.items() if k not in VOLATILE} for row in rows), key=_sort_key)
    return out


def _differences(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> list[str]:
    found = [f"{len(left)} rows vs {len(right)}"] if len(left) != len(right) else []
    for a, b in zip(left, right, strict=False):
        if set(a) != set(b):
            found.append(f"columns {sorted(set(a) ^ set(b))} on one engine only")
        found += [f"{key}: {a[key]!r} vs {b.get(key)!r}" for key in a if not _same(a[key], b.get(key))]
    return found[:10]


KILL_SECONDS = 600.0
"""How long the run to be killed may take to store its first events (the shared machine is slow)."""


def _killed_mid_ingest(root: Path) -> None:
    """``personae run`` on Spark in a process group of its own, killed with ``SIGKILL`` (its JVM
    too) as soon as the first events are stored (the table exists, empty, from the store's
    creation): in the middle of ingest, after a source's rows
    were appended and, at most, before they were recorded as loaded."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:  # the worker's cores and memory go to the run to be killed
        active.stop()
    events = root / "spark-warehouse" / "events"
    command = [sys.executable, "-m", "personae", "run", "-w", str(root), "--engine", "spark", "--as-of", str(AS_OF)]
    log = root / "killed-run.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=output, start_new_session=True, env=os.environ.copy())
    deadline = time.monotonic() + KILL_SECONDS
    try:
        while not any(pq.ParquetFile(path).metadata.num_rows for path in events.glob("*.parquet")):
            assert process.poll() is None, f"the run ended before it was killed:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the run stored no events in time to be killed"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    with Workspace(root).engine(write=False) as store:  # killed mid-ingest: some files not yet recorded
        recorded = int(store.scalar("SELECT count(*) FROM loaded_files WHERE status = 'loaded'"))
    assert recorded < len(list((root / "data").iterdir())), "the run was killed after its ingest"


def test_every_table_is_identical_on_duckdb_and_a_spark_cluster_even_after_a_killed_run(
    tmp_path: Path, spark_master: str
) -> None:
    cluster = {"spark": {"master": spark_master, "shuffle_partitions": 2}}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    names: list[str] = []
    for engine in ("duckdb", "spark"):
        shop = build(tmp_path / engine, customers=25, segments=SEGMENTS, engine=cluster)
        workspace = Workspace(shop.root, engine=engine)
        with workspace.engine(write=True) as store:
            store.create_empty_table("workspace_settings", [("key", "VARCHAR"), ("value", "VARCHAR")])
            store.insert("workspace_settings", ["key", "value"], "SELECT 'uid_salt', 'fixed-salt'")
        if engine == "spark":
            _killed_mid_ingest(shop.root)
        assert workspace.run(as_of=AS_OF).errors == []
        # Spark's tables are read as the read commands read them: DuckDB over its Parquet folders
        with Workspace(shop.root).engine(write=False) as store:
            # the raw copies (views) are compared by tests/test_engines_agree.py
            stored = [t for t in store.tables() if t not in NOT_RESULTS and not t.startswith("raw_")]
            if engine == "duckdb":
                names = stored
            else:
                assert set(stored) == set(names), "the engines wrote different tables"
            results[engine] = _tables(store, names)
    duck, spark = results["duckdb"], results["spark"]
    assert len(duck["traits"]) > 20 and len(duck["memberships"]) > 50
    segmentations = {row["segmentation"] for row in duck["memberships"]}
    assert {"rfm", "lifecycle", "rules", "subscription", "triggers", "clv_tier", "survey"} <= segmentations
    assert {"predictions", "persona_cards", "segment_overlaps", "events", "profiles"} <= set(names)
    differing = {table: found for table in duck if (found := _differences(duck[table], spark[table]))}
    assert differing == {}, f"tables differ between DuckDB and a killed then rerun Spark run: {differing}"
    _reads_without_spark(tmp_path / "spark", spark)


def _reads_without_spark(root: Path, spark: dict[str, list[dict[str, Any]]]) -> None:
    """The Spark workspace's read commands, naming no engine, read its Parquet folders through
    DuckDB (no JVM) and give what Spark gives; user SQL keeps its sandbox there too."""
    assert store_engine(root) == "spark"
    workspace = Workspace(root)  # personae.toml names no engine: DuckDB's default
    with workspace.engine(write=False) as reader:
        assert isinstance(reader, ParquetStoreEngine)
        for table in ("memberships", "traits"):
            assert int(reader.scalar(f"SELECT count(*) FROM {table}")) == len(spark[table]) > 0
    held = workspace.sql("SELECT count(*) AS n FROM memberships WHERE exited_at IS NULL").to_pylist()[0]["n"]
    assert sum(s.members + s.anonymous for s in workspace.segments()) == held > 0
    assert sum(source.rows_loaded for source in workspace.status().sources) > 0
    person = workspace.sql("SELECT min(id_value) AS e FROM identity_map WHERE id_type = 'email'").to_pylist()[0]["e"]
    assert workspace.profile(f"email:{person}").uid
    shown = subprocess.run(
        [sys.executable, "-m", "personae", "sql", "select count(*) n from traits", "-w", str(root), "-f", "csv"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert shown.returncode == 0 and shown.stdout.split() == ["n", str(len(spark["traits"]))], shown.stderr
    with pytest.raises(UsageError, match=r"user SQL cannot read or write files|reads the store's tables"):
        workspace.sql("SELECT * FROM read_csv('/etc/passwd')")
