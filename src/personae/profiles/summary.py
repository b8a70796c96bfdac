"""The customer summary the CLV models take: frequency, recency, T and monetary value.

Same definitions as lifetimes' ``summary_data_from_transaction_data``: orders are summed
per day (one transaction per day); ``frequency`` is the number of repeat days (days with
an order after the first); ``recency`` is the time from the first to the last order day
and ``T`` from the first order day to the as-of day, both in periods of ``period_days``;
``monetary_value`` is the mean value of the repeat days (0 without a repeat).
"""

from __future__ import annotations

from datetime import date

from personae.profiles.orders import day_sql, days_between_sql, end_of_sql


def order_days_sql(orders: str, as_of: date, *, uid: str = "uid") -> str:
    """``uid, day, value``: each day a buyer in ``orders`` (``uid, ts, amount``) ordered, and
    the day's order value (lifetimes' one transaction per day)."""
    return (
        f"SELECT {uid} AS uid, CAST(ts AS DATE) AS day, sum(amount) AS value FROM {orders} "
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
