"""A bad [[actions]] entry is a ConfigError naming the action, before anything runs: the CLI
says so in one line and the store is never created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from personae import Workspace
from personae.cli import main
from personae.errors import ConfigError
from tests.workspaces import POS_CSV, POS_SOURCE, write_workspace

runner = CliRunner()
GOOD: dict[str, Any] = {"name": "offer", "rule": "orders > 0", "priority": 1}


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({**GOOD, "rule": "spend > 3"}, "rule 'actions.offer': unknown column 'spend'"),
        ({**GOOD, "rule": "orders >"}, "rule 'actions.offer': cannot parse the rule"),
        ({**GOOD, "rule": "in_segment('rfm', 'Champs')"}, "did you mean 'Champions'?"),
        (
            {"name": "offer", "rule": "orders > 0", "score": "churn_probabilty", "value": 10},
            "action 'offer': unknown column 'churn_probabilty'; did you mean 'churn_probability'?",
        ),
        ({"name": "offer", "rule": "orders > 0", "score": "lifestyle", "value": 1}, "holds VARCHAR, not a number"),
        ({**GOOD, "score": "clv", "value": 1}, "give either priority or score and value, not both"),
        ({"name": "offer", "rule": "orders > 0", "score": "clv"}, "give priority = N (higher wins)"),
        ({**GOOD, "holdout": 1.0}, "actions.0.holdout"),
    ],
)
def test_a_bad_action_stops_before_anything_runs(tmp_path: Path, action: dict[str, Any], message: str) -> None:
    root = write_workspace(tmp_path / "shop", [POS_SOURCE], {"data/pos/a.csv": POS_CSV}, actions=[action])
    with pytest.raises(ConfigError) as raised:
        Workspace(root)
    assert message in str(raised.value) and "personae.toml" in str(raised.value)
    assert not (root / "personae.duckdb").exists()


def test_the_cli_says_it_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    action = {**GOOD, "rule": "revenu > 3"}
    root = write_workspace(
        tmp_path / "shop", [POS_SOURCE], {"data/pos/a.csv": POS_CSV}, actions=[{**GOOD, "name": "thanks"}, action]
    )
    monkeypatch.setattr("sys.argv", ["personae", "run", "-w", str(root)])
    with pytest.raises(SystemExit) as exit_:
        main()
    error = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "rule 'actions.offer': unknown column 'revenu'" in error and error.startswith("error:")
    assert not (root / "personae.duckdb").exists()


def test_two_actions_with_one_name(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "shop", [POS_SOURCE], {}, actions=[GOOD, GOOD])
    with pytest.raises(ConfigError, match="two actions are named 'offer'"):
        Workspace(root)
