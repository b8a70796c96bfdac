"""A whole demo run through the CLI with two (or more) versions of the code: per-step seconds, wall, peak RSS.

Made for issue 12 ("the house"), which moved code without changing behaviour; it compares
any code trees the same way. Each CODE is a git commit (its ``src/`` is taken with ``git
archive`` into ``OUT/house/code/NAME/``) or a source folder that holds ``personae/``;
``NAME=CODE`` names it in the table. Every process runs ``PYTHONPATH=SRC python -m
personae``, so the version under test is the one imported, never the installed one.

Each code first builds its own demo world as a user would (``personae init
OUT/house/world-N/NAME --demo --customers N``, default seed); the worlds' data files must
be byte for byte the same, or the benchmark stops. Each measured run starts from nothing:
a fresh folder with the world's ``personae.toml`` and ``data/`` copied in (not timed; no
store, ``raw/``, ``models/`` or lock), then

    /usr/bin/time -v python -m personae run --workspace RUN --as-of D

with D the demo's last day (line 1 of its ``personae.toml``). Per step the seconds are
the run summary's (the ``runs`` table of the store, in ms, as the CLI prints them to 0.1
s); "run" is the summary's whole run; wall, user + system CPU and peak RSS are
``/usr/bin/time``'s for the whole process (imports and the CLI included). Before each run
``personae --help`` is timed (wall, from outside): the cost of starting any command, which
the run summary does not see (its clock starts after the CLI's top-level imports; a step
that imports its libraries when it runs counts them, one imported at start-up does not).
Runs go round robin (A, B, A, B, ...) after ``--warmup`` unmeasured rounds, with the same
environment for every code (``--threads`` sets ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS``; ``PYTHONHASHSEED`` 0);
``/proc/loadavg`` is read before each run, since the machine may be shared.

The table gives each code's median and, in brackets, the lowest and highest of its runs,
then the last code's median over each earlier code's. A step's rows in and out must be
the same for every code (a check that the versions did the same work); the table shows
them once, or every code's when they differ.

    .venv/bin/python bench/house.py 5d01e23 2a65440 [--customers 20000] [--repeat 5] [--out bench/out]
    .venv/bin/python bench/house.py before=/tmp/old/src after=src --repeat 3
    .venv/bin/python bench/house.py f516542 HEAD --engine spark --customers 2000 --repeat 2

With ``--engine spark`` every run is ``personae run --engine spark`` (local mode, the
workspace's ``[engine.spark]`` defaults) and the summary is read from the warehouse's
``runs`` table (Parquet, through DuckDB); the JVM starts inside each measured process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TIMEOUT = 3600
"""Seconds one run may take before the benchmark gives up."""
REPO = Path(__file__).resolve().parent.parent
"""The repository commits are taken from."""
TIME_FIELDS = {
    "wall": "Elapsed (wall clock) time (h:mm:ss or m:ss)",
    "user": "User time (seconds)",
    "system": "System time (seconds)",
    "peak_kb": "Maximum resident set size (kbytes)",
}
"""Our names for the ``/usr/bin/time -v`` lines read."""


def source_tree(code: str, out: Path) -> tuple[str, Path]:
    """``NAME=CODE`` or ``CODE`` -> (name, folder holding ``personae/``); a commit is archived once."""
    name, _, ref = code.rpartition("=")
    folder = Path(ref)
    if folder.is_dir():
        src = folder / "src" if (folder / "src" / "personae").is_dir() else folder
        if not (src / "personae").is_dir():
            raise SystemExit(f"{folder} holds no personae package")
        return name or folder.resolve().parent.name, src.resolve()
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if commit.returncode != 0:
        raise SystemExit(f"{ref} is neither a folder nor a commit of {REPO}")
    short = commit.stdout.strip()
    target = out / "code" / short
    if not (target / "src" / "personae").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", short, "src"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return name or short, target / "src"


def environment(src: Path, threads: int) -> dict[str, str]:
    """The same environment for every code but ``PYTHONPATH``."""
    pinned = {name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    return {**os.environ, **pinned, "PYTHONHASHSEED": "0", "PYTHONPATH": str(src)}


def personae(src: Path, threads: int, *arguments: str, timed: Path | None = None) -> str:
    """``python -m personae ARGUMENTS`` with the code of ``src``; its standard output."""
    command = [sys.executable, "-m", "personae", *arguments]
    if timed is not None:
        command = ["/usr/bin/time", "-v", "-o", str(timed), *command]
    done = subprocess.run(
        command, env=environment(src, threads), capture_output=True, text=True, check=False, timeout=TIMEOUT
    )
    if done.returncode != 0:
        raise SystemExit(f"PYTHONPATH={src} {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def imported_from(src: Path, threads: int) -> Path:
    """Where ``import personae`` finds the package with this code's environment."""
    done = subprocess.run(
        [sys.executable, "-c", "import personae; print(personae.__file__)"],
        env=environment(src, threads),
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip()).parent


