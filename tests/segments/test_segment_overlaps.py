"""The summaries step's ``segment_overlaps``: known customers and their revenue in every pair
of segments of two segmentations (rule segments left out), checked against the memberships
and profiles counted here in Python. The step reads the current members the persona cards
read (computed once); when the cards cannot be made it counts from the memberships again,
with the same result."""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from personae import Workspace
from tests.profiles.small_world import AS_OF, build

RULES = [{"name": "big", "rule": "revenue > 200"}, {"name": "regular", "rule": "orders >= 3"}]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = build(tmp_path_factory.mktemp("overlaps") / "shop", customers=40, segments=RULES).root
    assert Workspace(root).run(as_of=AS_OF).errors == []
    return root


def _expected(workspace: Workspace) -> dict[tuple[str, str, str, str], tuple[int, float]]:
    """Each pair of current memberships of one known customer, counted once per pair of
    segmentations (the first before the second), without the rule segments."""
    revenue = {
        row["uid"]: float(row["revenue"] or 0)
        for row in workspace.sql("SELECT uid, revenue FROM profiles WHERE known_customer").to_pylist()
    }
    held: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in workspace.sql("SELECT uid, segmentation, segment FROM memberships WHERE exited_at IS NULL").to_pylist():
        if row["uid"] in revenue and row["segmentation"] != "rules":
            held[row["uid"]].add((row["segmentation"], row["segment"]))
    found: dict[tuple[str, str, str, str], tuple[int, float]] = {}
    for uid, segments in held.items():
        for a, b in combinations(sorted(segments), 2):
            if a[0] < b[0]:
                customers, money = found.get((*a, *b), (0, 0.0))
                found[(*a, *b)] = (customers + 1, money + revenue[uid])
    return found


def _stored(workspace: Workspace) -> dict[tuple[str, str, str, str], tuple[int, float]]:
    rows: list[dict[str, Any]] = workspace.sql("SELECT * FROM segment_overlaps").to_pylist()
    return {
        (r["segmentation_a"], r["segment_a"], r["segmentation_b"], r["segment_b"]): (r["customers"], r["revenue"])
        for r in rows
    }


def _same(left: dict[Any, tuple[int, float]], right: dict[Any, tuple[int, float]]) -> bool:
    return left.keys() == right.keys() and all(
        left[key][0] == right[key][0] and math.isclose(left[key][1], right[key][1], rel_tol=1e-9) for key in left
    )


def test_every_pair_of_segments_counts_its_known_customers_and_their_revenue(shop: Path) -> None:
    workspace = Workspace(shop)
    expected, stored = _expected(workspace), _stored(workspace)
    assert len({(a, c) for a, _, c, _ in expected}) >= 10, "the world should overlap many segmentations"
    assert _same(stored, expected), sorted(set(stored.items()) ^ set(expected.items()))[:5]


def test_without_the_cards_the_overlaps_are_counted_from_the_memberships(shop: Path) -> None:
    workspace = Workspace(shop)
    before = _stored(workspace)
    with workspace.engine(write=True) as store:  # the cards need the trait shares
        store.drop_table("trait_shares")
    result = workspace.run(as_of=AS_OF, only="summaries")
    assert result.errors == []
    warnings = [warning for step in result.steps for warning in step.warnings]
    assert any("no persona cards" in warning and "trait_shares" in warning for warning in warnings), warnings
    assert _same(_stored(workspace), before) and before
