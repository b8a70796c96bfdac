"""Ingest of customer records with optional typed columns: this tree against a baseline commit.

Issue 17 moved the check of optional typed values (birth date, opt-ins, counts, update time)
out of the per-row reason, where a bad one quarantined the row, into the file's exceptions
pass, where it becomes a ``field_issues`` row and the record loads. This measures what that
costs: N customer rows as CSV, one in a hundred with a birth date that is not a date, loaded
by ``Workspace.run(only="ingest")`` with this tree's ``src`` and with the baseline commit's
(``git archive``), each run in a fresh process, alternating, several times.

    .venv/bin/python bench/field_issues.py [--rows 1000000] [--repeat 3] [--baseline 5990f59]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

SOURCE = {
    "name": "crm",
    "kind": "customers",
    "columns": {"record_id": "id", "birth_date": "dob", "updated_at": "changed", "email_opens": "opens"},
    "identifiers": {"email": "mail"},
}
ROOT = Path(__file__).resolve().parent.parent


def generate(path: Path, rows: int) -> None:
    import duckdb

    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    query = (
        "SELECT 'K' || i AS id, "
        "CASE WHEN i % 100 = 0 THEN '19450493' ELSE strftime(DATE '1940-01-01' + (i % 25000)::INT, '%Y-%m-%d') END "
        "AS dob, strftime(TIMESTAMP '2024-01-01' + to_seconds(i % 31536000), '%Y-%m-%d %H:%M:%S') AS changed, "
        "CAST(i % 40 AS VARCHAR) AS opens, (i % 2 = 0) AS email_opt_in, (i % 3 = 0) AS sms_opt_in, "
        "'person' || i || '@example.com' AS mail "
        f"FROM range({rows}) AS r(i)"
    )
    duckdb.connect().execute(f"COPY ({query}) TO '{path}' (HEADER, DELIMITER ',')").fetchall()


def worker(data: Path, scratch: Path) -> dict[str, float]:
    import tomli_w

    from personae import Workspace

    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    source = {**SOURCE, "columns": {**SOURCE["columns"], "email_opt_in": "email_opt_in", "sms_opt_in": "sms_opt_in"}}
    (scratch / "personae.toml").write_text(tomli_w.dumps({"sources": [{**source, "path": str(data)}]}))
    started = time.perf_counter()
    report = Workspace(scratch).run(only="ingest")
    seconds = time.perf_counter() - started
    assert not report.errors, report.errors
    return {
        "seconds": seconds,
        "loaded": float(report.sources[0].total("rows_loaded")),
        "quarantined": float(report.sources[0].total("rows_quarantined")),
    }


def baseline_src(commit: str, out: Path) -> Path:
    folder = out / f"baseline-{commit}"
    if not (folder / "src").exists():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], capture_output=True, check=True)
        (folder / "src.tar").write_bytes(archive.stdout)
        with tarfile.open(folder / "src.tar") as tar:
            tar.extractall(folder, filter="data")
    return folder / "src"


def run_once(src: Path, data: Path, scratch: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    result = subprocess.run(
        [sys.executable, __file__, "--worker", str(data), str(scratch)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if result.returncode != 0:
        raise SystemExit(f"run with {src} failed:\n{result.stderr}")
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", default="5990f59")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--worker", nargs=2, metavar=("DATA", "SCRATCH"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(Path(args.worker[0]), Path(args.worker[1]))))
        return
    out = args.out.resolve()
    data = out / f"customers-{args.rows}.csv"
    generate(data, args.rows)
    runners = {f"baseline {args.baseline}": baseline_src(args.baseline, out), "this tree": ROOT / "src"}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in runners}
    for _ in range(args.repeat):  # alternating, so both see the same noise
        for name, src in runners.items():
            runs[name].append(run_once(src, data, out / "scratch-fields"))
    shutil.rmtree(out / "scratch-fields", ignore_errors=True)
    base = statistics.median(run["seconds"] for run in runs[next(iter(runners))])
    print(f"rows: {args.rows:,} customer records, 1 in 100 with birth date '19450493'; runs: {args.repeat}\n")
    print("| runner | median s | runs s | loaded | quarantined | time / baseline |")
    print("|---|---:|---|---:|---:|---:|")
    for name, measured in runs.items():
        median = statistics.median(run["seconds"] for run in measured)
        print(
            f"| {name} | {median:.2f} | {[round(run['seconds'], 2) for run in measured]} | "
            f"{measured[0]['loaded']:,.0f} | {measured[0]['quarantined']:,.0f} | {median / base:.2f}× |"
        )


if __name__ == "__main__":
    main()
