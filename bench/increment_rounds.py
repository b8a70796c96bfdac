"""The first increment after a whole run, several rounds, for one or more versions of the code.

    .venv/bin/python bench/increment_rounds.py BASE --rounds 3 --code new=src --code old=/tmp/old/src

BASE is a workspace right after a whole run (``personae run -w BASE -f json > BASE/full.json``),
kept as it is. Each round and each code, in turn, copies BASE to a scratch folder beside it
(the inputs hard-linked), appends a ``--share`` of new receipts and web events on the day after
its ``as_of`` (``bench/incremental.py``, the same seed every time, so every run gets the same
rows) and runs ``personae run --as-of <that day> -f json`` with that code on ``PYTHONPATH``.
The table gives each run's steps in seconds and, per code, the median, and the median's
share of the whole run in ``BASE/full.json`` when it is there.

A copy would miss the checksum cache (``.personae/checksums.json`` knows a file by its path,
inode and change time) and read every input again, which a workspace left where it is does
not: the copy's cache is moved to the copy's files, whose content is the same.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from incremental import append_increment, step_seconds

CACHE = Path(".personae") / "checksums.json"
KEPT = ("personae.duckdb", "personae.toml", "models", "out", "raw", ".personae")


def fresh_copy(base: Path, copy: Path) -> None:
    """``copy``: the store and state of ``base``, its inputs hard-linked, its checksum cache moved over."""
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir(parents=True)
    for name in KEPT:
        source = base / name
        if source.is_dir():
            shutil.copytree(source, copy / name)
        elif source.exists():
            shutil.copy2(source, copy / name)
    shutil.copytree(base / "data", copy / "data", copy_function=os.link)
    cache = copy / CACHE
    if cache.exists():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        moved = {}
        for key, entry in stored.get("files", {}).items():
            path = copy / Path(key).relative_to(base.resolve()) if key.startswith(str(base.resolve())) else None
            if path is not None and path.exists():
                found = path.stat()
                stamp = [found.st_size, found.st_ino, found.st_mtime_ns, found.st_ctime_ns]
                moved[str(path.resolve())] = {"stamp": stamp, "checksum": entry["checksum"]}
        cache.write_text(json.dumps({**stored, "files": moved}), encoding="utf-8")


def run_once(base: Path, src: Path, share: float, seed: int) -> tuple[dict[str, float], float]:
    """One increment on a fresh copy of ``base`` with the code in ``src``: step -> seconds, and
    the process's seconds."""
    copy = base.parent / f"{base.name}-increment"
    fresh_copy(base, copy)
    day = append_increment(copy, share=share, days=1, tag="rounds", seed=seed)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "personae", "run", "-w", str(copy), "--as-of", str(day), "-f", "json"],
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=False,
    )
    process = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the run with {src} failed:\n{done.stderr[-2000:]}")
    shutil.rmtree(copy, ignore_errors=True)
    return step_seconds(json.loads(done.stdout)), process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--code", action="append", required=True, metavar="LABEL=SRC")
    parser.add_argument("--share", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    codes = [(label, Path(src).resolve()) for label, _, src in (code.partition("=") for code in args.code)]
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, _ in codes}
    for number in range(1, args.rounds + 1):
        for label, src in codes:
            steps, process = run_once(args.base.resolve(), src, args.share, args.seed)
            runs[label].append(steps)
            total = sum(steps.values())
            print(f"round {number} {label}: steps {total:.1f} s, process {process:.1f} s", file=sys.stderr)
    full_path = args.base / "full.json"
    full = sum(step_seconds(json.loads(full_path.read_text())).values()) if full_path.exists() else None
    print(
        f"rounds: {args.rounds}, codes in turn; steps' seconds of each run"
        + (f"; whole run {full:.1f} s" if full else "")
    )
    print("\n| code | runs | median | median / whole run | traits | identity | models | segment | summaries |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, done in runs.items():
        totals = [sum(steps.values()) for steps in done]
        median = statistics.median(totals)
        share = f"{100 * median / full:.1f} %" if full else "–"
        parts = [f"{statistics.median(steps.get(name, 0.0) for steps in done):.1f}" for name in
                 ("traits", "identity", "models", "segment", "summaries")]  # fmt: skip
        print(f"| {label} | {', '.join(f'{t:.1f}' for t in totals)} | {median:.1f} | {share} | {' | '.join(parts)} |")


if __name__ == "__main__":
    main()
