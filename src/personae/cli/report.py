"""``personae report [--out FILE.html] [--as-of DATE]``: the overview, every segmentation and its
personas as one self-contained HTML file."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from personae.cli.render import say
from personae.cli.workspace_option import WorkspaceOption, open_workspace


def report(
    workspace: WorkspaceOption = Path("."),
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="The HTML file to write (default: report.html in the workspace).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Show the segments and personas as they stood at the end of this date (YYYY-MM-DD); default: now.",
        ),
    ] = None,
) -> None:
    """Write the overview, every segmentation and its personas as one HTML file that works offline."""
    from personae.dashboard.report import write_report

    day = _day(as_of) if as_of is not None else None
    opened = open_workspace(workspace)
    written = write_report(opened, out or opened.root / "report.html", as_of=day)
    state = f", the state recorded on {written.state_of}" if written.state_of else ""
    say(
        f"wrote {written.path} ({written.bytes / 1e6:.1f} MB, {written.charts} charts, "
        f"{len(written.segmentations)} segmentations, as of {written.as_of}{state})"
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date; use YYYY-MM-DD", param_hint="--as-of") from None
