"""``personae actions preview``: the next best actions the last run decided."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from personae.cli.format_option import FormatOption
from personae.cli.render import add_row, console, new_table, print_json, records, say
from personae.cli.workspace_option import WorkspaceOption, open_workspace

actions_app = typer.Typer(help="Next best actions: what the last run decided.", no_args_is_help=True)


@actions_app.command("preview")
def actions_preview(
    sample: Annotated[int, typer.Option(min=0, help="Rows of next_actions to show.")] = 10,
    workspace: WorkspaceOption = Path("."),
    format: FormatOption = "table",
) -> None:
    """People per channel and action (treated and held out), and a sample of next_actions."""
    preview = open_workspace(workspace).preview_actions(sample=sample)
    if format == "json":
        print_json(preview)
        return
    if preview.as_of is None:
        say("no next actions yet: declare [[actions]] in personae.toml and run `personae run`")
        return
    share = preview.people / preview.customers if preview.customers else 0.0
    say(f"as of {preview.as_of}: {preview.people:,} of {preview.customers:,} people have a next action ({share:.1%})")
    columns = ("channel", "action", "treated", "held out")
    counts = new_table("next actions", columns, right=columns[2:])
    for count in preview.counts:
        add_row(counts, [count.channel, count.action, f"{count.treated:,}", f"{count.held_out:,}"])
    console.print(counts)
    records("sample", preview.sample)
