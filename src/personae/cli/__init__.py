"""The command line: a thin face over :class:`personae.Workspace` (Typer + Rich).

Each command group lives in a module of its own; errors become one-line messages here,
in :func:`main`, and nowhere else.
"""

from __future__ import annotations

import sys

from rich.console import Console

from personae.cli.app import app
from personae.errors import PersonaeError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def main() -> None:
    """Entry point of the ``personae`` command."""
    try:
        app()
    except PersonaeError as error:
        Console(stderr=True).print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]")
        sys.exit(EXIT_INTERRUPTED)


__all__ = ["app", "main"]
