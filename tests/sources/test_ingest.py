"""Ingestion: mapping, typing, normalisation, quarantine and incremental loads (DuckDB)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from personae import Workspace
from personae.sources.targets import events_rows_sql, records_rows_sql
from tests.workspaces import (
    CRM_CSV,
    CRM_IDENTITY,
    CRM_SOURCE,
    POS_CSV,
    POS_SOURCE,
    WEB_JSONL,
    WEB_SOURCE,
    write_workspace,
)


def _workspace(tmp_path: Path) -> Workspace:
    root = write_workspace(
        tmp_path / "ws",
        [POS_SOURCE, WEB_SOURCE, CRM_SOURCE],
        {"data/pos/2024.csv": POS_CSV, "data/web/jan.jsonl": WEB_JSONL, "data/crm.csv": CRM_CSV},
        identity=CRM_IDENTITY,
    )
    return Workspace(root)


def test_orders_are_mapped_typed_and_normalised(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    report = workspace.run(as_of=date(2024, 3, 1))
    assert report.errors == []
    rows = workspace.sql(
        "SELECT event_id, type, ts, amount, channel, promo, loyalty_id, email, phone "
        "FROM events WHERE source = 'pos' ORDER BY event_id"
    ).to_pylist()
    assert [row["event_id"] for row in rows] == ["pos:R1", "pos:R2", "pos:R3", "pos:R4"]
    first = rows[0]
    assert first["ts"] == datetime(2024, 1, 5, 10, 0)
    assert first["amount"] == Decimal("12.50")
    assert (first["channel"], first["promo"], first["type"]) == ("store", True, "order")
    assert first["email"] == "jane@example.com"
    assert first["phone"] == "+15551234567"
    assert rows[2]["ts"] == datetime(2024, 2, 1, 9, 15)  # ISO with Z
    assert rows[2]["phone"] == "+442079460958"
    assert rows[2]["promo"] is None
    # malformed identifiers never link people: NULL here, raw kept in raw_pos
    assert (rows[3]["email"], rows[3]["phone"], rows[3]["loyalty_id"]) == (None, None, None)
    raw = workspace.sql("SELECT email, phone FROM raw_pos WHERE receipt = 'R4'").to_pylist()
    assert raw == [{"email": "not-an-email", "phone": "123"}]


def test_segment_events_are_extracted(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    workspace.run(as_of=date(2024, 3, 1))
    rows = workspace.sql(
        "SELECT event_id, type, name, ts, user_id, anonymous_id, email, category, product_id, amount, "
        "channel FROM events WHERE source = 'web' ORDER BY event_id"
    ).to_pylist()
    assert [(r["event_id"], r["type"], r["name"]) for r in rows] == [
        ("m1", "page", "Home"),
        ("m2", "identify", None),
        ("m3", "track", "Product Viewed"),
    ]
    assert rows[1]["ts"] == datetime(2024, 1, 5, 9, 1, 0, 500000)
    assert (rows[1]["user_id"], rows[1]["anonymous_id"], rows[1]["email"]) == ("u1", "a1", "jane@example.com")
    assert (rows[2]["category"], rows[2]["product_id"], rows[2]["amount"]) == (
        "kitchen",
        "p9",
        Decimal("19.50"),
    )
    assert rows[2]["channel"] == "web"


def test_customer_records_with_formats_extra_ids_and_attributes(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    workspace.run(as_of=date(2024, 3, 1))
    rows = workspace.sql(
        "SELECT record_id, birth_date, crm_id, email, extra_ids, attributes FROM customer_records ORDER BY record_id"
    ).to_pylist()
    assert [row["record_id"] for row in rows] == ["K1", "K2", "K3"]
    assert rows[0]["birth_date"] == date(1980, 4, 3)
    assert rows[0]["crm_id"] == "K1"
    assert '"member_no":"M-1"' in rows[0]["extra_ids"].replace(" ", "")
    assert '"vip":"yes"' in rows[0]["attributes"].replace(" ", "")
    assert (rows[2]["birth_date"], rows[2]["email"]) == (None, "ann@example.com")  # a bad birth date loses only itself
    assert workspace.sql("SELECT count(*) AS n FROM quarantine WHERE source = 'crm'").to_pylist() == [{"n": 0}]
    issues = workspace.sql("SELECT row, field, source_column, value, reason FROM field_issues").to_pylist()
    assert issues == [
        {
            "row": 3,
            "field": "birth_date",
            "source_column": "dob",
            "value": "1990-13-01",
            "reason": "not a date in the format '%d/%m/%Y'",
        }
    ]


def test_rerun_skips_loaded_files_and_changes_nothing(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    workspace.run(as_of=date(2024, 3, 1))
    before = workspace.sql("SELECT count(*) AS n FROM events").to_pylist()
    again = workspace.run(as_of=date(2024, 3, 1))
    assert {file.status for source in again.sources for file in source.files} == {"skipped"}
    assert workspace.sql("SELECT count(*) AS n FROM events").to_pylist() == before


def test_changed_file_is_reloaded_without_duplicates(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    workspace.run(as_of=date(2024, 3, 1))
    changed = POS_CSV.replace("R2,2024-01-06 11:30:00,99.99", "R2,2024-01-06 11:30:00,89.99")
    (workspace.root / "data/pos/2024.csv").write_text(changed + "R5,2024-02-03,1.00,C9,,,\n")
    report = workspace.run(as_of=date(2024, 3, 1))
    pos = next(source for source in report.sources if source.name == "pos")
    assert [file.status for file in pos.files] == ["reloaded"]
    rows = workspace.sql("SELECT event_id, amount FROM events WHERE source = 'pos' ORDER BY event_id").to_pylist()
    assert [row["event_id"] for row in rows] == ["pos:R1", "pos:R2", "pos:R3", "pos:R4", "pos:R5"]
    assert rows[1]["amount"] == Decimal("89.99")
    assert workspace.sql("SELECT count(*) AS n FROM raw_pos").to_pylist() == [{"n": 5}]


def test_a_raw_view_lost_with_a_killed_run_is_declared_again(tmp_path: Path) -> None:
    """``raw_<source>`` is declared once a source's files are in; a run killed after a file's
    commit but before that leaves the file loaded and no view: the next run declares it."""
    workspace = _workspace(tmp_path)
    workspace.run(as_of=date(2024, 3, 1))
    with duckdb.connect(str(workspace.root / "personae.duckdb")) as store:
        store.execute("DROP VIEW raw_pos")
    again = workspace.run(as_of=date(2024, 3, 1))
    assert {file.status for source in again.sources for file in source.files} == {"skipped"}
    assert workspace.sql("SELECT count(*) AS n FROM raw_pos").to_pylist() == [{"n": 4}]


def test_event_ids_are_idempotent_across_files(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    workspace.run(as_of=date(2024, 3, 1))
    resent = (
        WEB_JSONL.splitlines()[2]
        + "\n"
        + ('{"messageId":"m4","type":"track","event":"Cart Viewed","userId":"u1","timestamp":"2024-01-06T10:00:00Z"}\n')
    )
    (workspace.root / "data/web/feb.jsonl").write_text(resent)
    report = workspace.run(as_of=date(2024, 3, 1))
    web = next(source for source in report.sources if source.name == "web")
    loaded = {file.file: (file.rows_loaded, file.rows_duplicate) for file in web.files}
    assert loaded["data/web/feb.jsonl"] == (1, 1)
    ids = workspace.sql("SELECT event_id FROM events WHERE source = 'web' ORDER BY 1").column(0).to_pylist()
    assert ids == ["m1", "m2", "m3", "m4"]


def test_orders_already_stored_are_skipped_in_a_new_file(tmp_path: Path) -> None:
    """Order ids are idempotent too: a new file repeating stored receipts loads only its new
    ones (the stored ids are looked up among the source's own, ``pos:…``)."""
    workspace = _workspace(tmp_path)
    workspace.run(as_of=date(2024, 3, 1))
    (workspace.root / "data/pos/2024-again.csv").write_text(POS_CSV + "R5,2024-02-03,1.00,C9,,,\n")
    report = workspace.run(as_of=date(2024, 3, 1))
    pos = next(source for source in report.sources if source.name == "pos")
    loaded = {file.file: (file.rows_loaded, file.rows_duplicate) for file in pos.files}
    assert loaded["data/pos/2024-again.csv"] == (1, 4)
    ids = workspace.sql("SELECT event_id FROM events WHERE source = 'pos' ORDER BY 1").column(0).to_pylist()
    assert ids == ["pos:R1", "pos:R2", "pos:R3", "pos:R4", "pos:R5"]


def test_parquet_source_keeps_row_numbers(tmp_path: Path) -> None:
    table = pa.table(
        {
            "order_id": ["W1", "W2", "W3"],
            "created_at": pa.array([datetime(2024, 5, 1, 8), datetime(2024, 5, 2, 9), None]),
            "grand_total": [10.0, 20.25, 3.0],
            "email": ["A@B.com", "c@d.org", "e@f.net"],
        }
    )
    root = tmp_path / "ws"
    (root / "data").mkdir(parents=True)
    pq.write_table(table, root / "data/shop.parquet")
    source = {
        "name": "shop",
        "kind": "orders",
        "path": "data/shop.parquet",
        "columns": {"ts": "created_at", "amount": "grand_total"},
        "identifiers": {"email": "email"},
    }
    workspace = Workspace(write_workspace(root, [source], {}))
    workspace.run(as_of=date(2024, 6, 1))
    rows = workspace.sql("SELECT event_id, amount, email FROM events ORDER BY 1").to_pylist()
    assert rows == [
        {"event_id": "shop:W1", "amount": Decimal("10.00"), "email": "a@b.com"},
        {"event_id": "shop:W2", "amount": Decimal("20.25"), "email": "c@d.org"},
    ]
    assert workspace.sql("SELECT row, reason FROM quarantine").to_pylist() == [
        {"row": 3, "reason": "missing ts (column 'created_at')"}
    ]


def test_malformed_identifiers_are_kept_raw_reported_and_the_row_loads(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    workspace.run(as_of=date(2024, 3, 1))
    issues = workspace.sql("SELECT source, row, id_type, value, reason FROM identifier_issues ORDER BY id_type")
    assert issues.to_pylist() == [
        {"source": "pos", "row": 4, "id_type": "email", "value": "not-an-email", "reason": "not an e-mail address"},
        {
            "source": "pos",
            "row": 4,
            "id_type": "phone",
            "value": "123",
            "reason": "not a phone number (E.164 needs 8 to 15 digits)",
        },
    ]
    report = workspace.identity_report()
    assert {(row["id_type"], row["occurrences"]) for row in report.malformed} == {("email", 1), ("phone", 1)}


def test_a_file_without_problems_is_inserted_without_computing_each_rows_reason() -> None:
    """When the load's count finds no problem and no repeated key, the insert leaves out the
    filter on the reason: computing it was 1.8 s of a 10M-row insert. A reason that fails when
    computed shows which insert computes it."""
    con = duckdb.connect()
    con.execute(
        "CREATE VIEW mapped AS SELECT 'orders:' || i AS event_id, "
        "CASE WHEN i >= 0 THEN error('the reason was computed') END AS _reason, TRUE AS _first FROM range(3) AS r(i)"
    )
    fields = {"event_id": "event_id"}
    clean = con.execute(events_rows_sql("mapped", fields, None, all_good=True)).fetchall()
    assert sorted(clean) == [("orders:0",), ("orders:1",), ("orders:2",)]
    assert con.execute(records_rows_sql("mapped", fields, all_good=True)).fetchall() == clean
    with pytest.raises(duckdb.Error, match="the reason was computed"):
        con.execute(events_rows_sql("mapped", fields, None)).fetchall()
