"""The segment commands: add, preview, list, show --sql, questions, transitions, microsegments."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from personae import Workspace
from personae.cli.app import app
from tests.profiles.small_world import AS_OF, build

runner = CliRunner()
EARLIER = "2025-01-31"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = build(tmp_path_factory.mktemp("cli") / "shop").root
    for day in (EARLIER, AS_OF.isoformat()):
        result = runner.invoke(app, ["run", "-w", str(root), "--as-of", day])
        assert result.exit_code == 0, result.output
    yield root


def _failing(*args: str) -> str:
    """Run the real command (errors become one line and exit code 2 in ``main``)."""
    result = subprocess.run(
        [sys.executable, "-m", "personae", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2, result.stdout + result.stderr
    return result.stderr


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_segment_add_then_list_and_show_sql(shop: Path) -> None:
    added = _invoke("segment", "add", "repeaters", "orders >= 2 and days_since_last_order < 400", "-w", str(shop))
    assert "saved segment 'repeaters' version 1" in added
    assert "is unchanged" in _invoke(
        "segment", "add", "repeaters", "orders >= 2 and days_since_last_order < 400", "-w", str(shop)
    )
    listed = json.loads(_invoke("segment", "list", "-w", str(shop), "--format", "json"))
    entry = next(e for e in listed if e["segment"] == "repeaters")
    assert (entry["segmentation"], entry["version"], entry["members"]) == ("rules", 1, 0)
    duck = _invoke("segment", "show", "repeaters", "--sql", "-w", str(shop))
    assert "days_since_last_order" in duck and "SELECT uid FROM profiles" in duck
    spark = _invoke("segment", "show", "repeaters", "--sql", "--dialect", "spark", "-w", str(shop))
    assert "SELECT uid FROM profiles" in spark
    counted = Workspace(shop).sql(f"SELECT count(*) AS n FROM profiles WHERE {duck.split('WHERE', 1)[1]}")
    expected = Workspace(shop).sql(
        "SELECT count(*) AS n FROM profiles WHERE orders >= 2 AND days_since_last_order < 400"
    )
    assert counted.to_pylist() == expected.to_pylist()


def test_segment_add_rejects_a_bad_rule_with_a_hint(shop: Path) -> None:
    message = _failing("segment", "add", "bad", "revenue > 1; drop table profiles", "-w", str(shop))
    assert "error: rule 'bad': a rule is one expression" in message
    typo = _failing("segment", "add", "bad", "revenue_356d > 1", "-w", str(shop))
    assert "did you mean 'revenue_365d'?" in typo


def test_segment_preview_json(shop: Path) -> None:
    preview = json.loads(_invoke("segment", "preview", "revenue > 100", "--sample", "2", "-w", str(shop), "-f", "json"))
    size = Workspace(shop).sql("SELECT count(*) AS n FROM profiles WHERE revenue > 100").column("n")[0].as_py()
    assert preview["size"] == size and len(preview["sample"]) == 2


def test_questions_table_and_json(shop: Path) -> None:
    table = _invoke("questions", "-w", str(shop))
    assert "dormant" in table and "VIP" in table and "loyal" in table
    answers = json.loads(_invoke("questions", "-w", str(shop), "--format", "json"))
    learnt = answers["lifecycle"]
    assert learnt["as_of"] == AS_OF.isoformat()
    assert learnt["at_risk_days"]["value"] < learnt["dormant_days"]["value"]


def test_transitions_matrix(shop: Path) -> None:
    result = json.loads(
        _invoke("transitions", "lifecycle", "--from", EARLIER, "--to", AS_OF.isoformat(), "-w", str(shop), "-f", "json")
    )
    people = Workspace(shop).sql("SELECT count(*) AS n FROM profiles").column("n")[0].as_py()
    assert sum(cell["count"] for cell in result["cells"] if cell["target"] != "(none)") == people
    table = _invoke("transitions", "lifecycle", "--from", EARLIER, "--to", AS_OF.isoformat(), "-w", str(shop))
    assert "share of the row" in table and "dormant" in table


def test_microsegments_table(shop: Path) -> None:
    output = _invoke("microsegments", "lifecycle", "rfm", "--min-size", "3", "-w", str(shop))
    assert "lifecycle × rfm" in output and "(other:" in output
    assert "name two or more segmentations" in _failing("microsegments", "lifecycle", "-w", str(shop))
