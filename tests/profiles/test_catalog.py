"""The trait specs: every built-in one is documented as the code has it, and bad specs are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from personae.errors import ConfigError, InvalidRule
from personae.profiles.algebra import CATEGORY_SHARES, EVENTS, ORDERS, Aggregate, Among, Derived, Value, Where
from personae.profiles.catalog import Catalog, builtin_specs, declared_spec, describe, trait_catalog
from personae.profiles.specs import ProfileSettings, TraitsConfig, TraitSpec

DOCS = Path(__file__).resolve().parents[2] / "docs" / "traits.md"


def test_the_docs_show_each_built_in_spec_as_the_code_has_it() -> None:
    text = DOCS.read_text(encoding="utf-8")
    specs = builtin_specs(ProfileSettings())
    assert len(specs) > 40
    missing = [trait.name for trait in specs if f"| `{trait.name}` | {trait.type} | {describe(trait)} |" not in text]
    assert missing == []


def test_a_declared_trait_is_an_aggregate_over_every_event() -> None:
    spec = TraitSpec(
        name="garden_spend_90d", function="sum", property="amount", type="order_item", where="category = 'garden'",
        window_days=90,
    )  # fmt: skip
    trait = declared_spec(spec)
    assert (trait.input, trait.function, trait.value, trait.window, trait.type) == (
        EVENTS, "sum", Value("amount"), 90, "DOUBLE"
    )  # fmt: skip
    assert trait.filter == (Among("type", ("order_item",)), Where("category = 'garden'"))
    counted = declared_spec(TraitSpec(name="plans", function="unique_count", property="properties.plan"))
    assert (counted.value, counted.default, counted.type) == (Value("properties", path="plan"), 0, "BIGINT")


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"input": ORDERS, "function": "sum"}, "sum needs a value"),
        ({"input": CATEGORY_SHARES, "function": "top", "value": Value("value")}, "top, and only top"),
        ({"input": CATEGORY_SHARES, "function": "count", "window": 30}, "a window is 1 day or more"),
        ({"input": ORDERS, "function": "concentration", "value": Value("channel")}, "known domain"),
        ({"input": CATEGORY_SHARES, "function": "first", "value": Value("value")}, "first needs an input with time"),
    ],
)
def test_an_aggregate_of_the_wrong_shape_is_refused(arguments: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Aggregate("x", "BIGINT", "", **arguments)  # type: ignore[arg-type]


def test_formulas_and_filters_are_checked_with_the_rule_language() -> None:
    orders = Aggregate("orders", "BIGINT", "", ORDERS, "count")
    with pytest.raises(InvalidRule, match="unknown column 'order'; did you mean 'orders'"):
        Catalog((orders, Derived("twice", "BIGINT", "", "order * 2"))).check()
    looping = (Derived("a", "BIGINT", "", "b + 1"), Derived("b", "BIGINT", "", "a + 1"))
    with pytest.raises(ConfigError, match="formulas read each other in a cycle"):
        Catalog((orders, *looping)).check()
    with pytest.raises(InvalidRule, match=r"traits\.bad\.where"):
        trait_catalog(TraitsConfig(traits=(TraitSpec(name="bad", function="count", where="amount >"),))).check()


def test_declared_names_are_unique_and_not_built_in() -> None:
    with pytest.raises(ConfigError, match=r"traits\.revenue: a built-in trait has that name"):
        trait_catalog(TraitsConfig(traits=(TraitSpec(name="revenue", function="count"),)))
    twice = (TraitSpec(name="views", function="count"), TraitSpec(name="views", function="count", type="page"))
    with pytest.raises(ConfigError, match=r"traits\.views: two traits have that name"):
        trait_catalog(TraitsConfig(traits=twice))


def test_a_sum_needs_a_number() -> None:
    with pytest.raises(ValueError, match="sum needs a number, and 'category' is not one; use amount, quantity"):
        TraitSpec(name="x", function="sum", property="category")
    assert TraitSpec(name="x", function="avg", property="quantity").property == "quantity"
