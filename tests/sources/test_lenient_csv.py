"""The lenient CSV reader: the same rows as DuckDB's reader on good files, and on broken ones
every good line kept and each bad line quarantined with its number and text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from personae.sources import readers
from personae.sources.lenient_csv import MAX_RECORD_LINES, LenientCsv, UnreadableHeader, column_names
from personae.sources.readers import Reject
from personae.sources.specs import CsvOptions, SourceSpec

GOOD_FILES: dict[str, tuple[str, dict[str, Any]]] = {
    "quoted delimiters and quotes": ('id,name,note\n1,"Doe, Jane","say ""hi"""\n2,Bob,\n', {}),
    "a value over two lines": ('id,address\n1,"1 Main St\nSpringfield"\n2,x\n', {}),
    "empty and blank values": ('a,b,c\n1,"",3\n, ,\n', {}),
    "crlf and no final newline": ("a,b\r\n1,2\r\n3,4", {}),
    "a blank line in the middle": ("a,b\n1,2\n\n3,4\n", {}),
    "a byte-order mark and accents": ("\ufeffnom,ville\nJosé,Besançon\n", {}),
    "names trimmed, repeated and missing": ("a , A,a,,x\n1,2,3,4,5\n", {}),
    "no header, twelve columns": (
        ",".join(str(n) for n in range(12)) + "\n" + ",".join("x" * 12) + "\n",
        {"header": False},
    ),
    "semicolons, declared": ("a;b\n1;2,5\n", {"delimiter": ";"}),
    "tabs, declared": ("a\tb\n1\t2\n", {"delimiter": "\t"}),
}


def _duckdb(path: Path, options: CsvOptions) -> tuple[list[str], list[tuple[Any, ...]]]:
    spec = SourceSpec(name="s", kind="orders", path="x.csv", csv=options)
    connection = duckdb.connect()
    result = connection.sql(f"SELECT * EXCLUDE (_file) FROM ({readers.csv_scan_sql(spec, path, 'rejects', 'f')})")
    return list(result.columns), result.fetchall()


def _lenient(path: Path, options: CsvOptions) -> tuple[list[str], list[tuple[Any, ...]], list[Reject]]:
    with LenientCsv(path, options, "utf-8") as parsed:
        table = pa.Table.from_batches(list(parsed.batches()), schema=parsed.schema)
    rows = list(zip(*(column.to_pylist() for column in table.columns), strict=True))
    return parsed.columns, rows, parsed.rejects


@pytest.mark.parametrize("case", list(GOOD_FILES.values()), ids=list(GOOD_FILES))
def test_a_good_file_reads_as_duckdb_reads_it(tmp_path: Path, case: tuple[str, dict[str, Any]]) -> None:
    content, settings = case
    path = tmp_path / "good.csv"
    path.write_bytes(content.encode())
    options = CsvOptions(**settings)
    columns, rows, rejects = _lenient(path, options)
    assert (columns, rows) == _duckdb(path, options)
    assert rejects == []


def _read(tmp_path: Path, content: str | bytes) -> tuple[list[tuple[Any, ...]], list[Reject]]:
    path = tmp_path / "bad.csv"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    _, rows, rejects = _lenient(path, CsvOptions())
    return rows, rejects


def test_a_quote_never_closed_costs_its_line_only(tmp_path: Path) -> None:
    rows, rejects = _read(tmp_path, 'a,b\n1,2\n3,"4\n5,6\n7,8\n')
    assert rows == [("1", "2"), ("5", "6"), ("7", "8")]
    assert [(reject.line, reject.raw, reject.kind) for reject in rejects] == [(3, '3,"4', "unclosed quote")]


def test_text_after_a_closing_quote_costs_its_line_only(tmp_path: Path) -> None:
    rows, rejects = _read(tmp_path, 'a,b\n1,"2\n3,4\n5,"x"y\n7,8\n')
    assert rows == [("3", "4"), ("7", "8")]
    assert [(reject.line, reject.kind) for reject in rejects] == [(2, "unquoted value"), (4, "unquoted value")]


def test_a_quoted_value_may_not_run_on_forever(tmp_path: Path) -> None:
    body = "".join(f"{n},x\n" for n in range(MAX_RECORD_LINES + 5))
    rows, rejects = _read(tmp_path, f'a,b\n0,"open\n{body}9,"closed, late",\n')
    assert len(rows) == MAX_RECORD_LINES + 5
    assert [reject.line for reject in rejects] == [2, MAX_RECORD_LINES + 8]


def test_wrong_widths_bad_bytes_and_huge_values_are_rejected_with_their_line(tmp_path: Path) -> None:
    content = b"a,b\n1,2\n\n3,4,5\n6\n7,\xff\n8," + b"x" * 200_000 + b"\n9,10\n"
    rows, rejects = _read(tmp_path, content)
    assert rows == [("1", "2"), ("9", "10")]
    found = [(reject.line, reject.kind) for reject in rejects]
    assert found == [(4, "too many columns"), (5, "missing columns"), (6, "invalid encoding"), (7, found[3][1])]
    assert "field larger than field limit" in rejects[3].reason
    assert rejects[2].raw == "7,\ufffd"


def test_a_header_that_does_not_parse_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('a,"b\n1,2\n')
    with pytest.raises(UnreadableHeader, match="first line cannot be parsed"), LenientCsv(path, CsvOptions(), "utf-8"):
        pass


def test_column_names_follow_duckdb() -> None:
    assert column_names(["a", "A", "a", "", "a_1", " b "], 6) == ["a", "A_1", "a_2", "column3", "a_1_1", "b"]
    assert column_names(None, 11)[:2] == ["column00", "column01"]
