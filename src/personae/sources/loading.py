"""Loading one new or changed file of a source into the store, in one transaction.

:func:`load_file` stages the file's raw copy, maps and checks every row
(:func:`~personae.sources.mapping.mapped_sql`), and in one transaction writes the good rows
to the kind's table, the bad ones (with their reason and raw content) to ``quarantine``,
identifiers and optional values that do not parse (their rows load, the column NULL) to
``identifier_issues`` and ``field_issues``, and the file to ``loaded_files``. New files of an
events-table source can instead load several at once (:mod:`personae.sources.grouped`).

Finding the bad rows takes a pass over the mapped rows before the insert. The usual file has
none, so an events-table file is first inserted guarded (:func:`guarded_load`): an error at
the first row that needs checking rolls the transaction back, and only then is the file
loaded by the counted path.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from personae.engine.base import Engine
from personae.engine.dialects import CAPABILITIES
from personae.engine.sql import literal, literals
from personae.errors import EngineError, MappingError
from personae.progress import Progress, silent
from personae.sources import ledger, raw_copy, readers, suppressing
from personae.sources.kinds import TARGET_TABLE
from personae.sources.ledger import Entry, FileReport, SourceLedger
from personae.sources.mapping import (
    FieldCheck,
    checked_fields,
    json_paths,
    jsonl_columns,
    mapped_sql,
    validated_identifiers,
)
from personae.sources.raw_copy import RawCopy
from personae.sources.readers import Reject
from personae.sources.specs import IngestSettings, SourceSpec
from personae.sources.targets import (
    GUARD_MESSAGE,
    checked_sql,
    event_id_prefix,
    events_rows_sql,
    exceptions_sql,
    guarded_rows_sql,
    problems_sql,
    records_rows_sql,
    repeated_events_sql,
    repeated_keys_sql,
    replaced_records_condition,
    stored_ids_sql,
    target_fields,
)

STAGE_PARTS = ("stage", "unsuppressed", "mapped", "repeated", "checked", "exceptions", "stored")


@dataclass(frozen=True)
class IngestContext:
    root: Path
    sources: tuple[SourceSpec, ...]
    settings: IngestSettings
    engine: Engine
    loaded_at: str
    env: Mapping[str, str]
    progress: Progress = silent


@dataclass(frozen=True)
class CopiedFile:
    """An input file whose raw copy is written (``partial``), waiting to load."""

    path: Path
    label: str
    digest: str
    known: Entry
    copy: RawCopy
    partial: Path


@contextlib.contextmanager
def refused_as_os_error() -> Iterator[None]:
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


def rows_sql(spec: SourceSpec, stage: str) -> str:
    """The staged file's rows (with the Segment fields and mapped JSON paths extracted, for JSONL)."""
    if spec.resolved_format != "jsonl":
        return stage
    return f"({readers.segment_fields_sql(stage, json_paths(spec))})"


def load_file(context: IngestContext, book: SourceLedger, spec: SourceSpec, copied: CopiedFile) -> FileReport:
    """Load one copied file alone; then its raw copy takes its place under ``raw/<source>/``.
    A file whose columns do not fit the mapping is recorded as failed."""
    try:
        report = _load(context, book, spec, copied)
    except MappingError as error:
        copied.partial.unlink(missing_ok=True)
        return record_failure(
            context, book, spec, copied.label, copied.digest, str(error).removeprefix(f"source {spec.name!r}: ")
        )
    except BaseException:
        copied.partial.unlink(missing_ok=True)
        raise
    suppressing.drop_rows(copied.partial, report.suppressed_rows, context.engine.reader())
    copied.partial.replace(raw_copy.raw_file(context.root, spec.name, copied.label))
    return report


def record_failure(
    context: IngestContext, book: SourceLedger, spec: SourceSpec, label: str, digest: str, reason: str
) -> FileReport:
    """Record a file that cannot be loaded: one quarantine row with the reason, replacing an earlier one."""
    report = FileReport(spec.name, label, "failed", message=reason)
    with refused_as_os_error(), context.engine.transaction():
        ledger.quarantine_file(context.engine, report, context.loaded_at)
        ledger.record(context.engine, book, report, digest, context.loaded_at)
    return report


