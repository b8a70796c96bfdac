"""The consent step: every consent decision with its person, then each person's state per
purpose (see :mod:`personae.privacy.consent`). After identity, which gives each decision
its person; before traits, which carry the state as ``consent_<purpose>``."""

from __future__ import annotations

from personae.engine.tables import ensure_tables
from personae.privacy.consent import CONSENT_COLUMNS, CONSENT_EVENT_COLUMNS, consent_events_sql, consent_state_sql
from personae.steps.context import RunContext, StepResult


def run(context: RunContext) -> StepResult:
    engine, config = context.engine, context.config
    ensure_tables(engine, ["consent_events", "consent"])
    purposes = config.privacy.purposes
    if not purposes:
        with engine.transaction():
            engine.delete_where("consent_events", "TRUE")
            engine.delete_where("consent", "TRUE")
        return StepResult("consent", rows_in=0, rows_out=0, note="no purposes declared ([privacy] purposes)")
    ready = engine.has_table("record_map")  # no identity yet: no decision has a person
    decisions = consent_events_sql(
        purposes,
        config.consent_columns() if ready and engine.has_table("customer_records") else (),
        records=ready and engine.has_table("consent_records"),
        events=ready and engine.has_table("events"),
    )
    with engine.transaction():
        engine.delete_where("consent_events", "TRUE")
        engine.insert("consent_events", list(CONSENT_EVENT_COLUMNS), decisions)
        engine.delete_where("consent", "TRUE")
        engine.insert("consent", list(CONSENT_COLUMNS), consent_state_sql("consent_events"))
    found = engine.row_count("consent_events")
    states = engine.row_count("consent")
    withdrawn = int(engine.scalar("SELECT count(*) FROM consent WHERE NOT granted"))
    return StepResult(
        "consent",
        rows_in=found,
        rows_out=states,
        note=f"{found:,} consent decisions; {states:,} person-purpose states ({withdrawn:,} refused or withdrawn)",
    )
