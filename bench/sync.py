"""Sync throughput: N membership changes (default 1M) through the real delivery loop, beside
each destination's floor, a plain write of the same rows measured in the same run.

A bare DuckDB store gets ``membership_changes`` of N rows: each (uid, segmentation) pair
appears once, the first 80 % as entries and the last 20 % as exits of people who entered
before (the PostgreSQL members table starts each run holding those 20 %, so exits delete
real rows). Each destination is synced by ``sync_destination`` with its real class, from a
reset cursor, every run on a fresh target:

- file: the ``file`` kind writing Parquet deltas (no snapshot); floor: DuckDB's
  ``COPY (<the loop's SELECT of the same rows>) TO 'x.parquet'``.
- postgres: the ``postgres`` kind (its default batch of 100,000 changes, each batch one
  transaction of COPY plus one upsert/delete statement); floor: the same SELECT fetched once
  as Arrow, written as CSV by Arrow and COPYed into an empty temp table, then one
  ``INSERT … ON CONFLICT DO UPDATE`` of all of it into a members table holding the same 20 %,
  in one transaction.
- webhook: the ``webhook`` kind (1,000-change batches, signed, the cursor committed after each)
  to a receiver in a process of its own; floor: the same rows read once as Arrow and POSTed
  as JSON arrays of 1,000 by one httpx client.

Prints changes/s, the median of ``--runs`` runs and the ratio to the floor (kind time /
floor time), then where the postgres kind's time went in its last run.

    .venv/bin/python bench/sync.py [--changes 1000000] [--runs 3] [--dsn postgresql://…] [--no-postgres] [--no-webhook]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv

from personae.activation.delivery import sync_destination
from personae.activation.destination import DeliveryContext
from personae.activation.feed import membership_batch_sql
from personae.activation.kinds.file import FileDestination, FileDestinationSpec
from personae.activation.kinds.postgres import PostgresDestinationSpec
from personae.activation.kinds.postgres_destination import PostgresDestination
from personae.activation.kinds.postgres_tables import CHANGE_COLUMNS, STAGED_MEMBERS, Shape, create_sql, staging_sql
from personae.activation.kinds.webhook import WebhookDestination, WebhookDestinationSpec
from personae.activation.state import ensure_sync_tables
from personae.engine.duckdb import DuckDBEngine
from personae.engine.tables import ensure_tables

SEGMENTATIONS = ("rfm", "lifecycle")
NOW = datetime(2026, 1, 1)


def make_store(engine: DuckDBEngine, changes: int) -> None:
    """``membership_changes`` of ``changes`` rows: distinct (uid, segmentation) pairs, 80 % entries then 20 % exits."""
    ensure_tables(engine, ["membership_changes"])
    exits_from = int(changes * 0.8)
    engine.execute(
        "INSERT INTO membership_changes (sequence, uid, segmentation, segment, change, score, changed_at) "
        "SELECT n, 'p' || lpad(CAST(n // 2 AS VARCHAR), 9, '0'), "
        "CASE WHEN n % 2 = 0 THEN 'rfm' ELSE 'lifecycle' END, "
        "['Champions', 'Loyal', 'At Risk', 'Hibernating', 'New'][CAST(1 + hash(n) % 5 AS BIGINT)], "
        f"CASE WHEN n > {exits_from} THEN 'exited' ELSE 'entered' END, CAST(hash(n) % 1000 AS DOUBLE) / 10, "
        f"TIMESTAMP '2025-12-31' - INTERVAL (n % 86400) SECOND FROM range(1, {changes + 1}) AS t(n)"
    )


def spec_keys(kind: str, **keys: Any) -> dict[str, Any]:
    return {"name": f"bench_{kind}", "kind": kind, "segmentations": list(SEGMENTATIONS), **keys}


def reset(engine: DuckDBEngine, name: str) -> None:
    ensure_sync_tables(engine)
    engine.execute(f"DELETE FROM sync_state WHERE destination = '{name}'")


def median_of(runs: int, prepare: Callable[[], None], measure: Callable[[], None]) -> list[float]:
    took = []
    for _ in range(runs):
        prepare()
        started = time.perf_counter()
        measure()
        took.append(time.perf_counter() - started)
    return took


def file_rows(engine: DuckDBEngine, scratch: Path, changes: int, runs: int) -> list[dict[str, Any]]:
    out = scratch / "file"
    file_spec = FileDestinationSpec.model_validate(spec_keys("file", path=str(out), format="parquet", snapshot=False))
    context = DeliveryContext(scratch)

    def fresh() -> None:
        shutil.rmtree(out, ignore_errors=True)
        reset(engine, file_spec.name)

    def kind() -> None:
        result = sync_destination(engine, file_spec, FileDestination(file_spec, context), NOW)
        assert result.status == "ok" and result.sent == changes, result

    floor_file = scratch / "floor.parquet"

    def floor() -> None:
        engine.execute(f"COPY ({membership_batch_sql(file_spec, 0, changes)}) TO '{floor_file}' (FORMAT parquet)")

    return [
        row("file", "file kind: Parquet deltas via the loop", changes, median_of(runs, fresh, kind)),
        row("file", "floor: COPY (SELECT …) TO 'x.parquet'", changes, median_of(runs, fresh, floor)),
    ]


@contextmanager
def timed_phases() -> Iterator[dict[str, float]]:
    """Wrap the postgres kind's steps to see where a sync's time goes (store read = the rest)."""
    spent: dict[str, float] = defaultdict(float)
    originals = {}
    for name in ("open", "_copy", "send"):
        original = getattr(PostgresDestination, name)
        originals[name] = original

        def wrapper(self: Any, *args: Any, _original: Any = original, _name: str = name) -> Any:
            started = time.perf_counter()
            try:
                return _original(self, *args)
            finally:
                spent[_name] += time.perf_counter() - started

        setattr(PostgresDestination, name, wrapper)
    try:
        yield spent
    finally:
        for name, original in originals.items():
            setattr(PostgresDestination, name, original)


def postgres_rows(
    engine: DuckDBEngine, dsn: str, changes: int, runs: int, batch_size: int = 0
) -> tuple[list[dict[str, Any]], str]:
    schema = f"personae_bench_{os.getpid()}"
    sized = {"batch_size": batch_size} if batch_size else {}
    pg_spec = PostgresDestinationSpec.model_validate(spec_keys("postgres", dsn=dsn, schema=schema, **sized))
    exits = engine.fetch_arrow(
        f"SELECT * FROM ({membership_batch_sql(pg_spec, 0, changes)}) AS c WHERE change = 'exited'"
    )
    context = DeliveryContext(Path("."))
    connection = psycopg.connect(dsn, autocommit=True)
    members = PostgresDestination(pg_spec, context).members
    floor_members = Shape(schema, "floor_members", members.columns, members.key)

    def preload(shape: Shape) -> None:
        """The target table holding the pairs that exit, as if they entered earlier."""
        connection.execute(f"DROP TABLE IF EXISTS {schema}.{shape.table}")
        connection.execute(create_sql(shape))
        rows = exits.select(["uid", "segment_id", "segmentation", "segment", "score", "changed_at", "key"])
        with connection.cursor().copy(
            f"COPY {schema}.{shape.table} (uid, segment_id, segmentation, segment, score, entered_at, last_key, "
            "last_sequence, updated_at) FROM STDIN (FORMAT csv)"
        ) as copy:
            buffer = io.BytesIO()
            table = rows.append_column("last_sequence", pa.array([0] * rows.num_rows))
            table = table.append_column("updated_at", pa.array(["2025-01-01 00:00:00+00"] * rows.num_rows))
            pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="all_valid"))
            copy.write(buffer.getvalue())
        connection.execute(f"VACUUM ANALYZE {schema}.{shape.table}")

    def fresh_kind() -> None:
        reset(engine, pg_spec.name)
        preload(members)

    def kind() -> None:
        result = sync_destination(engine, pg_spec, PostgresDestination(pg_spec, context), NOW)
        assert result.status == "ok" and result.sent == changes, result

    def floor() -> None:
        table = engine.fetch_arrow(membership_batch_sql(pg_spec, 0, changes))
        buffer = io.BytesIO()
        pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="all_valid"))
        with connection.transaction():
            connection.execute(staging_sql(STAGED_MEMBERS, CHANGE_COLUMNS))
            with connection.cursor().copy(f"COPY {STAGED_MEMBERS} FROM STDIN (FORMAT csv)") as copy:
                copy.write(buffer.getvalue())
            connection.execute(
                f"INSERT INTO {schema}.floor_members AS m SELECT uid, segment_id, segmentation, segment, "
                "score, changed_at, key, sequence, now() FROM "
                f"{STAGED_MEMBERS} ON CONFLICT (uid, segment_id) DO UPDATE SET score = EXCLUDED.score, "
                "entered_at = EXCLUDED.entered_at, last_key = EXCLUDED.last_key, "
                "last_sequence = EXCLUDED.last_sequence, updated_at = EXCLUDED.updated_at"
            )

    connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    connection.execute(f"CREATE SCHEMA {schema}")
    try:
        with timed_phases() as spent:
            kind_times = median_of(runs, fresh_kind, kind)
        left = connection.execute(f"SELECT count(*) FROM {schema}.{members.table}").fetchone()
        floor_times = median_of(runs, lambda: preload(floor_members), floor)
    finally:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.close()
    per_run = {name: seconds / runs for name, seconds in spent.items()}
    store = statistics.median(kind_times) - per_run["open"] - per_run["send"]
    breakdown = (
        f"postgres kind, mean a run: store reads and the loop's commits {store:.2f} s, open {per_run['open']:.2f} s, "
        f"send {per_run['send']:.2f} s (of which Arrow CSV + COPY {per_run['_copy']:.2f} s, "
        f"upsert/delete statements {per_run['send'] - per_run['_copy']:.2f} s); "
        f"members left after a sync: {left[0] if left else '?'}"
    )
    return [
        row("postgres", f"postgres kind: batches of {pg_spec.batch_size:,} via the loop", changes, kind_times),
        row("postgres", "floor: one COPY into an empty table + one upsert", changes, floor_times),
    ], breakdown


RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else the answer's second write waits for a delayed ACK (40 ms)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@contextmanager
def receiver() -> Iterator[str]:
    """A real HTTP receiver in a process of its own (keep-alive, answers 200 to every POST)."""
    process = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{process.stdout.readline().strip()}/hook"
    finally:
        process.kill()
        process.wait()


def webhook_rows(engine: DuckDBEngine, url: str, changes: int, runs: int) -> list[dict[str, Any]]:
    """N changes in 1,000-change batches to a local receiver through the loop (signed, keyed,
    the cursor committed after each batch), beside a floor: the same rows read once as Arrow,
    each 1,000 of them as a JSON array POSTed by one httpx client."""
    spec = WebhookDestinationSpec.model_validate(spec_keys("webhook", url=url, secret_env="BENCH_SECRET"))
    context = DeliveryContext(Path("."), {"BENCH_SECRET": "bench-secret"})

    def fresh() -> None:
        reset(engine, spec.name)

    def kind() -> None:
        result = sync_destination(engine, spec, WebhookDestination(spec, context), NOW)
        assert result.status == "ok" and result.sent == changes, result

    def floor() -> None:
        rows = engine.fetch_arrow(membership_batch_sql(spec, 0, changes))
        with httpx.Client() as client:
            for start in range(0, rows.num_rows, spec.batch_size):
                body = json.dumps(rows.slice(start, spec.batch_size).to_pylist(), default=str).encode()
                client.post(url, content=body, headers={"Content-Type": "application/json"}).raise_for_status()

    return [
        row(
            "webhook",
            f"webhook kind: batches of {spec.batch_size:,} via the loop",
            changes,
            median_of(runs, fresh, kind),
        ),
        row(
            "webhook",
            f"floor: the same rows as JSON arrays of {spec.batch_size:,}, one httpx client",
            changes,
            median_of(runs, fresh, floor),
        ),
    ]


def row(target: str, what: str, changes: int, took: list[float]) -> dict[str, Any]:
    return {"target": target, "what": what, "changes": changes, "took": took, "median": statistics.median(took)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dsn", default=os.environ.get("PERSONAE_TEST_PG_DSN", ""))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-webhook", action="store_true")
    parser.add_argument("--no-file", action="store_true")
    parser.add_argument("--pg-batch", type=int, default=0, help="the postgres kind's batch_size (default: its own)")
    args = parser.parse_args()
    notes = []
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        with DuckDBEngine(scratch / "store.duckdb") as engine:
            started = time.perf_counter()
            make_store(engine, args.changes)
            notes.append(f"store of {args.changes:,} changes made in {time.perf_counter() - started:.1f} s")
            rows = [] if args.no_file else file_rows(engine, scratch, args.changes, args.runs)
            if not args.no_webhook:
                with receiver() as url:
                    rows += webhook_rows(engine, url, args.changes, args.runs)
            if args.dsn and not args.no_postgres:
                pg, breakdown = postgres_rows(engine, args.dsn, args.changes, args.runs, args.pg_batch)
                rows += pg
                notes.append(breakdown)
    print("| target | what | changes | median s | changes/s | ratio to floor | runs s |")
    print("|---|---|---:|---:|---:|---:|---|")
    floors = {r["target"]: r["median"] for r in rows if r["what"].startswith("floor")}
    for r in rows:
        ratio = r["median"] / floors[r["target"]]
        runs = ", ".join(f"{t:.2f}" for t in r["took"])
        print(
            f"| {r['target']} | {r['what']} | {r['changes']:,} | {r['median']:.2f} | "
            f"{r['changes'] / r['median']:,.0f} | {ratio:.2f} | {runs} |"
        )
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
