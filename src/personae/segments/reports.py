"""What marketers ask of the segments: previews, transitions, microsegments, the questions.

Each function reads the store through an engine and returns plain data for the CLI (and
later the server and dashboard) to render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.errors import ModelFitError, WorkspaceError
from personae.golden.survivorship import CUSTOMERS, KNOWN
from personae.models.saved import read_model_file
from personae.rules import Rule
from personae.segments.definitions import definitions
from personae.segments.lifecycle import LifecycleThresholds
from personae.segments.memberships import recorded_days, state_sql
from personae.segments.people import PEOPLE
from personae.segments.specs import RULE_SEGMENTS
from personae.spec import did_you_mean

CURRENT = "current_memberships"
THRESHOLDS_FILE = "lifecycle.json"
REPORTS_FILE = "segment_reports.json"
"""The files (beside the models) where the segment step keeps the lifecycle thresholds and the reports."""
OTHER = "(other)"
NONE = "(none)"
SAMPLE_COLUMNS = ("uid", "orders", "revenue", "days_since_last_order", "top_category")


@dataclass(frozen=True)
class SegmentPreview:
    """What a rule would select: size, shares of customers and revenue, a few members."""

    rule: str
    size: int
    """Known customers the rule selects."""
    customers: int
    """Known customers in all (the base of the shares)."""
    anonymous: int
    """Anonymous profiles the rule also selects, not counted in the size or shares."""
    share_of_customers: float
    share_of_revenue: float
    sample: list[dict[str, Any]]
    """Rows of ``profiles`` (uid, orders, revenue, days since the last order, top category)."""


@dataclass(frozen=True)
class SegmentSummary:
    segmentation: str
    segment: str
    members: int
    """Known customers in the segment."""
    anonymous: int = 0
    """Anonymous profiles in the segment too."""
    rule: str | None = None
    """The rule of a rule segment (None for other kinds)."""
    version: int | None = None


@dataclass(frozen=True)
class TransitionCell:
    source: str
    """The segment on the first day (``(none)`` when the person had none)."""
    target: str
    count: int
    share: float
    """Of the people who were in ``source`` on the first day."""


@dataclass(frozen=True)
class Transitions:
    segmentation: str
    start: date
    end: date
    cells: list[TransitionCell]


@dataclass(frozen=True)
class MicroCell:
    segments: list[str]
    """One segment per overlaid segmentation (``(other)`` for the folded cells)."""
    customers: int
    revenue: float
    cells: int
    """How many combinations the row stands for (more than one when small ones are folded)."""
    share_of_customers: float = 0.0
    share_of_revenue: float = 0.0


@dataclass(frozen=True)
class Microsegments:
    segmentations: list[str]
    min_size: int
    customers: int
    cells: list[MicroCell]


@dataclass(frozen=True)
class Questions:
    """What the segment step learnt: the lifecycle thresholds with the numbers behind them,
    and each other segmentation's report (subscription conversion, trigger counts)."""

    lifecycle: LifecycleThresholds
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)


def _require(engine: Engine, table: str, step: str) -> None:
    if not engine.has_table(table):
        raise WorkspaceError(f"no {table} yet: run the {step} step first (`personae run`)")


def define_current(engine: Engine) -> None:
    """Name the open memberships ``current_memberships`` for rules that use ``in_segment``."""
    _require(engine, "memberships", "segment")
    engine.define(CURRENT, "SELECT uid, segmentation, segment, score FROM memberships WHERE exited_at IS NULL")


def preview(engine: Engine, rule: Rule, as_of: date, sample: int = 5) -> SegmentPreview:
    """Size of a rule's segment, its share of customers and of revenue, and a sample."""
    _require(engine, "profiles", "traits")
    define_current(engine)
    condition = f"coalesce(({rule.sql(as_of=as_of, memberships=CURRENT)}), false)"
    known = f"{condition} AND {KNOWN}"
    size, people, revenue, total, anonymous = engine.fetch_rows(
        f"SELECT count(*) FILTER (WHERE {known}), count(*) FILTER (WHERE {KNOWN}), "
        f"coalesce(sum(revenue) FILTER (WHERE {known}), 0), coalesce(sum(revenue) FILTER (WHERE {KNOWN}), 0), "
        f"count(*) FILTER (WHERE {condition} AND NOT {KNOWN}) FROM {PEOPLE}"
    )[0]
    columns = ", ".join(SAMPLE_COLUMNS)
    rows = engine.fetch_arrow(
        f"SELECT {columns} FROM {PEOPLE} WHERE {known} ORDER BY hash(uid), uid LIMIT {int(sample)}"
    ).to_pylist()
    return SegmentPreview(
        rule=rule.text,
        size=int(size),
        customers=int(people),
        anonymous=int(anonymous),
        share_of_customers=size / people if people else 0.0,
        share_of_revenue=float(revenue) / float(total) if total else 0.0,
        sample=rows,
    )


def segment_list(engine: Engine) -> list[SegmentSummary]:
    """Every segmentation's segments and every rule segment, with current sizes."""
    sizes: dict[tuple[str, str], int] = {}
    anonymous: dict[tuple[str, str], int] = {}
    if engine.has_table("memberships"):
        for segmentation, segment, count, unknown in engine.fetch_rows(
            f"SELECT m.segmentation, m.segment, count(*) FILTER (WHERE p.{KNOWN}), "
            f"count(*) FILTER (WHERE NOT p.{KNOWN}) FROM memberships AS m JOIN profiles AS p ON p.uid = m.uid "
            "WHERE m.exited_at IS NULL GROUP BY 1, 2"
        ):
            sizes[(segmentation, segment)] = int(count)
            anonymous[(segmentation, segment)] = int(unknown)
    listed = []
    rules = {d.name: d for d in definitions(engine)}
    for (segmentation, segment), count in sorted(sizes.items()):
        definition = rules.get(segment) if segmentation == RULE_SEGMENTS else None
        listed.append(
            SegmentSummary(
                segmentation,
                segment,
                count,
                anonymous[(segmentation, segment)],
                definition.rule if definition else None,
                definition.version if definition else None,
            )
        )
    for name, definition in sorted(rules.items()):
        if (RULE_SEGMENTS, name) not in sizes:
            listed.append(SegmentSummary(RULE_SEGMENTS, name, 0, 0, definition.rule, definition.version))
    return listed


