"""Ingestion throughput and memory against DuckDB's own reader (the engine's limit).

Generates N order rows (default 10M) as CSV and as Parquet, then for each format runs each
of these in a fresh process, in rounds (one run of each per round, in turn):

- personae: a workspace with one `orders` source, `Workspace.run(only="ingest")` (map, type-check,
  normalise, quarantine, raw copy, dedupe, ledger; one transaction);
- bare duckdb: `CREATE TABLE t AS SELECT * FROM read_csv(...)` / `read_parquet(...)`
  into a database file;
- floor: the two writes the store's shape requires and nothing else, in a database file:
  the raw copy (a CSV file as text, a Parquet file with its own types, to Parquet, as personae
  keeps them on DuckDB) and an insert of the typed rows, renamed
  only, into personae's 27-column ``events`` table. No check, normalisation, quarantine or
  dedupe: no ingest that keeps a raw copy and an ``events`` table can be faster.

Prints medians of wall time (rows/s) and CPU time (user + system, the process's own), peak
RSS, the ratio to bare, and personae / floor in wall and CPU time: each round's ratio and
their median (the target is ≤ 1.25×). On the shared machine one runner's wall time varied
by up to half from one round to the next (bench/RESULTS.md, 2026-12-07): the rounds and the
CPU time are two more views of the same noise, not a cure for it.

    .venv/bin/python bench/ingest.py [--rows 10000000] [--repeat 3] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SOURCE = {
    "name": "orders",
    "kind": "orders",
    "columns": {"order_id": "receipt", "ts": "sold_at", "amount": "total", "channel": "'store'"},
    "identifiers": {"loyalty_id": "card_no", "email": "email"},
}


def generate(folder: Path, rows: int) -> None:
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    query = (
        "SELECT 'R' || i AS receipt, "
        "TIMESTAMP '2024-01-01' + to_seconds((i * 7919) % 31536000) AS sold_at, "
        "round(((i * 104729) % 50000) / 100.0 + 1, 2) AS total, "
        "'C' || (i % 1000003) AS card_no, "
        "CASE WHEN i % 3 = 0 THEN 'Person' || (i % 500009) || '@Example.com' END AS email, "
        "(i % 5 = 0) AS promo "
        f"FROM range({rows}) AS r(i)"
    )
    connection = duckdb.connect()
    for fmt in ("csv", "parquet"):
        target = folder / f"orders.{fmt}"
        if not target.exists():
            options = "(HEADER, DELIMITER ',')" if fmt == "csv" else "(FORMAT parquet)"
            connection.execute(f"COPY ({query}) TO '{target}' {options}").fetchall()


def worker(kind: str, fmt: str, data: Path, scratch: Path) -> dict[str, float]:
    import duckdb
    import tomli_w

    from personae import Workspace

    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    started = time.perf_counter()  # imports excluded: both runners pay them once per process
    before = resource.getrusage(resource.RUSAGE_SELF)
    if kind == "bare":
        connection = duckdb.connect(str(scratch / "bare.duckdb"))
        reader = "read_csv" if fmt == "csv" else "read_parquet"
        connection.execute(f"CREATE TABLE t AS SELECT * FROM {reader}('{data / f'orders.{fmt}'}')").fetchall()
        loaded = connection.execute("SELECT count(*) FROM t").fetchall()[0][0]
        connection.close()
    elif kind == "floor":
        loaded = _floor(fmt, data / f"orders.{fmt}", scratch)
    else:
        (scratch / "personae.toml").write_text(
            tomli_w.dumps({"sources": [{**SOURCE, "path": str(data / f"orders.{fmt}")}]})
        )
        workspace = Workspace(scratch)
        report = workspace.run(only="ingest")
        assert not report.errors, report.errors
        loaded = report.sources[0].total("rows_loaded")
    seconds = time.perf_counter() - started
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = used.ru_utime + used.ru_stime - before.ru_utime - before.ru_stime
    return {"seconds": seconds, "cpu": cpu, "rows": float(loaded), "peak_mb": used.ru_maxrss / 1024}


def _floor(fmt: str, path: Path, scratch: Path) -> int:
    """The raw copy and the events insert alone (see the module docstring)."""
    import duckdb

    from personae.engine.duckdb import DuckDBEngine
    from personae.sources.ingest import ensure_store

    engine = DuckDBEngine(scratch / "floor.duckdb")
    ensure_store(engine)
    engine.close()
    connection = duckdb.connect(str(scratch / "floor.duckdb"))
    text = f"read_csv('{path}', all_varchar = true)" if fmt == "csv" else f"read_parquet('{path}')"
    connection.execute(
        f"COPY (SELECT * FROM {text}) TO '{scratch / 'raw.parquet'}' (FORMAT parquet, COMPRESSION snappy)"
    ).fetchall()
    typed = f"read_csv('{path}')" if fmt == "csv" else f"read_parquet('{path}')"
    # An insertion-ordered insert from a CSV scan leaves its rows to the checkpoint at close
    # (5-6 s more for 10M rows); unordered it writes them as it goes. The floor takes the cheaper.
    connection.execute(f"SET preserve_insertion_order = {'false' if fmt == 'csv' else 'true'}")
    loaded = connection.execute(
        "INSERT INTO events (event_id, source, type, name, ts, loyalty_id, email, order_id, amount, promo) "
        f"SELECT receipt, 'orders', 'order', 'Order Completed', sold_at, card_no, email, receipt, total, promo "
        f"FROM {typed}"
    ).fetchall()[0][0]
    connection.close()
    return int(loaded)


KINDS = ("bare", "floor", "personae")


def run_worker(kind: str, fmt: str, data: Path, out: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--worker", kind, fmt, str(data), str(out / f"scratch-{kind}")],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{kind} {fmt} failed:\n{result.stderr}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def measure(kinds: tuple[str, ...], fmt: str, data: Path, out: Path, repeat: int) -> dict[str, list[dict[str, float]]]:
    """``repeat`` rounds, each running every kind once in turn: a slow spell of the shared
    machine then falls on all of them alike, not on one kind's runs."""
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for _ in range(repeat):
        for kind in kinds:
            runs[kind].append(run_worker(kind, fmt, data, out))
    return runs


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--worker", nargs=4, metavar=("KIND", "FORMAT", "DATA", "SCRATCH"))
    args = parser.parse_args()
    if args.worker:
        kind, fmt, data, scratch = args.worker
        print(json.dumps(worker(kind, fmt, Path(data), Path(scratch))))
        return
    data = (args.out / f"data-{args.rows}").resolve()
    generate(data, args.rows)
    print(f"rows: {args.rows:,}; rounds: {args.repeat}, each running bare, floor and personae in turn")
    print("(median wall and CPU time, max peak RSS; personae / floor: median of the rounds' ratios)\n")
    print("| format | runner | median s | runs s | median CPU s | rows/s | peak RSS MB | runner / bare (rows/s) |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    ratios: dict[tuple[str, str], list[float]] = {}
    names = ("bare duckdb", "floor: raw copy + events insert only", "personae")
    for fmt in ("csv", "parquet"):
        runs = measure(KINDS, fmt, data, args.out, args.repeat)
        bare = median_of(runs["bare"], "seconds")
        for kind, name in zip(KINDS, names, strict=True):
            seconds = median_of(runs[kind], "seconds")
            rows = runs[kind][0]["rows"]
            peak = max(run["peak_mb"] for run in runs[kind])
            every = [round(run["seconds"], 2) for run in runs[kind]]
            print(
                f"| {fmt} | {name} | {seconds:.2f} | {every} | {median_of(runs[kind], 'cpu'):.2f} | "
                f"{rows / seconds:,.0f} | {peak:,.0f} | {bare / seconds:.2f}× |"
            )
        for measure_name in ("seconds", "cpu"):
            pairs = zip(runs["personae"], runs["floor"], strict=True)
            ratios[fmt, measure_name] = [ours[measure_name] / floor[measure_name] for ours, floor in pairs]
    print("\n| format | personae / floor | each round | median |")
    print("|---|---|---|---:|")
    for (fmt, measure_name), each in ratios.items():
        label = "wall" if measure_name == "seconds" else "CPU"
        print(f"| {fmt} | {label} | {[round(ratio, 2) for ratio in each]} | {statistics.median(each):.2f}× |")
    shutil.rmtree(args.out / "scratch-bare", ignore_errors=True)
    shutil.rmtree(args.out / "scratch-floor", ignore_errors=True)
    shutil.rmtree(args.out / "scratch-personae", ignore_errors=True)


if __name__ == "__main__":
    main()
