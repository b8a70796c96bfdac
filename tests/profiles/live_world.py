"""Small worlds of people written to a store as the pipeline writes them, and fed to the live updater.

A *person* is a dict of ``orders`` (each with its ``lines``), ``events`` (page, screen, track,
identify) and ``records`` (e-mail platform records), as drawn by the Hypothesis strategies of
``test_live_agreement.py`` or by :func:`random_person`. :func:`write_store` writes the
``events``, ``customer_records`` and ``record_map`` rows identity would have produced (lines
have no identifiers: they take their order's person in batch); :func:`live_traits` feeds the
same rows, shuffled, to a :class:`LiveTraits`.

Values are chosen so that the engines may not legitimately differ: amounts have two places,
JSON prices are multiples of 1/8 or text, times are on quarter hours (ties happen).
"""

from __future__ import annotations

import json
import math
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.engine.tables import ensure_tables
from personae.profiles.build import AS_OF_COLUMN, compute_traits
from personae.profiles.live import LiveTraits
from personae.profiles.specs import TraitsConfig, TraitSpec

START = datetime(2024, 1, 1)
SUBSCRIPTION = ("Trial Started", "Subscription Started", "Subscription Cancelled")
DECLARED = (
    TraitSpec(name="garden_views", function="count", event="Product Viewed", where="category = 'garden'"),
    TraitSpec(name="price_30d", function="sum", property="properties.price", window_days=30),
    TraitSpec(name="price_mean", function="avg", property="properties.price"),
    TraitSpec(name="first_plan", function="first", property="properties.plan", type="track"),
    TraitSpec(name="last_plan", function="last", property="properties.plan"),
    TraitSpec(name="viewed_most", function="most_frequent", property="category", type="track"),
    TraitSpec(name="products", function="unique_count", property="product_id"),
    TraitSpec(name="largest_amount", function="max", property="amount"),
    TraitSpec(name="line_spend", function="sum", property="amount", type="order_item"),
    TraitSpec(name="order_mean_90d", function="avg", property="amount", type="order", window_days=90),
    TraitSpec(name="recent_pages", function="count", type="page", where="days_since(ts) <= 10"),
    TraitSpec(name="big_orders", function="count", type="order", where="amount > 50 and promo"),
    TraitSpec(name="first_seen", function="min", property="ts"),
    TraitSpec(name="usual_status", function="most_frequent", property="status"),
)
"""One declared trait per function, with event, type, ``where`` (one reading the as-of day)
and window filters, over columns, JSON properties, order lines and orders of every status."""
CONFIG = TraitsConfig(traits=DECLARED, line_orders={"lines": "shop"})
APPROXIMATE = frozenset({"gap_std_days", "price_30d", "price_mean"})
"""Doubles computed with rounding on the way: DuckDB sums doubles in its own order, and its
standard deviation is a streaming algorithm (exact, then one square root, in Python). Every
other trait must be equal exactly, money included (both sides sum it exactly)."""
EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("source", pa.string()),
        ("type", pa.string()),
        ("name", pa.string()),
        ("ts", pa.timestamp("us")),
        ("order_id", pa.string()),
        ("amount", pa.decimal128(18, 2)),
        ("category", pa.string()),
        ("product_id", pa.string()),
        ("channel", pa.string()),
        ("promo", pa.bool_()),
        ("status", pa.string()),
        ("properties", pa.string()),
    ]
)
RECORD_SCHEMA = pa.schema(
    [("source", pa.string()), ("record_id", pa.string()), ("email_opens", pa.int64()), ("email_clicks", pa.int64())]
)
MAP_SCHEMA = pa.schema([("source", pa.string()), ("record_id", pa.string()), ("uid", pa.string())])

Person = dict[str, Any]
Rows = list[dict[str, Any]]


def person_rows(uid: str, person: Person) -> tuple[Rows, Rows]:
    """The person's ``events`` rows and ``customer_records`` rows, as ingest writes them."""
    events: Rows = []
    for order in person["orders"]:
        order_id = f"{uid}-{order['number']}"
        event_id = f"{uid}-{order['source']}-{order['number']}"
        kept = {key: order[key] for key in ("source", "ts", "amount", "status", "promo", "channel")}
        events.append({"event_id": event_id, "type": "order", "order_id": order_id, **kept})
        events += [
            {"event_id": f"{event_id}-l{index}", "type": "order_item", "order_id": order_id, **line}
            for index, line in enumerate(order["lines"])
        ]
    for index, event in enumerate(person["events"]):
        name = None if event["type"] == "identify" else event["name"]
        properties = json.dumps(event["properties"])
        events.append({"event_id": f"{uid}-e{index}", "source": "web", **event, "name": name, "properties": properties})
    records = [{"source": "mail", "record_id": f"{uid}-r{i}", **record} for i, record in enumerate(person["records"])]
    return events, records


def _record_map(uid: str, events: Rows, records: Rows) -> Rows:
    """The person behind each event and record, keyed as identity keys them (orders by order id)."""
    keyed = [(e["source"], e["order_id"] if e["type"] == "order" else e["event_id"]) for e in events]
    keyed = [key for key, event in zip(keyed, events, strict=True) if event["type"] != "order_item"]
    keyed += [(r["source"], r["record_id"]) for r in records]
    return [{"source": source, "record_id": record_id, "uid": uid} for source, record_id in keyed]


