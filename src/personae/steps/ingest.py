"""The ingest step: load every source's new and changed files (see :mod:`personae.sources.ingest`),
then delete what is older than each source's retention (:mod:`personae.rights.retention`).

A source that cannot be read, and every file of a source that failed whole, is an error
of the run: the other sources and files load, and ``personae run`` exits 1. An empty file
is a warning."""

from __future__ import annotations

from pathlib import Path

from personae.realtime.journal import Journal
from personae.rights.retention import RetentionReport, enforce_retention
from personae.sources.ingest import IngestContext, ingest_sources
from personae.sources.specs import JOURNAL_FOLDER, SourceSpec
from personae.steps.context import RunContext, StepResult


def _seal(root: Path, source: str) -> None:
    """Seal a live source's journal when no server holds it (a torn tail is set aside first)."""
    folder = root / JOURNAL_FOLDER / source
    if folder.is_dir():
        with Journal(folder, command="personae run (sealing the journal)") as journal:
            journal.seal()


def _live_sources(context: RunContext) -> tuple[SourceSpec, ...]:
    """The sources to load: a live source whose journal holds no sealed segment yet has nothing."""
    kept = []
    for spec in context.config.sources:
        if spec.live:
            (context.seal or (lambda name: _seal(context.root, name)))(spec.name)
            if not any((context.root / JOURNAL_FOLDER / spec.name).glob("*.jsonl")):
                continue
        kept.append(spec)
    return tuple(kept)


def run(context: RunContext) -> StepResult:
    config = context.config
    ingest = IngestContext(
        context.root,
        _live_sources(context),
        config.ingest_settings(),
        context.engine,
        context.started,
        context.env,
        context.progress,
    )
    reports = ingest_sources(ingest)
    retention = enforce_retention(context.engine, context.root, config.sources, config.ingest_settings(), context.as_of)
    return StepResult(
        "ingest",
        rows_in=sum(report.total("rows_read") for report in reports),
        rows_out=sum(report.total("rows_loaded") for report in reports),
        details={"sources": reports, "retention": retention},
        errors=[error for report in reports for error in report.errors],
        warnings=[
            f"{report.name}: {file.file}: {file.message}"
            for report in reports
            for file in report.files
            if file.status == "empty"
        ]
        + [
            f"{report.source}: retention cannot date the rows of raw/{report.source}/{name} with the "
            "source's mapping (its columns changed); they are kept"
            for report in retention
            for name in report.undated_files
        ],
        note=_retention_note(retention),
    )


def _retention_note(reports: list[RetentionReport]) -> str:
    """Rows deleted by each source's retention (the run report and ``personae run`` show it)."""
    if not reports:
        return ""
    went = ", ".join(f"{r.source} {r.rows:,} rows ({r.raw_rows:,} raw) before {r.cutoff[:10]}" for r in reports)
    return f"retention deleted: {went}"
