"""Docs that cannot rot: every config key and CLI command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

import personae
from personae import Workspace
from personae.activation.kinds import KINDS
from personae.activation.specs import DestinationSpec
from personae.cli.app import app
from personae.config import WorkspaceConfig
from personae.sources.kinds import KIND_COLUMNS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"  # the name personae.toml uses
        annotation = field.annotation
        args = [getattr(arg, "__origin__", arg) for arg in getattr(annotation, "__args__", (annotation,))]
        nested = [arg for arg in args if isinstance(arg, type) and issubclass(arg, BaseModel)]
        if not nested:
            keys.append(key)
        for child in nested:
            # a [[destinations]] table is read by the spec class of its kind: every kind's keys count
            kinds = [kind.spec for kind in KINDS.values()] if child is DestinationSpec else [child]
            for each in kinds:
                keys.extend(k for k in _keys(each, f"{key}.") if k not in keys)
    return keys


def test_every_config_key_is_documented() -> None:
    text = (DOCS / "config.md").read_text()
    keys = _keys(WorkspaceConfig)
    assert "sources.csv.delimiter" in keys and "engine.spark.master" in keys and "destinations.path" in keys
    missing = [key for key in keys if f"`{key}`" not in text]
    assert missing == []


def test_every_destination_key_of_every_kind_is_documented() -> None:
    from personae.activation.kinds import KINDS

    text = (DOCS / "config.md").read_text()
    keys = {
        f"destinations.{field.alias or name}"
        for kind in KINDS.values()
        for name, field in kind.spec.model_fields.items()
    }
    assert {"destinations.url", "destinations.write_key_env"} <= keys
    assert sorted(key for key in keys if f"`{key}`" not in text) == []
    assert all(f"| `{kind}` |" in text or f'`kind = "{kind}"`' in text for kind in KINDS)


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


RULE_BLOCK = re.compile(r"```rule\n(.*?)```", re.S)


def _rule_examples() -> list[tuple[str, str]]:
    """Every line of every ```rule block in the README and docs/, with the page it is on."""
    pages = [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md"))]
    return [
        (page.name, line.strip())
        for page in pages
        for block in RULE_BLOCK.findall(page.read_text(encoding="utf-8"))
        for line in block.splitlines()
        if line.strip()
    ]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = Workspace.init(tmp_path_factory.mktemp("docs") / "demo", demo=True, customers=400, seed=5)
    assert workspace.run().errors == []
    return workspace


def test_the_docs_have_rule_examples() -> None:
    assert len(_rule_examples()) >= 5


@pytest.mark.parametrize(("page", "rule"), _rule_examples())
def test_every_rule_example_runs_on_the_demo(demo: Workspace, page: str, rule: str) -> None:
    preview = demo.preview_segment(rule, sample=1)  # checks columns and in_segment, then counts
    assert 0 <= preview.size <= preview.customers, f"{page}: {rule}"
