"""The postgres destination against the real server `make test` starts (PERSONAE_TEST_PG_DSN).

One 300-customer demo workspace is built per module and copied per test; each test writes
to a schema of its own, dropped after. The tables are compared with the store as sets.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tomllib
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
import tomli_w
from typer.testing import CliRunner

from personae import Workspace
from personae.activation.specs import segment_external_id
from personae.cli.app import app

pytestmark = pytest.mark.postgres
DSN = os.environ.get("PERSONAE_TEST_PG_DSN", "")
SEGMENTATIONS = ("rfm", "lifecycle")
TRAITS = ("orders", "revenue_365d", "last_order_at", "email")
LATER = date(2026, 2, 28)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not DSN:
        pytest.skip("PERSONAE_TEST_PG_DSN is unset: run through `make test`, which starts PostgreSQL")
    root = tmp_path_factory.mktemp("pg") / "demo"
    workspace = Workspace.init(root, demo=True, customers=300)
    assert workspace.run().errors == []
    return root


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"personae_test_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def _workspace(tmp_path: Path, demo: Path, schema: str, dsn: str = DSN, **extra: Any) -> Workspace:
    root = tmp_path / "ws"
    shutil.copytree(demo, root)
    destination = {
        "name": "warehouse",
        "kind": "postgres",
        "dsn_env": "WAREHOUSE_DSN",
        "schema": schema,
        "segmentations": list(SEGMENTATIONS),
        "traits": list(TRAITS),
        **extra,
    }
    path = root / "personae.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    config["destinations"] = [destination]  # instead of the demo's own
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return Workspace(root, env={"WAREHOUSE_DSN": dsn})


def _pg(query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(DSN, autocommit=True) as connection:
        cursor = connection.execute(query)
        return cursor.fetchall() if cursor.description else []


def _members(schema: str) -> set[tuple[Any, ...]]:
    return set(_pg(f"SELECT uid, segment_id, segmentation, segment FROM {schema}.personae_members"))


def _store_members(workspace: Workspace) -> set[tuple[Any, ...]]:
    rows = workspace.sql(
        "SELECT uid, segmentation, segment FROM memberships WHERE exited_at IS NULL "
        f"AND segmentation IN ({', '.join(repr(s) for s in SEGMENTATIONS)})"
    ).to_pylist()
    return {
        (r["uid"], segment_external_id(r["segmentation"], r["segment"]), r["segmentation"], r["segment"]) for r in rows
    }


def _traits(schema: str) -> set[tuple[Any, ...]]:
    return set(_pg(f"SELECT uid, {', '.join(TRAITS)} FROM {schema}.personae_traits"))


def _store_traits(workspace: Workspace) -> set[tuple[Any, ...]]:
    rows = workspace.sql(f"SELECT uid, {', '.join(TRAITS)} FROM profiles").to_pylist()
    return {(row["uid"], *(row[trait] for trait in TRAITS)) for row in rows}


def _cursor(workspace: Workspace) -> int:
    rows = workspace.sql("SELECT cursor FROM sync_state WHERE destination = 'warehouse'").to_pylist()
    return int(rows[0]["cursor"]) if rows else 0


def _sync(workspace: Workspace, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["sync", "-w", str(workspace.root), "--format", "json"], env=env)
    return result.exit_code, json.loads(result.stdout)[0]


def test_run_sends_members_and_traits_then_entries_and_exits(tmp_path: Path, demo: Path, schema: str) -> None:
    workspace = _workspace(tmp_path, demo, schema, batch_size=500)
    report = workspace.run()  # unchanged sources: the run goes on to the sync step
    (sync,) = [step for step in report.steps if step.name == "sync"]
    assert report.errors == [] and sync.warnings == [] and sync.rows_out > 0
    first = _members(schema)
    assert first == _store_members(workspace) and len(first) > 300
    assert _traits(schema) == _store_traits(workspace)
    scores = dict(
        ((uid, segment_id), score)
        for uid, segment_id, score in _pg(f"SELECT uid, segment_id, score FROM {schema}.personae_members")
    )
    stored = workspace.sql("SELECT uid, segmentation, segment, score FROM memberships WHERE exited_at IS NULL")
    for row in stored.to_pylist():
        key = (row["uid"], segment_external_id(row["segmentation"], row["segment"]))
        if key in scores:
            assert scores[key] == pytest.approx(row["score"])

    assert workspace.run(as_of=LATER).errors == []
    later = _members(schema)
    assert later == _store_members(workspace)
    assert first - later, "the later run has exits, and their rows are gone"
    assert later - first, "and entries"
    assert _traits(schema) == _store_traits(workspace)
    last = _pg(f"SELECT max(last_sequence) FROM {schema}.personae_members")[0][0]
    assert _cursor(workspace) >= last


def test_replaying_batches_leaves_the_tables_equal(tmp_path: Path, demo: Path, schema: str) -> None:
    workspace = _workspace(tmp_path, demo, schema, batch_size=700)
    workspace.sync()
    assert workspace.run(as_of=LATER).errors == []
    members, traits = _members(schema), _traits(schema)
    cursor = _cursor(workspace)
    written = set(_pg(f"SELECT uid, last_key, revision, updated_at FROM {schema}.personae_traits"))
    for replay_from in (cursor - 300, 0):  # the last batch again (a crash before its commit), then all of it
        with workspace.engine(write=True) as store:
            store.execute(f"UPDATE sync_state SET cursor = {replay_from} WHERE destination = 'warehouse'")
            # and every person's last trait delivery, as if not committed: the same keys go again
            store.execute("UPDATE sync_marks SET revision = revision - 1, digest = 'x' WHERE destination = 'warehouse'")
        (result,) = workspace.sync()
        assert result.status == "ok" and result.cursor == cursor and result.sent > len(traits)
        assert _members(schema) == members and _traits(schema) == traits
    # a trait key already applied changes nothing, not even updated_at
    assert set(_pg(f"SELECT uid, last_key, revision, updated_at FROM {schema}.personae_traits")) == written


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_server_down_fails_with_the_cursor_kept_then_resumes(tmp_path: Path, demo: Path, schema: str) -> None:
    down = f"postgresql://personae:s3cret-pw@127.0.0.1:{_closed_port()}/postgres"
    workspace = _workspace(tmp_path, demo, schema, dsn=down)
    code, shown = _sync(workspace, {"WAREHOUSE_DSN": down})
    assert code == 1 and shown["status"] == "failed"
    assert "cannot reach PostgreSQL at 127.0.0.1:" in shown["error"] and "s3cret" not in shown["error"]
    assert "check the dsn and that the server is running" in shown["error"]
    assert _cursor(workspace) == 0

    code, shown = _sync(workspace, {"WAREHOUSE_DSN": DSN})
    assert code == 0 and shown["status"] == "ok" and shown["cursor"] > 0
    assert _members(schema) == _store_members(workspace)
    assert _traits(schema) == _store_traits(workspace)


@pytest.mark.parametrize(
    ("table", "ddl", "expected", "members_sent"),
    [
        (
            "personae_members",
            "uid text, segment_id text, segmentation text, segment text, score text, entered_at timestamp, "
            "last_key text, last_sequence bigint, updated_at timestamptz, PRIMARY KEY (uid, segment_id)",
            "column 'score' is text, not double precision; change it: ALTER TABLE {schema}.personae_members "
            "ALTER COLUMN score TYPE double precision",
            False,
        ),
        (
            "personae_members",
            "uid text, segment_id text, segmentation text, segment text, score float8, entered_at timestamp, "
            "last_key text, updated_at timestamptz",
            "column 'last_sequence' is missing; add it: ALTER TABLE {schema}.personae_members "
            "ADD COLUMN last_sequence bigint",
            False,
        ),
        (
            "personae_traits",
            "uid text PRIMARY KEY, orders bigint, revenue_365d float8, email text, "
            "last_key text, revision bigint, updated_at timestamptz",
            "column 'last_order_at' is missing",
            False,
        ),
        (
            "personae_traits",
            "uid text PRIMARY KEY, orders text, revenue_365d float8, last_order_at timestamp, email text, "
            "last_key text, revision bigint, updated_at timestamptz",
            "column 'orders' is text, not bigint",
            True,
        ),
    ],
    ids=["wrong_type", "missing_column", "missing_trait", "wrong_trait_type"],
)
def test_a_table_with_the_wrong_schema_is_refused_by_name(
    tmp_path: Path, demo: Path, schema: str, table: str, ddl: str, expected: str, members_sent: bool
) -> None:
    """Checked on open, before anything is sent; a trait's type only with the first traits batch,
    whose Arrow types say what it should be (the memberships before it are delivered)."""
    _pg(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.{table} ({ddl})")
    workspace = _workspace(tmp_path, demo, schema)
    code, shown = _sync(workspace, {"WAREHOUSE_DSN": DSN})
    assert code == 1 and shown["status"] == "failed"
    assert f"destination 'warehouse': table {schema}.{table} has the wrong schema" in shown["error"]
    assert expected.format(schema=schema) in shown["error"]
    if members_sent:
        assert _members(schema) == _store_members(workspace)
    else:
        assert _cursor(workspace) == 0 and shown["sent"] == 0
    assert workspace.sql("SELECT count(*) AS n FROM sync_marks WHERE destination = 'warehouse'").to_pylist() == [
        {"n": 0}
    ]


def test_a_missing_table_is_an_error_when_not_created(tmp_path: Path, demo: Path, schema: str) -> None:
    workspace = _workspace(tmp_path, demo, schema, create_tables=False)
    (result,) = workspace.sync()
    assert result.status == "failed" and result.cursor == 0
    assert f"table {schema}.personae_members does not exist" in result.error
    assert "create it or set create_tables = true" in result.error


def test_the_spec_needs_a_dsn_and_keeps_its_column_names(tmp_path: Path, demo: Path) -> None:
    from personae.activation.kinds import parse_destination

    with pytest.raises(ValueError, match="needs 'dsn_env' \\(or 'dsn'\\)"):
        parse_destination({"name": "w", "kind": "postgres", "traits": ["orders"]}, 0)
    with pytest.raises(ValueError, match="trait 'revision' clashes"):
        parse_destination({"name": "w", "kind": "postgres", "dsn_env": "X", "traits": ["revision"]}, 0)
    spec = parse_destination({"name": "w", "kind": "postgres", "dsn_env": "X", "schema": "crm", "traits": ["a"]}, 0)
    assert spec.model_dump(by_alias=True)["schema"] == "crm"


def test_a_batch_keeps_the_last_change_of_each_member() -> None:
    """Entered, exited and entered again in one batch: the row ends as the last entry."""
    import pyarrow as pa

    from personae.activation.kinds.postgres_tables import last_changes

    changes = pa.table(
        {
            "uid": ["a", "b", "a", "a", "b"],
            "segment_id": ["s1", "s1", "s1", "s1", "s2"],
            "sequence": [1, 2, 5, 9, 10],
            "change": ["entered", "entered", "exited", "entered", "exited"],
        }
    )
    assert last_changes(changes).to_pylist() == [
        {"uid": "b", "segment_id": "s1", "sequence": 2, "change": "entered"},
        {"uid": "a", "segment_id": "s1", "sequence": 9, "change": "entered"},
        {"uid": "b", "segment_id": "s2", "sequence": 10, "change": "exited"},
    ]
