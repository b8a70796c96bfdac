"""The ingest step: load every source's new and changed files, losing nothing.

For each file of each source:

1. its checksum is looked up in ``loaded_files``: a file already loaded is skipped, a file
   whose path was loaded with other content is reloaded (its old rows are removed in the
   same transaction that loads the new ones, so there are no duplicates);
2. DuckDB scans it as text (see :mod:`personae.sources.readers`) and the engine stages it;
3. :func:`~personae.sources.mapping.mapped_sql` maps, types and checks every row;
4. in one transaction: the file's rows go to ``raw_<source>``, good rows to the kind's
   table, bad rows (with their reason and raw content) to ``quarantine``, and the file to
   ``loaded_files``.

A file that cannot be read at all (a corrupt Parquet file, say) is quarantined as a whole
and the rest go on; a source whose files are missing, whose mapping names an unknown
column, or whose database cannot be reached is reported with its error and nothing it
had stored changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.dialects import CAPABILITIES
from personae.engine.sql import literal, timestamp_sql
from personae.engine.tables import ensure_tables, step_tables
from personae.errors import ConfigError, SourceError
from personae.progress import Progress, silent
from personae.sources import postgres, readers
from personae.sources.kinds import TARGET_TABLE
from personae.sources.mapping import mapped_sql, validated_identifiers
from personae.sources.specs import IngestSettings, SourceSpec
from personae.sources.targets import (
    checked_sql,
    events_rows_sql,
    exceptions_sql,
    malformed_identifiers_sql,
    quarantine_rows_sql,
    records_rows_sql,
    repeated_keys_sql,
    replaced_records_condition,
    target_fields,
)

SNAPSHOTS = Path(".personae") / "snapshots"
RAW_FOLDER = "raw"


@dataclass
class FileReport:
    source: str
    file: str
    status: str  # loaded | reloaded | skipped | failed
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    message: str = ""


@dataclass
class SourceReport:
    name: str
    kind: str
    files: list[FileReport] = field(default_factory=list)
    error: str | None = None

    def total(self, attribute: str) -> int:
        return sum(int(getattr(report, attribute)) for report in self.files)


@dataclass(frozen=True)
class IngestContext:
    root: Path
    sources: tuple[SourceSpec, ...]
    settings: IngestSettings
    engine: Engine
    loaded_at: str
    env: Mapping[str, str]
    progress: Progress = silent


def ensure_store(engine: Engine) -> None:
    ensure_tables(engine, [*step_tables("ingest"), *step_tables("run")])


def ingest_sources(context: IngestContext) -> list[SourceReport]:
    """Load every configured source; returns one report per source."""
    ensure_store(context.engine)
    reports = []
    for index, spec in enumerate(context.sources):
        context.progress(f"ingest {spec.name}", index, len(context.sources))
        reports.append(ingest_source(context, spec))
    context.progress("ingest", len(context.sources), len(context.sources))
    return reports


def ingest_source(context: IngestContext, spec: SourceSpec) -> SourceReport:
    report = SourceReport(spec.name, spec.kind.value)
    try:
        if spec.resolved_format == "postgres":
            target = context.root / SNAPSHOTS / f"{spec.name}.csv"
            files = [postgres.snapshot(spec, context.env, target)]
        else:
            files = readers.list_files(context.root, spec)
        for path in files:
            report.files.append(_ingest_file(context, spec, path))
    except (SourceError, ConfigError) as error:
        report.error = str(error)
    return report


def _ledger(engine: Engine, spec: SourceSpec, label: str, digest: str) -> tuple[bool, bool]:
    """(already loaded with this content, path loaded before with other content)."""
    source = literal(spec.name)
    same = engine.scalar(
        f"SELECT count(*) FROM loaded_files WHERE source = {source} "
        f"AND checksum = {literal(digest)} AND status = 'loaded'"
    )
    before = engine.scalar(
        f"SELECT count(*) FROM loaded_files WHERE source = {source} AND file = {literal(label)} AND status = 'loaded'"
    )
    return bool(same), bool(before)


def _label(context: IngestContext, spec: SourceSpec, path: Path) -> str:
    if spec.resolved_format == "postgres":
        return f"postgres:{spec.table or 'query'}"
    try:
        return str(path.relative_to(context.root))
    except ValueError:
        return str(path)


def _scan_sql(spec: SourceSpec, path: Path, label: str, reader: duckdb.DuckDBPyConnection, rejects: str) -> str:
    fmt = spec.resolved_format
    if fmt == "parquet":
        return readers.parquet_scan_sql(reader, path, label)
    if fmt == "jsonl":
        return readers.jsonl_scan_sql(path, rejects, label)
    return readers.csv_scan_sql(spec, path, rejects, label)


def _rows_sql(spec: SourceSpec, stage: str) -> str:
    """The staged file's rows (with the Segment fields extracted, for JSONL)."""
    if spec.resolved_format != "jsonl":
        return stage
    values = [*spec.columns.values(), *spec.identifiers.values()]
    paths = {value: value for value in values if not value.startswith("'") and value not in readers.SEGMENT_FIELDS}
    return f"({readers.segment_fields_sql(stage, paths)})"


