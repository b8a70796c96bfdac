"""``personae serve``: the tracking, profile, change-feed and admin API (and, later, the dashboard)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from personae.cli.render import say
from personae.cli.workspace_option import WorkspaceOption, open_workspace


def serve(
    workspace: WorkspaceOption = Path("."),
    host: Annotated[str | None, typer.Option(help="Address to bind (default: [server] host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default: [server] port, 8000).")] = None,
) -> None:
    """Serve the workspace: Segment-compatible tracking, profiles, the change feed, admin."""
    from personae.server import create_app
    from personae.server.serving import Serving

    target = open_workspace(workspace)
    settings = target.config.server
    host, port = host or settings.host, port or settings.port
    url = f"http://{host}:{port}"
    live = [spec.name for spec in target.config.sources if spec.live]
    with target.open(command=f"personae serve ({url})"):
        serving = Serving(create_app(target, url=url), host, port, http_server=settings.http_server)
        serving.check_address()
        say(("serving", "green"), f" {target.root} on {url} (API docs: {url}/docs); Ctrl-C stops")
        if not live:
            say('no live source yet: add one to personae.toml ([[sources]] kind = "events", live = true)')
        elif settings.live and target.config.workspace.as_of is not None:
            day = target.config.workspace.as_of
            say(
                f"live processing works as of {day} ([workspace] as_of): events dated after that day are "
                "stored but count in traits and segments only from a later as_of"
            )
        serving.run()
    say("stopped")
