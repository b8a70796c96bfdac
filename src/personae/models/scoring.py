"""Scoring in bounded batches: read a query batch by batch, score each in Python, spill the
scores to a Parquet file, then load that file as a table in one statement.

Python never holds more than one batch of inputs and one of scores; the engine's reader
stays open while scoring (DuckDB allows no other statement on the connection meanwhile),
which is why the scores go to a file first.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from personae.engine.base import Engine

BATCH_ROWS = 100_000


def score_into_table(
    engine: Engine,
    sql: str,
    score: Callable[[pa.RecordBatch], pa.Table],
    table: str,
    schema: pa.Schema,
    *,
    scratch: Path,
    rows: int = BATCH_ROWS,
) -> int:
    """Create ``table`` from ``score`` applied to each batch of ``sql``; returns rows written."""
    scratch.mkdir(parents=True, exist_ok=True)
    written = 0
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        path = Path(folder) / f"{table}.parquet"
        with pq.ParquetWriter(path, schema) as writer:
            for batch in engine.fetch_batches(sql, rows):
                scores = score(batch).select(schema.names).cast(schema)
                writer.write_table(scores)
                written += scores.num_rows
        engine.stage(f"_{table}_file", path)
        engine.create_table(table, f"SELECT * FROM _{table}_file")
        engine.drop_table(f"_{table}_file")
    return written
