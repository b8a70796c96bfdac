"""``personae keys create|list|revoke``: the access keys of the tracking API and the server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from personae.cli.format_option import FormatOption
from personae.cli.render import print_json, records, say
from personae.cli.workspace_option import WorkspaceOption, open_workspace

keys_app = typer.Typer(help="Access keys: write keys for tracking, read and admin tokens.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help="write (tracking, for one source), read, or admin.")],
    source: Annotated[str | None, typer.Option(help="The source a write key sends events for.")] = None,
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'website'.")] = "",
    workspace: WorkspaceOption = Path("."),
    format: FormatOption = "table",
) -> None:
    """Make a key and print its secret, once: personae keeps only its SHA-256."""
    key, secret = open_workspace(workspace).create_key(scope, name=name, source=source)
    if format == "json":
        print_json({"id": key.id, "name": key.name, "scope": key.scope, "source": key.source, "secret": secret})
        return
    say(("created", "green"), f" {key.scope} key {key.id} ({key.name}); its secret, shown this once:")
    say(secret)


@keys_app.command("list")
def keys_list(workspace: WorkspaceOption = Path("."), format: FormatOption = "table") -> None:
    """Every key with its scope, source and dates (never a secret)."""
    shown = [
        {
            "id": key.id,
            "name": key.name,
            "scope": key.scope,
            "source": key.source or "",
            "created": key.created_at,
            "revoked": key.revoked_at or "",
        }
        for key in open_workspace(workspace).key_ring.entries()
    ]
    if format == "json":
        print_json(shown)
        return
    records("keys", shown)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, as `personae keys list` shows it.")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Revoke a key: it stops working at once, also in a running server."""
    key = open_workspace(workspace).key_ring.revoke(key_id)
    say(("revoked", "green"), f" key {key.id} ({key.name}) at {key.revoked_at}")
