"""Every order of the demo world, in store and online, with its line items.

Orders are drawn for the whole population at once as numpy arrays (about ten per person
on average at the default rates, heavily skewed: a third of buyers buy once, loyalists
buy weekly). Each order falls on a day drawn from the person's calendar between their
acquisition and churn days; a new customer's first order is on the day they join.
Promotion orders are more likely for promotion-driven people and in November, and are
discounted line by line. Line items are drawn from the person's category mix and price
tier in chunks, so that memory stays bounded at millions of orders. Money is in cents
throughout, and an order's total is the sum of its rounded line totals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from personae.demo.catalog import SURVEY_SEGMENTS, Catalog, stocked
from personae.demo.people import ONE_TIME, REPEAT, STORE_CITY, People
from personae.demo.text import SECONDS_PER_DAY
from personae.demo.timeline import Timeline, clock

_DISCOUNTS = np.array([10, 15, 20, 25, 30])
_PROMO_MONTH_BOOST = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.0, 1.0, 1.0, 1.7, 1.2])
_CHUNK = 1_000_000


@dataclass(frozen=True)
class Orders:
    """All orders, sorted by time; one entry per order in every array."""

    person: np.ndarray
    ts: np.ndarray
    """Seconds since the epoch (UTC)."""
    online: np.ndarray
    promo: np.ndarray
    discount: np.ndarray
    """Percent off every line of a promotion order; 0 otherwise."""
    store: np.ndarray
    """Store index of an in-store order; -1 online."""
    carded: np.ndarray
    """In-store order on which the loyalty card was scanned."""
    signed_in: np.ndarray
    """Online order placed from a web-shop account (carries the user id)."""

    @property
    def count(self) -> int:
        return len(self.person)


@dataclass(frozen=True)
class Items:
    """All line items, grouped by order in the orders' sequence."""

    order: np.ndarray
    """Index of the order in :class:`Orders`."""
    line: np.ndarray
    """1-based line number within the order."""
    category: np.ndarray
    product: np.ndarray
    """Product index ``category * per_category + rank`` into the catalog."""
    quantity: np.ndarray
    amount: np.ndarray
    """Line total in cents (after any discount)."""

    @property
    def count(self) -> int:
        return len(self.order)

    def totals(self) -> np.ndarray:
        """Order totals in cents, one per order: the sum of the order's line totals."""
        starts = np.flatnonzero(self.line == 1)
        if len(starts) == 0:
            return np.zeros(0, dtype=np.int64)
        result: np.ndarray = np.add.reduceat(self.amount.astype(np.int64), starts)
        return result


def draw_orders(rng: np.random.Generator, people: People, timeline: Timeline) -> Orders:
    active_from = people.active_from.astype(np.int64)
    until = people.active_until.astype(np.int64)
    years = (until - active_from) / 365.25
    repeat = np.maximum(1, rng.poisson(people.rate * years))
    count = np.where(people.buyer == ONE_TIME, 1, np.where(people.buyer == REPEAT, repeat, 0))
    person = np.repeat(np.arange(people.count, dtype=np.int32), count)
    total = len(person)

    profile = people.season.astype(np.int64)[person] + 1
    day = timeline.sample_days(profile, active_from[person], until[person], rng.random(total))
    starts = np.cumsum(count) - count
    joined = (count > 0) & (active_from > 0)
    day[starts[joined]] = active_from[joined]

    online = rng.random(total) >= people.pos_share[person]
    second = np.where(online, clock(rng, total, in_store=False), clock(rng, total, in_store=True))
    ts = timeline.first_second + day * SECONDS_PER_DAY + second

    chance = np.where(people.promo_driven[person], 0.6, 0.12) * _PROMO_MONTH_BOOST[timeline.month[day] - 1]
    promo = rng.random(total) < np.minimum(chance, 0.95)
    discount = np.where(promo, rng.choice(_DISCOUNTS, size=total), 0).astype(np.int8)

    away = rng.integers(0, len(STORE_CITY), size=total)
    store = np.where(rng.random(total) < 0.85, people.home_store[person], away)
    store = np.where(online, -1, store).astype(np.int16)
    carded = ~online & (people.card[person] > 0) & (rng.random(total) < 0.92)
    signed_in = online & (people.user[person] > 0) & (rng.random(total) < 0.95)

    order = np.lexsort((person, ts))
    return Orders(
        person=person[order],
        ts=ts[order],
        online=online[order],
        promo=promo[order],
        discount=discount[order],
        store=store[order],
        carded=carded[order],
        signed_in=signed_in[order],
    )


def draw_items(rng: np.random.Generator, orders: Orders, people: People, catalog: Catalog) -> Items:
    """Line items for every order, drawn in chunks of orders."""
    tier_a = np.array([s.price_tier[0] for s in SURVEY_SEGMENTS])
    tier_b = np.array([s.price_tier[1] for s in SURVEY_SEGMENTS])
    per_category = catalog.per_category
    prices = catalog.prices.ravel()
    parts: list[Items] = []
    for first in range(0, orders.count, _CHUNK):
        chosen = np.arange(first, min(first + _CHUNK, orders.count))
        lines = 1 + np.minimum(rng.poisson(np.where(orders.online[chosen], 1.2, 1.6)), 11)
        order = np.repeat(chosen.astype(np.int32), lines)
        size = len(order)
        line = (np.arange(size) - np.repeat(np.cumsum(lines) - lines, lines) + 1).astype(np.int16)
        person = orders.person[order]
        category = (rng.random(size, dtype=np.float32)[:, None] >= people.mix[person]).sum(axis=1)
        category = np.minimum(category, people.mix.shape[1] - 1).astype(np.int8)
        segment = people.segment[person]
        rank = (rng.beta(tier_a[segment], tier_b[segment]) * per_category).astype(np.int64)
        product = category.astype(np.int64) * per_category + np.minimum(rank, per_category - 1)
        several = stocked(category)
        quantity = np.where(several, 1 + np.minimum(rng.poisson(0.7, size), 5), 1 + (rng.random(size) < 0.08)).astype(
            np.int16
        )
        keep = 100 - orders.discount[order].astype(np.int64)
        amount = (quantity * prices[product] * keep + 50) // 100
        parts.append(
            Items(
                order=order,
                line=line,
                category=category,
                product=product.astype(np.int32),
                quantity=quantity,
                amount=amount.astype(np.int32),
            )
        )
    if not parts:
        empty = np.zeros(0, dtype=np.int32)
        return Items(
            order=empty,
            line=empty.astype(np.int16),
            category=empty.astype(np.int8),
            product=empty,
            quantity=empty.astype(np.int16),
            amount=empty,
        )
    return Items(
        *(
            np.concatenate([getattr(p, name) for p in parts])
            for name in ("order", "line", "category", "product", "quantity", "amount")
        )
    )
