"""Known customers and anonymous profiles: every count, share and persona is of known
customers (an identifier other than an anonymous id) and says how many anonymous profiles
it leaves out; lifecycle calls anonymous visitors ``anonymous``, not leads."""

from __future__ import annotations

from pathlib import Path

import pytest

from personae import Workspace


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = Workspace.init(tmp_path_factory.mktemp("known") / "demo", demo=True, customers=400, seed=11)
    report = workspace.run()
    assert report.errors == []
    return workspace


def _people(workspace: Workspace) -> tuple[set[str], set[str]]:
    """(known, anonymous) UIDs, from the identity map rather than from the column under test."""
    rows = workspace.sql("SELECT uid, bool_or(id_type <> 'anonymous_id') AS known FROM identity_map GROUP BY uid")
    known = {row["uid"] for row in rows.to_pylist() if row["known"]}
    anonymous = {row["uid"] for row in rows.to_pylist() if not row["known"]}
    return known, anonymous


def test_the_demo_has_anonymous_visitors_and_they_are_counted_apart(demo: Workspace) -> None:
    known, anonymous = _people(demo)
    assert known and len(anonymous) > 10
    status = demo.status()
    assert (status.customers, status.anonymous) == (len(known), len(anonymous))
    personas = demo.personas("rfm")
    assert (personas.customers, personas.anonymous) == (len(known), len(anonymous))
    assert sum(card.size for card in personas.cards) == len(known)  # a core segmentation covers the known ones
    preview = demo.preview_segment("orders >= 0")
    assert (preview.size, preview.customers, preview.anonymous) == (len(known), len(known), len(anonymous))
    cells = demo.microsegments(["lifecycle", "rfm"], min_size=1).cells
    assert sum(cell.customers for cell in cells) == len(known)


def test_lifecycle_calls_anonymous_visitors_anonymous(demo: Workspace) -> None:
    known, anonymous = _people(demo)
    rows = demo.sql(
        "SELECT uid, segment FROM memberships WHERE segmentation = 'lifecycle' AND exited_at IS NULL"
    ).to_pylist()
    stages = {row["uid"]: row["segment"] for row in rows}
    assert {uid for uid, stage in stages.items() if stage == "anonymous"} == anonymous
    assert all(stages[uid] != "anonymous" for uid in known)
    listed = {(s.segmentation, s.segment): s for s in demo.segments()}
    assert listed[("lifecycle", "anonymous")].members == 0
    assert listed[("lifecycle", "anonymous")].anonymous == len(anonymous)


def test_the_cli_says_which_people_it_shows(demo: Workspace, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from personae.cli.app import app

    runner = CliRunner()
    _, anonymous = _people(demo)
    shown = runner.invoke(app, ["personas", "rfm", "-w", str(demo.root)])
    assert shown.exit_code == 0, shown.output
    assert f"({len(anonymous):,} anonymous profiles left out)" in shown.output
    status = runner.invoke(app, ["status", "-w", str(demo.root)])
    assert f"{len(anonymous):,} anonymous profiles" in status.output