def _insert(engine: Engine, table: str, rows: Rows, schema: pa.Schema) -> None:
    engine.delete_where(table, "true")
    if rows:
        arrow = pa.Table.from_pylist(rows, schema=schema)
        engine.register_arrow("_rows", arrow)
        engine.insert(table, arrow.column_names, f"SELECT {', '.join(arrow.column_names)} FROM _rows")


def write_store(engine: Engine, people: list[Person]) -> dict[str, tuple[Rows, Rows]]:
    """Write the people (``u0``, ``u1``, ... and ``nobody``, who has no rows) to the store and
    ``_people``; their rows by UID."""
    ensure_tables(engine, ["events", "customer_records", "record_map"])
    streams = {f"u{index}": person_rows(f"u{index}", person) for index, person in enumerate(people)}
    streams["nobody"] = ([], [])
    _insert(engine, "events", [event for events, _ in streams.values() for event in events], EVENT_SCHEMA)
    _insert(
        engine, "customer_records", [record for _, records in streams.values() for record in records], RECORD_SCHEMA
    )
    mapped = [row for uid, (events, records) in streams.items() for row in _record_map(uid, events, records)]
    _insert(engine, "record_map", mapped, MAP_SCHEMA)
    values = ", ".join(f"({literal(uid)})" for uid in streams)
    engine.materialise("_people", f"SELECT * FROM (VALUES {values}) AS p(uid)")
    return streams


def batch_traits(engine: Engine, as_of: date) -> dict[str, dict[str, Any]]:
    """Every person's traits as the traits step computes them, by UID."""
    names = compute_traits(engine, CONFIG, as_of, "_people", "_p_")
    rows = engine.fetch_arrow(f"SELECT * FROM {names['traits']}").to_pylist()
    assert {row.pop(AS_OF_COLUMN) for row in rows} <= {as_of}
    return {row.pop("uid"): row for row in rows}


def live_traits(events: Rows, records: Rows, shuffle: random.Random) -> LiveTraits:
    """A person's live state, fed their events in a shuffled order."""
    live = LiveTraits(CONFIG)
    for event in shuffle.sample(events, len(events)):
        live.add_event(event)
    for record in records:
        live.add_record(record)
    return live


def differences(batch: dict[str, Any], live: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Trait -> (batch, live) where they differ: in type or value, or by more than 1e-9
    relative for the :data:`APPROXIMATE` doubles."""
    wrong = {name: (batch.get(name), live.get(name)) for name in set(batch) ^ set(live)}
    for name, expected in batch.items():
        got = live.get(name)
        if name in APPROXIMATE and isinstance(expected, float) and isinstance(got, float):
            same = math.isclose(expected, got, rel_tol=1e-9)
        else:
            same = type(expected) is type(got) and expected == got
        if not same:
            wrong[name] = (expected, got)
    return wrong


def random_person(rng: random.Random) -> Person:
    """A person drawn from the same domains as the property test's strategies, for fixed worlds."""

    def moment() -> datetime:
        day = rng.choice([*range(13), 45, 100, 400])
        return START + timedelta(days=day, minutes=15 * rng.randrange(96))

    def money() -> Decimal | None:
        return None if rng.random() < 0.1 else Decimal(rng.randrange(-2_000, 15_000)).scaleb(-2)

    orders = {}
    for _ in range(rng.randrange(6)):
        source, number = rng.choice(["shop", "pos"]), rng.randrange(4)
        lines = [
            {
                "source": rng.choice(["lines", "items"]),
                "category": rng.choice(["books", "garden", "toys", None]),
                "amount": money(),
                "ts": moment() if rng.random() < 0.3 else None,
                "product_id": rng.choice(["p1", "p2", None]),
            }
            for _ in range(rng.randrange(4))
        ]
        orders[(source, number)] = {
            "source": source,
            "number": number,
            "ts": moment(),
            "amount": money(),
            "status": rng.choice(["completed", "completed", "returned", "Cancelled", None]),
            "promo": rng.choice([True, False, None]),
            "channel": rng.choice(["web", "store", None]),
            "lines": lines,
        }
    events = []
    for _ in range(rng.randrange(9)):
        properties: dict[str, Any] = {}
        if rng.random() < 0.7:
            properties["price"] = rng.randrange(-40, 400) / 8 if rng.random() < 0.9 else "n/a"
        if rng.random() < 0.5:
            properties["plan"] = rng.choice(["monthly", "yearly", "trial"])
        events.append(
            {
                "type": rng.choice(["page", "screen", "track", "track", "identify"]),
                "name": rng.choice(["Home", "Product Viewed", *SUBSCRIPTION]),
                "ts": moment(),
                "category": rng.choice(["books", "garden", None]),
                "product_id": rng.choice(["p1", "p3", None]),
                "properties": properties,
            }
        )
    records = [
        {"email_opens": rng.choice([None, rng.randrange(30)]), "email_clicks": rng.choice([None, rng.randrange(9)])}
        for _ in range(rng.randrange(3))
    ]
    return {"orders": list(orders.values()), "events": events, "records": records}
