"""``personae segment …``, ``questions``, ``transitions`` and ``microsegments``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer

from personae.cli.format_option import FormatOption
from personae.cli.remote import Remote
from personae.cli.render import add_row, cell, console, new_table, print_json, records, say
from personae.cli.workspace_option import WorkspaceOption, open_workspace

segment_app = typer.Typer(help="Rule segments: add, remove, preview, list, show.", no_args_is_help=True)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date; use YYYY-MM-DD", param_hint=option) from None


def _percent(share: float) -> str:
    return f"{share:.1%}"


@segment_app.command("add")
def segment_add(
    name: Annotated[str, typer.Argument(help="Segment name (lower case, digits, _).")],
    rule: Annotated[str, typer.Argument(help='The rule, e.g. "revenue_365d > 1000 and email_opt_in".')],
    description: Annotated[str, typer.Option(help="What the segment is for.")] = "",
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Add a rule segment, or a new version of one; members are assigned on the next run (and,
    while a server runs, as events arrive)."""
    target = open_workspace(workspace)
    remote = Remote.of(target.root)
    added = (remote or target).add_segment(name, rule, description=description)
    if added is None:
        say(f"segment {name!r} is unchanged")
    elif remote:
        say(
            ("saved", "green"),
            f" segment {name!r} version {added.version}; the server applies it to each person an event "
            "touches, and the next run (POST /v1/admin/runs) to everyone",
        )
    else:
        say(("saved", "green"), f" segment {name!r} version {added.version}; `personae run` assigns it")


