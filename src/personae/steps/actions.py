"""The actions step: every person's next best action per channel (see :mod:`personae.activation.actions`).

It runs after ``segment``, so a rule's ``in_segment`` reads the memberships of the same day.
The rules are parsed again against the store's profile columns: the config checked them
against the columns it declares, the store's are the ones the SQL reads.
"""

from __future__ import annotations

from personae.activation.action_specs import parse_action_rule
from personae.activation.actions import choose_actions, clear_actions
from personae.errors import WorkspaceError
from personae.profiles.build import traits_as_of
from personae.segments.people import profile_columns
from personae.steps.context import RunContext, StepResult, nobody_yet


def run(context: RunContext) -> StepResult:
    actions = context.config.actions
    if not actions:
        clear_actions(context.engine)
        return StepResult("actions", rows_in=0, rows_out=0)
    if skipped := nobody_yet(context, "actions"):
        return skipped
    engine = context.engine
    stored = traits_as_of(engine)
    if stored != context.as_of:
        raise WorkspaceError(
            f"profiles hold traits as of {stored}, not {context.as_of}: run `personae run --as-of {context.as_of}`"
        )
    columns = profile_columns(engine)
    checked = [(spec, parse_action_rule(spec, columns)) for spec in actions]
    result = choose_actions(engine, checked, context.as_of, context.started)
    chosen = sum(arms["treated"] + arms["held_out"] for arms in result.counts.values())
    held = sum(arms["held_out"] for arms in result.counts.values())
    note = f"{chosen:,} next actions for {result.people:,} people, {held:,} held out"
    if result.blocked:
        note += f"; {result.blocked:,} eligible left out by a cap or cool-down"
    warnings = []
    if result.backfill:
        warnings.append(f"actions: {context.as_of} is before the latest day recorded; next_actions left as it was")
    return StepResult(
        "actions",
        rows_in=engine.row_count("profiles"),
        rows_out=chosen,
        details={"actions": result},
        note=note,
        warnings=warnings,
    )
