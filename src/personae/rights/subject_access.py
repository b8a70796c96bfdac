"""Subject access (GDPR art. 15): everything personae holds about one person, as one JSON document.

The document is built from the same per-table conditions erasure deletes by
(:func:`personae.rights.sweep.person_rows`), so what an export shows is what an erasure
removes: identifiers and the identity graph, records and events, the golden record and
traits, scores, segments with their history and changes, next actions, consent where it
is recorded, and the destinations they were sent to (with what and when).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.errors import PersonNotFound
from personae.rights.sweep import Person, find_person, person_rows

SECTIONS: dict[str, tuple[str, ...]] = {
    "identity": ("identity_map", "identifiers", "record_map", "merges", "identity_edges", "identity_cuts"),
    "records": ("customer_records", "survey_responses", "imported_memberships"),
    "events": ("events",),
    "profile": ("profiles", "traits", "trait_shares", "customer_summary"),
    "scores": ("predictions", "rfm_scores"),
    "segments": ("memberships", "membership_changes", "imported_overrides"),
    "actions": ("next_actions", "action_exposures"),
    "destinations": ("sync_marks", "sync_dead_letters"),
    "data_quality": ("quarantine", "identifier_issues", "field_issues"),
}
"""Where each table goes in the document; any other table of theirs goes under ``other``."""


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return [{key: _plain(value) for key, value in row.items()} for row in table.to_pylist()]


def _sent(engine: Engine, person: Person) -> list[dict[str, Any]]:
    """The destinations that were sent their segment changes: each with how many and the last time."""
    if not person.uids or not engine.has_table("sync_state") or not engine.has_table("membership_changes"):
        return []
    listed = ", ".join(literal(uid) for uid in person.uids)
    rows = engine.fetch_rows(
        "SELECT s.destination, s.kind, count(*), max(c.changed_at) FROM sync_state s "
        f"JOIN membership_changes c ON c.sequence <= s.cursor AND c.uid IN ({listed}) GROUP BY ALL ORDER BY 1"
    )
    return [
        {"destination": name, "kind": kind, "segment_changes_sent": int(sent), "last_change_at": _plain(last)}
        for name, kind, sent, last in rows
    ]


def export_person(
    engine: Engine, id_type: str, value: str, item_parents: Mapping[str, str], *, requested: str, by: str
) -> dict[str, Any]:
    """The whole document for the person ``id_type:value`` (already normalised)."""
    person = find_person(engine, id_type, value)
    if not person.found:
        raise PersonNotFound(f"nobody is known by {requested}; nothing is held under it")
    tables = person_rows(engine, person, item_parents)
    document: dict[str, Any] = {
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "exported_by": by,
        "requested": requested,
        "uids": person.uids,
        "identifiers": [{"type": t, "value": v} for t, v in person.identifiers],
        "sent_to": _sent(engine, person),
    }
    placed: set[str] = set()
    for section, names in SECTIONS.items():
        held = {name: _rows(tables[name]) for name in names if name in tables}
        placed |= held.keys()
        document[section] = held
    document["consent"] = {name: _rows(rows) for name, rows in tables.items() if name.startswith("consent")}
    placed |= document["consent"].keys()
    document["other"] = {name: _rows(rows) for name, rows in tables.items() if name not in placed}
    return document


def write_export(document: Mapping[str, Any], path: Path) -> Path:
    """Write the document as JSON (``.json``) through a temporary file; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def counts(document: Mapping[str, Any], sections: Sequence[str] = tuple(SECTIONS)) -> dict[str, int]:
    """Rows per table in a document (for the CLI's summary)."""
    found = {}
    for section in (*sections, "consent", "other"):
        for name, rows in document.get(section, {}).items():
            found[name] = len(rows)
    return found
