"""New files of an events-table source load together, and the store ends as if they had
loaded one by one: the same rows, quarantine, issues and ledger, file by file."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from personae import Workspace
from personae.engine.duckdb import DuckDBEngine
from personae.errors import EngineError
from personae.sources import grouped
from tests.workspaces import POS_SOURCE, WEB_SOURCE, file_reports, ingested, snapshot, write_workspace

AS_OF = date(2024, 3, 1)
INGESTED = {"events", "quarantine", "identifier_issues", "field_issues", "loaded_files", "raw_pos", "raw_web"}

POS_HEADER = "receipt,sold_at,total,card,email,phone,promo\n"
POS_FILES = {
    "data/pos/2024-01.csv": POS_HEADER
    + "R1,2024-01-05 10:00:00,12.50,C1,jane@example.com,,yes\n"
    + "R2,2024-01-06 11:30:00,abc,C2,bob@example.org,,no\n"  # not a number: quarantined
    + "R3,2024-01-07,5.00,C3,not-an-email,123,maybe\n",  # identifiers reported, the row loads
    "data/pos/2024-02.csv": POS_HEADER
    + "R4,2024-02-01,7,C1,,,\n"
    + "R5,2024-02-02,8,C4,x@example.com,,true,extra\n"  # a column too many: rejected by the reader
    + "R6,,9,C5,,,\n",  # no time: quarantined
    "data/pos/2024-03.csv": POS_HEADER + "R7,2024-03-01,10,C6,,,false\n",
}


def _web(*lines: tuple[str, str, str]) -> str:
    return "".join(
        f'{{"messageId":"{message}","type":"{kind}","userId":"u1","timestamp":"{ts}T09:00:00Z"}}\n'
        for message, kind, ts in lines
    )


WEB_FILES = {
    "data/web/01.jsonl": _web(("m1", "track", "2024-01-05"), ("m2", "page", "2024-01-06")) + "{not json\n",
    "data/web/02.jsonl": _web(("m3", "track", "2024-02-05"), ("m4", "shout", "2024-02-06")),  # not a Segment call
    "data/web/03.jsonl": _web(("m5", "identify", "2024-02-07")),
}
REPEATS = {  # loaded by a second run: an id already stored, an id twice in one file, one in two files
    "data/web/04.jsonl": _web(("m1", "track", "2024-01-05"), ("m6", "track", "2024-02-08")),
    "data/web/05.jsonl": _web(("m7", "track", "2024-02-09"), ("m7", "track", "2024-02-10")),
    "data/web/06.jsonl": _web(("m8", "track", "2024-02-11"), ("m6", "track", "2024-02-12")),
}
NEW_ONLY = {  # loaded by a second run: nothing repeats, the files load together
    "data/web/07.jsonl": _web(("m9", "track", "2024-02-13")),
    "data/web/08.jsonl": _web(("m10", "page", "2024-02-14")),
}


def _workspace(root: Path, files: dict[str, str]) -> Workspace:
    return Workspace(write_workspace(root, [POS_SOURCE, WEB_SOURCE], files))


def _reports(workspace: Workspace) -> list[tuple[Any, ...]]:
    return file_reports(workspace, AS_OF)


def _stored(workspace: Workspace) -> dict[str, list[dict[str, Any]]]:
    return ingested(workspace, INGESTED)


@pytest.fixture
def stages(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many files each staging of an ingest run held."""
    staged: list[int] = []
    stage = DuckDBEngine.stage

    def counted(self: DuckDBEngine, name: str, path: Any) -> None:
        if name.startswith("stage_"):
            staged.append(1 if isinstance(path, Path) else len(path))
        stage(self, name, path)

    monkeypatch.setattr(DuckDBEngine, "stage", counted)
    return staged


@pytest.mark.parametrize("later", [NEW_ONLY, REPEATS], ids=["new-ids", "repeated-ids"])
def test_files_loaded_together_end_as_files_loaded_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stages: list[int], later: dict[str, str]
) -> None:
    together = _workspace(tmp_path / "together", {**POS_FILES, **WEB_FILES})
    alone = _workspace(tmp_path / "alone", {**POS_FILES, **WEB_FILES})
    first = _reports(together)
    assert stages == [3, 3], "the three pos files and the three web files each load in one pass"
    with monkeypatch.context() as one_by_one:
        one_by_one.setattr(grouped, "GROUP_ROWS", 0)
        assert _reports(alone) == first
    assert stages[2:] == [1] * 6
    assert _stored(together) == _stored(alone)
    quarantined = {row["reason"] for row in _stored(together)["quarantine"]}
    assert "invalid JSON" in quarantined and any(reason.startswith("missing") for reason in quarantined), (
        "the files' bad rows are kept with their reason"
    )
    assert sum(row[5] for row in first) == 5, "2 pos rows, 1 rejected line, the bad JSON and the bad type"

    for workspace in (together, alone):
        for relative, content in later.items():
            (workspace.root / relative).write_text(content)
    del stages[:]
    second = _reports(together)
    with monkeypatch.context() as one_by_one:
        one_by_one.setattr(grouped, "GROUP_ROWS", 0)
        assert _reports(alone) == second
    assert _stored(together) == _stored(alone)
    if later is NEW_ONLY:
        assert stages[0] == 2
    else:  # the group's keys repeat: its files loaded one by one, each finding its duplicates
        assert stages[:4] == [3, 1, 1, 1]
        duplicates = {row[1]: row[6] for row in second if row[0] == "web" and row[2] != "skipped"}
        assert duplicates == {"data/web/04.jsonl": 1, "data/web/05.jsonl": 0, "data/web/06.jsonl": 1}


def test_a_failure_inside_a_group_leaves_the_store_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = _workspace(tmp_path / "ws", {**POS_FILES, **WEB_FILES})
    assert workspace.run(as_of=AS_OF, only="ingest").errors == []  # the rejected line is no error
    before = snapshot(workspace)
    for relative, content in NEW_ONLY.items():
        (workspace.root / relative).write_text(content)

    def explode(*args: object) -> None:
        raise EngineError("disk full (simulated)")

    monkeypatch.setattr(grouped.ledger, "record_new_loads", explode)
    with pytest.raises(EngineError, match="simulated"):
        workspace.run(as_of=AS_OF, only="ingest")
    assert snapshot(workspace) == before, "the group's rows rolled back with its ledger rows"
    assert not list(workspace.root.rglob("*.partial"))
    monkeypatch.undo()
    report = workspace.run(as_of=AS_OF, only="ingest")
    web = [(file.file, file.status, file.rows_loaded) for source in report.sources for file in source.files]
    assert [row for row in web if row[1] != "skipped"] == [
        ("data/web/07.jsonl", "loaded", 1),
        ("data/web/08.jsonl", "loaded", 1),
    ]
    assert workspace.sql("SELECT count(*) AS n FROM raw_web").to_pylist() == [{"n": 6 + 2}], "raw lines, bad ones too"
