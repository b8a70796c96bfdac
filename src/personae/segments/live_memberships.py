"""Memberships changed by live processing, written as the next batch run would have written them.

Batch records whole states (:func:`personae.segments.memberships.apply_assignments`): the
stays that hold at the end of an as-of day ``D`` are those with ``entered_at <= D`` and
``exited_at`` NULL or after ``D`` (both stamped at ``D``'s midnight). Live processing
changes a few people at a time, on the day the server works as of, and writes their stays
in the same shape, so that a batch run at ``D`` over the same events finds nothing to
change and writes no second entry to the feed:

- an entry at ``D`` reopens the person's stay that ended at ``D`` (a stay that was cut at
  ``D`` and is whole again), or opens one from ``D``;
- an exit at ``D`` ends the open stay at ``D``, and drops it if it began at ``D`` (a stay of
  no day at all, which batch would never have written);
- ``D`` joins ``membership_days``, and each change goes to ``membership_changes`` with the
  next sequence and the moment it was processed (``changed_at``), which the change feed
  streams.

Live writes only at or after the latest recorded day: a server working as of an earlier day
than a run already recorded (a pinned ``as_of``) leaves memberships to batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import pyarrow as pa

from personae.engine.base import Engine
from personae.engine.sql import day_sql, timestamp_sql
from personae.engine.tables import ensure_tables
from personae.segments.memberships import MembershipChange, recorded_days, stamp_sql

KEY = "m.uid = c.uid AND m.segmentation = c.segmentation AND m.segment = c.segment"
STAGED = "_live_changes"


@dataclass(frozen=True)
class LiveChange:
    """One person entering or leaving one segment."""

    uid: str
    segmentation: str
    segment: str
    change: str
    """``entered`` or ``exited``."""


def current_segments(engine: Engine, uids: Sequence[str]) -> dict[str, dict[str, set[str]]]:
    """uid -> segmentation -> the segments the person is in now (open stays)."""
    found: dict[str, dict[str, set[str]]] = {uid: {} for uid in uids}
    if not uids or not engine.has_table("memberships"):
        return found
    engine.register_arrow("_live_uids", pa.table({"uid": pa.array(list(uids), pa.string())}))
    rows = engine.fetch_rows(
        "SELECT m.uid, m.segmentation, m.segment FROM memberships AS m JOIN _live_uids AS u ON u.uid = m.uid "
        "WHERE m.exited_at IS NULL"
    )
    for uid, segmentation, segment in rows:
        found[str(uid)].setdefault(str(segmentation), set()).add(str(segment))
    return found


def can_record(engine: Engine, day: date) -> bool:
    """Whether live may write memberships as of ``day`` (no later day is recorded)."""
    days = recorded_days(engine)
    return not days or days[-1] <= day


def record_changes(engine: Engine, changes: Sequence[LiveChange], day: date, at: datetime) -> list[MembershipChange]:
    """Write ``changes`` as of ``day`` (inside the caller's transaction); returns the feed entries."""
    if not changes:
        return []
    ensure_tables(engine, ["memberships", "membership_changes", "membership_days"])
    stamp = stamp_sql(day)
    staged = pa.table(
        {
            "uid": [c.uid for c in changes],
            "segmentation": [c.segmentation for c in changes],
            "segment": [c.segment for c in changes],
            "change": [c.change for c in changes],
            "position": list(range(len(changes))),
        }
    )
    engine.register_arrow(STAGED, staged)
    exits = f"(SELECT * FROM {STAGED} WHERE change = 'exited')"
    entries = f"(SELECT * FROM {STAGED} WHERE change = 'entered')"
    open_stay = f"{KEY} AND m.exited_at IS NULL"
    engine.execute(f"DELETE FROM memberships AS m USING {exits} AS c WHERE {open_stay} AND m.entered_at = {stamp}")
    engine.execute(f"UPDATE memberships AS m SET exited_at = {stamp} FROM {exits} AS c WHERE {open_stay}")
    cut_today = f"{KEY} AND m.exited_at = {stamp}"
    engine.execute(f"UPDATE memberships AS m SET exited_at = NULL FROM {entries} AS c WHERE {cut_today}")
    engine.insert(
        "memberships",
        ["uid", "segmentation", "segment", "score", "entered_at", "exited_at"],
        f"SELECT c.uid, c.segmentation, c.segment, CAST(NULL AS DOUBLE), {stamp}, CAST(NULL AS TIMESTAMP) "
        f"FROM {entries} AS c WHERE NOT EXISTS (SELECT 1 FROM memberships AS m WHERE {KEY} AND m.exited_at IS NULL)",
    )
    engine.insert(
        "membership_days",
        ["as_of"],
        f"SELECT {day_sql(day)} WHERE NOT EXISTS (SELECT 1 FROM membership_days WHERE as_of = {day_sql(day)})",
    )
    start = int(engine.scalar("SELECT coalesce(max(sequence), 0) FROM membership_changes"))
    engine.insert(
        "membership_changes",
        ["sequence", "uid", "segmentation", "segment", "change", "score", "changed_at"],
        f"SELECT {start} + 1 + position, uid, segmentation, segment, change, CAST(NULL AS DOUBLE), "
        f"{timestamp_sql(at)} FROM {STAGED}",
    )
    engine.drop_table(STAGED)
    return [
        MembershipChange(start + 1 + index, c.uid, c.segmentation, c.segment, c.change, None, at)
        for index, c in enumerate(changes)
    ]
