"""Segment memberships with history, and the change feed destinations consume.

``memberships(uid, segmentation, segment, score, entered_at, exited_at)`` holds one row per
stay in a segment: a run as of day ``D`` closes the stays its assignments no longer hold
(``exited_at = D``) and opens the new ones (``entered_at = D``). Every entry and exit is
appended to ``membership_changes`` with an increasing ``sequence``. A run as of a day
before the latest recorded one first rewinds the history to that day, so runs can be
replayed in any order and the table always reads as the timeline of the as-of days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from personae.engine.base import Engine
from personae.engine.sql import day_sql, literal
from personae.engine.tables import ensure_tables

KEY = "o.uid = a.uid AND o.segmentation = a.segmentation AND o.segment = a.segment"


@dataclass(frozen=True)
class MembershipResult:
    members: int
    entered: int
    exited: int
    rewound: bool


def stamp_sql(day: date) -> str:
    return f"CAST({day_sql(day)} AS TIMESTAMP)"


def state_sql(day: date, segmentation: str | None = None) -> str:
    """The memberships that held at the end of a day: ``uid, segmentation, segment, score``."""
    at = stamp_sql(day)
    where = f"entered_at <= {at} AND (exited_at IS NULL OR exited_at > {at})"
    if segmentation is not None:
        where += f" AND segmentation = {literal(segmentation)}"
    return f"SELECT uid, segmentation, segment, score FROM memberships WHERE {where}"


def rewind_sql(day: date) -> str:
    """The history as it stood at the end of ``day``: later stays dropped, later exits undone."""
    at = stamp_sql(day)
    return (
        "SELECT uid, segmentation, segment, score, entered_at, "
        f"CASE WHEN exited_at > {at} THEN NULL ELSE exited_at END AS exited_at "
        f"FROM memberships WHERE entered_at <= {at}"
    )


def changes_sql(assignments: str) -> str:
    """``uid, segmentation, segment, change, score`` between the open stays and ``assignments``."""
    exited = (
        "SELECT o.uid, o.segmentation, o.segment, 'exited' AS change, o.score FROM _open AS o "
        f"LEFT JOIN {assignments} AS a ON {KEY} WHERE a.uid IS NULL"
    )
    entered = (
        "SELECT a.uid, a.segmentation, a.segment, 'entered' AS change, a.score "
        f"FROM {assignments} AS a LEFT JOIN _open AS o ON {KEY} WHERE o.uid IS NULL"
    )
    return f"{exited} UNION ALL {entered}"


def next_memberships_sql(assignments: str, day: date) -> str:
    at = stamp_sql(day)
    history = (
        "SELECT uid, segmentation, segment, score, entered_at, exited_at FROM memberships WHERE exited_at IS NOT NULL"
    )
    kept = (
        "SELECT o.uid, o.segmentation, o.segment, coalesce(a.score, o.score) AS score, o.entered_at, "
        f"CASE WHEN a.uid IS NULL THEN {at} END AS exited_at FROM _open AS o LEFT JOIN {assignments} AS a ON {KEY}"
    )
    opened = (
        f"SELECT uid, segmentation, segment, score, {at} AS entered_at, CAST(NULL AS TIMESTAMP) AS exited_at "
        "FROM _changes WHERE change = 'entered'"
    )
    return f"{history} UNION ALL {kept} UNION ALL {opened}"


def numbered_changes_sql(changes: str, start: int, at: str) -> str:
    """The changes numbered from ``start + 1`` in the order (change descending, segmentation,
    segment, uid). One window over every row would sort them all on one thread; numbering
    within each (change, segmentation, segment) group and adding the group's offset gives
    the same numbers in parallel."""
    key = "change, segmentation, segment"
    groups = f"SELECT {key}, count(*) AS n FROM {changes} GROUP BY {key}"
    offsets = (
        f"SELECT {key}, sum(n) OVER (ORDER BY change DESC, segmentation, segment) - n AS before FROM ({groups}) AS g"
    )
    return (
        f"SELECT {start} + o.before + row_number() OVER (PARTITION BY c.change, c.segmentation, c.segment "
        f"ORDER BY c.uid), c.uid, c.segmentation, c.segment, c.change, c.score, {at} FROM {changes} AS c "
        f"JOIN ({offsets}) AS o ON o.change = c.change AND o.segmentation = c.segmentation AND o.segment = c.segment"
    )


def apply_assignments(engine: Engine, assignments: str, day: date) -> MembershipResult:
    """Record ``assignments`` (``uid, segmentation, segment, score``) as the state at ``day``."""
    ensure_tables(engine, ["memberships", "membership_changes"])
    at = stamp_sql(day)
    later = engine.scalar(f"SELECT count(*) FROM memberships WHERE entered_at > {at} OR exited_at > {at}")
    with engine.transaction():
        if later:
            engine.materialise("_rewound", rewind_sql(day))
            engine.create_table("memberships", "SELECT * FROM _rewound")
        engine.materialise("_open", "SELECT * FROM memberships WHERE exited_at IS NULL")
        engine.materialise("_changes", changes_sql(assignments))
        engine.materialise("_next", next_memberships_sql(assignments, day))
        engine.create_table("memberships", "SELECT * FROM _next")
        start = int(engine.scalar("SELECT coalesce(max(sequence), 0) FROM membership_changes"))
        engine.insert(
            "membership_changes",
            ["sequence", "uid", "segmentation", "segment", "change", "score", "changed_at"],
            numbered_changes_sql("_changes", start, at),
        )
    entered, exited = engine.fetch_rows(
        "SELECT count(*) FILTER (WHERE change = 'entered'), count(*) FILTER (WHERE change = 'exited') FROM _changes"
    )[0]
    members = int(engine.scalar("SELECT count(*) FROM memberships WHERE exited_at IS NULL"))
    return MembershipResult(members, int(entered), int(exited), bool(later))
