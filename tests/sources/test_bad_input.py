"""Bad input gets a clear error or quarantined rows, and nothing already stored changes."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from personae import Workspace
from personae.errors import ConfigError, EngineError
from personae.sources import loading as loading_module
from tests.workspaces import POS_CSV, POS_SOURCE, WEB_JSONL, WEB_SOURCE, snapshot, write_workspace

AS_OF = date(2024, 3, 1)
LEDGER_TABLES = {"quarantine", "loaded_files", "runs", "audit_log"}  # appended to, never rewritten
DERIVED = {
    "identifiers",
    "identity_map",
    "record_map",
    "identity_edges",
    "identity_cuts",
    "identity_state",
    "profiles",
    "merges",
    "traits",
    "trait_shares",
    "customer_summary",
    "order_gaps",
    "order_gap_counts",
    "traits_state",
    "traits_record_digests",
    "golden_digests",
    "golden_state",
    "rfm_scores",
    "memberships",
    "membership_changes",
    "predictions",
    "model_scores_clv",
    "model_scores_propensity",
    "model_scores_lifestyle",
    "model_scores_survey",
    "persona_cards",
    "segment_overlaps",
    "segment_sizes",
    "segment_flows",
    "rfm_cells",
}
"""Rebuilt from the loaded rows by later steps: they change whenever good rows load."""


def _loaded(tmp_path: Path) -> Workspace:
    root = write_workspace(
        tmp_path / "ws",
        [POS_SOURCE, WEB_SOURCE],
        {"data/pos/2024.csv": POS_CSV, "data/web/jan.jsonl": WEB_JSONL},
    )
    workspace = Workspace(root)
    assert workspace.run(as_of=AS_OF).errors == []
    return workspace


def _reconfigure(workspace: Workspace, sources: list[dict[str, Any]]) -> Workspace:
    config = {"workspace": {"name": "test"}, "sources": sources}
    (workspace.root / "personae.toml").write_text(tomli_w.dumps(config))
    return Workspace(workspace.root)


def _assert_kept(before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]) -> None:
    """Every stored row is still there, unchanged; data tables got no rows either."""
    for table, rows in before.items():
        if table in LEDGER_TABLES:
            for row in rows:
                assert row in after[table], f"{table} lost {row}"
        else:
            assert after[table] == rows, f"{table} changed"


def test_missing_file_is_reported_and_other_sources_still_load(tmp_path: Path) -> None:
    workspace = _loaded(tmp_path)
    before = snapshot(workspace)
    missing = {**POS_SOURCE, "name": "till", "path": "data/till/*.csv"}
    workspace = _reconfigure(workspace, [POS_SOURCE, WEB_SOURCE, missing])
    report = workspace.run(as_of=AS_OF)
    assert len(report.errors) == 1
    assert "till: source 'till': no file matches 'data/till/*.csv'" in report.errors[0]
    _assert_kept(before, snapshot(workspace))


def test_first_run_with_nothing_loaded_reports_the_error_and_skips_later_steps(tmp_path: Path) -> None:
    missing = {**POS_SOURCE, "path": "data/none/*.csv"}
    workspace = Workspace(write_workspace(tmp_path / "ws", [missing], {}))
    report = workspace.run(as_of=AS_OF)
    assert len(report.errors) == 1
    assert report.errors[0].startswith("pos: source 'pos': no file matches 'data/none/*.csv'")
    skipped = {step.name: step.warnings for step in report.steps if step.warnings}
    assert skipped == {name: [f"{name}: skipped, there are no people yet"] for name in ("models", "segment")}
    assert workspace.sql("SELECT count(*) AS n FROM traits").column("n").to_pylist() == [0]  # made, for live
    assert workspace.sql("SELECT status FROM runs").to_pylist() == [{"status": "failed"}]


def test_unknown_mapping_column_names_the_nearest(tmp_path: Path) -> None:
    workspace = _loaded(tmp_path)
    before = snapshot(workspace)
    (workspace.root / "data/pos/2025.csv").write_text(POS_CSV.replace("R", "S"))
    typo = {**POS_SOURCE, "columns": {**POS_SOURCE["columns"], "order_id": "recept"}}
    workspace = _reconfigure(workspace, [typo, WEB_SOURCE])
    report = workspace.run(as_of=AS_OF)
    assert len(report.errors) == 1
    assert "order_id = 'recept'" in report.errors[0]
    assert "has no column 'recept'; did you mean 'receipt'?" in report.errors[0]
    _assert_kept(before, snapshot(workspace))


def test_malformed_csv_lines_are_quarantined_and_good_rows_load(tmp_path: Path) -> None:
    workspace = _loaded(tmp_path)
    before = snapshot(workspace)
    (workspace.root / "data/pos/2025.csv").write_text(
        "receipt,sold_at,total,card,email,phone,promo\n"
        "S1,2025-01-01 10:00:00,1.00,C1,,,\n"
        "S2,2025-01-02 10:00:00,2.00,C1,,,,x,y\n"
        "S3,2025-01-03 10:00:00,3.00\n"
        "S4,2025-01-04 10:00:00,4.00,C1,,,\n"
    )
    workspace.run(as_of=AS_OF)
    quarantined = workspace.sql(
        "SELECT line, reason, raw FROM quarantine WHERE file = 'data/pos/2025.csv' ORDER BY line"
    ).to_pylist()
    assert [row["line"] for row in quarantined] == [3, 4]
    assert "too many columns" in quarantined[0]["reason"]
    assert "missing columns" in quarantined[1]["reason"]
    assert quarantined[1]["raw"] == "S3,2025-01-03 10:00:00,3.00"
    loaded = workspace.sql("SELECT event_id FROM events WHERE _file = 'data/pos/2025.csv' ORDER BY 1")
    assert loaded.column(0).to_pylist() == ["pos:S1", "pos:S4"]
    _assert_kept({t: r for t, r in before.items() if t not in {"events", "raw_pos", *DERIVED}}, snapshot(workspace))


def test_wrong_required_types_are_quarantined_with_the_value(tmp_path: Path) -> None:
    workspace = _loaded(tmp_path)
    (workspace.root / "data/pos/2025.csv").write_text(
        "receipt,sold_at,total,card,email,phone,promo\n"
        "S1,yesterday,1.00,C1,,,\nS2,2025-01-02,€2,C1,,,\nS3,2025-01-03,3.00,C1,,,maybe\n"
    )
    workspace.run(as_of=AS_OF)
    reasons = workspace.sql(
        "SELECT row, reason FROM quarantine WHERE file = 'data/pos/2025.csv' ORDER BY row"
    ).to_pylist()
    assert reasons == [
        {"row": 1, "reason": "ts (column 'sold_at'): 'yesterday' is not a timestamp"},
        {"row": 2, "reason": "amount (column 'total'): '€2' is not an amount"},
    ]
    # an optional value that does not parse loses the value, not the order
    loaded = workspace.sql("SELECT event_id, promo FROM events WHERE _file = 'data/pos/2025.csv'").to_pylist()
    assert loaded == [{"event_id": "pos:S3", "promo": None}]
    issues = workspace.sql("SELECT row, field, source_column, value, reason FROM field_issues").to_pylist()
    assert issues == [
        {"row": 3, "field": "promo", "source_column": "promo", "value": "maybe", "reason": "not true or false"}
    ]


def test_invalid_json_lines_are_quarantined_with_their_line(tmp_path: Path) -> None:
    workspace = _loaded(tmp_path)
    before = snapshot(workspace)
    (workspace.root / "data/web/feb.jsonl").write_text(
        '{"messageId":"f1","type":"track","event":"X","userId":"u2","timestamp":"2024-02-01T00:00:00Z"}\n'
        '{"messageId":"f2", "type": \n'
        "[1, 2]\n"
        '{"messageId":"f3","type":"track","event":"Y","userId":"u2","timestamp":"2024-02-02T00:00:00Z"}\n'
    )
    workspace.run(as_of=AS_OF)
    bad = workspace.sql(
        "SELECT row, reason, raw FROM quarantine WHERE file = 'data/web/feb.jsonl' ORDER BY row"
    ).to_pylist()
    assert [(row["row"], row["reason"]) for row in bad] == [(2, "invalid JSON"), (3, "invalid JSON")]
    assert bad[0]["raw"] == '{"messageId":"f2", "type": '
    ids = workspace.sql("SELECT event_id FROM events WHERE _file = 'data/web/feb.jsonl' ORDER BY 1")
    assert ids.column(0).to_pylist() == ["f1", "f3"]
    _assert_kept({t: r for t, r in before.items() if t not in {"events", "raw_web", *DERIVED}}, snapshot(workspace))


def test_duplicate_event_ids_in_a_file_are_quarantined(tmp_path: Path) -> None:
    workspace = _loaded(tmp_path)
    line = '{"messageId":"d1","type":"track","event":"X","userId":"u2","timestamp":"2024-02-01T00:00:00Z"}\n'
    (workspace.root / "data/web/dup.jsonl").write_text(line + line.replace('"X"', '"Y"'))
    workspace.run(as_of=AS_OF)
    assert workspace.sql("SELECT name FROM events WHERE event_id = 'd1'").to_pylist() == [{"name": "X"}]
    assert workspace.sql("SELECT row, reason FROM quarantine WHERE file = 'data/web/dup.jsonl'").to_pylist() == [
        {"row": 2, "reason": "duplicate key 'd1' in this file (first at row 1)"}
    ]


def test_corrupt_parquet_is_quarantined_whole_and_nothing_changes(tmp_path: Path) -> None:
    workspace = _loaded(tmp_path)
    before = snapshot(workspace)
    shop = {"name": "shop", "kind": "orders", "path": "data/shop/*.parquet"}
    (workspace.root / "data/shop").mkdir()
    (workspace.root / "data/shop/orders.parquet").write_bytes(b"PAR1 this is not really parquet PAR1")
    workspace = _reconfigure(workspace, [POS_SOURCE, WEB_SOURCE, shop])
    report = workspace.run(as_of=AS_OF)
    shop_report = next(source for source in report.sources if source.name == "shop")
    assert [file.status for file in shop_report.files] == ["failed"]
    rows = workspace.sql("SELECT file, row, reason FROM quarantine WHERE source = 'shop'").to_pylist()
    assert len(rows) == 1 and rows[0]["row"] is None
    assert rows[0]["reason"].startswith("unreadable parquet file:")
    _assert_kept(before, snapshot(workspace))


def test_unreachable_postgres_is_a_clear_error(tmp_path: Path) -> None:
    workspace = _loaded(tmp_path)
    before = snapshot(workspace)
    database = {
        "name": "crm",
        "kind": "customers",
        "table": "customers",
        "dsn": "postgresql://nobody@127.0.0.1:1/shop",
    }
    workspace = _reconfigure(workspace, [POS_SOURCE, WEB_SOURCE, database])
    report = workspace.run(as_of=AS_OF)
    assert len(report.errors) == 1
    assert "cannot reach PostgreSQL at 127.0.0.1:1/shop" in report.errors[0]
    assert "check the dsn and that the server is running" in report.errors[0]
    _assert_kept(before, snapshot(workspace))


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[workspace]\ncurency = "EUR"\n', "unknown key 'workspace.curency'; did you mean 'currency'?"),
        (
            '[[sources]]\nname = "pos"\nkind = "orders"\npath = "a.csv"\nidentifers = {}\n',
            "unknown key 'sources.0.identifers'; did you mean 'identifiers'?",
        ),
        ('[engine.spark]\nmastr = "local"\n', "unknown key 'engine.spark.mastr'; did you mean 'master'?"),
        (
            '[[sources]]\nname = "pos"\nkind = "orders"\npath = "a.csv"\ncolumns = { amout = "x" }\n',
            "orders sources have no column 'amout'; did you mean 'amount'?",
        ),
        ('[[sources]]\nname = "pos"\nkind = "order"\npath = "a.csv"\n', "sources.0.kind: Input should be"),
        ('[workspace\nname = "x"\n', "not valid TOML"),
    ],
)
def test_toml_typo_names_the_key_file_and_nearest(tmp_path: Path, toml: str, expected: str) -> None:
    workspace = _loaded(tmp_path)
    before = snapshot(workspace)
    (workspace.root / "personae.toml").write_text(toml)
    with pytest.raises(ConfigError) as caught:
        Workspace(workspace.root)
    assert expected in str(caught.value)
    assert str(workspace.root / "personae.toml") in str(caught.value)
    (workspace.root / "personae.toml").write_text(
        tomli_w.dumps({"workspace": {"name": "test"}, "sources": [POS_SOURCE, WEB_SOURCE]})
    )
    _assert_kept(before, snapshot(Workspace(workspace.root)))


def test_failure_mid_file_rolls_back_everything_of_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = _loaded(tmp_path)
    before = snapshot(workspace)
    (workspace.root / "data/pos/2025.csv").write_text(POS_CSV.replace("R", "S"))

    def explode(*args: object, **options: object) -> tuple[int, int]:
        raise EngineError("disk full (simulated)")

    monkeypatch.setattr(loading_module, "_write_target", explode)
    with pytest.raises(EngineError, match="simulated"):
        workspace.run(as_of=AS_OF)
    _assert_kept(before, snapshot(workspace))
    assert snapshot(workspace)["raw_pos"] == before["raw_pos"]
