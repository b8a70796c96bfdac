"""Where a profile lookup spends its time: ``Workspace.profile`` run in this process over a
held store (as the server holds it), with every statement it sends to DuckDB timed.

The server answers ``GET /v1/profiles/{id}`` with ``Workspace.profile`` (identity/views.py
``person``), a dozen statements on a fresh cursor of the held store. wrk only sees their sum
plus HTTP and queueing; this splits the sum by statement, so a slow lookup names its query.
Timing wraps the engine's methods in this process only (``personae`` is not changed).
"""

from __future__ import annotations

import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from personae import Workspace
from personae.engine.duckdb import DuckDBEngine

WRAPPED = ("fetch_arrow", "has_table", "cursor")


@contextmanager
def timed_engine(times: dict[str, list[float]]) -> Iterator[None]:
    """Record the seconds of every ``DuckDBEngine`` call in ``WRAPPED`` under a short label."""
    originals: dict[str, Callable[..., Any]] = {name: getattr(DuckDBEngine, name) for name in WRAPPED}

    def wrap(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def timed(self: DuckDBEngine, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                times[label(name, args)].append(time.perf_counter() - started)

        return timed

    for name, original in originals.items():
        setattr(DuckDBEngine, name, wrap(name, original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(DuckDBEngine, name, original)


def label(method: str, args: tuple[Any, ...]) -> str:
    """``fetch_arrow`` calls by their SQL, literals blanked, cut to 90 characters."""
    if method != "fetch_arrow" or not args:
        return f"{method}({', '.join(map(repr, args))})" if method == "has_table" else f"{method}()"
    sql = re.sub(r"'[^']*'", "?", " ".join(str(args[0]).split()))
    return sql if len(sql) <= 90 else sql[:87] + "..."


def lookup_breakdown(root: Path, identifiers: list[str]) -> dict[str, Any]:
    """Median and total time per statement over one lookup of each identifier (warmed by one)."""
    workspace = Workspace(root)
    times: dict[str, list[float]] = defaultdict(list)
    totals: list[float] = []
    with workspace.open(command="bench/server_lookup.py"):
        workspace.profile(identifiers[0])
        with timed_engine(times):
            for identifier in identifiers:
                started = time.perf_counter()
                workspace.profile(identifier)
                totals.append(time.perf_counter() - started)
    whole = sum(totals)
    rows = [
        {
            "statement": name,
            "calls": len(values),
            "median_ms": 1000 * statistics.median(values),
            "max_ms": 1000 * max(values),
            "share": sum(values) / whole,
        }
        for name, values in sorted(times.items(), key=lambda item: -sum(item[1]))
    ]
    return {
        "lookups": len(totals),
        "median_ms": 1000 * statistics.median(totals),
        "max_ms": 1000 * max(totals),
        "statements": rows,
    }


def breakdown_table(title: str, found: dict[str, Any]) -> str:
    lines = [
        f"#### {title}: {found['lookups']} lookups in process, median {found['median_ms']:.1f} ms, "
        f"max {found['max_ms']:.1f} ms\n",
        "| statement (literals as ?) | calls | median ms | max ms | share of lookup time |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in found["statements"]:
        statement = row["statement"].replace("|", "\\|")
        lines.append(
            f"| `{statement}` | {row['calls']} | {row['median_ms']:.2f} | {row['max_ms']:.2f} | {row['share']:.0%} |"
        )
    return "\n".join(lines) + "\n"