def transitions(engine: Engine, segmentation: str, start: date, end: date) -> Transitions:
    """Counts and row shares of known customers moving between segments from ``start`` to ``end``."""
    _require(engine, "memberships", "segment")
    days = recorded_days(engine)
    missing = [day for day in (start, end) if day not in days]
    if missing:
        shown = ", ".join(day.isoformat() for day in days[-12:]) or "none"
        raise WorkspaceError(
            f"no segment state was recorded on {missing[0]}; states exist for {shown}"
            + (f" (and {len(days) - 12} earlier days)" if len(days) > 12 else "")
            + f"; run `personae run --as-of {missing[0]}` to record it"
        )
    known = f"uid IN (SELECT uid FROM {CUSTOMERS} AS c)"
    before = f"{state_sql(start, segmentation)} AND {known}"
    after = f"{state_sql(end, segmentation)} AND {known}"
    rows = engine.fetch_rows(
        f"SELECT coalesce(b.segment, {literal(NONE)}) AS source, coalesce(a.segment, {literal(NONE)}) AS target, "
        f"count(*) FROM ({before}) AS b FULL OUTER JOIN ({after}) AS a ON a.uid = b.uid GROUP BY 1, 2 ORDER BY 1, 2"
    )
    if not rows:
        raise WorkspaceError(
            f"no memberships of {segmentation!r} on {start} or {end}: run `personae run --as-of` on those days first"
        )
    totals: dict[str, int] = {}
    for source, _, count in rows:
        totals[source] = totals.get(source, 0) + int(count)
    cells = [
        TransitionCell(str(source), str(target), int(count), int(count) / totals[source])
        for source, target, count in rows
    ]
    return Transitions(segmentation, start, end, cells)


def microsegments(engine: Engine, segmentations: list[str], min_size: int) -> Microsegments:
    """The overlay of core segmentations over the known customers: each combination's size and
    revenue share; cells smaller than ``min_size`` are folded into one ``(other)`` row."""
    _require(engine, "memberships", "segment")
    if len(segmentations) < 2:
        raise WorkspaceError("name two or more segmentations to overlay, e.g. `personae microsegments lifecycle rfm`")
    current = "SELECT DISTINCT segmentation FROM memberships WHERE exited_at IS NULL"
    known = {row[0] for row in engine.fetch_rows(current)}
    for name in segmentations:
        if name not in known:
            raise WorkspaceError(
                f"no segmentation {name!r} in the memberships{did_you_mean(name, known)}; "
                f"segmentations are {', '.join(sorted(known))}"
            )
        if name == RULE_SEGMENTS:
            raise WorkspaceError("rule segments overlap, so they cannot be overlaid; use core segmentations")
    joins = []
    columns = []
    for index, name in enumerate(segmentations):
        alias = f"s{index}"
        columns.append(f"coalesce({alias}.segment, {literal(NONE)})")
        joins.append(
            f"LEFT JOIN (SELECT uid, segment FROM memberships WHERE exited_at IS NULL AND segmentation = "
            f"{literal(name)}) AS {alias} ON {alias}.uid = p.uid"
        )
    key = ", ".join(f"{column} AS c{index}" for index, column in enumerate(columns))
    rows = engine.fetch_rows(
        f"SELECT {key}, count(*), coalesce(sum(p.revenue), 0) FROM {CUSTOMERS} AS p {' '.join(joins)} "
        f"GROUP BY {', '.join(str(i + 1) for i in range(len(columns)))}"
    )
    people = sum(int(row[-2]) for row in rows)
    revenue = sum(float(row[-1]) for row in rows)
    kept: list[tuple[list[str], int, float, int]] = []
    folded_customers, folded_revenue, folded_cells = 0, 0.0, 0
    for row in sorted(rows, key=lambda r: (-int(r[-2]), r[:-2])):
        count, money = int(row[-2]), float(row[-1])
        if count < min_size:
            folded_customers += count
            folded_revenue += money
            folded_cells += 1
        else:
            kept.append(([str(value) for value in row[:-2]], count, money, 1))
    if folded_cells:
        kept.append(([OTHER] * len(segmentations), folded_customers, folded_revenue, folded_cells))
    cells = [
        MicroCell(
            segments,
            count,
            money,
            combined,
            count / people if people else 0.0,
            money / revenue if revenue else 0.0,
        )
        for segments, count, money, combined in kept
    ]
    return Microsegments(list(segmentations), min_size, people, cells)


def questions(models: Path) -> Questions:
    """The learnt lifecycle thresholds and the numbers behind them, and the subscription and
    trigger reports (from the last run)."""
    path = models / THRESHOLDS_FILE
    if not path.is_file():
        raise WorkspaceError("no lifecycle thresholds yet: run the pipeline first (`personae run`)")
    reports = models / REPORTS_FILE
    try:
        thresholds = LifecycleThresholds.from_dict(read_model_file(path, "lifecycle thresholds"))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFitError(f"{path}: malformed ({error!r}); delete it and run `personae run` again") from None
    return Questions(thresholds, dict(read_model_file(reports, "segment reports")) if reports.is_file() else {})
