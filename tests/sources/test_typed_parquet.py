"""A Parquet file mapped with its own column types gives the same store as its text copy."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from personae import Workspace
from personae.engine import dialects
from personae.engine.duckdb import DuckDBEngine
from tests.workspaces import snapshot, write_workspace

SHOP = {
    "name": "shop",
    "kind": "orders",
    "path": "data/shop.parquet",
    "columns": {"ts": "created_at", "amount": "grand_total"},
    "identifiers": {"email": "email", "loyalty_id": "card"},
}
TILL = {  # a timestamp with a configured format is parsed from its text, whatever its type
    "name": "till",
    "kind": "orders",
    "path": "data/till.parquet",
    "columns": {"order_id": "receipt", "ts": "sold_at", "amount": "cents"},
    "formats": {"ts": "%d/%m/%Y %H:%M:%S"},
}


def _files(root: Path) -> None:
    (root / "data").mkdir(parents=True)
    shop = pa.table(
        {
            "order_id": ["W1", "W2", "W3", "W4", "W5", "W2"],
            "created_at": pa.array(
                [datetime(2024, 5, 1, 8), datetime(2024, 5, 2, 9, 30, 15, 250000), None, *[datetime(2024, 6, 1)] * 3]
            ),
            "grand_total": pa.array(
                [Decimal("10.00"), Decimal("20.25"), Decimal("1.50"), None, Decimal("99999999.99"), Decimal("3")],
                pa.decimal128(10, 2),
            ),
            "tip": [1.005, 0.125, None, 2.5, 1e20, 0.0],  # unmapped floats: kept as their text
            "store_id": pa.array([7, 8, None, 9, 10, 7], pa.int64()),  # a number read as text
            "promo": [True, False, None, True, False, True],
            "email": [" A@B.com", "c@d.org", "not-mail", None, "e@f.net", "c@d.org"],
            "card": ["C1", "C2", "C3", "", "C5", "C2"],
        }
    )
    till = pa.table(
        {
            "receipt": ["T1", "T2", "T3"],
            "sold_at": pa.array([datetime(2024, 5, 1, 8), datetime(2024, 5, 3), None]),
            "cents": pa.array([1250, 10**17, 5], pa.int64()),  # 10^17 overflows DECIMAL(18,2)
        }
    )
    pq.write_table(shop, root / "data/shop.parquet")
    pq.write_table(till, root / "data/till.parquet")


def _loaded(root: Path, monkeypatch: pytest.MonkeyPatch, typed: bool) -> tuple[dict[str, Any], list[str]]:
    _files(root)
    workspace = Workspace(write_workspace(root, [SHOP, TILL], {}))
    capabilities = dict(dialects.CAPABILITIES)
    if not typed:
        capabilities["duckdb"] = capabilities["duckdb"] - {"typed_stage"}
    monkeypatch.setattr("personae.sources.loading.CAPABILITIES", capabilities)
    monkeypatch.setattr("personae.sources.grouped.CAPABILITIES", capabilities)
    staged: list[str] = []
    original = DuckDBEngine.stage

    def stage(self: DuckDBEngine, name: str, path: Path | list[Path]) -> None:
        staged.extend(each.suffix for each in ([path] if isinstance(path, Path) else path))
        original(self, name, path)

    monkeypatch.setattr(DuckDBEngine, "stage", stage)
    report = workspace.run(as_of=date(2024, 7, 1), only="ingest")
    assert report.errors == []
    monkeypatch.undo()
    tables = snapshot(workspace)
    del tables["runs"]  # when it ran, not what it loaded
    del tables["audit_log"], tables["workspace_settings"]  # when the run saw personae.toml; a random salt
    for rows in tables.values():
        for row in rows:
            for volatile in ("_loaded_at", "loaded_at", "received_at", "quarantined_at", "found_at", "applied_at"):
                row.pop(volatile, None)
    return tables, staged


def test_typed_parquet_loads_exactly_what_its_text_copy_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    typed, typed_staged = _loaded(tmp_path / "typed", monkeypatch, typed=True)
    text, text_staged = _loaded(tmp_path / "text", monkeypatch, typed=False)
    assert typed_staged == [".parquet", ".parquet"]  # the input files themselves
    assert text_staged == [".partial", ".partial"]  # their raw copies
    assert typed == text
    events = {row["event_id"]: row for row in typed["events"]}
    assert events["shop:W2"]["ts"] == datetime(2024, 5, 2, 9, 30, 15, 250000)
    assert events["shop:W2"]["amount"] == Decimal("20.25")
    assert events["shop:W1"]["store_id"] == "7"
    assert events["shop:W1"]["promo"] is True
    assert events["shop:W1"]["email"] == "a@b.com"
    reasons = {(row["file"], row["row"]): row["reason"] for row in typed["quarantine"]}
    not_day_first = "ts (column 'sold_at'): '2024-05-01 08:00:00' is not a timestamp"
    assert reasons[("data/till.parquet", 1)] == not_day_first
    assert reasons[("data/till.parquet", 2)].endswith("'cents'): '100000000000000000' is not an amount")
    assert reasons[("data/shop.parquet", 6)].startswith("duplicate key 'W2'")
    raw = {row["order_id"]: row for row in typed["raw_shop"]}
    assert raw["W1"]["tip"] == "1.005"  # the raw copy holds DuckDB's text of every value
