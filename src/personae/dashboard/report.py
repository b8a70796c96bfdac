"""``personae report``: the overview, every segmentation and its personas in one HTML file,
with its styles, the ECharts script and the data inline, to share with people who do not run
personae. It makes no request when opened (its Content-Security-Policy forbids any).

``--as-of DAY`` shows the segmentations and personas as they stood at the end of a past day:
the memberships keep every stay, so the sizes, trend, overlaps and flows are read from the
stays that held then (the state changes only on recorded days: a day between two shows the
earlier one's), and the persona cards from the ones the run of that day kept. The overview's
people, sources, quarantine and runs have no history: they are the store as it is now, and the
report says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from personae import __version__
from personae.dashboard.pages import overview_page, stored_personas
from personae.dashboard.render import REPORT_CSP, inline_assets, render
from personae.dashboard.segment_views import segmentation_names, segmentation_view
from personae.engine.base import Engine
from personae.errors import WorkspaceError
from personae.segments.memberships import recorded_days
from personae.segments.specs import RULE_SEGMENTS
from personae.workspace import Workspace


@dataclass(frozen=True)
class Report:
    path: Path
    as_of: str | None
    segmentations: list[str]
    charts: int
    bytes: int
    state_of: str | None = None
    """The recorded day whose segment state is shown (None: the latest)."""


def past_day(store: Engine, wanted: date, today: date) -> date | None:
    """The recorded day whose state holds at the end of ``wanted``: None when that is the latest
    state (the report of now); a day before the first recorded one or after ``today`` is an error."""
    days = recorded_days(store)
    if not days:
        raise WorkspaceError("nothing to report yet: run the pipeline first (`personae run`)")
    held = "; the store holds segment states for " + _listed(days)
    if wanted > today:
        raise WorkspaceError(f"--as-of {wanted} is in the future (today is {today}){held}")
    if wanted < days[0]:
        raise WorkspaceError(
            f"--as-of {wanted} is before the first recorded day ({days[0]}){held}; "
            f"record an earlier day with `personae run --as-of {wanted}`"
        )
    shown = max(day for day in days if day <= wanted)
    return None if shown == days[-1] else shown


def _listed(days: list[date]) -> str:
    if len(days) <= 12:
        return ", ".join(day.isoformat() for day in days)
    return f"{len(days)} days from {days[0]} to {days[-1]} (the latest: {', '.join(d.isoformat() for d in days[-5:])})"


def write_report(workspace: Workspace, out: Path, as_of: date | None = None) -> Report:
    """Write the report to ``out`` (a ``.partial`` file renamed when complete); the segmentations
    and personas as of the end of ``as_of`` when given (see :func:`past_day`), else now."""
    overview = overview_page(workspace, None, None)["overview"]
    if overview is None or not overview.ran:
        raise WorkspaceError("nothing to report yet: run the pipeline first (`personae run`)")
    sections: list[dict[str, Any]] = []
    with workspace.engine(write=False) as store:
        day = past_day(store, as_of, datetime.now(UTC).date()) if as_of is not None else None
        names = segmentation_names(store, day)
        views = [segmentation_view(store, name, as_of=day) for name in names]
    for view in views:
        personas = stored_personas(workspace, view.segmentation, day) if view.segmentation != RULE_SEGMENTS else None
        if personas is None and day is not None and view.segmentation != RULE_SEGMENTS:
            view.notes.append(
                f"No persona cards were kept for {day}: a run keeps the cards of its day when that day is the "
                "latest recorded one, and the run of this day predates them or was a backfill."
            )
        sections.append({"view": view, "personas": personas})
    assets: dict[str, Any] = {**inline_assets(), "csp": REPORT_CSP}
    shown_as_of = as_of.isoformat() if as_of is not None else overview.as_of
    html = render(
        "report.html",
        title=f"personae report as of {shown_as_of}",
        as_of=shown_as_of,
        state_of=day.isoformat() if day is not None else overview.as_of,
        past=day is not None,
        navigation=(),
        current=None,
        problem=None,
        inline=assets,
        overview=overview,
        sections=sections,
        made_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
        version=__version__,
        workspace=workspace.config.workspace.name or workspace.root.name,
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(out)
    charts = len(overview.charts) + sum(len(s["view"].charts) for s in sections)
    return Report(out, shown_as_of, names, charts, len(html.encode()), day.isoformat() if day else None)
