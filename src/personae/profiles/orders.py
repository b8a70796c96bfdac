"""Who bought what: orders and order lines with the UID behind each, as of a date.

An order is an event of type ``order``; its UID comes from ``record_map`` (orders are
identified by their order id). Order lines carry no identifiers of their own: they take
the UID of their order, looked up in the orders source named by the lines' source
(``orders = "pos"``) or, when none is named, in any orders source with that order id.
Orders with an excluded status (returned, cancelled, ...) do not count.
"""

from __future__ import annotations

from datetime import date, timedelta

from personae.config import WorkspaceConfig
from personae.sources.kinds import SourceKind
from personae.sources.readers import sql_string

EVENT_RECORD_ID = "CASE WHEN e.type = 'order' THEN e.order_id ELSE e.event_id END"
"""The record id an event has in ``record_map`` (see identity/graph.py)."""


def day_sql(day: date) -> str:
    return f"DATE {sql_string(day.isoformat())}"


def end_of_sql(as_of: date) -> str:
    """The first instant after the as-of day: events before it count."""
    return f"TIMESTAMP {sql_string((as_of + timedelta(days=1)).isoformat() + ' 00:00:00')}"


def since_sql(as_of: date, days: int) -> str:
    """The first instant of a window of ``days`` days ending with the as-of day."""
    return f"TIMESTAMP {sql_string((as_of - timedelta(days=days - 1)).isoformat() + ' 00:00:00')}"


def days_between_sql(earlier: str, later: str) -> str:
    """Whole calendar days from one date or timestamp expression to another."""
    return f"date_diff('day', CAST({earlier} AS DATE), CAST({later} AS DATE))"


def _status_filter(config: WorkspaceConfig, alias: str) -> str:
    excluded = ", ".join(sql_string(status.lower()) for status in config.profile.excluded_statuses)
    return f"coalesce(lower({alias}.status), '') NOT IN ({excluded})" if excluded else "true"


def order_events_sql(config: WorkspaceConfig, as_of: date) -> str:
    """``uid, source, order_id, ts, amount, channel, promo, counted`` of every order of a known
    person up to the as-of day; ``counted`` is false for an excluded status (returned, ...)."""
    return (
        "SELECT m.uid, e.source, e.order_id, e.ts, CAST(e.amount AS DOUBLE) AS amount, e.channel, "
        f"coalesce(e.promo, false) AS promo, {_status_filter(config, 'e')} AS counted "
        "FROM events AS e JOIN record_map AS m ON m.source = e.source AND m.record_id = e.order_id "
        f"WHERE e.type = 'order' AND e.ts < {end_of_sql(as_of)}"
    )


ORDER_COLUMNS = "uid, source, order_id, ts, amount, channel, promo"


def counted_orders_sql(order_events: str) -> str:
    """The counted orders of a relation built by :func:`order_events_sql`."""
    return f"SELECT {ORDER_COLUMNS} FROM {order_events} WHERE counted"


def orders_sql(config: WorkspaceConfig, as_of: date) -> str:
    """``uid, source, order_id, ts, amount, channel, promo`` of every counted order."""
    return f"SELECT {ORDER_COLUMNS} FROM ({order_events_sql(config, as_of)}) AS o WHERE counted"


def _owner_match(config: WorkspaceConfig) -> str:
    """Lines (``l``) belong to an order (``o``) of the orders source their source names."""
    named = {s.name: s.orders for s in config.sources if s.kind == SourceKind.ORDER_ITEMS and s.orders}
    if not named:
        return "true"
    pairs = " ".join(f"WHEN {sql_string(items)} THEN {sql_string(owner)}" for items, owner in named.items())
    return f"(CASE l.source {pairs} ELSE o.source END) = o.source"


def category_counts_sql(config: WorkspaceConfig, orders: str) -> str:
    """``uid, value, orders, revenue``: per person and category, the counted orders with a line
    in it and their line revenue (``orders`` names the relation of :func:`orders_sql`). Lines
    are summed per order and category first, so no distinct count is needed."""
    per_order = (
        "SELECT o.uid, o.source, o.order_id, coalesce(l.category, 'unknown') AS value, "
        "sum(CAST(l.amount AS DOUBLE)) AS amount "
        f"FROM events AS l JOIN {orders} AS o ON o.order_id = l.order_id AND {_owner_match(config)} "
        "WHERE l.type = 'order_item' GROUP BY o.uid, o.source, o.order_id, coalesce(l.category, 'unknown')"
    )
    return (
        "SELECT uid, value, count(*) AS orders, round(sum(amount), 2) AS revenue "
        f"FROM ({per_order}) AS l GROUP BY uid, value"
    )


EVENT_COLUMNS = (
    "event_id, source, type, name, order_id, amount, currency, quantity, category, "
    "product_id, channel, store_id, promo, status, properties"
)


def events_with_uid_sql(config: WorkspaceConfig, as_of: date, orders: str) -> str:
    """Every event up to the as-of day with its UID (``uid``, ``ts`` and the columns of
    :data:`EVENT_COLUMNS`); order lines take their order's UID and, lacking one, its time."""
    names = [column.strip() for column in EVENT_COLUMNS.split(",")]
    direct = (
        f"SELECT m.uid, e.ts, {', '.join('e.' + c for c in names)} FROM events AS e "
        f"JOIN record_map AS m ON m.source = e.source AND m.record_id = {EVENT_RECORD_ID} "
        f"WHERE e.type <> 'order_item' AND e.ts < {end_of_sql(as_of)}"
    )
    lines = (
        f"SELECT o.uid, coalesce(l.ts, o.ts) AS ts, {', '.join('l.' + c for c in names)} FROM events AS l "
        f"JOIN {orders} AS o ON o.order_id = l.order_id AND {_owner_match(config)} "
        "WHERE l.type = 'order_item'"
    )
    return f"{direct} UNION ALL {lines}"
