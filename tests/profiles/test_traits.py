"""Built-in and declared traits equal an independent pandas computation on a random shop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from personae import Workspace
from personae.errors import ConfigError
from tests.profiles.small_world import AS_OF, SUBSCRIPTION, World, build

END = datetime.combine(AS_OF + timedelta(days=1), datetime.min.time())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, dict[str, dict[str, Any]]]]:
    shop = build(tmp_path_factory.mktemp("traits") / "shop")
    workspace = Workspace(shop.root)
    assert workspace.run(as_of=AS_OF).errors == []
    rows = workspace.sql(
        "SELECT m.id_value AS user, p.* FROM profiles AS p JOIN identity_map AS m ON m.uid = p.uid "
        "WHERE m.id_type = 'user_id'"
    ).to_pylist()
    yield shop, {row["user"]: row for row in rows}


def _since(days: int) -> datetime:
    return datetime.combine(AS_OF - timedelta(days=days - 1), datetime.min.time())


def _expected_orders(shop: World) -> pd.DataFrame:
    orders = shop.orders[(shop.orders.ts < END) & (shop.orders.status != "returned")].copy()
    return orders.sort_values(["user", "ts", "order_id"])


def test_order_traits_match_pandas(world: tuple[World, dict[str, dict[str, Any]]]) -> None:
    shop, profiles = world
    orders = _expected_orders(shop)
    assert len(orders) > 100
    for user, group in orders.groupby("user"):
        got = profiles[str(user)]
        days = group.ts.dt.normalize()
        gaps = pd.Series(sorted(days.unique())).diff().dt.days.dropna()
        assert got["orders"] == len(group)
        assert got["revenue"] == pytest.approx(group.total.sum())
        assert got["aov"] == pytest.approx(group.total.mean())
        assert got["days_since_last_order"] == (pd.Timestamp(AS_OF) - days.max()).days
        assert got["days_since_first_order"] == (pd.Timestamp(AS_OF) - days.min()).days
        assert got["order_days"] == days.nunique()
        if len(gaps):
            assert got["gap_mean_days"] == pytest.approx(gaps.mean())
            assert got["gap_median_days"] == pytest.approx(gaps.median())
            assert got["last_gap_days"] == gaps.iloc[-1]
        else:
            assert got["gap_mean_days"] is None and got["last_gap_days"] is None
        if len(gaps) > 1:
            assert got["gap_std_days"] == pytest.approx(gaps.std())
        for window in (30, 90, 365):
            recent = group[group.ts >= _since(window)]
            assert got[f"orders_{window}d"] == len(recent)
            assert got[f"revenue_{window}d"] == pytest.approx(recent.total.sum())
        assert got["promo_share"] == pytest.approx(group.promo.mean())
        months = group.ts.dt.month.value_counts(normalize=True)
        assert got["month_concentration"] == pytest.approx((months**2).sum())
        busiest = group.ts.dt.month.value_counts()
        assert got["top_month"] == min(busiest[busiest == busiest.max()].index)
        chance = 1 / 12 + (11 / 12) / len(group)
        seasonality = ((months**2).sum() - chance) / (1 - chance) if len(group) > 1 else None
        assert got["seasonality"] == (pytest.approx(seasonality) if seasonality is not None else None)
        channels = group.channel.value_counts()
        top = sorted(channels.items(), key=lambda item: (-item[1], item[0]))[0]
        assert (got["top_channel"], got["channels"]) == (top[0], len(channels))
        assert got["top_channel_share"] == pytest.approx(top[1] / len(group))


def test_last_seen_counts_every_event_and_order_returned_or_not(
    world: tuple[World, dict[str, dict[str, Any]]],
) -> None:
    shop, profiles = world
    orders = shop.orders[shop.orders.ts < END]
    assert (orders.status == "returned").any()
    events = shop.events[shop.events.timestamp < END]
    latest = (
        pd.concat([orders.groupby("user").ts.max(), events.groupby("userId").timestamp.max().rename_axis("user")])
        .groupby(level=0)
        .max()
    )
    assert len(latest) > 20
    for user, seen in latest.items():
        got = profiles[str(user)]
        assert got["last_seen_at"] == seen.to_pydatetime()
        assert got["days_since_last_seen"] == (pd.Timestamp(AS_OF) - seen.normalize()).days


def test_category_shares_match_pandas(world: tuple[World, dict[str, dict[str, Any]]]) -> None:
    shop, profiles = world
    orders = _expected_orders(shop)
    lines = shop.lines.merge(orders[["order_id", "user"]], on="order_id")
    for user, group in lines.groupby("user"):
        revenue = group.groupby("category").line_total.sum()
        share = revenue / revenue.sum()
        top = sorted(share.items(), key=lambda item: (-round(item[1], 9), item[0]))[0]
        got = profiles[str(user)]
        assert got["top_category"] == top[0]
        assert got["top_category_share"] == pytest.approx(top[1])
        assert got["categories"] == len(revenue)


def test_engagement_and_subscription_traits_match_pandas(world: tuple[World, dict[str, dict[str, Any]]]) -> None:
    shop, profiles = world
    events = shop.events[shop.events.timestamp < END]
    for user, group in events.groupby("userId"):
        got = profiles[str(user)]
        assert got["sessions"] == group.timestamp.dt.normalize().nunique()
        assert got["page_views"] == int((group.type == "page").sum())
        assert got["web_events_30d"] == int((group.timestamp >= _since(30)).sum())
        views = group[group.name == "Product Viewed"]
        assert got["garden_views"] == sum(p["category"] == "garden" for p in views.properties)
        if len(views):
            counts = pd.Series([p["category"] for p in views.properties]).value_counts()
            assert got["viewed_most"] == sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0]
        prices = [
            p["price"]
            for p, ts in zip(group.properties, group.timestamp, strict=True)
            if "price" in p and ts >= _since(90)
        ]
        assert got["price_viewed_90d"] == (pytest.approx(sum(prices)) if prices else None)
        steps = set(group.name) & set(SUBSCRIPTION)
        expected = (
            "cancelled"
            if SUBSCRIPTION[2] in steps
            else "active"
            if SUBSCRIPTION[1] in steps
            else "trial"
            if SUBSCRIPTION[0] in steps
            else "none"
        )
        assert got["subscription_status"] == expected
        plans = group[group.type == "track"].sort_values("timestamp").properties
        plan = next((p["plan"] for p in plans if "plan" in p), None)
        assert got["first_plan"] == plan


def test_email_traits_come_from_the_email_platform_record(world: tuple[World, dict[str, dict[str, Any]]]) -> None:
    shop, profiles = world
    orders = _expected_orders(shop)
    buyers = dict(zip(orders.email, orders.user, strict=False))
    checked = 0
    for row in shop.mail.itertuples():
        if row.email in buyers:
            got = profiles[buyers[row.email]]
            assert (got["email_opens"], got["email_clicks"]) == (row.opens, row.clicks)
            checked += 1
    assert checked > 5


def test_people_without_orders_have_zero_counts_and_no_recency(tmp_path: Path) -> None:
    shop = build(tmp_path / "shop", customers=12, seed=9)
    workspace = Workspace(shop.root)
    workspace.run(as_of=AS_OF)
    rows = workspace.sql(
        "SELECT orders, revenue, orders_30d, days_since_last_order, aov, garden_views FROM profiles WHERE orders = 0"
    ).to_pylist()
    assert rows, "the random shop has people who only browsed"
    for row in rows:
        assert (row["orders"], row["revenue"], row["orders_30d"], row["garden_views"]) == (
            0,
            0.0,
            0,
            row["garden_views"],
        )
        assert row["days_since_last_order"] is None and row["aov"] is None


def test_a_declared_trait_may_not_reuse_a_built_in_name(tmp_path: Path) -> None:
    shop = build(tmp_path / "shop", customers=5, traits=[{"name": "revenue", "function": "count"}])
    report_error = None
    try:
        Workspace(shop.root).run(as_of=AS_OF)
    except ConfigError as error:
        report_error = str(error)
    assert report_error is not None and "traits.revenue: a built-in trait has that name" in report_error


def test_a_declared_trait_names_a_bad_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no event column 'categroy'; did you mean 'category'"):
        build(tmp_path / "shop", customers=5, traits=[{"name": "x", "function": "max", "property": "categroy"}])
        Workspace(tmp_path / "shop")
