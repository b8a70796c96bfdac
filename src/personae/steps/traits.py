"""The traits step: every trait per UID as of the run's day (see :mod:`personae.profiles.build`)."""

from __future__ import annotations

from datetime import date

from personae.profiles.build import build_traits
from personae.steps.context import RunContext, StepResult, keep_person_order, nobody_yet

STALE_DAYS = 90
"""An as-of day this long after the newest event makes every customer look lapsed."""


def stale_as_of(context: RunContext) -> str | None:
    """One line when the run's as-of day lies far past the newest event (a demo run as of today)."""
    newest = (
        context.engine.scalar("SELECT CAST(max(ts) AS DATE) FROM events")
        if context.engine.has_table("events")
        else None
    )
    if not isinstance(newest, date) or (context.as_of - newest).days <= STALE_DAYS:
        return None
    return (
        f"as of {context.as_of} is {(context.as_of - newest).days} days after the newest event ({newest}), so "
        f"customers look lapsed; set as_of = {newest} under [workspace] in personae.toml or pass --as-of {newest}"
    )


def run(context: RunContext) -> StepResult:
    if not context.engine.has_table("profiles"):
        return nobody_yet(context, "traits") or StepResult("traits", rows_in=0, rows_out=0)
    # with nobody yet the tables are made all the same, empty: live processing fills them
    result = build_traits(context.engine, context.config.traits_config(), context.as_of, full=context.full)
    warning = stale_as_of(context)
    note = (
        f"recomputed {result.full_because and 'everyone: ' + result.full_because}"
        if result.recomputed is None
        else f"incremental: recomputed {result.recomputed:,} of {result.people:,} people"
    )
    return StepResult(
        "traits",
        rows_in=result.orders,
        rows_out=result.people,
        details={"traits": result},
        warnings=[warning] if warning else [],
        note="; ".join([note, *keep_person_order(context, ["profiles"])]),
    )
