"""Journal intake: records/s and fsyncs/s for 1, 8 and 64 concurrent appenders.

Each appender appends 100-event batches of ~300-byte Segment track calls (compact JSON)
as fast as its receipts come back, for ``--seconds`` per run, into a fresh journal on
the disk of ``--out``. Threads call ``Journal.append``; the asyncio rows run the same
number of coroutines on one event loop calling ``Journal.commit`` (the server's path).
Prints medians over ``--repeat`` runs, and the cost of the per-record JSON check alone
(the CPU ceiling of intake on one core).

    .venv/bin/python bench/journal.py [--seconds 3] [--repeat 3] [--out bench/out]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from personae.realtime import journal_files
from personae.realtime.journal import Journal

BATCH = 100


def batches(appender: int, count: int = 20) -> list[list[bytes]]:
    """Distinct ~300-byte track calls (message ids repeat after ``count`` batches; ingest dedupes)."""
    out = []
    for number in range(count):
        batch = []
        for k in range(BATCH):
            message = {
                "type": "track",
                "event": "Product Viewed",
                "messageId": f"{appender:03d}-{number:04d}-{k:03d}-5d1c0b4e",
                "userId": f"u{(appender * 7919 + k) % 100000:06d}",
                "timestamp": "2024-03-01T12:00:00.000Z",
                "properties": {"product_id": f"p{k:05d}", "category": "kitchen", "price": 19.5},
                "context": {"channel": "web", "ip": "203.0.113.7", "userAgent": "Mozilla/5.0 (X11; Linux x86_64)"},
            }
            batch.append(json.dumps(message, separators=(",", ":")).encode())
        out.append(batch)
    return out


def run_threads(folder: Path, appenders: int, seconds: float) -> tuple[float, int, int, int]:
    pools = [batches(appender) for appender in range(appenders)]
    stop = threading.Event()
    start = threading.Barrier(appenders + 1)
    with Journal(folder) as journal:

        def appender(pool: list[list[bytes]]) -> None:
            start.wait()
            number = 0
            while not stop.is_set():
                journal.append(pool[number % len(pool)])
                number += 1

        workers = [threading.Thread(target=appender, args=(pool,)) for pool in pools]
        for worker in workers:
            worker.start()
        start.wait()
        began = time.perf_counter()
        stop.wait(seconds)
        stop.set()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - began
        stats = journal.stats()
    return elapsed, stats.records, stats.commits, stats.appends


def run_async(folder: Path, appenders: int, seconds: float) -> tuple[float, int, int, int]:
    pools = [batches(appender) for appender in range(appenders)]

    async def main(journal: Journal) -> float:
        deadline = time.perf_counter() + seconds

        async def appender(pool: list[list[bytes]]) -> None:
            number = 0
            while time.perf_counter() < deadline:
                await journal.commit(pool[number % len(pool)])
                number += 1

        began = time.perf_counter()
        await asyncio.gather(*(appender(pool) for pool in pools))
        return time.perf_counter() - began

    with Journal(folder) as journal:
        elapsed = asyncio.run(main(journal))
        stats = journal.stats()
    return elapsed, stats.records, stats.commits, stats.appends


def check_rate() -> float:
    """Records/s of the per-record check and encoding alone, on one core."""
    pool = batches(0)
    began = time.perf_counter()
    for batch in pool * 5:
        journal_files.encode(batch)
    return len(pool) * 5 * BATCH / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"batches of {BATCH} events, {len(batches(0)[0][0])} bytes each; {args.seconds:g} s per run")
    print(f"JSON check alone: {check_rate():,.0f} records/s on one core\n")
    print("| appenders | API | records/s (median) | runs records/s | fsyncs/s (median) | appends per fsync |")
    print("|---:|---|---:|---|---:|---:|")
    for appenders, api, runner in [
        (1, "append (threads)", run_threads),
        (8, "append (threads)", run_threads),
        (64, "append (threads)", run_threads),
        (1, "commit (asyncio)", run_async),
        (64, "commit (asyncio)", run_async),
    ]:
        rates, syncs, batching = [], [], []
        for _ in range(args.repeat):
            folder = Path(tempfile.mkdtemp(dir=args.out)) / "journal"
            elapsed, records, commits, appends = runner(folder, appenders, args.seconds)
            shutil.rmtree(folder.parent)
            rates.append(records / elapsed)
            syncs.append(commits / elapsed)
            batching.append(appends / commits)
        runs = ", ".join(f"{rate:,.0f}" for rate in rates)
        print(
            f"| {appenders} | {api} | {statistics.median(rates):,.0f} | [{runs}] | "
            f"{statistics.median(syncs):,.0f} | {statistics.median(batching):.1f} |"
        )


if __name__ == "__main__":
    main()
