"""The classifiers' days-since features in bins (``[models] days_since_bins``): the binning
in SQL, the settings' checks, and which traits are binned. That the bins keep scores still
from one day to the next is checked on the demo twins (test_twin_workspaces.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from personae.engine import DuckDBEngine
from personae.models.features import binned_sql, day_bins, features_sql
from personae.models.specs import ModelSettings
from personae.profiles.build import trait_columns
from personae.profiles.specs import TraitsConfig

MOVING = {"days_since_last_order", "days_since_first_order", "days_since_last_seen"}


def test_a_day_count_becomes_the_lower_edge_of_its_bin() -> None:
    days = [None, -3, 0, 6, 7, 13, 14, 29, 30, 400, 5000]
    engine = DuckDBEngine()
    values = ", ".join(f"({'NULL' if d is None else d})" for d in days)
    engine.execute(f"CREATE TABLE t AS SELECT * FROM (VALUES {values}) AS v(d)")
    edges = list(ModelSettings().days_since_bins)
    got = [row[0] for row in engine.fetch_rows(f"SELECT {binned_sql('d', edges)} FROM t")]
    assert got == [None, 0, 0, 0, 7, 7, 14, 14, 30, 365, 1095]
    assert got == [None if d is None else max([0, *(edge for edge in edges if edge <= d)]) for d in days]


def test_only_the_traits_that_move_with_the_day_are_binned() -> None:
    traits = TraitsConfig()
    numeric = list(trait_columns(traits))
    binned = day_bins(traits, ModelSettings(), numeric)
    assert set(binned) == MOVING and all(
        edges == [7, 14, 30, 60, 90, 120, 180, 270, 365, 540, 730, 1095] for edges in binned.values()
    )
    assert day_bins(traits, ModelSettings(days_since_bins=()), numeric) == {}
    assert day_bins(traits, ModelSettings(), ["orders", "days_since_last_order"]) == {
        "days_since_last_order": binned["days_since_last_order"]
    }
    sql = features_sql("traits", "shares", ["orders", "days_since_last_order"], [], {"days_since_last_order": [7]})
    assert 'CAST(t."orders" AS DOUBLE)' in sql and 'WHEN t."days_since_last_order" >= 7 THEN 7 ELSE 0' in sql


@pytest.mark.parametrize("bins", [(0, 7), (7, 7), (14, 7), (-1,)])
def test_day_bins_must_be_increasing_positive_days(bins: tuple[int, ...]) -> None:
    with pytest.raises(
        ValidationError, match=r"models.days_since_bins = .*give increasing whole numbers of days above 0"
    ):
        ModelSettings(days_since_bins=bins)
