"""The audit log of runs on a demo workspace made by ``personae init --demo`` (its file
destination included): configuration changes seen at run start, destination sends, rows
that survive every later run, ``personae audit``, and the API the erasure calls; plus the
key-use counting on a clock of its own."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import tomli_w

from personae import Workspace
from personae.engine.duckdb import DuckDBEngine
from personae.errors import UsageError
from personae.privacy.audit import (
    CONFIG_CHANGE,
    DESTINATION_SEND,
    ERASURE,
    KEY_FIRST_USE,
    KEY_USE,
    AuditEntry,
    AuditLog,
    read_audit,
    record_audit,
    subject_target,
)
from personae.privacy.audit_keys import KeyUse
from tests.cli_calls import run_cli


def _rename(root: Path, name: str) -> None:
    path = root / "personae.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    config["workspace"]["name"] = name
    path.write_text(tomli_w.dumps(config), encoding="utf-8")


def test_runs_record_config_changes_and_sends_and_the_rows_survive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "demo"
    code, _, err = run_cli(monkeypatch, capsys, "init", str(root), "--demo", "--customers", "200", "--seed", "3")
    assert code == 0, err
    code, _, err = run_cli(monkeypatch, capsys, "run", "-w", str(root))
    assert code == 0, err

    first = Workspace(root).audit(limit=1000)
    config = [row for row in first if row["action"] == CONFIG_CHANGE]
    assert len(config) == 1 and config[0]["detail"]["first"] is True
    assert {"sources.pos", "destinations.segment_files", "workspace.as_of"} <= set(config[0]["detail"]["added"])
    sends = [row for row in first if row["action"] == DESTINATION_SEND]
    with Workspace(root).engine(write=False) as store:
        state = store.fetch_rows("SELECT destination, sent FROM sync_state")
    assert [(row["target"], row["detail"]["sent"], row["detail"]["status"]) for row in sends] == [
        (name, sent, "ok") for name, sent in state
    ]
    assert sends[0]["detail"]["sent"] > 0

    _rename(root, "renamed shop")
    assert Workspace(root).run(only="ingest").errors == []
    assert Workspace(root).run(only="ingest").errors == []  # the same file: nothing new recorded
    second = Workspace(root).audit(limit=1000)
    changes = [row for row in second if row["action"] == CONFIG_CHANGE]
    assert len(changes) == 2
    latest = changes[0]["detail"]
    assert (latest["first"], latest["changed"], latest["added"], latest["removed"]) == (
        False,
        ["workspace.name"],
        [],
        [],
    )
    assert "renamed shop" not in json.dumps(second, default=str)  # names of parts, never their values
    assert all(row in second for row in first)  # append-only: every earlier row is still there, unchanged

    with Workspace(root).engine(write=False) as store:
        assert "uid" not in dict(store.columns("audit_log"))  # an erasure by uid cannot reach it
        text = json.dumps(store.fetch_arrow("SELECT * FROM audit_log").to_pylist(), default=str).lower()
        emails = [
            row[0] for row in store.fetch_rows("SELECT DISTINCT email FROM customer_records WHERE email IS NOT NULL")
        ]
        uids = [row[0] for row in store.fetch_rows("SELECT DISTINCT uid FROM identity_map")]
    assert emails and uids
    assert not [value for value in [*emails, *uids] if value.lower() in text]

    code, out, err = run_cli(monkeypatch, capsys, "audit", "-w", str(root), "-f", "json", "--action", CONFIG_CHANGE)
    assert code == 0, err
    assert [row["detail"]["changed"] for row in json.loads(out)] == [["workspace.name"], []]
    code, out, err = run_cli(monkeypatch, capsys, "audit", "-w", str(root), "--limit", "1")
    assert code == 0 and CONFIG_CHANGE in out and DESTINATION_SEND not in out, err
    code, out, err = run_cli(monkeypatch, capsys, "audit", "-w", str(root), "--since", "2999-01-01")
    assert code == 0 and "none" in out, err
    code, _, err = run_cli(monkeypatch, capsys, "audit", "-w", str(root), "--action", "destination.sent")
    assert code == 2 and "did you mean 'destination.send'" in err
    code, _, err = run_cli(monkeypatch, capsys, "audit", "-w", str(root), "--since", "last week")
    assert code == 2 and "YYYY-MM-DD" in err


def test_the_api_the_erasure_calls(tmp_path: Path) -> None:
    with DuckDBEngine(tmp_path / "store.duckdb") as store:
        target = subject_target("salt", "email", "jane@example.com")
        assert target.startswith("sha256:") and "jane" not in target
        assert target != subject_target("other salt", "email", "jane@example.com")
        record_audit(store, [AuditEntry(ERASURE, actor="cli", scope="admin", target=target, detail={"rows": 12})])
        log = AuditLog()
        log.append(AuditEntry(KEY_FIRST_USE, actor="k1", scope="read"))
        assert (log.pending, log.flush(store), log.pending) == (1, 1, 0)
        rows = read_audit(store)
        assert [(row["action"], row["target"], row["detail"]) for row in rows][-1] == (ERASURE, target, {"rows": 12})
        assert [row["action"] for row in read_audit(store, action=ERASURE)] == [ERASURE]
        with pytest.raises(UsageError, match=r"noun\.verb"):
            AuditEntry("Erased", actor="cli")
        with pytest.raises(UsageError, match="actor"):
            AuditEntry(ERASURE, actor="")


def test_key_use_writes_the_first_use_then_a_count_a_minute() -> None:
    now = [0.0]
    log = AuditLog()
    usage = KeyUse(log, clock=lambda: now[0])
    for _ in range(5):
        usage.used("k1", "write")
    usage.used("k2", "read")
    assert usage.count() == 0  # nothing waited a minute yet
    now[0] = 61.0
    usage.used("k1", "write")
    assert usage.count() == 2
    now[0] = 62.0
    usage.used("k1", "write")
    assert usage.count() == 0 and usage.count(final=True) == 1
    with DuckDBEngine() as store:
        log.flush(store)
        rows = read_audit(store, limit=100)
    first = sorted(row["actor"] for row in rows if row["action"] == KEY_FIRST_USE)
    counts = sorted((row["actor"], row["detail"]["calls"]) for row in rows if row["action"] == KEY_USE)
    assert first == ["k1", "k2"]
    assert counts == [("k1", 1), ("k1", 6), ("k2", 1)]
