"""The ingest step: load every source's new and changed files (see :mod:`personae.sources.ingest`)."""

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
        errors=[f"{report.name}: {report.error}" for report in reports if report.error],
    )
