"""The summaries step: what the dashboard and ``personae report`` show of the segments but
should not recompute on every page, written once per run.

- ``persona_cards``: each segmentation's cards (:func:`personae.segments.personas.persona_cards_of`)
  as JSON. They take 0.7–0.8 s per segmentation on the 20,000-customer demo, far over a page's
  300 ms budget (bench/RESULTS.md, dashboard).
- ``segment_overlaps``: known customers and revenue in every pair of segments of two core
  segmentations, in one self-join of the current members the cards read, computed once
  (:func:`~personae.segments.personas.card_members`; 0.4 s per pair through ``microsegments``
  on that demo, ~0.5 s for all pairs here; at 1M customers 2.5 s, against 4-6 s when the
  members were computed again for it).
- ``segment_sizes``: known customers and anonymous profiles in every segment on every recorded
  day (the stays held at its end), for the sizes, the trend and the report's ``--as-of``: three
  scans of ``memberships`` that took 110–240 ms of a segments page's time on that demo. One
  pass over the stays, whatever the number of days (:func:`sizes_sql`).
- ``segment_flows``: the moves of known customers between the first and the latest recorded
  day in each core segmentation (``transitions`` of that pair, the page's default flows).
- ``rfm_cells``: the RFM grid (buyers and mean monetary value per recency × frequency score).

The sizes, flows and grid are rewritten by every run. The overlaps describe the latest state
(the open memberships), whatever day the run is as of. The cards are kept per day
(``as_of``), so ``personae report --as-of`` shows a past day's: a run of the latest recorded
day replaces that day's cards; a backfill run (a day before the latest) keeps them all, since
the open memberships are not that day's state.
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import ExitStack
from datetime import date

from personae.engine.base import Engine
from personae.engine.sql import day_sql, literal
from personae.engine.tables import ensure_tables
from personae.errors import PersonaeError
from personae.golden.survivorship import CUSTOMERS, KNOWN
from personae.profiles.build import require_traits
from personae.segments.memberships import recorded_days, state_sql
from personae.segments.personas import TRAITED, Personas, card_members, persona_cards_of
from personae.segments.reports import NONE
from personae.segments.specs import RULE_SEGMENTS
from personae.steps.context import RunContext, StepResult, nobody_yet

TABLES = ("persona_cards", "segment_overlaps", "segment_sizes", "segment_flows", "rfm_cells")
REWRITTEN = ("segment_overlaps", "segment_sizes", "segment_flows", "rfm_cells")


CURRENT_KNOWN = (
    f"(SELECT DISTINCT m.segmentation, m.segment, m.uid, p.revenue FROM memberships AS m "
    f"JOIN profiles AS p ON p.uid = m.uid WHERE m.exited_at IS NULL AND p.{KNOWN})"
)
"""``segmentation, segment, uid, revenue``: the known customers' current memberships, for
:func:`overlaps_sql` when there are no :func:`~personae.segments.personas.card_members`."""


def overlaps_sql(current: str) -> str:
    """``segmentation_a, segment_a, segmentation_b, segment_b, customers, revenue`` over
    ``current``, a relation of the known customers' current memberships (``segmentation,
    segment, uid, revenue``: :data:`~personae.segments.personas.TRAITED` or
    :data:`CURRENT_KNOWN`), each pair of segmentations once (a before b)."""
    kept = f"segmentation <> {literal(RULE_SEGMENTS)}"
    core = f"(SELECT uid, segmentation, segment, revenue FROM {current} AS c WHERE {kept})"
    return (
        f"SELECT a.segmentation, a.segment, b.segmentation, b.segment, count(*), "
        f"coalesce(sum(CAST(a.revenue AS DOUBLE)), 0) FROM {core} AS a JOIN {core} AS b "
        "ON a.uid = b.uid AND a.segmentation < b.segmentation GROUP BY 1, 2, 3, 4"
    )


def sizes_sql() -> str:
    """``as_of, segmentation, segment, customers, anonymous`` on each recorded day (one stay per
    person and segment at a time, as :func:`personae.dashboard.segment_views.sizes` counts).

    A stay counts on the days ``d`` with ``entered_at <= d < exited_at``: each stay adds one on
    the day it starts and takes one away on the day it ends, and a day's size is the sum of
    the changes up to it. Joining every recorded day to every stay instead cost a scan of
    ``memberships`` per day, which grows with every daily run (at 1M customers 0.85 s with 4
    days, 2.0 s with 65, against 0.4 s for both here; bench/RESULTS.md, 2026-12-07)."""
    person = "FROM memberships AS m JOIN profiles AS p ON p.uid = m.uid"
    moves = (
        f"SELECT m.segmentation, m.segment, p.{KNOWN} AS known, m.entered_at AS moved_at, 1 AS delta {person} "
        f"UNION ALL SELECT m.segmentation, m.segment, p.{KNOWN}, m.exited_at, -1 {person} "
        "WHERE m.exited_at IS NOT NULL"
    )
    by_day = (
        "SELECT segmentation, segment, moved_at, sum(CASE WHEN known THEN delta ELSE 0 END) AS known, "
        f"sum(CASE WHEN known THEN 0 ELSE delta END) AS anonymous FROM ({moves}) AS s "
        "GROUP BY segmentation, segment, moved_at"
    )
    return (
        "SELECT d.as_of, c.segmentation, c.segment, CAST(sum(c.known) AS BIGINT), CAST(sum(c.anonymous) AS BIGINT) "
        f"FROM membership_days AS d JOIN ({by_day}) AS c ON c.moved_at <= CAST(d.as_of AS TIMESTAMP) "
        "GROUP BY 1, 2, 3 HAVING sum(c.known) + sum(c.anonymous) > 0"
    )


def flows_sql(start: date, end: date) -> str:
    """``segmentation, start_day, end_day, source, target, customers``:
    :func:`personae.segments.reports.transitions` from ``start`` to ``end`` for every core
    segmentation at once."""
    known = f"uid IN (SELECT uid FROM {CUSTOMERS} AS c) AND segmentation <> {literal(RULE_SEGMENTS)}"
    return (
        f"SELECT coalesce(b.segmentation, a.segmentation), {day_sql(start)}, {day_sql(end)}, "
        f"coalesce(b.segment, {literal(NONE)}), coalesce(a.segment, {literal(NONE)}), count(*) "
        f"FROM ({state_sql(start)} AND {known}) AS b FULL OUTER JOIN ({state_sql(end)} AND {known}) AS a "
        "ON a.uid = b.uid AND a.segmentation = b.segmentation GROUP BY 1, 2, 3, 4, 5"
    )


RFM_CELLS_SQL = (
    "SELECT r, f, count(*), avg(monetary) FROM rfm_scores WHERE r IS NOT NULL AND f IS NOT NULL GROUP BY 1, 2"
)
"""``r, f, customers, monetary`` (the mean): the RFM grid's cells."""


