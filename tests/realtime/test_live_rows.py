"""Journal lines mapped live are the rows batch ingest stores for them, column for column."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from personae.realtime.journal import Journal
from personae.realtime.live_rows import LINEAGE, LiveRows
from personae.realtime.messages import journal_line, parse_call
from personae.sources.specs import JOURNAL_FOLDER
from tests.server.live import live_workspace

RECEIVED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _lines() -> list[bytes]:
    calls: list[tuple[str, dict[str, Any]]] = [
        (
            "track",
            {
                "userId": "U1",
                "event": "Order Completed",
                "messageId": "m1",
                "properties": {"revenue": "19.90", "category": "Shoes"},
                "timestamp": "2025-05-30T10:00:00Z",
            },
        ),
        (
            "identify",
            {
                "userId": "U1",
                "traits": {"email": " Ann@Example.ORG ", "phone": "(415) 555-0100"},
                "messageId": "m2",
                "timestamp": "2025-05-30T10:01:00+02:00",
            },
        ),
        ("page", {"anonymousId": "a-9", "name": "Home", "messageId": "m3", "context": {"channel": "app"}}),
        ("alias", {"userId": "U1", "previousId": "a-9", "messageId": "m4"}),
        ("track", {"userId": "U2", "event": "Viewed", "messageId": "m1"}),  # a repeated messageId: the first counts
        ("track", {"userId": "U3", "event": "Odd", "messageId": "m5", "properties": {"revenue": "lots"}}),
        ("screen", {"userId": "U3", "name": "Cart", "messageId": "m6", "timestamp": "1900-01-01T00:00:00Z"}),
    ]
    lines = []
    for kind, body in calls:
        call = parse_call(kind, json.dumps(body).encode(), content_encoding=None, received_at=RECEIVED)
        lines += [journal_line(message, source="web") for message in call.messages]
    return lines


def test_live_rows_are_the_rows_batch_stores(tmp_path: Path) -> None:
    workspace = live_workspace(tmp_path / "shop")
    lines = _lines()
    with Journal(workspace.root / JOURNAL_FOLDER / "web") as journal:
        journal.append(lines)
        journal.seal()
    report = workspace.run(as_of=RECEIVED.date(), only="ingest")
    assert report.errors == []
    stored = workspace.sql("SELECT * FROM events ORDER BY _row").to_pylist()
    spec = workspace.config.source("web")
    live = LiveRows(spec, workspace.config.ingest_settings()).rows(lines)
    assert [row["event_id"] for row in live] == [row["event_id"] for row in stored]
    assert [row["event_id"] for row in live] == ["m1", "m2", "m3", "m4", "m5", "m6"]
    assert [row["amount"] for row in live if row["event_id"] == "m5"] == [None]  # its revenue is not a number
    quarantined = workspace.sql("SELECT reason FROM quarantine").to_pylist()
    assert quarantined == [{"reason": "duplicate key 'm1' in this file (first at row 1)"}]
    issues = workspace.sql("SELECT field, value FROM field_issues").to_pylist()
    assert issues == [{"field": "amount", "value": "lots"}]
    for live_row, stored_row in zip(live, stored, strict=True):
        expected = {name: value for name, value in stored_row.items() if name not in LINEAGE}
        assert live_row == expected
