"""The ingest step: load every source's new and changed files, losing nothing.

For each file of each source:

1. the ledger (:mod:`personae.sources.ledger`) says whether it is new, changed or
   already loaded; a file already loaded is skipped, a file whose path was loaded with
   other content is reloaded (its old rows are removed in the same transaction that loads
   the new ones, so there are no duplicates);
2. its raw copy is written as text (:mod:`personae.sources.raw_copy`) and the engine
   stages it;
3. :func:`~personae.sources.mapping.mapped_sql` maps, types and checks every row;
4. in one transaction (:mod:`personae.sources.loading`): good rows go to the kind's table,
   bad rows (with their reason and raw content) to ``quarantine``, identifiers and optional
   values that do not parse (their rows load, the column NULL) to ``identifier_issues`` and
   ``field_issues``, and the file to ``loaded_files``; then the raw copy is renamed into
   ``raw_<source>``. New files of an events-table source load several in one pass where
   nothing tells them apart but their rows (:mod:`personae.sources.grouped`): on Spark each
   statement is a job, and a source of monthly files costs a month's statements once.

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
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from personae.engine.base import Engine
from personae.engine.dialects import CAPABILITIES
from personae.engine.store_schema import MigrationReport, migrate_store
from personae.engine.tables import ensure_tables, step_tables
from personae.errors import ConfigError, EngineError, SourceError
from personae.sources import grouped, ledger, raw_copy, readers
from personae.sources.checksums import ChecksumCache
from personae.sources.ledger import Entry, FileReport, SourceLedger
from personae.sources.loading import CopiedFile, IngestContext, load_file, record_failure, refused_as_os_error
from personae.sources.raw_copy import RAW_FOLDER, raw_folder
from personae.sources.specs import SourceSpec

SNAPSHOTS = Path(".personae") / "snapshots"


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
    cache = ChecksumCache(context.root)
    try:
        for index, spec in enumerate(context.sources):
            context.progress(f"ingest {spec.name}", index, len(context.sources))
            reports.append(ingest_source(context, spec, cache))
    finally:  # the checksums read so far hold whatever became of their files' loads
        cache.save()
    context.progress("ingest", len(context.sources), len(context.sources))
    return reports


def ingest_source(context: IngestContext, spec: SourceSpec, cache: ChecksumCache) -> SourceReport:
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
            _ingest_files(context, spec, files, book, report.files, cache)
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
        with refused_as_os_error():
            context.engine.expose_folder(name, folder)


def _label(context: IngestContext, spec: SourceSpec, path: Path) -> str:
    if spec.resolved_format == "postgres":
        return f"postgres:{spec.table or 'query'}"
    try:
        return str(path.relative_to(context.root))
    except ValueError:
        return str(path)


def _ingest_files(
    context: IngestContext,
    spec: SourceSpec,
    files: list[Path],
    book: SourceLedger,
    reports: list[FileReport],
    cache: ChecksumCache,
) -> None:
    """Load the source's files in their order, appending each one's report to ``reports``.

    New files of an events-table source that can load together wait in a group
    (:mod:`personae.sources.grouped`) until a file that cannot join it, or the end; any other
    file loads alone, after the group before it, so rows always arrive in the files' order.
    A file with the content of one waiting ends the group first (the ledger then skips it)."""
    waiting: list[CopiedFile] = []
    order = {_label(context, spec, path): index for index, path in enumerate(files)}

    def load_waiting() -> None:
        reports.extend(grouped.load_files(context, book, spec, waiting))
        waiting.clear()

    try:
        for path in files:
            label = _label(context, spec, path)
            try:
                digest = cache.checksum(path)
            except OSError as error:
                reports.append(
                    record_failure(context, book, spec, label, "", f"cannot read the file: {error.strerror}")
                )
                continue
            if any(copied.digest == digest for copied in waiting):
                load_waiting()
            copied = _copied(context, spec, path, label, digest, book, reports)
            if copied is None:
                continue
            if not grouped.groupable(context, spec, book, copied):
                load_waiting()
                reports.append(load_file(context, book, spec, copied))
            else:
                if not grouped.fits(waiting, copied):
                    load_waiting()
                waiting.append(copied)
        load_waiting()
    finally:
        for copied in waiting:  # an error ended the run before they loaded
            copied.partial.unlink(missing_ok=True)
        reports.sort(key=lambda report: order.get(report.file, len(order)))


def _copied(
    context: IngestContext,
    spec: SourceSpec,
    path: Path,
    label: str,
    digest: str,
    book: SourceLedger,
    reports: list[FileReport],
) -> CopiedFile | None:
    """The file's raw copy, ready to load; None when there is nothing to load (its report is
    appended: skipped, failed or empty)."""
    known = book.entry(label, digest)
    if known.done:
        reports.append(FileReport(spec.name, label, "skipped", message="already loaded (same checksum)"))
        return None
    partial = raw_copy.raw_file(context.root, spec.name, label).with_suffix(".partial")
    try:
        typed = "typed_stage" in CAPABILITIES[context.engine.name]
        copy = raw_copy.copy_file(context.engine.reader(), spec, path, label, partial, context.loaded_at, typed=typed)
    except raw_copy.Unreadable as error:
        reports.append(record_failure(context, book, spec, label, digest, str(error)))
        return None
    if copy.empty or (copy.rows == 0 and not copy.rejects):
        partial.unlink(missing_ok=True)
        reports.append(_empty(context, book, spec, label, digest, known))
        return None
    return CopiedFile(path, label, digest, known, copy, partial)


def _empty(
    context: IngestContext, book: SourceLedger, spec: SourceSpec, label: str, digest: str, known: Entry
) -> FileReport:
    """Record a file with nothing in it; an earlier version's rows stay (see the ledger)."""
    kept = "; the rows of its previous version are kept" if known.loaded else ""
    report = FileReport(spec.name, label, "empty", message=f"empty file, nothing to load{kept}")
    with refused_as_os_error(), context.engine.transaction():
        if known.failed:
            ledger.forget_failure(context.engine, spec.name, label)
        ledger.record(context.engine, book, report, digest, context.loaded_at)
    return report


__all__ = [
    "RAW_FOLDER",
    "FileReport",
    "IngestContext",
    "SourceReport",
    "ensure_store",
    "ingest_sources",
    "raw_folder",
]
