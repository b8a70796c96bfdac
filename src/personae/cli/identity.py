"""``personae identity …`` and ``personae profile``: identity resolution, seen by a person."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from personae.cli.render import cell, console, print_json, records
from personae.cli.workspace_option import WorkspaceOption, open_workspace
from personae.identity.views import Lineage

identity_app = typer.Typer(help="Identity resolution: the report, and why two records match.", no_args_is_help=True)


@identity_app.command("report")
def identity_report(workspace: WorkspaceOption = Path(".")) -> None:
    """Suspicious components: the largest people, links cut by limits, shared values."""
    report = open_workspace(workspace).identity_report()
    console.print(
        f"people: {report.people:,}  identifiers: {report.identifiers}  changes: {report.changes}  "
        f"cut links: {report.cuts:,}"
    )
    records("largest people", report.largest)
    records("links cut to keep a per-type limit", report.cut_links)
    records("shared values (never used to link)", report.shared_values)
    records("malformed identifiers (kept raw in raw_<source>, never used to link)", report.malformed)


@identity_app.command("explain")
def identity_explain(
    first: Annotated[str, typer.Argument(help="SOURCE:RECORD_ID of a customer record.")],
    second: Annotated[str, typer.Argument(help="SOURCE:RECORD_ID of another.")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """The match weight of each comparison for a pair of customer records."""
    records(f"{first} vs {second}", open_workspace(workspace).explain_match(first, second))


def profile(
    identifier: Annotated[str, typer.Argument(help="TYPE:VALUE, e.g. email:jane@example.com")],
    workspace: WorkspaceOption = Path("."),
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """One person's 360° view: golden record with sources, identifiers, records, recent events."""
    view = open_workspace(workspace).profile(identifier)
    if format == "json":
        print_json(view)
        return
    golden = Table(title=f"person {view.uid}")
    for column in ("attribute", "value", "source", "as of"):
        golden.add_column(column)
    for name, value in view.golden.items():
        if isinstance(value, Lineage):
            golden.add_row(name, cell(value.value), cell(value.source), cell(value.at))
        else:
            golden.add_row(name, cell(value), "", "")
    console.print(golden)
    records("identifiers", view.identifiers)
    console.print("records per source: " + ", ".join(f"{s} {n:,}" for s, n in sorted(view.records.items())))
    records("segments", view.segments)
    if view.scores:
        console.print(
            "scores: " + ", ".join(f"{name} {cell(value)}" for name, value in view.scores.items()), highlight=False
        )
    records("recent events", view.events)
