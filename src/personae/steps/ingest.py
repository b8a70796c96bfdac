"""The ingest step: load every source's new and changed files (see :mod:`personae.sources.ingest`).

A source that cannot be read, and every file of a source that failed whole, is an error
of the run: the other sources and files load, and ``personae run`` exits 1. An empty file
is a warning."""

from __future__ import annotations

from personae.sources.ingest import IngestContext, ingest_sources
from personae.steps.context import RunContext, StepResult


def run(context: RunContext) -> StepResult:
    config = context.config
    ingest = IngestContext(
        context.root,
        config.sources,
        config.ingest_settings(),
        context.engine,
        context.started,
        context.env,
        context.progress,
    )
    reports = ingest_sources(ingest)
    return StepResult(
        "ingest",
        rows_in=sum(report.total("rows_read") for report in reports),
        rows_out=sum(report.total("rows_loaded") for report in reports),
        details={"sources": reports},
        errors=[error for report in reports for error in report.errors],
        warnings=[
            f"{report.name}: {file.file}: {file.message}"
            for report in reports
            for file in report.files
            if file.status == "empty"
        ],
    )
