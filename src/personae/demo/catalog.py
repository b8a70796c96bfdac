"""What the demo shop sells and the kinds of people who buy it.

Ten product categories, six planted lifestyles (each a distinct category mix), four
attitudinal survey segments (each with its own answers and its own behaviour, so that a
classifier trained on respondents can learn them) and four buying seasons. Products are
drawn once per world: a fixed number per category, with log-normal prices around the
category's typical price, sorted cheapest first so that a price-sensitive shopper can be
steered to the low end of the range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CATEGORIES: tuple[str, ...] = (
    "grocery",
    "kitchen",
    "home",
    "outdoor",
    "sports",
    "apparel",
    "electronics",
    "toys",
    "baby",
    "beauty",
)

_TYPICAL_PRICE: dict[str, float] = {
    "grocery": 6.0,
    "kitchen": 32.0,
    "home": 38.0,
    "outdoor": 55.0,
    "sports": 42.0,
    "apparel": 36.0,
    "electronics": 110.0,
    "toys": 24.0,
    "baby": 21.0,
    "beauty": 17.0,
}

_STOCKED_CATEGORIES = frozenset({"grocery", "baby", "beauty"})
"""Categories bought several at a time."""

PRODUCTS_PER_CATEGORY = 120
BACKGROUND_WEIGHT = 1.5
"""Weight every category gets in every lifestyle's mix, beside its planted ones."""


@dataclass(frozen=True)
class Lifestyle:
    name: str
    share: float
    mix: dict[str, float]
    """Planted category weights; every other category gets :data:`BACKGROUND_WEIGHT`."""

    def weights(self) -> np.ndarray:
        raw = np.array([self.mix.get(c, BACKGROUND_WEIGHT) for c in CATEGORIES])
        result: np.ndarray = raw / raw.sum()
        return result

    @property
    def planted(self) -> tuple[str, ...]:
        """The categories that define the lifestyle, heaviest first."""
        return tuple(sorted(self.mix, key=lambda c: -self.mix[c]))


LIFESTYLES: tuple[Lifestyle, ...] = (
    Lifestyle("home_cook", 0.22, {"kitchen": 35, "grocery": 35, "home": 12}),
    Lifestyle("outdoor", 0.15, {"outdoor": 40, "sports": 35, "apparel": 8}),
    Lifestyle("fashion", 0.20, {"apparel": 60, "home": 10, "beauty": 6}),
    Lifestyle("tech", 0.15, {"electronics": 65, "home": 8, "sports": 5}),
    Lifestyle("family", 0.18, {"toys": 35, "baby": 30, "grocery": 12, "apparel": 6}),
    Lifestyle("beauty", 0.10, {"beauty": 60, "home": 10, "grocery": 6}),
)


@dataclass(frozen=True)
class SurveySegment:
    """An attitudinal segment: how its members answer the survey and how they shop."""

    name: str
    share: float
    answers: tuple[float, float, float, float]
    """Mean answer (1–5) to q_price, q_quality, q_convenience, q_brand."""
    promo_driven: float
    """Chance that a member is promotion-driven."""
    web_lean: float
    """Added to the chance of shopping online (and taken from the chance of store-only)."""
    loyalty_card: float
    """Chance of holding a loyalty card, for people who shop in store."""
    loyalist: float
    """Chance of being a high-frequency loyalist, for repeat buyers."""
    price_tier: tuple[float, float]
    """Beta(a, b) over a category's products, cheapest first: where in the range they buy."""
    trial: float
    """Chance of starting a subscription trial, for people with a web account."""


SURVEY_SEGMENTS: tuple[SurveySegment, ...] = (
    SurveySegment("price_seeker", 0.30, (4.5, 2.4, 3.0, 2.0), 0.55, -0.05, 0.65, 0.08, (1.0, 3.0), 0.06),
    SurveySegment("quality_seeker", 0.20, (2.0, 4.6, 3.0, 3.4), 0.08, 0.00, 0.55, 0.10, (3.0, 1.0), 0.16),
    SurveySegment("convenience", 0.30, (2.8, 3.0, 4.6, 2.4), 0.15, 0.25, 0.45, 0.09, (1.3, 1.3), 0.18),
    SurveySegment("brand_loyal", 0.20, (2.4, 3.6, 2.6, 4.6), 0.10, -0.05, 0.92, 0.22, (1.6, 1.2), 0.12),
)

QUESTIONS: tuple[str, ...] = ("q_price", "q_quality", "q_convenience", "q_brand")


@dataclass(frozen=True)
class Season:
    name: str
    months: tuple[int, ...]


SEASONS: tuple[Season, ...] = (
    Season("spring", (3, 4)),
    Season("summer", (6, 7, 8)),
    Season("back_to_school", (8, 9)),
    Season("holiday", (11, 12)),
)
SEASONAL_SHARE_IN_SEASON = 0.85
"""Share of a seasonal buyer's orders that fall in their season's months."""


@dataclass(frozen=True)
class Catalog:
    """Products of one world: ids and prices, ``[category, rank]``, cheapest first."""

    product_ids: np.ndarray
    prices: np.ndarray
    """Unit prices in cents."""

    @property
    def per_category(self) -> int:
        return int(self.prices.shape[1])

    def product_names(self) -> list[str]:
        """Product ids as text, indexed by ``category * per_category + rank``."""
        return [str(p) for p in self.product_ids.ravel()]


def draw_catalog(rng: np.random.Generator) -> Catalog:
    count = PRODUCTS_PER_CATEGORY
    typical = np.array([_TYPICAL_PRICE[c] for c in CATEGORIES])
    dollars = typical[:, None] * rng.lognormal(0.0, 0.55, size=(len(CATEGORIES), count))
    # shop prices end in .99 or .49
    cents = np.maximum(np.floor(dollars) * 100 + np.where(rng.random(dollars.shape) < 0.7, 99, 49), 149)
    cents.sort(axis=1)
    ids = 400_000 + np.arange(len(CATEGORIES))[:, None] * 1_000 + rng.permutation(count)[None, :]
    return Catalog(product_ids=ids.astype(np.int64), prices=cents.astype(np.int64))


def stocked(category: np.ndarray) -> np.ndarray:
    """Whether each category index is one bought several units at a time."""
    flags = np.array([c in _STOCKED_CATEGORIES for c in CATEGORIES])
    result: np.ndarray = flags[category]
    return result
