"""The traits step: every trait per UID as of the run's day (see :mod:`personae.profiles.build`)."""

from __future__ import annotations

from personae.profiles.build import build_traits
from personae.steps.context import RunContext, StepResult, nobody_yet


def run(context: RunContext) -> StepResult:
    if skipped := nobody_yet(context, "traits"):
        return skipped
    result = build_traits(context.engine, context.config.traits_config(), context.as_of)
    return StepResult("traits", rows_in=result.orders, rows_out=result.people, details={"traits": result})
