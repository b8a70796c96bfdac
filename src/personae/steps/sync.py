"""The sync step: every destination gets the changes since its cursors (DESIGN §5, step 7).

A destination that cannot take them now does not fail the run: its changes wait for the
next sync, and the step says why in a warning (``personae destinations`` shows it too).
"""

from __future__ import annotations

from datetime import UTC, datetime

from personae.activation.delivery import sync_destination
from personae.activation.destination import DeliveryContext
from personae.activation.kinds import make_destination
from personae.profiles.build import require_traits
from personae.steps.context import RunContext, StepResult


def run(context: RunContext) -> StepResult:
    specs = context.config.destinations
    if not specs:
        return StepResult("sync", rows_in=0, rows_out=0, note="no destinations in personae.toml")
    require_traits(context.engine)
    delivery = DeliveryContext(context.root, context.env)
    results, warnings = [], []
    for spec in specs:
        now = datetime.now(UTC).replace(tzinfo=None)
        made = make_destination(spec, delivery)
        purpose = context.config.privacy.served(spec.purpose)
        result = sync_destination(context.engine, spec, made, now, context.progress, purpose=purpose)
        results.append(result)
        if result.status != "ok":
            warnings.append(f"destination {spec.name!r}: {result.error}; its changes wait for the next sync")
        if result.dead_lettered:
            warnings.append(
                f"destination {spec.name!r}: {result.dead_lettered} changes dead-lettered "
                f"(`personae destinations --dead-letters {spec.name}`)"
            )
    sent = sum(result.sent for result in results)
    failed = [result.destination for result in results if result.status != "ok"]
    note = f"{len(specs)} destination{'s' if len(specs) > 1 else ''}, {sent:,} changes sent"
    if failed:
        note += f"; failed: {', '.join(failed)} (`personae destinations`)"
    details = {"destinations": results}
    return StepResult("sync", len(specs), sent, details=details, warnings=warnings, note=note)
