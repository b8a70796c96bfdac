"""Where a small Spark run spends its time: engine calls per call site (a profile, not a benchmark).

On Spark every statement is a job with a fixed cost of a few tenths of a second, whatever its
size, so a small run's time is roughly its number of jobs. This script counts them: it runs the
pipeline on a demo world of ``--customers`` (``personae init --demo``) in this process, on Spark
local mode, ``--runs`` times in one JVM (the first run pays the JVM's start and its JIT warm-up;
later runs are the warm cost a test suite sees), each from an empty store. Every public
``SparkEngine`` method is wrapped; a call made inside another wrapped call counts once, for the
outer one. Per run it prints the wall time, the calls and the seconds in them; for the last run,
the call sites (the personae module and function that called the engine) by seconds.

    .venv/bin/python bench/spark_calls.py [--customers 200] [--runs 2] [--top 30]
"""

from __future__ import annotations

import argparse
import collections
import functools
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from personae import Workspace
from personae.engine import spark

WRAPPED = (
    "execute",
    "fetch_arrow",
    "fetch_batches",
    "create_table",
    "create_empty_table",
    "insert",
    "add_columns",
    "delete_where",
    "stage",
    "expose_folder",
    "materialise",
    "define",
    "scalar",
)
Sites = collections.defaultdict[str, list[float]]


def _site() -> str:
    """The innermost personae frame outside the engine package: ``module.py:function``."""
    frames = [f for f in traceback.extract_stack()[:-2] if "/personae/" in f.filename and "/engine/" not in f.filename]
    if not frames:
        return "?"
    frame = frames[-1]
    return f"{frame.filename.rsplit('/personae/', 1)[-1]}:{frame.name}"


def instrument(sites: Sites) -> None:
    depth = [0]

    def wrap(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    entry = sites[f"{name} @ {_site()}"]
                    entry[0] += 1
                    entry[1] += time.perf_counter() - started

        return timed

    for name in WRAPPED:
        setattr(spark.SparkEngine, name, wrap(name, getattr(spark.SparkEngine, name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    sites: Sites = collections.defaultdict(lambda: [0.0, 0.0])
    instrument(sites)
    with tempfile.TemporaryDirectory(prefix="spark-calls-") as scratch:
        world = Path(scratch) / "world"
        Workspace.init(world, demo=True, customers=args.customers)
        print("| run | wall s | engine calls | s in calls |\n|---:|---:|---:|---:|")
        for number in range(1, args.runs + 1):
            sites.clear()
            root = Path(scratch) / f"run-{number}"
            shutil.copytree(world, root)
            started = time.perf_counter()
            result = Workspace(root, engine="spark").run()
            wall = time.perf_counter() - started
            if result.errors:
                raise SystemExit(f"run {number} failed: {result.errors}")
            calls = sum(count for count, _ in sites.values())
            seconds = sum(spent for _, spent in sites.values())
            print(f"| {number} | {wall:.1f} | {calls:.0f} | {seconds:.1f} |")
    print(f"\nrun {args.runs}, call sites by seconds:\n\n| s | calls | call @ site |\n|---:|---:|---|")
    for name, (count, spent) in sorted(sites.items(), key=lambda item: -item[1][1])[: args.top]:
        print(f"| {spent:.2f} | {count:.0f} | `{name}` |")


if __name__ == "__main__":
    main()
