"""What a workspace holds: each source's files, rows loaded and quarantined, values loaded as
NULL because they did not parse, the last run, and the size of every table (``personae status``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from personae.engine.base import Engine
from personae.golden.survivorship import KNOWN
from personae.segments.conflicts import ISSUES, policy
from personae.segments.imported import SOURCE_TABLE
from personae.segments.specs import IMPORTED, SegmentationSpec
from personae.sources.specs import SourceSpec


@dataclass(frozen=True)
class SourceStatus:
    name: str
    kind: str
    files: int
    rows_loaded: int
    quarantined: int
    last_loaded: datetime | None
    field_issues: int = 0
    """Values of loaded rows that did not parse and were loaded as NULL (``field_issues``)."""


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    started_at: datetime
    as_of: date
    engine: str
    status: str


@dataclass(frozen=True)
class ImportStatus:
    """An imported segmentation: its source, its conflict policy and what the last run made of its rows."""

    segmentation: str
    source: str
    policy: str
    rows: int
    """Rows its source holds."""
    members: int
    """People in its segments now."""
    kept_ours: int
    """Rows that conflict with a segment personae owns, not applied (policy ours)."""
    forced_theirs: int
    """Rows that forced a rule segment (policy theirs)."""
    unresolved: int
    """Rows that name no person or no known segment (the reasons are in ``import_issues``)."""


@dataclass
class WorkspaceStatus:
    sources: list[SourceStatus] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)
    last_run: RunSummary | None = None
    customers: int = 0
    """Known customers: people with an identifier other than an anonymous id."""
    anonymous: int = 0
    """Profiles seen only through anonymous ids."""
    imports: list[ImportStatus] = field(default_factory=list)


def _by_source(store: Engine, tables: set[str], table: str, sql: str) -> dict[str, tuple[Any, ...]]:
    """Rows of a per-source query keyed by source (empty when ``table`` does not exist yet)."""
    if table not in tables:
        return {}
    return {row[0]: tuple(row[1:]) for row in store.fetch_rows(sql)}


def _imports(store: Engine, tables: set[str], segmentations: tuple[SegmentationSpec, ...]) -> list[ImportStatus]:
    rows = _by_source(store, tables, SOURCE_TABLE, f"SELECT source, count(*) FROM {SOURCE_TABLE} GROUP BY source")
    members = _by_source(
        store,
        tables,
        "memberships",
        "SELECT segmentation, count(DISTINCT uid) FROM memberships WHERE exited_at IS NULL GROUP BY segmentation",
    )
    issues = _by_source(
        store,
        tables,
        ISSUES,
        "SELECT segmentation, count(*) FILTER (WHERE outcome = 'ours'), count(*) FILTER (WHERE outcome = 'theirs'), "
        f"count(*) FILTER (WHERE outcome = 'unresolved') FROM {ISSUES} GROUP BY segmentation",
    )
    shown = []
    for spec in segmentations:
        if spec.kind != IMPORTED or spec.source is None:
            continue
        ours, theirs, unresolved = issues.get(spec.name, (0, 0, 0))
        shown.append(
            ImportStatus(
                spec.name,
                spec.source,
                policy(spec),
                int(rows.get(spec.source, (0,))[0]),
                int(members.get(spec.name, (0,))[0]),
                int(ours),
                int(theirs),
                int(unresolved),
            )
        )
    return shown


def workspace_status(
    store: Engine, sources: tuple[SourceSpec, ...], segmentations: tuple[SegmentationSpec, ...] = ()
) -> WorkspaceStatus:
    status = WorkspaceStatus()
    tables = set(store.tables())
    for name in sorted(tables):
        status.tables[name] = store.row_count(name)
    ledger = _by_source(
        store,
        tables,
        "loaded_files",
        "SELECT source, count(*), sum(rows_loaded), max(loaded_at) FROM loaded_files WHERE status = 'loaded' "
        "GROUP BY source",
    )
    quarantined = _by_source(store, tables, "quarantine", "SELECT source, count(*) FROM quarantine GROUP BY source")
    issues = _by_source(store, tables, "field_issues", "SELECT source, count(*) FROM field_issues GROUP BY source")
    for spec in sources:
        files, rows, last = ledger.get(spec.name, (0, 0, None))
        count = quarantined.get(spec.name, (0,))[0]
        fields = int(issues.get(spec.name, (0,))[0])
        status.sources.append(
            SourceStatus(spec.name, spec.kind.value, int(files), int(rows or 0), int(count), last, fields)
        )
    if "profiles" in tables and KNOWN in dict(store.columns("profiles")):
        known, unknown = store.fetch_rows(
            f"SELECT count(*) FILTER (WHERE {KNOWN}), count(*) FILTER (WHERE NOT {KNOWN}) FROM profiles"
        )[0]
        status.customers, status.anonymous = int(known), int(unknown)
    status.imports = _imports(store, tables, segmentations)
    if "runs" in tables:
        rows = store.fetch_rows(
            "SELECT run_id, started_at, as_of, engine, status FROM runs ORDER BY run_id DESC LIMIT 1"
        )
        if rows:
            run_id, started, as_of, engine, state = rows[0]
            status.last_run = RunSummary(int(run_id), started, as_of, str(engine), str(state))
    return status
