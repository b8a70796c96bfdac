"""The command line: a thin face over :class:`personae.Workspace` (Typer + Rich).

Each command group lives in a module of its own; errors become one-line messages here,
in :func:`main`, and nowhere else: a :class:`~personae.errors.PersonaeError`, a bad
argument or option, and a file the operating system refuses (a read-only folder, a full
disk) each print ``error: …`` on one line and exit with 2. Warnings that library code
logs reach the user on stderr.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from typer._click import exceptions as click_errors  # typer ≥ 0.29 vendors click here

from personae.cli.app import app
from personae.errors import PersonaeError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(EXIT_ERROR)


def _os_message(error: OSError) -> str:
    """What the operating system refused, naming the path (a read-only folder, a full disk)."""
    path = f" {error.filename}" if error.filename else ""
    reason = error.strerror or str(error)
    return f"cannot write or read{path}: {reason}; check the folder's permissions and free space"


def main() -> None:
    """Entry point of the ``personae`` command."""
    handler = RichHandler(console=Console(stderr=True), show_time=False, show_path=False, markup=False)
    logging.basicConfig(level=logging.WARNING, handlers=[handler], format="%(message)s")
    try:
        code = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError as error:
        error.show()
        sys.exit(0)
    except click_errors.ClickException as error:
        command = error.ctx.command_path if isinstance(error, click_errors.UsageError) and error.ctx else "personae"
        _fail(f"{error.format_message()} (see `{command} --help`)")
    except PersonaeError as error:
        _fail(str(error))
    except OSError as error:
        _fail(_os_message(error))
    except (KeyboardInterrupt, typer.Abort):
        Console(stderr=True).print("[yellow]interrupted[/]")
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
