"""What live processing writes to the store, and reads back, inside its transaction.

- the new ``events`` rows (the processor leaves out event ids already stored, as ingest
  does; a batch run loading the journal later skips these in turn);
- each touched person's row of ``traits`` and the trait columns of ``profiles`` as of the
  processing day (a person new to the store gets a ``profiles`` row whose golden-record
  columns stay empty until the next batch run builds them from the customer records);
- the rows of people a merge retired;
- how far each journal has been read (``live_cursors``), so that a restart resumes there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.sql import day_sql, identifier, literal, timestamp_sql
from personae.engine.tables import columns_of, ensure_tables
from personae.realtime.journal_files import Position, segment_path

STAGED_EVENTS = "_live_events"
STAGED_TRAITS = "_live_traits"
STAGED_UIDS = "_live_touched"
AS_OF_COLUMN = "traits_as_of"


def new_events(engine: Engine, rows: Sequence[dict[str, Any]], source: str, segment: int, at: datetime) -> None:
    """Insert rows whose event ids are not stored (the caller checked, holding the store)."""
    if not rows:
        return
    names = [name for name, _ in columns_of("events")]
    lineage = {"_file": f"journal/{source}/{segment_path(Path(), segment).name}", "_row": None}
    stamp = at.replace(tzinfo=None)
    staged = pa.Table.from_pylist([{**row, **lineage, "_loaded_at": stamp, "received_at": stamp} for row in rows])
    engine.register_arrow(STAGED_EVENTS, staged)
    present = set(staged.column_names)
    types = dict(columns_of("events"))
    select = ", ".join(
        f"CAST(s.{identifier(name)} AS {types[name]})" if name in present else f"CAST(NULL AS {types[name]})"
        for name in names
    )
    engine.insert("events", names, f"SELECT {select} FROM {STAGED_EVENTS} AS s")


def write_traits(
    engine: Engine,
    traits: Mapping[str, Mapping[str, Any]],
    columns: Mapping[str, str],
    day: date,
    *,
    new: bool = True,
) -> None:
    """Replace the ``traits`` rows and the trait columns of the ``profiles`` rows of ``traits``'
    people (uid -> trait -> value), as of ``day``; adds ``profiles`` rows for the people new to
    the store (``new``: whether there may be any)."""
    if not traits:
        return
    names = list(columns)
    staged = pa.Table.from_pylist([{"uid": uid, **{n: values.get(n) for n in names}} for uid, values in traits.items()])
    engine.register_arrow(STAGED_TRAITS, staged)
    cast = {name: f"CAST(s.{identifier(name)} AS {type_})" for name, type_ in columns.items()}
    body = f"s.uid, {day_sql(day)}, {', '.join(cast.values())}"
    engine.execute(f"DELETE FROM traits WHERE uid IN (SELECT uid FROM {STAGED_TRAITS})")
    engine.insert("traits", ["uid", AS_OF_COLUMN, *names], f"SELECT {body} FROM {STAGED_TRAITS} AS s")
    settings = ", ".join(f"{identifier(n)} = {cast[n]}" for n in names)
    engine.execute(
        f"UPDATE profiles SET {AS_OF_COLUMN} = {day_sql(day)}, {settings} FROM {STAGED_TRAITS} AS s "
        "WHERE profiles.uid = s.uid"
    )
    if not new:
        return
    engine.insert(
        "profiles",
        ["uid", AS_OF_COLUMN, *names],
        f"SELECT {body} FROM {STAGED_TRAITS} AS s WHERE NOT EXISTS (SELECT 1 FROM profiles AS p WHERE p.uid = s.uid)",
    )


def retire(engine: Engine, uids: Sequence[str]) -> None:
    """Drop the ``traits`` and ``profiles`` rows of UIDs that no longer name anyone."""
    if uids:
        listed = ", ".join(literal(uid) for uid in uids)
        for table in ("traits", "profiles", "predictions"):
            if engine.has_table(table):
                engine.delete_where(table, f"uid IN ({listed})")


def scored_profiles(engine: Engine, people: str, uids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """What rules read for these people: their ``profiles`` row with the models' scores
    (``people`` is :func:`~personae.segments.people.people_sql` of the store)."""
    if not uids:
        return {}
    engine.register_arrow(STAGED_UIDS, pa.table({"uid": pa.array(list(uids), pa.string())}))
    rows = engine.fetch_arrow(f"SELECT p.* FROM ({people}) AS p JOIN {STAGED_UIDS} AS u ON u.uid = p.uid")
    return {str(row["uid"]): row for row in rows.to_pylist()}


def cursors(engine: Engine) -> dict[str, tuple[Position, int]]:
    """source -> (where live processing stopped reading its journal, events taken so far)."""
    ensure_tables(engine, ["live_cursors"])
    rows = engine.fetch_rows("SELECT source, segment, byte_offset, events FROM live_cursors")
    return {str(source): (Position(int(segment), int(offset)), int(events)) for source, segment, offset, events in rows}


def save_cursor(engine: Engine, source: str, position: Position, events: int, at: datetime) -> None:
    """Record the position (the ``live_cursors`` table is made when the store is first read)."""
    engine.delete_where("live_cursors", f"source = {literal(source)}")
    engine.insert(
        "live_cursors",
        ["source", "segment", "byte_offset", "events", "updated_at"],
        f"SELECT {literal(source)}, {position.segment}, {position.offset}, {events}, {timestamp_sql(at)}",
    )
