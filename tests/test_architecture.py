"""The house: imports run only down the floors drawn in docs/architecture.md.

A low floor never imports a high one, so a wing can be read, tested and replaced without
the ones above it. Imports within a floor are allowed (sources, identity, golden and
profiles share one), cycles are not: Python would fail on those anyway.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src" / "personae"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"

FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "spec", "progress", "demo"),
    ("engine", "store_lock"),
    ("rules",),
    ("sources", "identity", "golden", "profiles", "privacy"),
    ("models",),
    ("segments",),
    ("activation",),
    ("steps", "pipeline", "config", "status", "realtime", "access", "rights"),
    ("workspace", "workspace_activation", "workspace_privacy", "workspace_segments"),
    ("cli", "server", "dashboard", "__init__", "__main__"),
)
"""Lowest first: a module may import from its own floor and the floors below."""
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}


def _room(module: str) -> str:
    """``personae.segments.rfm`` -> ``segments``; ``personae`` itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[str, int]]:
    """The personae modules ``path`` imports, with the line of each import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "personae":  # a wing, or a name of the package itself
                found += [
                    (f"personae.{alias.name}" if alias.name in FLOOR else "personae", node.lineno)
                    for alias in node.names
                ]
            elif node.module.startswith("personae."):
                found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("personae.")]
    return found


def _modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_every_room_has_a_floor() -> None:
    rooms = {path.relative_to(SOURCE).parts[0].removesuffix(".py") for path in _modules()}
    assert sorted(rooms - set(FLOOR)) == []


def test_imports_run_only_down() -> None:
    upward = []
    for path in _modules():
        relative = path.relative_to(SOURCE)
        room = relative.parts[0].removesuffix(".py")
        for module, line in _imports(path):
            target = _room(module)
            if FLOOR[target] > FLOOR[room]:
                upward.append(
                    f"{relative}:{line} ({room}, floor {FLOOR[room]}) imports {module} (floor {FLOOR[target]})"
                )
    assert upward == []


@pytest.mark.parametrize("level", range(len(FLOORS)))
def test_the_floors_are_drawn_in_the_architecture_page(level: int) -> None:
    text = DOCS.read_text(encoding="utf-8")
    for room in FLOORS[level]:
        if room.startswith("__"):
            continue
        assert room in text, f"docs/architecture.md does not name {room!r}"


def test_a_new_upward_import_is_caught(tmp_path: Path) -> None:
    """The check itself can fail: an engine module importing the workspace is reported."""
    module = tmp_path / "bad.py"
    module.write_text("from personae.workspace import Workspace\nimport personae.segments.rfm\n")
    found = [_room(name) for name, _ in _imports(module)]
    assert found == ["workspace", "segments"]
    assert all(FLOOR[room] > FLOOR["engine"] for room in found)
