"""The cost curve (issue 18): a whole demo run per world size, each step's time and peak RSS.

For each size N (``--sizes``, default 20k, 100k, 300k, 1M, 3M) it does what a user would:

    personae init OUT/scale/world-N --demo --customers N        (once; kept for reruns)
    /usr/bin/time -v python -m personae run --workspace RUN     (as of the demo's last day, in its personae.toml)

on a fresh copy of the world's ``personae.toml`` and ``data/`` (no store), with
``[engine.duckdb] memory_limit`` set to ``--memory-limit`` (default 3GB; ``none`` leaves the
default). Step seconds are the run summary's (the store's ``runs`` table). The process's
RSS (children included) is sampled with psutil every ``--every`` seconds; a step's peak is
the highest sample inside its window, the windows laid back to back from the process's end
by the summary's step seconds (the CLI's start-up comes before the first step, its exit
after the last, both short). The whole process's peak is ``/usr/bin/time``'s.

The table gives, per step, seconds and peak RSS at each size, and the log-log slope of the
step's seconds against customers (least squares over the sizes run): 1.0 is linear, the
issue's target is ≤ 1.1. A PNG of the curves goes to ``--png`` (default bench/scale.png).
Worlds of 300,000 customers or more must run under ``flock /work/big/big.lock`` with
``--out`` under /work/big (the house's rule for big worlds).

    .venv/bin/python bench/scale.py --sizes 20000 100000 --out /work/big/scale
    flock /work/big/big.lock .venv/bin/python bench/scale.py --sizes 20000 100000 300000 1000000 --out /work/big/scale
    flock /work/big/big.lock .venv/bin/python bench/scale.py --sizes 3000000 --out /work/big/scale
    .venv/bin/python bench/scale.py --saved --sizes 20000 100000 300000 1000000 3000000 --out /work/big/scale

Each size's result is kept in OUT/results-<limit>.json as it finishes, so a long size can run
on its own and ``--saved`` draws the whole curve afterwards (say so when the sizes ran apart).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import duckdb
import psutil
import tomli_w

from house import environment, fresh_workspace, read_time

TIMEOUT = 4 * 3600
"""Seconds one run may take before the benchmark gives up."""
REPO = Path(__file__).resolve().parent.parent
SIZES = (20_000, 100_000, 300_000, 1_000_000, 3_000_000)


def run_personae(src: Path, *arguments: str, timed: Path | None = None, every: float = 0.25) -> list[tuple[float, int]]:
    """``python -m personae ARGUMENTS``; the (seconds since start, RSS bytes) samples of its process tree."""
    command = [sys.executable, "-m", "personae", *arguments]
    if timed is not None:
        command = ["/usr/bin/time", "-v", "-o", str(timed), *command]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=environment(src, 1), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    samples: list[tuple[float, int]] = []

    def sample() -> None:
        root = psutil.Process(process.pid)
        while process.poll() is None:
            total = 0
            try:
                for member in (root, *root.children(recursive=True)):
                    total += member.memory_info().rss
            except psutil.NoSuchProcess:
                pass
            samples.append((time.perf_counter() - started, total))
            time.sleep(every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate(timeout=TIMEOUT)
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err[-3000:]}")
    samples.append((time.perf_counter() - started, 0))
    return samples


def world(src: Path, out: Path, customers: int, memory_limit: str) -> Path:
    """The demo world of ``customers`` (built once), its ``memory_limit`` set."""
    folder = out / f"world-{customers}"
    if not (folder / "personae.toml").exists():
        run_personae(src, "init", str(folder), "--demo", "--customers", str(customers))
    config_path = folder / "personae.toml"
    config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    duckdb_config = config.setdefault("engine", {}).setdefault("duckdb", {})
    if memory_limit == "none":
        duckdb_config.pop("memory_limit", None)
    else:
        duckdb_config["memory_limit"] = memory_limit
    config_path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return folder


def measure(src: Path, world_folder: Path, scratch: Path, every: float, keep: bool = False) -> dict[str, Any]:
    """One fresh run of the world: step seconds, step peaks, the process's wall and peak.

    The run's workspace is deleted after, unless ``keep`` (for `bench/dashboard.py` on its store)."""
    workspace = fresh_workspace(world_folder, scratch / f"run-{world_folder.name}")
    load = [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    report = scratch / "time.txt"
    samples = run_personae(src, "run", "--workspace", str(workspace), timed=report, every=every)
    process = read_time(report)
    with duckdb.connect(str(workspace / "personae.duckdb"), read_only=True) as con:
        summary = json.loads(con.execute("SELECT summary FROM runs ORDER BY run_id DESC LIMIT 1").fetchall()[0][0])
    steps = {step["name"]: float(step["seconds"]) for step in summary["steps"]}
    end = samples[-1][0]
    peaks: dict[str, float] = {}
    for name in reversed(list(steps)):
        start = end - steps[name]
        inside = [rss for t, rss in samples if start <= t <= end] or [rss for t, rss in samples if t <= end][-1:]
        peaks[name] = max(inside, default=0) / 2**30
        end = start
    if not keep:
        subprocess.run(["rm", "-rf", str(workspace)], check=True)
    return {
        "load": load,
        "steps": steps,
        "step_peak_gb": peaks,
        "errors": summary["errors"],
        "run": float(summary["seconds"]),
        "wall": process["wall"],
        "peak_gb": process["peak_kb"] / 2**20,  # GiB, as the step peaks (the key keeps its old name)
    }


def slope(sizes: list[int], values: list[float]) -> float | None:
    """Least-squares slope of log(value) against log(size); None with fewer than two points."""
    points = [(math.log(s), math.log(v)) for s, v in zip(sizes, values, strict=True) if v > 0]
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else None


def table(results: dict[int, dict[str, Any]]) -> str:
    sizes = sorted(results)
    steps = list(dict.fromkeys(step for result in results.values() for step in result["steps"]))
    head = "| step | " + " | ".join(f"{s:,} s | peak GiB" for s in sizes) + " | slope |"
    lines = [head, "|---|" + "---:|---:|" * len(sizes) + "---:|"]

    def row(label: str, seconds: list[float], peaks: list[float]) -> None:
        found = slope(sizes, seconds)
        cells = " | ".join(f"{t:.1f} | {p:.2f}" for t, p in zip(seconds, peaks, strict=True))
        lines.append(f"| {label} | {cells} | {'—' if found is None else f'{found:.2f}'} |")

    for step in steps:
        row(
            step,
            [results[s]["steps"].get(step, 0.0) for s in sizes],
            [results[s]["step_peak_gb"].get(step, 0.0) for s in sizes],
        )
    row("whole run (wall, process peak)", [results[s]["wall"] for s in sizes], [results[s]["peak_gb"] for s in sizes])
    loads = ", ".join(f"{s:,}: {results[s]['load'][0]:.1f}" for s in sizes)
    return "\n".join(lines) + f"\n\nLoad average (1 min) at each run's start: {loads}."


def draw(results: dict[int, dict[str, Any]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results)
    steps = list(dict.fromkeys(step for result in results.values() for step in result["steps"]))
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    for step in steps:
        left.plot(sizes, [max(results[s]["steps"].get(step, 0.0), 0.01) for s in sizes], marker="o", label=step)
    left.plot(sizes, [results[s]["wall"] for s in sizes], marker="s", color="black", label="whole run")
    reference = results[sizes[0]]["wall"]
    left.plot(sizes, [reference * s / sizes[0] for s in sizes], linestyle=":", color="grey", label="linear")
    left.set(xscale="log", yscale="log", xlabel="customers", ylabel="seconds", title="time per step")
    left.legend(fontsize="small")
    right.plot(sizes, [results[s]["peak_gb"] for s in sizes], marker="s", color="black", label="process peak")
    for step in steps:
        right.plot(sizes, [results[s]["step_peak_gb"].get(step, 0.0) for s in sizes], marker=".", label=step)
    right.set(xscale="log", xlabel="customers", ylabel="peak RSS (GiB)", title="peak RSS")
    right.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(png, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--src", type=Path, default=REPO / "src", help="the code to run (its src/ folder)")
    parser.add_argument("--out", type=Path, default=Path("/work/big/scale"))
    parser.add_argument("--memory-limit", default="3GB", help="[engine.duckdb] memory_limit, or 'none'")
    parser.add_argument("--every", type=float, default=0.25, help="seconds between RSS samples")
    parser.add_argument("--png", type=Path, default=REPO / "bench" / "scale.png")
    parser.add_argument("--keep", action="store_true", help="keep each run's workspace (OUT/run-world-N)")
    parser.add_argument(
        "--saved",
        action="store_true",
        help="run nothing: the table and PNG of --sizes from OUT/results-<limit>.json (runs of the same code)",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    saved = args.out / f"results-{args.memory_limit}.json"
    results: dict[int, dict[str, Any]] = (
        {int(k): v for k, v in json.loads(saved.read_text()).items()} if saved.exists() else {}
    )
    for customers in [] if args.saved else args.sizes:
        folder = world(args.src.resolve(), args.out, customers, args.memory_limit)
        results[customers] = measure(args.src.resolve(), folder, args.out, args.every, args.keep)
        saved.write_text(json.dumps(results, indent=1))
        print(
            f"{customers:,} customers: {results[customers]['wall']:.0f} s, {results[customers]['peak_gb']:.2f} GiB",
            flush=True,
        )
    chosen = {s: results[s] for s in args.sizes}
    print(f"\n`{' '.join(sys.argv)}`, memory_limit {args.memory_limit}, {os.cpu_count()} cores\n")
    print(table(chosen))
    draw(chosen, args.png)
    print(f"\ncurve: {args.png}")


if __name__ == "__main__":
    main()
