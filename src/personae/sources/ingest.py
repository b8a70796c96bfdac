"""The ingest step: load every source's new and changed files, losing nothing.

For each file of each source:

1. the ledger (:mod:`personae.sources.ledger`) says whether it is new, changed or
   already loaded; a file already loaded is skipped, a file whose path was loaded with
   other content is reloaded (its old rows are removed in the same transaction that loads
   the new ones, so there are no duplicates);
2. its raw copy is written as text (:mod:`personae.sources.raw_copy`) and the engine
   stages it;
3. :func:`~personae.sources.mapping.mapped_sql` maps, types and checks every row;
4. in one transaction: good rows go to the kind's table, bad rows (with their reason and
   raw content) to ``quarantine``, identifiers and optional values that do not parse (their
   rows load, the column NULL) to ``identifier_issues`` and ``field_issues``, and the file to
   ``loaded_files``; then the raw copy is renamed into ``raw_<source>``.

One file's problem is that file's alone. A file that cannot be read at all, or whose
columns do not fit the source's mapping, is recorded as failed with one quarantine row
giving the reason, and reported as an error of the run naming the file (``personae run``
then exits 1); the source's other files go on. An empty file is recorded as empty. A
source whose files are missing or whose database cannot be reached is reported with its
error. A disk that refuses a write (full, read-only) ends the run with an ``OSError``
naming the file, since every later file would fail the same way; nothing is left
half-written: the ``.partial`` copy is removed and the store's transaction rolled back.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from personae.engine.base import Engine
from personae.engine.dialects import CAPABILITIES
from personae.engine.sql import literal
from personae.engine.store_schema import MigrationReport, migrate_store
from personae.engine.tables import ensure_tables, step_tables
from personae.errors import ConfigError, EngineError, MappingError, SourceError
from personae.progress import Progress, silent
from personae.sources import ledger, raw_copy, readers, suppressing
from personae.sources.kinds import TARGET_TABLE
from personae.sources.ledger import Entry, FileReport, SourceLedger
from personae.sources.mapping import checked_fields, json_paths, jsonl_columns, mapped_sql, validated_identifiers
from personae.sources.raw_copy import RAW_FOLDER, RawCopy, raw_folder
from personae.sources.specs import IngestSettings, SourceSpec
from personae.sources.targets import (
    checked_sql,
    events_rows_sql,
    exceptions_sql,
    records_rows_sql,
    repeated_keys_sql,
    replaced_records_condition,
    stored_ids_sql,
    target_fields,
)

SNAPSHOTS = Path(".personae") / "snapshots"
STAGE_PARTS = ("stage", "unsuppressed", "mapped", "repeated", "checked", "exceptions", "stored")


@dataclass
class SourceReport:
    name: str
    kind: str
    files: list[FileReport] = field(default_factory=list)
    error: str | None = None

    def total(self, attribute: str) -> int:
        return sum(int(getattr(report, attribute)) for report in self.files)

    @property
    def errors(self) -> list[str]:
        """The source's error, or one per file that failed, each naming the source and the file."""
        failed = [f"{self.name}: {file.file}: {file.message}" for file in self.files if file.status == "failed"]
        return [f"{self.name}: {self.error}", *failed] if self.error else failed


@dataclass(frozen=True)
class IngestContext:
    root: Path
    sources: tuple[SourceSpec, ...]
    settings: IngestSettings
    engine: Engine
    loaded_at: str
    env: Mapping[str, str]
    progress: Progress = silent


def ensure_store(engine: Engine) -> MigrationReport:
    """Bring the store to this personae's schema version (or refuse a newer one), then make the
    tables ingest and the run ledger write."""
    report = migrate_store(engine)
    _ensure_ledgers(engine)
    return report


def _ensure_ledgers(engine: Engine) -> None:
    """The tables ingest and the run ledger write, empty where they do not exist yet."""
    ensure_tables(engine, [*step_tables("ingest"), *step_tables("run")])


def ingest_sources(context: IngestContext) -> list[SourceReport]:
    """Load every configured source; returns one report per source."""
    _ensure_ledgers(context.engine)
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
            from personae.sources import postgres  # psycopg: loaded only for a database source

            files = [postgres.snapshot(spec, context.env, target)]
        else:
            files = readers.list_files(context.root, spec)
        book = ledger.SourceLedger.read(context.engine, spec.name)
        try:
            for path in files:
                report.files.append(_ingest_file(context, spec, path, book))
        except BaseException:  # the files loaded before stay readable; the error is the one raised
            with contextlib.suppress(duckdb.Error, EngineError, OSError):
                _expose_raw(context, spec, report)
            raise
        _expose_raw(context, spec, report)
    except (SourceError, ConfigError) as error:
        report.error = str(error)
    return report


