"""How the CLI shows results: Rich tables and messages for people, plain CSV/JSON for programs.

Everything shown comes from data (customer records, source and file names, segment names,
a user's own SQL), so no text of it ever reaches Rich as markup. A string handed to
``console.print`` or to a table is parsed for Rich markup (``[pos, web]`` vanished,
``[/x]`` crashed) and emoji codes (``a:x:b`` became ``a❌b``), and control characters
went to the terminal as they were (``\\x1b[31m`` turned it red, ``\\r`` overwrote the line).
So every value goes through :func:`visible` (control characters escaped the way Python
writes them) into a Rich ``Text``, which is never parsed: :func:`cell` for a table cell,
title or header (where a newline stays a line break inside the cell), :func:`say` for a
message line (where it is escaped too, so the message keeps to one line). A backslash is left as it is, so a value
holding the four characters ``\\x1b`` looks like one holding an escape; for such doubts
``--format json`` gives the data exactly.

Data goes to stdout; the progress bar and spinners go to stderr, so ``--format json`` or
``csv`` output can be piped whatever the terminal shows meanwhile.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
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
from rich.text import Text

from personae.status import WorkspaceStatus
from personae.workspace import RunReport, Workspace

MAX_TABLE_ROWS = 1_000
console = Console()
err_console = Console(stderr=True)

_UNSEEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""What a terminal interprets rather than shows: C0 and C1 controls, DEL, the Unicode line and
paragraph separators, and the bidirectional embeddings, overrides and isolates (which reorder
what follows them on screen)."""
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNSEEN_IN_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""The same, less what ``json.dumps`` escapes itself (below U+0020); its layout has newlines."""


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def visible(value: Any) -> str:
    """``value`` as text that a terminal shows and never interprets (None is empty).

    >>> visible("a\\x1b[31mb\\tc")
    'a\\\\x1b[31mb\\\\tc'
    >>> visible(datetime(2024, 3, 1, 9, 30))
    '2024-03-01 09:30:00'
    """
    return _UNSEEN.sub(_escaped, _text(value))


def cell(value: Any, style: str = "") -> Text:
    """A value for a table cell, header or title: Rich ``Text``, so markup and emoji codes stay text.

    A newline stays a line break: Rich keeps it inside the cell (a query plan, an address);
    only a message (:func:`line`) must keep to its one line.
    """
    return Text("\n".join(_UNSEEN.sub(_escaped, part) for part in _text(value).split("\n")), style=style)


def line(*parts: Any) -> Text:
    """One message: each part is data shown as it is, except ``(label, style)`` pairs, the
    fixed words personae styles (``("warning", "yellow")``)."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            label, style = part
            text.append(label, style=style)
        else:
            text.append(visible(part))
    return text


def say(*parts: Any) -> None:
    """Print one message line on stdout (see :func:`line`)."""
    console.print(line(*parts))


def new_table(title: Any, columns: Sequence[Any], *, right: Sequence[Any] = (), **options: Any) -> Table:
    """A table whose title and headers are data (a segmentation, a SQL column name), not markup;
    ``options`` go to Rich's ``Table``."""
    shown = Table(title=cell(title) if title is not None else None, **options)
    for column in columns:
        shown.add_column(cell(column), justify="right" if column in right else "left")
    return shown


def add_row(table: Table, values: Sequence[Any]) -> None:
    """A row of values, each shown as it is (an already built ``Text`` is kept, for its style)."""
    table.add_row(*[value if isinstance(value, Text) else cell(value) for value in values])


def status(message: str) -> AbstractContextManager[Any]:
    return err_console.status(cell(message))


@contextmanager
def progress() -> Iterator[Callable[[str, int, int], None]]:
    bar = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    task = bar.add_task("starting", total=None)

    def update(label: str, done: int, total: int) -> None:
        bar.update(task, description=visible(label), completed=done, total=total)

    with bar:
        yield update


def created(workspace: Workspace) -> None:
    say(("created", "green"), f" {workspace.root} with {len(workspace.config.sources)} sources")
    say("next: ", (f"personae run --workspace {visible(workspace.root)}", "bold"))


