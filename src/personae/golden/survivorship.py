"""The golden record: one row per UID in ``profiles``, each value with its lineage.

Every attribute picks one value among the person's customer records by a survivorship
rule, and keeps where it came from: ``<attribute>_source`` (the source) and
``<attribute>_at`` (the record's time). Rules:

- ``most_recent``: the value of the latest record;
- ``most_frequent``: the value most records agree on (ties: the latest);
- ``longest``: the longest value (ties: the latest), e.g. a street with its number;
- ``source_priority``: the value from the most trusted source (``identity.source_priority``);
- ``first_non_null``: the value of the earliest record.

Defaults: names, birth date and gender are ``most_frequent`` (a typo in one system is
outvoted); address, contact details and consent are ``most_recent`` (they change).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.engine.tables import columns_of
from personae.golden import incremental

KNOWN = "known_customer"
"""The ``profiles`` column that says a person is a known customer: they have an identifier
other than an anonymous id (a user id, an e-mail, a phone, a card, a customer record, ...).
People seen only through anonymous ids (web visitors never identified) are profiles, not
customers: counts, shares and personas are of known customers and say so."""
ANONYMOUS_TYPE = "anonymous_id"
CUSTOMERS = f"(SELECT * FROM profiles WHERE {KNOWN})"
"""The known customers, as a relation to read instead of ``profiles``."""

SURVIVORSHIP_RULES = ("most_recent", "source_priority", "most_frequent", "longest", "first_non_null")
"""How one value survives among a person's records (see the module docstring)."""

DEFAULT_RULES: dict[str, str] = {
    "first_name": "most_frequent",
    "last_name": "most_frequent",
    "birth_date": "most_frequent",
    "gender": "most_frequent",
    "street": "most_recent",
    "city": "most_recent",
    "postcode": "most_recent",
    "country": "most_recent",
    "email": "most_recent",
    "phone": "most_recent",
    "email_opt_in": "most_recent",
    "sms_opt_in": "most_recent",
}


def _order(rule: str, source_priority: Sequence[str]) -> str:
    if rule == "most_frequent":
        return "freq DESC, stamp DESC, source, value"
    if rule == "longest":
        return "length(CAST(value AS VARCHAR)) DESC, stamp DESC, source, value"
    if rule == "source_priority":
        cases = " ".join(f"WHEN {literal(s)} THEN {i}" for i, s in enumerate(source_priority))
        rank = f"CASE source {cases} ELSE {len(source_priority)} END" if cases else "0"
        return f"{rank}, stamp DESC, source, value"
    if rule == "first_non_null":
        return "stamp, source, value"
    return "stamp DESC, source, value"


CANDIDATES = "_golden_candidates"
"""The staged join of customer records to their UIDs that every attribute's choice reads."""


def candidates_sql(attributes: Sequence[str]) -> str:
    """(uid, source, stamp, each attribute) of every customer record with a UID: the one join
    of records to ``record_map`` that all attributes choose from (a join per attribute cost
    Spark a shuffle of both tables each)."""
    columns = ", ".join(f"c.{attribute}" for attribute in attributes)
    return (
        f"SELECT m.uid, c.source, coalesce(c.updated_at, c._loaded_at) AS stamp, {columns} "
        "FROM customer_records AS c JOIN record_map AS m ON m.source = c.source AND m.record_id = c.record_id"
    )


def attribute_sql(
    attribute: str, rule: str, source_priority: Sequence[str] = (), candidates_from: str = CANDIDATES
) -> str:
    """(uid, value, source, stamp) of the surviving value of one attribute per UID, from
    ``candidates_from`` (:data:`CANDIDATES`, or some people's rows of it)."""
    candidates = f"SELECT uid, {attribute} AS value, source, stamp FROM {candidates_from} WHERE {attribute} IS NOT NULL"
    if rule == "most_frequent":  # the only rule that counts agreeing records
        candidates = f"SELECT *, count(*) OVER (PARTITION BY uid, value) AS freq FROM ({candidates}) AS c"
    ranked = (
        f"SELECT *, row_number() OVER (PARTITION BY uid ORDER BY {_order(rule, source_priority)}) AS position "
        f"FROM ({candidates}) AS f"
    )
    return f"SELECT uid, value, source, stamp FROM ({ranked}) AS r WHERE position = 1"


def people_sql(extra: str = "") -> str:
    """``uid, identifiers, first_seen, last_seen, known_customer`` (and ``extra`` aggregates)
    per UID of ``identity_map``."""
    return (
        "SELECT m.uid, count(*) AS identifiers, min(i.first_seen) AS first_seen, max(i.last_seen) AS last_seen, "
        f"coalesce(bool_or(m.id_type <> {literal(ANONYMOUS_TYPE)}), false) AS {KNOWN}{extra} "
        "FROM identity_map AS m JOIN identifiers AS i ON i.id_type = m.id_type AND i.id_value = m.id_value "
        "GROUP BY m.uid"
    )


