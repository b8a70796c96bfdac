"""Store migrations (issue 18 part 5): the store records its schema version; an older store is
migrated in one transaction by the first command that writes; a newer one is refused.

``tests/fixtures/stores/v<N>.tar.gz`` holds a small workspace made by the personae of schema
version N (``scripts/store_fixture.py``; v0 by the last commit before versions). Every one is
opened by this code: a change to a declared table without a migration fails here.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb
import pytest

from personae import Workspace
from personae.engine import store_schema
from personae.engine.base import Engine
from personae.engine.parquet_store import remember_store_engine
from personae.engine.store_schema import MIGRATIONS, SCHEMA_VERSION, Migration, personae_version, store_version
from personae.engine.tables import TABLES
from personae.errors import EngineError, StoreVersionError
from tests.cli_calls import run_cli
from tests.stores import FIXTURES, stamp_version, unpack_store

FIXTURE_FILES = sorted(FIXTURES.glob("v*.tar.gz"))


def _version_of(fixture: Path) -> int:
    match = re.fullmatch(r"v(\d+)\.tar\.gz", fixture.name)
    assert match, fixture
    return int(match.group(1))


def _table_rows(root: Path) -> dict[str, int]:
    with duckdb.connect(str(root / "personae.duckdb"), read_only=True) as store:
        names = [row[0] for row in store.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {name: int(store.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]) for name in names}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_migrations_count_up_to_the_schema_version_and_its_fixture_exists() -> None:
    assert [migration.version for migration in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    versions = [_version_of(fixture) for fixture in FIXTURE_FILES]
    assert SCHEMA_VERSION in versions, "run `python scripts/store_fixture.py` and commit the fixture it writes"
    assert versions == list(range(SCHEMA_VERSION + 1)), "the fixture of every earlier version is kept"


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda fixture: fixture.name)
def test_a_store_of_every_version_opens_migrated_with_its_rows(fixture: Path, tmp_path: Path) -> None:
    root = unpack_store(fixture, tmp_path)
    version = _version_of(fixture)
    rows_before = _table_rows(root)
    workspace = Workspace(root)
    if version < SCHEMA_VERSION:  # a read-only open cannot migrate: it names the command that does
        with pytest.raises(StoreVersionError, match="run `personae migrate`"):
            workspace.status()
    report = workspace.migrate()
    assert (report.before, report.after) == (version, SCHEMA_VERSION)
    assert report.migrated == (version < SCHEMA_VERSION)

    rows_after = _table_rows(root)
    assert {name: rows_after[name] for name in rows_before} == rows_before
    assert rows_after["store_schema"] == SCHEMA_VERSION - version + (1 if version else 0)
    with duckdb.connect(str(root / "personae.duckdb"), read_only=True) as store:
        for table in TABLES:
            if table.columns is None or table.name not in rows_after:
                continue
            described = {row[0]: row[1] for row in store.execute(f"DESCRIBE {table.name}").fetchall()}
            assert described == dict(table.columns), f"{table.name} differs from its declaration: add a migration"

    status = workspace.status()  # the reads a user makes work on the migrated store
    assert status.customers > 0 and status.last_run is not None
    uid = workspace.sql("SELECT min(uid) AS uid FROM profiles").column("uid")[0].as_py()
    assert workspace.profile(f"uid:{uid}").uid == uid
    assert {"big_spenders"} <= {s.segment for s in workspace.segments()}
    report_run = workspace.run()
    assert report_run.errors == []
    with workspace.engine(write=False) as store:
        assert store_version(store) == SCHEMA_VERSION


def test_a_store_lacking_a_declared_column_gains_it_and_keeps_its_rows(tmp_path: Path) -> None:
    root = unpack_store(FIXTURES / "v0.tar.gz", tmp_path)
    with duckdb.connect(str(root / "personae.duckdb")) as store:  # as before events kept their consent
        store.execute("ALTER TABLE events DROP COLUMN consent")
        events = store.execute("SELECT count(*) FROM events").fetchall()[0][0]
    assert events > 0
    report = Workspace(root).migrate()
    assert report.changes == ["added column events.consent"]
    with duckdb.connect(str(root / "personae.duckdb"), read_only=True) as store:
        assert store.execute("SELECT count(*), count(consent) FROM events").fetchall() == [(events, 0)]


def test_a_store_of_a_newer_personae_is_refused_by_reads_and_writes_naming_both_versions(tmp_path: Path) -> None:
    root = unpack_store(FIXTURES / f"v{SCHEMA_VERSION}.tar.gz", tmp_path)
    stamp_version(root, SCHEMA_VERSION + 1, "9.9.9")
    before = _digest(root / "personae.duckdb")
    workspace = Workspace(root)
    for attempt in (workspace.status, workspace.run, workspace.migrate, lambda: workspace.open().__enter__()):
        with pytest.raises(StoreVersionError) as refused:
            attempt()
        message = str(refused.value)
        assert f"schema version {SCHEMA_VERSION + 1}" in message and "personae 9.9.9" in message
        assert f"up to {SCHEMA_VERSION}" in message and personae_version() in message
    assert _digest(root / "personae.duckdb") == before


def test_a_migration_that_fails_leaves_the_store_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = unpack_store(FIXTURES / f"v{SCHEMA_VERSION}.tar.gz", tmp_path)
    rows_before = _table_rows(root)

    def half_done(engine: Engine) -> list[str]:
        engine.add_columns("events", [("channel_group", "VARCHAR")])
        engine.execute("UPDATE events SET channel_group = 'web'")
        engine.execute("SELECT * FROM a_table_that_is_not_there")  # fails after changing the store
        return []

    future = Migration(SCHEMA_VERSION + 1, "a later change", half_done)
    monkeypatch.setattr(store_schema, "MIGRATIONS", (*MIGRATIONS, future))
    monkeypatch.setattr(store_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(
        StoreVersionError, match=f"from schema version {SCHEMA_VERSION} to {SCHEMA_VERSION + 1}"
    ) as failed:
        Workspace(root).migrate()
    assert "nothing was changed" in str(failed.value) and isinstance(failed.value.__cause__, EngineError)
    monkeypatch.undo()

    workspace = Workspace(root)  # the personae of the old version goes on as before
    assert _table_rows(root) == rows_before
    assert "channel_group" not in workspace.sql("DESCRIBE events").column("column_name").to_pylist()
    assert workspace.status().customers > 0


def test_personae_migrate_says_what_it_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = unpack_store(FIXTURES / "v0.tar.gz", tmp_path)

    def cli(*args: str) -> tuple[int, str, str]:
        return run_cli(monkeypatch, capsys, *args, "-w", str(root))

    code, _, err = cli("status")
    assert code == 2 and err.startswith("error: the store is at schema version 0") and "personae migrate" in err
    code, out, _ = cli("migrate")
    assert code == 0 and f"migrated the store from schema version 0 to {SCHEMA_VERSION}" in out
    code, out, _ = cli("migrate")
    assert code == 0 and f"the store is up to date, at schema version {SCHEMA_VERSION}" in out
    assert cli("status")[0] == 0


@pytest.mark.spark
def test_a_spark_store_from_before_versions_is_refused_by_reads_and_migrated_through_spark(tmp_path: Path) -> None:
    root = unpack_store(FIXTURES / "v0.tar.gz", tmp_path)
    warehouse = root / "spark-warehouse"
    with duckdb.connect(str(root / "personae.duckdb"), read_only=True) as store:  # the v0 store as Spark keeps it
        for (name,) in store.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            (warehouse / name).mkdir(parents=True)
            dropped = " EXCLUDE (consent)" if name == "events" else ""  # as before events kept their consent
            store.execute(f"COPY (SELECT *{dropped} FROM {name}) TO '{warehouse / name / 'part-0.parquet'}'")
    (root / "personae.duckdb").unlink()
    remember_store_engine(root, "spark")
    workspace = Workspace(root, engine="spark")
    with pytest.raises(StoreVersionError, match=r"schema version 0 .* run `personae migrate`"):
        workspace.status()  # read by DuckDB over the Parquet folders, no JVM

    report = workspace.migrate()
    assert (report.before, report.after, report.changes) == (0, SCHEMA_VERSION, ["added column events.consent"])
    assert workspace.status().customers > 0
    [counts] = workspace.sql("SELECT count(*) AS events, count(consent) AS consented FROM events").to_pylist()
    assert counts["events"] > 0 and counts["consented"] == 0
    with workspace.engine(write=False) as store:
        assert store_version(store) == SCHEMA_VERSION


def test_a_store_held_open_as_the_server_holds_it_is_migrated_when_opened(tmp_path: Path) -> None:
    workspace = Workspace(unpack_store(FIXTURES / "v0.tar.gz", tmp_path))
    with workspace.open(command="personae serve"):
        assert workspace.last_migration is not None and workspace.last_migration.before == 0
        assert workspace.status().customers > 0  # a read through the held store
        assert workspace.migrate().after == SCHEMA_VERSION
    with workspace.engine(write=False) as store:
        assert store_version(store) == SCHEMA_VERSION