def run_summary(report: RunReport) -> None:
    columns = ("source", "kind", "files", "skipped", "failed", "rows read", "loaded", "quarantined", "duplicates")
    table = new_table(f"run {report.run_id} · as of {report.as_of} · {report.engine}", columns, right=columns[2:])
    for source in report.sources:
        skipped = sum(1 for file in source.files if file.status == "skipped")
        failed = sum(1 for file in source.files if file.status == "failed")
        totals = ("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate")
        add_row(
            table,
            [source.name, source.kind, len(source.files), skipped, failed, *(f"{source.total(t):,}" for t in totals)],
        )
    console.print(table)
    for step in report.steps:
        note = f" ({step.note})" if step.note else ""
        say(f"{step.name}: {step.rows_in:,} rows in, {step.rows_out:,} out, {step.seconds:.1f}s{note}")
    for step in report.steps:
        for warning in step.warnings:
            say(("warning", "yellow"), f" {warning}")
    for error in report.errors:
        say(("error", "bold red"), f" {error}")


def run_json(report: RunReport) -> None:
    print_json({**report.summary(), "sources": plain(report.sources)})


def table(result: pa.Table, fmt: str) -> None:
    rows = result.to_pylist()
    if fmt == "json":
        print_json(rows)
        return
    if fmt == "csv":  # for programs: the values exactly, control characters included
        writer = csv.writer(sys.stdout)
        writer.writerow(result.column_names)
        writer.writerows([[_csv_value(row[name]) for name in result.column_names] for row in rows])
        return
    view = new_table(None, result.column_names)
    for row in rows[:MAX_TABLE_ROWS]:
        add_row(view, [row[name] for name in result.column_names])
    console.print(view)
    if len(rows) > MAX_TABLE_ROWS:
        say(f"({len(rows):,} rows; showing {MAX_TABLE_ROWS:,}; use --format csv for all)")


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return "" if value is None else value


def plain(data: Any) -> Any:
    """Results as plain data for JSON: dataclasses (and lists of them) become dicts."""
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return dataclasses.asdict(data)
    if isinstance(data, list):
        return [plain(item) for item in data]
    return data


def print_json(data: Any) -> None:
    """Any result as indented JSON on stdout (dates as ISO text, decimals as text), the data exactly.

    Unicode stays readable; the characters a terminal would interpret are written as JSON
    escapes (``json`` itself escapes only those below U+0020).
    """
    text = json.dumps(plain(data), default=json_default, indent=1, ensure_ascii=False)
    sys.stdout.write(_UNSEEN_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", text) + "\n")


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def workspace_status(state: WorkspaceStatus) -> None:
    headers = ("source", "kind", "files", "rows loaded", "quarantined", "field issues", "last loaded")
    sources = new_table("sources", headers)
    for source in state.sources:
        add_row(
            sources,
            [
                source.name,
                source.kind,
                source.files,
                f"{source.rows_loaded:,}",
                f"{source.quarantined:,}",
                f"{source.field_issues:,}",
                source.last_loaded,
            ],
        )
    console.print(sources)
    if state.last_run:
        run = state.last_run
        say(f"last run: {run.run_id} at {visible(run.started_at)}, as of {run.as_of}, {run.engine}, {run.status}")
    else:
        say("last run: none yet")
    if state.customers or state.anonymous:
        say(f"people: {state.customers:,} known customers, {state.anonymous:,} anonymous profiles")
    if state.imports:
        columns = ("segmentation", "source", "conflicts policy", "rows", "members", "kept ours", "forced", "unresolved")
        imports = new_table("imported memberships", columns, right=columns[3:])
        for item in state.imports:
            counts = (item.rows, item.members, item.kept_ours, item.forced_theirs, item.unresolved)
            add_row(imports, [item.segmentation, item.source, item.policy, *(f"{n:,}" for n in counts)])
        console.print(imports)
    sizes = new_table("tables", ("table", "rows"), right=("rows",))
    for name, count in state.tables.items():
        add_row(sizes, [name, f"{count:,}"])
    console.print(sizes)


def records(title: str, rows: Sequence[Any]) -> None:
    """A titled table of dicts or dataclasses (one column per key of the first)."""
    rows = [plain(row) for row in rows]
    if not rows:
        say(f"{title}: none")
        return
    shown = new_table(title, list(rows[0]))
    for row in rows:
        add_row(shown, list(row.values()))
    console.print(shown)
