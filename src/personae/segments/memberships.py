"""Segment memberships with history, and the change feed destinations consume.

``memberships(uid, segmentation, segment, score, entered_at, exited_at)`` holds one row per
stay in a segment, and ``membership_days`` every as-of day whose state was recorded: the
history is a timeline that changes only on those days. Recording the assignments of day
``D`` replaces the state at ``D`` and nothing else, whatever order days come in:

- a key (person, segmentation, segment) in the state before ``D`` but not in the new one
  leaves at ``D`` and, when a later day is recorded, comes back at the next recorded day
  ``N`` (the state there is unchanged);
- a key new at ``D`` stays from ``D`` until ``N`` (or on, when ``D`` is the latest day),
  joined to a stay that ended at ``D`` or began at ``N``.

So a backfill run at a past day adds that day's state to the timeline without rewinding
what later runs recorded, and ``transitions`` between any two recorded days reads states
that no replay destroyed. Only a change to the latest state (``D`` at or after the latest
recorded day) goes to ``membership_changes``, with an increasing ``sequence``: a backfill
does not flip destinations back to the past.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from personae.engine.base import Engine
from personae.engine.dialects import has
from personae.engine.sql import day_sql, literal, matching_sql
from personae.engine.tables import ensure_tables

KEY = "o.uid = a.uid AND o.segmentation = a.segmentation AND o.segment = a.segment"
STAY = "uid, segmentation, segment, score, entered_at, exited_at"


@dataclass(frozen=True)
class MembershipResult:
    members: int
    """People-segment memberships in the latest state."""
    entered: int
    exited: int
    """Entries and exits of the latest state (0 for a backfill of a past day)."""
    backfill: bool
    """The day came before the latest recorded one: its state joined the timeline, the feed is unchanged."""


def stamp_sql(day: date) -> str:
    return f"CAST({day_sql(day)} AS TIMESTAMP)"


def held_sql(day: date, columns: str = STAY) -> str:
    """The stays that held at the end of a day."""
    at = stamp_sql(day)
    return f"SELECT {columns} FROM memberships WHERE entered_at <= {at} AND (exited_at IS NULL OR exited_at > {at})"


def state_sql(day: date, segmentation: str | None = None) -> str:
    """The memberships that held at the end of a day: ``uid, segmentation, segment, score``."""
    held = held_sql(day, "uid, segmentation, segment, score")
    return f"{held} AND segmentation = {literal(segmentation)}" if segmentation is not None else held


_ENDS = (
    "SELECT DISTINCT CAST(day AS DATE) AS as_of FROM (SELECT entered_at AS day FROM memberships "
    "UNION SELECT exited_at FROM memberships) AS e WHERE day IS NOT NULL"
)
"""A store from before the days were kept: the days its stays begin and end on."""


def recorded_days(engine: Engine) -> list[date]:
    """The as-of days whose state the history holds, in order (reads only)."""
    if engine.has_table("membership_days"):
        source = "membership_days"
    elif engine.has_table("memberships"):
        source = f"({_ENDS}) AS e"
    else:
        return []
    return [row[0] for row in engine.fetch_rows(f"SELECT DISTINCT as_of FROM {source} ORDER BY 1")]


def _keep_days(engine: Engine) -> None:
    """Create ``membership_days`` (from the stays' ends when the history predates it)."""
    if not engine.has_table("membership_days"):
        upgrading = engine.has_table("memberships")
        ensure_tables(engine, ["membership_days"])
        if upgrading:
            engine.insert("membership_days", ["as_of"], _ENDS)


@dataclass(frozen=True)
class StayParts:
    """What recording a day does to the stays (see :func:`stay_parts`)."""

    touched: str
    """``uid, segmentation, segment, entered_at`` of the stored stays that end or join."""
    kept: str
    """Every other stored stay, with the new score where it goes on at the latest day."""
    new: str
    """The stays that replace the touched ones."""


def next_stays_sql(assignments: str, day: date, following: date | None) -> str:
    """Every stay after recording ``assignments`` as the state at ``day``; ``following`` is
    the next recorded day after it (None when ``day`` is the latest). Reads ``_old`` (the
    stays that held at ``day``) and ``_changes``."""
    parts = stay_parts(assignments, day, following)
    return f"{parts.kept} UNION ALL {parts.new}"


def stay_parts(assignments: str, day: date, following: date | None) -> StayParts:
    """The parts of :func:`next_stays_sql`: the stays it keeps, the ones it replaces and their
    replacements."""
    at = stamp_sql(day)
    n = stamp_sql(following) if following else "CAST(NULL AS TIMESTAMP)"
    left = f"SELECT * FROM memberships WHERE exited_at = {at}"
    right = f"SELECT * FROM memberships WHERE entered_at = {n}" if following else f"{left} AND false"
    touched = (
        "SELECT o.uid, o.segmentation, o.segment, o.entered_at FROM memberships AS o "
        "JOIN _changes AS a ON " + KEY + " WHERE "
        f"(a.change = 'exited' AND o.entered_at <= {at} AND (o.exited_at IS NULL OR o.exited_at > {at})) "
        f"OR (a.change = 'entered' AND (o.exited_at = {at} OR o.entered_at = {n}))"
    )
    kept = (
        f"SELECT o.uid, o.segmentation, o.segment, o.score, o.entered_at, o.exited_at FROM memberships AS o "
        f"LEFT JOIN ({touched}) AS t ON t.uid = o.uid AND t.segmentation = o.segmentation "
        "AND t.segment = o.segment AND t.entered_at = o.entered_at WHERE t.uid IS NULL"
    )
    if following is None:  # the latest state: the scores of stays that go on are the new ones
        kept = (
            "SELECT k.uid, k.segmentation, k.segment, CASE WHEN k.exited_at IS NULL THEN coalesce(a.score, k.score) "
            f"ELSE k.score END AS score, k.entered_at, k.exited_at FROM ({kept}) AS k "
            f"LEFT JOIN {assignments} AS a ON a.uid = k.uid AND a.segmentation = k.segmentation "
            "AND a.segment = k.segment"
        )
    before = (  # a leaver's stay up to the day
        f"SELECT o.uid, o.segmentation, o.segment, o.score, o.entered_at, {at} AS exited_at "
        f"FROM _old AS o JOIN _changes AS a ON {KEY} WHERE a.change = 'exited' AND o.entered_at < {at}"
    )
    after = (  # and back from the next recorded day, where the state is unchanged
        f"SELECT o.uid, o.segmentation, o.segment, o.score, {n} AS entered_at, o.exited_at "
        f"FROM _old AS o JOIN _changes AS a ON {KEY} WHERE a.change = 'exited' "
        f"AND {n} IS NOT NULL AND (o.exited_at IS NULL OR o.exited_at > {n})"
    )
    joined = (  # an entrant's stay from the day (or from an earlier stay that ended on it) to the next day
        "SELECT a.uid, a.segmentation, a.segment, a.score, coalesce(l.entered_at, "
        f"{at}) AS entered_at, CASE WHEN r.uid IS NOT NULL THEN r.exited_at ELSE {n} END AS exited_at "
        f"FROM _changes AS a LEFT JOIN ({left}) AS l ON l.uid = a.uid AND l.segmentation = a.segmentation "
        f"AND l.segment = a.segment LEFT JOIN ({right}) AS r ON r.uid = a.uid AND r.segmentation = a.segmentation "
        "AND r.segment = a.segment WHERE a.change = 'entered'"
    )
    return StayParts(touched, kept, f"{before} UNION ALL {after} UNION ALL {joined}")


def changes_sql(assignments: str) -> str:
    """``uid, segmentation, segment, change, score`` between the stays that held at the day
    (``_old``) and ``assignments``: a key only in ``_old`` exited, one only in ``assignments``
    entered. One full join finds both; two anti-joins (one each way) read both relations
    twice, which on Spark is two shuffles of every membership (twelve million at 1M
    customers)."""
    return (
        "SELECT coalesce(o.uid, a.uid) AS uid, coalesce(o.segmentation, a.segmentation) AS segmentation, "
        "coalesce(o.segment, a.segment) AS segment, "
        "CASE WHEN o.uid IS NULL THEN 'entered' ELSE 'exited' END AS change, "
        "CASE WHEN o.uid IS NULL THEN a.score ELSE o.score END AS score "
        f"FROM _old AS o FULL OUTER JOIN {assignments} AS a ON {KEY} WHERE o.uid IS NULL OR a.uid IS NULL"
    )


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


def _record_in_place(engine: Engine, assignments: str, day: date, following: date | None) -> None:
    """:func:`next_stays_sql` applied to the stored table instead of writing it again (12M
    rows at 1M customers): the touched stays deleted, their replacements inserted and, at the
    latest day, the new scores of the stays that go on set where they changed."""
    parts = stay_parts(assignments, day, following)
    engine.materialise("_new_stays", parts.new)
    engine.materialise("_touched_stays", parts.touched)
    engine.delete_where(
        "memberships", matching_sql("_touched_stays", "memberships", ("uid", "segmentation", "segment", "entered_at"))
    )
    if following is None:
        engine.execute(
            f"UPDATE memberships SET score = a.score FROM {assignments} AS a WHERE memberships.exited_at IS NULL "
            "AND a.uid = memberships.uid AND a.segmentation = memberships.segmentation "
            "AND a.segment = memberships.segment AND a.score IS NOT NULL AND a.score IS DISTINCT FROM memberships.score"
        )
    engine.insert("memberships", STAY.split(", "), f"SELECT {STAY} FROM _new_stays ORDER BY uid")


def apply_assignments(engine: Engine, assignments: str, day: date, *, rewrite: bool = False) -> MembershipResult:
    """Record ``assignments`` (``uid, segmentation, segment, score``) as the state at ``day``.

    On DuckDB the stored stays are changed in place (:func:`_record_in_place`); the table is
    written again, in person order (its declared clustering, for lookups), when it is empty,
    with ``rewrite`` (``personae run --full``) and on Spark. In-place changes append rows,
    so the person order decays until such a run."""
    _keep_days(engine)
    ensure_tables(engine, ["memberships", "membership_changes"])
    recorded = recorded_days(engine)
    later = [other for other in recorded if other > day]
    following = later[0] if later else None
    at = stamp_sql(day)
    with engine.transaction():
        engine.materialise("_old", held_sql(day))
        engine.materialise("_changes", changes_sql(assignments))
        if has(engine.name, "delete", "transactions") and not rewrite and engine.row_count("memberships"):
            _record_in_place(engine, assignments, day, following)
        else:
            engine.materialise("_next", next_stays_sql(assignments, day, following))
            engine.create_table("memberships", f"SELECT {STAY} FROM _next")
        if day not in recorded:  # a day run again is recorded already (on Spark a write each)
            engine.insert("membership_days", ["as_of"], f"SELECT {day_sql(day)}")
        if following is None:
            start = int(engine.scalar("SELECT coalesce(max(sequence), 0) FROM membership_changes"))
            engine.insert(
                "membership_changes",
                ["sequence", "uid", "segmentation", "segment", "change", "score", "changed_at"],
                numbered_changes_sql("_changes", start, at),
            )
    entered, exited, members = engine.fetch_rows(  # one query: on Spark each is a job
        "SELECT count(*) FILTER (WHERE change = 'entered'), count(*) FILTER (WHERE change = 'exited'), "
        "(SELECT count(*) FROM memberships WHERE exited_at IS NULL) FROM _changes"
    )[0]
    if following is not None:
        entered = exited = 0
    return MembershipResult(int(members), int(entered), int(exited), following is not None)


@dataclass(frozen=True)
class MembershipChange:
    """One entry or exit of the feed destinations and ``GET /v1/changes`` read."""

    sequence: int
    uid: str
    segmentation: str
    segment: str
    change: str
    """``entered`` or ``exited``."""
    score: float | None
    changed_at: datetime


def changes_after(
    engine: Engine, after: int = 0, *, segmentation: str | None = None, limit: int = 1000
) -> list[MembershipChange]:
    """The feed after sequence ``after``, in order, at most ``limit`` entries."""
    if not engine.has_table("membership_changes"):
        return []
    where = f"sequence > {int(after)}"
    if segmentation is not None:
        where += f" AND segmentation = {literal(segmentation)}"
    rows = engine.fetch_rows(
        "SELECT sequence, uid, segmentation, segment, change, score, changed_at FROM membership_changes "
        f"WHERE {where} ORDER BY sequence LIMIT {int(limit)}"
    )
    return [MembershipChange(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), r[5], r[6]) for r in rows]
