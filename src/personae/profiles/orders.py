"""Who bought what: orders and order lines with the UID behind each, as of a date.

An order is an event of type ``order``; its UID comes from ``record_map`` (orders are
identified by their order id). Order lines carry no identifiers of their own: they take
the UID of their order, looked up in the orders source named by the lines' source
(``orders = "pos"``) or, when none is named, in any orders source with that order id.
Orders with an excluded status (returned, cancelled, ...) do not count.
"""

from __future__ import annotations

from datetime import date

from personae.engine.sql import day_sql, days_between_sql, end_of_sql, literal
from personae.profiles.specs import TraitsConfig

EVENT_RECORD_ID = "CASE WHEN e.type = 'order' THEN e.order_id ELSE e.event_id END"
"""The record id an event has in ``record_map`` (see identity/graph.py)."""


def _status_filter(config: TraitsConfig, alias: str) -> str:
    excluded = ", ".join(literal(status.lower()) for status in config.profile.excluded_statuses)
    return f"coalesce(lower({alias}.status), '') NOT IN ({excluded})" if excluded else "true"


RECORD_MAP = "record_map"
"""The record map every query of this package reads unless it is given one cut to some people."""


def scoped_record_map_sql(scope: str) -> str:
    """The rows of ``record_map`` of the UIDs in ``scope`` (a relation of ``uid``): an
    incremental run's people, a model's sample. Joined to the events in place of the whole map,
    it is the small side of the join: at 1M customers, an increment's 120,000 people have
    1.3M of the map's 16M rows, and the two joins built on the whole map took 8 s of CPU in a
    traits step of 17 s (bench/RESULTS.md)."""
    return f"SELECT source, record_id, uid FROM {RECORD_MAP} WHERE uid IN (SELECT uid FROM {scope})"


def order_events_sql(config: TraitsConfig, as_of: date, *, records: str = RECORD_MAP) -> str:
    """``uid, source, order_id, ts, amount, channel, promo, counted`` of every order of a known
    person up to the as-of day (of the people of ``records``, a record map); ``counted`` is
    false for an excluded status (returned, ...). ``amount`` stays ``DECIMAL(18,2)``, so money
    sums are exact."""
    return (
        "SELECT m.uid, e.source, e.order_id, e.ts, e.amount, e.channel, "
        f"coalesce(e.promo, false) AS promo, {_status_filter(config, 'e')} AS counted "
        f"FROM events AS e JOIN {records} AS m ON m.source = e.source AND m.record_id = e.order_id "
        f"WHERE e.type = 'order' AND e.ts < {end_of_sql(as_of)}"
    )


ORDER_COLUMNS = "uid, source, order_id, ts, amount, channel, promo"


def counted_orders_sql(order_events: str) -> str:
    """The counted orders of a relation built by :func:`order_events_sql`."""
    return f"SELECT {ORDER_COLUMNS} FROM {order_events} WHERE counted"


def orders_sql(config: TraitsConfig, as_of: date) -> str:
    """``uid, source, order_id, ts, amount, channel, promo`` of every counted order, ``amount``
    as DOUBLE (for the models, which read it as a float)."""
    columns = ORDER_COLUMNS.replace("amount", "CAST(amount AS DOUBLE) AS amount")
    return f"SELECT {columns} FROM ({order_events_sql(config, as_of)}) AS o WHERE counted"


def _owner_match(config: TraitsConfig) -> str:
    """Lines (``l``) belong to an order (``o``) of the orders source their source names."""
    named = config.line_orders
    if not named:
        return "true"
    pairs = " ".join(f"WHEN {literal(items)} THEN {literal(owner)}" for items, owner in named.items())
    return f"(CASE l.source {pairs} ELSE o.source END) = o.source"


