"""Retention per source: rows older than a source's ``retention`` go, at every run.

A source with ``retention = "400d"`` keeps the rows of the last 400 days ending with the
run's as-of day: with as-of 2025-12-31, every row before 2024-11-27 00:00 is deleted.

- **How a row is dated.** Events, orders, survey answers and imported memberships by
  ``ts``; customer records by ``updated_at`` (their last change in the source); order lines
  without a ``ts`` of their own by their order's (an ``orders`` row of the source the
  ``orders`` key names, else of any source, with the same order id). A row without a date
  is kept: nothing says it is old.
- **Where it goes from.** The kind's table (``events``, ``customer_records``, …); the raw
  copies (``raw/<source>/*.parquet``), dated by the source's own mapping over each copy
  (a copy is rewritten without those rows through a ``.partial`` file and a rename, or
  deleted when nothing is left; it keeps each remaining row's ``_row``, so lineage still
  points at the right row); and the ``quarantine`` and ``identifier_issues`` rows of the
  rows deleted from a copy (they hold the raw values). ``loaded_files`` keeps each input
  file's checksum, so an input file whose old rows went is not loaded again.
- **When.** In the ingest step, right after loading (:mod:`personae.steps.ingest`): the
  old rows of a file loaded in this run go in the same run. Traits, segments and the
  rest are computed by the later steps from what is left. Order lines go before their
  orders, so the orders still date them.
- **Interrupted.** Each step is idempotent: the store's rows go in one transaction, then
  the copies are rewritten one by one; a run that dies in between leaves rows that the
  next run deletes.

Not covered: the event journal of a live source (``journal/<source>/``: its sealed
segments stay until the operator removes them), and events written by live processing
since the last run (they go at the next run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from personae.engine.base import ROW_COLUMN, Engine, numbered_order
from personae.engine.sql import identifier, literal, since_sql
from personae.errors import MappingError
from personae.sources import readers
from personae.sources.kinds import TARGET_TABLE, SourceKind
from personae.sources.mapping import mapped_sql
from personae.sources.raw_copy import raw_folder
from personae.sources.specs import IngestSettings, SourceSpec
from personae.sources.suppressing import drop_rows

_ORDERS = "_retention_orders"
_OLD = "_retention_old"
_STAGE = "_retention_stage"
_KEPT = "_retention_quarantined"
_QUARANTINED_OLD_SQL = f'SELECT k.* FROM {_KEPT} AS k SEMI JOIN {_OLD} AS o USING (file, "row")'


@dataclass
class RetentionReport:
    """What one source's retention deleted in a run."""

    source: str
    retention: str
    cutoff: str
    """Rows dated before this instant went."""
    rows: int = 0
    """Rows deleted from the source's table in the store."""
    raw_rows: int = 0
    raw_files_rewritten: int = 0
    raw_files_removed: int = 0
    quarantine_rows: int = 0
    undated_files: list[str] = field(default_factory=list)
    """Raw copies whose rows the source's mapping cannot date any more (their columns changed)."""


def cutoff_day(as_of: date, days: int) -> date:
    """The first day kept: ``days`` days ending with the as-of day."""
    return as_of - timedelta(days=days - 1)


def _time_column(spec: SourceSpec) -> str:
    return "updated_at" if spec.kind is SourceKind.CUSTOMERS else "ts"


def _orders_filter(spec: SourceSpec, alias: str) -> str:
    return f"{alias}.type = 'order'" + (f" AND {alias}.source = {literal(spec.orders)}" if spec.orders else "")


def store_condition(spec: SourceSpec, cutoff: str) -> str:
    """The condition on the source's table that picks its rows dated before ``cutoff``."""
    table = TARGET_TABLE[spec.kind]
    dated = _time_column(spec)
    if spec.kind is SourceKind.ORDER_ITEMS:
        order = (
            f"(SELECT min(o.ts) FROM events AS o WHERE {_orders_filter(spec, 'o')} AND o.order_id = {table}.order_id)"
        )
        dated = f"coalesce({table}.ts, {order})"
    return f"source = {literal(spec.name)} AND {dated} < {cutoff}"


