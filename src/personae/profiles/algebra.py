"""Traits as data (DESIGN §8): the small algebra every trait, built in or declared, is written in.

A trait is one frozen spec. The traits step compiles it to SQL (:mod:`personae.profiles.traits`,
:mod:`personae.profiles.passes`) and the real-time updater folds events into it one at a time
(:mod:`personae.profiles.live`, :mod:`personae.profiles.folds`), as the rule language has one
checked tree with a SQL compiler and a Python evaluator. A property test feeds random events
to both and asserts the same values (``tests/profiles/test_live_agreement.py``).

There are two kinds of trait:

- :class:`Aggregate`: one ``function`` of a :class:`Value` over the rows of an :class:`Input`
  that pass a ``filter`` (conditions over the input's columns, ANDed) within a ``window`` of
  days ending with the as-of day. ``default`` is what people with no rows in the input get
  (0 for counts); the others get NULL.
- :class:`Derived`: a ``formula`` in the rule language (``docs/rules.md``) over other traits
  and the as-of day (``days_since(x)``). Formulas read the traits *before* their default: a
  person without orders has ``orders`` NULL there, as SQL reads the joined pass.

A trait whose name starts with ``_`` is a helper: computed for formulas, not stored.

>>> Aggregate("orders_30d", "BIGINT", "orders in the last 30 days", ORDERS, "count", window=30, default=0).window
30
>>> Derived("aov", "DOUBLE", "average order value", "revenue / orders").formula
'revenue / orders'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from personae.profiles.specs import EVENT_COLUMNS

Function = Literal[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "first",
    "last",
    "top",
    "most_frequent",
    "unique_count",
    "median",
    "stddev",
    "concentration",
]
"""What an aggregate computes. ``first``/``last``: the value at the earliest/latest time of the
input (ties: the smallest/largest value); ``top``: the value with the largest ``by`` (ties: the
smallest value); ``most_frequent``: the most frequent value (ties: the smallest);
``concentration``: the Herfindahl index of the values' frequencies (1 = one value);
``median``, ``stddev`` (sample), ``avg`` and ``sum`` skip NULLs as SQL does."""
FUNCTIONS: tuple[str, ...] = get_args(Function)
NEEDS_VALUE = frozenset(FUNCTIONS) - {"count"}

Part = Literal["value", "month", "day", "flag"]
MONTHS: tuple[int, ...] = tuple(range(1, 13))


@dataclass(frozen=True)
class Input:
    """A relation traits aggregate over: one row per event (or day, or share) with its person."""

    name: str
    alias: str
    """The name of its pass in the traits SQL."""
    doc: str
    columns: tuple[tuple[str, str], ...]
    """Name and DuckDB type of each column filters and values may read (besides ``uid``)."""
    time: str | None = None
    """The column windows and ``first``/``last`` go by; None for inputs without time."""

    @property
    def types(self) -> dict[str, str]:
        return dict(self.columns)


_ORDER_COLUMNS = (
    ("source", "VARCHAR"),
    ("order_id", "VARCHAR"),
    ("ts", "TIMESTAMP"),
    ("amount", "DECIMAL(18,2)"),
    ("channel", "VARCHAR"),
    ("promo", "BOOLEAN"),
)
_SHARE_COLUMNS = (("value", "VARCHAR"), ("orders", "BIGINT"), ("revenue", "DOUBLE"), ("share", "DOUBLE"))

ORDERS = Input("orders", "o", "counted orders (status not excluded) up to the as-of day", _ORDER_COLUMNS, "ts")
ORDER_EVENTS = Input("order_events", "oe", "every order up to the as-of day, whatever its status", _ORDER_COLUMNS, "ts")
ACTIVITY = Input(
    "activity", "w", "events other than orders and order lines up to the as-of day", tuple(EVENT_COLUMNS.items()), "ts"
)
ORDER_DAYS = Input(
    "order_days",
    "ga",
    "each day with a counted order, with the days since the previous one (gap)",
    (("day", "DATE"), ("gap", "BIGINT")),
    "day",
)
CATEGORY_SHARES = Input(
    "category_shares",
    "ca",
    "each category bought: orders with a line in it, line revenue, share of it",
    _SHARE_COLUMNS,
)
CHANNEL_SHARES = Input(
    "channel_shares", "ch", "each channel ordered through: orders, revenue, share of the orders", _SHARE_COLUMNS
)
EMAIL = Input(
    "email",
    "e",
    "customer records that report e-mail opens or clicks",
    (("email_opens", "BIGINT"), ("email_clicks", "BIGINT")),
)
EVENTS = Input(
    "events",
    "ev",
    "every event up to the as-of day; order lines of counted orders, with their order's time when they have none",
    tuple(EVENT_COLUMNS.items()),
    "ts",
)
INPUTS: tuple[Input, ...] = (ORDERS, ORDER_EVENTS, ACTIVITY, ORDER_DAYS, CATEGORY_SHARES, CHANNEL_SHARES, EMAIL, EVENTS)


@dataclass(frozen=True)
class Value:
    """What an aggregate reads of a row: a column, its month or day, a flag as 1/0, or a JSON property."""

    column: str
    part: Part = "value"
    """``month`` (1-12) or ``day`` (the date) of a timestamp; ``flag``: 1 when true, else 0."""
    path: str | None = None
    """A property inside a JSON column (``properties``), dotted: ``plan`` or ``cart.total``."""
    number: bool = False
    """Read the property as a DOUBLE (NULL when it is not a number), as sums and means do."""

    @property
    def domain(self) -> tuple[int, ...] | None:
        """The values it can take when they are few and known (the months), else None."""
        return MONTHS if self.part == "month" else None


@dataclass(frozen=True)
class Among:
    """The row's ``column`` is one of ``values`` (NULL is not)."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Where:
    """A condition in the rule language over the input's columns (NULL counts as false)."""

    rule: str


Condition = Among | Where


@dataclass(frozen=True)
class Aggregate:
    """One function of a value over an input's rows that pass ``filter``, within ``window`` days."""

    name: str
    type: str
    """The DuckDB type of the stored column (sums are exact, then cast to it)."""
    doc: str
    input: Input
    function: Function
    value: Value | None = None
    filter: tuple[Condition, ...] = ()
    window: int | None = None
    by: Value | None = None
    """What ``top`` ranks values by."""
    default: int | None = None

    def __post_init__(self) -> None:
        problem = None
        if self.function in NEEDS_VALUE and self.value is None:
            problem = f"{self.function} needs a value"
        elif (self.function == "top") != (self.by is not None):
            problem = "top, and only top, ranks by a value ('by')"
        elif self.function == "concentration" and (self.value is None or self.value.domain is None):
            problem = "concentration needs a value with a known domain (a month)"
        elif self.window is not None and (self.window < 1 or self.input.time is None):
            problem = f"a window is 1 day or more over an input with time, not {self.window} over {self.input.name}"
        elif self.function in ("first", "last") and self.input.time is None:
            problem = f"{self.function} needs an input with time; {self.input.name} has none"
        if problem is not None:
            raise ValueError(f"trait {self.name!r}: {problem}")


@dataclass(frozen=True)
class Derived:
    """A formula in the rule language over other traits (before their defaults) and the as-of day."""

    name: str
    type: str
    doc: str
    formula: str


Trait = Aggregate | Derived


def is_helper(trait: Trait) -> bool:
    """A helper trait (name starting with ``_``) feeds formulas and is not stored."""
    return trait.name.startswith("_")
