"""Built-in traits as SQL: one row per UID, computed as of a date on any engine.

The relations they read are named by the caller (``_orders`` and ``_shares``; see
:mod:`personae.profiles.orders`). Windows (``orders_30d`` ...) end with the as-of day.
Inter-purchase gaps are whole days between consecutive order days (orders on one day count
as one visit). ``month_concentration`` is
the Herfindahl index of a person's orders over the twelve calendar months (1 = all in one
month, 1/12 = even); ``seasonality`` rescales it so that what chance gives for the
person's order count is 0 and one month is 1. Web sessions are the distinct days with page, screen or track events.
"""

from __future__ import annotations

from datetime import date

from personae.engine.sql import day_sql, days_between_sql, end_of_sql, literal, since_sql
from personae.profiles.orders import EVENT_RECORD_ID
from personae.profiles.specs import TraitsConfig

BASE_TRAITS: dict[str, tuple[str, str]] = {
    "orders": ("BIGINT", "orders up to the as-of day"),
    "revenue": ("DOUBLE", "revenue of those orders"),
    "aov": ("DOUBLE", "average order value"),
    "first_order_at": ("TIMESTAMP", "time of the first order"),
    "last_order_at": ("TIMESTAMP", "time of the latest order"),
    "days_since_last_order": ("BIGINT", "recency: days from the latest order to the as-of day"),
    "days_since_first_order": ("BIGINT", "tenure: days from the first order to the as-of day"),
    "order_days": ("BIGINT", "distinct days with an order"),
    "gap_mean_days": ("DOUBLE", "mean days between consecutive order days"),
    "gap_median_days": ("DOUBLE", "median days between consecutive order days"),
    "gap_std_days": ("DOUBLE", "standard deviation of those gaps"),
    "last_gap_days": ("BIGINT", "days between the two latest order days"),
    "promo_share": ("DOUBLE", "share of orders bought on promotion"),
    "month_concentration": ("DOUBLE", "Herfindahl index of orders over calendar months"),
    "seasonality": ("DOUBLE", "month concentration above what chance gives for the order count: 0 even, 1 one month"),
    "top_month": ("BIGINT", "calendar month with most orders"),
    "top_category": ("VARCHAR", "category with the most line revenue"),
    "top_category_share": ("DOUBLE", "its share of line revenue"),
    "categories": ("BIGINT", "distinct categories bought"),
    "top_channel": ("VARCHAR", "channel with most orders"),
    "top_channel_share": ("DOUBLE", "its share of orders"),
    "channels": ("BIGINT", "distinct channels ordered through"),
    "sessions": ("BIGINT", "distinct days with web or app activity"),
    "page_views": ("BIGINT", "page and screen events"),
    "web_events_30d": ("BIGINT", "page, screen and track events in the last 30 days"),
    "last_seen_at": ("TIMESTAMP", "time of the latest event of any kind"),
    "days_since_last_seen": ("BIGINT", "days from the latest event to the as-of day"),
    "email_opens": ("BIGINT", "e-mails opened, as the e-mail platforms report"),
    "email_clicks": ("BIGINT", "e-mails clicked"),
    "email_click_rate": ("DOUBLE", "clicks per open"),
    "subscription_status": ("VARCHAR", "none, trial, active or cancelled"),
    "trial_started_at": ("TIMESTAMP", "latest trial start"),
    "subscribed_at": ("TIMESTAMP", "latest paid subscription start"),
    "cancelled_at": ("TIMESTAMP", "latest cancellation"),
}


def window_traits(config: TraitsConfig) -> dict[str, tuple[str, str]]:
    traits: dict[str, tuple[str, str]] = {}
    for days in config.profile.windows:
        traits[f"orders_{days}d"] = ("BIGINT", f"orders in the last {days} days")
        traits[f"revenue_{days}d"] = ("DOUBLE", f"revenue in the last {days} days")
    return traits


def builtin_traits(config: TraitsConfig) -> dict[str, tuple[str, str]]:
    """Name -> (DuckDB type, description) of every built-in trait, in column order."""
    return {**BASE_TRAITS, **window_traits(config)}


MONTHS = range(1, 13)


