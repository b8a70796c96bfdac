"""``personae identity …`` and ``personae profile``: identity resolution, seen by a person."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from personae.cli.format_option import FormatOption
from personae.cli.remote import Remote
from personae.cli.render import add_row, console, new_table, print_json, records, say
from personae.cli.workspace_option import WorkspaceOption, open_workspace
from personae.identity.views import Lineage

identity_app = typer.Typer(help="Identity resolution: the report, and why two records match.", no_args_is_help=True)


@identity_app.command("report")
def identity_report(workspace: WorkspaceOption = Path("."), format: FormatOption = "table") -> None:
    """Suspicious components: the largest people, links cut by limits, shared values."""
    report = open_workspace(workspace).identity_report()
    if format == "json":
        print_json(report)
        return
    say(
        f"people: {report.people:,}  identifiers: {report.identifiers}  changes: {report.changes}  "
        f"cut links: {report.cuts:,}"
    )
    records("largest people", report.largest)
    records("links cut to keep a per-type limit", report.cut_links)
    records("shared values (never used to link)", report.shared_values)
    records("malformed identifiers (kept raw in raw_<source>, never used to link)", report.malformed)
    records("fuzzy model: m and u per level (match weight = log2(m / u))", report.fuzzy_levels)
    for warning in report.fuzzy_warnings:
        say(("warning", "yellow"), f" fuzzy model: {warning}")


@identity_app.command("explain")
def identity_explain(
    first: Annotated[str, typer.Argument(help="SOURCE:RECORD_ID of a customer record.")],
    second: Annotated[str, typer.Argument(help="SOURCE:RECORD_ID of another.")],
    workspace: WorkspaceOption = Path("."),
    format: FormatOption = "table",
) -> None:
    """The match weight of each comparison for a pair of customer records."""
    weights = open_workspace(workspace).explain_match(first, second)
    if format == "json":
        print_json(weights)
        return
    records(f"{first} vs {second}", weights)


def profile(
    identifier: Annotated[str, typer.Argument(help="TYPE:VALUE, e.g. email:jane@example.com")],
    workspace: WorkspaceOption = Path("."),
    format: FormatOption = "table",
) -> None:
    """One person's 360° view: golden record with sources, identifiers, records, recent events."""
    target = open_workspace(workspace)
    remote = Remote.of(target.root)
    view = remote.profile(identifier) if remote else target.profile(identifier)
    if format == "json":
        print_json(view)
        return
    golden = new_table(f"person {view.uid}", ("attribute", "value", "source", "as of"))
    for name, value in view.golden.items():
        if isinstance(value, Lineage):
            add_row(golden, [name, value.value, value.source, value.at])
        else:
            add_row(golden, [name, value, None, None])
    console.print(golden)
    records("identifiers", view.identifiers)
    say("records per source: " + ", ".join(f"{s} {n:,}" for s, n in sorted(view.records.items())))
    records("segments", view.segments)
    if view.scores:
        say("scores: " + ", ".join(f"{name} {value}" for name, value in view.scores.items()))
    records("next actions", view.next_actions)
    records("recent events", view.events)
