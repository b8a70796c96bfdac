"""One writer: a second writer (or a reader of a held DuckDB file) gets a clear error naming the holder."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from personae import Workspace
from personae.errors import StoreLockedError
from tests.workspaces import POS_CSV, POS_SOURCE, write_workspace

HOLDER = """
import sys, time
from personae import Workspace
workspace = Workspace(sys.argv[1])
with workspace.engine(write=True):
    print("holding", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Workspace, subprocess.Popen[str]]]:
    root = write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/a.csv": POS_CSV})
    workspace = Workspace(root)
    workspace.run(as_of=date(2024, 3, 1))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(root)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    yield workspace, holder
    holder.kill()
    holder.wait()


def test_second_writer_is_refused_naming_the_holder(held: tuple[Workspace, subprocess.Popen[str]]) -> None:
    workspace, holder = held
    with pytest.raises(StoreLockedError) as caught:
        workspace.run(as_of=date(2024, 3, 1))
    message = str(caught.value)
    assert f"held for writing by pid {holder.pid}" in message
    assert "wait for it to finish or stop it" in message


def test_reader_of_a_held_store_is_told_who_holds_it(held: tuple[Workspace, subprocess.Popen[str]]) -> None:
    workspace, holder = held
    with pytest.raises(StoreLockedError, match=f"pid {holder.pid}"):
        workspace.sql("SELECT count(*) FROM events")


def test_lock_is_released_when_the_holder_dies(held: tuple[Workspace, subprocess.Popen[str]]) -> None:
    workspace, holder = held
    holder.kill()
    holder.wait()
    deadline = time.monotonic() + 10
    while True:
        try:
            report = workspace.run(as_of=date(2024, 3, 1))
            break
        except StoreLockedError:
            assert time.monotonic() < deadline, "lock not released after the holder died"
            time.sleep(0.1)
    assert report.errors == []


def test_cli_reports_the_lock_in_one_line(held: tuple[Workspace, subprocess.Popen[str]]) -> None:
    workspace, holder = held
    result = subprocess.run(
        [sys.executable, "-m", "personae", "run", "--workspace", str(workspace.root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert f"error: workspace {workspace.root} is held for writing by pid {holder.pid}" in " ".join(
        result.stderr.split()
    )
    assert "Traceback" not in result.stderr