def _order_stats_sql(config: TraitsConfig, as_of: date, orders: str) -> str:
    """Counts, money, times, windows and the month profile per buyer, in one pass over the orders."""
    windows = []
    for days in config.profile.windows:
        start = since_sql(as_of, days)
        windows += [
            f"count(*) FILTER (WHERE ts >= {start}) AS orders_{days}d",
            f"coalesce(round(sum(amount) FILTER (WHERE ts >= {start}), 2), 0) AS revenue_{days}d",
        ]
    months = [f"count(*) FILTER (WHERE month(ts) = {month}) AS m{month}" for month in MONTHS]
    stats = (
        "SELECT uid, count(*) AS orders, round(sum(amount), 2) AS revenue, min(ts) AS first_order_at, "
        f"max(ts) AS last_order_at, avg(CASE WHEN promo THEN 1 ELSE 0 END) AS promo_share, "
        f"{', '.join(windows + months)} FROM {orders} GROUP BY uid"
    )
    busiest = f"greatest({', '.join(f'm{month}' for month in MONTHS)})"
    top_month = " ".join(f"WHEN m{month} = {busiest} THEN {month}" for month in MONTHS)
    concentration = " + ".join(f"m{month} * m{month}" for month in MONTHS)
    kept = ", ".join(f"s.{name}" for name in ("orders", "revenue", "first_order_at", "last_order_at", "promo_share"))
    window_names = ", ".join(f"s.{kind}_{days}d" for days in config.profile.windows for kind in ("orders", "revenue"))
    return (
        f"SELECT s.uid, {kept}, {window_names}, "
        f"CAST({concentration} AS DOUBLE) / (CAST(s.orders AS DOUBLE) * s.orders) AS month_concentration, "
        f"CAST(CASE {top_month} END AS BIGINT) AS top_month FROM ({stats}) AS s"
    )


def gaps_sql(days: str) -> str:
    """``uid, day, gap``: each order day (from a relation of ``uid, day``, one row per day a
    person ordered) with the days since the person's previous order day."""
    return (
        f"SELECT uid, day, {days_between_sql('lag(day) OVER (PARTITION BY uid ORDER BY day)', 'day')} AS gap "
        f"FROM {days}"
    )


def _gap_stats_sql(gaps: str) -> str:
    """Order days and the gaps between them (a person's first day has no gap: NULL, skipped)."""
    return (
        "SELECT uid, count(*) AS order_days, avg(gap) AS gap_mean_days, median(gap) AS gap_median_days, "
        f"stddev_samp(gap) AS gap_std_days, arg_max(gap, day) AS last_gap_days FROM {gaps} GROUP BY uid"
    )


def channel_counts_sql(orders: str) -> str:
    """``uid, value, orders, revenue``: per person and channel, the counted orders and revenue."""
    return (
        "SELECT uid, coalesce(channel, 'unknown') AS value, count(*) AS orders, round(sum(amount), 2) AS revenue "
        f"FROM {orders} GROUP BY uid, coalesce(channel, 'unknown')"
    )


def shares_sql(counts: str, dimension: str, weight: str) -> str:
    """``uid, dimension, value, orders, revenue, share``: how a person's buying splits over the
    values of a dimension, from a query of ``uid, value, orders, revenue`` (``share`` by
    ``weight``: ``revenue`` or ``orders``)."""
    share = f"CAST({weight} AS DOUBLE) / nullif(sum({weight}) OVER (PARTITION BY uid), 0)"
    return (
        f"SELECT uid, {literal(dimension)} AS dimension, value, orders, revenue, coalesce({share}, 0) AS share "
        f"FROM ({counts}) AS c"
    )


def _top_sql(shares: str, dimension: str, label: str, count_name: str) -> str:
    ranked = (
        "SELECT *, row_number() OVER (PARTITION BY uid ORDER BY share DESC, value) AS position, "
        f"count(*) OVER (PARTITION BY uid) AS distinct_values FROM {shares} WHERE dimension = {literal(dimension)}"
    )
    return (
        f"SELECT uid, value AS top_{label}, share AS top_{label}_share, distinct_values AS {count_name} "
        f"FROM ({ranked}) AS r WHERE position = 1"
    )


def _activity_sql(config: TraitsConfig, as_of: date) -> str:
    """Web activity, last seen and subscription times per UID, in one pass over the events
    other than orders (they are in the order events already) and order lines (they share
    their order's time)."""
    since = since_sql(as_of, 30)
    active = "e.type IN ('page', 'screen', 'track')"
    names = config.profile.subscription
    stamps = ", ".join(
        f"max(CASE WHEN e.type = 'track' AND e.name = {literal(name)} THEN e.ts END) AS {column}"
        for column, name in (
            ("trial_started_at", names.trial),
            ("subscribed_at", names.start),
            ("cancelled_at", names.cancel),
        )
    )
    return (
        f"SELECT m.uid, count(DISTINCT CASE WHEN {active} THEN CAST(e.ts AS DATE) END) AS sessions, "
        "count(*) FILTER (WHERE e.type IN ('page', 'screen')) AS page_views, "
        f"count(*) FILTER (WHERE {active} AND e.ts >= {since}) AS web_events_30d, "
        f"max(e.ts) AS last_seen_at, {stamps} FROM events AS e "
        f"JOIN record_map AS m ON m.source = e.source AND m.record_id = {EVENT_RECORD_ID} "
        f"WHERE e.type NOT IN ('order', 'order_item') AND e.ts < {end_of_sql(as_of)} GROUP BY m.uid"
    )


