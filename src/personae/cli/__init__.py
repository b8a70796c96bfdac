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


def main() -> None:
    """Entry point of the ``personae`` command."""
    try:
        app(standalone_mode=False)
    except PersonaeError as error:
        Console(stderr=True).print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_ERROR)
    except (KeyboardInterrupt, EOFError):
        Console(stderr=True).print("[yellow]interrupted[/]")
        sys.exit(130)
    except SystemExit:
        raise
    except _click_errors() as error:
        error.show()
        sys.exit(error.exit_code)


def _click_errors() -> type[Exception]:
    import click

    return click.ClickException


__all__ = ["app", "main"]
