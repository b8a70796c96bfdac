"""What a workspace holds: each source's files, rows loaded and quarantined, the last run,
and the size of every table (``personae status``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from personae.engine.base import Engine
from personae.golden.survivorship import KNOWN
from personae.sources.specs import SourceSpec


@dataclass(frozen=True)
class SourceStatus:
    name: str
    kind: str
    files: int
    rows_loaded: int
    quarantined: int
    last_loaded: datetime | None


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    started_at: datetime
    as_of: date
    engine: str
    status: str


@dataclass
class WorkspaceStatus:
    sources: list[SourceStatus] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)
    last_run: RunSummary | None = None
    customers: int = 0
    """Known customers: people with an identifier other than an anonymous id."""
    anonymous: int = 0
    """Profiles seen only through anonymous ids."""


def _by_source(store: Engine, tables: set[str], table: str, sql: str) -> dict[str, tuple[Any, ...]]:
    """Rows of a per-source query keyed by source (empty when ``table`` does not exist yet)."""
    if table not in tables:
        return {}
    return {row[0]: tuple(row[1:]) for row in store.fetch_rows(sql)}


def workspace_status(store: Engine, sources: tuple[SourceSpec, ...]) -> WorkspaceStatus:
    status = WorkspaceStatus()
    tables = set(store.tables())
    for name in sorted(tables):
        status.tables[name] = int(store.scalar(f"SELECT count(*) FROM {name}"))
    ledger = _by_source(
        store,
        tables,
        "loaded_files",
        "SELECT source, count(*), sum(rows_loaded), max(loaded_at) FROM loaded_files WHERE status = 'loaded' "
        "GROUP BY source",
    )
    quarantined = _by_source(store, tables, "quarantine", "SELECT source, count(*) FROM quarantine GROUP BY source")
    for spec in sources:
        files, rows, last = ledger.get(spec.name, (0, 0, None))
        count = quarantined.get(spec.name, (0,))[0]
        status.sources.append(SourceStatus(spec.name, spec.kind.value, int(files), int(rows or 0), int(count), last))
    if "profiles" in tables and KNOWN in dict(store.columns("profiles")):
        known, unknown = store.fetch_rows(
            f"SELECT count(*) FILTER (WHERE {KNOWN}), count(*) FILTER (WHERE NOT {KNOWN}) FROM profiles"
        )[0]
        status.customers, status.anonymous = int(known), int(unknown)
    if "runs" in tables:
        rows = store.fetch_rows(
            "SELECT run_id, started_at, as_of, engine, status FROM runs ORDER BY run_id DESC LIMIT 1"
        )
        if rows:
            run_id, started, as_of, engine, state = rows[0]
            status.last_run = RunSummary(int(run_id), started, as_of, str(engine), str(state))
    return status
