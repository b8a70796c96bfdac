"""Keeping the tables one person is looked up in ordered, after runs that write them in place.

A table that declares ``clustered_by`` (:class:`~personae.engine.table_spec.Table`) is written
in that column's order, so DuckDB's min and max of each row group let a lookup of one person
read one row group. An incremental run deletes and appends the rows of the people it
recomputes. The appended rows span the whole range of the column, so every row group they
fill is read by every lookup: after four one-day increments of a 1M-customer store, a lookup
in ``record_map`` took 8.7 ms against 3.8 ms in the same rows in order (bench/RESULTS.md,
2026-12-07), and each further increment adds a row group.

:func:`keep_in_order` finds the most row groups one lookup reads, from the row groups' min and
max, and writes a table in order again once that passes :data:`MOST_ROW_GROUPS_READ`: a
lookup then reads at most that many row groups, and the rewrite (2–6 s per table at 1M
customers) comes once in a dozen or so one-day increments, not every run. A ``--full`` run
writes every table in order anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

from personae.engine.base import Engine
from personae.engine.dialects import has
from personae.engine.sql import identifier, literal
from personae.engine.tables import TABLE

MOST_ROW_GROUPS_READ = 16
"""Row groups one lookup may have to read before the table is written in order again."""


def most_row_groups_read(ranges: Sequence[tuple[str, str]]) -> int:
    """The most row groups, given as (min, max) of the clustered column, whose range holds one
    value: what a lookup of that value reads. In order that is 1, or 2 for a value whose rows
    continue across a boundary; each row group of rows appended from the whole range adds one.

    >>> most_row_groups_read([("a", "c"), ("d", "f"), ("g", "k")])
    1
    >>> most_row_groups_read([("a", "c"), ("c", "f"), ("g", "k")])
    2
    >>> most_row_groups_read([("a", "c"), ("d", "f"), ("g", "k"), ("a", "k"), ("b", "j")])
    3
    """
    bounds = sorted([(low, 0) for low, _ in ranges] + [(high, 1) for _, high in ranges])  # starts first
    most = held = 0
    for _, end in bounds:
        held += -1 if end else 1
        most = max(most, held)
    return most


def row_group_ranges(engine: Engine, table: str, column: str) -> list[tuple[str, str]]:
    """(min, max) of ``column`` in each row group of ``table`` that has rows, from DuckDB's
    storage statistics (no scan of the data)."""
    rows = engine.fetch_rows(
        "SELECT row_group_id, min(low), max(high) FROM (SELECT row_group_id, CAST(stats.min AS VARCHAR) AS low, "
        f"CAST(stats.max AS VARCHAR) AS high FROM pragma_storage_info({literal(table)}) "
        f"WHERE column_name = {literal(column)}) WHERE low IS NOT NULL GROUP BY 1"
    )
    return [(str(low), str(high)) for _, low, high in rows]


def keep_in_order(engine: Engine, tables: Sequence[str]) -> list[str]:
    """Write again, in their declared order, those of ``tables`` where a lookup may read more
    than :data:`MOST_ROW_GROUPS_READ` row groups (on an engine that keeps row-group
    statistics; Spark writes its tables whole); returns the tables written."""
    if not has(engine.name, "row_group_stats"):
        return []
    written = []
    for table in tables:
        declared = TABLE[table]
        if declared.clustered_by is None or not engine.has_table(table):
            continue
        if most_row_groups_read(row_group_ranges(engine, table, declared.clustered_by)) <= MOST_ROW_GROUPS_READ:
            continue
        ordered = f"{table}__in_order"
        with engine.transaction():
            engine.execute(f"CREATE TABLE {ordered} AS {engine.clustered(table, f'SELECT * FROM {table}')}")
            engine.drop_table(table)
            engine.execute(f"ALTER TABLE {ordered} RENAME TO {identifier(table)}")
            engine.create_indexes(table)
        written.append(table)
    return written