def _expose_raw(context: IngestContext, spec: SourceSpec, report: SourceReport) -> None:
    """The view ``raw_<source>`` over the source's raw copies, declared once per source (not
    per file: on Spark each declaration reads every raw file's footer), when a file of it
    loaded or the view is missing (a run killed before it got here)."""
    name, folder = f"raw_{spec.name}", raw_folder(context.root, spec.name)
    loaded = any(file.status in ("loaded", "reloaded") for file in report.files)
    if (loaded or name not in context.engine.tables()) and any(folder.glob("*.parquet")):
        with _refused_as_os_error():
            context.engine.expose_folder(name, folder)


@contextlib.contextmanager
def _refused_as_os_error() -> Iterator[None]:
    """A store write the disk refuses (full, read-only) as the ``OSError`` it is, naming the file.

    DuckDB reports a full disk at COMMIT as a ``FatalException`` that also invalidates the
    database (measured on a full tmpfs); the engine does not wrap COMMIT, so any DuckDB
    error here becomes an ``EngineError`` at least, never a traceback."""
    try:
        yield
    except (duckdb.Error, EngineError) as error:
        refused = raw_copy.refusal(error)
        if refused is not None:
            raise refused from error
        if isinstance(error, EngineError):
            raise
        raise EngineError("duckdb failed: " + " ".join(str(error).split())) from error


def _label(context: IngestContext, spec: SourceSpec, path: Path) -> str:
    if spec.resolved_format == "postgres":
        return f"postgres:{spec.table or 'query'}"
    try:
        return str(path.relative_to(context.root))
    except ValueError:
        return str(path)


def _rows_sql(spec: SourceSpec, stage: str) -> str:
    """The staged file's rows (with the Segment fields and mapped JSON paths extracted, for JSONL)."""
    if spec.resolved_format != "jsonl":
        return stage
    return f"({readers.segment_fields_sql(stage, json_paths(spec))})"


def _ingest_file(context: IngestContext, spec: SourceSpec, path: Path, book: SourceLedger) -> FileReport:
    engine = context.engine
    label = _label(context, spec, path)
    try:
        digest = readers.checksum(path)
    except OSError as error:
        return _fail(context, book, spec, label, "", f"cannot read the file: {error.strerror}")
    known = book.entry(label, digest)
    if known.done:
        return FileReport(spec.name, label, "skipped", message="already loaded (same checksum)")
    raw = raw_copy.raw_file(context.root, spec.name, label)
    partial = raw.with_suffix(".partial")
    try:
        copy = raw_copy.copy_file(engine.reader(), spec, path, label, partial, context.loaded_at)
    except raw_copy.Unreadable as error:
        return _fail(context, book, spec, label, digest, str(error))
    if copy.empty or (copy.rows == 0 and not copy.rejects):
        partial.unlink(missing_ok=True)
        return _empty(context, book, spec, label, digest, known)
    try:
        report = _load(context, book, spec, path, label, digest, known, copy, partial)
    except MappingError as error:
        partial.unlink(missing_ok=True)
        return _fail(context, book, spec, label, digest, str(error).removeprefix(f"source {spec.name!r}: "))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    suppressing.drop_rows(partial, report.suppressed_rows, context.engine.reader())
    partial.replace(raw)
    return report


def _load(
    context: IngestContext,
    book: SourceLedger,
    spec: SourceSpec,
    path: Path,
    label: str,
    digest: str,
    known: Entry,
    copy: RawCopy,
    partial: Path,
) -> FileReport:
    """Stage, map and store the file's rows in one transaction; returns its report."""
    engine = context.engine
    names = {part: f"{part}_{spec.name}" for part in STAGE_PARTS}
    report = FileReport(spec.name, label, "reloaded" if known.loaded else "loaded", copy.rows + len(copy.rejects))
    jsonl = spec.resolved_format == "jsonl"
    typed = spec.resolved_format == "parquet" and "typed_stage" in CAPABILITIES[engine.name]
    try:
        engine.stage(names["stage"], path if typed else partial)
        described = dict(engine.columns(names["stage"]))
        columns = jsonl_columns(spec) if jsonl else list(described)
        if typed:  # the input file itself: it has no _file column, and its columns keep their types
            relation = f"(SELECT *, {literal(label)} AS _file FROM {names['stage']})"
        else:
            relation = _rows_sql(spec, names["stage"])
        try:
            stage_types = described if typed else None
            mapped = mapped_sql(
                relation, spec, columns, context.settings, jsonl=jsonl, stage_types=stage_types, file="the file"
            )
        except MappingError as error:
            hint = readers.delimiter_hint(columns, spec.csv.delimiter) if spec.resolved_format == "csv" else ""
            raise MappingError(f"{error}{hint}") from None
        with _refused_as_os_error(), engine.transaction():
            if known.loaded or _left_over(engine, spec, label):
                ledger.forget_file(engine, spec.name, label, TARGET_TABLE[spec.kind])
            elif known.failed:
                ledger.forget_failure(engine, spec.name, label)
            _store_rows(context, spec, label, names, mapped, columns, copy, report)
            ledger.record(engine, book, report, digest, context.loaded_at)
    except BaseException:
        with contextlib.suppress(duckdb.Error, EngineError):  # a store a full disk invalidated cannot drop them
            _drop_stage(engine, names)
        raise
    _drop_stage(engine, names)
    return report


