"""``personae sync`` and ``personae destinations``: send changes out, and see how it went."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from personae.cli import render
from personae.cli.format_option import FormatOption
from personae.cli.remote import Remote
from personae.cli.workspace_option import WorkspaceOption, open_workspace

DestinationOption = Annotated[
    str | None, typer.Option("--destination", "-d", help="Just this destination (default: every one).")
]


def sync(
    destination: DestinationOption = None,
    workspace: WorkspaceOption = Path("."),
    format: FormatOption = "table",
) -> None:
    """Send each destination the changes since it was last sent; exit 1 when one failed."""
    target = open_workspace(workspace)
    remote = Remote.of(target.root)
    if remote:
        results = remote.sync(destination)
    else:
        with render.progress() as progress:
            results = target.sync(destination, progress=progress)
    shown = [
        {
            "destination": r.destination,
            "kind": r.kind,
            "status": r.status,
            "sent": r.sent,
            "dead_lettered": r.dead_lettered,
            "failed": r.failed,
            "cursor": r.cursor,
            "seconds": round(r.seconds, 2),
            "error": r.error,
        }
        for r in results
    ]
    if format == "json":
        render.print_json(shown)
    else:  # the reasons are sentences: said under the table, not squeezed into a column
        render.records("sync", [{k: v for k, v in line.items() if k != "error"} for line in shown])
        for line in shown:
            if line["error"]:
                render.say(("failed", "red"), f" {line['error']}")
    if any(r.status != "ok" for r in results):
        raise typer.Exit(1)


def destinations(
    workspace: WorkspaceOption = Path("."),
    dead_letters: Annotated[
        str | None, typer.Option("--dead-letters", help="Show what this destination refused for good, and why.")
    ] = None,
    format: FormatOption = "table",
) -> None:
    """Every destination: its last sync, changes sent, failed and dead-lettered, and its lag."""
    target = open_workspace(workspace)
    remote = Remote.of(target.root)
    if dead_letters is not None:
        letters = remote.dead_letters(dead_letters) if remote else target.dead_letters(dead_letters)
        if format == "json":
            render.print_json(letters)
        else:
            render.records(
                f"dead letters of {dead_letters}", [{k: v for k, v in d.items() if k != "payload"} for d in letters]
            )
        return
    shown = [
        {
            "destination": s.state.destination,
            "kind": s.state.kind,
            "mode": s.mode,
            "last_sync": s.state.last_sync_at or "never",
            "status": s.state.status,
            "sent": s.state.sent,
            "failed": s.state.failed,
            "dead_lettered": s.state.dead_lettered,
            "lag": s.lag,
            "oldest_waiting": s.oldest_waiting or "",
            "error": s.state.error,
        }
        for s in (remote.destinations() if remote else target.destinations())
    ]
    if format == "json":
        render.print_json(shown)
    else:
        render.records("destinations", [{k: v for k, v in line.items() if k != "error"} for line in shown])
        for line in shown:
            if line["error"]:
                render.say(("failed", "red"), f" {line['destination']}: {line['error']}")
