"""The overview page's numbers: people, sources, quarantine reasons, runs with step times.

Everything comes from small tables the pipeline keeps (``profiles``, ``loaded_files``,
``quarantine``, ``runs``); nothing reads ``events``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from personae.dashboard import charts
from personae.engine.base import Engine
from personae.golden.survivorship import KNOWN

RUNS_SHOWN = 12
REASONS_SHOWN = 10
QUOTED = r"'[^']*'"
"""Quoted values in a quarantine reason are folded, so reasons of one kind count together."""


@dataclass
class Overview:
    ran: bool
    """Whether a run has made profiles yet."""
    customers: int = 0
    anonymous: int = 0
    sources: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    as_of: str | None = None
    charts: dict[str, charts.Option] = field(default_factory=dict)


def overview(store: Engine, source_names: list[str]) -> Overview:
    """The numbers of the overview (``ran`` is False, and the rest empty, before the first run)."""
    shown = Overview(ran=store.has_table("profiles"))
    if shown.ran:
        known, unknown = store.fetch_rows(
            f"SELECT count(*) FILTER (WHERE {KNOWN}), count(*) FILTER (WHERE NOT {KNOWN}) FROM profiles"
        )[0]
        shown.customers, shown.anonymous = int(known), int(unknown)
    shown.sources = _sources(store, source_names)
    if store.has_table("quarantine"):
        shown.reasons = [
            {"source": source, "reason": reason, "rows": int(rows)}
            for source, reason, rows in store.fetch_rows(
                f"SELECT source, regexp_replace(reason, {_quoted()}, '''…''', 'g') AS kind, count(*) FROM quarantine "
                f"GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT {REASONS_SHOWN}"
            )
        ]
    shown.runs = _runs(store)
    if shown.runs:
        shown.as_of = shown.runs[0]["as_of"]
        ordered = list(reversed(shown.runs))
        steps = [step for step in ordered[-1]["steps"]]
        shown.charts["runs"] = charts.stacked_bars(
            "Step times of the latest runs (seconds)",
            [f"run {run['run_id']}" for run in ordered],
            {step: [run["steps"].get(step, 0.0) for run in ordered] for step in steps},
            name="s",
        )
    if shown.sources:
        shown.charts["sources"] = charts.stacked_bars(
            "Rows per source",
            [source["name"] for source in shown.sources],
            {
                "loaded": [source["rows_loaded"] for source in shown.sources],
                "quarantined": [source["quarantined"] for source in shown.sources],
            },
        )
    return shown


def _quoted() -> str:
    return "'" + QUOTED.replace("'", "''") + "'"


def _sources(store: Engine, names: list[str]) -> list[dict[str, Any]]:
    loaded: dict[str, tuple[Any, ...]] = {}
    if store.has_table("loaded_files"):
        loaded = {
            row[0]: row[1:]
            for row in store.fetch_rows(
                "SELECT source, count(*) FILTER (WHERE status = 'loaded'), "
                "coalesce(sum(rows_loaded) FILTER (WHERE status = 'loaded'), 0), "
                "count(*) FILTER (WHERE status = 'failed'), max(loaded_at) FROM loaded_files GROUP BY source"
            )
        }
    quarantined: dict[str, int] = {}
    if store.has_table("quarantine"):
        quarantined = {
            str(s): int(n) for s, n in store.fetch_rows("SELECT source, count(*) FROM quarantine GROUP BY 1")
        }
    shown = []
    for name in names:
        files, rows, failed, last = loaded.get(name, (0, 0, 0, None))
        shown.append(
            {
                "name": name,
                "files": int(files),
                "rows_loaded": int(rows),
                "failed_files": int(failed),
                "quarantined": quarantined.get(name, 0),
                "last_loaded": last,
            }
        )
    return shown


def _runs(store: Engine) -> list[dict[str, Any]]:
    """The latest runs, newest first, with each step's seconds."""
    if not store.has_table("runs"):
        return []
    found = []
    for run_id, started, as_of, engine, status, summary in store.fetch_rows(
        f"SELECT run_id, started_at, as_of, engine, status, summary FROM runs ORDER BY run_id DESC LIMIT {RUNS_SHOWN}"
    ):
        data = json.loads(summary) if summary else {}
        found.append(
            {
                "run_id": int(run_id),
                "started_at": started,
                "as_of": str(as_of),
                "engine": engine,
                "status": status,
                "seconds": data.get("seconds"),
                "steps": {step["name"]: float(step["seconds"]) for step in data.get("steps", [])},
                "errors": data.get("errors", []),
            }
        )
    return found
