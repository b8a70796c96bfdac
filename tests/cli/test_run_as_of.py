"""The as-of day of a run: the workspace's own (`[workspace] as_of`), and a warning when it is stale."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from personae import Workspace
from personae.cli.app import app

runner = CliRunner()


def test_the_demo_runs_as_of_its_data_and_a_stale_day_warns(tmp_path: Path) -> None:
    """`personae init x --demo` then the printed `personae run -w x`: the demo's own as-of day,
    not today; an as-of day far past the newest event says so in one line."""
    created = runner.invoke(app, ["init", str(tmp_path / "x"), "--demo", "--customers", "200"])
    assert created.exit_code == 0, created.output
    config = (tmp_path / "x/personae.toml").read_text()
    assert "as_of = 2025-12-31" in config
    ran = runner.invoke(app, ["run", "-w", str(tmp_path / "x")])
    assert ran.exit_code == 0, ran.output
    assert "as of 2025-12-31" in ran.output and "newest event" not in ran.output
    lifecycle = (
        Workspace(tmp_path / "x")
        .sql(
            "SELECT count(*) FILTER (WHERE segment = 'dormant') AS dormant, count(*) AS people FROM memberships "
            "WHERE segmentation = 'lifecycle' AND exited_at IS NULL"
        )
        .to_pylist()[0]
    )
    assert lifecycle["dormant"] < lifecycle["people"] / 2
    stale = runner.invoke(app, ["run", "-w", str(tmp_path / "x"), "--as-of", "2026-12-02"])
    assert stale.exit_code == 0, stale.output
    assert stale.output.count("newest event") == 1, stale.output
    report = Workspace(tmp_path / "x").run(as_of=date(2026, 12, 2), only="traits")
    warnings = [w for w in report.summary()["warnings"] if "newest event" in w]
    assert warnings == [
        "as of 2026-12-02 is 336 days after the newest event (2025-12-31), so customers look lapsed; "
        "set as_of = 2025-12-31 under [workspace] in personae.toml or pass --as-of 2025-12-31"
    ]
