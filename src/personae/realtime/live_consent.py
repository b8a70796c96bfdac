"""Consent in live processing: the people a micro-batch touched get their consent state and
their ``consent_<purpose>`` columns recomputed by the batch step's own SQL.

An event sent to ``personae serve`` with ``context.consent.categoryPreferences`` is a
decision like any other: once live processing has stored the event and its person, the
decisions of the touched people are derived again from the store
(:func:`~personae.privacy.consent.consent_events_sql`, restricted to them), then their state
(:func:`~personae.privacy.consent.consent_state_sql`) and their profile columns, in the
micro-batch's transaction. So live equals batch by construction, a merge moves decisions
with the person, and a malformed payload (which ingest's mapping drops here and
quarantines in the batch run) leaves the previous state alone. Rules that read
``consent_<purpose>`` read the profiles just updated; live destinations with a purpose are
woken when a state changed, and their consent gate sends the exits.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.sql import identifier
from personae.engine.tables import ensure_tables
from personae.privacy.consent import (
    CONSENT_COLUMNS,
    CONSENT_EVENT_COLUMNS,
    ConsentColumn,
    consent_events_sql,
    consent_state_sql,
    consent_traits_sql,
)
from personae.privacy.purposes import Purpose

TOUCHED = "_live_consent_people"


def refresh_consent(
    engine: Engine,
    purposes: Sequence[Purpose],
    columns: Sequence[ConsentColumn],
    uids: Sequence[str],
    *,
    decisions: bool,
) -> bool:
    """Recompute the consent of ``uids`` (their decisions too when ``decisions``: the batch
    carried consent or moved people) and their profile columns; True when a state changed."""
    if not purposes or not uids:
        return False
    ensure_tables(engine, ["consent_events", "consent"])
    engine.register_arrow(TOUCHED, pa.table({"uid": pa.array(sorted(set(uids)), pa.string())}))
    scope = f"uid IN (SELECT uid FROM {TOUCHED})"
    state = f"SELECT uid, purpose, granted FROM consent WHERE {scope}"
    before = set(engine.fetch_rows(state))
    if decisions:
        every = consent_events_sql(
            purposes,
            columns if engine.has_table("customer_records") else (),
            records=engine.has_table("consent_records"),
            events=True,
        )
        engine.delete_where("consent_events", scope)
        engine.insert("consent_events", list(CONSENT_EVENT_COLUMNS), f"SELECT * FROM ({every}) AS d WHERE {scope}")
        engine.delete_where("consent", scope)
        engine.insert("consent", list(CONSENT_COLUMNS), f"SELECT * FROM ({consent_state_sql()}) AS s WHERE {scope}")
    present = {name for name, _ in engine.columns("profiles")}
    missing = [(purpose.trait, "BOOLEAN") for purpose in purposes if purpose.trait not in present]
    if missing:  # purposes declared since the last run: the columns come before the values
        engine.add_columns("profiles", missing)
    values = ", ".join(f"{identifier(p.trait)} = t.{identifier(p.trait)}" for p in purposes)
    engine.execute(
        f"UPDATE profiles SET {values} FROM ({consent_traits_sql(purposes, TOUCHED)}) AS t WHERE profiles.uid = t.uid"
    )
    return set(engine.fetch_rows(state)) != before
