"""The demo's people: their true identity, their identifiers in each system and the
behaviour planted in them.

Every person gets a lifestyle (a category mix, jittered per person), a survey segment
(which shifts how promotion-driven they are, whether they shop online, whether they hold
a loyalty card, how often they buy and at which price level), a buying pattern (prospect
who never buys, one-time buyer, repeat buyer, high-frequency loyalist), an acquisition
day, and for some a churn day after which they never order again, or a buying season.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from personae.demo.catalog import LIFESTYLES, SURVEY_SEGMENTS
from personae.demo.details import Details, draw_details
from personae.demo.names import CITIES
from personae.demo.text import digits
from personae.demo.timeline import Timeline, day_number
from personae.demo.tokens import unique_numbers, uuids

PROSPECT, ONE_TIME, REPEAT = 0, 1, 2
BUYER_KINDS = ("prospect", "one_time", "repeat")
DEVICES = 2
"""Browsers (anonymous ids) a person may use; person ``i``'s ``d``-th is at ``DEVICES * i + d``."""

_BUYER_SHARES = np.array([0.08, 0.30, 0.62])
_REPEAT_RATE = (1.5, 6.5)
"""Gamma (shape, mean) of orders per year for repeat buyers."""
_LOYALIST_RATE = (5.0, 40.0)
_SEASON_SHARES = np.array([0.15, 0.25, 0.20, 0.40])
_MIX_CONCENTRATION = 25.0
STORE_CITY: np.ndarray = np.repeat(np.arange(len(CITIES)), [c.stores for c in CITIES])
"""The city of every store; store ``s`` is called ``S`` + ``s + 1`` in three digits."""


@dataclass(frozen=True)
class People:
    """The population: one entry per person in every array."""

    details: Details
    lifestyle: np.ndarray
    """Index into :data:`~personae.demo.catalog.LIFESTYLES`."""
    segment: np.ndarray
    """Index into :data:`~personae.demo.catalog.SURVEY_SEGMENTS`."""
    mix: np.ndarray
    """``(people, categories)`` float32 cumulative category weights of each person."""
    buyer: np.ndarray
    """:data:`PROSPECT`, :data:`ONE_TIME` or :data:`REPEAT`."""
    loyalist: np.ndarray
    rate: np.ndarray
    """Orders per year while active (repeat buyers)."""
    promo_driven: np.ndarray
    season: np.ndarray
    """Index into :data:`~personae.demo.catalog.SEASONS`; -1 for people who are not seasonal."""
    active_from: np.ndarray
    """Day (offset from the start) the person became a customer."""
    churned: np.ndarray
    """Day (offset from the start) after which the person never orders; -1 when they do not churn."""
    pos_share: np.ndarray
    """Share of orders placed in store (the rest online)."""
    home_store: np.ndarray
    card: np.ndarray
    """Loyalty card number; 0 for people without a card."""
    user: np.ndarray
    """Web-shop account number (the user id is ``u`` + number); 0 without an account."""
    web_active: np.ndarray
    """Browses the web shop (and so leaves web events)."""
    devices: np.ndarray
    """Number of browsers used (0 for people who never browse)."""
    anonymous: pa.Array
    """Anonymous ids, :data:`DEVICES` per person."""
    days: int

    @property
    def count(self) -> int:
        return len(self.lifestyle)

    @property
    def churner(self) -> np.ndarray:
        result: np.ndarray = self.churned >= 0
        return result

    @property
    def seasonal(self) -> np.ndarray:
        result: np.ndarray = self.season >= 0
        return result

    @property
    def active_until(self) -> np.ndarray:
        """Day (offset, exclusive) until which the person may order."""
        result: np.ndarray = np.where(self.churned >= 0, self.churned, self.days)
        return result

    def person_ids(self, index: np.ndarray) -> pa.Array:
        """True ids ``P000001``…, one per index."""
        return digits(index + 1, max(6, len(str(self.count))), "P")

    def user_ids(self, index: np.ndarray) -> pa.Array:
        return digits(self.user[index], 9, "u")


