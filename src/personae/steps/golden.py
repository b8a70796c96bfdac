"""The golden step: one golden record per UID by the survivorship rules (see :mod:`personae.golden.survivorship`)."""

from __future__ import annotations

from personae.golden.survivorship import build_golden_records
from personae.steps.context import RunContext, StepResult, keep_person_order


def run(context: RunContext) -> StepResult:
    identity = context.config.identity
    result = build_golden_records(context.engine, identity.survivorship, identity.source_priority, full=context.full)
    how = (
        f"rebuilt everyone: {result.full_because}"
        if result.rebuilt is None
        else f"incremental: rebuilt {result.rebuilt:,} of {result.people:,} golden records"
    )
    counted = f"{result.known:,} known customers, {result.anonymous:,} anonymous profiles"
    return StepResult(
        "golden",
        rows_in=result.people,
        rows_out=result.people,
        details={"golden": result},
        note="; ".join([how, counted, *keep_person_order(context, ["profiles"])]),
    )
