"""Identity resolution gives the same mapping on DuckDB (scipy) and Spark (scipy on the driver
for a graph of up to ``LOCAL_NODES`` nodes, large-star/small-star SQL above)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from personae import Workspace
from personae.engine import Engine
from personae.identity import resolve
from personae.identity.components import LOCAL_NODES, components_by_sql, labels_by_scipy
from tests.identity.test_resolve import AS_OF, CRM, CRM_CSV, HEADER, ORDERS
from tests.workspaces import write_workspace


def test_sql_components_equal_scipy_on_a_random_graph(engine: Engine) -> None:
    rng = np.random.default_rng(3)
    nodes, links = 400, 330
    edges = pa.table({"a": rng.integers(0, nodes, links), "b": rng.integers(0, nodes, links)})
    engine.register_arrow("edges_in", edges)
    engine.materialise("edges", "SELECT a, b FROM edges_in")
    engine.register_arrow("nodes_in", pa.table({"node": np.arange(nodes)}))
    engine.materialise("nodes", "SELECT node FROM nodes_in")
    rounds = components_by_sql(engine, "edges", "nodes", "labels")
    got = engine.fetch_arrow("SELECT node, component FROM labels ORDER BY node")
    expected = labels_by_scipy(edges, nodes)
    assert got.column("component").to_pylist() == expected.column("component").to_pylist()
    assert 1 < rounds < 20


@pytest.mark.spark
@pytest.mark.parametrize("local_nodes", [LOCAL_NODES, 0], ids=["driver", "sql-rounds"])
def test_identity_tables_are_identical_on_both_engines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_nodes: int
) -> None:
    monkeypatch.setattr(resolve, "LOCAL_NODES", local_nodes)
    orders = (
        "o1,2024-02-01,10,ANN@mail.net,L1,\no2,2024-02-02,20,,L1,\no3,2024-02-03,30,,,u9\n"
        "o4,2024-02-04,10,fam@mail.net,L4,u1\no5,2024-02-05,20,fam@mail.net,L5,u2\n"
        "o6,2024-02-06,10,test@shop.io,L6,\n"
    )
    results: dict[str, Any] = {}
    for engine in ("duckdb", "spark"):
        root = write_workspace(
            tmp_path / engine,
            [ORDERS, CRM],
            {"data/shop/a.csv": HEADER + orders, "data/crm.csv": CRM_CSV},
            identity={"fuzzy": {"enabled": False}},
        )
        workspace = Workspace(root, engine=engine)
        with workspace.engine(write=True) as store:
            store.create_empty_table("workspace_settings", [("key", "VARCHAR"), ("value", "VARCHAR")])
            store.insert("workspace_settings", ["key", "value"], "SELECT 'uid_salt', 'fixed-salt'")
        for step in ("ingest", "identity", "golden"):  # the steps whose tables are compared
            assert workspace.run(as_of=AS_OF, only=step).errors == []
        results[engine] = {
            table: sorted(workspace.sql(f"SELECT {columns} FROM {table}").to_pylist(), key=repr)
            for table, columns in (
                ("identity_map", "id_type, id_value, uid"),
                ("record_map", "source, record_id, uid"),
                ("identifiers", "id_type, id_value, status, records"),
                ("identity_cuts", "a_type, a_value, b_type, b_value"),
                ("profiles", "uid, first_name, first_name_source, email, identifiers"),
            )
        }
    for table, rows in results["duckdb"].items():
        assert results["spark"][table] == rows, f"{table} differs"
    assert len(results["duckdb"]["identity_cuts"]) >= 1
