"""While ``personae serve`` holds the store, ``personae sql``, ``status`` and ``profile`` from
another shell answer through the server; other writers get the lock error naming it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from personae.cli import main
from tests.server.live import live_workspace, serving


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["personae", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    out = capsys.readouterr()
    return int(exit_.value.code or 0), out.out, out.err


def test_readers_go_through_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = live_workspace(tmp_path / "shop")
    root = str(workspace.root)
    with serving(workspace) as served:
        assert served.track(userId="u1", event="x", traits={"email": "ann@shop.org"})[0] == 200
        served.call("/v1/identify", {"userId": "u1", "traits": {"email": "ann@shop.org"}}, basic=served.write_key)
        served.run()
        code, out, err = _cli(monkeypatch, capsys, "sql", "select count(*) as n from events", "-w", root, "-f", "csv")
        assert (code, out.split()) == (0, ["n", "2"]), err
        code, out, err = _cli(monkeypatch, capsys, "status", "-w", root)
        assert code == 0 and "last run: 1" in out, err
        code, out, err = _cli(monkeypatch, capsys, "profile", "email:ann@shop.org", "-w", root)
        assert code == 0 and "ann@shop.org" in out, err
        code, _, err = _cli(monkeypatch, capsys, "sql", "select * from nowhere", "-w", root)
        assert code == 2 and err.startswith("error: ") and "nowhere" in err
        code, _, err = _cli(monkeypatch, capsys, "run", "-w", root)
        assert code == 2 and "held for writing by" in err and "personae serve" in err


def test_serve_on_a_taken_port_says_so_and_lets_the_store_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    workspace = live_workspace(tmp_path / "shop")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, out, err = _cli(monkeypatch, capsys, "serve", "-w", str(workspace.root), "--port", port)
    assert code == 2 and f"port {port} on 127.0.0.1 is in use" in err and "--port" in err
    assert "serving" not in out
    code, _, err = _cli(monkeypatch, capsys, "status", "-w", str(workspace.root))
    assert code == 0, err  # the lock went with the failed server
