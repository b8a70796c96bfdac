"""Incremental runs: what a run costs after ~1 % new events, step by step, against a full run.

    .venv/bin/python bench/incremental.py WORKSPACE [--share 0.01] [--days 3] [--tag inc1] [--seed 1]

WORKSPACE is a demo workspace (``personae init W --demo --customers N``) that has run once
(``personae run -w W -f json > full.json``). This script appends new files in the demo's own
formats, picked up by the sources' globs: ``data/pos/orders_<tag>.csv`` with its lines
``data/pos/items_<tag>.csv`` and ``data/web/events-<tag>.jsonl``. They are copies of a
``share`` of the existing receipts and web events, moved to the ``days`` days after the
workspace's ``as_of`` (new receipt numbers and message ids); one in ten receipts and one in
ten web visitors belongs to a new person (a new loyalty card, a new anonymous id). It prints
the new as-of day to pass to the increment run:

    personae run -w W --as-of <printed day> -f json > inc.json

``--table full.json inc.json`` prints the per-step table (seconds in each run, and the
ratio increment / full) that bench/RESULTS.md keeps.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any


def _as_of(root: Path) -> date:
    config = tomllib.loads((root / "personae.toml").read_text(encoding="utf-8"))
    value = config["workspace"]["as_of"]
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _moved(stamp: datetime, start: date, days: int, rng: random.Random) -> datetime:
    """The same time of day on one of the ``days`` days after ``start``."""
    day = start + timedelta(days=rng.randrange(1, days + 1))
    return datetime.combine(day, stamp.time())


def append_pos(root: Path, share: float, start: date, days: int, tag: str, rng: random.Random) -> int:
    """New in-store receipts and their lines; returns the receipts written."""
    folder = root / "data" / "pos"
    orders: list[dict[str, str]] = []
    for path in sorted(folder.glob("orders_*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            orders += [row for row in csv.DictReader(handle) if rng.random() < share]
    renamed: dict[str, dict[str, str]] = {}
    for number, row in enumerate(orders):
        new_id = f"{tag}-{number:07d}"
        stamp = _moved(datetime.fromisoformat(row["sold_at"]), start, days, rng)
        card = row["card_no"]
        if card and rng.random() < 0.1:
            card = f"9{rng.randrange(10**10, 10**11)}"  # a new loyalty card: a new person
        renamed[row["receipt"]] = {**row, "receipt": new_id, "sold_at": stamp.isoformat(sep=" "), "card_no": card}
    fields = ["receipt", "sold_at", "total", "store", "card_no", "promo"]
    with (folder / f"orders_{tag}.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(renamed.values())
    lines: list[dict[str, str]] = []
    for path in sorted(folder.glob("items_*.csv")):
        if path.name == f"items_{tag}.csv":
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            lines += [
                {**row, "receipt": renamed[row["receipt"]]["receipt"]}
                for row in csv.DictReader(handle)
                if row["receipt"] in renamed
            ]
    with (folder / f"items_{tag}.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["receipt", "line", "sku", "category", "qty", "line_total"])
        writer.writeheader()
        writer.writerows(lines)
    return len(renamed)


def append_web(root: Path, share: float, start: date, days: int, tag: str, rng: random.Random) -> int:
    """New web events (copies of a share of the old ones, moved); returns the events written."""
    folder = root / "data" / "web"
    picked: list[dict[str, Any]] = []
    for path in sorted(folder.glob("events-*.jsonl")):
        if path.name == f"events-{tag}.jsonl":
            continue
        with path.open(encoding="utf-8") as handle:
            picked += [json.loads(line) for line in handle if line.strip() and rng.random() < share]
    strangers: dict[str, str] = {}
    with (folder / f"events-{tag}.jsonl").open("w", encoding="utf-8") as handle:
        for number, event in enumerate(picked):
            stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).replace(tzinfo=None)
            event["timestamp"] = _moved(stamp, start, days, rng).isoformat(timespec="milliseconds") + "Z"
            event["messageId"] = f"{tag}-{number:08d}"
            anonymous = event.get("anonymousId")
            if anonymous and (anonymous in strangers or rng.random() < 0.1):
                event["anonymousId"] = strangers.setdefault(anonymous, f"{tag}-anon-{len(strangers)}")
                event.pop("userId", None)
                event.pop("traits", None)
            handle.write(json.dumps(event) + "\n")
    return len(picked)


def append_increment(root: Path, *, share: float, days: int, tag: str, seed: int, start: date | None = None) -> date:
    """Write one increment after ``start`` (default: the workspace's as_of); returns the new as-of day."""
    rng = random.Random(seed)
    start = start or _as_of(root)
    receipts = append_pos(root, share, start, days, tag, rng)
    events = append_web(root, share, start, days, tag, rng)
    sys.stderr.write(f"{tag}: {receipts:,} receipts, {events:,} web events after {start}\n")
    return start + timedelta(days=days)


def step_seconds(report: Any) -> dict[str, float]:
    """Step -> seconds of a run's report (``personae run -f json``, or its list of steps)."""
    steps = report["steps"] if isinstance(report, dict) else report
    return {step["name"]: float(step["seconds"]) for step in steps}


def _steps(path: Path) -> dict[str, float]:
    return step_seconds(json.loads(path.read_text(encoding="utf-8")))


def table(full: Path, increment: Path) -> str:
    """The markdown table of step seconds: full run, increment run, ratio."""
    before, after = _steps(full), _steps(increment)
    lines = ["| step | full s | increment s | increment / full |", "|---|---:|---:|---:|"]
    for name, seconds in before.items():
        then = after.get(name, 0.0)
        ratio = f"{then / seconds:.2f}" if seconds > 0.005 else "–"
        lines.append(f"| {name} | {seconds:.2f} | {then:.2f} | {ratio} |")
    total, total_after = sum(before.values()), sum(after.values())
    lines.append(f"| **all** | {total:.2f} | {total_after:.2f} | {total_after / total:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace", type=Path, nargs="?")
    parser.add_argument("--share", type=float, default=0.01)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--tag", default="inc1")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--after", type=date.fromisoformat, help="write the increment after this day")
    parser.add_argument("--table", nargs=2, type=Path, metavar=("FULL_JSON", "INCREMENT_JSON"))
    args = parser.parse_args()
    if args.table:
        sys.stdout.write(table(*args.table) + "\n")
        return
    if args.workspace is None:
        parser.error("give a workspace, or --table FULL_JSON INCREMENT_JSON")
    new_as_of = append_increment(args.workspace, share=args.share, days=args.days, tag=args.tag, seed=args.seed,
                                 start=args.after)  # fmt: skip
    sys.stdout.write(f"{new_as_of}\n")


if __name__ == "__main__":
    main()
