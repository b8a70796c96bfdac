"""One person's traits in real time: events folded in one at a time, every trait as of any day.

:class:`LiveTraits` takes rows shaped as the store's ``events`` table (orders, order lines,
tracks, pages, screens, identifies) and ``customer_records`` (``email_opens``,
``email_clicks``), in any order, and gives every trait of the catalog as of a day on demand,
equal to what the traits step computes in SQL for that day (the property test
``tests/profiles/test_live_agreement.py`` checks it on random event streams).

How it stays incremental and right as days pass:

- Each input the events feed (orders, order events, activity, every event) keeps one fold per
  aggregate per *day* (:mod:`personae.profiles.folds`). Asking for a day merges the folds of
  the days up to it, and a window merges only its last N days, so ``orders_30d`` drops an
  order on the 31st day without any event. A filter that reads the as-of day
  (``days_since`` in a declared ``where``) keeps its rows per day instead, filtered when asked.
- Order lines belong to their order's person (the caller sends a line to the people whose
  order it names) and match that person's counted orders by ``order_id`` (and by the orders
  source a line source names, as in batch). A line and its order may come in either order:
  each is kept until the other arrives. The pair adds to the category split of the order's
  day and, as an event, to the declared traits (with the order's time if it has none).
- The inputs derived from others are rebuilt when asked, from the days up to the as-of day:
  the per-day orders and their gaps, the category and channel shares, the e-mail records
  (a record replaces the earlier version with its ``(source, record_id)``).
- An event seen before (same ``event_id``) is ignored, as ingest does.

Why per-day folds rather than one running total: a running total cannot drop what leaves a
window, nor answer for an earlier day; per-day folds do both, and merge in any order to the
same result. Measured on the shared 2-core machine for one heavy person (300 orders with 600
lines and 2,000 web events over two years, 730 active days): about 70 µs per event folded in,
13 ms to give every built-in trait as of a day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from itertools import pairwise
from typing import Any

from personae.profiles.algebra import (
    ACTIVITY,
    CATEGORY_SHARES,
    CHANNEL_SHARES,
    EMAIL,
    EVENTS,
    ORDER_DAYS,
    ORDER_EVENTS,
    ORDERS,
    Aggregate,
    Input,
)
from personae.profiles.catalog import Catalog, trait_catalog
from personae.profiles.folds import Fold, Row, passes, reads_the_day, typed
from personae.profiles.specs import TraitsConfig

Key = tuple[date, date]
"""A day bucket: the day a row counts from (its order's day, for a line) and the day of its time."""


class _Days:
    """The folds of one input's aggregates, per day bucket."""

    def __init__(self, aggregates: list[Aggregate]) -> None:
        self.aggregates = aggregates
        self.deferred = [reads_the_day(aggregate) for aggregate in aggregates]
        self.buckets: dict[Key, list[Any]] = {}

    def add(self, row: Row, counted_from: date, time_day: date) -> None:
        bucket = self.buckets.get((counted_from, time_day))
        if bucket is None:
            bucket = [[] if later else Fold(a) for a, later in zip(self.aggregates, self.deferred, strict=True)]
            self.buckets[(counted_from, time_day)] = bucket
        for index, aggregate in enumerate(self.aggregates):
            if self.deferred[index]:
                bucket[index].append(row)
            elif passes(aggregate, row, counted_from):
                bucket[index].add(row)

    def days(self, as_of: date) -> list[date]:
        """The days up to ``as_of`` with a row."""
        return sorted({counted for counted, _ in self.buckets if counted <= as_of})

    def values(self, as_of: date) -> dict[str, Any]:
        """Each aggregate as of ``as_of`` (NULL for all when no row counts by then, as a LEFT JOIN)."""
        keys = [key for key in self.buckets if key[0] <= as_of]
        if not keys:
            return dict.fromkeys((aggregate.name for aggregate in self.aggregates), None)
        out = {}
        for index, aggregate in enumerate(self.aggregates):
            fold = Fold(aggregate)
            start = as_of - timedelta(days=aggregate.window - 1) if aggregate.window is not None else None
            for key in keys:
                if start is not None and key[1] < start:
                    continue
                part = self.buckets[key][index]
                if self.deferred[index]:
                    for row in part:
                        if passes(aggregate, row, as_of):
                            fold.add(row)
                else:
                    fold.merge(part)
            out[aggregate.name] = fold.result()
        return out


def _day(moment: date) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


def _fold_rows(aggregates: list[Aggregate], rows: list[Row], as_of: date) -> dict[str, Any]:
    """Each aggregate over rows already limited to the as-of day."""
    if not rows:
        return dict.fromkeys((aggregate.name for aggregate in aggregates), None)
    out = {}
    for aggregate in aggregates:
        fold = Fold(aggregate)
        time = aggregate.input.time
        for row in rows:
            if (
                aggregate.window is not None
                and time is not None
                and _day(row[time]) < as_of - timedelta(aggregate.window - 1)
            ):
                continue
            if passes(aggregate, row, as_of):
                fold.add(row)
        out[aggregate.name] = fold.result()
    return out


@dataclass
class _Split:
    """A person's orders and revenue under one category or channel, on one day."""

    orders: set[tuple[str, str]] = field(default_factory=set)
    revenue: Fraction | None = None

    def add(self, order: tuple[str, str], amount: Any) -> None:
        self.orders.add(order)
        if amount is not None:
            self.revenue = (self.revenue or Fraction(0)) + Fraction(amount)


@dataclass(frozen=True)
class _Order:
    source: str
    order_id: str
    ts: datetime
    day: date


def _share_rows(days: dict[date, dict[str, _Split]], as_of: date, weight: str) -> list[Row]:
    """``value, orders, revenue, share`` per category or channel, as :func:`shares_sql` gives them."""
    merged: dict[str, _Split] = defaultdict(_Split)
    for day, splits in days.items():
        if day <= as_of:
            for value, split in splits.items():
                into = merged[value]
                into.orders |= split.orders
                if split.revenue is not None:
                    into.revenue = (into.revenue or Fraction(0)) + split.revenue

    def weight_of(split: _Split) -> Fraction | None:
        return Fraction(len(split.orders)) if weight == "orders" else split.revenue

    weights = [w for w in map(weight_of, merged.values()) if w is not None]
    total = sum(weights, Fraction(0)) if weights else None
    rows: list[Row] = []
    for value, split in merged.items():
        own = weight_of(split)
        share = float(own) / float(total) if own is not None and total else 0.0
        revenue = typed(split.revenue, "DOUBLE")
        rows.append({"value": value, "orders": len(split.orders), "revenue": revenue, "share": share})
    return rows


class LiveTraits:
    """One person's traits, fed one event (or customer record) at a time, valued as of any day.

    >>> from decimal import Decimal
    >>> live = LiveTraits(TraitsConfig())
    >>> live.add_event({"event_id": "o1", "source": "shop", "type": "order", "order_id": "1",
    ...                 "ts": datetime(2025, 3, 1, 10), "amount": Decimal("19.99")})
    >>> [live.traits(date(2025, 3, 1))[name] for name in ("orders", "revenue", "orders_30d")]
    [1, 19.99, 1]
    >>> live.traits(date(2025, 4, 1))["orders_30d"], live.traits(date(2025, 2, 28))["orders"]
    (0, 0)
    """

    def __init__(self, config: TraitsConfig, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or trait_catalog(config)
        self.excluded = {status.lower() for status in config.profile.excluded_statuses}
        self.line_orders = dict(config.line_orders)
        self._inputs = {
            input.name: _Days(self.catalog.aggregates(input)) for input in (ORDERS, ORDER_EVENTS, ACTIVITY, EVENTS)
        }
        self._seen: set[Any] = set()
        self._orders: dict[str, list[_Order]] = defaultdict(list)
        self._lines: dict[str, list[Row]] = defaultdict(list)
        self._categories: dict[date, dict[str, _Split]] = defaultdict(lambda: defaultdict(_Split))
        self._channels: dict[date, dict[str, _Split]] = defaultdict(lambda: defaultdict(_Split))
        self._records: dict[tuple[Any, Any], Row] = {}

    # -- events in ---------------------------------------------------------------------------
    def add_event(self, event: Row) -> None:
        """Fold one row of ``events`` in (an order line: of one of this person's orders)."""
        event_id = event.get("event_id")
        if event_id is not None:
            if event_id in self._seen:
                return
            self._seen.add(event_id)
        kind, ts = event.get("type"), event.get("ts")
        if kind == "order_item":
            self._add_line(event)
            return
        if kind is None or ts is None or (kind == "order" and event.get("order_id") is None):
            return  # batch drops them too: no time, no type, or no order id to find the person by
        self._inputs[EVENTS.name].add(event, ts.date(), ts.date())
        if kind == "order":
            self._add_order(event, ts)
        else:
            self._inputs[ACTIVITY.name].add(event, ts.date(), ts.date())

    def add_record(self, record: Row) -> None:
        """Fold one row of ``customer_records`` in; it replaces the record's earlier version."""
        self._records[(record.get("source"), record.get("record_id"))] = record

    def add_all(self, events: Iterable[Row]) -> None:
        for event in events:
            self.add_event(event)

    def _add_order(self, event: Row, ts: datetime) -> None:
        day = ts.date()
        row: dict[str, Any] = {
            "source": event.get("source"),
            "order_id": event.get("order_id"),
            "ts": ts,
            "amount": event.get("amount"),
            "channel": event.get("channel"),
            "promo": bool(event.get("promo") or False),
        }
        self._inputs[ORDER_EVENTS.name].add(row, day, day)
        if (event.get("status") or "").lower() in self.excluded:
            return
        self._inputs[ORDERS.name].add(row, day, day)
        order = _Order(row["source"], row["order_id"], ts, day)
        channel = row["channel"] if row["channel"] is not None else "unknown"
        self._channels[day][channel].add((order.source, order.order_id), row["amount"])
        self._orders[order.order_id].append(order)
        for line in self._lines[order.order_id]:
            self._pair(order, line)

    def _add_line(self, line: Row) -> None:
        order_id = line.get("order_id")
        if order_id is None:
            return
        self._lines[order_id].append(line)
        for order in self._orders[order_id]:
            self._pair(order, line)

    def _pair(self, order: _Order, line: Row) -> None:
        """A line of a counted order: into the order day's category split and the events."""
        source = line.get("source")
        if isinstance(source, str) and self.line_orders.get(source, order.source) != order.source:
            return
        category = line.get("category")
        self._categories[order.day]["unknown" if category is None else category].add(
            (order.source, order.order_id), line.get("amount")
        )
        ts = line.get("ts") or order.ts
        self._inputs[EVENTS.name].add({**line, "ts": ts}, order.day, ts.date())

    # -- traits out --------------------------------------------------------------------------
    def _rows(self, input: Input, as_of: date) -> list[Row]:
        """The rows of an input derived from the others, as of a day."""
        if input == ORDER_DAYS:
            days = self._inputs[ORDERS.name].days(as_of)
            gaps = [None, *((day - previous).days for previous, day in pairwise(days))]
            return [{"day": day, "gap": gap} for day, gap in zip(days, gaps, strict=False)]
        if input == CATEGORY_SHARES:
            return _share_rows(self._categories, as_of, "revenue")
        if input == CHANNEL_SHARES:
            return _share_rows(self._channels, as_of, "orders")
        return [
            r for r in self._records.values() if r.get("email_opens") is not None or r.get("email_clicks") is not None
        ]

    def traits(self, as_of: date) -> dict[str, Any]:
        """Every stored trait as of the end of ``as_of``, by name, as the traits table holds it."""
        raw: dict[str, Any] = {}
        for days in self._inputs.values():
            raw.update(days.values(as_of))
        for input in (ORDER_DAYS, CATEGORY_SHARES, CHANNEL_SHARES, EMAIL):
            raw.update(_fold_rows(self.catalog.aggregates(input), self._rows(input, as_of), as_of))
        for name, formula in self.catalog.formulas.items():
            raw[name] = formula.evaluate(raw, as_of=as_of)
        out = {}
        for trait in self.catalog.outputs:
            value = raw[trait.name]
            if value is None and isinstance(trait, Aggregate) and trait.default is not None:
                value = typed(trait.default, trait.type)
            out[trait.name] = value
        return out
