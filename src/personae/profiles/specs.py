"""Specs for traits: the built-in trait settings and declared (computed) traits."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from personae.privacy.purposes import Purpose
from personae.spec import NAME_PATTERN, Spec, did_you_mean

TraitFunction = Literal["count", "sum", "avg", "min", "max", "first", "last", "most_frequent", "unique_count"]
TRAIT_FUNCTIONS: tuple[str, ...] = get_args(TraitFunction)

EVENT_COLUMNS: dict[str, str] = {
    "event_id": "VARCHAR",
    "source": "VARCHAR",
    "type": "VARCHAR",
    "name": "VARCHAR",
    "ts": "TIMESTAMP",
    "order_id": "VARCHAR",
    "amount": "DECIMAL(18,2)",
    "currency": "VARCHAR",
    "quantity": "BIGINT",
    "category": "VARCHAR",
    "product_id": "VARCHAR",
    "channel": "VARCHAR",
    "store_id": "VARCHAR",
    "promo": "BOOLEAN",
    "status": "VARCHAR",
}
"""Event columns a declared trait may read or filter on (besides ``properties.<name>``)."""

PROPERTY_PREFIX = "properties."


class SubscriptionEvents(Spec):
    """Names of the track events that mark a subscription's life."""

    trial: str = "Trial Started"
    start: str = "Subscription Started"
    cancel: str = "Subscription Cancelled"


class ProfileSettings(Spec):
    """Settings of the built-in traits."""

    windows: tuple[int, ...] = (30, 90, 365)
    excluded_statuses: tuple[str, ...] = ("cancelled", "canceled", "returned", "refunded")
    subscription: SubscriptionEvents = SubscriptionEvents()

    @model_validator(mode="after")
    def _positive_windows(self) -> ProfileSettings:
        if not self.windows or any(days < 1 for days in self.windows):
            raise ValueError(f"windows = {list(self.windows)}: give one or more day counts of at least 1")
        return self


class TraitSpec(Spec):
    """A declared trait: a function of an event column or property, with a filter and window."""

    name: str = Field(pattern=NAME_PATTERN)
    function: TraitFunction
    property: str | None = None
    event: str | None = None
    type: str | None = None
    where: str | None = None
    window_days: int | None = Field(None, ge=1)
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> TraitSpec:
        if self.function != "count" and self.property is None:
            raise ValueError(
                f"trait {self.name!r}: {self.function} needs a 'property' (an event column or 'properties.x')"
            )
        column = self.property
        if column is not None and not column.startswith(PROPERTY_PREFIX) and column not in EVENT_COLUMNS:
            raise ValueError(
                f"trait {self.name!r}: no event column {column!r}{did_you_mean(column, EVENT_COLUMNS)}; "
                f"use one of {', '.join(EVENT_COLUMNS)} or 'properties.<name>'"
            )
        numbers = [name for name, type_ in EVENT_COLUMNS.items() if type_.startswith(("DECIMAL", "BIGINT"))]
        if self.function in ("sum", "avg") and column is not None and column in EVENT_COLUMNS and column not in numbers:
            raise ValueError(
                f"trait {self.name!r}: {self.function} needs a number, and {column!r} is not one; "
                f"use {', '.join(numbers)} or 'properties.<name>'"
            )
        if self.property is not None and self.property.startswith(PROPERTY_PREFIX):
            key = self.property.removeprefix(PROPERTY_PREFIX)
            if not key or not all(part.replace("_", "a").isalnum() for part in key.split(".")):
                raise ValueError(f"trait {self.name!r}: property {self.property!r} must be 'properties.<name>'")
        return self


class TraitsConfig(Spec):
    """What the traits wing reads of ``personae.toml``: ``[profile]``, the ``[[traits]]``, and
    the orders source each ``order_items`` source names (its lines take that order's UID)."""

    profile: ProfileSettings = ProfileSettings()
    traits: tuple[TraitSpec, ...] = ()
    line_orders: dict[str, str] = Field(default_factory=dict)
    purposes: tuple[Purpose, ...] = ()
    """The consent purposes: profiles carry ``consent_<purpose>`` for each."""
