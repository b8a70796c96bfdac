"""New files of an events-table source, loaded together in one pass.

On Spark every statement is a job with a fixed cost of a few tenths of a second, and a file
costs about seven of them (stage, repeated keys, stored ids, exceptions, insert, issues,
ledger): the demo's 24 monthly web files were most of a small Spark run's ingest. Files that
nothing tells apart but their rows load as one staged relation (``_file`` keeps each row's
file, ``_row`` its line) through the statements of one file.

A group holds only files that loading one by one would load the same way, so the store ends
the same row for row and each file keeps its own report and ledger row:

- paths new to the ledger (nothing of theirs to remove or replace), raw copies with the same
  columns, of a kind whose rows go to ``events`` (orders, order lines, events: rows are added,
  never replaced, so the files' order matters only through repeated ids);
- no erased person's rows to set aside (the suppression list is empty), and on an engine
  without transactions no rows an interrupted load of these files left;
- no key repeated within the group and no id stored already: the usual case, checked with
  one pass over the keys (or, for a guarded load, over the ids once stored, see
  :func:`~personae.sources.loading.guarded_load`; a row that needs checking rolls the guarded
  insert back and the group loads counted); otherwise the files load one by one as they
  always did, and the duplicates are found and reported per file.

A group closes at :data:`GROUP_ROWS` rows: a large file's statements cost little next to its
rows, and it loads alone as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow.parquet as pq

from personae.engine.dialects import CAPABILITIES
from personae.errors import EngineError, MappingError
from personae.sources import ledger, raw_copy, suppressing
from personae.sources.kinds import TARGET_TABLE
from personae.sources.ledger import FileReport, SourceLedger
from personae.sources.loading import (
    CopiedFile,
    IngestContext,
    NeedsCount,
    guarded_load,
    insert_guarded,
    left_over,
    load_file,
    refused_as_os_error,
    rows_sql,
    staged,
)
from personae.sources.mapping import FieldCheck, checked_fields, jsonl_columns, mapped_sql, validated_identifiers
from personae.sources.specs import SourceSpec
from personae.sources.targets import (
    checked_sql,
    event_id_prefix,
    events_rows_sql,
    exceptions_sql,
    guarded_rows_sql,
    problems_sql,
    stored_ids_sql,
    target_fields,
)

GROUP_ROWS = 1_000_000
"""Rows of raw copies a group holds at most."""


def groupable(context: IngestContext, spec: SourceSpec, book: SourceLedger, copied: CopiedFile) -> bool:
    """Whether the file may load in a group (else it loads alone)."""
    typed = spec.resolved_format == "parquet" and "typed_stage" in CAPABILITIES[context.engine.name]
    return (
        TARGET_TABLE[spec.kind] == "events"
        and not typed  # the stage is the input file itself, with its own column types
        and not book.holds(copied.label, ("loaded", "failed", "empty"))
        and copied.copy.rows < GROUP_ROWS
    )


def fits(waiting: list[CopiedFile], copied: CopiedFile) -> bool:
    """Whether a groupable file joins the files waiting (same columns, room left)."""
    if not waiting:
        return True
    rows = sum(each.copy.rows for each in waiting) + copied.copy.rows
    return rows <= GROUP_ROWS and _columns(waiting[0]) == _columns(copied)


def _columns(copied: CopiedFile) -> list[tuple[str, str]]:
    return [(column.name, str(column.type)) for column in pq.read_schema(copied.partial)]


def load_files(
    context: IngestContext, book: SourceLedger, spec: SourceSpec, waiting: list[CopiedFile]
) -> list[FileReport]:
    """Load the waiting files, together when they can, else one by one; returns their reports."""
    if len(waiting) > 1:
        reports = _load_together(context, book, spec, waiting)
        if reports is not None:
            for copied in waiting:
                copied.partial.replace(raw_copy.raw_file(context.root, spec.name, copied.label))
            return reports
    return [load_file(context, book, spec, copied) for copied in waiting]


def _load_together(
    context: IngestContext, book: SourceLedger, spec: SourceSpec, waiting: list[CopiedFile]
) -> list[FileReport] | None:
    with staged(context.engine, spec) as names:
        group = _mapped_group(context, spec, waiting, names)
        if group is None:
            return None
        try:
            return _store_together(context, book, spec, waiting, names, group)
        except NeedsCount:  # rolled back: counted now, as are the source's next files (guarded_load)
            book.counted = True
            return _store_together(context, book, spec, waiting, names, group)


@dataclass(frozen=True)
class MappedGroup:
    """The group's staged rows, mapped (as ``names["mapped"]``): what its loads check and write."""

    id_types: list[str]
    checks: list[FieldCheck]
    fields: dict[str, str]


