"""Persona cards: every segment of a segmentation described against the base of all customers.

A card holds the segment's size and its shares of customers and of revenue; the mean of
each key trait in the segment and in the base with their index (100 × segment / base); the
top categories (by share of revenue) and channels (by share of orders) with their index; a
generated name and description; and a representative example, anonymised.

The base is every known customer in ``profiles`` (people with an identifier other than an
anonymous id), whatever the segmentation covers; anonymous profiles are counted apart. Segments may
overlap (rule segments): each card then counts everyone in its segment, so shares can add
up to more than one. The example is the member nearest the segment's medians on the key
traits (each difference scaled by the base's standard deviation; a missing value counts as
one deviation; ties by UID). It carries no name, e-mail, phone, street, postcode or UID: an
alias, a ten-year age band, the country, and the city only when at least
``MIN_CITY_CUSTOMERS`` customers share it.

Every figure on a card is settled to :data:`SIGNIFICANT` significant digits (money to the
cent) before it is compared or ranked: a sum of doubles depends on the order it is added in,
which differs between engines and between runs on Spark, and a tie between two traits (or a
last digit) must not decide a different name on another engine.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from personae.engine.base import Engine
from personae.errors import WorkspaceError
from personae.profiles.build import AS_OF_COLUMN
from personae.segments.persona_sql import (
    base_stats_sql,
    example_sql,
    members_sql,
    mix_sql,
    overlap_sql,
    segment_stats_sql,
    traited_sql,
)
from personae.segments.persona_text import CardFacts, MixShare, TraitIndex, persona_description, persona_name
from personae.spec import did_you_mean

DEFAULT_CARD_TRAITS: tuple[str, ...] = (
    "orders",
    "revenue",
    "aov",
    "days_since_last_order",
    "orders_365d",
    "promo_share",
    "gap_median_days",
    "sessions",
    "email_click_rate",
    "month_concentration",
)
TOP = 3
MIN_CITY_CUSTOMERS = 10
EXAMPLE_POLICY = (
    "no name, e-mail, phone, street, postcode or uid; age as a band; country kept; "
    f"city kept only when at least {MIN_CITY_CUSTOMERS} customers share it"
)
INTEGERS = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER")
NUMERIC_TYPES = frozenset((*INTEGERS, "DOUBLE", "FLOAT", "REAL", "DECIMAL", "BOOLEAN"))
MIXES = (("category", "revenue"), ("channel", "orders"))
"""Each mix: the dimension of ``trait_shares`` and what its share is of."""
AGE_BANDS = ((18, "under 18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"))
LOCATION = ("birth_date", "city", "country", "top_category", "top_channel")
MEMBERS, TRAITED = "_card_members", "_card_members_traited"
"""The relations the card queries read (:func:`~personae.segments.persona_sql.members_sql`,
:func:`~personae.segments.persona_sql.traited_sql`)."""


@dataclass(frozen=True)
class PersonaExample:
    """A representative member, anonymised (see :data:`EXAMPLE_POLICY`)."""

    alias: str
    age_band: str | None = None
    city: str | None = None
    country: str | None = None
    top_category: str | None = None
    top_channel: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonaCard:
    segment: str
    name: str
    description: str
    size: int
    share_of_customers: float
    revenue: float
    share_of_revenue: float
    traits: list[TraitIndex]
    top_categories: list[MixShare]
    top_channels: list[MixShare]
    example: PersonaExample


@dataclass(frozen=True)
class Personas:
    """The cards of one segmentation, largest segment first."""

    segmentation: str
    customers: int
    """Known customers: the base every share and index is of."""
    anonymous: int
    """Profiles seen only through anonymous ids, left out of the cards."""
    revenue: float
    overlapping: bool
    """Segments overlap (rule segments): shares may add up to more than one."""
    traits: list[str]
    example_policy: str
    cards: list[PersonaCard]


SIGNIFICANT = 10
"""Significant digits a card's figures keep: far more than a reader needs, far fewer than the
last bits a different order of addition changes."""


def _settled(value: Any) -> float | None:
    """A figure to :data:`SIGNIFICANT` significant digits (None stays None)."""
    return None if value is None else float(f"{float(value):.{SIGNIFICANT}g}")


def _money(value: Any) -> float:
    return round(float(value or 0), 2)


def _index(value: float | None, base: float | None) -> float | None:
    return _settled(100.0 * value / base) if value is not None and base else None


def _check(engine: Engine, segmentations: Sequence[str], traits: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The usable key traits and the profile columns; errors that say what to run or type."""
    for table, step in (("memberships", "segment"), ("profiles", "traits"), ("trait_shares", "traits")):
        if not engine.has_table(table):
            raise WorkspaceError(f"no {table} yet: run the {step} step first (`personae run`)")
    known = sorted(str(row[0]) for row in engine.fetch_rows("SELECT DISTINCT segmentation FROM memberships"))
    for segmentation in segmentations:
        if segmentation not in known:
            raise WorkspaceError(
                f"no segmentation {segmentation!r} in the memberships{did_you_mean(segmentation, known)} "
                f"(segmentations are {', '.join(known) or 'none yet: run `personae run`'})"
            )
    columns = {name: kind.split("(")[0].upper() for name, kind in engine.columns("profiles")}
    chosen = []
    for trait in traits:
        if trait not in columns:
            if trait in DEFAULT_CARD_TRAITS:
                continue
            raise WorkspaceError(f"no trait {trait!r} in the profiles{did_you_mean(trait, columns)}")
        if columns[trait] not in NUMERIC_TYPES:
            raise WorkspaceError(f"trait {trait!r} is {columns[trait]}; persona cards compare numeric traits")
        chosen.append(trait)
    return chosen, columns


