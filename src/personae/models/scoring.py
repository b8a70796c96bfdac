"""The models step's numeric work: on a bounded number of native threads, and never beside
a running DuckDB query.

**Threads.** scikit-learn's boosting and k-means run on OpenMP, numpy and scipy on
OpenBLAS, and each pool starts one thread per core it sees. Those pools synchronise at
every step (a histogram, a k-means iteration) and their idle threads spin; when any core
is taken by something else, the pool waits at each barrier for a thread that is not
running, and the spinning threads take CPU from the one that is. Issue 11: on a busy
2-core machine the models step of a 2,000-customer demo took 36–129 s, and 6.5 s with
``OMP_NUM_THREADS=1``. :func:`native_threads` caps the pools (with ``threadpoolctl``, for
the whole step) to the cores personae may run on (``os.sched_getaffinity``), at most
DuckDB's ``threads`` setting when it is set, and leaves one of them to everything else.

Measured on the shared 2-core machine (``bench/models_step.py --threads``, on the
20,000-customer demo; medians of 3; the machine never was idle: other sessions kept its
load average at 6–9), wall seconds with CPU seconds in brackets:

=============================================  ===================  ============  ============
work                                           machine              1 thread      2 threads
=============================================  ===================  ============  ============
HistGradientBoosting fit, 15,157 x 40          as it is             1.75 (0.43)   17.6 (5.7)
k-means scan (k 2–10, n_init 10), 10,000 x 10  as it is             1.02 (0.49)   18.7 (8.1)
HistGradientBoosting fit, 15,157 x 40          busy loop on core 1  1.03 (0.40)   13.7 (7.4)
k-means scan (k 2–10, n_init 10), 10,000 x 10  busy loop on core 1  1.47 (0.51)   17.3 (10.8)
=============================================  ===================  ============  ============

A second thread multiplied the CPU spent by 13–21 and the wall time by 10–18. One
thread's CPU seconds bound what a second could save on an idle machine (under half of
0.4–0.5 s per fit here), against 13–18 s lost whenever another process holds a core, so
on two cores the pools get one thread. On more cores, leaving one free keeps the pool
running at once beside one other busy process (DuckDB's own threads are idle then, see
below).

**Never beside a query.** Scores used to be computed while DuckDB streamed the input
through an open reader: a reader that streams is a running query, whose worker threads
compete with the scoring for the same cores. Now the input is materialised once, numbered,
and read slice by slice with complete queries; each slice is scored while no query runs,
spilled to a Parquet file, and the file is loaded as a table in one statement. Python
holds one slice of inputs and one of scores at a time.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # ships no type hints

from personae.engine.base import Engine
from personae.engine.sql import identifier

BATCH_ROWS = 100_000


def allowed_cores() -> int:
    """The cores this process may run on (its CPU affinity; the core count where there is none)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def native_threads(duckdb_threads: int | None = None, cores: int | None = None) -> int:
    """Threads for the OpenMP and BLAS pools: the allowed cores (at most DuckDB's ``threads``
    setting), less one left to the rest of the machine, and at least one.

    >>> native_threads(cores=2), native_threads(cores=8), native_threads(4, cores=8), native_threads(cores=1)
    (1, 7, 3, 1)
    """
    usable = cores or allowed_cores()
    if duckdb_threads:
        usable = min(usable, duckdb_threads)
    return max(1, usable - 1)


@contextmanager
def native_pools(threads: int) -> Iterator[None]:
    """Cap every OpenMP and BLAS pool of the process to ``threads`` while the block runs."""
    with threadpool_limits(limits=threads):
        yield


def score_into_table(
    engine: Engine,
    sql: str,
    score: Callable[[pa.RecordBatch], pa.Table],
    table: str,
    schema: pa.Schema,
    *,
    scratch: Path,
    rows: int = BATCH_ROWS,
    scored: str | None = None,
) -> int:
    """Create ``table`` from ``score`` applied to each batch of ``sql`` (which has a ``uid``);
    returns rows written. The batches come in the order of the UIDs with no query running
    beside the scoring (:meth:`~personae.engine.base.Engine.fetch_slices`); where they break
    depends on the engine, so ``score`` must score each row on its own. ``scored``: a query of
    rows already scored (the schema's columns), written with the others in UID order."""
    scratch.mkdir(parents=True, exist_ok=True)
    written = 0
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        path = Path(folder) / f"{table}.parquet"
        with pq.ParquetWriter(path, schema) as writer:
            for batch in engine.fetch_slices(sql, "uid", rows):
                scores = score(batch).select(schema.names).cast(schema)
                writer.write_table(scores)
                written += scores.num_rows
        engine.stage(f"_{table}_file", path)
        if scored is None:
            engine.create_table(table, f"SELECT * FROM _{table}_file")
        else:
            names = ", ".join(identifier(name) for name in schema.names)
            both = f"SELECT {names} FROM _{table}_file UNION ALL SELECT {names} FROM ({scored}) AS s"
            engine.create_table(table, f"SELECT * FROM ({both}) AS b ORDER BY uid")
            written = engine.row_count(table)
        engine.drop_table(f"_{table}_file")
    return written
