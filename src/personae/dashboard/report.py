"""``personae report``: the overview, every segmentation and its personas in one HTML file,
with its styles, the ECharts script and the data inline, to share with people who do not run
personae. It makes no request when opened (its Content-Security-Policy forbids any)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from personae import __version__
from personae.dashboard.pages import overview_page, stored_personas
from personae.dashboard.render import REPORT_CSP, inline_assets, render
from personae.dashboard.segment_views import segmentation_names, segmentation_view
from personae.errors import WorkspaceError
from personae.segments.specs import RULE_SEGMENTS
from personae.workspace import Workspace


@dataclass(frozen=True)
class Report:
    path: Path
    as_of: str | None
    segmentations: list[str]
    charts: int
    bytes: int


def write_report(workspace: Workspace, out: Path) -> Report:
    """Write the report to ``out`` (a ``.partial`` file renamed when complete)."""
    overview = overview_page(workspace, None, None)["overview"]
    if overview is None or not overview.ran:
        raise WorkspaceError("nothing to report yet: run the pipeline first (`personae run`)")
    sections: list[dict[str, Any]] = []
    with workspace.engine(write=False) as store:
        names = segmentation_names(store)
        views = [segmentation_view(store, name) for name in names]
    for view in views:
        personas = stored_personas(workspace, view.segmentation) if view.segmentation != RULE_SEGMENTS else None
        sections.append({"view": view, "personas": personas})
    assets: dict[str, Any] = {**inline_assets(), "csp": REPORT_CSP}
    html = render(
        "report.html",
        title=f"personae report as of {overview.as_of}",
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
    return Report(out, overview.as_of, names, charts, len(html.encode()))
