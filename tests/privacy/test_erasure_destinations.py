"""Erasure reaches the destinations: a webhook gets a signed ``delete`` change, a Segment
endpoint a ``delete`` message, PostgreSQL loses the person's rows; a destination that is down
keeps the deletion owed until it can take it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from personae import Workspace
from tests.activation.http_workspaces import demo_workspace, store, with_destination
from tests.activation.receiver import receiving

SECRET = "erasure-test-secret"
WRITE_KEY = "erasure-write-key"
DSN = os.environ.get("PERSONAE_TEST_PG_DSN", "")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_workspace(tmp_path_factory.mktemp("erasure-destinations") / "demo")


def _someone(root: Path) -> tuple[str, str]:
    """(uid, e-mail) of somebody every destination was sent (a member of an RFM segment)."""
    with store(root) as connection:
        row = connection.execute(
            "SELECT m.uid, min(i.id_value) FROM memberships m JOIN identity_map i ON i.uid = m.uid "
            "AND i.id_type = 'email' WHERE m.segmentation = 'rfm' AND m.exited_at IS NULL GROUP BY m.uid "
            "ORDER BY m.uid LIMIT 1"
        ).fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


def _http(kind: str, url: str) -> dict[str, Any]:
    if kind == "webhook":
        return {"name": "hook", "kind": "webhook", "url": url, "secret_env": "HOOK_SECRET", "segmentations": ["rfm"]}
    return {"name": "cdp", "kind": "segment", "endpoint": url, "write_key_env": "KEY", "segmentations": ["rfm"]}


@pytest.mark.parametrize("kind", ["webhook", "segment"])
def test_an_http_destination_is_told_to_delete_the_person(demo: Path, tmp_path: Path, kind: str) -> None:
    credentials = {"secret": SECRET} if kind == "webhook" else {"write_key": WRITE_KEY}
    with receiving(kind, **credentials) as receiver:  # type: ignore[arg-type]
        url = receiver.url if kind == "webhook" else receiver.base
        root = with_destination(demo, tmp_path / "ws", _http(kind, url))
        workspace = Workspace(root, env={"HOOK_SECRET": SECRET, "KEY": WRITE_KEY})
        (synced,) = workspace.sync()
        assert synced.status == "ok" and synced.sent > 0
        uid, email = _someone(root)
        (receipt,) = workspace.erase([f"email:{email}"])
        deletions = [change for change in receiver.changes.values() if change.get("type") == "delete"]
    assert receipt.status == "done" and "1 delete" in next(iter(receipt.destinations.values()))
    field = "uid" if kind == "webhook" else "userId"
    assert [change[field] for change in deletions] == [uid]
    with store(root) as connection:
        assert connection.execute("SELECT count(*) FROM erasure_deliveries").fetchone() == (0,)


def test_a_destination_that_is_down_keeps_the_deletion_owed_until_it_takes_it(demo: Path, tmp_path: Path) -> None:
    with receiving("webhook", secret=SECRET) as receiver:
        root = with_destination(demo, tmp_path / "ws", {**_http("webhook", receiver.url), "max_attempts": 1})
        workspace = Workspace(root, env={"HOOK_SECRET": SECRET})
        workspace.sync()
        uid, email = _someone(root)
        receiver.faults.fail_after = len(receiver.accepted)  # every request from now on: 503
        (receipt,) = workspace.erase([f"email:{email}"])
        assert receipt.status == "destinations owed" and receipt.destinations["hook"].startswith("owed")
        with store(root) as connection:  # the person is gone from the store, the UID kept only as owed
            assert connection.execute("SELECT count(*) FROM profiles WHERE uid = ?", [uid]).fetchone() == (0,)
            owed = connection.execute("SELECT destination, uid, status FROM erasure_deliveries").fetchall()
        assert owed == [("hook", uid, "owed")]
        receiver.faults.fail_after = None
        (finished,) = workspace.erase([])  # finishes what is unfinished
        deletions = [change["uid"] for change in receiver.changes.values() if change.get("type") == "delete"]
    assert finished.request_id == receipt.request_id and finished.status == "done"
    assert deletions == [uid]
    with store(root) as connection:
        assert connection.execute("SELECT count(*) FROM erasure_deliveries").fetchone() == (0,)


@pytest.fixture
def schema() -> Iterator[str]:
    if not DSN:
        pytest.skip("PERSONAE_TEST_PG_DSN is unset: run through `make test`, which starts PostgreSQL")
    name = f"personae_erase_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.mark.postgres
def test_postgres_loses_the_persons_rows_and_nobody_elses(demo: Path, tmp_path: Path, schema: str) -> None:
    destination = {
        "name": "warehouse",
        "kind": "postgres",
        "dsn_env": "WAREHOUSE_DSN",
        "schema": schema,
        "segmentations": ["rfm"],
        "traits": ["orders", "revenue"],
    }
    root = with_destination(demo, tmp_path / "ws", destination)
    workspace = Workspace(root, env={"WAREHOUSE_DSN": DSN})
    workspace.sync()
    uid, email = _someone(root)

    def rows(table: str) -> dict[str, int]:
        with psycopg.connect(DSN, autocommit=True) as connection:
            found = connection.execute(f"SELECT uid, count(*) FROM {schema}.{table} GROUP BY uid").fetchall()
        return {str(key): int(count) for key, count in found}

    members, traits = rows("personae_members"), rows("personae_traits")
    assert uid in members and uid in traits
    (receipt,) = workspace.erase([f"email:{email}"])
    assert receipt.destinations["warehouse"] == f"{members[uid] + traits[uid]} rows deleted"
    assert rows("personae_members") == {key: n for key, n in members.items() if key != uid}
    assert rows("personae_traits") == {key: n for key, n in traits.items() if key != uid}
