"""Read-only views of identity: one person's 360° view, and the identity report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.engine.tables import IDENTIFIER_TYPES
from personae.errors import PersonNotFound
from personae.identity.explain import fuzzy_model_report
from personae.identity.graph import RECORD_TYPE
from personae.sources.normalise import identifier_sql
from personae.spec import did_you_mean

RECENT_EVENTS = 10
REPORT_ROWS = 10


@dataclass(frozen=True)
class Lineage:
    """A golden-record value with the source and time of the record it came from."""

    value: Any
    source: str | None
    at: datetime | None


@dataclass(frozen=True)
class PersonView:
    """One person's 360° view."""

    uid: str
    golden: dict[str, Any]
    """Attribute -> its value: a :class:`Lineage` for values chosen among records, else plain."""
    identifiers: list[dict[str, Any]]
    """Rows: id_type, id_value, first_seen, last_seen, records."""
    records: dict[str, int]
    """Source -> how many of its records and events are this person's."""
    events: list[dict[str, Any]]
    """The latest events, newest first: ts, source, type, name, amount, category, channel."""
    segments: list[dict[str, Any]] = field(default_factory=list)
    """The segments the person is in now: segmentation, segment, score, entered_at."""
    scores: dict[str, Any] = field(default_factory=dict)
    """The models' scores and predictions (churn probability, CLV, P(alive), ...)."""
    merges: list[dict[str, Any]] = field(default_factory=list)
    """The person's UID changes: the UIDs merged into theirs or split from it (old_uid, new_uid, at, reason)."""
    next_actions: list[dict[str, Any]] = field(default_factory=list)
    """The best action per channel now (channel, action, priority, expected_value, held_out, as_of);
    filled in by the workspace, which knows the ``[[actions]]``."""


@dataclass(frozen=True)
class IdentityReport:
    """What deserves a look in identity resolution."""

    people: int
    identifiers: dict[str, int]
    """Status (ok, blocked, shared) -> identifiers."""
    changes: dict[str, int]
    """Reason (merge, split, removed) -> UID changes recorded."""
    cuts: int
    largest: list[dict[str, Any]]
    cut_links: list[dict[str, Any]]
    shared_values: list[dict[str, Any]]
    malformed: list[dict[str, Any]]
    fuzzy_levels: list[dict[str, Any]] = field(default_factory=list)
    """The fuzzy model's levels: comparison, kind, level, m and u, match weight."""
    fuzzy_warnings: list[str] = field(default_factory=list)
    """Degenerate levels of the fuzzy model (an exact match no likelier among matches than "else")."""


def parse_identifier(text: str) -> tuple[str, str]:
    """``email:jane@example.com`` -> (``email``, ``jane@example.com``)."""
    id_type, separator, value = text.partition(":")
    if not separator or not id_type or not value:
        raise PersonNotFound(
            f"{text!r} is not TYPE:VALUE; write e.g. email:jane@example.com, phone:+15551234567, crm:K1"
        )
    return id_type.strip().lower(), value.strip()


def uids_by_identifier_sql(id_type: str, value: str) -> str:
    """The UIDs that hold an identifier (one, or none; ``uid`` in order), through
    ``identity_map``'s index on ``id_value``: DuckDB looks a value up in the index only when
    the scan's filter is that one comparison, so the type is checked after the scan. With
    ``id_type = … AND id_value = …`` as the filter it read the whole column: 85 ms against
    0.5 ms at 1M customers (bench/RESULTS.md, 2026-12-07).

    >>> print(uids_by_identifier_sql("email", "jo@example.com").replace(" GROUP", "\\n GROUP"))
    SELECT uid FROM identity_map WHERE id_value = 'jo@example.com'
     GROUP BY uid HAVING bool_or(id_type = 'email') ORDER BY uid
    """
    return (
        f"SELECT uid FROM identity_map WHERE id_value = {literal(value)} GROUP BY uid "
        f"HAVING bool_or(id_type = {literal(id_type)}) ORDER BY uid"
    )


def _uid_of(engine: Engine, id_type: str, value: str, region: str) -> str:
    normalised = engine.scalar(f"SELECT {identifier_sql(id_type, literal(value), region)}")
    if normalised is None:
        raise PersonNotFound(f"{id_type}:{value} is not a valid {id_type}")
    uid = engine.scalar(f"SELECT max(uid) FROM ({uids_by_identifier_sql(id_type, str(normalised))}) AS u")
    if uid is None:
        known = [str(row[0]) for row in engine.fetch_rows("SELECT DISTINCT id_type FROM identity_map ORDER BY 1")]
        types = {*known, *IDENTIFIER_TYPES}
        if id_type not in types:  # a typo, most likely
            raise PersonNotFound(
                f"no identifier of type {id_type!r} is known{did_you_mean(id_type, types)} "
                f"(the types known are {', '.join(known)})"
            )
        raise PersonNotFound(
            f"no person has {id_type} {normalised!r}; identifier types known are {', '.join(known)} "
            "(run `personae run` to resolve new data)"
        )
    return str(uid)


def _known_uid(engine: Engine, uid: str) -> str:
    if not engine.scalar(f"SELECT count(*) FROM identity_map WHERE uid = {literal(uid)}"):
        raise PersonNotFound(f"no person has the UID {uid!r}; a UID looks like 'p' and 15 hexadecimal digits")
    return uid


