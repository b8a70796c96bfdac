"""Find a person in the store and delete every row of theirs, from every table.

The sweep is driven by each table's columns, not by a list, so a table added later is
covered the day it is added: a ``uid`` (or ``old_uid``/``new_uid``) column, identifier
columns (``email``, ``phone``, …), a record key (``source`` with ``record_id`` or
``event_id``, an order line's ``order_id``), the lineage of a loaded row (``source``,
``file``, ``row``: quarantine, identifier and field issues), the identity graph's
``id_type``/``id_value`` and edge keys, and quarantined raw text that holds one of their
identifiers. Tables that hold nobody's data (settings, the ledger, runs, the audit log
and the erasure bookkeeping) are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.engine.tables import IDENTIFIER_TYPES
from personae.errors import UsageError
from personae.identity.views import uids_by_identifier_sql

PERSONLESS = frozenset(
    {
        "suppressions",
        "suppression_hits",
        "erasure_requests",
        "erasure_deliveries",
        "audit_log",
        "workspace_settings",
        "loaded_files",
        "runs",
        "live_cursors",
        "segment_definitions",
        "membership_days",
        "order_gaps",
        "sync_state",
    }
)
"""Tables that hold no row of any one person."""
MIN_TEXT_MATCH = 6
"""An identifier shorter than this is not looked for inside quarantined raw text."""


@dataclass
class Person:
    uids: list[str] = field(default_factory=list)
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    records: list[tuple[str, str]] = field(default_factory=list)
    unresolved_rows: int = 0
    """Rows that carry the identifier but were not resolved to anybody yet."""

    @property
    def found(self) -> bool:
        return bool(self.uids) or self.unresolved_rows > 0


def _values(rows: Sequence[tuple[str, ...]]) -> str:
    return ", ".join("(" + ", ".join(literal(str(value)) for value in row) + ")" for row in rows)


def find_person(engine: Engine, id_type: str, value: str) -> Person:
    """Every UID, identifier and record of the person ``id_type:value`` names."""
    person = Person()
    if engine.has_table("identity_map"):
        if id_type == "uid":
            known = engine.scalar(f"SELECT count(*) FROM identity_map WHERE uid = {literal(value)}")
            uids = {value} if known else set()
        else:
            uids = {str(row[0]) for row in engine.fetch_rows(uids_by_identifier_sql(id_type, value))}
        uids |= _merged(engine, uids)
        person.uids = sorted(uids)
    if person.uids:
        listed = ", ".join(literal(uid) for uid in person.uids)
        person.identifiers = [
            (str(t), str(v))
            for t, v in engine.fetch_rows(
                f"SELECT DISTINCT id_type, id_value FROM identity_map WHERE uid IN ({listed})"
            )
        ]
        if engine.has_table("record_map"):
            person.records = [
                (str(s), str(r))
                for s, r in engine.fetch_rows(
                    f"SELECT DISTINCT source, record_id FROM record_map WHERE uid IN ({listed})"
                )
            ]
    if not person.uids and id_type != "uid" and engine.has_table("identifiers"):
        shared = engine.scalar(
            f"SELECT max(status) FROM identifiers WHERE id_type = {literal(id_type)} "
            f"AND id_value = {literal(value)} AND status <> 'ok'"
        )
        if shared is not None:
            raise UsageError(
                f"this {id_type} is {shared} (identity does not use it to tie records: several people "
                "share it), so it names nobody alone; erase each person by another identifier "
                "(`personae profile` shows them)"
            )
    if id_type != "uid" and (id_type, value) not in person.identifiers:
        person.identifiers.append((id_type, value))
    if id_type in IDENTIFIER_TYPES:
        for table in ("events", "customer_records"):
            if engine.has_table(table):
                person.unresolved_rows += int(
                    engine.scalar(f"SELECT count(*) FROM {table} WHERE {id_type} = {literal(value)}")
                )
    return person


def _merged(engine: Engine, uids: set[str]) -> set[str]:
    """The UIDs merged into or out of these, transitively (the person's past names)."""
    if not uids or not engine.has_table("merges"):
        return set()
    found = set(uids)
    while True:
        listed = ", ".join(literal(uid) for uid in sorted(found))
        rows = engine.fetch_rows(
            f"SELECT old_uid, new_uid FROM merges WHERE old_uid IN ({listed}) OR new_uid IN ({listed})"
        )
        more = {str(value) for row in rows for value in row if value is not None} - found
        if not more:
            return found - uids
        found |= more


def _conditions(columns: set[str], item_parents: Mapping[str, str]) -> list[str]:
    """How a table with these columns names the person's rows (the ``_erase_*`` temp tables)."""
    found = []
    if "uid" in columns:
        found.append("uid IN (SELECT uid FROM _erase_uids)")
    for column in ("old_uid", "new_uid"):
        if column in columns:
            found.append(f"{column} IN (SELECT uid FROM _erase_uids)")
    for id_type in IDENTIFIER_TYPES:
        if id_type in columns:
            found.append(f"{id_type} IN (SELECT id_value FROM _erase_ids WHERE id_type = {literal(id_type)})")
    if {"source", "record_id"} <= columns:
        found.append("(source, record_id) IN (SELECT source, record_id FROM _erase_records)")
    if {"source", "event_id"} <= columns:
        found.append(
            "(source, event_id) IN (SELECT source, record_id FROM _erase_records "
            "UNION ALL SELECT source, source || ':' || record_id FROM _erase_records)"
        )
        if "order_id" in columns and item_parents:
            pairs = ", ".join(f"({literal(item)}, {literal(parent)})" for item, parent in item_parents.items())
            found.append(
                f"(source, order_id) IN (SELECT p.item, r.record_id FROM (VALUES {pairs}) p(item, parent) "
                "JOIN _erase_records r ON r.source = p.parent)"
            )
    if {"source", "file", "row"} <= columns:
        found.append('(source, file, "row") IN (SELECT source, file, "row" FROM _erase_lineage)')
    if {"id_type", "id_value"} <= columns:
        found.append("(id_type, id_value) IN (SELECT id_type, id_value FROM _erase_ids)")
    for prefix in ("a", "b"):
        if f"{prefix}_key" in columns:
            found.append(f"{prefix}_key IN (SELECT id_type || ':' || id_value FROM _erase_ids)")
        if {f"{prefix}_type", f"{prefix}_value"} <= columns:
            found.append(f"({prefix}_type, {prefix}_value) IN (SELECT id_type, id_value FROM _erase_ids)")
    if "raw" in columns:
        found.append(
            "EXISTS (SELECT 1 FROM _erase_ids i WHERE length(i.id_value) >= "
            f"{MIN_TEXT_MATCH} AND contains(lower(raw), lower(i.id_value)))"
        )
    return found


def _prepare(engine: Engine, person: Person, item_parents: Mapping[str, str]) -> dict[str, str]:
    """Load the person into ``_erase_*`` temp tables; returns each table's condition for their rows."""
    engine.execute("CREATE OR REPLACE TEMP TABLE _erase_uids (uid VARCHAR)")
    engine.execute("CREATE OR REPLACE TEMP TABLE _erase_ids (id_type VARCHAR, id_value VARCHAR)")
    engine.execute("CREATE OR REPLACE TEMP TABLE _erase_records (source VARCHAR, record_id VARCHAR)")
    engine.execute('CREATE OR REPLACE TEMP TABLE _erase_lineage (source VARCHAR, file VARCHAR, "row" BIGINT)')
    if person.uids:
        engine.execute(f"INSERT INTO _erase_uids VALUES {_values([(uid,) for uid in person.uids])}")
    if person.identifiers:
        engine.execute(f"INSERT INTO _erase_ids VALUES {_values(person.identifiers)}")
    if person.records:
        engine.execute(f"INSERT INTO _erase_records VALUES {_values(person.records)}")
    tables = {
        name: {column for column, _ in engine.columns(name)}
        for name in engine.tables()
        if name not in PERSONLESS and not name.startswith(("raw_", "_erase_"))
    }
    for name, columns in tables.items():  # first the lineage of every loaded row of theirs
        if {"source", "_file", "_row"} <= columns:
            condition = " OR ".join(f"({part})" for part in _conditions(columns, item_parents))
            if condition:
                engine.execute(f"INSERT INTO _erase_lineage SELECT source, _file, _row FROM {name} WHERE {condition}")
    conditions = {}
    for name, columns in sorted(tables.items()):
        parts = _conditions(columns, item_parents)
        if parts:
            conditions[name] = " OR ".join(f"({part})" for part in parts)
    return conditions


def _drop_prepared(engine: Engine) -> None:
    for temp in ("_erase_uids", "_erase_ids", "_erase_records", "_erase_lineage"):
        engine.drop_table(temp)


def sweep(engine: Engine, person: Person, item_parents: Mapping[str, str]) -> dict[str, int]:
    """Delete the person's rows from every table (inside the caller's transaction); rows per table."""
    counts: dict[str, int] = {}
    try:
        for name, condition in _prepare(engine, person, item_parents).items():
            rows = int(engine.scalar(f"SELECT count(*) FROM {name} WHERE {condition}"))
            if rows:
                engine.delete_where(name, condition)
                counts[name] = rows
    finally:
        _drop_prepared(engine)
    return counts


def person_rows(engine: Engine, person: Person, item_parents: Mapping[str, str]) -> dict[str, pa.Table]:
    """Every row of the person, per table (what :func:`sweep` would delete)."""
    found: dict[str, pa.Table] = {}
    try:
        for name, condition in _prepare(engine, person, item_parents).items():
            rows = engine.fetch_arrow(f"SELECT * FROM {name} WHERE {condition}")
            if rows.num_rows:
                found[name] = rows
    finally:
        _drop_prepared(engine)
    return found
