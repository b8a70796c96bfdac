"""Membership history: stays open and close with the as-of days, the change feed, days recorded out of order."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pytest

from personae.engine import Engine
from personae.segments.memberships import apply_assignments, state_sql

DAYS = (date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31))
ASSIGNED = {
    DAYS[0]: {"a": "new", "b": "new", "c": "lead"},
    DAYS[1]: {"a": "active", "b": "new", "c": "lead", "d": "lead"},
    DAYS[2]: {"a": "active", "b": "dormant", "d": "new"},
}


def _assign(engine: Engine, day: date) -> None:
    people = ASSIGNED[day]
    table = pa.table(
        {
            "uid": list(people),
            "segmentation": ["lifecycle"] * len(people),
            "segment": list(people.values()),
            "score": [float(i) for i in range(len(people))],
        }
    )
    engine.register_arrow("_given", table)
    engine.materialise("_today", "SELECT * FROM _given")
    apply_assignments(engine, "_today", day)


def _state(engine: Engine, day: date) -> dict[str, str]:
    return {row[0]: row[2] for row in engine.fetch_rows(state_sql(day, "lifecycle"))}


def test_successive_runs_keep_one_row_per_stay_and_feed_every_entry_and_exit_in_order(engine: Engine) -> None:
    """One test for both, as the three runs on Spark take most of a minute on a shared machine."""
    for day in DAYS:
        _assign(engine, day)
    for day in DAYS:
        assert _state(engine, day) == ASSIGNED[day]
    stays = sorted(engine.fetch_rows("SELECT uid, segment, entered_at, exited_at FROM memberships"))
    assert stays == [
        ("a", "active", datetime(2025, 2, 28), None),
        ("a", "new", datetime(2025, 1, 31), datetime(2025, 2, 28)),
        ("b", "dormant", datetime(2025, 3, 31), None),
        ("b", "new", datetime(2025, 1, 31), datetime(2025, 3, 31)),
        ("c", "lead", datetime(2025, 1, 31), datetime(2025, 3, 31)),
        ("d", "lead", datetime(2025, 2, 28), datetime(2025, 3, 31)),
        ("d", "new", datetime(2025, 3, 31), None),
    ]
    feed = engine.fetch_rows(
        "SELECT sequence, uid, segment, change, changed_at FROM membership_changes ORDER BY sequence"
    )
    assert [row[0] for row in feed] == list(range(1, len(feed) + 1))
    entered = [(uid, segment) for _, uid, segment, change, _ in feed if change == "entered"]
    exited = [(uid, segment) for _, uid, segment, change, _ in feed if change == "exited"]
    assert len(entered) == 3 + 2 + 2  # a, b, c; a active, d lead; b dormant, d new
    assert sorted(exited) == [("a", "new"), ("b", "new"), ("c", "lead"), ("d", "lead")]
    assert all(at == datetime(2025, 3, 31) for _, uid, _, change, at in feed if change == "exited" and uid != "a")
    # within a run: exits before entries, then by segmentation, segment and UID
    in_order = [(at, 0 if change == "exited" else 1, segment, uid) for _, uid, segment, change, at in feed]
    assert in_order == sorted(in_order)


@pytest.mark.parametrize("engine", ["duckdb"], indirect=True)  # Spark: the same statements as the latest-day runs above
def test_rerunning_a_day_changes_nothing(engine: Engine) -> None:
    _assign(engine, DAYS[0])
    _assign(engine, DAYS[1])
    before = sorted(engine.fetch_rows("SELECT * FROM memberships"))
    feed = engine.scalar("SELECT count(*) FROM membership_changes")
    _assign(engine, DAYS[1])
    assert sorted(engine.fetch_rows("SELECT * FROM memberships")) == before
    assert engine.scalar("SELECT count(*) FROM membership_changes") == feed
    assert sorted(engine.fetch_rows("SELECT as_of FROM membership_days")) == [(DAYS[0],), (DAYS[1],)]


def test_a_run_before_the_latest_adds_its_day_and_keeps_the_later_ones(engine: Engine) -> None:
    for day in (DAYS[0], DAYS[2]):
        _assign(engine, day)
    feed = engine.scalar("SELECT count(*) FROM membership_changes")
    _assign(engine, DAYS[1])  # a backfill: the day between the two recorded ones
    for day in DAYS:
        assert _state(engine, day) == ASSIGNED[day]
    assert engine.scalar("SELECT count(*) FROM membership_changes") == feed  # the latest state did not change
    _assign(engine, DAYS[0])  # and again, out of order: nothing moves
    for day in DAYS:
        assert _state(engine, day) == ASSIGNED[day]
    stays = sorted(engine.fetch_rows("SELECT uid, segment, entered_at, exited_at FROM memberships"))
    in_order = sorted(_stays_in_order(engine))
    assert stays == in_order


def _stays_in_order(engine: Engine) -> list[tuple[object, ...]]:
    """The stays the same days give when recorded in order, in a fresh store."""
    from personae.engine import DuckDBEngine

    fresh = DuckDBEngine()
    try:
        for day in DAYS:
            _assign(fresh, day)
        return fresh.fetch_rows("SELECT uid, segment, entered_at, exited_at FROM memberships")
    finally:
        fresh.close()


@pytest.mark.parametrize("engine", ["duckdb"], indirect=True)  # Spark: the backfill statements of the test above
def test_a_changed_past_day_is_a_new_stay_between_recorded_days(engine: Engine) -> None:
    for day in (DAYS[0], DAYS[2]):
        _assign(engine, day)
    ASSIGNED_ONCE = {"a": "vip", "b": "new", "c": "lead"}
    table = pa.table(
        {
            "uid": list(ASSIGNED_ONCE),
            "segmentation": ["lifecycle"] * 3,
            "segment": list(ASSIGNED_ONCE.values()),
            "score": [0.0, 1.0, 2.0],
        }
    )
    engine.register_arrow("_given", table)
    engine.materialise("_today", "SELECT * FROM _given")
    result = apply_assignments(engine, "_today", DAYS[1])
    assert result.backfill and (result.entered, result.exited) == (0, 0)
    assert _state(engine, DAYS[0]) == ASSIGNED[DAYS[0]]
    assert _state(engine, DAYS[1]) == ASSIGNED_ONCE
    assert _state(engine, DAYS[2]) == ASSIGNED[DAYS[2]]
    vip = engine.fetch_rows("SELECT entered_at, exited_at FROM memberships WHERE uid = 'a' AND segment = 'vip'")
    assert vip == [(datetime(2025, 2, 28), datetime(2025, 3, 31))]
