"""Packaging basics: the licence the package declares ships with it, the version and the steps are
told, and the documents link only to files of this repository that exist."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from personae import __version__
from personae.cli.app import app
from personae.errors import UsageError
from personae.pipeline import STEP_NAMES
from tests.workspaces import write_workspace

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
"""Of https://www.apache.org/licenses/LICENSE-2.0.txt (Debian's /usr/share/common-licenses/Apache-2.0)."""

LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
DOCUMENTS = ["README.md", *sorted(str(path.relative_to(REPO)) for path in (REPO / "docs").glob("*.md"))]


def test_the_declared_licence_ships_as_the_standard_apache_2_text() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    assert hashlib.sha256((REPO / "LICENSE").read_bytes()).hexdigest() == APACHE_2_SHA256


def test_version_is_printed() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"personae {__version__}"


def test_run_only_names_every_step(tmp_path: Path) -> None:
    shown = " ".join(runner.invoke(app, ["run", "--help"]).output.split())
    assert all(name in shown for name in STEP_NAMES), shown
    root = write_workspace(tmp_path / "ws", [], {})
    refused = runner.invoke(app, ["run", "--only", "ingset", "-w", str(root)])
    assert isinstance(refused.exception, UsageError)
    assert f"steps are {', '.join(STEP_NAMES)}" in str(refused.exception)


def _relative_links(document: Path) -> list[str]:
    text = FENCE.sub("", document.read_text(encoding="utf-8"))
    targets = [match.group(1).split("#")[0] for match in LINK.finditer(text)]
    return [target for target in targets if target and not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_relative_link_is_a_file_of_the_repository(name: str) -> None:
    document = REPO / name
    links = _relative_links(document)
    broken = []
    for target in links:
        resolved = (document.parent / target).resolve()
        if not resolved.is_relative_to(REPO) or not resolved.exists():
            broken.append(target)
    assert broken == [], f"{name} links outside the repository or to nothing: {broken}"


def test_the_link_check_finds_links() -> None:
    assert "docs/architecture.md" in _relative_links(REPO / "README.md")
    assert "rules.md" in _relative_links(REPO / "docs/cli.md")
