"""The segment step on a small shop: core checks, rule segments, definitions, transitions, microsegments."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from personae import Workspace
from personae.engine.duckdb import DuckDBEngine
from personae.errors import ConfigError, InvalidRule, SegmentationError, WorkspaceError
from personae.segments.assignment import check_core
from personae.segments.specs import SegmentationSpec
from tests.profiles.small_world import AS_OF, build

VALUE_TIERS = {
    "name": "value_tier",
    "kind": "rules",
    "segments": {"high": "revenue >= 300", "low": "revenue < 300 and orders > 0", "none": "orders = 0"},
}


def _members(workspace: Workspace, segmentation: str, segment: str) -> set[str]:
    rows = workspace.sql(
        "SELECT uid FROM memberships WHERE exited_at IS NULL "
        f"AND segmentation = '{segmentation}' AND segment = '{segment}'"
    ).column("uid")
    return set(rows.to_pylist())


def test_every_uid_has_exactly_one_segment_in_each_core_segmentation(tmp_path: Path) -> None:
    shop = build(tmp_path / "shop", segmentations=[{"name": "rfm", "kind": "rfm"}, VALUE_TIERS])
    workspace = Workspace(shop.root)
    assert workspace.run(as_of=AS_OF).errors == []
    people = workspace.sql("SELECT count(*) AS n FROM profiles").column("n")[0].as_py()
    for segmentation in ("rfm", "value_tier"):
        counts = workspace.sql(
            "SELECT uid, count(*) AS n FROM memberships WHERE exited_at IS NULL "
            f"AND segmentation = '{segmentation}' GROUP BY uid"
        ).to_pylist()
        assert len(counts) == people and {row["n"] for row in counts} == {1}
    expected_high = workspace.sql("SELECT uid FROM profiles WHERE revenue >= 300").column("uid").to_pylist()
    assert _members(workspace, "value_tier", "high") == set(expected_high)
    prospects = workspace.sql("SELECT uid FROM profiles WHERE orders = 0").column("uid").to_pylist()
    assert _members(workspace, "rfm", "Prospect") == set(prospects)


def test_an_overlapping_core_segmentation_stops_the_run_naming_the_uids(tmp_path: Path) -> None:
    tiers = {**VALUE_TIERS, "segments": {**VALUE_TIERS["segments"], "high": "revenue >= 100"}}
    shop = build(tmp_path / "shop", segmentations=[tiers])
    workspace = Workspace(shop.root)
    with pytest.raises(SegmentationError) as caught:
        workspace.run(as_of=AS_OF)
    overlapping = workspace.sql("SELECT uid FROM profiles WHERE revenue >= 100 AND revenue < 300").column("uid")
    message = str(caught.value)
    assert "core segmentation 'value_tier' is not exhaustive and exclusive" in message
    assert f"{len(overlapping)} in several segments" in message
    assert sorted(overlapping.to_pylist())[0] in message
    assert "memberships" not in workspace.sql("SELECT table_name FROM information_schema.tables").column(0).to_pylist()


def test_a_gap_in_a_core_segmentation_is_reported(tmp_path: Path) -> None:
    tiers = {**VALUE_TIERS, "segments": {"high": "revenue >= 300", "low": "revenue < 300 and orders > 0"}}
    shop = build(tmp_path / "shop", segmentations=[tiers])
    with pytest.raises(SegmentationError, match=r"in none: p"):
        Workspace(shop.root).run(as_of=AS_OF)


def test_a_person_missing_and_another_twice_is_caught_though_the_count_is_right(tmp_path: Path) -> None:
    """The check compares sums over the UIDs, not only their count: a gap and a repeat cancel in the count."""
    engine = DuckDBEngine(tmp_path / "store.duckdb")
    engine.execute("CREATE TABLE profiles AS SELECT * FROM (VALUES ('p1'), ('p2'), ('p3')) AS t(uid)")
    assigned = [("tier", "p1", "a"), ("tier", "p2", "a"), ("tier", "p2", "b")]  # p3 in none, p2 twice
    assigned += [("fine", "p1", "a"), ("fine", "p2", "a"), ("fine", "p3", "b")]
    rows = ", ".join(f"('{segmentation}', '{uid}', '{segment}')" for segmentation, uid, segment in assigned)
    engine.execute(f"CREATE TABLE assigned AS SELECT * FROM (VALUES {rows}) AS t(segmentation, uid, segment)")
    specs = [SegmentationSpec(name=name, kind="rfm") for name in ("tier", "fine")]
    with pytest.raises(SegmentationError) as caught:
        check_core(engine, specs, "assigned")
    message = str(caught.value)
    assert "'tier' is not exhaustive and exclusive: 1 in several segments: p2 (a, b); 1 in none: p3" in message
    assert "'fine'" not in message
    check_core(engine, specs[1:], "assigned")  # each person once: nothing to say


def test_overlapping_rfm_cells_in_the_config_are_reported(tmp_path: Path) -> None:
    cells = [
        {"name": "All", "recency": [1, 5], "frequency_monetary": [1, 5]},
        {"name": "Top", "recency": [5, 5], "frequency_monetary": [5, 5]},
    ]
    build(tmp_path / "shop", customers=3, rfm={"cells": cells})
    with pytest.raises(ConfigError, match=r"R=5, FM=5 is in 2 cells: All, Top"):
        Workspace(tmp_path / "shop")


def test_rule_segments_are_versioned_and_may_use_other_segments(tmp_path: Path) -> None:
    segments = [
        {"name": "big", "rule": "revenue > 200"},
        {"name": "big_champions", "rule": "in_segment('rules', 'big') and in_segment('rfm', 'Champions')"},
    ]
    shop = build(tmp_path / "shop", segments=segments)
    workspace = Workspace(shop.root)
    workspace.run(as_of=AS_OF)
    big = _members(workspace, "rules", "big")
    champions = _members(workspace, "rfm", "Champions")
    assert big and _members(workspace, "rules", "big_champions") == big & champions
    with pytest.raises(WorkspaceError, match=r"segment 'big' is defined in .*personae\.toml; change its rule there"):
        workspace.add_segment("big", "revenue > 250")
    first = workspace.add_segment("mid", "revenue > 100")
    second = workspace.add_segment("mid", "revenue > 150")
    assert first is not None and second is not None and (first.version, second.version) == (1, 2)
    assert workspace.add_segment("mid", "revenue > 150") is None
    workspace.run(as_of=AS_OF)
    expected = workspace.sql("SELECT uid FROM profiles WHERE revenue > 150").column("uid").to_pylist()
    assert _members(workspace, "rules", "mid") == set(expected)
    listed = {entry.segment: entry for entry in workspace.segments() if entry.segmentation == "rules"}
    assert listed["mid"].version == 2 and listed["mid"].members == len(expected)
    assert listed["big"].version == 1


def test_a_bad_rule_is_refused_before_it_is_stored(tmp_path: Path) -> None:
    shop = build(tmp_path / "shop", customers=5)
    workspace = Workspace(shop.root)
    workspace.run(as_of=AS_OF)
    with pytest.raises(InvalidRule, match="did you mean 'revenue_365d'"):
        workspace.add_segment("bad", "revenue_356d > 3")
    assert all(entry.segment != "bad" for entry in workspace.segments())


def test_preview_counts_and_shares(tmp_path: Path) -> None:
    shop = build(tmp_path / "shop")
    workspace = Workspace(shop.root)
    workspace.run(as_of=AS_OF)
    result = workspace.preview_segment("orders >= 3", sample=3)
    size, total, revenue, all_revenue = (
        workspace.sql(
            "SELECT count(*) FILTER (WHERE orders >= 3), count(*), sum(revenue) FILTER (WHERE orders >= 3), "
            "sum(revenue) FROM profiles"
        )
        .to_pylist()[0]
        .values()
    )
    assert (result.size, result.customers) == (size, total)
    assert result.share_of_revenue == pytest.approx(revenue / all_revenue)
    assert len(result.sample) == 3 and all(row["orders"] >= 3 for row in result.sample)


def test_transitions_between_two_as_of_dates(tmp_path: Path) -> None:
    shop = build(tmp_path / "shop")
    workspace = Workspace(shop.root)
    earlier = date(2025, 1, 31)
    current = "SELECT uid, segment FROM memberships WHERE segmentation = 'lifecycle' AND exited_at IS NULL"
    workspace.run(as_of=earlier)
    before = {row["uid"]: row["segment"] for row in workspace.sql(current).to_pylist()}
    workspace.run(as_of=AS_OF)
    after = {row["uid"]: row["segment"] for row in workspace.sql(current).to_pylist()}
    result = workspace.transitions("lifecycle", earlier, AS_OF)
    counted: dict[tuple[str, str], int] = {}
    for uid in set(before) | set(after):
        key = (before.get(uid, "(none)"), after.get(uid, "(none)"))
        counted[key] = counted.get(key, 0) + 1
    assert {(c.source, c.target): c.count for c in result.cells} == counted
    for source in {c.source for c in result.cells}:
        assert sum(c.share for c in result.cells if c.source == source) == pytest.approx(1.0)
    with pytest.raises(
        WorkspaceError, match=r"no segment state was recorded on 2020-01-01; states exist for 2025-01-31"
    ):
        workspace.transitions("lifecycle", date(2020, 1, 1), date(2020, 2, 1))


def test_transitions_survive_runs_out_of_order(tmp_path: Path) -> None:
    """Run at the later day first, then the earlier one: the later state is not rewound."""
    earlier = date(2025, 1, 31)
    backwards = Workspace(build(tmp_path / "backwards").root)
    backwards.run(as_of=AS_OF)
    backwards.run(as_of=earlier)
    forwards = Workspace(build(tmp_path / "forwards").root)
    forwards.run(as_of=earlier)
    forwards.run(as_of=AS_OF)
    got = backwards.transitions("lifecycle", earlier, AS_OF).cells
    expected = forwards.transitions("lifecycle", earlier, AS_OF).cells
    assert got == expected
    assert any(cell.source != cell.target for cell in got)  # the shop's customers do move


def test_microsegments_fold_small_cells(tmp_path: Path) -> None:
    shop = build(tmp_path / "shop")
    workspace = Workspace(shop.root)
    workspace.run(as_of=AS_OF)
    full = workspace.microsegments(["lifecycle", "rfm"], min_size=1)
    folded = workspace.microsegments(["lifecycle", "rfm"], min_size=3)
    people = workspace.sql("SELECT count(*) AS n FROM profiles").column("n")[0].as_py()
    for result in (full, folded):
        assert sum(cell.customers for cell in result.cells) == people
        assert sum(cell.share_of_revenue for cell in result.cells) == pytest.approx(1.0)
    small = [cell for cell in full.cells if cell.customers < 3]
    assert small, "the small shop has cells below 3"
    other = folded.cells[-1]
    assert other.segments == ["(other)", "(other)"] and other.cells == len(small)
    assert other.customers == sum(cell.customers for cell in small)
    with pytest.raises(WorkspaceError, match="no segmentation 'lifestyles'"):
        workspace.microsegments(["lifecycle", "lifestyles"], min_size=1)
