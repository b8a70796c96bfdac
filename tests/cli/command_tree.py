"""The CLI's commands, walked from the Typer app, so tests cover a new command without a new line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, get_args, get_origin

import typer.main

from personae.cli.app import app


def groups() -> dict[str, Any]:
    """Each command group by its path ('' for ``personae`` itself, ``segment``, …)."""
    found: dict[str, Any] = {}

    def walk(group: Any, path: str) -> None:
        found[path] = group
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                walk(command, f"{path} {name}".strip())

    walk(typer.main.get_command(app), "")
    return found


def commands() -> dict[str, Any]:
    """Each command (not group) by its path: ``run``, ``segment add``, …"""
    return {
        f"{path} {name}".strip(): command
        for path, group in groups().items()
        for name, command in group.commands.items()
        if not hasattr(command, "commands")
    }


def annotation(param: Any) -> Any:
    return param.type_descriptor.annotation


def choices(param: Any) -> tuple[str, ...]:
    """The values a Literal-typed option accepts (empty for other options)."""
    kind = annotation(param)
    return tuple(get_args(kind)) if get_origin(kind) is Literal else ()


def option(command: Any, name: str) -> Any | None:
    """The option ``name`` (e.g. ``--format``) of a command, if it has one."""
    return next((p for p in command.params if p.param_type_name == "option" and name in p.opts), None)


def required_values(command: Any) -> Iterator[str]:
    """A placeholder for each required argument and option, in an order the command parses."""
    for param in command.params:
        if not param.required:
            continue
        if param.param_type_name == "option":
            yield param.opts[0]
        yield "x"
