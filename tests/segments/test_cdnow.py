"""RFM and lifecycle on the real CDNOW purchase history, checked against pandas written here.

The pandas side re-derives everything from the raw file: recency, frequency and monetary
value per customer, the quintile scores (equal fifths, ties broken by the other measures
and then the UID, as documented in ``segments/rfm.py``), the standard cell map, and the
lifecycle thresholds and stages.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from personae import Workspace
from personae.segments.specs import DEFAULT_RFM_CELLS, LifecycleSettings
from tests.workspaces import write_workspace

CDNOW = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "CDNOW_master.txt"
AS_OF = date(1998, 6, 30)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pd.DataFrame, Workspace]]:
    raw = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": str, "date": str})
    raw["order_id"] = np.arange(len(raw)).astype(str)
    raw["ts"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    raw["card"] = "C" + raw["customer_id"]
    root = tmp_path_factory.mktemp("cdnow")
    source = {
        "name": "cdnow",
        "kind": "orders",
        "path": "data/cdnow.csv",
        "columns": {"ts": "ts", "amount": "dollar_value"},
        "identifiers": {"loyalty_id": "card"},
    }
    csv = raw[["order_id", "ts", "dollar_value", "card"]].to_csv(index=False, date_format="%Y-%m-%d")
    write_workspace(root, [source], {"data/cdnow.csv": csv}, identity={"fuzzy": {"enabled": False}})
    workspace = Workspace(root)
    assert workspace.run(as_of=AS_OF).errors == []
    yield raw, workspace


def _customers(raw: pd.DataFrame) -> pd.DataFrame:
    grouped = raw.groupby("card")
    frame = pd.DataFrame(
        {"orders": grouped.size(), "revenue": grouped.dollar_value.sum().round(2), "last": grouped.ts.max()}
    )
    frame["recency"] = (pd.Timestamp(AS_OF) - frame["last"]).dt.days
    since = pd.Timestamp(AS_OF) - pd.Timedelta(days=364)
    recent = raw[raw.ts >= since].groupby("card")
    frame["orders_365d"] = recent.size().reindex(frame.index, fill_value=0)
    frame["revenue_365d"] = recent.dollar_value.sum().round(2).reindex(frame.index, fill_value=0.0)
    return frame


def _quintile(frame: pd.DataFrame, keys: list[str], ascending: list[bool]) -> pd.Series:
    """SQL's NTILE(5) over the frame sorted by ``keys``: the first n % 5 tiles get one more row."""
    ordered = frame.sort_values([*keys, "uid"], ascending=[*ascending, True], kind="stable")
    size, extra = divmod(len(frame), 5)
    tiles = np.concatenate([np.full(size + (1 if tile < extra else 0), tile + 1) for tile in range(5)])
    return pd.Series(tiles, index=ordered.index)


def _counts(workspace: Workspace, segmentation: str) -> dict[str, int]:
    rows = workspace.sql(
        "SELECT segment, count(*) AS n FROM memberships WHERE exited_at IS NULL "
        f"AND segmentation = '{segmentation}' GROUP BY segment"
    ).to_pylist()
    return {row["segment"]: row["n"] for row in rows}


def test_rfm_counts_match_pandas(cdnow: tuple[pd.DataFrame, Workspace]) -> None:
    raw, workspace = cdnow
    customers = _customers(raw)
    uids = workspace.sql("SELECT id_value, uid FROM identity_map WHERE id_type = 'loyalty_id'").to_pandas()
    customers["uid"] = uids.set_index("id_value").uid.reindex(customers.index)
    r = _quintile(customers, ["recency", "orders", "revenue"], [False, True, True])
    f = _quintile(customers, ["orders", "revenue", "recency"], [True, True, False])
    m = _quintile(customers, ["revenue", "orders", "recency"], [True, True, False])
    fm = (f + m + 1) // 2
    assert sorted(f.value_counts()) == [23_570 // 5] * 5
    names = []
    for rec, freq_mon in zip(r[customers.index], fm[customers.index], strict=True):
        owners = [cell.name for cell in DEFAULT_RFM_CELLS if cell.covers(rec, freq_mon)]
        assert len(owners) == 1
        names.append(owners[0])
    expected = pd.Series(names).value_counts().to_dict()
    assert len(customers) == 23_570
    assert _counts(workspace, "rfm") == expected
    assert sum(expected.values()) == 23_570


def _first_below(gaps: pd.Series, level: float) -> int:
    for days in sorted(gaps.unique()):
        if (gaps > days).mean() < level:
            return max(int(days), 1)
    raise AssertionError("no gap level below the threshold")


def _loyalty_point(orders: pd.Series, gain: float) -> int:
    chances = []
    for k in range(1, orders.max() + 1):
        at_least = (orders >= k).sum()
        if at_least < 30:
            break
        chances.append((k, (orders >= k + 1).sum() / at_least))
    for (k, chance), (_, following) in itertools.pairwise(chances):
        if k >= 2 and following - chance < gain:
            return k
    return max(2, chances[-1][0])


def test_lifecycle_thresholds_and_counts_match_pandas(cdnow: tuple[pd.DataFrame, Workspace]) -> None:
    raw, workspace = cdnow
    settings = LifecycleSettings()
    customers = _customers(raw)
    visits = raw[["card", "ts"]].drop_duplicates().sort_values(["card", "ts"])
    visits["gap"] = visits.groupby("card").ts.diff().dt.days
    gaps = visits.gap.dropna()
    dormant = _first_below(gaps, settings.dormant_chance)
    at_risk = _first_below(gaps, settings.at_risk_chance)
    loyal = _loyalty_point(customers.orders, settings.loyalty_gain)
    vip = customers.loc[customers.orders_365d > 0, "revenue_365d"].quantile(1 - settings.vip_share)
    answers = workspace.questions()
    assert answers.lifecycle.dormant_days.value == dormant
    assert answers.lifecycle.at_risk_days.value == at_risk
    assert answers.lifecycle.loyal_orders.value == loyal
    assert answers.lifecycle.vip_value.value == pytest.approx(vip)
    assert answers.lifecycle.mean_gap_days == pytest.approx(gaps.mean())
    assert answers.lifecycle.buyers == len(customers)

    last_gap = visits.groupby("card").gap.last()
    stage = np.select(
        [
            customers.recency > dormant,
            customers.recency > at_risk,
            (customers.orders >= 2) & (last_gap.reindex(customers.index) > dormant),
            customers.revenue_365d >= vip,
            customers.orders >= loyal,
            customers.orders == 1,
        ],
        ["dormant", "at_risk", "reactivated", "vip", "loyal", "new"],
        default="active",
    )
    expected = pd.Series(stage).value_counts().to_dict()
    assert _counts(workspace, "lifecycle") == expected
    assert expected["dormant"] > 10_000  # CDNOW's famous one-and-done buyers
