"""Run the ``personae`` command line in this process, as a user's shell would, for tests."""

from __future__ import annotations

import sys

import pytest

from personae.cli import main


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``personae ARGS…``: its exit code, standard output and standard error."""
    monkeypatch.setattr(sys, "argv", ["personae", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    return int(exit_.value.code or 0), captured.out, captured.err
