"""Consent per purpose: every decision with its person, then each person's state per purpose.

Decisions come from three places, all in the store after ingest and identity:

- **consent sources** (``kind = "consent"``): one row per decision in ``consent_records``;
- **customer-record columns** (``consent = { email_marketing = "newsletter" }`` on a
  customers source): the column's value, dated by the record's ``updated_at``;
- **events** carrying Segment's ``context.consent.categoryPreferences`` (purpose -> bool),
  through batch ingest of event files and through the server's tracking API alike
  (the ``consent`` column of ``events``).

Each is joined to ``record_map`` (the identity step's person behind every record and
event), so a decision belongs to whoever its identifiers resolve to, now: a merge moves
the decisions with the people. ``consent_events`` holds them all; ``consent`` holds, per
person and purpose, the latest one. *Latest* is the time of the decision, not of its
arrival: an older grant that arrives after a withdrawal does not undo it; and at the same
instant a withdrawal beats a grant (the safe reading of a conflict). Ties beyond that are
broken by source and record id, so both engines choose the same row.

Only declared purposes count: a decision for a purpose the workspace does not declare is
kept in ``consent_records`` (or its event) and ignored here. The functions return
DuckDB-dialect SQL that every engine runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from personae.engine.sql import identifier, literal, literals
from personae.privacy.purposes import Purpose

TRUE_WORDS = ("true", "t", "1", "yes", "y")
FALSE_WORDS = ("false", "f", "0", "no", "n")
CONSENT_EVENT_COLUMNS = ("uid", "purpose", "granted", "decided_at", "source", "record_id", "origin")
CONSENT_COLUMNS = ("uid", "purpose", "granted", "decided_at", "source")


@dataclass(frozen=True)
class ConsentColumn:
    """A customers source's column that holds a purpose's decision."""

    source: str
    purpose: str
    expression: str
    """SQL over ``customer_records`` (aliased ``r``) giving the column's text."""


def decision_sql(text: str) -> str:
    """true/false from the words a consent column holds; NULL (no decision) for anything else."""
    lowered = f"lower(trim(CAST({text} AS VARCHAR)))"
    return (
        f"CASE WHEN {lowered} IN ({literals(TRUE_WORDS)}) THEN TRUE "
        f"WHEN {lowered} IN ({literals(FALSE_WORDS)}) THEN FALSE END"
    )


def customer_column_expression(column: str, canonical: str | None) -> str:
    """The text of a source column in ``customer_records``: its canonical column when the
    mapping took it (``email_opt_in``), else its value kept in ``attributes``."""
    if canonical is not None:
        return f"r.{identifier(canonical)}"
    return f"json_extract_string(r.attributes, {literal('$.' + json_key(column))})"