def person(engine: Engine, identifier: str, region: str, *, recent_events: int = RECENT_EVENTS) -> PersonView:
    """Golden record with the source of each value, identifiers, records per source, recent events
    (``recent_events`` of them: 0 leaves them out, for a caller that reads the person's events itself)."""
    id_type, value = parse_identifier(identifier)
    uid = _known_uid(engine, value) if id_type == "uid" else _uid_of(engine, id_type, value, region)
    key = literal(uid)
    profile = engine.fetch_arrow(f"SELECT * FROM profiles WHERE uid = {key}").to_pylist()
    golden: dict[str, Any] = {}
    for column, cell in (profile[0] if profile else {}).items():
        if column.endswith(("_source", "_at")) or column in ("uid",):
            continue
        source = profile[0].get(f"{column}_source")
        golden[column] = Lineage(cell, source, profile[0].get(f"{column}_at")) if source else cell
    identifiers = engine.fetch_arrow(  # identifiers linked live are counted at the next run (LEFT JOIN)
        "SELECT m.id_type, m.id_value, i.first_seen, i.last_seen, i.records FROM identity_map AS m "
        "LEFT JOIN identifiers AS i ON i.id_type = m.id_type AND i.id_value = m.id_value "
        f"WHERE m.uid = {key} AND m.id_type <> {literal(RECORD_TYPE)} ORDER BY m.id_type, m.id_value"
    ).to_pylist()
    records = dict(engine.fetch_rows(f"SELECT source, count(*) FROM record_map WHERE uid = {key} GROUP BY 1"))
    events = (
        engine.fetch_arrow(
            "SELECT e.ts, e.source, e.type, e.name, e.amount, e.category, e.channel FROM events AS e "
            "JOIN record_map AS m ON m.source = e.source "
            "AND m.record_id = CASE WHEN e.type = 'order' THEN e.order_id ELSE e.event_id END "
            f"WHERE m.uid = {key} ORDER BY e.ts DESC LIMIT {int(recent_events)}"
        ).to_pylist()
        if recent_events > 0
        else []
    )
    segments = (
        engine.fetch_arrow(
            "SELECT segmentation, segment, score, entered_at FROM memberships "
            f"WHERE uid = {key} AND exited_at IS NULL ORDER BY segmentation, segment"
        ).to_pylist()
        if engine.has_table("memberships")
        else []
    )
    predicted = (
        engine.fetch_arrow(f"SELECT * FROM predictions WHERE uid = {key}").to_pylist()
        if engine.has_table("predictions")
        else []
    )
    scores = {name: cell for name, cell in (predicted[0] if predicted else {}).items() if name != "uid"}
    merges = engine.fetch_arrow(
        f'SELECT old_uid, new_uid, "at", reason FROM merges WHERE new_uid = {key} OR old_uid = {key} ORDER BY 3, 1'
    ).to_pylist()
    counted = {str(k): int(v) for k, v in records.items()}
    return PersonView(uid, golden, identifiers, counted, events, segments, scores, merges)


def report(engine: Engine, models: Path | None = None) -> IdentityReport:
    """Suspicious identity components: the largest people, cut links, shared and blocked values;
    with ``models``, what the fuzzy model saved there learnt."""
    largest = engine.fetch_arrow(
        "SELECT uid, count(*) AS identifiers, count(DISTINCT id_type) AS types FROM identity_map "
        f"WHERE id_type <> {literal(RECORD_TYPE)} GROUP BY uid ORDER BY identifiers DESC, uid LIMIT {REPORT_ROWS}"
    ).to_pylist()
    cuts = engine.fetch_arrow(f"SELECT * FROM identity_cuts ORDER BY 1, 2, 3, 4 LIMIT {REPORT_ROWS}").to_pylist()
    shared = engine.fetch_arrow(
        "SELECT id_type, id_value, records FROM identifiers WHERE status = 'shared' "
        f"ORDER BY records DESC, id_type, id_value LIMIT {REPORT_ROWS}"
    ).to_pylist()
    malformed = engine.fetch_arrow(
        "SELECT source, id_type, reason, count(*) AS occurrences, min(value) AS example FROM identifier_issues "
        "GROUP BY source, id_type, reason ORDER BY occurrences DESC, source, id_type"
    ).to_pylist()
    totals = dict(engine.fetch_rows("SELECT status, count(*) FROM identifiers GROUP BY status"))
    changes = dict(engine.fetch_rows("SELECT reason, count(*) FROM merges GROUP BY reason"))
    return IdentityReport(
        people=int(engine.scalar("SELECT count(DISTINCT uid) FROM identity_map")),
        identifiers={str(k): int(v) for k, v in totals.items()},
        changes={str(k): int(v) for k, v in changes.items()},
        cuts=engine.row_count("identity_cuts"),
        largest=largest,
        cut_links=cuts,
        shared_values=shared,
        malformed=malformed,
        **_fuzzy_part(models),
    )


def _fuzzy_part(models: Path | None) -> dict[str, Any]:
    fuzzy = fuzzy_model_report(models) if models is not None else None
    if fuzzy is None:
        return {}
    return {"fuzzy_levels": [asdict(level) for level in fuzzy.levels], "fuzzy_warnings": fuzzy.warnings}