def profiles_sql(
    survivorship: Mapping[str, str],
    source_priority: Sequence[str] = (),
    *,
    people: str | None = None,
    candidates_from: str = CANDIDATES,
) -> str:
    """One row per UID: golden attributes with their source and time, and identifier counts
    (the attributes chosen from :data:`CANDIDATES`, made by :func:`candidates_sql`). An
    incremental run passes some people (a relation with the columns of :func:`people_sql`)
    and their candidates."""
    rules = {**DEFAULT_RULES, **survivorship}
    people = people or people_sql()
    columns = ["p.uid", "p.identifiers", "p.first_seen", "p.last_seen", f"p.{KNOWN}"]
    joins = []
    for index, (attribute, rule) in enumerate(rules.items()):
        alias = f"a{index}"
        columns += [
            f"{alias}.value AS {attribute}",
            f"{alias}.source AS {attribute}_source",
            f"{alias}.stamp AS {attribute}_at",
        ]
        chosen = attribute_sql(attribute, rule, source_priority, candidates_from)
        joins.append(f"LEFT JOIN ({chosen}) AS {alias} ON {alias}.uid = p.uid")
    return f"SELECT {', '.join(columns)} FROM ({people}) AS p {' '.join(joins)}"


def golden_columns(survivorship: Mapping[str, str]) -> dict[str, str]:
    """Name -> DuckDB type of the columns :func:`profiles_sql` gives, known without a store."""
    records = dict(columns_of("customer_records"))
    columns = {"uid": "VARCHAR", "identifiers": "BIGINT", "first_seen": "TIMESTAMP", "last_seen": "TIMESTAMP"}
    columns[KNOWN] = "BOOLEAN"
    for attribute in {**DEFAULT_RULES, **survivorship}:
        columns[attribute] = records[attribute]
        columns[f"{attribute}_source"] = "VARCHAR"
        columns[f"{attribute}_at"] = "TIMESTAMP"
    return columns


@dataclass(frozen=True)
class GoldenResult:
    people: int
    known: int
    """People with an identifier other than an anonymous id: the customers every count is of."""
    rebuilt: int | None = None
    """Rows rebuilt by an incremental run (:mod:`personae.golden.incremental`); None when all were."""
    full_because: str = ""
    """Why every row was rebuilt (empty for an incremental run)."""

    @property
    def anonymous(self) -> int:
        return self.people - self.known


def build_golden_records(
    engine: Engine, survivorship: Mapping[str, str], source_priority: Sequence[str] = (), *, full: bool = False
) -> GoldenResult:
    """Build ``profiles`` with the rules of ``survivorship`` (attribute -> rule) over the
    defaults: only the rows of the people whose inputs changed when the store allows
    (:mod:`personae.golden.incremental`), every row when ``full`` or when it does not."""
    attributes = list({**DEFAULT_RULES, **survivorship})
    golden = list(golden_columns(survivorship))
    stamp = incremental.fingerprint(survivorship, source_priority, golden)
    decision = incremental.plan(engine, stamp, golden, full=full)
    keeps_state = incremental.keeps_state(engine)
    engine.materialise(CANDIDATES, candidates_sql(attributes))
    people = None
    if keeps_state:
        engine.materialise(incremental.PEOPLE, people_sql(incremental.people_digest_sql()))
        engine.materialise(incremental.NOW, incremental.digests_sql(CANDIDATES, attributes))
        people = f"SELECT * FROM {incremental.PEOPLE}"
    rebuilt = None
    if decision.incremental:
        engine.materialise(incremental.CHANGED, incremental.changed_sql())
        changed = f"uid IN (SELECT uid FROM {incremental.CHANGED})"
        engine.materialise("_golden_changed_candidates", f"SELECT * FROM {CANDIDATES} WHERE {changed}")
        rows = profiles_sql(
            survivorship,
            source_priority,
            people=f"{people} WHERE {changed}",
            candidates_from="_golden_changed_candidates",
        )
        rebuilt = incremental.rebuild_changed(engine, rows, golden)
    else:
        engine.create_table("profiles", profiles_sql(survivorship, source_priority, people=people))
        if keeps_state:
            incremental.save_state(engine, stamp)
    people_count, known = engine.fetch_rows(f"SELECT count(*), count(*) FILTER (WHERE {KNOWN}) FROM profiles")[0]
    return GoldenResult(int(people_count), int(known), rebuilt, decision.reason)
