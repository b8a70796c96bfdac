"""The Typer application and its commands: init, run, sql, status, migrate."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from personae import __version__
from personae.cli import render
from personae.cli.actions import actions_app
from personae.cli.audit import audit
from personae.cli.destinations import destinations, sync
from personae.cli.experiments import experiments_app
from personae.cli.format_option import FormatOption, RowsFormatOption
from personae.cli.identity import identity_app, profile
from personae.cli.keys import keys_app
from personae.cli.personas import personas
from personae.cli.privacy import privacy_app
from personae.cli.remote import Remote
from personae.cli.report import report
from personae.cli.segments import microsegments, models, questions, segment_app, transitions
from personae.cli.serve import serve
from personae.cli.workspace_option import WorkspaceOption, open_workspace
from personae.pipeline import STEP_NAMES
from personae.workspace import Workspace

app = typer.Typer(
    name="personae",
    help="One view of every customer, and segments every system can use.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(shown: bool) -> None:
    if shown:
        render.say(f"personae {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """One view of every customer, and segments every system can use."""


app.add_typer(identity_app, name="identity")
app.add_typer(keys_app, name="keys")
app.add_typer(actions_app, name="actions")
app.add_typer(experiments_app, name="experiments")
app.add_typer(privacy_app, name="privacy")
app.command()(serve)
app.command()(profile)
app.add_typer(segment_app, name="segment")
app.command()(questions)
app.command()(models)
app.command()(transitions)
app.command()(microsegments)
app.command()(personas)
app.command()(sync)
app.command()(destinations)
app.command()(audit)
app.command()(report)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")],
    demo: Annotated[bool, typer.Option(help="Generate the demo world's data and sources.")] = False,
    customers: Annotated[int, typer.Option(min=10, help="People in the demo world.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the demo world.")] = 7,
) -> None:
    """Create a workspace: personae.toml, a data/ folder, and with --demo a demo world."""
    with render.status(f"creating workspace {directory}" + (" with demo data" if demo else "")):
        workspace = Workspace.init(directory, demo=demo, customers=customers, seed=seed)
    render.created(workspace)


@app.command()
def run(
    workspace: WorkspaceOption = Path("."),
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Compute as of this date (YYYY-MM-DD); default: [workspace] as_of, else today."),
    ] = None,
    engine: Annotated[str | None, typer.Option(help="duckdb or spark (default: personae.toml).")] = None,
    only: Annotated[str | None, typer.Option(help=f"Run just this step: {', '.join(STEP_NAMES)}.")] = None,
    format: FormatOption = "table",
    full: Annotated[
        bool, typer.Option("--full", help="Recompute every step for everyone (runs are incremental by default).")
    ] = False,
) -> None:
    """Run the pipeline: ingest, identity, golden records, traits, segments."""
    day = _parse_date(as_of) if as_of else None
    target = open_workspace(workspace, engine)
    with render.progress() as progress:
        report = target.run(as_of=day, engine=engine, only=only, progress=progress, full=full)
    if format == "json":
        render.run_json(report)
    else:
        _say_migrated(target)
        render.run_summary(report)
    if report.errors:
        raise typer.Exit(1)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One read-only query (DuckDB dialect).")],
    workspace: WorkspaceOption = Path("."),
    format: RowsFormatOption = "table",
    engine: Annotated[str | None, typer.Option(help="duckdb or spark (default: personae.toml).")] = None,
) -> None:
    """Query the store: its tables and views, raw_<source> included; no other file."""
    target = open_workspace(workspace, engine)
    remote = Remote.of(target.root) if engine is None else None
    result = remote.sql(query) if remote else target.sql(query, engine=engine)
    render.table(result, format)


@app.command()
def status(workspace: WorkspaceOption = Path("."), format: FormatOption = "table") -> None:
    """Sources, rows loaded and quarantined, the last run, and table sizes."""
    target = open_workspace(workspace)
    remote = Remote.of(target.root)
    state = remote.status() if remote else target.status()
    if format == "json":
        render.print_json(state)
    else:
        render.workspace_status(state)


@app.command()
def migrate(workspace: WorkspaceOption = Path(".")) -> None:
    """Bring the store to this personae's schema version (every command that writes does it first)."""
    target = open_workspace(workspace)
    if Remote.of(target.root):
        render.say(f"{target.root} is held by a server, which migrated the store when it started")
        return
    report = target.migrate()
    if not _say_migrated(target):
        state = "new" if report.before is None else "up to date"
        render.say(f"the store is {state}, at schema version {report.after}")


def _say_migrated(target: Workspace) -> bool:
    """Say what opening the store to write did to its schema version, if it did anything."""
    report = target.last_migration
    if report is None or not report.migrated:
        return False
    render.say(f"migrated the store from schema version {report.before} to {report.after}")
    for change in report.changes:
        render.say(f"  {change}")
    return True


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date; use YYYY-MM-DD", param_hint="--as-of") from None
