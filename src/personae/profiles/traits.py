"""Every trait as SQL: one row per UID, computed as of a date on any engine, from the trait specs.

The specs (:mod:`personae.profiles.catalog`) say what each trait is; this module says where
their inputs come from and assembles one query: the people, joined to one ``GROUP BY uid``
pass per input (:func:`personae.profiles.passes.pass_sql`) and the formulas of the derived
traits over the passes' columns. A trait with a default (the counts, the money) is
``coalesce``d for people without rows in its input.

The relations are named by the caller (see :mod:`personae.profiles.orders` and
:func:`personae.profiles.build.compute_traits`): the order events and counted orders, the
per-day orders with their gaps (:func:`gaps_sql`), the shares (:func:`shares_sql`) and,
when traits are declared, every event with its UID. Windows (``orders_30d`` ...) end with
the as-of day. Inter-purchase gaps are whole days between consecutive order days (orders on
one day count as one visit).

Why derived and not hand-written: so that the live updater, derived from the same specs, gives
the same values (``tests/profiles/test_live_agreement.py``). It costs nothing measurable: on
a 20,000-customer demo workspace (800k events, shared 2-core machine, 9 interleaved runs each)
``build_traits`` took a median 1.95 s (1.29 s CPU) against 2.03 s (1.32 s CPU) for the
hand-written SQL it replaced, which made the same passes; the tables were the same but for
shares that moved in the last bits, because they now divide exact DECIMAL totals
(``docs/traits.md``).
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from personae.engine.sql import days_between_sql, end_of_sql, literal
from personae.profiles.algebra import (
    ACTIVITY,
    CATEGORY_SHARES,
    CHANNEL_SHARES,
    EMAIL,
    EVENTS,
    INPUTS,
    ORDER_DAYS,
    ORDER_EVENTS,
    ORDERS,
    Aggregate,
)
from personae.profiles.catalog import Catalog, builtin_specs, trait_catalog
from personae.profiles.orders import EVENT_RECORD_ID, RECORD_MAP
from personae.profiles.passes import needs_own_pass, pass_sql, ranked_sql
from personae.profiles.specs import ProfileSettings, TraitsConfig


class _Profiled(Protocol):
    """What :func:`builtin_traits` reads of a config (a TraitsConfig or a WorkspaceConfig)."""

    @property
    def profile(self) -> ProfileSettings: ...


def builtin_traits(config: _Profiled) -> dict[str, tuple[str, str]]:
    """Name -> (DuckDB type, description) of every stored built-in trait, in column order."""
    return {
        trait.name: (trait.type, trait.doc) for trait in builtin_specs(config.profile) if not trait.name.startswith("_")
    }


def activity_sql(as_of: date, *, records: str = RECORD_MAP) -> str:
    """``uid`` and the event columns of every event other than orders (they are in the order
    events) and order lines (they share their order's time), up to the as-of day, of the
    people of ``records`` (a record map)."""
    return (
        f"SELECT m.uid, e.* FROM events AS e JOIN {records} AS m ON m.source = e.source "
        f"AND m.record_id = {EVENT_RECORD_ID} "
        f"WHERE e.type NOT IN ('order', 'order_item') AND e.ts < {end_of_sql(as_of)}"
    )


def email_sql(*, records: str = RECORD_MAP) -> str:
    """``uid, email_opens, email_clicks`` of the customer records that report either."""
    return (
        "SELECT m.uid, c.email_opens, c.email_clicks "
        f"FROM customer_records AS c JOIN {records} AS m ON m.source = c.source AND m.record_id = c.record_id "
        "WHERE c.email_opens IS NOT NULL OR c.email_clicks IS NOT NULL"
    )


def gaps_sql(days: str) -> str:
    """``uid, day, gap``: each order day (from a relation of ``uid, day``, one row per day a
    person ordered) with the days since the person's previous order day."""
    return (
        f"SELECT uid, day, {days_between_sql('lag(day) OVER (PARTITION BY uid ORDER BY day)', 'day')} AS gap "
        f"FROM {days}"
    )


def channel_counts_sql(orders: str) -> str:
    """``uid, value, orders, revenue``: per person and channel, the counted orders and their
    revenue (an exact DECIMAL sum)."""
    return (
        "SELECT uid, coalesce(channel, 'unknown') AS value, count(*) AS orders, sum(amount) AS revenue "
        f"FROM {orders} GROUP BY uid, coalesce(channel, 'unknown')"
    )


def shares_sql(counts: str, dimension: str, weight: str) -> str:
    """``uid, dimension, value, orders, revenue, share``: how a person's buying splits over the
    values of a dimension, from a query of ``uid, value, orders, revenue`` (``share`` by
    ``weight``: ``revenue`` or ``orders``). The share divides exact totals, cast to DOUBLE."""
    total = f"CAST(sum({weight}) OVER (PARTITION BY uid) AS DOUBLE)"
    share = f"CAST({weight} AS DOUBLE) / nullif({total}, 0)"
    return (
        f"SELECT uid, {literal(dimension)} AS dimension, value, orders, CAST(revenue AS DOUBLE) AS revenue, "
        f"coalesce({share}, 0) AS share FROM ({counts}) AS c"
    )


def _relations(
    as_of: date, *, order_events: str, orders: str, shares: str, gaps: str, events: str | None, records: str
) -> dict[str, str]:
    """Input name -> what its pass reads (a relation name or a subquery)."""

    def dimension(name: str) -> str:
        return f"(SELECT * FROM {shares} WHERE dimension = {literal(name)}) AS r"

    relations = {
        ORDERS.name: orders,
        ORDER_EVENTS.name: order_events,
        ACTIVITY.name: f"({activity_sql(as_of, records=records)}) AS r",
        ORDER_DAYS.name: gaps,
        CATEGORY_SHARES.name: dimension("category"),
        CHANNEL_SHARES.name: dimension("channel"),
        EMAIL.name: f"({email_sql(records=records)}) AS r",
    }
    if events is not None:
        relations[EVENTS.name] = events
    return relations


def catalog_sql(catalog: Catalog, as_of: date, people: str, relations: dict[str, str]) -> str:
    """``uid`` and every stored trait of ``catalog`` for the UIDs of ``people``."""
    raw: dict[str, str] = {}
    joins = []
    for input in INPUTS:
        aggregates = catalog.aggregates(input)
        if not aggregates:
            continue
        if input.name not in relations:
            raise ValueError(f"traits over {input.name} need that relation (declared traits need the events)")
        relation = relations[input.name]
        shared = [aggregate for aggregate in aggregates if not needs_own_pass(aggregate)]
        passes = [(input.alias, pass_sql(shared, relation, as_of), shared)] if shared else []
        passes += [
            (f"{input.alias}_{aggregate.name}", ranked_sql(aggregate, relation, as_of), [aggregate])
            for aggregate in aggregates
            if needs_own_pass(aggregate)
        ]
        for alias, sql, computed in passes:
            joins.append(f"LEFT JOIN ({sql}) AS {alias} ON {alias}.uid = p.uid")
            raw.update((aggregate.name, f"{alias}.{aggregate.name}") for aggregate in computed)
    for name, formula in catalog.formulas.items():
        raw[name] = formula.sql(raw, as_of=as_of)
    select = ["p.uid"]
    for trait in catalog.outputs:
        column = raw[trait.name]
        if isinstance(trait, Aggregate) and trait.default is not None:
            column = f"coalesce({column}, {trait.default})"
        select.append(column if column.endswith(f".{trait.name}") else f"{column} AS {trait.name}")
    return f"SELECT {', '.join(select)} FROM {people} AS p {' '.join(joins)}"


def traits_sql(
    config: TraitsConfig,
    as_of: date,
    *,
    people: str,
    order_events: str,
    orders: str,
    shares: str,
    gaps: str,
    events: str | None = None,
    records: str = RECORD_MAP,
) -> str:
    """One row per UID of ``people`` with every trait, built in and declared (zeros for counts
    and money of people without orders). The relations are built by
    :mod:`personae.profiles.orders` (``order_events``, ``orders``, ``events``), :func:`gaps_sql`
    from the orders' days and :func:`shares_sql`; with ``records`` (a record map cut to some
    people, :func:`~personae.profiles.orders.scoped_record_map_sql`), the inputs read here are
    cut to its people, as an incremental run does."""
    relations = _relations(
        as_of, order_events=order_events, orders=orders, shares=shares, gaps=gaps, events=events, records=records
    )
    return catalog_sql(trait_catalog(config), as_of, people, relations)
