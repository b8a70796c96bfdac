"""Next-best actions on the small shop: one per channel, priority against expected value with
ties, caps and cool-downs over runs on different days, stable holdouts, the live twin equal to
batch (through Workspace.profile and the real server), and `personae actions preview`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from personae import Workspace
from personae.activation.holdout import is_held_out
from personae.activation.live_actions import person_actions
from personae.cli.app import app
from tests.profiles.small_world import AS_OF, build
from tests.server.live import serving

runner = CliRunner()
DAYS = (AS_OF - timedelta(days=12), AS_OF - timedelta(days=7), AS_OF)
"""Three runs: day 0, day 5 and day 12."""
ACTIONS: list[dict[str, Any]] = [
    # channel "email": a fixed priority of 6 against an expected value of 2 * orders (a tie at 3 orders)
    {"name": "thanks", "rule": "orders >= 1", "priority": 6, "channel": "email"},
    {"name": "upsell", "rule": "orders >= 1", "score": "orders", "value": 2, "channel": "email", "holdout": 0.25},
    # channel "sms": a cool-down of 10 days, and a fallback with a cap of 2 in 30 days
    {"name": "nudge", "rule": "orders >= 1", "priority": 5, "channel": "sms", "cooldown_days": 10},
    {"name": "reminder", "rule": "orders >= 1", "priority": 1, "channel": "sms", "cap": 2, "cap_days": 30},
    # channel "post": nobody qualifies
    {"name": "letter", "rule": "orders > 1000", "priority": 1, "channel": "post"},
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = build(tmp_path_factory.mktemp("actions") / "shop", actions=ACTIONS, models={"enabled": False}).root
    workspace = Workspace(root)
    for day in DAYS:
        report = workspace.run(as_of=day)
        assert report.errors == [], report.errors
    yield workspace


def _rows(workspace: Workspace, query: str) -> list[dict[str, Any]]:
    return workspace.sql(query).to_pylist()


def test_at_most_one_action_per_person_and_channel(shop: Workspace) -> None:
    doubled = _rows(shop, "SELECT uid, channel, count(*) AS n FROM next_actions GROUP BY 1, 2 HAVING count(*) > 1")
    assert doubled == []
    channels = {row["channel"] for row in _rows(shop, "SELECT DISTINCT channel FROM next_actions")}
    assert channels == {"email", "sms"}  # nobody qualifies for "post"
    buyers = _rows(shop, "SELECT count(*) AS n FROM profiles WHERE orders >= 1")[0]["n"]
    assert buyers > 20
    per_channel = _rows(shop, "SELECT channel, count(*) AS n FROM next_actions GROUP BY 1 ORDER BY 1")
    assert per_channel == [{"channel": "email", "n": buyers}, {"channel": "sms", "n": buyers}]


def test_priority_against_expected_value_ties_go_to_the_first_declared(shop: Workspace) -> None:
    rows = _rows(
        shop,
        "SELECT p.orders, a.action, a.priority, a.expected_value FROM next_actions AS a "
        "JOIN profiles AS p ON p.uid = a.uid WHERE a.channel = 'email'",
    )
    orders = {row["orders"] for row in rows}
    assert {1, 3, 4} <= orders  # below, at and above the tie
    for row in rows:
        expected = "upsell" if 2 * row["orders"] > 6 else "thanks"  # 3 orders: 6 = 6, declared first wins
        assert row["action"] == expected, row
        if expected == "upsell":
            assert (row["priority"], row["expected_value"]) == (None, 2.0 * row["orders"])
        else:
            assert (row["priority"], row["expected_value"]) == (6, None)


def test_cool_down_and_cap_across_runs_on_different_days(shop: Workspace) -> None:
    exposures = _rows(
        shop,
        "SELECT as_of, action, count(*) AS n FROM action_exposures WHERE channel = 'sms' GROUP BY 1, 2 ORDER BY 1, 2",
    )
    buyers = _rows(shop, "SELECT count(*) AS n FROM profiles WHERE orders >= 1")[0]["n"]
    day0, day5, day12 = DAYS
    # day 0: nudge; day 5: nudge cools down (5 < 10 days), so the reminder; day 12: nudge again
    assert exposures == [
        {"as_of": day0, "action": "nudge", "n": buyers},
        {"as_of": day5, "action": "reminder", "n": buyers},
        {"as_of": day12, "action": "nudge", "n": buyers},
    ]


def test_a_cap_stops_the_fallback_and_a_rerun_replaces_its_day(tmp_path: Path) -> None:
    """Only the capped reminder (2 in 30 days) in its channel: days 0 and 5, not day 12; rerunning
    day 12 changes nothing; a run at an earlier day leaves next_actions alone."""
    capped = [{"name": "reminder", "rule": "orders >= 1", "priority": 1, "cap": 2, "cap_days": 30}]
    workspace = Workspace(build(tmp_path / "shop", customers=12, actions=capped, models={"enabled": False}).root)
    for day in (*DAYS, DAYS[-1]):
        assert workspace.run(as_of=day).errors == []
    days = _rows(workspace, "SELECT as_of, count(*) AS n FROM action_exposures GROUP BY 1 ORDER BY 1")
    assert [row["as_of"] for row in days] == list(DAYS[:2])
    assert _rows(workspace, "SELECT count(*) AS n FROM next_actions")[0]["n"] == 0
    report = workspace.run(as_of=DAYS[1] + timedelta(days=1))
    assert any("before the latest day recorded" in warning for warning in report.summary()["warnings"])


def test_holdout_is_the_stable_hash_in_every_run(shop: Workspace) -> None:
    rows = _rows(shop, "SELECT uid, as_of, held_out FROM action_exposures WHERE action = 'upsell'")
    assert len({row["as_of"] for row in rows}) == len(DAYS)
    arms: dict[str, set[bool]] = {}
    for row in rows:
        arms.setdefault(row["uid"], set()).add(row["held_out"])
        assert row["held_out"] == is_held_out(row["uid"], "upsell", 0.25)
    assert all(len(held) == 1 for held in arms.values())
    assert {True, False} == {held for values in arms.values() for held in values}
    others = _rows(shop, "SELECT count(*) AS n FROM action_exposures WHERE action <> 'upsell' AND held_out")
    assert others[0]["n"] == 0  # no holdout share, nobody held out


def test_holdout_share_over_many_people() -> None:
    held = sum(is_held_out(f"p{n:015x}", "upsell", 0.25) for n in range(20_000))
    assert abs(held / 20_000 - 0.25) < 3 * (0.25 * 0.75 / 20_000) ** 0.5
    other = sum(is_held_out(f"p{n:015x}", "other", 0.25) for n in range(2_000))
    overlap = sum(
        is_held_out(f"p{n:015x}", "upsell", 0.25) and is_held_out(f"p{n:015x}", "other", 0.25) for n in range(2_000)
    )
    assert 0.15 * other < overlap < 0.35 * other  # each experiment draws its own arms


def _batch(workspace: Workspace) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(workspace, "SELECT * FROM next_actions ORDER BY uid, channel"):
        found.setdefault(row["uid"], []).append(
            {key: row[key] for key in ("channel", "action", "priority", "expected_value", "held_out", "as_of")}
        )
    return found


def test_the_live_decision_equals_the_batch_one_for_everyone(shop: Workspace) -> None:
    batch = _batch(shop)
    with shop.engine(write=False) as store:
        uids = [str(row[0]) for row in store.fetch_rows("SELECT uid FROM profiles ORDER BY uid")]
        live = {uid: [vars(action) for action in person_actions(store, shop.config.actions, uid)] for uid in uids}
    assert {uid: actions for uid, actions in live.items() if actions} == batch
    person = next(iter(batch))
    assert shop.profile(f"uid:{person}").next_actions == batch[person]


def test_the_profile_api_returns_the_live_action(shop: Workspace, tmp_path: Path) -> None:
    person = next(iter(_batch(shop)))
    with serving(Workspace(shop.root)) as served:
        status, body, _ = served.call(f"/v1/profiles/uid:{person}", token=served.reader)
    assert status == 200, body
    assert [(a["channel"], a["action"]) for a in body["next_actions"]] == [
        (a["channel"], a["action"]) for a in _batch(shop)[person]
    ]
    assert body["next_actions"][0]["as_of"] == AS_OF.isoformat()


def test_actions_preview_counts_and_json(shop: Workspace) -> None:
    shown = runner.invoke(app, ["actions", "preview", "-w", str(shop.root), "--sample", "3"])
    assert shown.exit_code == 0, shown.output
    assert f"as of {AS_OF}" in shown.output and "nudge" in shown.output
    data = json.loads(runner.invoke(app, ["actions", "preview", "-w", str(shop.root), "-f", "json"]).output)
    counts = {(c["channel"], c["action"]): (c["treated"], c["held_out"]) for c in data["counts"]}
    expected = _rows(
        shop,
        "SELECT channel, action, count(*) FILTER (WHERE NOT held_out) AS t, count(*) FILTER (WHERE held_out) AS h "
        "FROM next_actions GROUP BY 1, 2",
    )
    assert counts == {(r["channel"], r["action"]): (r["t"], r["h"]) for r in expected}
    assert data["as_of"] == AS_OF.isoformat() and len(data["sample"]) == 10
    assert date.fromisoformat(data["as_of"]) == DAYS[-1]
