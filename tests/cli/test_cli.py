"""The CLI: init, run, sql (table/csv/json), status, and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from personae.cli import main
from personae.cli.app import app
from tests.cli_calls import run_cli
from tests.sources import disks
from tests.workspaces import POS_CSV, POS_SOURCE, WEB_JSONL, WEB_SOURCE, write_workspace

runner = CliRunner()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = write_workspace(
        tmp_path / "ws", [POS_SOURCE, WEB_SOURCE], {"data/pos/a.csv": POS_CSV, "data/web/a.jsonl": WEB_JSONL}
    )
    result = runner.invoke(app, ["run", "--workspace", str(root), "--as-of", "2024-03-01"])
    assert result.exit_code == 0, result.output
    return root


def test_init_creates_a_valid_empty_workspace(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "shop")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "shop/personae.toml").is_file()
    assert (tmp_path / "shop/data").is_dir()
    again = runner.invoke(app, ["init", str(tmp_path / "shop")])
    assert again.exit_code != 0


def test_run_as_json_says_what_each_step_recomputed(workspace: Path) -> None:
    (workspace / "data/pos/b.csv").write_text(POS_CSV.replace("R", "S"))
    result = runner.invoke(app, ["run", "--workspace", str(workspace), "--as-of", "2024-03-02", "-f", "json"])
    assert result.exit_code == 0, result.output
    notes = {step["name"]: step["note"] for step in json.loads(result.output)["steps"]}
    assert notes["identity"].startswith("incremental: recomputed the people of "), notes
    assert notes["traits"].startswith("incremental: recomputed "), notes


def test_run_prints_a_summary_per_source(workspace: Path) -> None:
    (workspace / "data/pos/b.csv").write_text(POS_CSV.replace("R", "S"))
    result = runner.invoke(app, ["run", "--workspace", str(workspace), "--as-of", "2024-03-01"])
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 5}
    cells = [cell.strip() for cell in lines["pos"].split("│")[1:-1]]
    assert cells == ["pos", "orders", "2", "1", "0", "4", "4", "0", "0"]


def test_sql_csv_and_json(workspace: Path) -> None:
    query = "SELECT event_id, amount FROM events WHERE source = 'pos' ORDER BY 1"
    as_csv = runner.invoke(app, ["sql", query, "--workspace", str(workspace), "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[0] == ["event_id", "amount"]
    assert rows[1] == ["pos:R1", "12.50"]
    assert len(rows) == 5
    as_json = runner.invoke(app, ["sql", query, "--workspace", str(workspace), "--format", "json"])
    assert json.loads(as_json.stdout)[1] == {"event_id": "pos:R2", "amount": "99.99"}


def test_status_lists_sources_and_tables(workspace: Path) -> None:
    result = runner.invoke(app, ["status", "--workspace", str(workspace)])
    assert result.exit_code == 0, result.output
    assert "last run: 1" in result.output
    web = next(line for line in result.output.splitlines() if "│ web" in line)
    assert [cell.strip() for cell in web.split("│")[1:5]] == ["web", "events", "1", "3"]


def test_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "bad", [POS_SOURCE], {}, engine={"duckdb": {"pth": "x.duckdb"}})
    result = subprocess.run(
        [sys.executable, "-m", "personae", "status", "--workspace", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown key 'engine.duckdb.pth'; did you mean 'path'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_with_a_failing_source_exits_1_and_names_it(workspace: Path) -> None:
    (workspace / "data/pos/a.csv").unlink()
    (workspace / "data/pos").rmdir()
    result = runner.invoke(app, ["run", "--workspace", str(workspace), "--as-of", "2024-03-01"])
    assert result.exit_code == 1
    assert "no file matches 'data/pos/*.csv'" in " ".join(result.output.split())


def test_profile_and_identity_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    crm = {
        "name": "crm",
        "kind": "customers",
        "path": "data/crm.csv",
        "columns": {"record_id": "id"},
        "identifiers": {"crm_id": "id", "email": "email"},
    }
    root = write_workspace(
        tmp_path / "ws",
        [POS_SOURCE, crm],
        {"data/pos/a.csv": POS_CSV, "data/crm.csv": "id,first_name,email\nK1,Jane,jane@mail.org\n"},
        identity={"fuzzy": {"enabled": False}},
    )
    assert runner.invoke(app, ["run", "--workspace", str(root), "--as-of", "2024-03-01"]).exit_code == 0
    shown = runner.invoke(app, ["profile", "email:JANE@mail.org", "--workspace", str(root), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.stdout)
    assert view["golden"]["first_name"] == {"value": "Jane", "source": "crm", "at": view["golden"]["first_name"]["at"]}
    assert {row["id_type"] for row in view["identifiers"]} == {"crm_id", "email"}
    assert view["records"] == {"crm": 1}
    missing = subprocess.run(
        [sys.executable, "-m", "personae", "profile", "email:nobody@example.org", "--workspace", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert "no person has email 'nobody@example.org'" in missing.stderr
    code, _, err = run_cli(monkeypatch, capsys, "profile", "emial:jane@mail.org", "--workspace", str(root))
    assert code == 2
    assert "no identifier of type 'emial' is known; did you mean 'email'?" in err
    report = runner.invoke(app, ["identity", "report", "--workspace", str(root)])
    assert report.exit_code == 0, report.output
    assert "largest people" in report.output


def test_a_file_that_cannot_be_parsed_fails_the_run_and_the_summary_names_it(workspace: Path) -> None:
    (workspace / "data/pos/b.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    result = runner.invoke(app, ["run", "--workspace", str(workspace), "--as-of", "2024-03-01"])
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "error pos: data/pos/b.csv: unreadable csv file: its first line is not utf-8 text" in output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 5}
    cells = [cell.strip() for cell in lines["pos"].split("│")[1:-1]]
    assert cells == ["pos", "orders", "2", "1", "1", "0", "0", "0", "0"]


@pytest.fixture
def read_only(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A folder on a read-only tmpfs holding a loaded workspace ``ws``."""
    folder = disks.mount_tmpfs(tmp_path / "disk", "8m")
    request.addfinalizer(lambda: disks.unmount(folder))
    root = write_workspace(folder / "ws", [POS_SOURCE], {"data/pos/a.csv": POS_CSV})
    assert runner.invoke(app, ["run", "--workspace", str(root), "--as-of", "2024-03-01"]).exit_code == 0
    disks.remount_read_only(folder)
    return folder


def _one_error_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["personae", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_init_into_a_read_only_folder_is_one_line_naming_it(
    read_only: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _one_error_line(monkeypatch, capsys, "init", str(read_only / "shop"))
    assert str(read_only / "shop") in line and "Read-only file system" in line


def test_segment_add_in_a_read_only_workspace_is_one_line_naming_it(
    read_only: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _one_error_line(monkeypatch, capsys, "segment", "add", "big", "revenue > 50", "-w", str(read_only / "ws"))
    assert str(read_only / "ws") in line and "Read-only file system" in line
