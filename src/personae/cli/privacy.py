"""``personae privacy erase|export``: the data subject's rights, from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from personae.cli import render
from personae.cli.format_option import FormatOption
from personae.cli.remote import Remote
from personae.cli.workspace_option import WorkspaceOption, open_workspace
from personae.errors import UsageError
from personae.rights.subject_access import counts, write_export

privacy_app = typer.Typer(
    help="Erase a person everywhere, or export everything held about one (GDPR).", no_args_is_help=True
)


def _identifiers(given: list[str] | None, file: Path | None) -> list[str]:
    found = list(given or [])
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise UsageError(f"cannot read {file}: {error.strerror}; give a file of TYPE:VALUE lines") from None
        found += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return found


@privacy_app.command()
def erase(
    identifiers: Annotated[list[str] | None, typer.Argument(help="TYPE:VALUE of each person to erase.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A file of TYPE:VALUE lines, one per person.")] = None,
    workspace: WorkspaceOption = Path("."),
    format: FormatOption = "table",
) -> None:
    """Erase each person from every table, raw copy, journal and destination, and keep them out.

    Re-ingesting old files or new events that carry their identifiers does not bring them
    back. The people named in one call are erased together, as one request with one receipt
    (under .personae/privacy/receipts/). Run with no identifier to finish an erasure that was
    interrupted (any erasure also finishes it first)."""
    wanted = _identifiers(identifiers, file)
    target = open_workspace(workspace)
    remote = Remote.of(target.root)
    if remote:
        receipts = remote.erase(wanted)
    else:
        with render.progress() as progress:
            receipts = target.erase(wanted, progress=progress)
    shown = [
        {
            "request": r.request_id,
            "identifiers": len(r.requested),
            "found": r.found,
            "people": r.people,
            "rows deleted": sum(r.tables.values()),
            "raw rows": sum(r.raw_copies.values()),
            "journal events": sum(r.journal.values()),
            "status": r.status,
        }
        for r in receipts
    ]
    if format == "json":
        render.print_json(receipts)
        return
    if not receipts:
        raise UsageError(
            "nothing to erase and no erasure left unfinished: name somebody, e.g. "
            "personae privacy erase email:jane@example.com (or --file FILE)"
        )
    render.records("erasure", shown)
    for receipt in receipts:
        for destination, said in sorted(receipt.destinations.items()):
            render.say(("destination", "cyan"), f" {destination}: {said}")
        if receipt.message:
            render.say(("note", "yellow"), f" {receipt.message}")
    render.say(("receipts", "green"), f" in {target.root / '.personae' / 'privacy' / 'receipts'}")


@privacy_app.command("export")
def export_subject(
    identifier: Annotated[str, typer.Argument(help="TYPE:VALUE of the person.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the JSON document here.")] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Everything held about one person (identifiers, records, events, traits, scores, segments
    with history, consent, destinations sent to) as one JSON document."""
    target = open_workspace(workspace)
    remote = Remote.of(target.root)
    document = remote.export_subject(identifier) if remote else target.export_subject(identifier)
    if out is None:
        typer.echo(json.dumps(document, indent=2, default=str))
        return
    write_export(document, out)
    held = counts(document)
    render.say(("exported", "green"), f" {sum(held.values())} rows from {len(held)} tables to {out}")