def _mapped_group(
    context: IngestContext, spec: SourceSpec, waiting: list[CopiedFile], names: dict[str, str]
) -> MappedGroup | None:
    """The files staged as one relation and mapped; None when they must load one by one."""
    engine = context.engine
    labels = [copied.label for copied in waiting]
    if suppressing.active_salt(engine) is not None or left_over(engine, spec, labels):
        return None
    jsonl = spec.resolved_format == "jsonl"
    engine.stage(names["stage"], [copied.partial for copied in waiting])
    columns = jsonl_columns(spec) if jsonl else [name for name, _ in engine.columns(names["stage"])]
    try:
        mapped = mapped_sql(rows_sql(spec, names["stage"]), spec, columns, context.settings, jsonl=jsonl)
        id_types = validated_identifiers(spec, columns, "the file")
        checks = checked_fields(spec, columns, "the file")
    except MappingError:  # each file then fails alone, with its own report
        return None
    engine.define(names["mapped"], mapped)
    return MappedGroup(
        id_types, checks, target_fields(spec.kind, spec.name, context.settings.currency, context.loaded_at)
    )


def _store_together(
    context: IngestContext,
    book: SourceLedger,
    spec: SourceSpec,
    waiting: list[CopiedFile],
    names: dict[str, str],
    group: MappedGroup,
) -> list[FileReport] | None:
    """The files' rows stored in one transaction; None when they must load one by one."""
    engine = context.engine
    labels = [copied.label for copied in waiting]
    id_types, checks, fields = group.id_types, group.checks, group.fields
    counted = not guarded_load(engine, spec, book)
    problems = 0
    if counted:
        problems, repeats = engine.fetch_rows(problems_sql(names["mapped"], id_types, checks))[0]
        if repeats:
            return None
    engine.materialise(names["stored"], stored_ids_sql(names["mapped"], fields, event_id_prefix(spec.kind, spec.name)))
    if engine.row_count(names["stored"]):
        return None
    engine.view(names["checked"], checked_sql(names["mapped"], None))
    exceptions = None
    if problems:
        engine.materialise(names["exceptions"], exceptions_sql(names["checked"], id_types, checks))
        exceptions = names["exceptions"]
    reports = _reports(context, spec, waiting, exceptions)
    rejects = [(copied.label, reject) for copied in waiting for reject in copied.copy.rejects]
    with refused_as_os_error(), engine.transaction():
        # the rows first: on an engine without transactions, rows of an interrupted load are
        # what tells the next run to remove what these files left (loading.left_over)
        if counted:
            rows = events_rows_sql(names["checked"], fields, None, all_good=not problems)  # no key repeats here
            inserted = engine.insert("events", list(fields), rows)
        else:
            rows = guarded_rows_sql(names["checked"], fields, id_types, checks)
            inserted = insert_guarded(engine, spec, labels, fields, rows)
        expected = sum(report.rows_loaded for report in reports)
        if inserted != expected:
            raise EngineError(
                f"loading {len(waiting)} files of source {spec.name!r} together stored {inserted} rows, "
                f"not the {expected} their copies hold less the quarantined ones; nothing was kept"
            )
        ledger.quarantine_rows(engine, spec.name, exceptions, rejects, context.loaded_at)
        if exceptions is not None:
            ledger.identifier_issues(engine, spec.name, exceptions, id_types, context.loaded_at)
            ledger.field_issues(engine, spec.name, exceptions, checks, context.loaded_at)
        loads = [(report, copied.digest) for report, copied in zip(reports, waiting, strict=True)]
        ledger.record_new_loads(engine, book, loads, context.loaded_at)
    return reports


def _reports(
    context: IngestContext, spec: SourceSpec, waiting: list[CopiedFile], exceptions: str | None
) -> list[FileReport]:
    """Each file's counts: no key repeats and no id is stored, so every row not quarantined loads."""
    bad: dict[str, int] = {}
    if exceptions is not None:
        found = context.engine.fetch_rows(
            f"SELECT _file, count(*) FROM {exceptions} WHERE _reason IS NOT NULL OR NOT _first GROUP BY _file"
        )
        bad = {str(file): int(count) for file, count in found}
    reports = []
    for copied in waiting:
        rejected, quarantined = len(copied.copy.rejects), bad.get(copied.label, 0)
        reports.append(
            FileReport(
                spec.name,
                copied.label,
                "loaded",
                rows_read=copied.copy.rows + rejected,
                rows_loaded=copied.copy.rows - quarantined,
                rows_quarantined=quarantined + rejected,
            )
        )
    return reports
