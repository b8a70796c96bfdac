"""The golden record's survivorship rules against a plain-Python reading of them, on random records.

Each rule is an order over a person's records with a value for the attribute (the module
docstring of :mod:`personae.golden.survivorship`); the first wins. The records are drawn from
small pools so that values, times and sources tie often, numbers that sort differently as
text (9 < 10) included, and every engine must pick what the reference picks, value, source
and time.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.tables import columns_of
from personae.golden.survivorship import DEFAULT_RULES, build_golden_records

RULES = {
    "first_name": "most_frequent",
    "last_name": "longest",
    "birth_date": "first_non_null",
    "street": "source_priority",
    "email_opens": "most_frequent",
    "email_clicks": "longest",
    "sms_opt_in": "source_priority",
    "city": "most_recent",
}
PRIORITY = ("shop", "crm")
SOURCES = ("crm", "pos", "shop")
POOLS: dict[str, list[Any]] = {
    "first_name": ["Ann", "Anna", "Bo", None],
    "last_name": ["Lee", "Leigh", "Li", "Ng", None],
    "birth_date": [date(1980, 1, 2), date(1979, 12, 31), None],
    "street": ["1 High St", "2 Low Rd", None],
    "email_opens": [9, 10, 100, None],
    "email_clicks": [9, 10, 7, None],
    "sms_opt_in": [True, False, None],
    "city": ["Leeds", "York", "Ely", None],
}
DAYS = [datetime(2024, 1, 1) + timedelta(days=d) for d in range(3)]


def records(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for number in range(400):
        row: dict[str, Any] = {name: rng.choice(pool) for name, pool in POOLS.items()}
        row |= {"source": rng.choice(SOURCES), "record_id": f"r{number}", "uid": f"u{rng.randrange(60)}"}
        row |= {"updated_at": rng.choice([*DAYS, None]), "_loaded_at": datetime(2024, 2, 1)}
        rows.append(row)
    return rows


def text(value: Any) -> str:
    """A value as the store writes it as text (DuckDB's and Spark's casts agree on these)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def expected(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[Any, str, datetime]]:
    """(uid, attribute) -> (value, source, time) by the rules as documented, in Python."""
    chosen = {}
    for attribute, rule in {**DEFAULT_RULES, **RULES}.items():
        by_uid: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            if row.get(attribute) is not None:
                by_uid.setdefault(row["uid"], []).append(row)
        for uid, candidates in by_uid.items():
            counts = Counter(row[attribute] for row in candidates)

            def key(
                row: dict[str, Any], attribute: str = attribute, rule: str = rule, counts: Counter[Any] = counts
            ) -> tuple[Any, ...]:
                stamp = (row["updated_at"] or row["_loaded_at"]).timestamp()
                tail = (row["source"], row[attribute])
                if rule == "first_non_null":
                    return (stamp, *tail)
                first = {
                    "most_frequent": -counts[row[attribute]],
                    "longest": -len(text(row[attribute])),
                    "source_priority": PRIORITY.index(row["source"]) if row["source"] in PRIORITY else len(PRIORITY),
                }.get(rule, 0)
                return (first, -stamp, *tail)

            best = min(candidates, key=key)
            chosen[(uid, attribute)] = (best[attribute], best["source"], best["updated_at"] or best["_loaded_at"])
    return chosen


def store_world(engine: Engine, rows: list[dict[str, Any]]) -> None:
    engine.create_empty_table("customer_records", columns_of("customer_records"))
    given = [*POOLS, "source", "record_id", "updated_at", "_loaded_at"]
    engine.register_arrow("_records_in", pa.Table.from_pylist([{k: row[k] for k in given} for row in rows]))
    engine.insert("customer_records", given, f"SELECT {', '.join(given)} FROM _records_in")
    engine.register_arrow(
        "_map_in", pa.Table.from_pylist([{k: row[k] for k in ("source", "record_id", "uid")} for row in rows])
    )
    engine.create_table("record_map", "SELECT * FROM _map_in")
    engine.create_table(
        "identity_map", "SELECT 'record' AS id_type, source || ':' || record_id AS id_value, uid FROM record_map"
    )
    engine.create_table(
        "identifiers",
        "SELECT id_type, id_value, TIMESTAMP '2024-01-01 00:00:00' AS first_seen, "
        "TIMESTAMP '2024-02-01 00:00:00' AS last_seen FROM identity_map",
    )


def test_every_rule_picks_what_its_definition_says(engine: Engine) -> None:
    rows = records(seed=7)
    store_world(engine, rows)
    result = build_golden_records(engine, RULES, PRIORITY)
    assert result.people == len({row["uid"] for row in rows})
    want = expected(rows)
    attributes = list({**DEFAULT_RULES, **RULES})
    columns = ", ".join(f"{a}, {a}_source, {a}_at" for a in attributes)
    got = {}
    for profile in engine.fetch_arrow(f"SELECT uid, {columns} FROM profiles").to_pylist():
        for attribute in attributes:
            if profile[attribute] is not None:
                at = profile[f"{attribute}_at"].replace(tzinfo=None)  # Spark reads timestamps as UTC
                value = (profile[attribute], profile[f"{attribute}_source"], at)
                got[(profile["uid"], attribute)] = value
    assert got == want
    assert {rule for attribute, rule in RULES.items() if any(k[1] == attribute for k in want)} == set(RULES.values())
