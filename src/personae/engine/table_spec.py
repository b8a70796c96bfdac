"""The shape of a table declaration (:class:`Table`) and the column groups several tables
share; the declarations themselves are in :mod:`personae.engine.tables` and its parts."""

from __future__ import annotations

from dataclasses import dataclass

Columns = tuple[tuple[str, str], ...]

IDENTIFIER_TYPES: tuple[str, ...] = (
    "user_id",
    "anonymous_id",
    "email",
    "phone",
    "loyalty_id",
    "crm_id",
)
"""Identifier types with a column of their own in the store; any other declared type goes to ``extra_ids``."""

ID_COLUMNS: Columns = (*((id_type, "VARCHAR") for id_type in IDENTIFIER_TYPES), ("extra_ids", "VARCHAR"))
LINEAGE_COLUMNS: Columns = (("_file", "VARCHAR"), ("_row", "BIGINT"), ("_loaded_at", "TIMESTAMP"))


@dataclass(frozen=True)
class Table:
    """A persistent table of the store."""

    name: str
    step: str
    """The step that writes it."""
    doc: str
    columns: Columns | None = None
    """Name and DuckDB type of each column; None when the step derives them (``CREATE TABLE … AS``)."""
    clustered_by: str | None = None
    """The column one person's rows are looked up by (Customer 360, ``profile``, the API). A
    step that writes the whole table writes it in this column's order, so each of DuckDB's row
    groups holds a narrow range of it and a lookup reads one row group by its min/max instead
    of scanning the table (at 1M people, 2–13 ms instead of 36–360 ms a lookup). Rows a live
    update appends later land in the last row groups, which a lookup reads too."""
    indexed_by: tuple[str, ...] = ()
    """Columns also looked up by value, in another order than ``clustered_by``: on DuckDB a step
    that writes the whole table indexes each (an ART index; at 5.7M identifiers a search by
    e-mail takes 2–5 ms instead of 130–190 ms). DuckDB cannot add a column to an indexed table,
    so adding one drops the table's indexes; its next write makes them again."""


def declare(
    name: str,
    step: str,
    doc: str,
    *columns: tuple[str, str],
    clustered_by: str | None = None,
    indexed_by: tuple[str, ...] = (),
) -> Table:
    return Table(name, step, doc, tuple(columns) or None, clustered_by, indexed_by)
