"""The summaries step: what the dashboard and ``personae report`` show of the segments but
should not recompute on every page, written once per run.

- ``persona_cards``: each segmentation's cards (:func:`personae.segments.personas.persona_cards`)
  as JSON. They take 0.7–0.8 s per segmentation on the 20,000-customer demo, far over a page's
  300 ms budget (bench/RESULTS.md, dashboard).
- ``segment_overlaps``: known customers and revenue in every pair of segments of two core
  segmentations, in one self-join of the current memberships (0.4 s per pair through
  ``microsegments`` on that demo, ~0.5 s for all pairs here).

The overlaps describe the latest state (the open memberships), whatever day the run is as of.
The cards are kept per day (``as_of``), so ``personae report --as-of`` shows a past day's: a
run of the latest recorded day replaces that day's cards; a backfill run (a day before the
latest) keeps them all, since the open memberships are not that day's state.
"""

from __future__ import annotations

import dataclasses
import json

from personae.engine.sql import day_sql, literal
from personae.engine.tables import ensure_tables
from personae.errors import PersonaeError
from personae.golden.survivorship import KNOWN
from personae.segments.memberships import recorded_days
from personae.segments.personas import persona_cards
from personae.segments.specs import RULE_SEGMENTS
from personae.steps.context import RunContext, StepResult, nobody_yet

TABLES = ("persona_cards", "segment_overlaps")


def overlaps_sql() -> str:
    """``segmentation_a, segment_a, segmentation_b, segment_b, customers, revenue`` over the
    known customers' current memberships, each pair of segmentations once (a before b)."""
    current = (
        f"SELECT DISTINCT m.uid, m.segmentation, m.segment, p.revenue FROM memberships AS m "
        f"JOIN profiles AS p ON p.uid = m.uid WHERE m.exited_at IS NULL AND p.{KNOWN} "
        f"AND m.segmentation <> {literal(RULE_SEGMENTS)}"
    )
    return (
        f"SELECT a.segmentation, a.segment, b.segmentation, b.segment, count(*), "
        f"coalesce(sum(CAST(a.revenue AS DOUBLE)), 0) FROM ({current}) AS a JOIN ({current}) AS b "
        "ON a.uid = b.uid AND a.segmentation < b.segmentation GROUP BY 1, 2, 3, 4"
    )


def run(context: RunContext) -> StepResult:
    engine = context.engine
    ensure_tables(engine, TABLES)
    engine.delete_where("segment_overlaps", "true")
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
    names_carded: list[str] = [] if backfill else names
    if not backfill:
        engine.delete_where("persona_cards", f"as_of = {day_sql(as_of)}")
    for name in names_carded:
        try:
            cards = persona_cards(engine, name)
        except PersonaeError as error:  # a segmentation without cards (no known customer in it, say)
            warnings.append(f"summaries: no persona cards for {name}: {error}")
            continue
        text = json.dumps(dataclasses.asdict(cards), default=str)
        engine.insert(
            "persona_cards",
            ["segmentation", "as_of", "cards"],
            f"SELECT {literal(name)}, {day_sql(as_of)}, {literal(text)}",
        )
    pairs = engine.insert(
        "segment_overlaps",
        ["segmentation_a", "segment_a", "segmentation_b", "segment_b", "customers", "revenue"],
        overlaps_sql(),
    )
    return StepResult(
        "summaries",
        rows_in=len(names),
        rows_out=len(names_carded) + pairs,
        note=(
            f"persona cards of {len(names_carded)} segmentations, {pairs:,} segment pairs"
            + (f"; a day before the latest ({as_of}) keeps the cards as they were" if backfill else "")
        ),
        warnings=warnings,
    )
