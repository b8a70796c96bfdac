"""Live entries and exits are written as a batch run would write them: after any sequence
of live changes at a day, recording the same state at that day in batch changes nothing
(no stay, no feed entry), and the state read back is the live one."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from personae.engine import DuckDBEngine, Engine
from personae.segments.live_memberships import LiveChange, can_record, current_segments, record_changes
from personae.segments.memberships import apply_assignments, state_sql

PEOPLE = ("u0", "u1", "u2", "u3")
RULES = ("a", "b")
LAST_RUN = date(2025, 3, 31)
Key = tuple[str, str]  # (uid, segment) of the "rules" segmentation


def _apply(engine: Engine, rules: set[Key], day: date) -> tuple[int, int]:
    rows = [(uid, "rules", segment) for uid, segment in sorted(rules)]
    rows += [(uid, "lifecycle", "new") for uid in PEOPLE]
    table = pa.table(
        {
            "uid": [r[0] for r in rows],
            "segmentation": [r[1] for r in rows],
            "segment": [r[2] for r in rows],
            "score": pa.array([None] * len(rows), pa.float64()),
        }
    )
    engine.register_arrow("_given", table)
    engine.materialise("_today", "SELECT * FROM _given")
    result = apply_assignments(engine, "_today", day)
    return result.entered, result.exited


def _live(engine: Engine, wanted: set[Key], people: list[str], day: date, at: datetime) -> None:
    """Move ``people`` to their memberships in ``wanted``, as live processing does."""
    now = current_segments(engine, people)
    changes = []
    for uid in people:
        held = now[uid].get("rules", set())
        for segment in RULES:
            if (uid, segment) in wanted and segment not in held:
                changes.append(LiveChange(uid, "rules", segment, "entered"))
            elif (uid, segment) not in wanted and segment in held:
                changes.append(LiveChange(uid, "rules", segment, "exited"))
    with engine.transaction():
        record_changes(engine, changes, day, at)


memberships = st.sets(st.tuples(st.sampled_from(PEOPLE), st.sampled_from(RULES)))
steps = st.lists(st.tuples(memberships, st.lists(st.sampled_from(PEOPLE), min_size=1, unique=True)), max_size=6)


@settings(max_examples=60, deadline=None)
@given(before=memberships, live_steps=steps, later=st.booleans())
def test_a_batch_run_after_live_changes_finds_nothing_to_change(
    before: set[Key], live_steps: list[tuple[set[Key], list[str]]], later: bool
) -> None:
    day = LAST_RUN + timedelta(days=1) if later else LAST_RUN
    with tempfile.TemporaryDirectory() as folder:
        engine = DuckDBEngine(Path(folder) / "store.duckdb")
        try:
            _apply(engine, before, LAST_RUN)
            assert can_record(engine, day)
            state = set(before)
            for number, (wanted, people) in enumerate(live_steps):
                _live(engine, wanted, people, day, datetime(2025, 4, 1, 12, 0, number))
                state = {key for key in state if key[0] not in people} | {k for k in wanted if k[0] in people}
            rules_now = {(str(r[0]), str(r[2])) for r in engine.fetch_rows(state_sql(day, "rules"))}
            assert rules_now == state
            _canonical(engine)
            stays = sorted(engine.fetch_rows("SELECT * FROM memberships"), key=repr)
            feed = engine.scalar("SELECT count(*) FROM membership_changes")
            assert _apply(engine, state, day) == (0, 0)
            assert sorted(engine.fetch_rows("SELECT * FROM memberships"), key=repr) == stays
            assert engine.scalar("SELECT count(*) FROM membership_changes") == feed
        finally:
            engine.close()


def _canonical(engine: Engine) -> None:
    """Stays as batch writes them: none of no time, none that ends where the next of its key begins."""
    empty = engine.fetch_rows("SELECT * FROM memberships WHERE exited_at = entered_at")
    assert empty == []
    split = engine.fetch_rows(
        "SELECT a.uid, a.segment FROM memberships AS a JOIN memberships AS b ON a.uid = b.uid "
        "AND a.segmentation = b.segmentation AND a.segment = b.segment AND a.exited_at = b.entered_at"
    )
    assert split == []


def test_live_leaves_a_day_before_the_last_recorded_one_to_batch(tmp_path: Path) -> None:
    engine = DuckDBEngine(tmp_path / "store.duckdb")
    _apply(engine, {("u0", "a")}, LAST_RUN)
    assert not can_record(engine, LAST_RUN - timedelta(days=1))
    assert can_record(engine, LAST_RUN)
    engine.close()
