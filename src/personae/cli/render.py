"""How the CLI shows results: Rich tables, progress, and plain CSV/JSON for pipes."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from personae.status import WorkspaceStatus
from personae.workspace import RunReport, Workspace

FORMATS = ("table", "csv", "json")
MAX_TABLE_ROWS = 1_000
console = Console()


def status(message: str) -> AbstractContextManager[Any]:
    return console.status(message)


@contextmanager
def progress() -> Iterator[Callable[[str, int, int], None]]:
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task("starting", total=None)

    def update(label: str, done: int, total: int) -> None:
        bar.update(task, description=label, completed=done, total=total)

    with bar:
        yield update


def created(workspace: Workspace) -> None:
    console.print(f"[green]created[/] {workspace.root} with {len(workspace.config.sources)} sources")
    console.print(f"next: [bold]personae run --workspace {workspace.root}[/]")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def run_summary(report: RunReport) -> None:
    table = Table(title=f"run {report.run_id} · as of {report.as_of} · {report.engine}")
    columns = ("source", "kind", "files", "skipped", "failed", "rows read", "loaded", "quarantined", "duplicates")
    for column in columns:
        table.add_column(column, justify="left" if column in ("source", "kind") else "right")
    for source in report.sources:
        skipped = sum(1 for file in source.files if file.status == "skipped")
        failed = sum(1 for file in source.files if file.status == "failed")
        table.add_row(
            source.name,
            source.kind,
            f"{len(source.files)}",
            f"{skipped}",
            f"{failed}",
            f"{source.total('rows_read'):,}",
            f"{source.total('rows_loaded'):,}",
            f"{source.total('rows_quarantined'):,}",
            f"{source.total('rows_duplicate'):,}",
        )
    console.print(table)
    for step in report.steps:
        console.print(f"{step.name}: {step.rows_in:,} rows in, {step.rows_out:,} out, {step.seconds:.1f}s")
    for step in report.steps:
        for warning in step.warnings:
            console.print(f"[yellow]warning[/] {warning}", highlight=False)
    for error in report.errors:
        console.print(f"[bold red]error[/] {error}", highlight=False)


def table(result: pa.Table, fmt: str) -> None:
    rows = result.to_pylist()
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, default=json_default, indent=1) + "\n")
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(result.column_names)
        writer.writerows([[cell(row[name]) for name in result.column_names] for row in rows])
        return
    view = Table(show_lines=False)
    for name in result.column_names:
        view.add_column(name)
    for row in rows[:MAX_TABLE_ROWS]:
        view.add_row(*[cell(row[name]) for name in result.column_names])
    console.print(view)
    if len(rows) > MAX_TABLE_ROWS:
        console.print(f"({len(rows):,} rows; showing {MAX_TABLE_ROWS:,}; use --format csv for all)")


def plain(data: Any) -> Any:
    """Results as plain data for JSON: dataclasses (and lists of them) become dicts."""
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return dataclasses.asdict(data)
    if isinstance(data, list):
        return [plain(item) for item in data]
    return data


def print_json(data: Any) -> None:
    """Any result as indented JSON on stdout (dates as ISO text, decimals as text)."""
    console.print_json(json.dumps(plain(data), default=json_default))


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def workspace_status(state: WorkspaceStatus) -> None:
    sources = Table(title="sources")
    for column in ("source", "kind", "files", "rows loaded", "quarantined", "last loaded"):
        sources.add_column(column)
    for source in state.sources:
        sources.add_row(
            source.name,
            source.kind,
            f"{source.files}",
            f"{source.rows_loaded:,}",
            f"{source.quarantined:,}",
            cell(source.last_loaded),
        )
    console.print(sources)
    if state.last_run:
        run = state.last_run
        console.print(
            f"last run: {run.run_id} at {cell(run.started_at)}, as of {cell(run.as_of)}, {run.engine}, {run.status}"
        )
    else:
        console.print("last run: none yet")
    sizes = Table(title="tables")
    sizes.add_column("table")
    sizes.add_column("rows", justify="right")
    for name, count in state.tables.items():
        sizes.add_row(name, f"{count:,}")
    console.print(sizes)


def records(title: str, rows: Sequence[Any]) -> None:
    """A titled table of dicts or dataclasses (one column per key of the first)."""
    rows = [plain(row) for row in rows]
    if not rows:
        console.print(f"{title}: none")
        return
    shown = Table(title=title)
    for column in rows[0]:
        shown.add_column(column)
    for row in rows:
        shown.add_row(*[cell(value) for value in row.values()])
    console.print(shown)
