"""Customer 360: find a person by any identifier as typed, and read their whole story.

The search takes what a marketer pastes (``jane@example.com``, ``(555) 123-4567``, a card
number, a user id, ``crm:C1000316`` or a UID) and normalises it as ingest does for every
identifier type, so a phone written in another format still finds its person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from personae.dashboard import charts
from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.errors import PersonNotFound
from personae.identity.graph import RECORD_TYPE
from personae.sources.normalise import identifier_sql

TIMELINE_EVENTS = 50
UID = re.compile(r"^p[0-9a-f]{15}$")
CONSENT_TABLES = ("consent",)
"""Where the privacy wing (issue 15) keeps consent; the page shows the first that exists."""


@dataclass(frozen=True)
class Match:
    uid: str
    id_type: str
    id_value: str


@dataclass
class Story:
    """What Customer 360 shows beyond :class:`~personae.identity.views.PersonView`."""

    timeline: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    """Every stay in a segment, current and past."""
    fuzzy_links: list[tuple[str, str]] = field(default_factory=list)
    """Pairs of the person's customer records linked by the probabilistic matcher."""
    consent: list[dict[str, Any]] | None = None
    """None while the store keeps no consent (issue 15)."""
    graph: charts.Option | None = None


def find_people(store: Engine, text: str, region: str) -> list[Match]:
    """Everyone an identifier as typed may name: ``TYPE:VALUE``, a UID, or a bare value tried as every type."""
    typed = text.strip()
    if not typed:
        raise PersonNotFound("type an e-mail, phone, card number, user id, SOURCE:RECORD or UID to search")
    if UID.match(typed):
        found = store.fetch_rows(f"SELECT DISTINCT uid FROM identity_map WHERE uid = {literal(typed)}")
        if found:
            return [Match(typed, "uid", typed)]
    types = [str(row[0]) for row in store.fetch_rows("SELECT DISTINCT id_type FROM identity_map ORDER BY 1")]
    prefix, separator, rest = typed.partition(":")
    tried: list[tuple[str, str]] = []
    if separator and prefix.strip().lower() in types:
        tried.append((prefix.strip().lower(), rest.strip()))
    tried += [(id_type, typed) for id_type in types]
    normalised = store.fetch_rows(  # the text as each type's normaliser makes it, in one query
        "SELECT "
        + ", ".join(
            identifier_sql(id_type, literal(value), region) if id_type != RECORD_TYPE else literal(value)
            for id_type, value in tried
        )
    )[0]
    wanted = {(id_type, str(value)) for (id_type, _), value in zip(tried, normalised, strict=True) if value}
    values = ", ".join(sorted({literal(value) for _, value in wanted})) or "NULL"
    rows = [
        row
        for row in store.fetch_rows(
            f"SELECT DISTINCT uid, id_type, id_value FROM identity_map WHERE id_value IN ({values}) ORDER BY 1, 2"
        )
        if (str(row[1]), str(row[2])) in wanted
    ]
    if not rows:
        raise PersonNotFound(
            f"nobody has the identifier {typed!r} (tried it as {', '.join(types)}); "
            "check the spelling, or run `personae run` if the data is new"
        )
    return [Match(str(uid), str(id_type), str(value)) for uid, id_type, value in rows]


def story(store: Engine, uid: str) -> Story:
    """The person's timeline (with event properties), segment history, identity graph and consent."""
    key = literal(uid)
    found = Story()
    found.timeline = store.fetch_arrow(
        "SELECT e.ts, e.source, e.type, e.name, e.amount, e.category, e.channel, e.properties FROM events AS e "
        f"JOIN (SELECT source, record_id FROM record_map WHERE uid = {key}) AS m ON m.source = e.source "
        "AND m.record_id = CASE WHEN e.type = 'order' THEN e.order_id ELSE e.event_id END "
        f"ORDER BY e.ts DESC, e.event_id LIMIT {TIMELINE_EVENTS}"
    ).to_pylist()
    if store.has_table("memberships"):
        found.history = store.fetch_arrow(
            "SELECT segmentation, segment, score, entered_at, exited_at FROM memberships "
            f"WHERE uid = {key} ORDER BY segmentation, entered_at DESC, segment"
        ).to_pylist()
    nodes = [
        (f"{t}:{v}", str(t))
        for t, v in store.fetch_rows(f"SELECT id_type, id_value FROM identity_map WHERE uid = {key}")
    ]
    names = {name for name, _ in nodes}
    edges: list[tuple[str, str, str]] = []
    if store.has_table("identity_edges") and names:
        listed = ", ".join(literal(name) for name in sorted(names))
        for a, b in store.fetch_rows(
            f"SELECT a_key, b_key FROM identity_edges WHERE a_key IN ({listed}) AND b_key IN ({listed}) ORDER BY 1, 2"
        ):
            fuzzy = str(a).startswith(f"{RECORD_TYPE}:") and str(b).startswith(f"{RECORD_TYPE}:")
            edges.append((str(a), str(b), "fuzzy" if fuzzy else "shared identifier"))
            if fuzzy:
                found.fuzzy_links.append(
                    (str(a).removeprefix(f"{RECORD_TYPE}:"), str(b).removeprefix(f"{RECORD_TYPE}:"))
                )
    found.graph = charts.graph("Identifiers and records linked into this person", nodes, edges)
    table = next((name for name in CONSENT_TABLES if store.has_table(name)), None)
    if table is not None and "uid" in dict(store.columns(table)):
        found.consent = store.fetch_arrow(f"SELECT * FROM {table} WHERE uid = {key}").to_pylist()
    return found
