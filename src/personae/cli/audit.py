"""``personae audit``: read the audit log (key use, profile reads, destination sends,
configuration changes, erasures and exports), newest first; through a running server when
one holds the workspace."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from personae.cli import render
from personae.cli.format_option import FormatOption
from personae.cli.remote import Remote
from personae.cli.workspace_option import WorkspaceOption, open_workspace
from personae.privacy.audit import ACTIONS


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date; use YYYY-MM-DD", param_hint="--since") from None


def audit(
    workspace: WorkspaceOption = Path("."),
    since: Annotated[str | None, typer.Option("--since", help="From this day on (YYYY-MM-DD).")] = None,
    action: Annotated[str | None, typer.Option("--action", help=f"Just one action: {', '.join(ACTIONS)}.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many rows (newest first).")] = 100,
    format: FormatOption = "table",
) -> None:
    """The audit log, newest first: who did what, when (never a secret or a clear identifier)."""
    day = _day(since)
    target = open_workspace(workspace)
    remote = Remote.of(target.root)
    rows = (
        remote.audit(since=day, action=action, limit=limit)
        if remote
        else target.audit(since=day, action=action, limit=limit)
    )
    if format == "json":
        render.print_json(rows)
        return
    render.records("audit log", [_shown(row) for row in rows])


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """A row for people: hashes and details cut short (``--format json`` has them whole)."""
    target = str(row["target"])
    detail = ", ".join(f"{key}={_brief(value)}" for key, value in sorted(row["detail"].items()) if key != "parts")
    return {
        "at": str(row["at"])[:19],
        "action": row["action"],
        "actor": row["actor"],
        "target": target[:19] + "…" if target.startswith("sha256:") else target,
        "detail": detail if len(detail) <= 60 else detail[:59] + "…",
    }


def _brief(value: Any) -> str:
    return (
        ",".join(map(str, value))
        if isinstance(value, list)
        else json.dumps(value)
        if isinstance(value, dict)
        else str(value)
    )
