"""What the terminal receives shows the data as it is: Rich markup and emoji codes as text,
control characters escaped (``\\x1b``), never interpreted, in every table, panel, title and message.

Each command runs against a workspace whose every text is hostile (tests/cli/nasty_world.py);
``personae sql`` also runs for real, on DuckDB values.
"""

from __future__ import annotations

import ast
import logging
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import personae.cli
from personae.cli import main, render
from personae.cli.app import app
from personae.errors import PersonNotFound
from tests.cli import nasty_world
from tests.cli.command_tree import commands
from tests.cli.nasty_world import NASTY, assert_shown
from tests.workspaces import POS_CSV, POS_SOURCE, write_workspace

runner = CliRunner()
NOT_DATA = {
    "init": "prints the folder it created, which the user named",
    "serve": "prints the folder and address the user gave, then serves (tests/server runs it for real)",
    "privacy export": "prints one JSON document, whose own escaping keeps controls out (\\u001b)",
    "report": "prints the file it wrote, which the user named (tests/dashboard opens the file in a browser)",
}


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A console wide enough that no value is wrapped or cut, so each piece can be found whole."""
    monkeypatch.setattr(render.console, "width", 4000)


@pytest.mark.parametrize("path", sorted(set(commands()) - set(NOT_DATA)))
def test_every_command_shows_hostile_text_as_it_is(path: str, wide: None, monkeypatch: pytest.MonkeyPatch) -> None:
    nasty_world.install(monkeypatch)
    result = runner.invoke(app, [*path.split(), *nasty_world.arguments(path), "-w", "anywhere"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == (1 if path == "run" else 0), result.output  # the run's report holds an error
    assert_shown(result.output)


def test_sql_shows_duckdb_values_as_they_are(tmp_path: Path, wide: None) -> None:
    root = write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/a.csv": POS_CSV})
    assert runner.invoke(app, ["run", "-w", str(root), "--as-of", "2024-03-01"]).exit_code == 0
    literal = NASTY.replace("'", "''")
    query = (
        f"select '[pos, web]' as a, 'a:x:b' as b, '{literal}' as \"{literal}\", "
        "chr(27) || '[31m' || chr(13) || chr(0) || chr(9) as c"
    )
    result = runner.invoke(app, ["sql", query, "-w", str(root)])
    assert result.exit_code == 0, result.output
    assert_shown(result.output)
    rows = [line for line in result.output.splitlines() if "│" in line]
    assert "[pos, web]" in rows[-1] and "a:x:b" in rows[-1] and r"\x1b[31m\r\x00\t" in rows[-1]


def test_an_error_message_shows_hostile_text_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nasty_world.install(monkeypatch)

    def missing(self: object, identifier: str) -> None:
        raise PersonNotFound(f"no person has {identifier}")

    monkeypatch.setattr(nasty_world.NastyWorkspace, "profile", missing)
    monkeypatch.setattr(sys, "argv", ["personae", "profile", NASTY + "\nsecond line"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no person has ") and err.count("\n") == 1
    assert_shown(err)


def test_a_logged_warning_shows_hostile_text_as_it_is() -> None:
    """Library code's warnings reach stderr through the handler ``main`` installs."""
    from personae.cli import warnings_handler

    console = Console(width=4000, force_terminal=False, record=True)
    handler = warnings_handler(console)
    handler.handle(logging.LogRecord("personae", logging.WARNING, __file__, 1, NASTY, None, None))
    assert_shown(console.export_text())


def test_a_newline_breaks_a_cell_but_not_a_message() -> None:
    assert render.cell("a\nb\tc").plain == "a\nb\\tc"
    assert render.line("a\nb").plain == "a\\nb"
    assert render.line(("error:", "red"), " [x]").plain == "error: [x]"


def test_no_text_reaches_rich_but_through_render() -> None:
    """A string given to ``print`` or a table is parsed as markup; render.py's helpers make Text.

    So outside render.py: no ``print`` of a string or f-string, and no table built or
    filled directly (``Table(…)``, ``.add_column``, ``.add_row``)."""
    offenders = []
    for path in sorted(Path(personae.cli.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            text = node.args and isinstance(node.args[0], ast.Constant | ast.JoinedStr | ast.BinOp)
            direct = path.name != "render.py" and (
                name == "Table" or (isinstance(node.func, ast.Attribute) and name in ("add_row", "add_column"))
            )
            if (name == "print" and text) or direct:
                offenders.append(f"{path.name}:{node.lineno} {name}")
    assert offenders == []
