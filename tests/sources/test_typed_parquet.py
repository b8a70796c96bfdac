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
    for module in ("ingest", "loading", "grouped"):
        monkeypatch.setattr(f"personae.sources.{module}.CAPABILITIES", capabilities)
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
    for name in ("raw_shop", "raw_till"):  # a typed copy's values as DuckDB's text of them
        tables[name] = sorted(_as_text(workspace, name), key=repr)
    del tables["runs"]  # when it ran, not what it loaded
    del tables["audit_log"], tables["workspace_settings"]  # when the run saw personae.toml; a random salt
    for rows in tables.values():
        for row in rows:
            for volatile in ("_loaded_at", "loaded_at", "received_at", "quarantined_at", "found_at", "applied_at"):
                row.pop(volatile, None)
    types = workspace.sql("SELECT DISTINCT typeof(COLUMNS(* EXCLUDE (_row))) FROM raw_shop").to_pydict()
    tables["raw_shop_types"] = {column: set(values) for column, values in types.items()}
    return tables, staged


def _as_text(workspace: Workspace, table: str) -> list[dict[str, Any]]:
    columns = [row["column_name"] for row in workspace.sql(f"DESCRIBE {table}").to_pylist()]
    cast = [name if name == "_row" else f'CAST("{name}" AS VARCHAR) AS "{name}"' for name in columns]
    return list(workspace.sql(f"SELECT {', '.join(cast)} FROM {table}").to_pylist())


def test_typed_parquet_loads_exactly_what_its_text_copy_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    typed, typed_staged = _loaded(tmp_path / "typed", monkeypatch, typed=True)
    text, text_staged = _loaded(tmp_path / "text", monkeypatch, typed=False)
    assert typed_staged == [".parquet", ".parquet"]  # the input files themselves
    assert text_staged == [".partial", ".partial"]  # their raw copies
    typed_types, text_types = typed.pop("raw_shop_types"), text.pop("raw_shop_types")
    assert {column: typed_types[column] for column in ("tip", "created_at", "promo")} == {
        "tip": {"DOUBLE"},
        "created_at": {"TIMESTAMP"},
        "promo": {"BOOLEAN"},
    }, "the typed raw copy keeps the input's column types"
    assert text_types["tip"] == {"VARCHAR"}
    assert typed == text, "the same store, and raw copies whose text is the same"
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
    assert raw["W1"]["tip"] == "1.005"  # read as text, the typed copy gives DuckDB's text of every value


def test_raw_copies_as_text_and_typed_read_as_one_source_and_erase_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source whose earlier files were copied as text (personae before typed copies, or an
    engine without ``typed_stage``) and whose new ones keep their types: ``raw_<source>`` reads
    both as text, and an erasure takes the person out of both."""
    root = tmp_path / "ws"
    (root / "data/shop").mkdir(parents=True)
    source = {**SHOP, "path": "data/shop/*.parquet"}
    workspace = Workspace(write_workspace(root, [source], {}))
    orders = {
        "order_id": ["W1", "W2"],
        "created_at": [datetime(2024, 5, 1, 8), datetime(2024, 5, 2, 9)],
        "grand_total": [10.5, 1.005],
        "email": ["a@b.com", "c@d.org"],
        "card": ["C1", "C2"],
    }
    pq.write_table(pa.table(orders), root / "data/shop/1.parquet")
    text_only = dict(dialects.CAPABILITIES)
    text_only["duckdb"] = text_only["duckdb"] - {"typed_stage"}
    with monkeypatch.context() as old_personae:
        old_personae.setattr("personae.sources.ingest.CAPABILITIES", text_only)
        assert workspace.run(as_of=date(2024, 7, 1), only="ingest").errors == []
    later = {**orders, "order_id": ["W3", "W4"], "email": ["a@b.com", "e@f.net"]}
    pq.write_table(pa.table(later), root / "data/shop/2.parquet")
    assert workspace.run(as_of=date(2024, 7, 1)).errors == []
    types = [pq.read_schema(path).field("grand_total").type for path in sorted((root / "raw/shop").glob("*.parquet"))]
    assert sorted(map(str, types)) == ["double", "string"], "one copy as text, one typed"
    rows = workspace.sql("SELECT order_id, grand_total, email FROM raw_shop ORDER BY order_id").to_pylist()
    assert rows == [
        {"order_id": "W1", "grand_total": "10.5", "email": "a@b.com"},
        {"order_id": "W2", "grand_total": "1.005", "email": "c@d.org"},
        {"order_id": "W3", "grand_total": "10.5", "email": "a@b.com"},
        {"order_id": "W4", "grand_total": "1.005", "email": "e@f.net"},
    ]
    receipts = workspace.erase(["email:a@b.com"])
    assert receipts[0].found
    left = workspace.sql("SELECT order_id FROM raw_shop ORDER BY order_id").to_pylist()
    assert left == [{"order_id": "W2"}, {"order_id": "W4"}], "the person left both kinds of copy"