def _load(context: IngestContext, book: SourceLedger, spec: SourceSpec, copied: CopiedFile) -> FileReport:
    """Stage, map and store the file's rows in one transaction; returns its report."""
    engine, label, known, copy = context.engine, copied.label, copied.known, copied.copy
    report = FileReport(spec.name, label, "reloaded" if known.loaded else "loaded", copy.rows + len(copy.rejects))
    jsonl = spec.resolved_format == "jsonl"
    typed = spec.resolved_format == "parquet" and "typed_stage" in CAPABILITIES[engine.name]
    with staged(engine, spec) as names:
        engine.stage(names["stage"], copied.path if typed else copied.partial)
        described = dict(engine.columns(names["stage"]))
        columns = jsonl_columns(spec) if jsonl else list(described)
        if typed:  # the input file itself: it has no _file column, and its columns keep their types
            relation = f"(SELECT *, {literal(label)} AS _file FROM {names['stage']})"
        else:
            relation = rows_sql(spec, names["stage"])
        try:
            stage_types = described if typed else None
            mapped = mapped_sql(
                relation, spec, columns, context.settings, jsonl=jsonl, stage_types=stage_types, file="the file"
            )
        except MappingError as error:
            hint = readers.delimiter_hint(columns, spec.csv.delimiter) if spec.resolved_format == "csv" else ""
            raise MappingError(f"{error}{hint}") from None
        counted = not guarded_load(engine, spec, book)
        while True:
            try:
                with refused_as_os_error(), engine.transaction():
                    if known.loaded or left_over(engine, spec, [label]):
                        ledger.forget_file(engine, spec.name, label, TARGET_TABLE[spec.kind])
                    elif known.failed:
                        ledger.forget_failure(engine, spec.name, label)
                    _store_rows(context, spec, label, names, mapped, columns, copy, report, counted=counted)
                    ledger.record(engine, book, report, copied.digest, context.loaded_at)
            except NeedsCount as needs:  # rolled back: the file loads again, counted
                counted = True
                book.counted = book.counted or needs.sticky
                report = FileReport(spec.name, label, report.status, report.rows_read)
                continue
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
    *,
    counted: bool = True,
) -> None:
    """Good rows to the kind's table, bad ones to quarantine, failed identifiers and values reported.

    Not ``counted`` (:func:`guarded_load`), the rows are inserted guarded, without counting
    their problems and repeated keys first; :class:`NeedsCount` when the file has any."""
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
    id_types = validated_identifiers(spec, columns, "the file")
    fields = checked_fields(spec, columns, "the file")
    rejects = [(label, reject) for reject in copy.rejects]
    if counted:
        _store_counted(context, spec, names, id_types, fields, rejects, report)
    else:
        engine.view(names["checked"], checked_sql(names["mapped"], None))
        report.rows_quarantined = ledger.quarantine_rows(engine, spec.name, None, rejects, context.loaded_at)
        report.rows_loaded = _write_guarded(context, spec, label, names, id_types, fields)
    report.rows_duplicate = report.rows_read - report.rows_quarantined - report.rows_loaded - report.rows_suppressed


def _store_counted(
    context: IngestContext,
    spec: SourceSpec,
    names: dict[str, str],
    id_types: list[str],
    fields: list[FieldCheck],
    rejects: list[tuple[str, Reject]],
    report: FileReport,
) -> None:
    """The rows' problems and repeated keys counted, then found (when any) and stored apart."""
    engine = context.engine
    problems, repeats = engine.fetch_rows(problems_sql(names["mapped"], id_types, fields))[0]
    if repeats:
        engine.materialise(names["repeated"], repeated_keys_sql(names["mapped"]))
        engine.define(names["checked"], checked_sql(names["mapped"], names["repeated"]))
    else:  # no key repeats (the usual case): the mapped rows as they are, nothing to compute again
        engine.view(names["checked"], checked_sql(names["mapped"], None))
    all_good = not (problems or repeats)
    exceptions = None
    if not all_good:
        engine.materialise(names["exceptions"], exceptions_sql(names["checked"], id_types, fields))
        exceptions = names["exceptions"]
    report.rows_quarantined = ledger.quarantine_rows(engine, spec.name, exceptions, rejects, context.loaded_at)
    report.rows_loaded = _write_target(context, spec, names["checked"], names["stored"], all_good=all_good)
    if exceptions is not None:  # every row loaded whole: no issue to report
        ledger.identifier_issues(engine, spec.name, exceptions, id_types, context.loaded_at)
        ledger.field_issues(engine, spec.name, exceptions, fields, context.loaded_at)


