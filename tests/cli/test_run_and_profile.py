"""A run's as-of day (`[workspace] as_of`, a warning when stale), and what `personae profile` shows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from personae import Workspace, pipeline
from personae.cli.app import app
from personae.errors import EngineError
from personae.steps.context import RunContext, StepResult
from tests.cli_calls import run_cli

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


def test_profile_shows_segments_and_scores_and_rules_read_scores(tmp_path: Path) -> None:
    """`personae profile` shows the person's segments and the models' scores, and a rule may
    read a score (`churn_probability`)."""
    workspace = Workspace.init(tmp_path / "shop", demo=True, customers=300, seed=2)
    workspace.run()
    person = workspace.sql(
        "SELECT m.id_type || ':' || m.id_value AS key, x.uid, x.clv FROM predictions AS x "
        "JOIN identity_map AS m ON m.uid = x.uid WHERE x.clv IS NOT NULL AND m.id_type = 'email' LIMIT 1"
    ).to_pylist()[0]
    view = workspace.profile(person["key"])
    assert view.scores["clv"] == person["clv"] and "churn_probability" in view.scores
    assert {row["segmentation"] for row in view.segments} >= {"rfm", "lifecycle"}
    shown = runner.invoke(app, ["profile", person["key"], "-w", str(workspace.root)])
    assert shown.exit_code == 0, shown.output
    assert "scores:" in shown.output and "lifecycle" in shown.output
    likely = workspace.preview_segment("clv > 0 and coalesce(churn_probability, 1) >= 0")
    expected = (
        workspace.sql(
            "SELECT count(*) AS n FROM predictions AS x JOIN profiles AS p ON p.uid = x.uid "
            "WHERE x.clv > 0 AND p.known_customer"
        )
        .column("n")[0]
        .as_py()
    )
    assert likely.size == expected > 0


def test_an_error_inside_a_step_names_the_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A long run that stops says in which step (at 3M customers a run stopped after 20 minutes
    with an engine error that named only the memory setting)."""
    root = tmp_path / "shop"
    Workspace.init(root, demo=True, customers=60, seed=5)

    def failing(context: RunContext) -> StepResult:
        raise EngineError("duckdb: Out of Memory Error: could not allocate block")

    steps = [(name, failing if name == "golden" else step) for name, step in pipeline.STEPS]
    monkeypatch.setattr(pipeline, "STEPS", steps)
    code, _, err = run_cli(monkeypatch, capsys, "run", "-w", str(root))
    assert code == 2 and "Traceback" not in err
    expected = "error: duckdb: Out of Memory Error: could not allocate block (in the run's golden step)"
    assert " ".join(err.split()) == expected
    status = Workspace(root).status()
    assert {source.name: source.rows_loaded for source in status.sources}["pos"] > 0  # ingest kept its work


def test_steps_after_a_golden_only_run_name_the_missing_traits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--only golden --full` rebuilds ``profiles`` from the golden records alone; `--only sync`
    and `--only summaries` then say the traits step must run, and the summaries already stored
    are left as they were (they were a binder error about a trait column). An incremental
    `--only golden` keeps the traits of the rows it does not rebuild, and the steps after it
    name the rows it rebuilt without traits."""
    root = tmp_path / "x"
    created = runner.invoke(app, ["init", str(root), "--demo", "--customers", "60"])
    assert created.exit_code == 0, created.output
    assert not Workspace(root).run().errors
    sizes = Workspace(root).sql("SELECT * FROM segment_sizes ORDER BY ALL").to_pylist()
    assert sizes
    assert not Workspace(root).run(only="golden", full=True).errors
    for step in ("sync", "summaries"):
        code, _, err = run_cli(monkeypatch, capsys, "run", "-w", str(root), "--only", step)
        assert code != 0
        assert "profiles have no traits yet: run the traits step first" in " ".join(err.split()), err
        assert "Binder Error" not in err
    assert Workspace(root).sql("SELECT * FROM segment_sizes ORDER BY ALL").to_pylist() == sizes
    assert not Workspace(root).run(only="traits").errors
    assert not Workspace(root).run(only="summaries").errors
    assert not Workspace(root).run(only="golden").errors  # nothing changed: every row keeps its traits
    assert not Workspace(root).run(only="summaries").errors
    with Workspace(root).engine(write=True) as store:  # a lost row comes back, without traits
        store.delete_where("profiles", "uid = (SELECT min(uid) FROM profiles)")
    assert not Workspace(root).run(only="golden").errors
    code, _, err = run_cli(monkeypatch, capsys, "run", "-w", str(root), "--only", "summaries")
    assert code != 0
    assert "1 profiles have no traits yet: run the traits step first" in " ".join(err.split()), err
    assert not Workspace(root).run(only="traits").errors
    assert not Workspace(root).run(only="summaries").errors
