"""Two-way, inbound from a real PostgreSQL table shaped like the one the postgres destination
writes (uid, segment_id, segmentation, segment, member, updated_at); `make test` starts the server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from personae import Workspace
from personae.activation.specs import segment_external_id
from tests.segments.test_imported import CRM, RULES, SHOP
from tests.workspaces import write_workspace

pytestmark = pytest.mark.postgres
DSN = os.environ.get("PERSONAE_TEST_PG_DSN", "")
ORDERS = "order_id,ts,amount,email\nO1,2024-01-05,500,jane@mail.test\nO2,2024-02-05,20,bob@mail.test\n"


@pytest.fixture
def table() -> Iterator[str]:
    if not DSN:
        pytest.skip("PERSONAE_TEST_PG_DSN is unset: run through `make test`, which starts PostgreSQL")
    name = f"members_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE {name} (uid text, segment_id text, segmentation text, segment text, "
            "member boolean, updated_at timestamp)"
        )
    yield name
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f"DROP TABLE {name}")


def _members(workspace: Workspace, segmentation: str, segment: str) -> set[str]:
    rows = workspace.sql(
        f"SELECT uid FROM memberships WHERE exited_at IS NULL AND segmentation = '{segmentation}' "
        f"AND segment = '{segment}'"
    )
    return set(rows.column("uid").to_pylist())


def test_memberships_from_a_postgres_table_reach_the_profile_and_rules(tmp_path: Path, table: str) -> None:
    source = {"name": "crm_lists", "kind": "memberships", "table": table, "dsn_env": "CRM_DSN",
              "columns": {"ts": "updated_at"}}  # fmt: skip
    write_workspace(
        tmp_path / "ws",
        [SHOP, source],
        {"data/orders.csv": ORDERS},
        segmentations=[{"name": "rfm", "kind": "rfm"}, {**CRM, "theirs": ["segments/big_spenders"]}],
        segments=RULES,
        models={"enabled": False},
    )
    workspace = Workspace(tmp_path / "ws", env={"CRM_DSN": DSN})
    assert workspace.run(as_of=date(2024, 3, 1)).errors == []  # the table is empty yet
    jane, bob = (workspace.profile(f"email:{e}@mail.test").uid for e in ("jane", "bob"))
    vip = segment_external_id("crm", "VIP")
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(
            f"INSERT INTO {table} VALUES (%s, %s, 'crm', 'VIP', true, '2024-02-01 10:00'), "
            f"(%s, NULL, 'crm', 'VIP', true, '2024-02-01 10:00'), "
            f"(%s, %s, 'segments', 'big_spenders', true, '2024-02-01 10:00')",
            (jane, vip, bob, bob, segment_external_id("segments", "big_spenders")),
        )
    assert workspace.run(as_of=date(2024, 3, 1)).errors == []
    shown = workspace.profile("email:jane@mail.test").segments
    assert {"segmentation": "crm", "segment": "VIP"}.items() <= shown[0].items()
    assert _members(workspace, "crm", "VIP") == {jane, bob}
    assert _members(workspace, "rules", "vip_big") == {jane}  # bob's revenue is 20
    assert _members(workspace, "rules", "big_spenders") == {jane, bob}  # bob forced in (theirs)
    with psycopg.connect(DSN, autocommit=True) as connection:  # the other system takes jane out
        connection.execute(
            f"UPDATE {table} SET member = false, updated_at = '2024-02-20 09:00' WHERE uid = %s", (jane,)
        )
    assert workspace.run(as_of=date(2024, 3, 2)).errors == []
    assert "crm" not in {s["segmentation"] for s in workspace.profile("email:jane@mail.test").segments}
    assert _members(workspace, "crm", "VIP") == {bob}
    assert _members(workspace, "rules", "vip_big") == set()