_Mixes = dict[tuple[str, str] | None, dict[str, list[MixShare]]]
"""Per (segmentation, segment), or None for the base, the top values of each mix's dimension."""


def _mixes(engine: Engine, members: str) -> _Mixes:
    """Per segment (None: the base), the top values of each dimension with share and index."""
    tops: _Mixes = {}
    for dimension, weight in MIXES:
        weights: dict[tuple[str, str] | None, dict[str, float]] = {}
        for segmentation, segment, value, amount in engine.fetch_rows(mix_sql(members, dimension, weight)):
            key = None if segmentation is None else (str(segmentation), str(segment))
            weights.setdefault(key, {})[str(value)] = _settled(amount or 0) or 0.0
        base = weights.get(None, {})
        base_total = sum(base.values())
        for key, values in weights.items():
            total = sum(values.values())
            ranked = sorted(values.items(), key=lambda item: (-item[1], item[0]))[:TOP]
            shares = [(value, _settled(amount / total if total else 0.0) or 0.0) for value, amount in ranked]
            tops.setdefault(key, {})[dimension] = [
                MixShare(value, share, _index(share, _settled(base[value] / base_total) if base_total else None))
                for value, share in shares
            ]
    return tops


def _age_band(birth: Any, as_of: date | None) -> str | None:
    if not isinstance(birth, date) or as_of is None:
        return None
    age = as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))
    return next((label for limit, label in AGE_BANDS if age < limit), "65+")


def _alias(position: int) -> str:
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"Customer {letters}"


