"""Read commands on a Spark workspace against the same commands on a DuckDB workspace.

Issue 18 asks that every read command take at most 3 s on a workspace whose store Spark
wrote. Each command runs as a user runs it: ``python -m personae ...`` in a fresh process,
so the time includes Python's start, the imports and opening the store. The Spark
workspace is read through DuckDB over its Parquet folders (``engine/parquet_store.py``),
with no JVM; the DuckDB workspace of the same demo world is the baseline, measured in the
same run, alternating, medians of ``--repeat`` runs.

The two workspaces are built once under ``--folder`` (the demo world at ``--customers``,
one run on each engine) and reused by later runs of this script.

    .venv/bin/python bench/spark_reads.py [--customers 5000] [--repeat 5] [--folder /work/big/spark-reads]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 3.0


def personae(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "personae", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done


def build(folder: Path, customers: int) -> None:
    """The demo world, run once on DuckDB and once on Spark (local mode)."""
    spark, duck = folder / "spark", folder / "duckdb"
    if (spark / ".personae" / "store.json").exists() and (duck / "personae.duckdb").exists():
        return
    shutil.rmtree(spark, ignore_errors=True)
    shutil.rmtree(duck, ignore_errors=True)
    personae("init", str(spark), "--demo", "--customers", str(customers))
    shutil.copytree(spark, duck)
    for root, engine in ((duck, "duckdb"), (spark, "spark")):
        started = time.perf_counter()
        personae("run", "-w", str(root), "--engine", engine, "-f", "json")
        print(f"built {root} on {engine} in {time.perf_counter() - started:.0f} s", flush=True)


def commands(root: Path) -> dict[str, list[str]]:
    last_run = personae("sql", "SELECT max(as_of) FROM runs", "-w", str(root), "-f", "csv")
    as_of = date.fromisoformat(last_run.stdout.split()[-1][:10])
    first = "SELECT min(id_value) FROM identity_map WHERE id_type = 'email'"
    person = personae("sql", first, "-w", str(root), "-f", "csv")
    email = person.stdout.split()[-1]
    return {
        "status": ["status"],
        "segment list": ["segment", "list"],
        "personas rfm": ["personas", "rfm"],
        "profile email:…": ["profile", f"email:{email}"],
        "transitions lifecycle": [
            *("transitions", "lifecycle"),
            *("--from", str(as_of), "--to", str(as_of)),  # one run: one recorded day
        ],
        'sql "SELECT count(*) FROM profiles"': ["sql", "SELECT count(*) FROM profiles"],
    }


def timed(args: list[str], root: Path) -> float:
    started = time.perf_counter()
    personae(*args, "-w", str(root))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=Path("/work/big/spark-reads"))
    options = parser.parse_args()
    build(options.folder, options.customers)
    spark, duck = options.folder / "spark", options.folder / "duckdb"
    chosen = commands(duck)
    print(f"\n{options.customers:,} customers, medians of {options.repeat} runs (seconds)\n")
    print("| command | DuckDB workspace | Spark workspace | ratio | ≤ 3 s |")
    print("|---|---:|---:|---:|---|")
    for name, args in chosen.items():
        times: dict[str, list[float]] = {"duckdb": [], "spark": []}
        for _ in range(options.repeat):
            times["duckdb"].append(timed(args, duck))
            times["spark"].append(timed(args, spark))
        base, on_spark = statistics.median(times["duckdb"]), statistics.median(times["spark"])
        verdict = "yes" if on_spark <= TARGET_SECONDS else "no"
        print(f"| `{name}` | {base:.2f} | {on_spark:.2f} | {on_spark / base:.2f} | {verdict} |", flush=True)


if __name__ == "__main__":
    main()
