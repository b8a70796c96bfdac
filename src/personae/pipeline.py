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
    warnings: list[str] = field(default_factory=list)


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


def _nobody(context: RunContext, step: str) -> StepResult | None:
    """A skipped result when there is nobody to profile yet (no source has loaded a row)."""
    engine = context.ingest.engine
    if engine.has_table("profiles") and int(engine.scalar("SELECT count(*) FROM profiles")) > 0:
        return None
    return StepResult(step, rows_in=0, rows_out=0, warnings=[f"{step}: skipped, there are no people yet"])


def traits_step(context: RunContext) -> StepResult:
    from personae.profiles.build import build_traits

    if skipped := _nobody(context, "traits"):
        return skipped
    ingest = context.ingest
    result = build_traits(ingest.engine, ingest.config, context.as_of)
    return StepResult("traits", rows_in=result.orders, rows_out=result.people, details={"traits": result})


def models_step(context: RunContext) -> StepResult:
    from personae.models.step import run_models

    if skipped := _nobody(context, "models"):
        return skipped
    ingest = context.ingest
    if not ingest.config.models.enabled:
        return StepResult("models", rows_in=0, rows_out=0, warnings=["models are disabled ([models] enabled = false)"])
    result = run_models(ingest.engine, ingest.config, context.as_of, ingest.root / MODELS_FOLDER)
    return StepResult(
        "models",
        rows_in=result.people,
        rows_out=len(result.fitted),
        details={"models": result},
        warnings=result.warnings,
    )


def segment_step(context: RunContext) -> StepResult:
    from personae.segments.assignment import assign_segments

    if skipped := _nobody(context, "segment"):
        return skipped
    ingest = context.ingest
    result = assign_segments(ingest.engine, ingest.config, context.as_of, ingest.root / MODELS_FOLDER)
    changes = result.memberships.entered + result.memberships.exited if result.memberships else 0
    return StepResult("segment", rows_in=result.people, rows_out=changes, details={"segments": result})


Step = Callable[[RunContext], StepResult]
STEPS: tuple[tuple[str, Step], ...] = (
    ("ingest", ingest_step),
    ("identity", identity_step),
    ("golden", golden_step),
    ("traits", traits_step),
    ("models", models_step),
    ("segment", segment_step),
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
