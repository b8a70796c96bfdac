"""The tables one person is looked up in are written in person order, so that DuckDB's min/max
of each row group lets a lookup read one row group instead of the table (Customer 360 at 1M
people: issue 16)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from personae import Workspace
from personae.engine import DuckDBEngine, person_order
from personae.engine.person_order import keep_in_order, most_row_groups_read, row_group_ranges
from personae.engine.tables import TABLES
from personae.identity.views import uids_by_identifier_sql

CLUSTERED = {table.name: table.clustered_by for table in TABLES if table.clustered_by}
ROW_GROUP = 122_880
"""DuckDB's rows per row group."""


def test_the_person_tables_declare_their_lookup_column() -> None:
    assert {"identity_map", "record_map", "profiles", "predictions", "memberships"} <= set(CLUSTERED)
    assert CLUSTERED["identity_edges"] == "a_key"


def _out_of_order(workspace: Workspace) -> dict[str, int]:
    found = {}
    for table, column in CLUSTERED.items():
        [counts] = workspace.sql(
            f"SELECT count(*) AS rows, count(*) FILTER (WHERE {column} < before) AS out_of_order FROM "
            f"(SELECT {column}, lag({column}) OVER (ORDER BY rowid) AS before FROM {table})"
        ).to_pylist()
        assert counts["rows"] > 0, table
        found[table] = counts["out_of_order"]
    return found


def test_a_run_writes_each_clustered_table_in_its_order(tmp_path: Path) -> None:
    workspace = Workspace.init(tmp_path / "shop", demo=True, customers=300, seed=3)
    workspace.run()
    assert set(_out_of_order(workspace).values()) == {0}
    # a later day changes memberships and profiles in place, appending rows; --full writes them in order again
    as_of = workspace.config.workspace.as_of
    assert as_of is not None
    workspace.run(as_of=as_of + timedelta(days=40))
    assert _out_of_order(workspace)["memberships"] > 0
    workspace.run(as_of=as_of + timedelta(days=40), full=True)
    assert set(_out_of_order(workspace).values()) == {0}


def test_an_indexed_column_keeps_its_index_and_a_new_column_is_still_added(tmp_path: Path) -> None:
    workspace = Workspace.init(tmp_path / "shop", demo=True, customers=60, seed=3)
    assert workspace.run().errors == []
    indexed = {(table.name, column) for table in TABLES for column in table.indexed_by}
    assert ("identity_map", "id_value") in indexed

    def indexes() -> set[tuple[str, str]]:
        with workspace.engine(write=False) as store:
            rows = store.fetch_rows("SELECT table_name, expressions FROM duckdb_indexes()")
        return {(str(table), str(expressions).strip("[]'\"")) for table, expressions in rows}

    assert indexed <= indexes()
    with workspace.engine(write=True) as store:  # an older store gaining a declared column
        store.add_columns("identity_map", [("note", "VARCHAR")])  # DuckDB refuses ALTER on an indexed table
        assert "note" in dict(store.columns("identity_map"))
    assert ("identity_map", "id_value") not in indexes()
    assert workspace.run(only="identity").errors == []  # the step's next write indexes it again
    assert indexed <= indexes()