def data_digest(world: Path) -> str:
    """One digest of every file under ``world/data`` (names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in (world / "data").rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(world)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def demo_as_of(config: Path) -> str:
    """The demo's last day, from the comment ``personae init --demo`` writes on line 1
    ("# the demo data runs up to 2025-12-31: ..."; older versions wrote "--as-of 2025-12-31")."""
    found = re.search(r"(\d{4}-\d{2}-\d{2})", config.read_text().splitlines()[0])
    if not found:
        raise SystemExit(f"{config} does not start with the demo's as-of comment")
    return found.group(1)


def build_world(name: str, src: Path, world: Path, customers: int, threads: int) -> str:
    """``personae init WORLD --demo --customers N`` with this code (once); the digest of its data."""
    if not (world / "personae.toml").exists():
        shutil.rmtree(world, ignore_errors=True)
        personae(src, threads, "init", str(world), "--demo", "--customers", str(customers))
    return data_digest(world)


def fresh_workspace(world: Path, target: Path) -> Path:
    """A folder with the world's config and data only: a run from an empty store."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy(world / "personae.toml", target / "personae.toml")
    shutil.copytree(world / "data", target / "data")
    return target


def read_time(path: Path) -> dict[str, float]:
    """Wall, CPU seconds and peak RSS from a ``/usr/bin/time -v`` report."""
    lines = dict(line.strip().rsplit(": ", 1) for line in path.read_text().splitlines() if ": " in line)
    values: dict[str, float] = {}
    for key, label in TIME_FIELDS.items():
        text = lines[label]
        if key == "wall":
            parts = [float(part) for part in text.split(":")]
            values[key] = sum(part * 60**power for power, part in enumerate(reversed(parts)))
        else:
            values[key] = float(text)
    return values


def last_summary(workspace: Path, engine: str) -> dict[str, Any]:
    """The latest run's summary, from the DuckDB file or the Spark warehouse's ``runs`` folder."""
    import duckdb

    if engine == "spark":
        runs = f"read_parquet('{workspace / 'spark-warehouse' / 'runs'}/*.parquet')"
        store, read_only = ":memory:", False
    else:
        runs, store, read_only = "runs", str(workspace / "personae.duckdb"), True
    with duckdb.connect(store, read_only=read_only) as con:
        row = con.execute(f"SELECT summary FROM {runs} ORDER BY run_id DESC LIMIT 1").fetchall()[0]
    return dict(json.loads(row[0]))


def measure(src: Path, threads: int, world: Path, scratch: Path, as_of: str, engine: str = "duckdb") -> dict[str, Any]:
    """One fresh ``personae run``: the run summary from the store, ``/usr/bin/time``'s numbers and the load."""
    workspace = fresh_workspace(world, scratch / "run")
    load = Path("/proc/loadavg").read_text().split()[:3]
    started = time.perf_counter()
    personae(src, threads, "--help")
    start_up = time.perf_counter() - started
    report = scratch / "time.txt"
    personae(src, threads, "run", "--workspace", str(workspace), "--as-of", as_of, "--engine", engine, timed=report)
    process = read_time(report)
    summary = last_summary(workspace, engine)
    shutil.rmtree(workspace)
    if summary["errors"]:
        raise SystemExit(f"the run with {src} reported errors: {summary['errors']}")
    return {
        "load": [float(value) for value in load],
        "run": summary["seconds"],
        "steps": {step["name"]: step["seconds"] for step in summary["steps"]},
        "rows": {step["name"]: (step["rows_in"], step["rows_out"]) for step in summary["steps"]},
        "wall": process["wall"],
        "cpu": process["user"] + process["system"],
        "peak_mb": process["peak_kb"] / 1024,
        "start_up": start_up,
    }


def cell(values: list[float], digits: int = 1) -> str:
    """Median [lowest–highest]."""
    if not values:
        return "–"
    return f"{statistics.median(values):,.{digits}f} [{min(values):,.{digits}f}–{max(values):,.{digits}f}]"


def ratio(last: list[float], earlier: list[float]) -> str:
    if not last or not earlier or statistics.median(earlier) == 0:
        return "–"
    return f"{statistics.median(last) / statistics.median(earlier):.2f}"


