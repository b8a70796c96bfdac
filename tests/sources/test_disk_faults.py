"""A full or read-only disk under the workspace: one error naming the path, nothing half-written.

The workspace lives on a real tmpfs (see :mod:`tests.sources.disks`): the raw copy's
``.partial`` file must be gone afterwards, and the store and ``loaded_files`` must be as
they were before the run (DuckDB's transaction rolled back).
"""

from __future__ import annotations

import errno
import sys
from datetime import date
from pathlib import Path

import pytest

from personae import Workspace
from personae.cli import main
from personae.sources import ingest as ingest_module
from personae.store_lock import LOCK_FILE
from tests.sources import disks
from tests.workspaces import POS_CSV, POS_SOURCE, snapshot, write_workspace

AS_OF = date(2024, 3, 1)
HEADER = "receipt,sold_at,total,card,email,phone,promo\n"


@pytest.fixture
def disk(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """An 8 MiB tmpfs, unmounted when the test ends, whatever happened."""
    folder = disks.mount_tmpfs(tmp_path / "disk", "8m")
    request.addfinalizer(lambda: disks.unmount(folder))
    return folder


def _loaded_workspace(root: Path) -> Workspace:
    """A workspace with one loaded file, and a second, larger one waiting to be loaded."""
    write_workspace(root, [POS_SOURCE], {"data/pos/a.csv": POS_CSV})
    workspace = Workspace(root)
    assert workspace.run(as_of=AS_OF, only="ingest").errors == []
    orders = "".join(
        f"S{n},2024-01-05 10:00:00,{n % 997}.25,C{n * 7919 % 100_003},p{n}@example.org,,yes\n" for n in range(30_000)
    )
    (root / "data/pos/b.csv").write_text(HEADER + orders)
    return workspace


def _no_partial_files(root: Path) -> None:
    assert sorted(path.name for path in root.rglob("*.partial")) == []


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["personae", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return int(exit_.value.code or 0), capsys.readouterr().err


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_a_full_disk_during_the_raw_copy_names_the_file_and_changes_nothing(
    disk: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = disk / "ws"
    workspace = _loaded_workspace(root)
    before = snapshot(workspace)
    disks.fill(disk, leave=64 * 1024)
    with pytest.raises(OSError) as caught:
        workspace.run(as_of=AS_OF, only="ingest")
    assert caught.value.errno == errno.ENOSPC
    assert str(caught.value.filename).startswith(str(root / "raw" / "pos"))
    _no_partial_files(root)
    code, err = _cli(monkeypatch, capsys, "run", "--only", "ingest", "-w", str(root), "--as-of", "2024-03-01")
    assert code == 2
    line = _one_line(err)
    assert str(root / "raw" / "pos") in line and "No space left on device" in line
    _no_partial_files(root)
    disks.empty_filler(disk)
    assert snapshot(workspace) == before


def test_a_full_disk_during_the_store_write_rolls_back_and_names_the_store(
    disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = disk / "ws"
    workspace = _loaded_workspace(root)
    before = snapshot(workspace)
    copy = ingest_module.raw_copy.copy_file

    def copy_then_fill(*args: object, **kwargs: object) -> object:
        copied = copy(*args, **kwargs)  # type: ignore[arg-type]
        disks.fill(disk, leave=0)
        return copied

    monkeypatch.setattr(ingest_module.raw_copy, "copy_file", copy_then_fill)
    with pytest.raises(OSError) as caught:
        workspace.run(as_of=AS_OF, only="ingest")
    assert caught.value.errno == errno.ENOSPC
    assert str(caught.value.filename).startswith(str(root / "personae.duckdb"))
    _no_partial_files(root)
    disks.empty_filler(disk)
    assert snapshot(workspace) == before


def test_a_read_only_raw_folder_names_it_and_changes_nothing(disk: Path) -> None:
    root = disk / "ws"
    raw = disks.mount_tmpfs(root / "raw", "4m")
    try:
        workspace = _loaded_workspace(root)
        before = snapshot(workspace)
        disks.remount_read_only(raw)
        with pytest.raises(OSError) as caught:
            workspace.run(as_of=AS_OF, only="ingest")
        assert caught.value.errno == errno.EROFS
        assert str(caught.value.filename).startswith(str(raw / "pos"))
        assert snapshot(workspace) == before
    finally:
        disks.unmount(raw)


def test_a_read_only_workspace_is_one_line_naming_the_path(
    disk: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = disk / "ws"
    workspace = _loaded_workspace(root)
    before = snapshot(workspace)
    disks.remount_read_only(disk)
    code, err = _cli(monkeypatch, capsys, "run", "-w", str(root), "--as-of", "2024-03-01")
    assert code == 2
    line = _one_line(err)
    assert str(root) in line and "Read-only file system" in line
    assert snapshot(workspace) == before


PARTIAL = Path("/ws/raw/pos/ec375921ebbe0e34.partial")
DUCKDB_MESSAGES = {
    "a full disk, in DuckDB's JSON": (
        'IO Error: Async write failed for range [offset=27, size=280300]: {"exception_type":"IO",'
        f'"exception_message":"Could not write file \\"{PARTIAL}\\": No space left on device","errno":"28"}}',
        PARTIAL,
        (errno.ENOSPC, str(PARTIAL)),
    ),
    "a read-only folder": (
        f'IO Error: Cannot open file "{PARTIAL}": Read-only file system',
        PARTIAL,
        (errno.EROFS, str(PARTIAL)),
    ),
    "an input the system refuses": ('IO Error: Cannot open file "/ws/data/a.csv": Permission denied', PARTIAL, None),
    "the store, at commit": (
        'FATAL Error: Failed to create checkpoint because of error: Could not write file "/ws/personae.duckdb": '
        "No space left on device",
        None,
        (errno.ENOSPC, "/ws/personae.duckdb"),
    ),
    "a store error that is no refusal": ("Catalog Error: Table with name nowhere does not exist!", None, None),
}


@pytest.mark.parametrize("case", list(DUCKDB_MESSAGES.values()), ids=list(DUCKDB_MESSAGES))
def test_a_refusal_is_read_back_from_duckdbs_words(case: tuple[str, Path | None, tuple[int, str] | None]) -> None:
    message, path, expected = case
    refused = ingest_module.raw_copy.refusal(RuntimeError(message), path)
    assert ((refused.errno, refused.filename) if refused else None) == expected


def test_a_disk_too_full_for_the_lock_file_names_it_and_holds_nothing(
    disk: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = _loaded_workspace(disk / "ws")
    lock = workspace.root / LOCK_FILE  # empty between holders: writing the holder needs a page
    disks.fill(disk, leave=0)
    code, err = _cli(monkeypatch, capsys, "run", "--only", "ingest", "-w", str(workspace.root), "--as-of", "2024-03-01")
    assert code == 2 and str(lock) in _one_line(err), err
    disks.empty_filler(disk)
    (workspace.root / "data/pos/b.csv").unlink()  # too big for this disk without the filler, too
    assert workspace.run(as_of=AS_OF, only="ingest").errors == []  # nothing was left held