@segment_app.command("remove")
def segment_remove(
    name: Annotated[str, typer.Argument(help="A rule segment added with `personae segment add`.")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Take a rule segment out of force; its members leave it on the next run (its history stays)."""
    target = open_workspace(workspace)
    removed = (Remote.of(target.root) or target).remove_segment(name)
    say(("removed", "green"), f" segment {removed.name!r} (version {removed.version}); `personae run` closes it")


@segment_app.command("preview")
def segment_preview(
    rule: Annotated[str, typer.Argument(help="The rule to try.")],
    sample: Annotated[int, typer.Option(min=0, help="People to show.")] = 5,
    workspace: WorkspaceOption = Path("."),
    format: FormatOption = "table",
) -> None:
    """How many customers a rule selects, their share of customers and revenue, and a sample."""
    result = open_workspace(workspace).preview_segment(rule, sample=sample)
    if format == "json":
        print_json(result)
        return
    say(
        f"{result.size:,} of {result.customers:,} known customers ({_percent(result.share_of_customers)}), "
        f"{_percent(result.share_of_revenue)} of revenue"
        + (f"; it also selects {result.anonymous:,} anonymous profiles, not counted" if result.anonymous else "")
    )
    records("sample", result.sample)


@segment_app.command("list")
def segment_list(workspace: WorkspaceOption = Path("."), format: FormatOption = "table") -> None:
    """Every segment with its current members (rule segments with their rule and version)."""
    listed = open_workspace(workspace).segments()
    if format == "json":
        print_json(listed)
        return
    records("segments", listed)


@segment_app.command("show")
def segment_show(
    name: Annotated[str, typer.Argument(help="A rule segment.")],
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL that selects its members.")] = True,
    dialect: Annotated[Literal["duckdb", "spark"], typer.Option(help="duckdb or spark.")] = "duckdb",
    workspace: WorkspaceOption = Path("."),
    format: FormatOption = "table",
) -> None:
    """The SQL of a rule segment, in DuckDB's or Spark's dialect."""
    members_sql = open_workspace(workspace).segment_sql(name, dialect=dialect)
    if format == "json":
        print_json({"segment": name, "dialect": dialect, "sql": members_sql})
        return
    console.print(cell(members_sql), soft_wrap=True)


def questions(workspace: WorkspaceOption = Path("."), format: FormatOption = "table") -> None:
    """The lifecycle thresholds learnt from the data, with the numbers behind them."""
    answers = open_workspace(workspace).questions()
    if format == "json":
        print_json(answers)
        return
    learnt = answers.lifecycle
    title = f"what the data says (as of {learnt.as_of}, {learnt.buyers:,} buyers)"
    shown = new_table(title, ("question", "answer", "how it was found"))
    mean_gap = learnt.mean_gap_days
    per_buyer = learnt.orders_per_buyer or 0.0
    add_row(
        shown,
        [
            "how often do customers buy?",
            f"every {mean_gap:.0f} days; {per_buyer:.2f} orders per buyer" if mean_gap else "not enough repeat orders",
            "mean gap between consecutive orders",
        ],
    )
    labels = {
        "after how many orders is a customer loyal?": learnt.loyal_orders,
        "what makes a VIP?": learnt.vip_value,
        "when is a customer at risk?": learnt.at_risk_days,
        "when is a customer dormant?": learnt.dormant_days,
    }
    for label, threshold in labels.items():
        add_row(shown, [label, f"{threshold.value:,.2f} {threshold.unit}".replace(".00 ", " "), threshold.basis])
    console.print(shown)
    records(
        "chance of another order by orders so far",
        [{"orders": k, "people": n, "chance of another": _percent(p)} for k, n, p in learnt.repeat_curve[:12]],
    )
    records(
        "share of repeat orders that came after a longer gap",
        [{"days": d, "share": _percent(p)} for d, p in learnt.gap_survival],
    )
    subscription = next((r for r in answers.reports.values() if "trials" in r), None)
    if subscription and subscription["trials"]:
        lag = subscription["trial_to_paid_median_days"]
        say(
            f"subscriptions: {subscription['trials']:,} trials, {subscription['converted']:,} converted "
            f"({_percent(subscription['conversion_rate'])}), median trial-to-paid lag "
            f"{'n/a' if lag is None else f'{lag:.0f} days'}; at risk = {subscription['at_risk_rule']}"
        )
    triggers = next((r for r in answers.reports.values() if "eligible" in r), None)
    if triggers:
        records(
            f"purchase triggers (buyers with at least {triggers['min_orders']} orders: {triggers['eligible']:,})",
            [
                {
                    "segment": name,
                    "trait": item["trait"],
                    "threshold": item["threshold"],
                    "members": item["members"],
                    "median among eligible": item["median_among_eligible"],
                }
                for name, item in triggers.items()
                if isinstance(item, dict)
            ],
        )


def models(workspace: WorkspaceOption = Path("."), format: FormatOption = "table") -> None:
    """The saved models: as-of date, rows, parameters in brief, and validation numbers."""
    found = open_workspace(workspace).models()
    if format == "json":
        print_json(found)
        return
    shown = new_table("models (models/*.json)", ("model", "as of", "rows", "used", "parameters", "quality"))
    for item in found:
        add_row(shown, [item.model, item.as_of, item.rows, "yes" if item.used else "no", item.summary, item.quality])
    console.print(shown)
    for item in found:
        if not item.used:
            say(("not used", "yellow"), f" {item.model}: {item.why}")
    stability = next((item.stability for item in found if item.model == "lifestyle"), None)
    if stability:
        records("lifestyle: choice of k", stability)


def transitions(
    segmentation: Annotated[str, typer.Argument(help="A core segmentation, e.g. lifecycle.")],
    start: Annotated[str, typer.Option("--from", help="First as-of date (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="Second as-of date (YYYY-MM-DD).")],
    workspace: WorkspaceOption = Path("."),
    format: FormatOption = "table",
) -> None:
    """The transition matrix between two as-of dates: counts and shares of each row."""
    result = open_workspace(workspace).transitions(segmentation, _day(start, "--from"), _day(end, "--to"))
    if format == "json":
        print_json(result)
        return
    sources = sorted({c.source for c in result.cells})
    targets = sorted({c.target for c in result.cells})
    found = {(c.source, c.target): c for c in result.cells}
    title = f"{segmentation}: {result.start} → {result.end} (count, share of the row)"
    shown = new_table(title, ["from \\ to", *targets], right=targets)
    for source in sources:
        row = [source]
        for target in targets:
            item = found.get((source, target))
            row.append(f"{item.count:,} ({_percent(item.share)})" if item else "")
        add_row(shown, row)
    console.print(shown)


def microsegments(
    segmentations: Annotated[list[str], typer.Argument(help="Two or more core segmentations.")],
    min_size: Annotated[int, typer.Option(min=1, help="Cells smaller than this are folded into (other).")] = 50,
    workspace: WorkspaceOption = Path("."),
    format: FormatOption = "table",
) -> None:
    """The overlay of segmentations: size and revenue share of every combination."""
    result = open_workspace(workspace).microsegments(segmentations, min_size=min_size)
    if format == "json":
        print_json(result)
        return
    title = f"{' × '.join(segmentations)} ({result.customers:,} known customers, min size {min_size})"
    shown = new_table(title, [*segmentations, "customers", "share", "revenue share"])
    for item in result.cells:
        label: list[object] = list(item.segments)
        if item.cells > 1:
            label[0] = f"(other: {item.cells} cells)"
        shares = (_percent(item.share_of_customers), _percent(item.share_of_revenue))
        add_row(shown, [*label, f"{item.customers:,}", *shares])
    console.print(shown)
