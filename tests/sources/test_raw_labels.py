"""A raw copy's ``_file`` is written as a one-value ENUM (cheaper for DuckDB's Parquet writer)
and reads back as the file's label, as text, from every kind of copy and beside older copies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from personae import Workspace
from personae.sources import raw_copy
from personae.sources.raw_copy import raw_folder
from tests.workspaces import write_workspace

SOURCES = [
    {"name": "till", "kind": "orders", "path": "data/till*.csv", "columns": {"order_id": "receipt", "ts": "ts"}},
    {"name": "shop", "kind": "orders", "path": "data/shop.parquet", "columns": {"ts": "created_at"}},
    {"name": "web", "kind": "events", "path": "data/web.jsonl", "format": "jsonl"},
]
FILES: dict[str, str | bytes] = {
    "data/till-1.csv": "receipt,ts,amount\nR1,2024-05-01,10.00\nR2,2024-05-02,12.50\n",
    # a quote never closed: DuckDB's reader gives up on the file and the lenient reader copies it
    "data/till-2.csv": 'receipt,ts,amount\nR3,2024-05-03,1.00\nR4,"2024-05-04,2.00\nR5,2024-05-05,3.00\n',
    "data/web.jsonl": (
        '{"type": "track", "event": "Viewed", "messageId": "m1", "userId": "u1", "timestamp": "2024-05-01T10:00:00Z"}\n'
        '{"type": "page", "messageId": "m2", "anonymousId": "a1", "timestamp": "2024-05-02T10:00:00Z"}\n'
    ),
}


def _workspace(root: Path) -> Workspace:
    write_workspace(root, SOURCES, FILES)
    pq.write_table(
        pa.table(
            {"order_id": ["W1", "W2"], "created_at": ["2024-05-01 08:00:00", "2024-05-02 09:00:00"], "amount": [1.5, 2]}
        ),
        root / "data/shop.parquet",
    )
    return Workspace(root)


def _labels(workspace: Workspace, source: str) -> list[tuple[str, str, int]]:
    with workspace.engine(write=False) as store:
        rows = store.fetch_rows(f"SELECT _file, typeof(_file), count(*) FROM raw_{source} GROUP BY ALL ORDER BY 1")
    return [(str(label), str(kind), int(count)) for label, kind, count in rows]


def test_every_kind_of_copy_reads_back_its_label_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = _workspace(tmp_path / "ws")
    lenient: list[str] = []
    original = raw_copy._copy_leniently

    def copy_leniently(*args: Any) -> raw_copy.RawCopy:
        lenient.append(args[3])
        return original(*args)

    monkeypatch.setattr(raw_copy, "_copy_leniently", copy_leniently)
    report = workspace.run(only="ingest")
    assert lenient == ["data/till-2.csv"]  # the lenient reader's copy is labelled the same way
    assert not report.errors, report.errors
    statuses = {file.file: file.status for source in report.sources for file in source.files}
    assert set(statuses.values()) == {"loaded"}, statuses
    assert _labels(workspace, "till") == [("data/till-1.csv", "VARCHAR", 2), ("data/till-2.csv", "VARCHAR", 2)]
    assert _labels(workspace, "shop") == [("data/shop.parquet", "VARCHAR", 2)]
    assert _labels(workspace, "web") == [("data/web.jsonl", "VARCHAR", 2)]
    for source in ("till", "shop", "web"):  # stored as any string is: no engine needs to know the ENUM
        for copy in raw_folder(workspace.root, source).glob("*.parquet"):
            assert pq.read_schema(copy).field("_file").type == pa.string(), copy
    with workspace.engine(write=False) as store:  # the events keep the label too
        stored = store.fetch_rows("SELECT _file, count(*) FROM events GROUP BY ALL ORDER BY 1")
    assert [(str(label), int(count)) for label, count in stored] == [
        ("data/shop.parquet", 2),
        ("data/till-1.csv", 2),
        ("data/till-2.csv", 2),
        ("data/web.jsonl", 2),
    ]


def test_a_copy_written_before_reads_beside_the_new_ones(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path / "ws")
    folder = raw_folder(workspace.root, "till")
    folder.mkdir(parents=True)
    older = pa.table(  # a copy as personae wrote them before: the label as a plain string column
        {
            "receipt": ["R0"],
            "ts": ["2024-04-30"],
            "amount": ["9.00"],
            "_file": ["data/till-0.csv"],
            "_loaded_at": pa.array([None], pa.timestamp("us")),
        }
    )
    pq.write_table(older, folder / "0000000000000000.parquet", use_dictionary=False)
    report = workspace.run(only="ingest")
    assert not report.errors, report.errors
    assert _labels(workspace, "till") == [
        ("data/till-0.csv", "VARCHAR", 1),
        ("data/till-1.csv", "VARCHAR", 2),
        ("data/till-2.csv", "VARCHAR", 2),
    ]


def test_the_stored_rows_point_at_their_raw_rows(tmp_path: Path) -> None:
    """A CSV or Parquet copy holds no ``_row``: the rows are numbered by position, and each
    stored event's lineage (``_file``, ``_row``) finds the raw row it came from."""
    workspace = _workspace(tmp_path / "ws")
    assert not workspace.run(only="ingest").errors
    for source, key in (("till", "receipt"), ("shop", "order_id")):
        for copy in raw_folder(workspace.root, source).glob("*.parquet"):
            assert "_row" not in pq.read_schema(copy).names, copy
        with workspace.engine(write=False) as store:
            raw = store.fetch_rows(f"SELECT _file, _row, {key} FROM raw_{source} ORDER BY 1, 2")
            joined = store.fetch_rows(
                f"SELECT e.order_id, r.{key} FROM events AS e JOIN raw_{source} AS r USING (_file, _row) "
                f"WHERE e.source = '{source}' ORDER BY 1"
            )
        numbers: dict[str, list[int]] = {}
        for label, row, _ in raw:
            numbers.setdefault(str(label), []).append(int(row))
        assert all(rows == list(range(1, len(rows) + 1)) for rows in numbers.values()), numbers
        assert joined and all(order == raw_key for order, raw_key in joined), joined
