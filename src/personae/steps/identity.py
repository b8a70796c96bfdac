"""The identity step: identifiers → graph → components → stable UIDs (see :mod:`personae.identity.resolve`)."""

from __future__ import annotations

from personae.steps.context import RunContext, StepResult, keep_person_order

IN_PLACE = ("identity_map", "record_map", "identity_edges")
"""The tables an incremental identity run changes in place."""


def run(context: RunContext) -> StepResult:
    from personae.identity.resolve import resolve_identities  # SciPy: loaded only to resolve

    config = context.config
    settings = config.identity.model_copy(update={"incremental": False}) if context.full else config.identity
    result = resolve_identities(
        context.engine,
        settings,
        extra_types=config.extra_identifier_types(),
        phone_region=config.workspace.phone_region,
        at=context.started,
        models=context.models,
    )
    usable = result.identifiers - result.blocked - result.shared
    if result.scoped:
        notes = [f"incremental: recomputed the people of {result.recomputed:,} of {usable:,} usable identifiers"]
        if result.folded is not None:
            notes.append(f"the stored graph folded forward over the {result.folded:,} records with new rows")
        elif result.rebuilt_because:
            notes.append(f"the graph was built from every record: {result.rebuilt_because}")
    elif context.full:
        notes = ["recomputed everyone: a full run was asked for (--full)"]
    elif not config.identity.incremental:
        notes = ["recomputed everyone: [identity] incremental = false"]
    else:
        notes = ["recomputed everyone: no earlier identity run to start from"]
    if result.fuzzy_kept:
        notes.append("fuzzy pairs kept from the last run: the customer records are unchanged")
    notes += keep_person_order(context, IN_PLACE)
    return StepResult(
        "identity",
        rows_in=result.identifiers,
        rows_out=result.people,
        details={"identity": result},
        warnings=list(result.warnings),
        note="; ".join(notes),
    )