SUBSCRIPTION_STATUS = (
    "CASE WHEN w.cancelled_at IS NOT NULL AND w.cancelled_at >= greatest(coalesce(w.subscribed_at, "
    "w.trial_started_at), coalesce(w.trial_started_at, w.subscribed_at)) THEN 'cancelled' "
    "WHEN w.subscribed_at IS NOT NULL THEN 'active' WHEN w.trial_started_at IS NOT NULL THEN 'trial' ELSE 'none' END"
)
"""The latest of trial, paid and cancelled; a cancellation counts when it is the latest event."""


def _email_sql() -> str:
    return (
        "SELECT m.uid, CAST(sum(c.email_opens) AS BIGINT) AS email_opens, "
        "CAST(sum(c.email_clicks) AS BIGINT) AS email_clicks "
        "FROM customer_records AS c JOIN record_map AS m ON m.source = c.source AND m.record_id = c.record_id "
        "WHERE c.email_opens IS NOT NULL OR c.email_clicks IS NOT NULL GROUP BY m.uid"
    )


def traits_sql(
    config: TraitsConfig, as_of: date, *, people: str, order_events: str, orders: str, shares: str, gaps: str
) -> str:
    """One row per UID of ``people`` with every built-in trait (zeros for non-buyers). The
    relations are built by :mod:`personae.profiles.orders` (``order_events``, ``orders``),
    :func:`gaps_sql` from the orders' days and :func:`shares_sql`."""
    as_of_day = day_sql(as_of)
    last_seen = "greatest(w.last_seen_at, oe.last_order_event_at)"
    counted = {"orders", "order_days", *(f"orders_{d}d" for d in config.profile.windows)}
    zero_money = {f"revenue_{d}d" for d in config.profile.windows} | {"revenue"}
    select = ["p.uid"]
    for name in builtin_traits(config):
        if name in counted:
            select.append(f"coalesce({_owner(name)}.{name}, 0) AS {name}")
        elif name in zero_money:
            select.append(f"coalesce(o.{name}, 0.0) AS {name}")
        elif name == "seasonality":
            expected = "(CAST(1 AS DOUBLE) / 12 + CAST(11 AS DOUBLE) / 12 / o.orders)"
            rescaled = f"(o.month_concentration - {expected}) / (1 - {expected})"
            select.append(f"CASE WHEN o.orders > 1 THEN {rescaled} END AS seasonality")
        elif name == "aov":
            select.append("o.revenue / nullif(o.orders, 0) AS aov")
        elif name == "days_since_last_order":
            select.append(f"{days_between_sql('o.last_order_at', as_of_day)} AS days_since_last_order")
        elif name == "days_since_first_order":
            select.append(f"{days_between_sql('o.first_order_at', as_of_day)} AS days_since_first_order")
        elif name == "days_since_last_seen":
            select.append(f"{days_between_sql(last_seen, as_of_day)} AS days_since_last_seen")
        elif name == "last_seen_at":
            select.append(f"{last_seen} AS last_seen_at")
        elif name in ("sessions", "page_views", "web_events_30d"):
            select.append(f"coalesce(w.{name}, 0) AS {name}")
        elif name == "email_click_rate":
            select.append("CAST(e.email_clicks AS DOUBLE) / nullif(e.email_opens, 0) AS email_click_rate")
        elif name == "subscription_status":
            select.append(f"{SUBSCRIPTION_STATUS} AS subscription_status")
        else:
            select.append(f"{_owner(name)}.{name}")
    return (
        f"SELECT {', '.join(select)} FROM {people} AS p "
        f"LEFT JOIN ({_order_stats_sql(config, as_of, orders)}) AS o ON o.uid = p.uid "
        f"LEFT JOIN ({_gap_stats_sql(gaps)}) AS ga ON ga.uid = p.uid "
        f"LEFT JOIN ({_top_sql(shares, 'category', 'category', 'categories')}) AS ca ON ca.uid = p.uid "
        f"LEFT JOIN ({_top_sql(shares, 'channel', 'channel', 'channels')}) AS ch ON ch.uid = p.uid "
        f"LEFT JOIN ({_activity_sql(config, as_of)}) AS w ON w.uid = p.uid "
        f"LEFT JOIN (SELECT uid, max(ts) AS last_order_event_at FROM {order_events} GROUP BY uid) AS oe "
        "ON oe.uid = p.uid "
        f"LEFT JOIN ({_email_sql()}) AS e ON e.uid = p.uid"
    )


_OWNERS = {
    "order_days": "ga",
    "gap_mean_days": "ga",
    "gap_median_days": "ga",
    "gap_std_days": "ga",
    "last_gap_days": "ga",
    "top_category": "ca",
    "top_category_share": "ca",
    "categories": "ca",
    "top_channel": "ch",
    "top_channel_share": "ch",
    "channels": "ch",
    "email_opens": "e",
    "email_clicks": "e",
    "trial_started_at": "w",
    "subscribed_at": "w",
    "cancelled_at": "w",
}


def _owner(name: str) -> str:
    return _OWNERS.get(name, "o")
