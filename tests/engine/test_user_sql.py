"""SQL a user writes (``personae sql``, later the server's read tokens) reads the store and nothing else.

It goes through one method, :meth:`Workspace.sql` (and :meth:`Engine.user_sql` under it):
one query, no statement that writes, attaches, installs or configures, and no file outside
the raw copies behind ``raw_<source>``. The pipeline's own connections keep their access.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from personae import Workspace
from personae.cli.app import app
from personae.errors import EngineError, UsageError, WorkspaceError
from tests.workspaces import POS_CSV, POS_SOURCE, WEB_JSONL, WEB_SOURCE, write_workspace

AS_OF = date(2024, 3, 1)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = write_workspace(
        tmp_path_factory.mktemp("user_sql") / "shop",
        [POS_SOURCE, WEB_SOURCE],
        {"data/pos/a.csv": POS_CSV, "data/web/a.jsonl": WEB_JSONL},
    )
    workspace = Workspace(root)
    workspace.run(as_of=AS_OF)
    return workspace


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder beside the workspace, with a Parquet file and a text file in it."""
    folder = tmp_path_factory.mktemp("outside")
    duckdb.sql(f"COPY (SELECT 42 AS answer) TO '{folder / 'secret.parquet'}'")
    (folder / "secret.txt").write_text("secret\n")
    return folder


def _refused(workspace: Workspace, query: str) -> str:
    with pytest.raises(UsageError) as raised:
        workspace.sql(query)
    message = str(raised.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("COPY (SELECT 1) TO '{out}/x.csv'", "COPY"),
        ("COPY profiles TO '{raw}/pos/evil.parquet'", "COPY"),
        ("EXPORT DATABASE '{out}/export'", "EXPORT"),
        ("ATTACH '{out}/other.duckdb' AS other", "ATTACH"),
        ("INSTALL httpfs", "LOAD"),
        ("LOAD httpfs", "LOAD"),
        ("SET enable_external_access = true", "SET"),
        ("RESET lock_configuration", "SET"),
        ("SELECT 1; COPY (SELECT 1) TO '{out}/y.csv'", "one query"),
        ("CREATE TEMP TABLE t AS SELECT 1", "CREATE"),
        ("SELECT * FROM (PIVOT raw_pos ON promo USING count(*))", "IN ('a', 'b')"),
    ],
)
def test_statements_other_than_a_query_are_refused(shop: Workspace, outside: Path, query: str, expected: str) -> None:
    raw_files = sorted((shop.root / "raw").rglob("*"))
    message = _refused(shop, query.format(out=outside, raw=shop.root / "raw"))
    assert expected in message, message
    assert sorted(p.name for p in outside.iterdir()) == ["secret.parquet", "secret.txt"]
    assert sorted((shop.root / "raw").rglob("*")) == raw_files


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_parquet('{out}/secret.parquet')",
        "SELECT * FROM read_text('{out}/secret.txt')",
        "SELECT * FROM read_text('{root}/personae.toml')",
        "SELECT * FROM read_text('{root}/raw/../personae.toml')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM sniff_csv('/etc/passwd')",
    ],
)
def test_files_outside_the_raw_copies_cannot_be_read(shop: Workspace, outside: Path, query: str) -> None:
    message = _refused(shop, query.format(out=outside, root=shop.root))
    assert "cannot read or write files" in message


def test_the_store_and_its_raw_views_still_answer(shop: Workspace) -> None:
    assert shop.sql("SELECT count(*) AS n FROM profiles").column("n")[0].as_py() == 3
    assert shop.sql("SELECT count(*) AS n FROM raw_pos").column("n")[0].as_py() == 4
    assert shop.sql("SELECT count(*) AS n FROM raw_web").column("n")[0].as_py() == 3
    join = (
        "SELECT r.receipt, p.uid FROM raw_pos r JOIN events e ON e.event_id = 'pos:' || r.receipt "
        "JOIN record_map m ON m.source = e.source AND m.record_id = r.receipt JOIN profiles p USING (uid) ORDER BY 1"
    )
    with shop.engine(write=False) as store:
        expected = store.fetch_arrow(join)
    assert shop.sql(join).equals(expected) and expected.num_rows == 3  # R4 holds no valid identifier
    assert "profiles" in shop.sql("SHOW TABLES").column("name").to_pylist()
    assert shop.sql("WITH t AS (SELECT 1 AS a) SELECT a FROM t;").to_pylist() == [{"a": 1}]
    pivoted = shop.sql("PIVOT raw_pos ON promo IN ('yes', 'no') USING count(*) GROUP BY card ORDER BY card")
    assert pivoted.column_names == ["card", "yes", "no"]


def test_raw_views_number_rows_as_the_pipeline_does(shop: Workspace) -> None:
    query = "SELECT * FROM raw_pos ORDER BY _file, _row"
    with shop.engine(write=False) as store:
        expected = store.fetch_arrow(query)
    assert shop.sql(query).equals(expected)


def test_a_query_that_fails_is_still_an_engine_error(shop: Workspace) -> None:
    with pytest.raises(EngineError, match="nowhere"):
        shop.sql("SELECT * FROM nowhere")


def test_the_pipeline_keeps_its_access_after_user_sql(tmp_path: Path, outside: Path) -> None:
    workspace = Workspace(write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/a.csv": POS_CSV}))
    workspace.run(as_of=AS_OF)
    _refused(workspace, f"SELECT * FROM read_parquet('{outside}/secret.parquet')")
    (workspace.root / "data/pos/b.csv").write_text(POS_CSV.replace("R", "S"))
    assert workspace.run(as_of=AS_OF).errors == []
    assert workspace.sql("SELECT count(*) AS n FROM raw_pos").column("n")[0].as_py() == 8
    with workspace.engine(write=True) as store:
        assert store.scalar(f"SELECT answer FROM read_parquet('{outside}/secret.parquet')") == 42


def test_the_cli_refuses_on_one_line(shop: Workspace, outside: Path) -> None:
    result = CliRunner().invoke(app, ["sql", f"COPY (SELECT 1) TO '{outside}/z.csv'", "-w", str(shop.root)])
    assert isinstance(result.exception, UsageError)
    assert not (outside / "z.csv").exists()


def test_a_workspace_nothing_has_run_in_answers_queries_of_no_table(tmp_path: Path) -> None:
    """Before the first run there is no store file: a query that reads no table still answers
    (and shows its values as they are); one that reads a table says the store is empty; files
    stay out of reach."""
    workspace = Workspace(write_workspace(tmp_path / "fresh", [POS_SOURCE], {}))
    assert workspace.sql("select '[pos, web]' as a, 'a:x:b' as b").to_pylist() == [{"a": "[pos, web]", "b": "a:x:b"}]
    with pytest.raises(WorkspaceError, match="the store is empty: run `personae run` first"):
        workspace.sql("select count(*) from profiles")
    with pytest.raises(WorkspaceError, match="cannot read or write files"):
        workspace.sql(f"select * from read_csv('{tmp_path / 'fresh' / 'personae.toml'}')")
    assert not (tmp_path / "fresh" / "personae.duckdb").exists()  # nothing was created
