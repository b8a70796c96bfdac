"""A destination with ``mode = "live"`` gets a person's segment entry from the running server as
the event that caused it is processed, without a batch run or ``personae sync``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.cli_calls import run_cli
from tests.server.live import live_workspace, serving

SEGMENTS = [{"name": "visitors", "rule": "page_views >= 2"}]
LIVE_FILES = {
    "name": "live_files",
    "kind": "file",
    "path": "out/live",
    "segments": ["rules/visitors"],
    "mode": "live",
    "snapshot": False,
}


def _delivered(folder: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("memberships-*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def test_a_live_destination_gets_the_entry_without_a_run(tmp_path: Path) -> None:
    workspace = live_workspace(tmp_path / "shop", segments=SEGMENTS, destinations=[LIVE_FILES])
    deltas = workspace.root / "out/live/deltas"
    with serving(workspace) as served:
        served.run()
        runs_before = served.workspace.sql("SELECT count(*) AS n FROM runs").column("n")[0].as_py()
        for number in range(2):
            status = served.call(
                "/v1/page", {"userId": "jo", "name": "Home", "messageId": f"p{number}"}, basic=served.write_key
            )[0]
            assert status == 200
        for _ in range(600):
            if _delivered(deltas):
                break
            time.sleep(0.1)
        (entry,) = _delivered(deltas)
        _, profile, _ = served.call("/v1/profiles/user_id:jo", token=served.reader)
        assert (entry["uid"], entry["segment"], entry["change"]) == (profile["uid"], "visitors", "entered")
        runs_after = served.workspace.sql("SELECT count(*) AS n FROM runs").column("n")[0].as_py()
        assert runs_after == runs_before  # no batch run brought it
        state = served.workspace.sql("SELECT cursor, status FROM sync_state WHERE destination = 'live_files'")
        assert state.to_pylist() == [{"cursor": entry["sequence"], "status": "ok"}]


def test_sync_and_destinations_from_another_shell_go_through_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_files = {**LIVE_FILES, "name": "run_files", "path": "out/run", "mode": "run"}
    workspace = live_workspace(tmp_path / "shop", segments=SEGMENTS, destinations=[run_files])
    root = str(workspace.root)
    with serving(workspace) as served:
        served.run()
        for number in range(2):
            served.call("/v1/page", {"userId": "jo", "messageId": f"p{number}"}, basic=served.write_key)
        for _ in range(600):  # live processing puts jo in the segment; a run destination waits for a sync
            code, out, err = run_cli(monkeypatch, capsys, "destinations", "-w", root, "-f", "json")
            assert code == 0, err
            (line,) = json.loads(out)
            if line["lag"]:
                break
            time.sleep(0.1)
        assert (line["destination"], line["lag"]) == ("run_files", 1)
        code, out, err = run_cli(monkeypatch, capsys, "sync", "-w", root, "-f", "json")
        assert code == 0, err
        (result,) = json.loads(out)
        assert (result["status"], result["sent"]) == ("ok", 1)
        (entry,) = _delivered(workspace.root / "out/run/deltas")
        assert entry["segment"] == "visitors"
        code, out, err = run_cli(monkeypatch, capsys, "destinations", "-w", root, "-f", "json")
        assert json.loads(out)[0]["lag"] == 0 and json.loads(out)[0]["sent"] == 1
