"""The same ingestion on DuckDB and on Spark gives identical tables."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from personae import Workspace
from personae.engine.sql import identifier
from tests.workspaces import (
    CRM_CSV,
    CRM_IDENTITY,
    CRM_SOURCE,
    PEOPLE_CSV,
    PEOPLE_SOURCE,
    POS_CSV,
    POS_SOURCE,
    WEB_JSONL,
    WEB_SOURCE,
    write_workspace,
)

pytestmark = pytest.mark.spark

VOLATILE = {
    "_loaded_at",
    "received_at",
    "quarantined_at",
    "found_at",
    "loaded_at",
    "started_at",
    "finished_at",
    "summary",
}
COMPARED = (
    "events",
    "customer_records",
    "quarantine",
    "field_issues",
    "loaded_files",
    "raw_pos",
    "raw_web",
    "raw_crm",
    "raw_shop",
    "raw_people",
)


def _files(root: Path) -> None:
    table = pa.table(
        {
            "order_id": ["W1", "W2", "W2", "W3"],
            "created_at": pa.array([datetime(2024, 5, 1, 8), datetime(2024, 5, 2, 9), datetime(2024, 5, 2, 9), None]),
            "grand_total": [10.0, 20.25, 20.25, 3.0],
            "email": ["A@B.com", "c@d.org", "c@d.org", None],
            "promo": [True, False, False, None],  # typed columns DuckDB maps as they are
            "store_id": pa.array([7, 8, 8, None], pa.int64()),
        }
    )
    (root / "data/shop").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / "data/shop/orders.parquet")


def _rows(workspace: Workspace, engine: str) -> dict[str, list[dict[str, Any]]]:
    """The compared tables; a raw copy's columns as their text (DuckDB keeps a Parquet input's
    types in its raw copy, Spark its text: DuckDB's text of the same values)."""
    out = {}
    with workspace.engine(write=False, name=engine) as store:
        for table in COMPARED:
            columns = [identifier(name) for name, _ in store.columns(table)]
            as_text = table.startswith("raw_")
            listed = ", ".join(
                f"CAST({name} AS VARCHAR) AS {name}" if as_text and name != identifier("_row") else name
                for name in columns
            )
            rows = store.fetch_arrow(f"SELECT {listed} FROM {table}").to_pylist()
            cleaned = [{k: v for k, v in row.items() if k not in VOLATILE} for row in rows]
            out[table] = sorted(cleaned, key=repr)
    return out


def test_ingest_gives_identical_tables_on_duckdb_and_spark(tmp_path: Path) -> None:
    shop = {
        "name": "shop",
        "kind": "orders",
        "path": "data/shop/*.parquet",
        "columns": {"ts": "created_at", "amount": "grand_total"},
        "identifiers": {"email": "email"},
    }
    bad_pos = POS_CSV + "R9,not a time,1.00,C1,,,\nR1,2024-01-05 10:00:00,12.50,C1,,,\nR10,2024-01-01,1,C1,,,,x,y\n"
    bad_web = WEB_JSONL + "{not json\n"
    files = {
        "data/pos/2024.csv": bad_pos,
        "data/web/jan.jsonl": bad_web,
        "data/crm.csv": CRM_CSV,
        "data/people.csv": PEOPLE_CSV,  # computed mappings
    }
    results = {}
    for engine in ("duckdb", "spark"):
        root = write_workspace(
            tmp_path / engine, [POS_SOURCE, WEB_SOURCE, CRM_SOURCE, shop, PEOPLE_SOURCE], files, identity=CRM_IDENTITY
        )
        _files(root)
        workspace = Workspace(root)
        report = workspace.run(as_of=date(2024, 6, 1), engine=engine, only="ingest")
        assert report.errors == []
        again = workspace.run(as_of=date(2024, 6, 1), engine=engine, only="ingest")
        assert {file.status for source in again.sources for file in source.files} == {"skipped"}
        results[engine] = _rows(workspace, engine)
    duck, spark = results["duckdb"], results["spark"]
    assert len(duck["events"]) == 4 + 3 + 2  # pos R1-R4, web m1-m3, shop W1-W2
    assert len(duck["quarantine"]) == 6
    # crm K3 loads, its birth date NULL; people K3's computed dates are 31 February
    assert sorted(row["value"] for row in duck["field_issues"]) == ["1990-02-31", "1990-13-01", "19900231"]
    assert len(duck["customer_records"]) == 3 + 3
    for table in COMPARED:
        assert spark[table] == duck[table], f"{table} differs between engines"
