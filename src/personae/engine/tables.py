"""The store's tables, declared once (DESIGN §4): name, writer, columns and what they hold.

Every persistent table a step writes is declared here, so that the store can be created,
listed, documented and checked from one place (a test runs the pipeline and compares the
store with these declarations). Tables with ``columns`` are created empty before their
step first writes them (:func:`ensure_tables`); tables without are computed as a whole by
their step (``CREATE TABLE … AS``), their columns following the configuration (the traits,
the models). ``raw_<source>`` views over each source's raw Parquet files are not tables and
are not listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from personae.engine.table_spec import IDENTIFIER_TYPES, Columns, Table
from personae.engine.tables_outward import OUTWARD_TABLES
from personae.engine.tables_people import PEOPLE_TABLES
from personae.engine.tables_records import RECORD_STAGE_TABLES

if TYPE_CHECKING:
    from personae.engine.base import Engine

__all__ = ["IDENTIFIER_TYPES", "RECORD_TABLES", "TABLE", "TABLES", "Columns", "Table", "columns_of", "ensure_tables"]

TABLES: tuple[Table, ...] = (*RECORD_STAGE_TABLES, *PEOPLE_TABLES, *OUTWARD_TABLES)

TABLE: dict[str, Table] = {table.name: table for table in TABLES}
RECORD_TABLES = ("customer_records", "survey_responses", "imported_memberships", "consent_records")
"""Tables keyed by (source, record_id): a newer row replaces the stored one."""


def columns_of(name: str) -> Columns:
    """The declared columns of a table created empty (a KeyError names a derived table)."""
    columns = TABLE[name].columns
    if columns is None:
        raise KeyError(f"table {name!r} is derived by its step; it declares no columns")
    return columns


def ensure_tables(engine: Engine, names: Iterable[str]) -> None:
    """Create the named tables, empty, where they do not exist yet."""
    for name in names:
        engine.create_empty_table(name, columns_of(name))


def add_missing_columns(engine: Engine, names: Iterable[str]) -> list[str]:
    """Add the declared columns a table of an older store lacks (e.g. ``events.consent``), NULL
    in the rows it holds; returns ``table.column`` of each column added."""
    added = []
    for name in names:
        if not engine.has_table(name):
            continue
        present = {column for column, _ in engine.columns(name)}
        missing = [(column, type_) for column, type_ in columns_of(name) if column not in present]
        if missing:
            engine.add_columns(name, missing)
            added += [f"{name}.{column}" for column, _ in missing]
    return added


def step_tables(step: str) -> list[str]:
    """The tables with declared columns that a step writes (created before it runs)."""
    return [table.name for table in TABLES if table.step == step and table.columns is not None]
