"""The ordered steps of a run (DESIGN §5). Each step is a function in a module of its name
that takes the :class:`RunContext` and returns a :class:`StepResult`; later steps
(identity, golden, traits, models, segment, sync) plug into ``STEPS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from personae.sources.ingest import IngestContext, SourceReport, ingest


@dataclass(frozen=True)
class RunContext:
    ingest: IngestContext
    as_of: date


@dataclass
class StepResult:
    name: str
    rows_in: int
    rows_out: int
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def ingest_step(context: RunContext) -> StepResult:
    reports = ingest(context.ingest)
    errors = [f"{report.name}: {report.error}" for report in reports if report.error]
    return StepResult(
        "ingest",
        rows_in=sum(report.total("rows_read") for report in reports),
        rows_out=sum(report.total("rows_loaded") for report in reports),
        details={"sources": reports},
        errors=errors,
    )


def identity_step(context: RunContext) -> StepResult:
    from personae.identity.resolve import resolve_identities

    ingest = context.ingest
    result = resolve_identities(ingest.engine, ingest.config, ingest.loaded_at, ingest.root / MODELS_FOLDER)
    return StepResult("identity", rows_in=result.identifiers, rows_out=result.people, details={"identity": result})


def golden_step(context: RunContext) -> StepResult:
    from personae.identity.survivorship import build_profiles

    ingest = context.ingest
    people = build_profiles(ingest.engine, ingest.config.identity)
    return StepResult("golden", rows_in=people, rows_out=people)


Step = Callable[[RunContext], StepResult]
STEPS: tuple[tuple[str, Step], ...] = (
    ("ingest", ingest_step),
    ("identity", identity_step),
    ("golden", golden_step),
)
MODELS_FOLDER = "models"


def run_steps(context: RunContext, only: str | None = None) -> list[StepResult]:
    """Run the steps in order (or just ``only``), timing each."""
    names = [name for name, _ in STEPS]
    if only is not None and only not in names:
        raise ValueError(f"no step named {only!r}; steps are {', '.join(names)}")
    results = []
    for name, step in STEPS:
        if only is not None and name != only:
            continue
        started = time.perf_counter()
        result = step(context)
        result.seconds = time.perf_counter() - started
        results.append(result)
    return results


def source_reports(results: list[StepResult]) -> list[SourceReport]:
    for result in results:
        if result.name == "ingest":
            return list(result.details["sources"])
    return []
