"""The ``--workspace`` option every command takes, and how a command opens its workspace."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from personae.workspace import Workspace

WorkspaceOption = Annotated[
    Path, typer.Option("--workspace", "-w", help="The workspace folder.", envvar="PERSONAE_WORKSPACE")
]


def open_workspace(path: Path, engine: str | None = None) -> Workspace:
    """The CLI is where the environment is read (for database DSNs named by dsn_env)."""
    return Workspace(path, env=dict(os.environ), engine=engine)
