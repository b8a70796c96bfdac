"""Bounded memory: every DuckDB connection of a run keeps the store's memory limit and spill
folder (the fuzzy matcher's own included), the default is half the machine's memory, and a
small world runs within a tiny limit to the same people as without one."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import tomli_w

from personae import Workspace
from personae.engine.duckdb import DuckDBEngine, default_memory_limit
from personae.identity.fuzzy_backend import database_api


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
