"""Docs that cannot rot: every config key and CLI command is documented."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

import personae
from personae.cli.app import app
from personae.config import WorkspaceConfig
from personae.sources.kinds import KIND_COLUMNS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        nested = [
            arg
            for arg in getattr(annotation, "__args__", (annotation,))
            if isinstance(arg, type) and issubclass(arg, BaseModel)
        ]
        if not nested:
            keys.append(key)
        for child in nested:
            keys.extend(_keys(child, f"{key}."))
    return keys


def test_every_config_key_is_documented() -> None:
    text = (DOCS / "config.md").read_text()
    keys = _keys(WorkspaceConfig)
    assert "sources.csv.delimiter" in keys and "engine.spark.master" in keys
    missing = [key for key in keys if f"`{key}`" not in text]
    assert missing == []


def test_every_canonical_column_is_documented() -> None:
    text = (DOCS / "config.md").read_text()
    for kind, columns in KIND_COLUMNS.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{kind.value}` |"))
        for column in columns:
            assert column.name in row, f"{kind.value}.{column.name} missing from docs/config.md"


def test_every_cli_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    names = [
        command.name or command.callback.__name__ for command in app.registered_commands if command.callback is not None
    ]
    assert len(names) >= 4
    for name in names:
        assert f"personae {name}" in text, f"`personae {name}` is not in docs/cli.md"


def test_public_api_all_is_sorted_and_importable() -> None:
    assert personae.__all__ == sorted(personae.__all__)
    for name in personae.__all__:
        assert hasattr(personae, name)


def test_every_built_in_trait_is_documented() -> None:
    from personae.profiles.traits import builtin_traits

    text = (DOCS / "traits.md").read_text()
    names = list(builtin_traits(WorkspaceConfig()))
    assert "revenue_365d" in names
    assert [name for name in names if f"| `{name}` |" not in text] == []
