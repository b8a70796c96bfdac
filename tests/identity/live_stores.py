"""Stores for the live identity tests: events loaded as ingest loads them, batch runs, snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from personae.engine import DuckDBEngine, Engine
from personae.engine.sql import literal, timestamp_sql
from personae.engine.tables import IDENTIFIER_TYPES, ensure_tables, step_tables
from personae.identity.live import LiveRecord
from personae.identity.resolve import IdentityResult, resolve_identities
from personae.identity.specs import IdentitySettings
from personae.sources.normalise import identifier_sql

SALT = "fixed-salt"
REGION = "US"
NULL = "CAST(NULL AS VARCHAR)"


def new_store(path: Path) -> Engine:
    """An empty store with the ingest and identity tables and a known UID salt."""
    engine = DuckDBEngine(path)
    ensure_tables(engine, [*step_tables("ingest"), *step_tables("identity")])
    engine.insert("workspace_settings", ["key", "value"], f"SELECT 'uid_salt', {literal(SALT)}")
    return engine


def load_events(engine: Engine, records: Sequence[LiveRecord], extra_types: Sequence[str]) -> None:
    """Insert records into ``events`` as ingest does for an events source: the event id is the
    record id, identifiers go through ``identifier_sql``, custom types into ``extra_ids``."""
    for record in records:
        raw = {t: literal(v) for t, v in record.identifiers.items() if v is not None}
        columns = [identifier_sql(t, raw.get(t, NULL), REGION) for t in IDENTIFIER_TYPES]
        extra = ", ".join(f"{literal(t)}, {identifier_sql(t, raw.get(t, NULL), REGION)}" for t in extra_types)
        engine.insert(
            "events",
            ["event_id", "source", "type", "ts", *IDENTIFIER_TYPES, "extra_ids"],
            f"SELECT {literal(record.record_id)}, {literal(record.source)}, 'track', {timestamp_sql(record.ts)}, "
            + ", ".join(columns)
            + (f", json_object({extra})" if extra else ", CAST(NULL AS VARCHAR)"),
        )


def run_batch(
    engine: Engine, settings: IdentitySettings, extra_types: Sequence[str], at: datetime, root: Path
) -> IdentityResult:
    return resolve_identities(
        engine, settings, extra_types=extra_types, phone_region=REGION, at=at.isoformat(sep=" "), models=root
    )


def state(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The identity tables live and batch must agree on, sorted."""
    return {
        "identity_map": sorted(engine.fetch_rows("SELECT id_type, id_value, uid FROM identity_map")),
        "record_map": sorted(engine.fetch_rows("SELECT source, record_id, uid FROM record_map")),
        "merges": sorted(engine.fetch_rows('SELECT old_uid, new_uid, "at", reason FROM merges'), key=repr),
    }


def uid_of(engine: Engine, record: LiveRecord) -> str | None:
    where = f"source = {literal(record.source)} AND record_id = {literal(record.record_id)}"
    rows = engine.fetch_rows(f"SELECT uid FROM record_map WHERE {where}")
    assert len(rows) <= 1
    return str(rows[0][0]) if rows else None