def _write_overlaps(engine: Engine, current: str) -> int:
    return engine.insert(
        "segment_overlaps",
        ["segmentation_a", "segment_a", "segmentation_b", "segment_b", "customers", "revenue"],
        overlaps_sql(current),
    )


def _rewrite(context: RunContext, days: list[date]) -> int:
    """The sizes, flows and RFM cells of the store as it is; their rows."""
    engine = context.engine
    written = engine.insert(
        "segment_sizes", ["as_of", "segmentation", "segment", "customers", "anonymous"], sizes_sql()
    )
    if len(days) >= 2:
        written += engine.insert(
            "segment_flows",
            ["segmentation", "start_day", "end_day", "source", "target", "customers"],
            flows_sql(days[0], days[-1]),
        )
    if engine.has_table("rfm_scores"):
        written += engine.insert("rfm_cells", ["r", "f", "customers", "monetary"], RFM_CELLS_SQL)
    return written


def run(context: RunContext) -> StepResult:
    engine = context.engine
    ensure_tables(engine, TABLES)
    require_traits(engine)  # before anything is deleted
    for table in REWRITTEN:
        engine.delete_where(table, "true")
    if nobody_yet(context, "summaries") or not engine.has_table("memberships"):
        engine.delete_where("persona_cards", f"as_of = {day_sql(context.as_of)}")
        return StepResult("summaries", rows_in=0, rows_out=0, note="nothing to summarise yet")  # segment warned
    days = recorded_days(engine)
    backfill = bool(days) and context.as_of < days[-1]
    as_of = days[-1] if days else context.as_of
    names = [
        str(row[0])
        for row in engine.fetch_rows("SELECT DISTINCT segmentation FROM memberships WHERE exited_at IS NULL ORDER BY 1")
    ]
    warnings = []
    if not backfill:
        engine.delete_where("persona_cards", f"as_of = {day_sql(as_of)}")
    core = {spec.name for spec in context.config.segmentations if spec.core}  # checked exclusive
    carded: dict[str, Personas] = {}
    current = CURRENT_KNOWN
    with ExitStack() as stack:
        try:
            if names:  # the cards and the overlaps read the current members, computed once
                members = stack.enter_context(card_members(engine, names))
                current = TRAITED
                if not backfill:  # a backfill keeps the cards as they were
                    carded = persona_cards_of(engine, names, exclusive=core, members=members)
        except PersonaeError as error:  # no cards this run (a store without trait shares, say)
            if not backfill:
                warnings.append(f"summaries: no persona cards for {', '.join(names)}: {error}")
        pairs = _write_overlaps(engine, current)
    if carded:  # one statement for every segmentation's cards: on Spark each is a job
        rows = " UNION ALL ".join(
            f"SELECT {literal(name)} AS segmentation, {day_sql(as_of)} AS as_of, "
            f"{literal(json.dumps(dataclasses.asdict(cards), default=str))} AS cards"
            for name, cards in carded.items()
        )
        engine.insert("persona_cards", ["segmentation", "as_of", "cards"], rows)
    summarised = _rewrite(context, days) if days and engine.has_table("membership_days") else 0
    return StepResult(
        "summaries",
        rows_in=len(names),
        rows_out=len(carded) + pairs + summarised,
        note=(
            f"persona cards of {len(carded)} segmentations, {pairs:,} segment pairs"
            + (f"; a day before the latest ({as_of}) keeps the cards as they were" if backfill else "")
        ),
        warnings=warnings,
    )
