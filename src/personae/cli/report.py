"""``personae report [--out FILE.html]``: the overview, every segmentation and its personas as
one self-contained HTML file."""

from __future__ import annotations

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
) -> None:
    """Write the overview, every segmentation and its personas as one HTML file that works offline."""
    from personae.dashboard.report import write_report

    opened = open_workspace(workspace)
    written = write_report(opened, out or opened.root / "report.html")
    say(
        f"wrote {written.path} ({written.bytes / 1e6:.1f} MB, {written.charts} charts, "
        f"{len(written.segmentations)} segmentations, as of {written.as_of})"
    )