def test_a_lookup_in_a_clustered_table_reads_one_row_group(tmp_path: Path) -> None:
    store = DuckDBEngine(tmp_path / "store.duckdb")
    try:
        # three row groups of people in hash order, as the identity step makes them
        store.create_table(
            "record_map",
            "SELECT 'pos' AS source, CAST(i AS VARCHAR) AS record_id, "
            f"'p' || left(md5(CAST(i % 100000 AS VARCHAR)), 15) AS uid FROM range({3 * ROW_GROUP}) AS t(i)",
        )
        store.execute("CHECKPOINT")
        wanted = store.scalar("SELECT uid FROM record_map WHERE record_id = '12345'")
        plan = json.loads(
            store.fetch_rows(f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM record_map WHERE uid = '{wanted}'")[0][-1]
        )
        scans = _scans(plan["operator"])
        assert [(scan["row_groups_scanned"], scan["total_row_groups_to_scan"]) for scan in scans] == [(1, 3)]
        assert store.scalar(f"SELECT count(*) FROM record_map WHERE uid = '{wanted}'") >= 3
    finally:
        store.close()


def _scans(operators: list[dict[str, object]]) -> list[dict[str, object]]:
    found = []
    for operator in operators:
        if "row_groups_scanned" in operator:  # a table scan
            found.append(operator)
        children = operator.get("children", [])
        assert isinstance(children, list)
        found += _scans(children)
    return found


def test_a_person_is_found_by_an_identifier_through_the_index(tmp_path: Path) -> None:
    workspace = Workspace.init(tmp_path / "shop", demo=True, customers=60, seed=3)
    assert workspace.run().errors == []
    with workspace.engine(write=False) as store:
        email, uid = store.fetch_rows("SELECT id_value, uid FROM identity_map WHERE id_type = 'email' LIMIT 1")[0]
        wanted = uids_by_identifier_sql("email", str(email))
        assert store.fetch_rows(wanted) == [(uid,)]
        assert store.fetch_rows(uids_by_identifier_sql("phone", str(email))) == []  # the type counts
        plan = json.loads(store.fetch_rows(f"EXPLAIN (ANALYZE, FORMAT JSON) {wanted}")[0][-1])
    [scan] = _scans(plan["operator"])
    assert scan["extra_info"]["Type"] == "Index Scan", scan["extra_info"]
    assert workspace.profile(f"email:{email}").uid == uid


def _lookup_reads(store: DuckDBEngine, uid: str) -> tuple[object, object]:
    plan = json.loads(
        store.fetch_rows(f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM record_map WHERE uid = '{uid}'")[0][-1]
    )
    [scan] = _scans(plan["operator"])
    return scan["row_groups_scanned"], scan["total_row_groups_to_scan"]


def test_a_table_scattered_by_in_place_writes_is_written_in_order_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DuckDBEngine(tmp_path / "store.duckdb")
    people = "'p' || left(md5(CAST(i % 100000 AS VARCHAR)), 15)"
    try:
        # three row groups in person order, then two of rows from the whole range, as increments append them
        store.create_table(
            "record_map",
            f"SELECT 'pos' AS source, CAST(i AS VARCHAR) AS record_id, {people} AS uid "
            f"FROM range({3 * ROW_GROUP}) AS t(i)",
        )
        store.insert(
            "record_map",
            ["source", "record_id", "uid"],
            f"SELECT 'web', CAST(i AS VARCHAR), {people} FROM range({2 * ROW_GROUP}) AS t(i)",
        )
        store.execute("CHECKPOINT")
        content = store.fetch_rows("SELECT count(*), sum(hash(source, record_id, uid)) FROM record_map")
        wanted = str(store.scalar("SELECT uid FROM record_map WHERE record_id = '12345' AND source = 'pos'"))
        assert most_row_groups_read(row_group_ranges(store, "record_map", "uid")) == 4  # 2 at a boundary + 2
        assert _lookup_reads(store, wanted) == (3, 5)

        monkeypatch.setattr(person_order, "MOST_ROW_GROUPS_READ", 4)
        assert keep_in_order(store, ["record_map"]) == []  # within the limit: left as it is
        monkeypatch.setattr(person_order, "MOST_ROW_GROUPS_READ", 3)
        assert keep_in_order(store, ["record_map"]) == ["record_map"]
        store.execute("CHECKPOINT")
        assert most_row_groups_read(row_group_ranges(store, "record_map", "uid")) <= 2
        assert _lookup_reads(store, wanted) in {(1, 5), (2, 5)}
        assert store.fetch_rows("SELECT count(*), sum(hash(source, record_id, uid)) FROM record_map") == content
    finally:
        store.close()


def test_the_steps_that_write_in_place_put_their_tables_back_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = Workspace.init(tmp_path / "shop", demo=True, customers=300, seed=3)
    assert workspace.run().errors == []
    as_of = workspace.config.workspace.as_of
    assert as_of is not None
    monkeypatch.setattr(person_order, "MOST_ROW_GROUPS_READ", 0)  # every table is over the limit
    result = workspace.run(as_of=as_of + timedelta(days=40))
    assert set(_out_of_order(workspace).values()) == {0}  # the in-place writes' rows are back in order
    notes = {step.name: step.note for step in result.steps}
    assert "written in person order again: identity_map, record_map, identity_edges" in notes["identity"]
    assert "written in person order again: profiles" in notes["golden"]
    assert "written in person order again: profiles" in notes["traits"]
    assert notes["segment"] == "written in person order again: memberships"
    with workspace.engine(write=False) as store:
        assert ("identity_map", "id_value") in {
            (str(t), str(e).strip("[]'\""))
            for t, e in store.fetch_rows("SELECT table_name, expressions FROM duckdb_indexes()")
        }