def category_counts_sql(config: TraitsConfig, orders: str) -> str:
    """``uid, value, orders, revenue``: per person and category, the counted orders with a line
    in it and their line revenue, an exact DECIMAL sum (``orders`` names the relation of
    :func:`counted_orders_sql`). Lines are summed per order and category first, so no
    distinct count is needed."""
    per_order = (
        "SELECT o.uid, o.source, o.order_id, coalesce(l.category, 'unknown') AS value, sum(l.amount) AS amount "
        f"FROM events AS l JOIN {orders} AS o ON o.order_id = l.order_id AND {_owner_match(config)} "
        "WHERE l.type = 'order_item' GROUP BY o.uid, o.source, o.order_id, coalesce(l.category, 'unknown')"
    )
    return f"SELECT uid, value, count(*) AS orders, sum(amount) AS revenue FROM ({per_order}) AS l GROUP BY uid, value"


EVENT_COLUMNS = (
    "event_id, source, type, name, order_id, amount, currency, quantity, category, "
    "product_id, channel, store_id, promo, status, properties"
)


def events_with_uid_sql(config: TraitsConfig, as_of: date, orders: str, *, records: str = RECORD_MAP) -> str:
    """Every event up to the as-of day with its UID (``uid``, ``ts`` and the columns of
    :data:`EVENT_COLUMNS`); order lines take their order's UID and, lacking one, its time.
    Only the people of ``records`` (a record map; ``orders`` should be cut to them too)."""
    names = [column.strip() for column in EVENT_COLUMNS.split(",")]
    direct = (
        f"SELECT m.uid, e.ts, {', '.join('e.' + c for c in names)} FROM events AS e "
        f"JOIN {records} AS m ON m.source = e.source AND m.record_id = {EVENT_RECORD_ID} "
        f"WHERE e.type <> 'order_item' AND e.ts < {end_of_sql(as_of)}"
    )
    lines = (
        f"SELECT o.uid, coalesce(l.ts, o.ts) AS ts, {', '.join('l.' + c for c in names)} FROM events AS l "
        f"JOIN {orders} AS o ON o.order_id = l.order_id AND {_owner_match(config)} "
        "WHERE l.type = 'order_item'"
    )
    return f"{direct} UNION ALL {lines}"


# -- the customer summary ------------------------------------------------------------------
# The customer summary the CLV models take: frequency, recency, T and monetary value.
#
# Same definitions as lifetimes' ``summary_data_from_transaction_data``: orders are summed
# per day (one transaction per day); ``frequency`` is the number of repeat days (days with
# an order after the first); ``recency`` is the time from the first to the last order day
# and ``T`` from the first order day to the as-of day, both in periods of ``period_days``;
# ``monetary_value`` is the mean value of the repeat days (0 without a repeat).


def order_days_sql(orders: str, as_of: date, *, uid: str = "uid") -> str:
    """``uid, day, value``: each day a buyer in ``orders`` (``uid, ts, amount``) ordered, and
    the day's order value as DOUBLE (lifetimes' one transaction per day)."""
    return (
        f"SELECT {uid} AS uid, CAST(ts AS DATE) AS day, CAST(sum(amount) AS DOUBLE) AS value FROM {orders} "
        f"WHERE ts < {end_of_sql(as_of)} GROUP BY {uid}, CAST(ts AS DATE)"
    )


def summary_from_days_sql(days: str, as_of: date, *, period_days: int = 1) -> str:
    """``uid, frequency, recency, T, monetary_value`` per buyer from the days of :func:`order_days_sql`."""
    scale = "" if period_days == 1 else f" / {float(period_days)!r}"
    return (
        "SELECT uid, count(*) - 1 AS frequency, "
        f"{days_between_sql('min(day)', 'max(day)')}{scale} AS recency, "
        f"{days_between_sql('min(day)', day_sql(as_of))}{scale} AS T, "
        "coalesce((sum(value) - arg_min(value, day)) / nullif(count(*) - 1, 0), 0) AS monetary_value "
        f"FROM {days} GROUP BY uid"
    )


def customer_summary_sql(orders: str, as_of: date, *, period_days: int = 1, uid: str = "uid") -> str:
    """``uid, frequency, recency, T, monetary_value`` per buyer in ``orders`` (``uid, ts, amount``)."""
    days = f"({order_days_sql(orders, as_of, uid=uid)}) AS d"
    return summary_from_days_sql(days, as_of, period_days=period_days)
