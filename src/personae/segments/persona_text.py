"""Persona cards in words: a card's name and description from its facts (see
:mod:`personae.segments.personas`, which computes them).

The most distinctive traits (an index at least :data:`NOTABLE` times above or below the base,
most extreme first, ties by trait name) give the name's adjectives and the description's
comparisons; the top category names what they buy when its index is at least 110.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NOTABLE = 1.2
"""An index of at least 120 (or at most 100 / 1.2 ≈ 83) makes a trait distinctive."""
WORDS: dict[str, tuple[str, str, str]] = {
    "orders": ("orders", "frequent", "occasional"),
    "revenue": ("revenue", "high-spending", "low-spending"),
    "aov": ("average order value", "big-basket", "small-basket"),
    "days_since_last_order": ("days since the last order", "lapsed", "recent"),
    "orders_365d": ("orders in the last year", "active", "quiet"),
    "promo_share": ("share of orders on promotion", "deal-seeking", "full-price"),
    "gap_median_days": ("median days between orders", "slow-return", "quick-return"),
    "sessions": ("web sessions", "browsing", "non-browsing"),
    "email_click_rate": ("e-mail click rate", "e-mail-engaged", "e-mail-indifferent"),
    "month_concentration": ("concentration of orders in a few months", "seasonal", "year-round"),
}
ACRONYMS = frozenset(("vip", "clv", "rfm"))


@dataclass(frozen=True)
class TraitIndex:
    """A key trait's mean in the segment and in the base, and their index (100 = the base)."""

    trait: str
    segment_mean: float | None
    base_mean: float | None
    index: float | None


@dataclass(frozen=True)
class MixShare:
    """One of a segment's top categories or channels: its share and index against the base."""

    value: str
    share: float
    """Share of the segment's revenue (categories) or orders (channels)."""
    index: float | None


@dataclass(frozen=True)
class CardFacts:
    """What a card says before it is named and described."""

    segment: str
    size: int
    share_of_customers: float
    share_of_revenue: float
    traits: list[TraitIndex]
    top_categories: list[MixShare]
    top_channels: list[MixShare]


def _strength(index: float | None) -> float:
    return abs(math.log(max(index, 1.0) / 100.0)) if index is not None else 0.0


def _label(segment: str) -> str:
    words = [word.upper() if word.lower() in ACRONYMS else word for word in segment.replace("_", " ").split(" ")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _ordered(card: CardFacts) -> bool:
    return bool(card.top_categories or card.top_channels)


def _distinctive(card: CardFacts) -> list[TraitIndex]:
    """Traits with an index far from 100, most extreme first (for people yet to order, the
    traits they have none of are left out: that they have not ordered is said once)."""
    notable = [
        item
        for item in card.traits
        if item.index is not None
        and (item.index >= 100 * NOTABLE or item.index <= 100 / NOTABLE)
        and (_ordered(card) or item.segment_mean)
    ]
    return sorted(notable, key=lambda item: (-_strength(item.index), item.trait))


def _word(trait: str, high: bool) -> str:
    _, up, down = WORDS.get(trait, (trait.replace("_", " "), f"high-{trait}", f"low-{trait}"))
    return up if high else down


def persona_name(card: CardFacts) -> str:
    """``"Champions: frequent, high-spending garden buyers"`` from the segment and its numbers."""
    adjectives = [_word(item.trait, (item.index or 0) > 100) for item in _distinctive(card)[:2]]
    categories = card.top_categories
    category = categories[0].value if categories and (categories[0].index or 0) >= 110 else ""
    noun = f"{category} buyers" if category else "buyers" if _ordered(card) else "customers yet to order"
    label = _label(card.segment)
    if not adjectives and not category:
        return f"{label}: typical {noun}"
    return f"{label}: {' '.join(filter(None, [', '.join(adjectives), noun]))}"


def _against(item: TraitIndex) -> str:
    label = WORDS.get(item.trait, (item.trait.replace("_", " "),))[0]
    index = item.index or 0.0
    if index < 5:
        return f"{label} near zero (index {index:.0f})"
    if index >= 200:
        return f"{label} at {index / 100:.1f}× the average (index {index:.0f})"
    side = "above" if index > 100 else "below"
    return f"{label} {abs(index - 100):.0f}% {side} the average (index {index:.0f})"


def persona_description(card: CardFacts) -> str:
    """One paragraph: size and shares, the most distinctive traits, what and where they buy."""
    people = "customer" if card.size == 1 else "customers"
    text = (
        f"{_label(card.segment)} is {card.size:,} {people}, {card.share_of_customers:.1%} of all customers, "
        f"bringing {card.share_of_revenue:.1%} of revenue."
    )
    distinctive = _distinctive(card)[:3]
    if distinctive:
        parts = [_against(item) for item in distinctive]
        listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
        text += f" Compared with all customers they stand out by {listed}."
    else:
        text += " On the key traits they are close to the average customer."
    categories, channels = card.top_categories, card.top_channels
    spend = buy = ""
    if categories:
        top = categories[0]
        index = f", index {top.index:.0f}" if top.index is not None else ""
        spend = f"most of their spend goes on {top.value} ({top.share:.0%} of their revenue{index})"
    if channels:
        channel = channels[0]
        buy = f"they buy mostly through {channel.value} ({channel.share:.0%} of their orders)"
    habits = " and ".join(part for part in (spend, buy) if part)
    text += f" {habits[:1].upper()}{habits[1:]}." if habits else " They have not ordered yet."
    return text
