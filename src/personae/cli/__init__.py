"""The command line: a thin face over :class:`personae.Workspace` (Typer + Rich).

Each command group lives in a module of its own; errors become one-line messages here,
in :func:`main`, and nowhere else: a :class:`~personae.errors.PersonaeError`, a bad
argument or option, and a file the operating system refuses (a read-only folder, a full
disk) each print ``error: …`` on one line and exit with 2. Warnings that library code
logs reach the user on stderr. Messages and warnings quote what the user typed and what
the data holds, so they are shown as they are (:func:`personae.cli.render.line`): no Rich
markup or emoji codes interpreted, control characters (a newline too) escaped, so an
error stays on its one line.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console
from rich.highlighter import NullHighlighter
from rich.logging import RichHandler
from typer._click import exceptions as click_errors  # typer ≥ 0.29 vendors click here

from personae.cli.app import app
from personae.cli.render import line, visible
from personae.errors import PersonaeError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _fail(message: str) -> None:
    Console(stderr=True).print(line(("error:", "bold red"), " ", message), soft_wrap=True)
    sys.exit(EXIT_ERROR)


def _os_message(error: OSError) -> str:
    """What the operating system refused, naming the path (a read-only folder, a full disk)."""
    path = f" {error.filename}" if error.filename else ""
    reason = error.strerror or str(error)
    return f"cannot write or read{path}: {reason}; check the folder's permissions and free space"


class _VisibleFormatter(logging.Formatter):
    """A log message with its control characters escaped, like every message the CLI shows."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record))


def warnings_handler(console: Console) -> logging.Handler:
    """The handler that shows library warnings on ``console``: text as it is (no markup,
    highlighting or keyword colours; control characters escaped)."""
    handler = RichHandler(
        console=console, show_time=False, show_path=False, markup=False, highlighter=NullHighlighter(), keywords=[]
    )
    handler.setFormatter(_VisibleFormatter("%(message)s"))
    return handler


def main() -> None:
    """Entry point of the ``personae`` command."""
    logging.basicConfig(level=logging.WARNING, handlers=[warnings_handler(Console(stderr=True))])
    try:
        code = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError as error:
        error.show()
        sys.exit(0)
    except click_errors.ClickException as error:
        command = error.ctx.command_path if isinstance(error, click_errors.UsageError) and error.ctx else "personae"
        _fail(f"{error.format_message()} (see `{command} --help`)")
    except PersonaeError as error:
        _fail(str(error) if error.step is None else f"{error} (in the run's {error.step} step)")
    except OSError as error:
        _fail(_os_message(error))
    except (KeyboardInterrupt, typer.Abort):
        Console(stderr=True).print(line(("interrupted", "yellow")))
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main", "warnings_handler"]
