"""``personae experiments report NAME``: treated against held out, with an honest verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from personae.activation.experiments import ArmReport, ExperimentReport
from personae.activation.uplift import NO_EFFECT, SIGNIFICANT_DROP, SIGNIFICANT_UPLIFT, TOO_SMALL
from personae.cli.format_option import FormatOption
from personae.cli.render import add_row, console, new_table, print_json, say
from personae.cli.workspace_option import WorkspaceOption, open_workspace

experiments_app = typer.Typer(help="Holdout experiments of actions and destinations.", no_args_is_help=True)


def _amount(report: ExperimentReport, value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:+.1%}" if report.outcome == "conversion" else f"{value:+,.2f}"


def _mean(report: ExperimentReport, arm: ArmReport) -> str:
    return _amount(report, arm.mean).lstrip("+")


@experiments_app.command("report")
def experiments_report(
    name: Annotated[str, typer.Argument(help="An action (or a destination with a holdout).")],
    outcome: Annotated[
        Literal["conversion", "revenue"], typer.Option(help="conversion (any order) or revenue (their sum).")
    ] = "conversion",
    window: Annotated[int, typer.Option(min=1, help="Days after entry the outcome is counted over.")] = 30,
    workspace: WorkspaceOption = Path("."),
    format: FormatOption = "table",
) -> None:
    """The uplift of the treated over the held out, with its 95% confidence interval and both arms' sizes."""
    report = open_workspace(workspace).experiment_report(name, outcome=outcome, window=window)
    if format == "json":
        print_json(report)
        return
    say(
        f"{report.kind} {report.experiment}: {report.outcome} within {report.window_days} days of entry, "
        f"holdout {report.share:.0%}, windows ended by {report.observed_until}"
    )
    per_person = "conversion rate" if report.outcome == "conversion" else "revenue per person"
    columns = ("arm", "people", "converted", "revenue", per_person)
    arms = new_table(None, columns, right=columns[1:])
    for label, arm in (("treated", report.treated), ("held out", report.held_out)):
        add_row(arms, [label, f"{arm.size:,}", f"{arm.converted:,}", f"{arm.revenue:,.2f}", _mean(report, arm)])
    console.print(arms)
    if report.pending:
        say(f"{report.pending:,} more entered too recently for their window to have ended; not counted")
    uplift = report.uplift
    if uplift.estimate is not None and uplift.low is not None and uplift.high is not None:
        say(
            f"uplift: {_amount(report, uplift.estimate)} "
            f"(95% CI {_amount(report, uplift.low)} to {_amount(report, uplift.high)})"
            + (f", p = {uplift.p_value:.3g}" if uplift.p_value is not None else "")
        )
    styles = {SIGNIFICANT_UPLIFT: "bold green", SIGNIFICANT_DROP: "bold red", NO_EFFECT: "yellow", TOO_SMALL: "yellow"}
    if uplift.verdict == NO_EFFECT:
        say((NO_EFFECT, styles[NO_EFFECT]), ": the interval contains 0, so the data cannot tell the arms apart")
    elif uplift.verdict == TOO_SMALL:
        say(("warning", "yellow"), f" {TOO_SMALL}: no effect can be claimed")
        for reason in uplift.reasons:
            say(f"  - {reason}")
    else:
        say((uplift.verdict, styles[uplift.verdict]), ": the 95% interval excludes 0")
