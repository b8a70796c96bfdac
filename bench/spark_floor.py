"""The least Spark local can spend on ingest's rows: read a workspace's raw copies once and write them once.

Ingest on Spark stages each raw copy (the input as text, written by DuckDB for every engine),
maps it and writes the typed rows to ``events`` or a records table. Whatever the mapping, Spark
must read every raw row and write every stored row once. This script times that pass alone,
per source of a workspace that has run (``raw/<source>/*.parquet``), on Spark local and, for
the ratio, on DuckDB (``COPY (SELECT * FROM read_parquet(...)) TO ... (FORMAT parquet)``):

    .venv/bin/python bench/spark_floor.py --raw W/raw [--repeat 2] [--master local[2]]

Each engine runs every source ``--repeat`` times (Spark in one session, warmed by a first
unmeasured pass over the smallest source); the table gives medians, rows, and Spark / DuckDB.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb


def _duckdb_copy(files: list[Path], out: Path) -> int:
    listed = ", ".join(f"'{file}'" for file in files)
    with duckdb.connect() as connection:
        connection.execute("SET threads = 2")
        copied = connection.execute(
            f"COPY (SELECT * FROM read_parquet([{listed}])) TO '{out}' (FORMAT parquet, COMPRESSION snappy)"
        ).fetchall()
    return int(copied[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    from personae.engine.spark_session import open_session

    scratch = Path(tempfile.mkdtemp(prefix="spark-floor-"))
    session = open_session(args.master, scratch / "warehouse", {"spark.sql.shuffle.partitions": "4"})
    sources = {
        folder.name: sorted(folder.glob("*.parquet")) for folder in sorted(args.raw.iterdir()) if folder.is_dir()
    }
    sources = {name: files for name, files in sources.items() if files}
    smallest = min(sources, key=lambda name: sum(file.stat().st_size for file in sources[name]))
    session.read.parquet(*map(str, sources[smallest])).write.parquet(str(scratch / "warm"))

    rows: dict[str, int] = {}
    timings: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.repeat):
        for name, files in sources.items():
            out = scratch / f"{name}-{round_}"
            started = time.perf_counter()
            rows[name] = _duckdb_copy(files, out.with_suffix(".duckdb.parquet"))
            timings.setdefault((name, "duckdb"), []).append(time.perf_counter() - started)
            started = time.perf_counter()
            session.read.parquet(*map(str, files)).write.parquet(str(out.with_suffix(".spark")))
            timings.setdefault((name, "spark"), []).append(time.perf_counter() - started)
            shutil.rmtree(out.with_suffix(".spark"))
            out.with_suffix(".duckdb.parquet").unlink()
    session.stop()
    shutil.rmtree(scratch, ignore_errors=True)

    print(f"raw copies of {args.raw}, {args.repeat} runs each, medians; Spark {args.master}")
    print()
    print("| source | files | rows | DuckDB s | Spark s | Spark / DuckDB |")
    print("|---|---:|---:|---:|---:|---:|")
    total = {"duckdb": 0.0, "spark": 0.0}
    for name, files in sources.items():
        duck = statistics.median(timings[name, "duckdb"])
        spark = statistics.median(timings[name, "spark"])
        total["duckdb"] += duck
        total["spark"] += spark
        print(f"| {name} | {len(files)} | {rows[name]:,} | {duck:.2f} | {spark:.2f} | {spark / duck:.1f}× |")
    ratio = total["spark"] / total["duckdb"]
    print(f"| **all** | | {sum(rows.values()):,} | {total['duckdb']:.2f} | {total['spark']:.2f} | {ratio:.1f}× |")


if __name__ == "__main__":
    main()