def draw_people(rng: np.random.Generator, count: int, timeline: Timeline) -> People:
    if count < 1:
        raise ValueError(f"customers={count}: the demo world needs at least one customer")
    days = timeline.days
    segment = _draw(rng, [s.share for s in SURVEY_SEGMENTS], count)
    lifestyle = _draw(rng, [s.share for s in LIFESTYLES], count)
    base = np.vstack([style.weights() for style in LIFESTYLES])[lifestyle]
    mix = rng.gamma(base * _MIX_CONCENTRATION)
    mix = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1).astype(np.float32)
    mix[:, -1] = 1.0

    buyer = _draw(rng, list(_BUYER_SHARES), count)
    loyal_chance = np.array([s.loyalist for s in SURVEY_SEGMENTS])[segment]
    loyalist = (buyer == REPEAT) & (rng.random(count) < loyal_chance)
    rate = np.where(loyalist, _gamma(rng, _LOYALIST_RATE, count), _gamma(rng, _REPEAT_RATE, count))
    promo_driven = rng.random(count) < np.array([s.promo_driven for s in SURVEY_SEGMENTS])[segment]
    seasonal = (buyer == REPEAT) & ~loyalist & (rng.random(count) < 0.15)
    season = np.where(seasonal, _draw(rng, list(_SEASON_SHARES), count), -1).astype(np.int8)

    existing = rng.random(count) < 0.55
    active_from = np.where(existing, 0, rng.integers(0, days, size=count)).astype(np.int32)
    can_churn = (buyer != PROSPECT) & (active_from < days - 150)
    churns = can_churn & (rng.random(count) < 0.24)
    span = np.maximum(days - 90 - active_from - 30, 1)
    churned = np.where(churns, active_from + 30 + (rng.random(count) * span).astype(np.int32), -1)

    lean = np.array([s.web_lean for s in SURVEY_SEGMENTS])[segment]
    u = rng.random(count)
    store_only = u < 0.45 - lean
    web_only = (u >= 0.45 - lean) & (u < 0.65 - lean / 2)
    pos_share = np.where(store_only, 1.0, np.where(web_only, 0.0, rng.beta(2.0, 2.0, size=count)))
    shops_online = (buyer != PROSPECT) & (pos_share < 1.0)
    has_email = shops_online | (rng.random(count) < 0.88)
    details = draw_details(rng, has_email, day_number(timeline.start))

    in_city = rng.integers(0, 1_000, size=count)
    home_store = np.empty(count, dtype=np.int16)
    for city in range(len(CITIES)):
        stores = np.flatnonzero(city == STORE_CITY)
        choices = stores if len(stores) else np.arange(len(STORE_CITY))
        living = details.city == city
        home_store[living] = choices[in_city[living] % len(choices)]

    card_chance = np.array([s.loyalty_card for s in SURVEY_SEGMENTS])[segment]
    has_card = (buyer != PROSPECT) & (pos_share > 0) & (rng.random(count) < card_chance)
    card = _assign(rng, has_card, 11, 600_000_000_000)
    has_account = np.where(shops_online, rng.random(count) < 0.8, has_email & (rng.random(count) < 0.12))
    user = _assign(rng, has_account, 9, 0)
    web_active = shops_online | has_account | (has_email & (rng.random(count) < 0.35))
    devices = np.where(web_active, 1 + (rng.random(count) < 0.35), 0).astype(np.int8)

    return People(
        details=details,
        lifestyle=lifestyle,
        segment=segment,
        mix=mix,
        buyer=buyer,
        loyalist=loyalist,
        rate=rate,
        promo_driven=promo_driven,
        season=season,
        active_from=active_from,
        churned=churned.astype(np.int32),
        pos_share=pos_share.astype(np.float32),
        home_store=home_store,
        card=card,
        user=user,
        web_active=web_active,
        devices=devices,
        anonymous=uuids(rng, count * DEVICES),
        days=days,
    )


def _draw(rng: np.random.Generator, shares: list[float], count: int) -> np.ndarray:
    weights = np.array(shares, dtype=np.float64)
    result: np.ndarray = rng.choice(len(weights), size=count, p=weights / weights.sum()).astype(np.int8)
    return result


def _gamma(rng: np.random.Generator, shape_mean: tuple[float, float], count: int) -> np.ndarray:
    shape, mean = shape_mean
    result: np.ndarray = rng.gamma(shape, mean / shape, size=count)
    return result


def _assign(rng: np.random.Generator, mask: np.ndarray, width: int, base: int) -> np.ndarray:
    """Distinct random ``width``-digit numbers (plus ``base``) for the people under ``mask``."""
    numbers = np.zeros(len(mask), dtype=np.int64)
    numbers[mask] = unique_numbers(rng, int(mask.sum()), width) + base
    return numbers
