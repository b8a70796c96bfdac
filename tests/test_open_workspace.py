"""``Workspace.open()``: one long-lived handle on the store that verbs share, from any thread,
while a second writer gets the lock error naming the holder."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest

from personae import Workspace
from personae.errors import StoreLockedError, WorkspaceError
from tests.workspaces import POS_CSV, POS_SOURCE, WEB_JSONL, WEB_SOURCE, write_workspace

AS_OF = date(2024, 3, 1)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_workspace(
        tmp_path / "ws", [POS_SOURCE, WEB_SOURCE], {"data/pos/a.csv": POS_CSV, "data/web/a.jsonl": WEB_JSONL}
    )


def test_verbs_share_the_held_store_from_many_threads(root: Path) -> None:
    workspace = Workspace(root)
    with workspace.open(command="personae serve"):
        assert workspace.is_open
        report = workspace.run(as_of=AS_OF)
        assert report.errors == []
        with ThreadPoolExecutor(max_workers=4) as pool:
            counts = list(pool.map(lambda _: workspace.sql("SELECT count(*) AS n FROM profiles"), range(8)))
        assert {table.column("n")[0].as_py() for table in counts} == {
            workspace.status().customers + workspace.status().anonymous
        }
        with pytest.raises(StoreLockedError, match=r"held for writing by pid \d+ .*personae serve"):
            Workspace(root).run(as_of=AS_OF)
        with pytest.raises(WorkspaceError, match="already open in this process"), workspace.open():
            pass
    assert not workspace.is_open
    assert Workspace(root).run(as_of=AS_OF).errors == []  # released on leaving the block


def test_writes_take_turns_while_reads_go_on(root: Path) -> None:
    workspace = Workspace(root)
    with workspace.open():
        workspace.run(as_of=AS_OF)
        with ThreadPoolExecutor(max_workers=3) as pool:
            runs = [pool.submit(workspace.run, as_of=AS_OF) for _ in range(3)]
            reads = [pool.submit(workspace.status) for _ in range(3)]
            assert all(run.result().errors == [] for run in runs)
            assert all(read.result().last_run is not None for read in reads)
        ids = workspace.sql("SELECT run_id FROM runs ORDER BY run_id").column("run_id").to_pylist()
    assert ids == [1, 2, 3, 4]
