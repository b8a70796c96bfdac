"""A cold Spark session's small work under JVM options: what the test suite's Spark tests pay.

Each run is a fresh process (a new local JVM, ``local[2]``): it starts a session, then records
three days of segment memberships for four people (``apply_assignments``, the statements a
segment step runs) twice. The first pass runs on a cold JVM, the second on a warm one. The
variants differ only in ``JAVA_TOOL_OPTIONS``, which every JVM started from the process reads;
the rounds run each variant in turn, so that a slow spell of the shared machine falls on all.

    .venv/bin/python bench/spark_cold.py [--repeat 3]

Prints the median seconds of each phase and each variant's total against the default's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

VARIANTS = {
    "default": "",
    "quick compiler": "-XX:TieredStopAtLevel=1",
    "one GC thread": "-XX:+UseSerialGC",
    "both (the suite's)": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}
DAYS = (date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31))
ASSIGNED = (
    {"a": "new", "b": "new", "c": "lead"},
    {"a": "active", "b": "new", "c": "lead", "d": "lead"},
    {"a": "active", "b": "dormant", "d": "new"},
)


def worker() -> dict[str, float]:
    import pyarrow as pa

    from personae.engine.spark import SparkEngine
    from personae.segments.memberships import apply_assignments

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        engine = SparkEngine(Path(folder) / "warehouse", master="local[2]", shuffle_partitions=2)
        engine.fetch_rows("SELECT 1")
        phases = {"session": time.perf_counter() - started}
        for phase in ("cold", "warm"):
            began = time.perf_counter()
            for day, people in zip(DAYS, ASSIGNED, strict=True):
                table = pa.table(
                    {
                        "uid": list(people),
                        "segmentation": ["lifecycle"] * len(people),
                        "segment": list(people.values()),
                        "score": [0.0] * len(people),
                    }
                )
                engine.register_arrow("_given", table)
                engine.materialise("_today", "SELECT * FROM _given")
                apply_assignments(engine, "_today", day)
            phases[phase] = time.perf_counter() - began
        engine.close()
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        sys.stdout.write(json.dumps(worker()) + "\n")
        return
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeat):
        for name, options in VARIANTS.items():
            env = os.environ.copy()
            env.pop("JAVA_TOOL_OPTIONS", None)
            if options:
                env["JAVA_TOOL_OPTIONS"] = options
            done = subprocess.run(
                [sys.executable, __file__, "--worker"], capture_output=True, text=True, env=env, check=True
            )
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"rounds: {args.repeat}, each variant in turn, a fresh process each (median seconds)\n")
    print("| JAVA_TOOL_OPTIONS | session | 3 days cold | 3 days warm | total | total / default |")
    print("|---|---:|---:|---:|---:|---:|")
    base = statistics.median(sum(run.values()) for run in runs["default"])
    for name, options in VARIANTS.items():
        medians = [statistics.median(run[phase] for run in runs[name]) for phase in ("session", "cold", "warm")]
        total = statistics.median(sum(run.values()) for run in runs[name])
        label = f"`{options}`" if options else "(none)"
        cells = " | ".join(f"{value:.1f}" for value in medians)
        print(f"| {label} ({name}) | {cells} | {total:.1f} | {total / base:.2f} |")


if __name__ == "__main__":
    main()