def enforce_retention(
    engine: Engine, root: Path, sources: Sequence[SourceSpec], settings: IngestSettings, as_of: date
) -> list[RetentionReport]:
    """Delete every source's rows older than its retention (as of ``as_of``); one report per
    source that has a retention period."""
    chosen = [spec for spec in sources if spec.retention_days is not None]
    chosen.sort(key=lambda spec: spec.kind is not SourceKind.ORDER_ITEMS)  # lines first: their orders date them
    return [_enforce(engine, root, spec, settings, as_of) for spec in chosen]


def _enforce(engine: Engine, root: Path, spec: SourceSpec, settings: IngestSettings, as_of: date) -> RetentionReport:
    days = spec.retention_days
    assert days is not None and spec.retention is not None
    cutoff = since_sql(as_of, days)
    report = RetentionReport(spec.name, spec.retention, f"{cutoff_day(as_of, days).isoformat()} 00:00:00")
    reader = engine.reader()
    if spec.kind is SourceKind.ORDER_ITEMS:  # the old orders date the lines without a ts
        orders = engine.fetch_arrow(
            f"SELECT order_id, min(ts) AS ts FROM events AS e WHERE {_orders_filter(spec, 'e')} "
            f"AND e.ts < {cutoff} GROUP BY order_id"
        )
        reader.register(_ORDERS, orders)
    reader.register(_KEPT, _quarantined(engine, spec))
    folder = raw_folder(root, spec.name)
    plans: list[tuple[Path, int, int]] = []
    forgotten: list[pa.Table] = []
    try:
        for path in sorted(folder.glob("*.parquet")):
            try:
                old, total = _old_raw_rows(reader, spec, path, settings, cutoff)
            except MappingError:
                report.undated_files.append(path.name)
                continue
            if old:
                plans.append((path, old, total))
                forgotten.append(
                    reader.sql(
                        f'SELECT k.* FROM {_KEPT} AS k SEMI JOIN {_OLD} AS o USING (file, "row")'
                    ).to_arrow_table()
                )
        table = TARGET_TABLE[spec.kind]
        condition = store_condition(spec, cutoff)
        with engine.transaction():
            report.rows = int(engine.scalar(f"SELECT count(*) FROM {table} WHERE {condition}"))
            if report.rows:
                engine.delete_where(table, condition)
            if forgotten:
                report.quarantine_rows = _forget_quarantined(engine, spec, pa.concat_tables(forgotten))
        for path, old, total in plans:  # after the store's commit: a crash before leaves them for the next run
            _old_raw_rows(reader, spec, path, settings, cutoff)
            _rewrite(reader, path, old == total)
            report.raw_rows += old
            report.raw_files_removed += old == total
            report.raw_files_rewritten += old < total
    finally:
        for name in (_ORDERS, _KEPT):
            reader.unregister(name)
        reader.execute(f"DROP TABLE IF EXISTS {_OLD}")
        reader.execute(f"DROP VIEW IF EXISTS {_STAGE}")
    if plans:
        _expose(engine, spec, folder)
    return report


def _quarantined(engine: Engine, spec: SourceSpec) -> pa.Table:
    """The (``file``, ``row``) of the source's quarantine and identifier-issue rows (few)."""
    row = identifier("row")
    parts = [
        f"SELECT file, {row} FROM {table} WHERE source = {literal(spec.name)} AND {row} IS NOT NULL"
        for table in ("quarantine", "identifier_issues")
        if engine.has_table(table)
    ]
    if not parts:
        return pa.table({"file": pa.array([], pa.string()), "row": pa.array([], pa.int64())})
    return engine.fetch_arrow(f"SELECT DISTINCT * FROM ({' UNION ALL '.join(parts)}) AS q")


