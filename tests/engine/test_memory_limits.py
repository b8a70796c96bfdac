"""Bounded memory: every DuckDB connection of a run keeps the store's memory limit and spill
folder (the fuzzy matcher's own included), the default is half the machine's memory, and a
small world runs within a tiny limit to the same people as without one. A limit too small, or
a spill folder that fills up, is a one-line error naming the setting (issue 18's faults)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import tomli_w

from personae import Workspace
from personae.engine.duckdb import DuckDBEngine, default_memory_limit
from personae.identity.fuzzy import FuzzyMatcher
from personae.identity.fuzzy_backend import database_api, scratch_cursor
from personae.sources import suppressing
from tests.cli_calls import run_cli
from tests.sources import disks


def _setting(connection: object, name: str) -> str:
    return str(connection.execute(f"SELECT current_setting('{name}')").fetchall()[0][0])  # type: ignore[attr-defined]


def test_the_fuzzy_matchers_connection_keeps_the_stores_limits(tmp_path: Path) -> None:
    spill = tmp_path / "spill" / "here"
    with DuckDBEngine(tmp_path / "store.duckdb", memory_limit="100MB", temp_directory=spill) as engine:
        assert engine.connection_config["memory_limit"] == "100MB" and spill.is_dir()
        store = _setting(engine.connection, "memory_limit")
        for exact in (False, True):
            api = database_api("duckdb", config=engine.connection_config, exact=exact)
            connection = api._con  # Splink's DuckDB connection
            assert _setting(connection, "memory_limit") == store == "95.3 MiB"
            assert _setting(connection, "temp_directory") == str(spill)
            assert _setting(connection, "threads") == ("1" if exact else _setting(engine.connection, "threads"))


def test_input_files_are_read_under_the_stores_limits(tmp_path: Path) -> None:
    """Ingest copies input files through ``reader()``: an instance of its own would take
    DuckDB's default of 80 % of the machine beside the store's limit."""
    spill = tmp_path / "spill"
    with DuckDBEngine(tmp_path / "store.duckdb", memory_limit="100MB", threads=1, temp_directory=spill) as engine:
        reader = engine.reader()
        assert _setting(reader, "memory_limit") == "95.3 MiB" and _setting(reader, "threads") == "1"
        assert _setting(reader, "temp_directory") == str(spill)
        databases = {row[0] for row in reader.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
        assert "store" in databases  # one instance, one buffer manager
        reader.execute("CREATE TEMP TABLE rejects_x AS SELECT 1 AS line")
        assert "rejects_x" not in engine.scratch_names()  # the reader's temporaries are its own


def test_a_raw_copy_is_rewritten_on_the_stores_instance_without_changing_its_settings(tmp_path: Path) -> None:
    """Erasure and retention rewrite raw copies through ``reader()``: the rewrite keeps the
    store's limit, and must not set the shared instance's threads (it once ran ``SET threads = 1``
    on a connection of its own)."""
    raw = tmp_path / "raw.parquet"
    duckdb.sql(f"COPY (SELECT range AS n, range + 1 AS _row FROM range(10)) TO '{raw}' (FORMAT parquet)")
    with DuckDBEngine(tmp_path / "store.duckdb", memory_limit="100MB", threads=2) as engine:
        reader = engine.reader()
        assert suppressing.drop_rows(raw, [2, 5], reader) == 2
        assert _setting(engine.connection, "threads") == "2" and _setting(reader, "memory_limit") == "95.3 MiB"
        engine.execute("CHECKPOINT")  # the rewrite left no transaction open on the store (erasure checkpoints)
    kept = duckdb.sql(f"SELECT n, _row FROM read_parquet('{raw}') ORDER BY _row").fetchall()
    assert kept == [(n, n + 1) for n in range(10) if n + 1 not in (2, 5)]


def test_splink_runs_on_the_stores_instance_and_leaves_nothing_behind(tmp_path: Path) -> None:
    with DuckDBEngine(tmp_path / "store.duckdb", memory_limit="100MB", threads=2) as engine:
        engine.execute("CREATE TABLE kept AS SELECT 1 AS x")
        before = engine.connection.execute("SELECT database_name FROM duckdb_databases() ORDER BY 1").fetchall()
        with scratch_cursor(engine.connection, exact=True) as cursor:
            assert _setting(cursor, "threads") == _setting(engine.connection, "threads") == "1"  # one instance
            assert _setting(cursor, "memory_limit") == "95.3 MiB"
            cursor.execute("CREATE TABLE __splink__scratch AS SELECT range AS n FROM range(10)")
        assert _setting(engine.connection, "threads") == "2"
        after = engine.connection.execute("SELECT database_name FROM duckdb_databases() ORDER BY 1").fetchall()
        assert after == before and engine.tables() == ["kept"]


def test_a_matcher_on_the_stores_instance_learns_and_predicts_the_same(tmp_path: Path) -> None:
    """Exact training (one thread, set on the shared instance and restored) gives the same model."""
    records = _febrl3()
    alone = FuzzyMatcher().fit(records)
    with DuckDBEngine(tmp_path / "store.duckdb", memory_limit="300MB") as engine:
        shared = FuzzyMatcher()
        shared.store = engine.connection
        shared.fit(records)
        assert shared.model_ == alone.model_
        assert shared.predict(records).equals(alone.predict(records))


def _febrl3() -> pa.Table:
    data = Path(__file__).resolve().parents[3] / "shared" / "data" / "febrl3.csv"
    with duckdb.connect() as con:
        return con.sql(
            "SELECT trim(rec_id) AS record_key, given_name AS first_name, surname AS last_name, "
            "try_strptime(trim(date_of_birth), '%Y%m%d')::DATE AS birth_date, address_1 AS street, suburb AS city, "
            "postcode, NULL::VARCHAR AS phone "
            f"FROM read_csv('{data}', all_varchar = true, header = true)"
        ).to_arrow_table()


def test_the_default_is_half_the_machines_memory(tmp_path: Path) -> None:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = default_memory_limit()
    assert limit.endswith("MB") and abs(int(limit[:-2]) * 2**20 - total / 2) < 2**21
    with DuckDBEngine(tmp_path / "store.duckdb") as engine:
        assert engine.connection_config["memory_limit"] == limit


def _groups(root: Path) -> set[frozenset[tuple[str, str]]]:
    """The records of each person, whatever their UIDs (two workspaces salt them apart)."""
    with Workspace(root).engine(write=False) as store:
        rows = store.fetch_rows("SELECT uid, source, record_id FROM record_map")
    people: dict[str, set[tuple[str, str]]] = {}
    for uid, source, record in rows:
        people.setdefault(str(uid), set()).add((str(source), str(record)))
    return {frozenset(records) for records in people.values()}


def test_a_small_world_runs_in_100_mb_to_the_same_people(tmp_path: Path) -> None:
    roots = []
    for name, limit in (("free", None), ("tight", "100MB")):
        root = tmp_path / name
        Workspace.init(root, demo=True, customers=1000, seed=5)
        if limit:
            config = tomllib.loads((root / "personae.toml").read_text(encoding="utf-8"))
            config["engine"] = {"duckdb": {"memory_limit": limit}}
            (root / "personae.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
        report = Workspace(root).run()
        assert report.errors == [], report.errors
        roots.append(root)
    free, tight = (_groups(root) for root in roots)
    assert len(free) > 1000 and free == tight
    assert (roots[1] / ".personae" / "duckdb-tmp").is_dir()  # spills go to the workspace's disk


def _limited(root: Path, **duckdb_settings: Any) -> None:
    config = tomllib.loads((root / "personae.toml").read_text(encoding="utf-8"))
    config["engine"] = {"duckdb": duckdb_settings}
    (root / "personae.toml").write_text(tomli_w.dumps(config), encoding="utf-8")


def test_a_memory_limit_too_small_is_an_error_naming_the_setting_and_the_store_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "shop"
    Workspace.init(root, demo=True, customers=60, seed=5)
    assert Workspace(root).run().errors == []
    people = Workspace(root).status().customers
    _limited(root, memory_limit="2MB")
    code, _, err = run_cli(monkeypatch, capsys, "run", "-w", str(root))
    assert code == 2 and "Traceback" not in err
    assert err.strip().startswith("error: a step needs more memory than [engine.duckdb] memory_limit = '2MB' allows")
    assert "raise memory_limit in personae.toml" in err and "SET memory_limit" not in err
    _limited(root)  # the limit taken out again: the store was left as it was
    assert Workspace(root).status().customers == people
    assert Workspace(root).run().errors == []


def test_a_full_spill_folder_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = disks.mount_tmpfs(tmp_path / "disk", "1m")
    try:
        root = tmp_path / "shop"
        Workspace.init(root, demo=True, customers=1000, seed=5)
        _limited(root, memory_limit="60MB", temp_directory=str(disk / "spill"))
        # the fuzzy matcher's blocking spills the most
        code, _, err = run_cli(monkeypatch, capsys, "run", "-w", str(root))
    finally:
        disks.unmount(disk)
    assert code == 2 and "Traceback" not in err, err[-2000:]
    assert err.strip().startswith(f"error: the spill folder {disk / 'spill'} is full")
    assert "set [engine.duckdb] temp_directory in personae.toml" in err and "PRAGMA" not in err


def test_an_index_built_in_a_transaction_is_checkpointed_not_left_pinned(tmp_path: Path) -> None:
    """DuckDB skips its automatic checkpoint after a transaction that built an index and keeps
    the index in memory until one; the identity step writes its indexed tables in a transaction."""
    rows = "SELECT 'email' AS id_type, 'person' || range || '@mail.net' AS id_value, 'u' || range AS uid"
    with DuckDBEngine(tmp_path / "store.duckdb", memory_limit="1GB") as engine:

        def pinned() -> int:
            return int(engine.scalar("SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'ART_INDEX'"))

        with engine.transaction():
            engine.create_table("identity_map", f"{rows} FROM range(300000)")
        assert pinned() == 0  # 11 MB without the checkpoint
        assert engine.scalar("SELECT wal_size FROM pragma_database_size()") == "0 bytes"
        indexes = engine.fetch_rows("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'identity_map'")
        assert indexes == [("identity_map_id_value",)]
        assert engine.scalar("SELECT uid FROM identity_map WHERE id_value = 'person7@mail.net'") == "u7"
        with pytest.raises(ZeroDivisionError), engine.transaction():  # rolled back: no index left to build
            engine.create_table("identity_map", f"{rows} FROM range(10)")
            raise ZeroDivisionError
        assert engine.scalar("SELECT count(*) FROM identity_map") == 300000
        engine.create_table("identifiers", "SELECT 1 AS x")  # the next commit builds nothing of the rolled back one
        assert engine.fetch_rows("SELECT index_name FROM duckdb_indexes()") == [("identity_map_id_value",)]


def test_an_index_is_built_after_its_transaction_commits_once_for_its_table_as_it_ends(tmp_path: Path) -> None:
    """DuckDB builds an index made inside a transaction row by row at its commit (10-12 s for
    identity_map at 1M customers, 3.9 s on its own): the engine builds it after the commit, once
    for a table written twice, and not for a table dropped before the end."""
    rows = "SELECT 'email' AS id_type, 'p' || range AS id_value, 'u' || range AS uid FROM range({n})"

    def indexes(engine: DuckDBEngine) -> list[tuple[str, str]]:
        return engine.fetch_rows("SELECT table_name, index_name FROM duckdb_indexes() ORDER BY 1")

    with DuckDBEngine(tmp_path / "store.duckdb", memory_limit="1GB") as engine:
        with engine.transaction():
            engine.create_table("identity_map", rows.format(n=5))
            engine.create_table("identity_map", rows.format(n=50))
            assert indexes(engine) == []  # not yet: the transaction is open
        assert indexes(engine) == [("identity_map", "identity_map_id_value")]
        assert engine.scalar("SELECT uid FROM identity_map WHERE id_value = 'p42'") == "u42"
        with engine.transaction():
            engine.create_table("identity_map", rows.format(n=7))
            engine.drop_table("identity_map")
        assert indexes(engine) == [] and not engine.has_table("identity_map")


def test_no_step_leaves_its_scratch_to_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step's temporary tables and registered Arrow tables are dropped when it ends: kept,
    they held memory and spill space through every later step (4.7 GB of spill after the
    traits step at 3M customers)."""
    from personae import pipeline

    root = tmp_path / "shop"
    Workspace.init(root, demo=True, customers=60, seed=5)
    seen: dict[str, set[str]] = {}

    def watched(name: str, step: Any) -> Any:
        def run(context: Any) -> Any:
            seen[name] = context.engine.scratch_names()
            return step(context)

        return run

    monkeypatch.setattr(pipeline, "STEPS", tuple((name, watched(name, step)) for name, step in pipeline.STEPS))
    for _ in range(2):  # a first run, then an incremental one
        seen.clear()
        with Workspace(root).open() as workspace:
            assert workspace.run().errors == []
            with workspace.engine(write=False) as store:
                after = store.scratch_names()
        assert list(seen) == list(pipeline.STEP_NAMES)
        assert {name: names for name, names in seen.items() if names} == {} and after == set()
