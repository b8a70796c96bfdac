"""Where live processing's time goes: micro-batches of N events applied in process, phase by phase.

Not a benchmark of the server (``bench/server.py`` is): this drives ``LiveProcessor`` directly
on a copy of a resolved store, so the cost of one micro-batch can be split into its phases
(ingest's mapping SQL, identity, the store writes, traits, rules). Each batch holds N ``track``
events of N different people the store knows (their ``user_id``), dated on the store's as-of
day, as ``bench/server.py``'s background load sends them; the first batch (which reads the
store) is left out. It prints, per batch size, the median and p99 time of a batch, the events
per second that gives, and each phase's median.

    PYTHONPATH=src .venv/bin/python bench/live_batches.py STORE [--sizes 1,50,500] [--batches 20]

STORE is a workspace after a run (``bench/server.py`` caches them under
``/tmp/personae-bench-server/stores``); it is copied, never changed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import personae.realtime.live as live
from personae import Workspace
from personae.realtime.intake import Intake
from personae.realtime.messages import journal_line, parse_call

PHASES = ("new_events", "write_traits", "scored_profiles", "current_segments", "record_changes", "save_cursor")


def timed(phases: dict[str, list[float]], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            phases.setdefault(name, []).append((time.perf_counter() - started) * 1000)

    return wrapper


def line(user: str, day: str) -> bytes:
    body = {"userId": user, "event": "Product Viewed", "messageId": uuid.uuid4().hex, "timestamp": f"{day}T12:00:00Z"}
    call = parse_call("track", json.dumps(body).encode(), content_encoding=None, received_at=datetime.now(UTC))
    return journal_line(call.messages[0], source="app")


def measure(store: Path, size: int, batches: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "store"
        shutil.copytree(store, root, ignore=shutil.ignore_patterns("journal", "server.json"))
        workspace = Workspace(root)
        day = str(workspace.config.workspace.as_of or datetime.now(UTC).date())
        phases: dict[str, list[float]] = {}
        for name in PHASES:
            setattr(live, name, timed(phases, name, getattr(live, name)))
        with workspace.open():
            intake = Intake(root, workspace.config.sources)
            processor = live.LiveProcessor(workspace.config, intake.journals, lambda: workspace.engine(write=True))
            rows = processor._rows["app"]
            rows.rows = timed(phases, "live_rows", rows.rows)  # type: ignore[method-assign]
            users = (
                workspace.sql(
                    f"SELECT DISTINCT id_value FROM identity_map WHERE id_type = 'user_id' "
                    f"USING SAMPLE reservoir({size * (batches + 1)} ROWS) REPEATABLE (1)"
                )
                .column(0)
                .to_pylist()
            )
            took = []
            for batch in range(batches + 1):
                chunk = [users[(batch * size + n) % len(users)] for n in range(size)]  # few stores have enough
                intake.journal("app").append([line(user, day) for user in chunk])
                started = time.perf_counter()
                processor.process_pending()
                if batch:
                    took.append((time.perf_counter() - started) * 1000)
                else:
                    phases.clear()
            processor.stop()
            intake.close()
    took.sort()
    median = statistics.median(took)
    return {
        "size": size,
        "median_ms": median,
        "p99_ms": took[min(len(took) - 1, round(0.99 * (len(took) - 1)))],
        "events_per_s": size / median * 1000,
        "phases": {name: statistics.median(values) for name, values in phases.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--sizes", default="1,50,500")
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    results = [measure(args.store, int(size), args.batches) for size in args.sizes.split(",")]
    names = [name for name in ("live_rows", *PHASES) if any(name in r["phases"] for r in results)]
    header = "| events a batch | batch median ms | batch p99 ms | events/s | " + " | ".join(names) + " |"
    print(header)
    print("|" + "---:|" * (4 + len(names)))
    for r in results:
        cells = " | ".join(f"{r['phases'].get(name, 0):.1f}" for name in names)
        print(f"| {r['size']} | {r['median_ms']:.1f} | {r['p99_ms']:.1f} | {r['events_per_s']:,.0f} | {cells} |")


if __name__ == "__main__":
    main()