def _numbered_sql(reader: duckdb.DuckDBPyConnection, path: Path) -> str:
    """A raw copy's rows with ``_row`` (a CSV copy holds none: its position then), as ingest stages them."""
    files = f"read_parquet({literal(str(path))}, file_row_number = true)"
    columns = [row[0] for row in reader.execute(f"DESCRIBE SELECT * FROM {files}").fetchall()]
    columns = [column for column in columns if column != "file_row_number"]
    position = "file_row_number + 1"
    row = f"coalesce({ROW_COLUMN}, {position})" if ROW_COLUMN in columns else position
    select = [f"{row} AS {ROW_COLUMN}" if c == ROW_COLUMN else identifier(c) for c in numbered_order(columns)]
    return f"SELECT {', '.join(select)} FROM {files}"


def _old_raw_rows(
    reader: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path, settings: IngestSettings, cutoff: str
) -> tuple[int, int]:
    """How many of a raw copy's rows are dated before ``cutoff`` (their ``file`` and ``row`` are
    left in ``_OLD``), and how many rows it has."""
    reader.execute(f"CREATE OR REPLACE TEMP VIEW {_STAGE} AS {_numbered_sql(reader, path)}")
    jsonl = spec.resolved_format == "jsonl"
    if jsonl:
        values = [*spec.columns.values(), *spec.identifiers.values()]
        paths = {v: v for v in values if not v.startswith("'") and v not in readers.SEGMENT_FIELDS}
        relation, columns = f"({readers.segment_fields_sql(_STAGE, paths)})", [*readers.SEGMENT_FIELDS, "_raw"]
    else:
        relation = _STAGE
        columns = [row[0] for row in reader.execute(f"DESCRIBE SELECT * FROM {_STAGE}").fetchall()]
    mapped = mapped_sql(relation, spec, columns, settings, jsonl=jsonl, file=f"the raw copy {path.name}")
    dated = f"m.{_time_column(spec)}"
    joined = f"({mapped}) AS m"
    if spec.kind is SourceKind.ORDER_ITEMS:
        dated = "coalesce(m.ts, o.ts)"
        joined += f" LEFT JOIN {_ORDERS} AS o ON o.order_id = m.order_id"
    reader.execute(
        f'CREATE OR REPLACE TEMP TABLE {_OLD} AS SELECT m._file AS file, m._row AS "row" FROM {joined} '
        f"WHERE {dated} < {cutoff}"
    )
    old = int(reader.execute(f"SELECT count(*) FROM {_OLD}").fetchall()[0][0])
    total = int(reader.execute(f"SELECT count(*) FROM {_STAGE}").fetchall()[0][0])
    return old, total


def _forget_quarantined(engine: Engine, spec: SourceSpec, old: pa.Table) -> int:
    """Delete the quarantine and identifier-issue rows of raw rows that go (``old``: their file
    and row); returns the quarantine's count."""
    engine.register_arrow(_OLD, old)
    try:
        counted = 0
        for table in ("quarantine", "identifier_issues"):
            if not engine.has_table(table):
                continue
            row = identifier("row")
            condition = (
                f"source = {literal(spec.name)} AND EXISTS (SELECT 1 FROM {_OLD} AS o "
                f"WHERE o.file = {table}.file AND o.{row} = {table}.{row})"
            )
            found = int(engine.scalar(f"SELECT count(*) FROM {table} WHERE {condition}"))
            if found:
                engine.delete_where(table, condition)
            if table == "quarantine":
                counted = found
        return counted
    finally:
        engine.register_arrow(_OLD, old.slice(0, 0))  # the engine keeps no copy of the rows


def _rewrite(reader: duckdb.DuckDBPyConnection, path: Path, everything: bool) -> None:
    """The raw copy without its old rows (in ``_OLD``), atomically; removed when nothing is left."""
    if everything:
        path.unlink()
        return
    drop_rows(path, [int(row[0]) for row in reader.execute(f'SELECT "row" FROM {_OLD}').fetchall()], reader)


def _expose(engine: Engine, spec: SourceSpec, folder: Path) -> None:
    """``raw_<source>`` over what is left (no view when no copy is left)."""
    view = f"raw_{spec.name}"
    if any(folder.glob("*.parquet")):
        engine.expose_folder(view, folder)
    else:
        engine.drop_table(view)
