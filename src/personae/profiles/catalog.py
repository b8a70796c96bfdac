"""Every trait's spec: the built-in traits, the declared ``[[traits]]``, and the checked catalog of both.

The built-in traits are written in the algebra of :mod:`personae.profiles.algebra`, from the
``[profile]`` settings (windows, subscription event names); ``docs/traits.md`` shows each
spec. A declared trait is one :class:`Aggregate` over ``events``. :class:`Catalog` checks the
lot once (names, formulas, filters) and orders the formulas so each comes after the traits it
reads; the SQL builder and the live updater both work from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

from personae.errors import ConfigError
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
    Among,
    Derived,
    Input,
    Trait,
    Value,
    Where,
    is_helper,
)
from personae.profiles.formulas import Formula, filter_rule, parse_formula
from personae.profiles.specs import EVENT_COLUMNS, PROPERTY_PREFIX, ProfileSettings, TraitsConfig, TraitSpec

AMOUNT, TS = Value("amount"), Value("ts")
WEB = Among("type", ("page", "screen", "track"))
SUBSCRIPTION_STATUS = (
    "case when cancelled_at is not null and cancelled_at >= greatest(coalesce(subscribed_at, trial_started_at), "
    "coalesce(trial_started_at, subscribed_at)) then 'cancelled' when subscribed_at is not null then 'active' "
    "when trial_started_at is not null then 'trial' else 'none' end"
)
"""The latest of trial, paid and cancelled; a cancellation counts when it is the latest event."""
SEASONALITY = (
    "case when orders > 1 then (month_concentration - (1 / 12 + 11 / 12 / orders)) "
    "/ (1 - (1 / 12 + 11 / 12 / orders)) end"
)
"""Month concentration rescaled so that what chance gives for the order count is 0 and one month 1."""


def _orders_traits() -> tuple[Trait, ...]:
    return (
        Aggregate("orders", "BIGINT", "orders up to the as-of day", ORDERS, "count", default=0),
        Aggregate("revenue", "DOUBLE", "revenue of those orders", ORDERS, "sum", AMOUNT, default=0),
        Derived("aov", "DOUBLE", "average order value", "revenue / orders"),
        Aggregate("first_order_at", "TIMESTAMP", "time of the first order", ORDERS, "min", TS),
        Aggregate("last_order_at", "TIMESTAMP", "time of the latest order", ORDERS, "max", TS),
        Derived("days_since_last_order", "BIGINT", "recency: days from the latest order to the as-of day",
                "days_since(last_order_at)"),
        Derived("days_since_first_order", "BIGINT", "tenure: days from the first order to the as-of day",
                "days_since(first_order_at)"),
        Aggregate("order_days", "BIGINT", "distinct days with an order", ORDER_DAYS, "count", default=0),
        Aggregate("gap_mean_days", "DOUBLE", "mean days between consecutive order days", ORDER_DAYS, "avg",
                  Value("gap")),
        Aggregate("gap_median_days", "DOUBLE", "median days between consecutive order days", ORDER_DAYS,
                  "median", Value("gap")),
        Aggregate("gap_std_days", "DOUBLE", "standard deviation of those gaps", ORDER_DAYS, "stddev", Value("gap")),
        Aggregate("last_gap_days", "BIGINT", "days between the two latest order days", ORDER_DAYS, "last",
                  Value("gap")),
        Aggregate("promo_share", "DOUBLE", "share of orders bought on promotion", ORDERS, "avg",
                  Value("promo", "flag")),
        Aggregate("month_concentration", "DOUBLE", "Herfindahl index of orders over calendar months", ORDERS,
                  "concentration", Value("ts", "month")),
        Derived("seasonality", "DOUBLE",
                "month concentration above what chance gives for the order count: 0 even, 1 one month", SEASONALITY),
        Aggregate("top_month", "BIGINT", "calendar month with most orders", ORDERS, "most_frequent",
                  Value("ts", "month")),
    )  # fmt: skip


def _share_traits() -> tuple[Trait, ...]:
    value, share = Value("value"), Value("share")
    return (
        Aggregate("top_category", "VARCHAR", "category with the most line revenue", CATEGORY_SHARES, "top", value,
                  by=share),
        Aggregate("top_category_share", "DOUBLE", "its share of line revenue", CATEGORY_SHARES, "max", share),
        Aggregate("categories", "BIGINT", "distinct categories bought", CATEGORY_SHARES, "count"),
        Aggregate("top_channel", "VARCHAR", "channel with most orders", CHANNEL_SHARES, "top", value, by=share),
        Aggregate("top_channel_share", "DOUBLE", "its share of orders", CHANNEL_SHARES, "max", share),
        Aggregate("channels", "BIGINT", "distinct channels ordered through", CHANNEL_SHARES, "count"),
    )  # fmt: skip


def _activity_traits(profile: ProfileSettings) -> tuple[Trait, ...]:
    names = profile.subscription

    def latest(name: str, doc: str, event: str) -> Aggregate:
        return Aggregate(
            name, "TIMESTAMP", doc, ACTIVITY, "max", TS, (Among("type", ("track",)), Among("name", (event,)))
        )

    return (
        Aggregate("sessions", "BIGINT", "distinct days with web or app activity", ACTIVITY, "unique_count",
                  Value("ts", "day"), (WEB,), default=0),
        Aggregate("page_views", "BIGINT", "page and screen events", ACTIVITY, "count",
                  filter=(Among("type", ("page", "screen")),), default=0),
        Aggregate("web_events_30d", "BIGINT", "page, screen and track events in the last 30 days", ACTIVITY, "count",
                  filter=(WEB,), window=30, default=0),
        Derived("last_seen_at", "TIMESTAMP", "time of the latest event of any kind",
                "greatest(_last_event_at, _last_order_at)"),
        Derived("days_since_last_seen", "BIGINT", "days from the latest event to the as-of day",
                "days_since(last_seen_at)"),
        Aggregate("email_opens", "BIGINT", "e-mails opened, as the e-mail platforms report", EMAIL, "sum",
                  Value("email_opens")),
        Aggregate("email_clicks", "BIGINT", "e-mails clicked", EMAIL, "sum", Value("email_clicks")),
        Derived("email_click_rate", "DOUBLE", "clicks per open", "email_clicks / email_opens"),
        Derived("subscription_status", "VARCHAR", "none, trial, active or cancelled", SUBSCRIPTION_STATUS),
        latest("trial_started_at", "latest trial start", names.trial),
        latest("subscribed_at", "latest paid subscription start", names.start),
        latest("cancelled_at", "latest cancellation", names.cancel),
    )  # fmt: skip


def builtin_specs(profile: ProfileSettings) -> tuple[Trait, ...]:
    """Every built-in trait in column order, then the helpers the formulas read."""
    windows: list[Trait] = []
    for days in profile.windows:
        windows += [
            Aggregate(f"orders_{days}d", "BIGINT", f"orders in the last {days} days", ORDERS, "count", window=days,
                      default=0),
            Aggregate(f"revenue_{days}d", "DOUBLE", f"revenue in the last {days} days", ORDERS, "sum", AMOUNT,
                      window=days, default=0),
        ]  # fmt: skip
    helpers = (
        Aggregate("_last_event_at", "TIMESTAMP", "latest event other than an order", ACTIVITY, "max", TS),
        Aggregate("_last_order_at", "TIMESTAMP", "latest order, whatever its status", ORDER_EVENTS, "max", TS),
    )
    return (*_orders_traits(), *_share_traits(), *_activity_traits(profile), *windows, *helpers)


def _value_text(value: Value) -> str:
    if value.path is not None:
        text = f"{value.column}.{value.path}"
        return f"number({text})" if value.number else text
    return {"month": f"month({value.column})", "day": f"day({value.column})", "flag": f"{value.column} as 1/0"}.get(
        value.part, value.column
    )


def describe(trait: Trait) -> str:
    """A trait's spec in one line, as ``docs/traits.md`` shows it.

    >>> describe(Aggregate("orders_30d", "BIGINT", "", ORDERS, "count", window=30, default=0))
    'count(*) over orders, last 30 days; else 0'
    >>> describe(Derived("aov", "DOUBLE", "", "revenue / orders"))
    '= revenue / orders'
    """
    if isinstance(trait, Derived):
        return f"= {trait.formula}"
    value = _value_text(trait.value) if trait.value is not None else "*"
    text = f"{trait.function}({value}) over {trait.input.name}"
    conditions = [
        condition.rule
        if isinstance(condition, Where)
        else f"{condition.column} = '{condition.values[0]}'"
        if len(condition.values) == 1
        else f"{condition.column} in ({', '.join(repr(v) for v in condition.values)})"
        for condition in trait.filter
    ]
    if trait.by is not None:
        text += f" by {_value_text(trait.by)}"
    if conditions:
        text += f" where {' and '.join(conditions)}"
    if trait.window is not None:
        text += f", last {trait.window} days"
    return text if trait.default is None else f"{text}; else {trait.default}"


NUMERIC_FUNCTIONS = ("sum", "avg")


def declared_type(spec: TraitSpec) -> str:
    """The column type of a declared trait."""
    if spec.function in ("count", "unique_count"):
        return "BIGINT"
    if spec.function in NUMERIC_FUNCTIONS:
        return "DOUBLE"
    if spec.property is None or spec.property.startswith(PROPERTY_PREFIX):
        return "VARCHAR"
    return EVENT_COLUMNS[spec.property]


def declared_spec(spec: TraitSpec) -> Aggregate:
    """A ``[[traits]]`` entry as an aggregate over every event of the person."""
    value = None
    if spec.property is not None and spec.property.startswith(PROPERTY_PREFIX):
        path = spec.property.removeprefix(PROPERTY_PREFIX)
        value = Value("properties", path=path, number=spec.function in NUMERIC_FUNCTIONS)
    elif spec.property is not None:
        value = Value(spec.property)
    conditions = [Among(column, (wanted,)) for column, wanted in (("name", spec.event), ("type", spec.type)) if wanted]
    where = [Where(spec.where)] if spec.where is not None else []
    default = 0 if spec.function in ("count", "unique_count") else None
    return Aggregate(
        spec.name, declared_type(spec), spec.description, EVENTS, spec.function, value, (*conditions, *where),
        spec.window_days, default=default,
    )  # fmt: skip


@dataclass(frozen=True)
class Catalog:
    """The checked traits of a workspace: built in, then declared; helpers last."""

    traits: tuple[Trait, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for trait in self.traits:
            if trait.name in seen:
                raise ConfigError(f"traits.{trait.name}: two traits have that name; rename one")
            seen.add(trait.name)

    @cached_property
    def types(self) -> dict[str, str]:
        """Name -> DuckDB type of every trait, helpers included (what formulas may read)."""
        return {trait.name: trait.type for trait in self.traits}

    @cached_property
    def outputs(self) -> tuple[Trait, ...]:
        """The stored traits, in column order."""
        return tuple(trait for trait in self.traits if not is_helper(trait))

    def aggregates(self, input: Input) -> list[Aggregate]:
        return [t for t in self.traits if isinstance(t, Aggregate) and t.input == input]

    @cached_property
    def formulas(self) -> dict[str, Formula]:
        """Derived trait -> its checked formula, each after the derived traits it reads."""
        parsed = {
            trait.name: parse_formula(trait.formula, self.types, name=f"traits.{trait.name}")
            for trait in self.traits
            if isinstance(trait, Derived)
        }
        ordered: dict[str, Formula] = {}
        while len(ordered) < len(parsed):
            ready = [
                name
                for name, formula in parsed.items()
                if name not in ordered and all(read in ordered or read not in parsed for read in formula.reads)
            ]
            if not ready:
                raise ConfigError(f"traits {sorted(set(parsed) - set(ordered))}: formulas read each other in a cycle")
            ordered.update((name, parsed[name]) for name in ready)
        return ordered

    def check(self) -> Catalog:
        """Parse every formula and filter now (InvalidRule names the bad one)."""
        for trait in self.traits:
            if isinstance(trait, Aggregate):
                for condition in trait.filter:
                    if isinstance(condition, Where):
                        filter_rule(condition, trait.input, trait.name)
        _ = self.formulas
        return self


def trait_catalog(config: TraitsConfig) -> Catalog:
    """The built-in traits and the declared ones of a workspace, checked (once per configuration:
    a live server builds one state per person from the same catalog)."""
    return _catalog(config.model_dump_json())


@lru_cache(maxsize=32)
def _catalog(config_json: str) -> Catalog:
    config = TraitsConfig.model_validate_json(config_json)
    builtins = builtin_specs(config.profile)
    for spec in config.traits:
        if spec.name in {trait.name for trait in builtins}:
            raise ConfigError(f"traits.{spec.name}: a built-in trait has that name; pick another")
    helpers = tuple(trait for trait in builtins if is_helper(trait))
    stored = tuple(trait for trait in builtins if not is_helper(trait))
    return Catalog((*stored, *(declared_spec(spec) for spec in config.traits), *helpers)).check()
