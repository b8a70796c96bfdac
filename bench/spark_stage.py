"""Disk a Spark run holds in its warehouse's ``_stage`` (materialised results), per code.

For each CODE (a source folder holding ``personae/``, as in ``bench/house.py``), runs the demo
world of ``--customers`` on Spark local from an empty store, as a user would:

    personae init OUT/spark-stage/world-N --demo --customers N      (once, with the first code)
    python -m personae run --workspace RUN --engine spark           (a fresh copy of the world)

and samples, every ``--every`` seconds, the bytes under the warehouse's ``_stage`` and under the
whole warehouse. Prints a table: the run's seconds (its summary), the peak of ``_stage``, the
peak of the warehouse, and the warehouse left at the end (``_stage`` is deleted at close by
every code). Runs go round robin over the codes, ``--repeat`` rounds.

    flock /work/big/big.lock .venv/bin/python bench/spark_stage.py before=/tmp/old/src after=src \
        --customers 20000 --repeat 2 --out /work/big/bench-out
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from house import environment, fresh_workspace, last_summary


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 when it does not exist); files vanishing meanwhile count 0."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def run(src: Path, world: Path, scratch: Path, every: float) -> dict[str, Any]:
    """One fresh Spark run of the world, its ``_stage`` and warehouse sampled."""
    workspace = fresh_workspace(world, scratch / "run")
    warehouse = workspace / "spark-warehouse"
    command = [sys.executable, "-m", "personae", "run", "--workspace", str(workspace), "--engine", "spark"]
    process = subprocess.Popen(command, env=environment(src, 1), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peaks = {"stage": 0, "warehouse": 0}

    def sample() -> None:
        while process.poll() is None:
            peaks["stage"] = max(peaks["stage"], folder_bytes(warehouse / "_stage"))
            peaks["warehouse"] = max(peaks["warehouse"], folder_bytes(warehouse))
            time.sleep(every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()[-3000:]}")
    summary = last_summary(workspace, "spark")
    if summary["errors"]:
        raise SystemExit(f"the run with {src} reported errors: {summary['errors']}")
    return {
        "seconds": float(summary["seconds"]),
        "stage_mb": peaks["stage"] / 1e6,
        "warehouse_mb": peaks["warehouse"] / 1e6,
        "left_mb": folder_bytes(warehouse) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("codes", nargs="+", metavar="NAME=SRC", help="a name and a source folder holding personae/")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    codes = dict(code.split("=", 1) for code in args.codes)
    base = (args.out / "spark-stage").resolve()
    world = base / f"world-{args.customers}"
    if not (world / "personae.toml").exists():
        first = Path(next(iter(codes.values()))).resolve()
        init = [sys.executable, "-m", "personae", "init", str(world), "--demo", "--customers", str(args.customers)]
        subprocess.run(init, env=environment(first, 1), check=True, capture_output=True)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in codes}
    for _ in range(args.repeat):
        for name, src in codes.items():
            runs[name].append(run(Path(src).resolve(), world, base / "scratch", args.every))
    print(f"customers: {args.customers:,}; rounds: {args.repeat} (median; all runs in brackets)\n")
    print("| code | run s | `_stage` peak MB | warehouse peak MB | warehouse at the end MB |")
    print("|---|---:|---:|---:|---:|")
    for name, results in runs.items():
        cells = []
        for key in ("seconds", "stage_mb", "warehouse_mb", "left_mb"):
            values = [result[key] for result in results]
            shown = ", ".join(f"{value:,.0f}" for value in values)
            cells.append(f"{statistics.median(values):,.1f} [{shown}]")
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
