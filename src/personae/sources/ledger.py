"""What the store records about each input file: ``loaded_files`` (the ledger), ``quarantine`` and issues.

The ledger decides what a run does with a file, so that a rerun changes nothing:

- a checksum already loaded is skipped (wherever it sits in the source), and so is a
  path found empty with this same content;
- a path loaded before with other content is reloaded: its earlier rows are removed in
  the transaction that loads the new ones;
- a path that failed before is tried again, and its earlier whole-file quarantine row
  (``row`` and ``line`` NULL) is replaced, never appended to.

A file's status is ``loaded``, ``empty`` (nothing to load; an earlier version's rows stay,
since a file emptied by an export that died is no reason to delete them) or ``failed`` (it
cannot be read at all, or its columns do not fit the source's mapping; an earlier
version's rows stay, and the next run tries again).

Every function writes inside the caller's transaction; none commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.dialects import CAPABILITIES
from personae.engine.sql import literal, literals, timestamp_sql
from personae.sources.mapping import FieldCheck
from personae.sources.readers import Reject
from personae.sources.targets import field_issues_sql, malformed_identifiers_sql, quarantine_rows_sql

QUARANTINE_COLUMNS = ["source", "file", "row", "line", "reason", "raw", "quarantined_at"]
LEDGER_COLUMNS = [
    "source",
    "file",
    "checksum",
    "status",
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "rows_duplicate",
    "loaded_at",
]
WHOLE_FILE = "row IS NULL AND line IS NULL"
"""The quarantine row of a file that failed whole."""


@dataclass
class FileReport:
    source: str
    file: str
    status: str  # loaded | reloaded | skipped | empty | failed
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_suppressed: int = 0
    """Rows of erased people, set aside unread (:mod:`personae.sources.suppressing`)."""
    suppressed_rows: list[int] = field(default_factory=list)
    message: str = ""
    """Why the file failed, was skipped or is empty; never its name (``file`` holds that)."""


@dataclass(frozen=True)
class Entry:
    """What the ledger knows of a file before it is read."""

    done: bool
    """This content was loaded before (anywhere in the source), or found empty at this path."""
    loaded: bool
    """An earlier version of this path was loaded: the new one replaces its rows."""
    failed: bool
    """An earlier try of this path failed: its whole-file quarantine row is replaced."""


@dataclass
class SourceLedger:
    """What ``loaded_files`` holds of one source, as (file, checksum, status) rows: read once
    before the source's files load and kept as the store's by :func:`record`, so a file's
    :meth:`entry` costs no query, nor does knowing whether a record replaces a row (on Spark,
    a job each)."""

    rows: list[tuple[str, str, str]]
    counted: bool = False
    """The source's files count their problems before inserting (:func:`personae.sources.loading.guarded_load`):
    a file of it had quarantined or duplicate rows, or identifiers or values reported, in the
    last run that loaded one, or needed checking in this run."""

    @classmethod
    def read(cls, engine: Engine, source: str) -> SourceLedger:
        found = engine.fetch_rows(
            "SELECT file, checksum, status, loaded_at, rows_quarantined + rows_duplicate > 0 FROM loaded_files "
            f"WHERE source = {literal(source)}"
        )
        loads = [(file, loaded_at, bad) for file, _, status, loaded_at, bad in found if status == "loaded"]
        last = max((loaded_at for _, loaded_at, _ in loads), default=None)
        counted = any(bad for _, loaded_at, bad in loads if loaded_at == last)
        if not counted and last is not None and "transactions" in CAPABILITIES[engine.name]:  # guarded loads only
            files = [str(file) for file, loaded_at, _ in loads if loaded_at == last]
            counted = bool(engine.scalar(_issues_sql(source, files)))
        return cls([(str(file), str(checksum), str(status)) for file, checksum, status, _, _ in found], counted)

    def entry(self, file: str, checksum: str) -> Entry:
        rows = [
            (status, path == file, digest == checksum)
            for path, digest, status in self.rows
            if path == file or (digest == checksum and status == "loaded")
        ]
        done = any(same and (status == "loaded" or (status == "empty" and here)) for status, here, same in rows)
        loaded = any(status == "loaded" and here for status, here, _ in rows)
        return Entry(done=done, loaded=loaded, failed=any(status == "failed" and here for status, here, _ in rows))

    def holds(self, file: str, statuses: tuple[str, ...]) -> bool:
        return any(path == file and status in statuses for path, _, status in self.rows)

    def note(self, file: str, checksum: str, status: str, replaced: tuple[str, ...]) -> None:
        self.rows = [row for row in self.rows if not (row[0] == file and row[2] in replaced)]
        self.rows.append((file, checksum, status))


def _issues_sql(source: str, files: list[str]) -> str:
    """Whether any of these files of the source had an identifier or a value reported."""
    where = f"source = {literal(source)} AND file IN ({literals(files)})"
    return (
        f"SELECT EXISTS (SELECT 1 FROM identifier_issues WHERE {where}) "
        f"OR EXISTS (SELECT 1 FROM field_issues WHERE {where})"
    )


def record(engine: Engine, book: SourceLedger, report: FileReport, checksum: str, loaded_at: str) -> None:
    """The file's row in ``loaded_files`` (and in ``book``): a load replaces every earlier row of
    its path, a failure or an empty file only the earlier failures and empties (a loaded
    version stays). A path with no row to replace is spared the delete (on Spark, a rewrite
    of the table)."""
    status = report.status if report.status in ("failed", "empty") else "loaded"
    replaced = ("loaded", "failed", "empty") if status == "loaded" else ("failed", "empty")
    if book.holds(report.file, replaced):
        engine.delete_where(
            "loaded_files",
            f"source = {literal(report.source)} AND file = {literal(report.file)} AND status IN ({literals(replaced)})",
        )
    engine.insert("loaded_files", LEDGER_COLUMNS, _ledger_row_sql(report, checksum, status, loaded_at))
    book.note(report.file, checksum, status, replaced)


def record_new_loads(engine: Engine, book: SourceLedger, loads: list[tuple[FileReport, str]], loaded_at: str) -> None:
    """The rows in ``loaded_files`` of files loaded together (report, checksum), in one insert;
    their paths are new to the ledger, so there is nothing to replace."""
    held = [report.file for report, _ in loads if book.holds(report.file, ("loaded", "failed", "empty"))]
    if held:
        raise ValueError(f"files already in the ledger cannot be recorded as new: {held}")
    rows = [_ledger_row_sql(report, checksum, "loaded", loaded_at) for report, checksum in loads]
    engine.insert("loaded_files", LEDGER_COLUMNS, " UNION ALL ".join(rows))
    for report, checksum in loads:
        book.note(report.file, checksum, "loaded", ())


def _ledger_row_sql(report: FileReport, checksum: str, status: str, loaded_at: str) -> str:
    return (
        f"SELECT {literal(report.source)}, {literal(report.file)}, {literal(checksum)}, {literal(status)}, "
        f"{report.rows_read}, {report.rows_loaded}, {report.rows_quarantined}, {report.rows_duplicate}, "
        f"{timestamp_sql(loaded_at)}"
    )


def forget_failure(engine: Engine, source: str, file: str) -> None:
    """Remove the whole-file quarantine row an earlier failure of this path left."""
    engine.delete_where("quarantine", f"source = {literal(source)} AND file = {literal(file)} AND {WHOLE_FILE}")


def forget_file(engine: Engine, source: str, file: str, target: str) -> None:
    """Remove what an earlier version of this file loaded (its raw file is replaced on commit)."""
    where = f"source = {literal(source)} AND {{column}} = {literal(file)}"
    engine.delete_where(target, where.format(column="_file"))
    engine.delete_where("quarantine", where.format(column="file"))
    engine.delete_where("identifier_issues", where.format(column="file"))
    engine.delete_where("field_issues", where.format(column="file"))


def quarantine_file(engine: Engine, report: FileReport, at: str) -> None:
    """One quarantine row for a file that failed whole, replacing the one an earlier try left."""
    forget_failure(engine, report.source, report.file)
    engine.register_arrow(
        "failed_file", pa.table({"source": [report.source], "file": [report.file], "reason": [report.message]})
    )
    engine.insert(
        "quarantine",
        QUARANTINE_COLUMNS,
        "SELECT source, file, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), reason, "
        f"CAST(NULL AS VARCHAR), {timestamp_sql(at)} FROM failed_file",
    )


def quarantine_rows(
    engine: Engine, source: str, exceptions: str | None, rejects: list[tuple[str, Reject]], at: str
) -> int:
    """The bad rows of ``exceptions`` (with their reason; None when no row needs more than
    loading) and the lines the reader rejected, as (file, reject); returns how many."""
    count = 0
    if exceptions is not None:
        count = engine.insert("quarantine", QUARANTINE_COLUMNS, quarantine_rows_sql(exceptions, source, at))
    return count + _quarantine_rejects(engine, source, rejects, at)


def _quarantine_rejects(engine: Engine, source: str, rejects: list[tuple[str, Reject]], at: str) -> int:
    """The lines the reader rejected, as (file, reject), in one insert; returns how many."""
    if not rejects:
        return 0
    table = pa.table(
        {
            "file": [file for file, _ in rejects],
            "line": pa.array([reject.line for _, reject in rejects], pa.int64()),
            "reason": [reject.reason for _, reject in rejects],
            "raw": [reject.raw for _, reject in rejects],
        }
    )
    engine.register_arrow(f"rejects_{source}", table)
    return engine.insert(
        "quarantine",
        QUARANTINE_COLUMNS,
        f"SELECT {literal(source)}, file, CAST(NULL AS BIGINT), line, reason, raw, "
        f"{timestamp_sql(at)} FROM rejects_{source}",
    )


def identifier_issues(engine: Engine, source: str, exceptions: str, id_types: list[str], at: str) -> int:
    """Report identifier values that failed their check (the row itself still loads)."""
    if not id_types:
        return 0
    return engine.insert(
        "identifier_issues",
        ["source", "file", "row", "id_type", "value", "reason", "found_at"],
        malformed_identifiers_sql(exceptions, source, id_types, at),
    )


def field_issues(engine: Engine, source: str, exceptions: str, fields: list[FieldCheck], at: str) -> int:
    """Report optional values that do not parse (the row loads with the column NULL)."""
    if not fields:
        return 0
    return engine.insert(
        "field_issues",
        ["source", "file", "row", "field", "source_column", "value", "reason", "found_at"],
        field_issues_sql(exceptions, source, fields, at),
    )