class _Unreadable(Exception):
    """The file could not be read; carries the reader's error."""


def raw_folder(root: Path, source: str) -> Path:
    """Where a source's raw files are kept, one Parquet file per input file."""
    return root / RAW_FOLDER / source


def _raw_file(root: Path, source: str, label: str) -> Path:
    digest = hashlib.blake2b(label.encode(), digest_size=8).hexdigest()
    return raw_folder(root, source) / f"{digest}.parquet"


def _ingest_file(context: IngestContext, spec: SourceSpec, path: Path) -> FileReport:
    engine = context.engine
    label = _label(context, spec, path)
    digest = readers.checksum(path)
    loaded, seen_before = _ledger(engine, spec, label, digest)
    if loaded:
        return FileReport(spec.name, label, "skipped", message="already loaded (same checksum)")
    parts = ("stage", "mapped", "repeated", "checked", "exceptions", "rejects")
    names = {part: f"{part}_{spec.name}" for part in parts}
    report = FileReport(spec.name, label, "reloaded" if seen_before else "loaded")
    raw = _raw_file(context.root, spec.name, label)
    partial = raw.with_suffix(".partial")
    try:
        rows, rejects = _write_raw(context, spec, path, label, partial, names["rejects"])
    except _Unreadable as error:
        return _fail_file(context, spec, label, digest, error)
    report.rows_read = rows + len(rejects)
    jsonl = spec.resolved_format == "jsonl"
    try:
        typed = spec.resolved_format == "parquet" and "typed_stage" in CAPABILITIES[engine.name]
        engine.stage(names["stage"], path if typed else partial)
        described = dict(engine.columns(names["stage"]))
        columns = [*readers.SEGMENT_FIELDS, "_raw"] if jsonl else list(described)
        if typed:  # the input file itself: it has no _file column, and its columns keep their types
            relation = f"(SELECT *, {literal(label)} AS _file FROM {names['stage']})"
        else:
            relation = _rows_sql(spec, names["stage"])
        stage_types = described if typed else None
        mapped = mapped_sql(relation, spec, columns, context.settings, jsonl=jsonl, stage_types=stage_types)
        with engine.transaction():
            if seen_before or _left_over(engine, spec, label):
                _forget_file(engine, spec, label)
            engine.define(names["mapped"], mapped)
            engine.materialise(names["repeated"], repeated_keys_sql(names["mapped"]))
            repeated = int(engine.scalar(f"SELECT count(*) FROM {names['repeated']}"))
            engine.define(names["checked"], checked_sql(names["mapped"], names["repeated"] if repeated else None))
            id_types = validated_identifiers(spec, columns)
            engine.materialise(names["exceptions"], exceptions_sql(names["checked"], id_types))
            report.rows_quarantined = _write_quarantine(context, spec, names["exceptions"], label, rejects)
            report.rows_loaded = _write_target(context, spec, names["checked"])
            _write_identifier_issues(context, spec, names["exceptions"], id_types)
            report.rows_duplicate = report.rows_read - report.rows_quarantined - report.rows_loaded
            _record(engine, spec, label, digest, report, context.loaded_at)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        for name in ("exceptions", "checked", "repeated", "mapped", "stage"):
            engine.drop_table(names[name])
    partial.replace(raw)
    engine.expose_folder(f"raw_{spec.name}", raw.parent)
    return report


def _write_raw(
    context: IngestContext, spec: SourceSpec, path: Path, label: str, partial: Path, rejects: str
) -> tuple[int, list[readers.Reject]]:
    """Copy the file, as text with its file and row, to a Parquet file; returns (rows, rejects)."""
    reader = context.engine.reader()
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        scan = _scan_sql(spec, path, label, reader, rejects)
        stamp = f"{timestamp_sql(context.loaded_at)} AS _loaded_at"
        stamped = f"SELECT *, {stamp} FROM ({scan})"
        copied = reader.execute(
            f"COPY ({stamped}) TO {literal(str(partial))} (FORMAT parquet, COMPRESSION snappy)"
        ).fetchall()
    except duckdb.Error as error:
        partial.unlink(missing_ok=True)
        readers.fetch_rejects(reader, rejects)
        raise _Unreadable(str(error)) from error
    return int(copied[0][0]), readers.fetch_rejects(reader, rejects)


