"""``--format``: every command that shows data takes it, offers json, and refuses what it does not know.

An unknown format used to fall through to a table; now it is refused while the arguments
are parsed (before any workspace is opened), naming the formats the command offers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from personae.cli import main
from personae.cli.app import app
from tests.cli import nasty_world
from tests.cli.command_tree import choices, commands, option, required_values
from tests.cli.nasty_world import NASTY

runner = CliRunner()
NOT_DATA = {
    "init": "reports the folder it created",
    "segment add": "reports the version it saved",
    "segment remove": "reports what it took out",
    "keys revoke": "reports the key it revoked",
    "serve": "serves until stopped",
    "privacy export": "writes one JSON document, the format the data subject receives",
    "report": "writes an HTML file and reports its path",
    "migrate": "reports the schema version it brought the store to",
}
DATA = sorted(set(commands()) - set(NOT_DATA))
WITH_FORMAT = sorted(path for path, command in commands().items() if option(command, "--format"))


def _holds(data: Any, text: str) -> bool:
    """Whether ``text`` is in one of the keys or values somewhere in ``data``."""
    if isinstance(data, dict):
        return any(_holds(key, text) or _holds(value, text) for key, value in data.items())
    if isinstance(data, list):
        return any(_holds(item, text) for item in data)
    return isinstance(data, str) and text in data


@pytest.mark.parametrize("path", DATA)
def test_every_command_that_shows_data_offers_table_and_json(path: str) -> None:
    found = option(commands()[path], "--format")
    assert found is not None, f"`personae {path}` has no --format"
    assert {"table", "json"} <= set(choices(found)), f"`personae {path} --format` offers {choices(found)}"
    assert "-f" in found.opts


@pytest.mark.parametrize("path", WITH_FORMAT)
def test_an_unknown_format_is_refused_naming_the_formats(
    path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    command = commands()[path]
    args = [*path.split(), *required_values(command), "-f", "yaml", "-w", str(tmp_path / "nowhere")]
    monkeypatch.setattr(sys, "argv", ["personae", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "'yaml'" in err and "no such workspace" not in err, err
    offered = choices(option(command, "--format")) or ("table", "json")
    assert all(f"'{name}'" in err for name in offered), err


@pytest.mark.parametrize("path", DATA)
def test_json_gives_the_data_exactly(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    nasty_world.install(monkeypatch)
    result = runner.invoke(app, [*path.split(), *nasty_world.arguments(path), "-w", "anywhere", "-f", "json"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == (1 if path == "run" else 0), result.output
    data = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert _holds(data, NASTY), data  # the text as stored, not escaped for a terminal


def test_sql_csv_is_the_data_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    nasty_world.install(monkeypatch)
    result = runner.invoke(app, ["sql", "select 1", "-w", "anywhere", "-f", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.replace("\r\n", "\n").startswith(f'"{NASTY}"\n"{NASTY}"\n')
