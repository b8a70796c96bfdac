"""Ingest honours the suppression list: an erased person's rows never come back.

When the list (:mod:`personae.privacy.suppression`) is not empty, ingest sets aside every
row of a file that carries a suppressed identifier or record key before anything else
looks at it: the row reaches no table, not the quarantine, and not the raw copy (which is
rewritten without it); a line that could not even be parsed is dropped when it holds a
suppressed e-mail address. Only the count is kept, in ``suppression_hits``. With an
empty list (nobody was ever erased) ingest does exactly what it did before.

Erasure uses the same predicate on the raw copies already written
(:func:`scrub_raw_copy`), so whatever ingest would now refuse is also taken out of what it
kept before.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from personae.engine.base import Engine
from personae.engine.sql import identifier, literal
from personae.engine.tables import ensure_tables
from personae.privacy import suppression
from personae.privacy.suppression import Suppression
from personae.sources import readers
from personae.sources.kinds import SourceKind
from personae.sources.mapping import key_sql, mapped_sql
from personae.sources.readers import Reject
from personae.sources.specs import IngestSettings, SourceSpec

HITS = "suppression_hits"


def active_salt(engine: Engine) -> str | None:
    """The salt to check rows with, or None when the list is empty (nothing to check)."""
    if not suppression.count(engine):
        return None
    return str(engine.scalar("SELECT max(value) FROM workspace_settings WHERE key = 'uid_salt'"))


def record_key_sql(spec: SourceSpec) -> tuple[str, str] | None:
    """(source, key expression) naming a row's record for the list: its own key, or for an
    order line the order it belongs to."""
    if spec.kind is SourceKind.ORDER_ITEMS:
        return (spec.orders, "order_id") if spec.orders else None
    return spec.name, key_sql(spec.kind)


def suppressed_rows_sql(relation: str, spec: SourceSpec, columns: list[str], salt: str) -> str:
    """The ``_row`` of every row of a mapped relation that the list suppresses."""
    keyed = record_key_sql(spec)
    source, key = keyed if keyed else (spec.name, None)
    return suppression.suppressed_rows_sql(relation, salt, columns, source=source, key=key)


def set_aside(engine: Engine, mapped: str, kept: str, spec: SourceSpec, salt: str) -> list[int]:
    """Name ``kept`` as ``mapped`` without its suppressed rows; returns their row numbers.

    ``kept`` is a view (a filter of ``mapped``, which :meth:`Engine.define` has already
    materialised where an engine materialises): Spark copied every mapped row a second time
    when anyone had been erased."""
    columns = [name for name, _ in engine.columns(mapped)]
    rows = sorted(int(row[0]) for row in engine.fetch_rows(suppressed_rows_sql(mapped, spec, columns, salt)))
    listed = ", ".join(str(row) for row in rows)
    engine.view(kept, f"SELECT * FROM {mapped}" + (f" WHERE _row NOT IN ({listed})" if rows else ""))
    return rows


def kept_rejects(engine: Engine, salt: str, rejects: list[Reject]) -> list[Reject]:
    """The rejected lines that hold no suppressed e-mail address."""
    if not rejects:
        return rejects
    listed = Suppression.load(engine, salt)
    return [reject for reject in rejects if not listed.holds_text(reject.raw.encode("utf-8", "replace"))]


def record_hits(engine: Engine, source: str, file: str, rows: int, at: str) -> None:
    """Count a file's suppressed rows (no content, no row numbers)."""
    if rows:
        ensure_tables(engine, [HITS])
        engine.insert(
            HITS,
            ["source", "file", "rows", "at"],
            f"SELECT {literal(source)}, {literal(file)}, {rows}, {literal(at)}::TIMESTAMP",
        )


def drop_rows(path: Path, rows: list[int], connection: duckdb.DuckDBPyConnection) -> int:
    """Rewrite a raw copy (Parquet) without these ``_row`` numbers: a temporary file, then an
    atomic rename, so a crash leaves the old copy or the new one. Returns the rows dropped.

    ``connection`` is the engine's :meth:`~personae.engine.base.Engine.reader`: on DuckDB a
    cursor of the store's instance, so that the rewrite keeps the store's ``memory_limit``,
    threads and spill folder (an instance of its own would take 80 % of the machine)."""
    if not rows or not path.exists():
        return 0
    listed = ", ".join(str(row) for row in rows)
    scratch = path.with_name(path.name + ".scrub")
    source = f"read_parquet({literal(str(path))}, file_row_number = true)"
    columns = [row[0] for row in connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    kept = [identifier(name) for name in columns if name not in ("file_row_number", "_row")]
    # a copy without _row numbers its rows by position: keep the numbers it had, so that the
    # lineage (_file, _row) of stored rows still points at the same lines
    number = "coalesce(_row, file_row_number + 1)" if "_row" in columns else "file_row_number + 1"
    before = _count(connection, f"SELECT * FROM {source}")
    connection.execute(
        f"COPY (SELECT {', '.join(kept)}, {number} AS _row FROM {source} WHERE {number} NOT IN ({listed}) "
        f"ORDER BY file_row_number) TO {literal(str(scratch))} (FORMAT parquet)"
    ).fetchall()
    after = _count(connection, f"SELECT * FROM read_parquet({literal(str(scratch))})")
    with open(scratch, "rb") as written:
        os.fsync(written.fileno())
    scratch.replace(path)
    return before - after


def _count(connection: duckdb.DuckDBPyConnection, sql: str) -> int:
    # read to its end (not fetchone): on the store's cursor an open result keeps a transaction
    # that makes erasure's CHECKPOINT fail
    found = connection.execute(f"SELECT count(*) FROM ({sql})").fetchall()
    return int(found[0][0]) if found else 0


def scrub_raw_copy(engine: Engine, spec: SourceSpec, settings: IngestSettings, path: Path, salt: str) -> int:
    """Take out of one raw copy every row the list now suppresses; returns how many went."""
    stage = f"scrub_{spec.name}"
    engine.stage(stage, path)
    try:
        jsonl = spec.resolved_format == "jsonl"
        described = [name for name, _ in engine.columns(stage)]
        columns = [*readers.SEGMENT_FIELDS, "_raw"] if jsonl else described
        relation = stage
        if jsonl:
            values = [*spec.columns.values(), *spec.identifiers.values()]
            paths = {v: v for v in values if not v.startswith("'") and v not in readers.SEGMENT_FIELDS}
            relation = f"({readers.segment_fields_sql(stage, paths)})"
        mapped = mapped_sql(relation, spec, columns, settings, jsonl=jsonl, file=str(path.name))
        engine.define(f"{stage}_mapped", mapped)
        names = [name for name, _ in engine.columns(f"{stage}_mapped")]
        rows = sorted(
            int(row[0]) for row in engine.fetch_rows(suppressed_rows_sql(f"{stage}_mapped", spec, names, salt))
        )
    finally:
        engine.drop_table(f"{stage}_mapped")
        engine.drop_table(stage)
    return drop_rows(path, rows, engine.reader())
