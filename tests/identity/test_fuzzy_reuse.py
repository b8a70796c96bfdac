"""An incremental run keeps the last run's fuzzy pairs only while the customer records, the
model and the settings they came from are unchanged, and always equals a full run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb

from personae import Workspace
from personae.identity.resolve import IdentityResult
from tests.identity.test_matching_workspace import recipe_config, small_workspace

TABLES = ("record_map", "identity_map", "identity_edges", "identifiers")


def identity_of(workspace: Workspace, **options: Any) -> IdentityResult:
    report = workspace.run(**options)
    assert not report.errors, report.errors
    result = next(step for step in report.steps if step.name == "identity").details["identity"]
    assert isinstance(result, IdentityResult)
    return result


def state(root: Path) -> dict[str, list[tuple[object, ...]]]:
    with duckdb.connect(str(root / "personae.duckdb"), read_only=True) as store:
        return {table: sorted(store.execute(f"SELECT * FROM {table}").fetchall(), key=repr) for table in TABLES}


def full_run_state(root: Path, copy: Path) -> dict[str, list[tuple[object, ...]]]:
    """The identity tables a ``--full`` run gives on a copy of the workspace as it is now."""
    shutil.copytree(root, copy)
    identity_of(Workspace(copy), full=True)
    return state(copy)


def test_fuzzy_pairs_are_kept_until_a_customer_record_or_the_settings_change(tmp_path: Path) -> None:
    compare = recipe_config().split("[identity.fuzzy.compare]")[1]
    root = small_workspace(tmp_path / "w", compare, "enabled = true")
    workspace = Workspace(root)
    first = identity_of(workspace)
    assert not first.fuzzy_kept and first.fuzzy_links > 0

    second = identity_of(workspace)  # nothing new: the pairs are read back, not scored
    assert second.fuzzy_kept and second.fuzzy_links == first.fuzzy_links
    assert state(root) == full_run_state(root, tmp_path / "full-2")

    data = root / "data" / "febrl3.csv"
    lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace(", green,", ", greenway,")  # one surname changes
    assert "greenway" in lines[1]
    data.write_text("".join(lines), encoding="utf-8")
    third = identity_of(workspace)
    assert not third.fuzzy_kept and third.fuzzy_links > 0
    assert state(root) == full_run_state(root, tmp_path / "full-3")

    config = root / "personae.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("enabled = true", "enabled = false"), encoding="utf-8")
    off = identity_of(Workspace(root))
    assert off.fuzzy_links == 0 and not off.fuzzy_kept
    config.write_text(text, encoding="utf-8")  # back on: identity_edges holds no pairs to keep
    on = identity_of(Workspace(root))
    assert not on.fuzzy_kept and on.fuzzy_links == third.fuzzy_links
    assert state(root) == full_run_state(root, tmp_path / "full-on")


def test_a_full_run_scores_the_pairs_again(tmp_path: Path) -> None:
    compare = recipe_config().split("[identity.fuzzy.compare]")[1]
    workspace = Workspace(small_workspace(tmp_path / "w", compare))
    identity_of(workspace)
    again = identity_of(workspace, full=True)
    assert not again.fuzzy_kept and again.fuzzy_links > 0
