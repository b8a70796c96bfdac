"""While ``personae serve`` holds the store, ``personae sql``, ``status``, ``profile`` and
``segment add|remove`` from another shell answer through the server; other writers get the
lock error naming it and saying what goes through it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cli_calls import run_cli
from tests.server.live import live_workspace, serving


def test_readers_go_through_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = live_workspace(tmp_path / "shop")
    root = str(workspace.root)
    with serving(workspace) as served:
        assert served.track(userId="u1", event="x", traits={"email": "ann@shop.org"})[0] == 200
        served.call("/v1/identify", {"userId": "u1", "traits": {"email": "ann@shop.org"}}, basic=served.write_key)
        served.run()
        query = "select count(*) as n from events"
        code, out, err = run_cli(monkeypatch, capsys, "sql", query, "-w", root, "-f", "csv")
        assert (code, out.split()) == (0, ["n", "2"]), err
        code, out, err = run_cli(monkeypatch, capsys, "status", "-w", root)
        assert code == 0 and "last run: 1" in out, err
        code, out, err = run_cli(monkeypatch, capsys, "profile", "email:ann@shop.org", "-w", root)
        assert code == 0 and "ann@shop.org" in out, err
        code, _, err = run_cli(monkeypatch, capsys, "sql", "select * from nowhere", "-w", root)
        assert code == 2 and err.startswith("error: ") and "nowhere" in err
        code, _, err = run_cli(monkeypatch, capsys, "run", "-w", root)
        assert code == 2 and "held for writing by" in err and "personae serve" in err
        assert "POST /v1/admin/runs" in err  # not "stop it", which would stop the server


def test_a_segment_added_through_the_server_applies_to_the_next_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = live_workspace(tmp_path / "shop")
    root = str(workspace.root)
    workspace.run()
    with serving(workspace) as served:
        code, out, err = run_cli(monkeypatch, capsys, "segment", "add", "app_users", "sessions >= 1", "-w", root)
        assert code == 0 and "the server applies it" in " ".join(out.split()), err
        code, _, err = run_cli(monkeypatch, capsys, "segment", "add", "typo", "sesions >= 1", "-w", root)
        assert code == 2 and "sessions" in err  # checked by the server, did-you-mean and all
        assert served.track(userId="u7", event="Opened App", messageId="o1")[0] == 200
        for _ in range(300):
            if served.call("/health")[1]["live"]["changes"]:
                break
            time.sleep(0.1)
        rows = served.workspace.sql(
            "SELECT segment FROM memberships WHERE segmentation = 'rules' AND exited_at IS NULL"
        ).to_pylist()
        assert rows == [{"segment": "app_users"}]
        code, out, err = run_cli(monkeypatch, capsys, "segment", "remove", "app_users", "-w", root)
        assert code == 0 and "removed" in out, err
        names = served.workspace.sql("SELECT name, origin FROM segment_definitions ORDER BY version").to_pylist()
        assert names[-1] == {"name": "app_users", "origin": "removed"}


def test_serve_on_a_taken_port_says_so_and_lets_the_store_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    workspace = live_workspace(tmp_path / "shop")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, out, err = run_cli(monkeypatch, capsys, "serve", "-w", str(workspace.root), "--port", port)
    assert code == 2 and f"port {port} on 127.0.0.1 is in use" in err and "--port" in err
    assert "serving" not in out
    code, _, err = run_cli(monkeypatch, capsys, "status", "-w", str(workspace.root))
    assert code == 0, err  # the lock went with the failed server