def _fail_file(context: IngestContext, spec: SourceSpec, label: str, digest: str, error: Exception) -> FileReport:
    reason = f"unreadable {spec.resolved_format} file: {str(error).splitlines()[0]}"
    report = FileReport(spec.name, label, "failed", message=reason)
    row = pa.table(
        {
            "source": [spec.name],
            "file": [label],
            "reason": [reason],
        }
    )
    with context.engine.transaction():
        context.engine.register_arrow("failed_file", row)
        context.engine.insert(
            "quarantine",
            ["source", "file", "row", "line", "reason", "raw", "quarantined_at"],
            "SELECT source, file, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), reason, "
            f"CAST(NULL AS VARCHAR), {timestamp_sql(context.loaded_at)} "
            "FROM failed_file",
        )
        _record(context.engine, spec, label, digest, report, context.loaded_at)
    return report


def _left_over(engine: Engine, spec: SourceSpec, label: str) -> bool:
    """On an engine without transactions, rows an interrupted earlier load of this file left."""
    if "transactions" in CAPABILITIES[engine.name]:
        return False
    condition = f"source = {literal(spec.name)} AND _file = {literal(label)}"
    return bool(engine.scalar(f"SELECT count(*) FROM {TARGET_TABLE[spec.kind]} WHERE {condition}"))


def _forget_file(engine: Engine, spec: SourceSpec, label: str) -> None:
    """Remove what an earlier version of this file loaded (its raw file is replaced on commit)."""
    source, file = literal(spec.name), literal(label)
    target = TARGET_TABLE[spec.kind]
    engine.delete_where(target, f"source = {source} AND _file = {file}")
    engine.delete_where("quarantine", f"source = {source} AND file = {file}")
    engine.delete_where("identifier_issues", f"source = {source} AND file = {file}")


def _write_quarantine(
    context: IngestContext, spec: SourceSpec, exceptions: str, label: str, rejects: list[readers.Reject]
) -> int:
    engine = context.engine
    columns = ["source", "file", "row", "line", "reason", "raw", "quarantined_at"]
    count = engine.insert("quarantine", columns, quarantine_rows_sql(exceptions, spec.name, context.loaded_at))
    if rejects:
        table = pa.table(
            {
                "line": pa.array([reject.line for reject in rejects], pa.int64()),
                "reason": [reject.reason for reject in rejects],
                "raw": [reject.raw for reject in rejects],
            }
        )
        engine.register_arrow(f"rejects_{spec.name}", table)
        count += engine.insert(
            "quarantine",
            columns,
            f"SELECT {literal(spec.name)}, {literal(label)}, "
            "CAST(NULL AS BIGINT), line, reason, raw, "
            f"{timestamp_sql(context.loaded_at)} FROM rejects_{spec.name}",
        )
    return count


def _write_identifier_issues(context: IngestContext, spec: SourceSpec, exceptions: str, id_types: list[str]) -> int:
    """Report identifier values that failed their check (the row itself still loads)."""
    if not id_types:
        return 0
    return context.engine.insert(
        "identifier_issues",
        ["source", "file", "row", "id_type", "value", "reason", "found_at"],
        malformed_identifiers_sql(exceptions, spec.name, id_types, context.loaded_at),
    )


def _write_target(context: IngestContext, spec: SourceSpec, checked: str) -> int:
    """Insert the good rows; returns how many (events already stored are skipped)."""
    engine = context.engine
    table = TARGET_TABLE[spec.kind]
    fields = target_fields(spec.kind, spec.name, context.settings.currency, context.loaded_at)
    if table == "events":
        return engine.insert(table, list(fields), events_rows_sql(checked, fields))
    engine.delete_where(table, replaced_records_condition(table, checked, spec.name))
    return engine.insert(table, list(fields), records_rows_sql(checked, fields))


def _record(engine: Engine, spec: SourceSpec, label: str, digest: str, report: FileReport, loaded_at: str) -> None:
    source, file = literal(spec.name), literal(label)
    status = "failed" if report.status == "failed" else "loaded"
    replaced = "" if status == "loaded" else " AND status = 'failed'"
    engine.delete_where("loaded_files", f"source = {source} AND file = {file}{replaced}")
    engine.insert(
        "loaded_files",
        [
            "source",
            "file",
            "checksum",
            "status",
            "rows_read",
            "rows_loaded",
            "rows_quarantined",
            "rows_duplicate",
            "loaded_at",
        ],
        f"SELECT {source}, {file}, {literal(digest)}, "
        f"{literal(status)}, "
        f"{report.rows_read}, {report.rows_loaded}, {report.rows_quarantined}, "
        f"{report.rows_duplicate}, {timestamp_sql(loaded_at)}",
    )


__all__ = ["FileReport", "IngestContext", "SourceReport", "ensure_store", "ingest_sources"]
