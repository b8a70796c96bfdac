"""Each destination's sync state in the store: its cursor, counts, marks and dead letters.

Everything here is written in the same transaction as the delivery it records, so after a
crash the state says exactly what was committed: the batch in flight is sent again with the
same keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from personae.activation.feed import pending_count_sql
from personae.activation.specs import DestinationSpec
from personae.engine.base import Engine
from personae.engine.sql import identifier, literal, timestamp_sql
from personae.engine.tables import ensure_tables, step_tables


@dataclass(frozen=True)
class SyncState:
    """What ``personae destinations`` shows of one destination."""

    destination: str
    kind: str
    cursor: int
    last_sync_at: datetime | None
    status: str
    """``never``, ``ok`` or ``failed``."""
    error: str
    sent: int
    failed: int
    dead_lettered: int


def ensure_sync_tables(engine: Engine) -> None:
    ensure_tables(engine, step_tables("sync"))


def read_state(engine: Engine, spec: DestinationSpec) -> SyncState:
    rows = engine.fetch_rows(
        "SELECT cursor, last_sync_at, status, error, sent, failed, dead_lettered FROM sync_state "
        f"WHERE destination = {literal(spec.name)}"
    )
    if not rows:
        return SyncState(spec.name, spec.kind, 0, None, "never", "", 0, 0, 0)
    cursor, at, status, error, sent, failed, dead = rows[0]
    return SyncState(spec.name, spec.kind, int(cursor), at, str(status), str(error or ""), sent, failed, dead)


def write_state(engine: Engine, state: SyncState) -> None:
    engine.delete_where("sync_state", f"destination = {literal(state.destination)}")
    at = timestamp_sql(state.last_sync_at) if state.last_sync_at else "CAST(NULL AS TIMESTAMP)"
    engine.insert(
        "sync_state",
        ["destination", "kind", "cursor", "last_sync_at", "status", "error", "sent", "failed", "dead_lettered"],
        f"SELECT {literal(state.destination)}, {literal(state.kind)}, {state.cursor}, {at}, "
        f"{literal(state.status)}, {literal(state.error)}, {state.sent}, {state.failed}, {state.dead_lettered}",
    )


def record_marks(engine: Engine, destination: str, part: str, delivered: pa.Table) -> None:
    """Remember the digest and revision of each person's values just delivered under ``part``."""
    name = "_delivered_marks"
    engine.register_arrow(name, delivered.select(["uid", "digest", "revision"]))
    where = f"destination = {literal(destination)} AND part = {literal(part)}"
    engine.delete_where("sync_marks", f"{where} AND uid IN (SELECT uid FROM {name})")
    engine.insert(
        "sync_marks",
        ["destination", "part", "uid", "digest", "revision"],
        f"SELECT {literal(destination)}, {literal(part)}, uid, digest, revision FROM {name}",
    )


def record_dead_letters(
    engine: Engine, destination: str, items: list[dict[str, Any]], dead: dict[str, str], at: datetime
) -> int:
    """Keep the changes a destination refused for good, with the reason; returns how many."""
    rows = [
        {
            "destination": destination,
            "key": item["key"],
            "uid": item.get("uid"),
            "part": item["type"],
            "payload": json.dumps(item, default=str),
            "reason": dead[item["key"]],
            "at": at,
        }
        for item in items
        if item["key"] in dead
    ]
    if rows:
        name = "_dead_letters"
        engine.register_arrow(name, pa.Table.from_pylist(rows))
        engine.insert(
            "sync_dead_letters",
            ["destination", "key", "uid", "part", "payload", "reason", "at"],
            f"SELECT destination, key, uid, part, payload, reason, CAST({identifier('at')} AS TIMESTAMP) FROM {name}",
        )
    return len(rows)


def dead_letters(engine: Engine, destination: str, limit: int = 100) -> list[dict[str, Any]]:
    """The latest dead letters of a destination (newest first)."""
    if not engine.has_table("sync_dead_letters"):
        return []
    table = engine.fetch_arrow(
        f"SELECT key, uid, part, reason, {identifier('at')}, payload FROM sync_dead_letters "
        f"WHERE destination = {literal(destination)} ORDER BY {identifier('at')} DESC, key LIMIT {int(limit)}"
    )
    return list(table.to_pylist())


@dataclass(frozen=True)
class DestinationStatus:
    """One line of ``personae destinations``: the state, and how far behind the feed it is."""

    state: SyncState
    mode: str
    lag: int
    """Membership changes not yet delivered."""
    oldest_waiting: datetime | None
    """When the oldest of them happened."""


def destination_status(engine: Engine, spec: DestinationSpec) -> DestinationStatus:
    has_state = engine.has_table("sync_state")
    state = read_state(engine, spec) if has_state else SyncState(spec.name, spec.kind, 0, None, "never", "", 0, 0, 0)
    lag, oldest = 0, None
    if spec.selected_segments() and engine.has_table("membership_changes"):
        count, oldest = engine.fetch_rows(pending_count_sql(spec, state.cursor))[0]
        lag = int(count)
    return DestinationStatus(state, spec.mode, lag, oldest)