def _store_rows(
    context: IngestContext,
    spec: SourceSpec,
    label: str,
    names: dict[str, str],
    mapped: str,
    columns: list[str],
    copy: RawCopy,
    report: FileReport,
) -> None:
    """Good rows to the kind's table, bad ones to quarantine, failed identifiers and values reported."""
    engine = context.engine
    salt = suppressing.active_salt(engine)
    if salt is None:
        engine.define(names["mapped"], mapped)
    else:  # somebody was erased: their rows go nowhere, not even to quarantine
        engine.define(names["unsuppressed"], mapped)
        report.suppressed_rows = suppressing.set_aside(engine, names["unsuppressed"], names["mapped"], spec, salt)
        kept = suppressing.kept_rejects(engine, salt, copy.rejects)
        report.rows_suppressed = len(report.suppressed_rows) + len(copy.rejects) - len(kept)
        copy = dataclasses.replace(copy, rejects=kept)
        suppressing.record_hits(engine, spec.name, label, report.rows_suppressed, context.loaded_at)
    engine.materialise(names["repeated"], repeated_keys_sql(names["mapped"]))
    if engine.row_count(names["repeated"]):
        engine.define(names["checked"], checked_sql(names["mapped"], names["repeated"]))
    else:  # no key repeats (the usual case): the mapped rows as they are, nothing to compute again
        engine.view(names["checked"], checked_sql(names["mapped"], None))
    id_types = validated_identifiers(spec, columns, "the file")
    fields = checked_fields(spec, columns, "the file")
    engine.materialise(names["exceptions"], exceptions_sql(names["checked"], id_types, fields))
    exceptions = names["exceptions"] if engine.row_count(names["exceptions"]) else None
    report.rows_quarantined = ledger.quarantine_rows(
        engine, spec.name, label, exceptions, copy.rejects, context.loaded_at
    )
    report.rows_loaded = _write_target(context, spec, names["checked"], names["stored"])
    if exceptions is not None:  # every row loaded whole: no issue to report
        ledger.identifier_issues(engine, spec.name, exceptions, id_types, context.loaded_at)
        ledger.field_issues(engine, spec.name, exceptions, fields, context.loaded_at)
    report.rows_duplicate = report.rows_read - report.rows_quarantined - report.rows_loaded - report.rows_suppressed


def _drop_stage(engine: Engine, names: dict[str, str]) -> None:
    for part in reversed(STAGE_PARTS):
        engine.drop_table(names[part])


def _fail(
    context: IngestContext,
    book: SourceLedger,
    spec: SourceSpec,
    label: str,
    digest: str,
    reason: str,
) -> FileReport:
    """Record a file that cannot be loaded: one quarantine row with the reason, replacing an earlier one."""
    report = FileReport(spec.name, label, "failed", message=reason)
    with _refused_as_os_error(), context.engine.transaction():
        ledger.quarantine_file(context.engine, report, context.loaded_at)
        ledger.record(context.engine, book, report, digest, context.loaded_at)
    return report


def _empty(
    context: IngestContext, book: SourceLedger, spec: SourceSpec, label: str, digest: str, known: Entry
) -> FileReport:
    """Record a file with nothing in it; an earlier version's rows stay (see the ledger)."""
    kept = "; the rows of its previous version are kept" if known.loaded else ""
    report = FileReport(spec.name, label, "empty", message=f"empty file, nothing to load{kept}")
    with _refused_as_os_error(), context.engine.transaction():
        if known.failed:
            ledger.forget_failure(context.engine, spec.name, label)
        ledger.record(context.engine, book, report, digest, context.loaded_at)
    return report


def _left_over(engine: Engine, spec: SourceSpec, label: str) -> bool:
    """On an engine without transactions, rows an interrupted earlier load of this file left."""
    if "transactions" in CAPABILITIES[engine.name]:
        return False
    condition = f"source = {literal(spec.name)} AND _file = {literal(label)}"
    return bool(engine.scalar(f"SELECT count(*) FROM {TARGET_TABLE[spec.kind]} WHERE {condition}"))


def _write_target(context: IngestContext, spec: SourceSpec, checked: str, stored: str) -> int:
    """Insert the good rows; returns how many (events already stored are skipped: ``stored``
    names the table of their ids, usually empty)."""
    engine = context.engine
    table = TARGET_TABLE[spec.kind]
    fields = target_fields(spec.kind, spec.name, context.settings.currency, context.loaded_at)
    if table == "events":
        engine.materialise(stored, stored_ids_sql(checked, fields))
        skipped = stored if engine.row_count(stored) else None
        return engine.insert(table, list(fields), events_rows_sql(checked, fields, skipped))
    engine.delete_where(table, replaced_records_condition(table, checked, spec.name))
    return engine.insert(table, list(fields), records_rows_sql(checked, fields))


__all__ = [
    "RAW_FOLDER",
    "FileReport",
    "IngestContext",
    "SourceReport",
    "ensure_store",
    "ingest_sources",
    "raw_folder",
]