def _examples(
    engine: Engine, traited: str, traits: list[str], columns: dict[str, str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (segmentation, segment), the example's anonymised fields (without its alias)."""
    shown = [name for name in LOCATION if name in columns]
    as_of = engine.scalar(f"SELECT max({AS_OF_COLUMN}) FROM profiles") if AS_OF_COLUMN in columns else None
    day = as_of if isinstance(as_of, date) else None
    examples = {}
    for row in engine.fetch_arrow(example_sql(traited, traits, shown)).to_pylist():
        city_kept = row.get("city") is not None and int(row["city_customers"] or 0) >= MIN_CITY_CUSTOMERS
        examples[str(row["segmentation"]), str(row["segment"])] = {
            "age_band": _age_band(row.get("birth_date"), day),
            "city": row["city"] if city_kept else None,
            "country": row.get("country"),
            "top_category": row.get("top_category"),
            "top_channel": row.get("top_channel"),
            "traits": {trait: row[trait] for trait in traits},
        }
    return examples


def persona_cards(
    engine: Engine, segmentation: str, *, traits: Sequence[str] = DEFAULT_CARD_TRAITS, examples_seed: int = 7
) -> Personas:
    """The persona card of every segment of ``segmentation``, largest first.

    The base is all customers; boolean traits count as 0/1, so their mean is a share.
    ``examples_seed`` does not change the result: the example is chosen deterministically
    (nearest the segment's medians, ties by UID); it stays for callers that pass it.
    """
    return persona_cards_of(engine, [segmentation], traits=traits)[segmentation]


@dataclass(frozen=True)
class CardMembers:
    """The current known members of some segmentations, materialised as :data:`MEMBERS` and
    :data:`TRAITED` (see :func:`card_members`)."""

    segmentations: list[str]
    traits: list[str]
    """The usable key traits, ``t_0, t_1, ...`` in :data:`TRAITED`."""
    columns: dict[str, str]
    """The profile columns and their types."""


@contextmanager
def card_members(
    engine: Engine, segmentations: Sequence[str], *, traits: Sequence[str] = DEFAULT_CARD_TRAITS
) -> Iterator[CardMembers]:
    """The current known members of ``segmentations`` (with revenue and key traits), computed
    once for the block and dropped at its end: the cards' queries read them, and so does the
    summaries step's overlap of every pair of segments (at 1M customers that self-join of
    ``memberships`` and ``profiles`` took 4-6 s, against 2.5 s over these)."""
    chosen, columns = _check(engine, segmentations, traits)
    try:  # each relation computed once, not joined again by every query that reads it (persona_sql)
        engine.materialise(MEMBERS, members_sql(segmentations))
        engine.materialise(TRAITED, traited_sql(MEMBERS, chosen))
        yield CardMembers(list(segmentations), chosen, columns)
    finally:
        engine.drop_table(TRAITED)
        engine.drop_table(MEMBERS)


def persona_cards_of(
    engine: Engine,
    segmentations: Sequence[str],
    *,
    traits: Sequence[str] = DEFAULT_CARD_TRAITS,
    exclusive: Collection[str] = (),
    members: CardMembers | None = None,
) -> dict[str, Personas]:
    """:func:`persona_cards` of each of ``segmentations``, in the same few queries as one's.

    ``exclusive``: segmentations known to give each person one segment at most (the core ones,
    which the segment step checks), whose overlap is not counted again: at 1M customers that
    count took 1.1 s of the summaries step. ``members``: the block of :func:`card_members` to
    read (of these segmentations and ``traits``), instead of one of its own."""
    if not segmentations:
        return {}
    if members is None:
        with card_members(engine, segmentations, traits=traits) as own:
            return _cards(engine, segmentations, own, exclusive)
    if sorted(members.segmentations) != sorted(segmentations):
        raise ValueError(f"card members of {members.segmentations}, not of {list(segmentations)}")
    return _cards(engine, segmentations, members, exclusive)


def _cards(
    engine: Engine, segmentations: Sequence[str], members: CardMembers, exclusive: Collection[str]
) -> dict[str, Personas]:
    chosen, columns = members.traits, members.columns
    base_row = engine.fetch_arrow(base_stats_sql(chosen)).to_pylist()[0]
    customers, revenue = int(base_row["customers"]), _money(base_row["total_revenue"])
    stats = engine.fetch_arrow(segment_stats_sql(TRAITED, len(chosen))).to_pylist()
    mixes = _mixes(engine, MEMBERS)
    examples = _examples(engine, TRAITED, chosen, columns)
    counted = [name for name in segmentations if name not in exclusive]
    found = engine.fetch_rows(overlap_sql(MEMBERS, counted)) if counted else []
    overlaps = {str(name): int(count) for name, count in found}
    stats.sort(key=lambda row: (-int(row["size"]), str(row["segment"])))
    cards: dict[str, list[PersonaCard]] = {name: [] for name in segmentations}
    for row in stats:
        segmentation, segment = str(row["segmentation"]), str(row["segment"])
        size, money = int(row["size"]), _money(row["total_revenue"])
        facts = CardFacts(
            segment=segment,
            size=size,
            share_of_customers=_settled(size / customers if customers else 0.0) or 0.0,
            share_of_revenue=_settled(money / revenue if revenue else 0.0) or 0.0,
            traits=[
                TraitIndex(trait, mean, base_mean, _index(mean, base_mean))
                for i, trait in enumerate(chosen)
                for mean, base_mean in [(_settled(row[f"mean_{i}"]), _settled(base_row[f"mean_{i}"]))]
            ],
            top_categories=mixes.get((segmentation, segment), {}).get("category", []),
            top_channels=mixes.get((segmentation, segment), {}).get("channel", []),
        )
        example = examples.get((segmentation, segment), {})
        cards[segmentation].append(
            PersonaCard(
                segment=segment,
                name=persona_name(facts),
                description=persona_description(facts),
                size=size,
                share_of_customers=facts.share_of_customers,
                revenue=money,
                share_of_revenue=facts.share_of_revenue,
                traits=facts.traits,
                top_categories=facts.top_categories,
                top_channels=facts.top_channels,
                example=PersonaExample(alias=_alias(len(cards[segmentation])), **example),
            )
        )
    anonymous = int(base_row["anonymous"])
    return {
        name: Personas(
            name, customers, anonymous, revenue, bool(overlaps.get(name)), chosen, EXAMPLE_POLICY, cards[name]
        )
        for name in segmentations
    }
