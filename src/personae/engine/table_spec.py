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


def declare(name: str, step: str, doc: str, *columns: tuple[str, str]) -> Table:
    return Table(name, step, doc, tuple(columns) or None)