def json_key(name: str) -> str:
    """A JSON path step for any key (quoted, as both engines read it)."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _row(uid: str, purpose: str, granted: str, at: str, source: str, record: str, origin: str) -> str:
    return (
        f"SELECT {uid} AS uid, {purpose} AS purpose, {granted} AS granted, CAST({at} AS TIMESTAMP) AS decided_at, "
        f"{source} AS source, {record} AS record_id, {literal(origin)} AS origin"
    )


def consent_events_sql(
    purposes: Sequence[Purpose],
    columns: Sequence[ConsentColumn] = (),
    *,
    records: bool = True,
    events: bool = True,
) -> str:
    """Every decision on a declared purpose, with its person (columns :data:`CONSENT_EVENT_COLUMNS`).

    ``records`` / ``events``: whether ``consent_records`` and ``events`` exist to be read."""
    names = [purpose.name for purpose in purposes]
    if not names:
        return _empty()
    parts: list[str] = []
    if records:
        parts.append(
            f"{_row('m.uid', 'c.purpose', 'c.granted', 'c.ts', 'c.source', 'c.record_id', 'consent')} "
            "FROM consent_records AS c JOIN record_map AS m ON m.source = c.source AND m.record_id = c.record_id "
            f"WHERE c.purpose IN ({literals(names)}) AND c.granted IS NOT NULL"
        )
    if events:
        for name in names:
            value = f"json_extract_string(e.consent, {literal('$.' + json_key(name))})"
            parts.append(
                f"{_row('m.uid', literal(name), decision_sql(value), 'e.ts', 'e.source', 'e.event_id', 'event')} "
                "FROM events AS e JOIN record_map AS m ON m.source = e.source AND m.record_id = e.event_id "
                f"WHERE e.consent IS NOT NULL AND {decision_sql(value)} IS NOT NULL"
            )
    for column in columns:
        if column.purpose not in names:
            continue
        granted = decision_sql(column.expression)
        dated = "coalesce(r.updated_at, r._loaded_at)"
        parts.append(
            f"{_row('m.uid', literal(column.purpose), granted, dated, 'r.source', 'r.record_id', 'customer')} "
            "FROM customer_records AS r JOIN record_map AS m ON m.source = r.source AND m.record_id = r.record_id "
            f"WHERE r.source = {literal(column.source)} AND {granted} IS NOT NULL"
        )
    return " UNION ALL ".join(parts) if parts else _empty()


def _empty() -> str:
    return (
        _row(
            "CAST(NULL AS VARCHAR)",
            "CAST(NULL AS VARCHAR)",
            "CAST(NULL AS BOOLEAN)",
            "NULL",
            "CAST(NULL AS VARCHAR)",
            "CAST(NULL AS VARCHAR)",
            "none",
        )
        + " WHERE FALSE"
    )


def consent_state_sql(decisions: str = "consent_events") -> str:
    """Each person's latest decision per purpose (columns :data:`CONSENT_COLUMNS`).

    Latest by ``decided_at``; at the same instant a withdrawal wins; then source and record id."""
    ranked = (
        "SELECT uid, purpose, granted, decided_at, source, row_number() OVER (PARTITION BY uid, purpose "
        "ORDER BY decided_at DESC, granted ASC, source ASC, record_id ASC) AS _n "
        f"FROM {decisions} WHERE uid IS NOT NULL AND decided_at IS NOT NULL"
    )
    return f"SELECT uid, purpose, granted, decided_at, source FROM ({ranked}) AS d WHERE _n = 1"


def allowed_sql(purpose: Purpose, uid: str = "uid") -> str:
    """True when the person ``uid`` may be used for ``purpose``: their state, else the default."""
    decided = f"SELECT c.granted FROM consent AS c WHERE c.uid = {uid} AND c.purpose = {literal(purpose.name)}"
    default = "TRUE" if purpose.granted_by_default else "FALSE"
    return f"coalesce(({decided}), {default})"


def allowed_people_sql(purpose: Purpose) -> str:
    """The UIDs whose decision differs from the default for ``purpose`` (granted when it is
    denied by default, withdrawn when it is granted by default)."""
    wanted = "FALSE" if purpose.granted_by_default else "TRUE"
    return f"SELECT uid FROM consent WHERE purpose = {literal(purpose.name)} AND granted = {wanted}"


def allowed_condition(purpose: Purpose, uid: str = "uid") -> str:
    """A condition on ``uid`` that holds for the people who may be used for ``purpose``."""
    if purpose.granted_by_default:
        return f"{uid} NOT IN ({allowed_people_sql(purpose)})"
    return f"{uid} IN ({allowed_people_sql(purpose)})"


def consent_traits_sql(purposes: Sequence[Purpose], people: str) -> str:
    """One row per uid of ``people``: ``consent_<purpose>`` for every purpose (the state, else the default)."""
    if not purposes:
        return f"SELECT uid FROM {people}"
    columns = []
    for purpose in purposes:
        default = "TRUE" if purpose.granted_by_default else "FALSE"
        state = f"max(CASE WHEN c.purpose = {literal(purpose.name)} THEN CAST(c.granted AS INTEGER) END)"
        columns.append(f"coalesce(CAST({state} AS BOOLEAN), {default}) AS {identifier(purpose.trait)}")
    return (
        f"SELECT p.uid, {', '.join(columns)} FROM {people} AS p LEFT JOIN consent AS c ON c.uid = p.uid GROUP BY p.uid"
    )
