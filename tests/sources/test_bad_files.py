"""Files that fail whole, or nearly: each loads what it can, quarantines the rest with a reason,
names the file, never stops the next file of its source, and never grows the quarantine on a
rerun (issue 11, "Trust the batch")."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tomli_w

from personae import Workspace
from tests.workspaces import POS_CSV, POS_SOURCE, WEB_JSONL, WEB_SOURCE, write_workspace

AS_OF = date(2024, 3, 1)
HEADER = "receipt,sold_at,total,card,email,phone,promo\n"
SHOP_SOURCE: dict[str, Any] = {"name": "shop", "kind": "orders", "path": "data/shop/*.parquet"}
OVER_TWO_MB = "x" * 2_500_000
"""Longer than DuckDB's largest line (2,000,000 bytes, ``max_line_size``)."""


def _order(number: int, total: str | None = None) -> str:
    return f"S{number},2025-01-{(number - 1) % 28 + 1:02d} 10:00:00,{total or f'{number}.00'},C{number},,,\n"


def _orders(count: int) -> str:
    return HEADER + "".join(_order(number) for number in range(1, count + 1))


def _parquet(orders: dict[str, list[Any]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(orders), sink)
    return sink.getvalue()


def _web(prefix: str) -> str:
    """The web fixture with other message ids, so two files never share an event."""
    return WEB_JSONL.replace('"messageId":"m', f'"messageId":"{prefix}')


UNBALANCED = HEADER + _order(1) + _order(2, '"2.00') + _order(3)
"""Row 2 (line 3) opens a quote it never closes: DuckDB's sniffer refuses the whole file."""

GOOD_FILES: dict[str, tuple[str, bytes, int]] = {
    "pos": ("data/pos/b.csv", POS_CSV.encode(), 4),
    "web": ("data/web/b.jsonl", WEB_JSONL.encode(), 3),
    "shop": (
        "data/shop/b.parquet",
        _parquet({"order_id": ["P1", "P2"], "ts": ["2024-01-01 10:00:00"] * 2, "amount": ["1.50", "2.50"]}),
        2,
    ),
}
"""Per source: a good file that sorts after the bad one, and how many rows it loads."""


@dataclass(frozen=True)
class Bad:
    source: dict[str, Any]
    file: str
    content: bytes
    status: str
    """What becomes of the bad file: ``loaded`` (what it can), ``empty`` or ``failed``."""
    loaded: int = 0


def _bad_csv(content: bytes, status: str, loaded: int = 0) -> Bad:
    return Bad(POS_SOURCE, "data/pos/a.csv", content, status, loaded)


def _bad_jsonl(content: bytes, status: str, loaded: int = 0) -> Bad:
    return Bad(WEB_SOURCE, "data/web/a.jsonl", content, status, loaded)


BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 16
BAD_FILES: dict[str, Bad] = {
    "csv, an unbalanced quote": _bad_csv(UNBALANCED.encode(), "loaded", 2),
    "csv, an unbalanced quote in the header": _bad_csv(b'receipt,"sold_at,total\nS1,2025-01-01,1.00\n', "failed"),
    "csv, a line that is not utf-8": _bad_csv((HEADER + _order(1)).encode() + b"S2,\xff\xfe,2.00,,,,\n", "loaded", 1),
    "csv, a binary file": _bad_csv(BINARY, "failed"),
    "csv, 0 bytes": _bad_csv(b"", "empty"),
    "csv, blank lines only": _bad_csv(b"\n\r\n  \n", "empty"),
    "csv, a header only": _bad_csv(HEADER.encode(), "empty"),
    "csv, semicolons": _bad_csv((HEADER + _order(1)).replace(",", ";").encode(), "failed"),
    "csv, a line over 2 MB": _bad_csv((HEADER + _order(1) + _order(2, OVER_TWO_MB) + _order(3)).encode(), "loaded", 2),
    "csv, utf-16 with its byte-order mark": _bad_csv((HEADER + _order(1)).encode("utf-16"), "loaded", 1),
    "csv, utf-16 big-endian": _bad_csv(b"\xfe\xff" + (HEADER + _order(1)).encode("utf-16-be"), "failed"),
    "parquet, not parquet": Bad(SHOP_SOURCE, "data/shop/a.parquet", b"PAR1 this is not really parquet PAR1", "failed"),
    "parquet, 0 bytes": Bad(SHOP_SOURCE, "data/shop/a.parquet", b"", "empty"),
    "jsonl, a utf-8 byte-order mark": _bad_jsonl(b"\xef\xbb\xbf" + _web("k").encode(), "loaded", 3),
    "jsonl, utf-16 with its byte-order mark": _bad_jsonl(_web("k").encode("utf-16"), "loaded", 3),
    "jsonl, a line over 2 MB": _bad_jsonl(
        _web("k").replace('"name":"Home"', f'"name":"{OVER_TWO_MB}"').encode(), "loaded", 2
    ),
    "jsonl, a binary file": _bad_jsonl(BINARY, "failed"),
    "jsonl, 0 bytes": _bad_jsonl(b"", "empty"),
}


def _ledger(workspace: Workspace, file: str) -> list[dict[str, Any]]:
    """The file's quarantine and loaded_files rows, without the times a retry changes."""
    rows = workspace.sql(
        "SELECT 'quarantine' AS kind, row, line, reason, raw, NULL AS status, NULL AS rows_read "
        f"FROM quarantine WHERE file = '{file}' UNION ALL "
        "SELECT 'loaded_files', NULL, NULL, NULL, NULL, status, rows_read "
        f"FROM loaded_files WHERE file = '{file}'"
    ).to_pylist()
    return sorted(rows, key=repr)


@pytest.mark.parametrize("case", list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_a_bad_file_loads_what_it_can_names_itself_and_blocks_nothing(tmp_path: Path, case: Bad) -> None:
    good_file, good_content, good_rows = GOOD_FILES[case.source["name"]]
    root = write_workspace(tmp_path / "ws", [case.source], {case.file: case.content, good_file: good_content})
    workspace = Workspace(root)
    report = workspace.run(as_of=AS_OF, only="ingest")
    files = {file.file: file for source in report.sources for file in source.files}
    assert files[good_file].status == "loaded" and files[good_file].rows_loaded == good_rows
    assert files[case.file].status == case.status, files[case.file].message
    assert files[case.file].rows_loaded == case.loaded
    if case.status == "failed":
        assert len(report.errors) == 1 and case.file in report.errors[0], report.errors
    else:
        assert report.errors == []
    ledger = _ledger(workspace, case.file)
    assert [row["status"] for row in ledger if row["kind"] == "loaded_files"] == [case.status]
    quarantined = [row for row in ledger if row["kind"] == "quarantine"]
    assert all(row["reason"] for row in quarantined)
    if case.status == "failed":
        assert len(quarantined) == 1 and quarantined[0]["row"] is None and quarantined[0]["line"] is None
    else:
        assert all(row["row"] is not None or row["line"] is not None for row in quarantined)
    again = workspace.run(as_of=AS_OF, only="ingest")
    assert len(again.errors) == len(report.errors)
    assert _ledger(workspace, case.file) == ledger, "a rerun changed the file's quarantine or ledger rows"


def test_an_unbalanced_quote_quarantines_its_line_with_its_text(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/a.csv": UNBALANCED})
    workspace = Workspace(root)
    assert workspace.run(as_of=AS_OF, only="ingest").errors == []
    loaded = workspace.sql("SELECT event_id FROM events ORDER BY 1").column(0).to_pylist()
    assert loaded == ["pos:S1", "pos:S3"]
    bad = workspace.sql("SELECT row, line, reason, raw FROM quarantine").to_pylist()
    assert len(bad) == 1
    assert bad[0]["line"] == 3 and bad[0]["row"] is None
    assert bad[0]["raw"] == 'S2,2025-01-02 10:00:00,"2.00,C2,,,'
    assert "quote" in bad[0]["reason"]


def test_an_unbalanced_quote_past_the_sniffed_sample_loses_no_later_row(tmp_path: Path) -> None:
    """DuckDB sniffs the first 20,480 rows; a stray quote after them swallowed the rest of the file."""
    rows = [_order(number, '"x' if number == 21_000 else None) for number in range(1, 25_001)]
    root = write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/a.csv": HEADER + "".join(rows)})
    workspace = Workspace(root)
    report = workspace.run(as_of=AS_OF, only="ingest")
    assert report.sources[0].files[0].rows_loaded == 24_999
    assert workspace.sql("SELECT line FROM quarantine").to_pylist() == [{"line": 21_001}]
    assert workspace.sql("SELECT count(*) AS n FROM events WHERE order_id = 'S25000'").to_pylist() == [{"n": 1}]


def test_a_quote_closed_lines_later_costs_only_its_own_line(tmp_path: Path) -> None:
    """The stray quote on line 3 is closed by the quoted e-mail on line 5: the lines between load."""
    content = (
        HEADER + _order(1) + _order(2, '"2.00') + _order(3) + _order(4) + 'S5,2025-01-05 10:00:00,5.00,C5,"a@b.org",,\n'
    )
    root = write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/a.csv": content})
    workspace = Workspace(root)
    assert workspace.run(as_of=AS_OF, only="ingest").errors == []
    loaded = workspace.sql("SELECT event_id, email FROM events ORDER BY 1").to_pylist()
    assert [row["event_id"] for row in loaded] == ["pos:S1", "pos:S3", "pos:S4", "pos:S5"]
    assert loaded[-1]["email"] == "a@b.org"
    assert workspace.sql("SELECT line FROM quarantine").to_pylist() == [{"line": 3}]


def test_an_empty_file_is_recorded_and_skipped_on_the_next_run(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/a.csv": "", "data/pos/b.csv": POS_CSV})
    workspace = Workspace(root)
    workspace.run(as_of=AS_OF, only="ingest")
    assert workspace.sql("SELECT status, rows_read FROM loaded_files WHERE file = 'data/pos/a.csv'").to_pylist() == [
        {"status": "empty", "rows_read": 0}
    ]
    again = workspace.run(as_of=AS_OF, only="ingest")
    assert [file.status for file in again.sources[0].files] == ["skipped", "skipped"]


def test_an_empty_new_version_keeps_the_rows_of_the_last(tmp_path: Path) -> None:
    """A file truncated to nothing (an export that died) is not taken for "delete every row"."""
    root = write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/a.csv": POS_CSV})
    workspace = Workspace(root)
    workspace.run(as_of=AS_OF, only="ingest")
    (root / "data/pos/a.csv").write_text("")
    report = workspace.run(as_of=AS_OF, only="ingest")
    assert [file.status for file in report.sources[0].files] == ["empty"]
    assert "previous version" in report.sources[0].files[0].message
    assert workspace.sql("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 4}]
    assert workspace.sql("SELECT count(*) AS n FROM raw_pos").to_pylist() == [{"n": 4}]


def test_a_semicolon_file_is_named_with_the_setting_that_reads_it(tmp_path: Path) -> None:
    files = {"data/pos/a.csv": POS_CSV.replace(",", ";").replace("R", "S"), "data/pos/b.csv": POS_CSV}
    workspace = Workspace(write_workspace(tmp_path / "ws", [POS_SOURCE], files))
    report = workspace.run(as_of=AS_OF, only="ingest")
    assert len(report.errors) == 1
    assert "data/pos/a.csv" in report.errors[0]
    assert 'csv.delimiter = ";"' in report.errors[0]
    assert workspace.sql("SELECT count(*) AS n FROM events WHERE _file = 'data/pos/b.csv'").to_pylist() == [{"n": 4}]


def test_a_semicolon_file_loads_when_its_source_declares_the_delimiter(tmp_path: Path) -> None:
    source = {**POS_SOURCE, "csv": {"delimiter": ";"}}
    files = {"data/pos/a.csv": POS_CSV.replace(",", ";")}
    workspace = Workspace(write_workspace(tmp_path / "ws", [source], files))
    assert workspace.run(as_of=AS_OF, only="ingest").errors == []
    assert workspace.sql("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 4}]


def test_a_failed_file_that_is_fixed_loads_and_leaves_no_quarantine_row(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/a.csv": BINARY})
    workspace = Workspace(root)
    assert len(workspace.run(as_of=AS_OF, only="ingest").errors) == 1
    (root / "data/pos/a.csv").write_text(POS_CSV)
    assert workspace.run(as_of=AS_OF, only="ingest").errors == []
    assert workspace.sql("SELECT count(*) AS n FROM quarantine").to_pylist() == [{"n": 0}]
    assert workspace.sql("SELECT status FROM loaded_files").to_pylist() == [{"status": "loaded"}]


def test_a_mapping_that_fits_no_file_names_each_file_and_the_nearest_column(tmp_path: Path) -> None:
    typo = {**POS_SOURCE, "columns": {**POS_SOURCE["columns"], "order_id": "recept"}}
    files = {"data/pos/a.csv": POS_CSV, "data/pos/b.csv": POS_CSV.replace("R", "S")}
    workspace = Workspace(write_workspace(tmp_path / "ws", [typo], files))
    report = workspace.run(as_of=AS_OF, only="ingest")
    assert [error.split(": ")[1] for error in report.errors] == ["data/pos/a.csv", "data/pos/b.csv"]
    assert all("did you mean 'receipt'?" in error for error in report.errors)
    (workspace.root / "personae.toml").write_text(tomli_w.dumps({"workspace": {"name": "t"}, "sources": [POS_SOURCE]}))
    fixed = Workspace(workspace.root).run(as_of=AS_OF, only="ingest")
    assert fixed.errors == [] and fixed.sources[0].total("rows_loaded") == 8
