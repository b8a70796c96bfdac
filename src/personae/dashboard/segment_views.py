"""The segments page's numbers for one segmentation: sizes now, the trend over the recorded
days, the overlap with another segmentation, the flows between two days, the RFM grid.

Reads ``memberships`` (a row per stay), ``membership_days``, ``profiles`` and ``rfm_scores``:
tables of people, not of events. The same view as of a past recorded day (``personae report
--as-of``) reads the stays that held at the end of that day instead of the open ones; the RFM
grid has no history (``rfm_scores`` holds the latest scores), so it is left out there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from personae.dashboard import charts
from personae.engine.base import Engine
from personae.engine.sql import day_sql, literal
from personae.errors import WorkspaceError
from personae.golden.survivorship import KNOWN
from personae.segments.definitions import definitions
from personae.segments.memberships import recorded_days, stamp_sql
from personae.segments.reports import microsegments, transitions
from personae.segments.specs import RULE_SEGMENTS
from personae.steps.summaries import RFM_CELLS_SQL


@dataclass
class SegmentationView:
    segmentation: str
    segmentations: list[str]
    """Every segmentation with current members (for the picker)."""
    sizes: list[dict[str, Any]] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    against: str | None = None
    start: str | None = None
    end: str | None = None
    as_of: str | None = None
    """The past recorded day shown, or None for the latest state."""
    summarised: str | None = None
    """The day of the run whose summary tables the view read (None: counted from the memberships)."""
    notes: list[str] = field(default_factory=list)
    """What a chart could not show, and what to do about it."""
    charts: dict[str, charts.Option] = field(default_factory=dict)


def holding_sql(day: date | None, alias: str = "m") -> str:
    """The condition on a stay of ``memberships AS alias``: open (``day`` None), or held at the end of ``day``."""
    if day is None:
        return f"{alias}.exited_at IS NULL"
    at = stamp_sql(day)
    return f"{alias}.entered_at <= {at} AND ({alias}.exited_at IS NULL OR {alias}.exited_at > {at})"


def summary_day(store: Engine, days: list[date] | None = None) -> date | None:
    """The latest recorded day when the summaries step's tables describe it (a run ended with
    it), else None: then the pages count from ``memberships`` and ``rfm_scores`` themselves."""
    days = recorded_days(store) if days is None else days
    if not days or not store.has_table("segment_sizes"):
        return None
    return days[-1] if store.scalar("SELECT max(as_of) FROM segment_sizes") == days[-1] else None


def segmentation_names(store: Engine, day: date | None = None, summary: date | None = None) -> list[str]:
    """The segmentations with members now, or at the end of a past recorded ``day``."""
    if summary is not None:
        return [
            str(row[0])
            for row in store.fetch_rows(
                f"SELECT DISTINCT segmentation FROM segment_sizes WHERE as_of = {day_sql(day or summary)} ORDER BY 1"
            )
        ]
    if not store.has_table("memberships"):
        return []
    return [
        str(row[0])
        for row in store.fetch_rows(
            f"SELECT DISTINCT segmentation FROM memberships AS m WHERE {holding_sql(day)} ORDER BY 1"
        )
    ]


def segmentation_view(
    store: Engine,
    segmentation: str | None,
    against: str | None = None,
    start: str | None = None,
    end: str | None = None,
    as_of: date | None = None,
) -> SegmentationView:
    """Everything the segments page draws for ``segmentation`` (the first one when None); as
    of the past recorded day ``as_of`` when given (the report's ``--as-of``), else now."""
    recorded = recorded_days(store)
    summary = summary_day(store, recorded)
    names = segmentation_names(store, as_of, summary)
    if not names:
        raise WorkspaceError("no segments yet: run the pipeline first (`personae run`)")
    chosen = segmentation if segmentation in names else names[0]
    if segmentation is not None and segmentation not in names:
        raise WorkspaceError(f"no segmentation {segmentation!r}; segmentations are {', '.join(names)}")
    view = SegmentationView(chosen, names, as_of=as_of.isoformat() if as_of else None)
    view.summarised = summary.isoformat() if summary is not None else None
    view.sizes = sizes(store, chosen, as_of, summary)
    view.charts["sizes"] = charts.bars(
        f"{chosen}: known customers per segment",
        [row["segment"] for row in view.sizes],
        [row["members"] for row in view.sizes],
        name="customers",
    )
    days = [day for day in recorded if as_of is None or day <= as_of]
    view.days = [day.isoformat() for day in days]
    _trend(store, view, days, summary)
    if chosen != RULE_SEGMENTS:
        _overlap(store, view, against, as_of)
        _flows(store, view, days, start, end, summary if as_of is None else None)
    if chosen == "rfm" and store.has_table("rfm_scores"):
        if as_of is None:
            view.charts["rfm"] = rfm_grid(store, summary)
        else:
            view.notes.append("The RFM grid shows the latest scores only (the store keeps no history of them).")
    return view


def sizes(
    store: Engine, segmentation: str, day: date | None = None, summary: date | None = None
) -> list[dict[str, Any]]:
    """Known customers and anonymous profiles in each segment now (or at the end of ``day``), largest
    first; read from ``segment_sizes`` when the summaries hold the latest day (``summary``)."""
    if summary is not None:
        rows = store.fetch_rows(
            "SELECT segment, customers, anonymous FROM segment_sizes WHERE "
            f"as_of = {day_sql(day or summary)} AND segmentation = {literal(segmentation)} ORDER BY 2 DESC, 1"
        )
        return [{"segment": str(s), "members": int(n), "anonymous": int(a)} for s, n, a in rows]
    rows = store.fetch_rows(
        f"SELECT m.segment, count(*) FILTER (WHERE p.{KNOWN}), "  # one stay per person and segment at a time
        f"count(*) FILTER (WHERE NOT p.{KNOWN}) FROM memberships AS m JOIN profiles AS p ON p.uid = m.uid "
        f"WHERE {holding_sql(day)} AND m.segmentation = {literal(segmentation)} GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    return [{"segment": str(s), "members": int(n), "anonymous": int(a)} for s, n, a in rows]


def rule_segments(store: Engine) -> list[dict[str, Any]]:
    """Every rule segment in force: its rule, version and known customers now (0 before a run assigns it)."""
    counts = {row["segment"]: row["members"] for row in sizes(store, RULE_SEGMENTS, summary=summary_day(store))}
    return [
        {"segment": d.name, "rule": d.rule, "version": d.version, "members": counts.get(d.name, 0)}
        for d in sorted(definitions(store), key=lambda d: d.name)
    ]


def _trend(store: Engine, view: SegmentationView, days: list[date], summary: date | None) -> None:
    if len(days) < 2:
        view.notes.append(
            "The trend needs two or more recorded days; record an earlier one with `personae run --as-of YYYY-MM-DD`."
        )
    if not days:
        return
    if summary is not None:
        rows = store.fetch_rows(
            "SELECT as_of, segment, customers FROM segment_sizes "
            f"WHERE segmentation = {literal(view.segmentation)} AND customers > 0"
        )
    else:
        rows = _trend_counts(store, view.segmentation)
    counts = {(str(day), str(segment)): int(n) for day, segment, n in rows}
    segments = sorted({segment for _, segment in counts})
    view.charts["trend"] = charts.lines(
        f"{view.segmentation}: customers per segment on each recorded day",
        view.days,
        {segment: [counts.get((day, segment), 0) for day in view.days] for segment in segments},
        y_name="customers",
    )


def _trend_counts(store: Engine, segmentation: str) -> list[tuple[Any, ...]]:
    """``(day, segment, known customers)`` on every recorded day, counted from ``memberships``."""
    return (
        store.fetch_rows(
            "SELECT d.as_of, m.segment, count(*) FROM membership_days AS d JOIN (SELECT segment, entered_at, exited_at "
            f"FROM memberships WHERE segmentation = {literal(segmentation)} "
            f"AND uid IN (SELECT uid FROM profiles WHERE {KNOWN})) AS m "
            "ON m.entered_at <= CAST(d.as_of AS TIMESTAMP) "
            "AND (m.exited_at IS NULL OR m.exited_at > CAST(d.as_of AS TIMESTAMP)) GROUP BY 1, 2"
        )
        if store.has_table("membership_days")
        else []
    )


def _overlap(store: Engine, view: SegmentationView, against: str | None, day: date | None) -> None:
    others = [name for name in view.segmentations if name not in (view.segmentation, RULE_SEGMENTS)]
    if not others:
        return
    view.against = against if against in others else ("lifecycle" if "lifecycle" in others else others[0])
    if day is not None:  # a past day: the summary holds the latest state only
        cells = past_overlap_cells(store, view.segmentation, view.against, day)
    elif store.has_table("segment_overlaps") and store.row_count("segment_overlaps"):
        cells = overlap_cells(store, view.segmentation, view.against)
    else:  # a store from before the summaries step: computed now
        overlay = microsegments(store, [view.segmentation, view.against], min_size=1)
        cells = [(c.segments[0], c.segments[1], c.customers) for c in overlay.cells]
    view.charts["overlap"] = overlap_heatmap(view.segmentation, view.against, cells)


def overlap_cells(store: Engine, first: str, second: str) -> list[tuple[str, str, int]]:
    """``(segment of first, segment of second, customers)`` from the run's ``segment_overlaps``."""
    a, b = sorted((first, second))
    rows = store.fetch_rows(
        "SELECT segment_a, segment_b, customers FROM segment_overlaps "
        f"WHERE segmentation_a = {literal(a)} AND segmentation_b = {literal(b)}"
    )
    flip = a != first
    return [(str(y), str(x), int(n)) if flip else (str(x), str(y), int(n)) for x, y, n in rows]


def past_overlap_cells(store: Engine, first: str, second: str, day: date) -> list[tuple[str, str, int]]:
    """``(segment of first, segment of second, customers)``: known customers' stays held at the end of ``day``."""

    def held(name: str) -> str:
        return (
            f"SELECT DISTINCT m.uid, m.segment FROM memberships AS m JOIN profiles AS p ON p.uid = m.uid "
            f"WHERE p.{KNOWN} AND m.segmentation = {literal(name)} AND {holding_sql(day)}"
        )

    rows = store.fetch_rows(
        f"SELECT a.segment, b.segment, count(*) FROM ({held(first)}) AS a JOIN ({held(second)}) AS b "
        "ON a.uid = b.uid GROUP BY 1, 2"
    )
    return [(str(x), str(y), int(n)) for x, y, n in rows]


def overlap_heatmap(first: str, second: str, found: list[tuple[str, str, int]]) -> charts.Option:
    xs = sorted({x for x, _, _ in found})
    ys = sorted({y for _, y, _ in found})
    cells = [(xs.index(x), ys.index(y), float(n)) for x, y, n in found]
    return charts.heatmap(f"Overlap of {first} and {second} (customers)", xs, ys, cells, x_name=first, y_name=second)


def _flows(
    store: Engine, view: SegmentationView, days: list[date], start: str | None, end: str | None, summary: date | None
) -> None:
    if len(days) < 2:
        view.notes.append(
            "Flows between two dates need two recorded days; run `personae run --as-of YYYY-MM-DD` at an earlier day."
        )
        return
    known = [day.isoformat() for day in days]
    view.start = start if start in known else known[0]
    view.end = end if end in known and end != view.start else known[-1]
    first, last = date.fromisoformat(view.start), date.fromisoformat(view.end)
    if summary is not None and (first, last) == (days[0], summary):  # the default pair, kept by the run
        cells = [
            (str(source), str(target), int(n))
            for source, target, n in store.fetch_rows(
                f"SELECT source, target, customers FROM segment_flows WHERE segmentation = "
                f"{literal(view.segmentation)} AND start_day = {day_sql(first)} AND end_day = {day_sql(last)} "
                "ORDER BY 1, 2"
            )
        ]
    else:
        cells = [(c.source, c.target, c.count) for c in transitions(store, view.segmentation, first, last).cells]
    links = [(f"{source} ({view.start})", f"{target} ({view.end})", n) for source, target, n in cells]
    view.charts["flows"] = charts.sankey(f"{view.segmentation}: from {view.start} to {view.end}", links)


def rfm_grid(store: Engine, summary: date | None = None) -> charts.Option:
    """Recency score × frequency score, each cell's customers printed, coloured by their mean
    monetary value (the run's ``rfm_cells`` when the summaries hold the latest day)."""
    if summary is not None and store.has_table("rfm_cells"):
        rows = store.fetch_rows("SELECT r, f, customers, monetary FROM rfm_cells")
    else:
        rows = store.fetch_rows(RFM_CELLS_SQL)
    scores = [str(score) for score in range(1, 6)]
    cells = [(int(f) - 1, int(r) - 1, round(float(money or 0), 2)) for r, f, _, money in rows]
    labels = [(int(f) - 1, int(r) - 1, f"{int(n)}") for r, f, n, _ in rows]
    option = charts.heatmap(
        "RFM grid: customers per recency × frequency score, coloured by mean monetary value",
        scores,
        scores,
        cells,
        x_name="frequency",
        y_name="recency",
        labels=labels,
    )
    return option