def rows_cell(runs: dict[str, list[dict[str, Any]]], step: str) -> str:
    """A step's rows in → out: once when every code agrees, else per code."""
    seen = {name: {tuple(run["rows"].get(step, ())) for run in done} for name, done in runs.items()}
    shown = {name: ", ".join(f"{r[0]:,} → {r[1]:,}" for r in sorted(rows) if r) for name, rows in seen.items()}
    if len(set(shown.values())) == 1:
        return next(iter(shown.values()))
    return "; ".join(f"{name}: {text}" for name, text in shown.items()) + " (differ)"


def table(runs: dict[str, list[dict[str, Any]]]) -> None:
    names = list(runs)
    last = names[-1]
    steps = list(dict.fromkeys(step for done in runs.values() for run in done for step in run["steps"]))
    header = [f"{name} s" for name in names] + [f"{last} / {name}" for name in names[:-1]]
    print(f"| step | {' | '.join(header)} | rows in → out |")
    print(f"|---|{'---:|' * len(header)}---|")

    def row(label: str, pick: Any, digits: int = 1, rows: str = "") -> None:
        values = {name: [v for v in (pick(run) for run in done) if v is not None] for name, done in runs.items()}
        cells = [cell(values[name], digits) for name in names]
        cells += [ratio(values[last], values[name]) for name in names[:-1]]
        print(f"| {label} | {' | '.join(cells)} | {rows} |")

    for step in steps:
        row(step, lambda run, step=step: run["steps"].get(step), 2, rows_cell(runs, step))
    row("**run** (summary)", lambda run: run["run"])
    row("process wall (`time`)", lambda run: run["wall"])
    row("process CPU, user + sys", lambda run: run["cpu"])
    row("peak RSS, MB", lambda run: run["peak_mb"], 0)
    row("start-up: `personae --help` wall", lambda run: run["start_up"], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("codes", nargs="+", metavar="CODE", help="[NAME=]commit or source folder; the last is 'after'")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first")
    parser.add_argument("--threads", type=int, default=1, help="OMP/OpenBLAS/MKL threads, the same for every code")
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    if len(args.codes) < 2:
        parser.error("give at least two codes")
    out = args.out.resolve() / "house"
    codes = dict(source_tree(code, out) for code in args.codes)
    if len(codes) != len(args.codes):
        parser.error("two codes have the same name; name them NAME=CODE")
    worlds, digests = {}, {}
    for name, src in codes.items():
        found = imported_from(src, args.threads)
        if found != src / "personae":
            raise SystemExit(f"{name}: personae is imported from {found}, not {src / 'personae'}")
        worlds[name] = out / f"world-{args.customers}" / name
        digests[name] = build_world(name, src, worlds[name], args.customers, args.threads)
    if len(set(digests.values())) != 1:
        raise SystemExit(f"the demo worlds' data differ between codes: {digests}")
    as_of = demo_as_of(worlds[next(iter(codes))] / "personae.toml")
    scratch = out / "scratch"
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in codes}
    order = []
    for round_ in range(args.warmup + args.repeat):
        for name, src in codes.items():
            run = measure(src, args.threads, worlds[name], scratch, as_of, args.engine)
            kind = "warm-up" if round_ < args.warmup else f"run {round_ - args.warmup + 1}"
            print(
                f"{kind}, {name}: run {run['run']:.1f} s, wall {run['wall']:.1f} s, peak RSS {run['peak_mb']:,.0f} MB, "
                f"load before {' '.join(f'{v:.2f}' for v in run['load'])}",
                file=sys.stderr,
                flush=True,
            )
            if round_ >= args.warmup:
                runs[name].append(run)
                order.append((name, run))
    shutil.rmtree(scratch, ignore_errors=True)
    (out / f"runs-{args.customers}.json").write_text(json.dumps(runs, indent=1))
    described = ", ".join(f"{name} = `{src}`" for name, src in codes.items())
    print(
        f"\n### `personae run --engine {args.engine}` from an empty store, {args.customers:,}-customer demo "
        f"(as of {as_of}; {described}; "
        f"{args.repeat} runs each, round robin after {args.warmup} warm-up round(s); {args.threads} native "
        f"thread(s); median [lowest–highest])\n"
    )
    table(runs)
    print(f"\ndemo data identical for every code (sha256 {next(iter(digests.values()))[:12]})\n")
    print("| # | code | load before (1, 5, 15 min) | run s | wall s |")
    print("|---:|---|---|---:|---:|")
    for index, (name, run) in enumerate(order, 1):
        load = ", ".join(f"{v:.2f}" for v in run["load"])
        print(f"| {index} | {name} | {load} | {run['run']:.1f} | {run['wall']:.1f} |")


if __name__ == "__main__":
    main()