@contextlib.contextmanager
def staged(engine: Engine, spec: SourceSpec) -> Iterator[dict[str, str]]:
    """The names of a load's staged relations (one of each of :data:`STAGE_PARTS` per source),
    dropped when it ends."""
    names = {part: f"{part}_{spec.name}" for part in STAGE_PARTS}
    try:
        yield names
    except BaseException:
        with contextlib.suppress(duckdb.Error, EngineError):  # a store a full disk invalidated cannot drop them
            _drop_stage(engine, names)
        raise
    _drop_stage(engine, names)


def _drop_stage(engine: Engine, names: dict[str, str]) -> None:
    for part in reversed(STAGE_PARTS):
        engine.drop_table(names[part])


def left_over(engine: Engine, spec: SourceSpec, labels: list[str]) -> bool:
    """On an engine without transactions, whether an interrupted earlier load of any of these
    files left rows in the kind's table (the next load of such a file removes them first)."""
    if "transactions" in CAPABILITIES[engine.name]:
        return False
    condition = f"source = {literal(spec.name)} AND _file IN ({literals(labels)})"
    return bool(engine.scalar(f"SELECT count(*) FROM {TARGET_TABLE[spec.kind]} WHERE {condition}"))


class NeedsCount(Exception):
    """A guarded load met a row that needs checking, a repeated key or an id stored already: its
    transaction rolls back and the file loads by the counted path. ``sticky``: so do the
    source's next files in this run (not for stored ids, which cost no wasted insert)."""

    def __init__(self, *, sticky: bool = True) -> None:
        super().__init__("the file loads counted")
        self.sticky = sticky


def guarded_load(engine: Engine, spec: SourceSpec, book: SourceLedger) -> bool:
    """Whether the file's rows are inserted guarded (:func:`~personae.sources.targets.guarded_rows_sql`)
    instead of counting their problems first: an events-table source, on an engine whose
    transaction can take the insert back, unless a file of the source needed checking (in this
    run, or the last one the ledger holds), since a file with a problem pays the insert up to
    its first bad row before loading again."""
    return TARGET_TABLE[spec.kind] == "events" and "transactions" in CAPABILITIES[engine.name] and not book.counted


def _write_guarded(
    context: IngestContext,
    spec: SourceSpec,
    label: str,
    names: dict[str, str],
    id_types: list[str],
    checks: list[FieldCheck],
) -> int:
    """Insert every row of the file, or raise :class:`NeedsCount` (see :func:`guarded_load`)."""
    engine = context.engine
    fields = target_fields(spec.kind, spec.name, context.settings.currency, context.loaded_at)
    engine.materialise(names["stored"], stored_ids_sql(names["checked"], fields, event_id_prefix(spec.kind, spec.name)))
    if engine.row_count(names["stored"]):  # which of a repeated key's rows is skipped needs the count
        raise NeedsCount(sticky=False)
    return insert_guarded(engine, spec, [label], fields, guarded_rows_sql(names["checked"], fields, id_types, checks))


def insert_guarded(engine: Engine, spec: SourceSpec, labels: list[str], fields: dict[str, str], rows: str) -> int:
    """Insert the files' guarded ``rows`` into ``events``; :class:`NeedsCount` when the guard
    stopped at a row or the stored ids repeat."""
    try:
        inserted = engine.insert("events", list(fields), rows)
    except EngineError as error:
        if GUARD_MESSAGE in str(error):
            raise NeedsCount from None
        raise
    if engine.scalar(repeated_events_sql(spec.name, labels)):
        raise NeedsCount
    return inserted


def _write_target(context: IngestContext, spec: SourceSpec, checked: str, stored: str, *, all_good: bool) -> int:
    """Insert the good rows (``all_good``: every row is); returns how many (events already
    stored are skipped: ``stored`` names the table of their ids, usually empty)."""
    engine = context.engine
    table = TARGET_TABLE[spec.kind]
    fields = target_fields(spec.kind, spec.name, context.settings.currency, context.loaded_at)
    if table == "events":
        engine.materialise(stored, stored_ids_sql(checked, fields, event_id_prefix(spec.kind, spec.name)))
        skipped = stored if engine.row_count(stored) else None
        return engine.insert(table, list(fields), events_rows_sql(checked, fields, skipped, all_good=all_good))
    engine.delete_where(table, replaced_records_condition(table, checked, spec.name))
    return engine.insert(table, list(fields), records_rows_sql(checked, fields, all_good=all_good))
