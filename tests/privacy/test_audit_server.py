"""The server's audit rows, through a real ``personae serve`` on 127.0.0.1: the first use of each
key and its counts, profile reads with the subject hashed, ``GET /v1/admin/audit`` and
``personae audit`` through the server; and no secret and no clear identifier in any row."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from personae.privacy.audit import KEY_FIRST_USE, KEY_USE, PROFILE_READ, audit_salt, identifier_target
from tests.cli_calls import run_cli
from tests.server.live import Served, live_workspace, serving

EMAIL = "ann.audit@shop.org"
USER_ID = "user-ann-4711"


def _audit(served: Served, **query: str) -> list[dict[str, Any]]:
    path = "/v1/admin/audit" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    status, body, _ = served.call(path, token=served.admin)
    assert status == 200, body
    entries: list[dict[str, Any]] = body["entries"]
    return entries


def _waited(served: Served, action: str, count: int) -> list[dict[str, Any]]:
    """The rows of ``action`` once there are ``count`` (the server writes them within a second or so)."""
    for _ in range(100):
        rows = _audit(served, action=action)
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"{count} {action} rows expected, found {rows}")


def test_the_server_records_key_use_and_profile_reads_without_secrets_or_identifiers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = live_workspace(tmp_path / "shop")
    root = str(workspace.root)
    with serving(workspace) as served:
        local_token = json.loads((workspace.root / ".personae/server.json").read_text())["token"]
        ids = {key.scope: key.id for key in workspace.key_ring.entries()}
        for number in range(3):
            status, _, _ = served.track(userId=USER_ID, event="Opened", traits={"email": EMAIL}, messageId=f"m{number}")
            assert status == 200
        served.call("/v1/identify", {"userId": USER_ID, "traits": {"email": EMAIL}}, basic=served.write_key)
        served.run()
        status, found, _ = served.call(f"/v1/profiles/email:{EMAIL.upper()}", token=served.reader)
        assert status == 200 and found["uid"].startswith("p")
        assert served.call("/v1/profiles/email:nobody.audit@shop.org", token=served.reader)[0] == 404

        reads = _waited(served, PROFILE_READ, 2)
        with workspace.engine(write=False) as store:
            salt = audit_salt(store)
        assert {(row["target"], row["detail"]["found"]) for row in reads} == {
            (identifier_target(salt, f"email:{EMAIL}", "US"), True),
            (identifier_target(salt, "email:nobody.audit@shop.org", "US"), False),
        }
        assert {(row["actor"], row["scope"]) for row in reads} == {(ids["read"], "read")}

        first = _waited(served, KEY_FIRST_USE, 3)
        assert Counter(row["actor"] for row in first) == Counter({ids["write"]: 1, ids["admin"]: 1, ids["read"]: 1})
        assert {row["actor"]: row["scope"] for row in first} == {
            ids["write"]: "write",
            ids["admin"]: "admin",
            ids["read"]: "read",
        }

        # the CLI of this machine reads through the server, with its local token (counted as "server")
        code, out, err = run_cli(monkeypatch, capsys, "audit", "-w", root, "--action", PROFILE_READ, "-f", "json")
        assert code == 0, err
        assert [row["target"] for row in json.loads(out)] == [
            row["target"] for row in _audit(served, action=PROFILE_READ)
        ]
        _waited(served, KEY_FIRST_USE, 4)

    # stopped: the counts since the start are written, the first call included
    rows = workspace.audit(limit=1000)
    uses = Counter()
    for row in rows:
        if row["action"] == KEY_USE:
            uses[row["actor"]] += row["detail"]["calls"]
    assert uses[ids["write"]] == 4  # three tracks and one identify
    assert uses[ids["read"]] == 2
    assert uses["server"] >= 1

    code, out, err = run_cli(monkeypatch, capsys, "audit", "-w", root, "--action", KEY_USE, "-f", "json")
    assert code == 0, err
    assert {row["action"] for row in json.loads(out)} == {KEY_USE}

    with workspace.engine(write=False) as store:
        text = json.dumps(store.fetch_arrow("SELECT * FROM audit_log").to_pylist(), default=str).lower()
        assert "uid" not in [name for name, _ in store.columns("audit_log")]
        uids = [row[0] for row in store.fetch_rows("SELECT DISTINCT uid FROM identity_map")]
    for secret in (served.write_key, served.admin, served.reader, local_token):
        assert secret.lower() not in text
    for clear in (EMAIL, "nobody.audit@shop.org", USER_ID, *uids):
        assert clear.lower() not in text
