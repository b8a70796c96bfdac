"""Two-way sync, the whole loop, through a real PostgreSQL: personae exports a rule segment to
the members table; another system edits the audience by the ids it was given (the UID and the
segment's stable external id); personae imports the edit; the change shows in ``personae
profile`` and in a rule segment built on it, and the next export carries it back out."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from personae import Workspace
from personae.activation.specs import segment_external_id
from personae.cli import main
from tests.workspaces import write_workspace

pytestmark = pytest.mark.postgres
DSN = os.environ.get("PERSONAE_TEST_PG_DSN", "")
ORDERS = (
    "order_id,ts,amount,email\n"
    "O1,2024-01-05,500,jane@mail.test\nO2,2024-02-05,20,bob@mail.test\nO3,2024-02-07,300,ann@mail.test\n"
)
SEGMENTS = [
    {"name": "big_spenders", "rule": "revenue > 100"},
    {"name": "big_fans", "rule": "in_segment('rules', 'big_spenders') and orders >= 1"},
]


@pytest.fixture
def schema() -> Iterator[str]:
    if not DSN:
        pytest.skip("PERSONAE_TEST_PG_DSN is unset: run through `make test`, which starts PostgreSQL")
    name = f"loop_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {name}")
        connection.execute(  # the other system's own audience table, empty until its users edit
            f"CREATE TABLE {name}.crm_audiences (uid text, segment_id text, segmentation text, segment text, "
            "member boolean, updated_at timestamp)"
        )
    yield name
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {name} CASCADE")


def _workspace(root: Path, schema: str) -> Workspace:
    shop = {"name": "shop", "kind": "orders", "path": "data/orders.csv", "identifiers": {"email": "email"}}
    audiences = {
        "name": "crm_audiences",
        "kind": "memberships",
        "table": f"{schema}.crm_audiences",
        "dsn_env": "CRM_DSN",
        "columns": {"ts": "updated_at"},
    }
    crm = {"name": "crm", "kind": "imported", "source": "crm_audiences", "theirs": ["rules/big_spenders"]}
    out = {
        "name": "crm_out",
        "kind": "postgres",
        "dsn_env": "CRM_DSN",
        "schema": schema,
        "segments": ["rules/big_spenders"],
        "traits": ["revenue"],
    }
    write_workspace(
        root,
        [shop, audiences],
        {"data/orders.csv": ORDERS},
        segmentations=[{"name": "rfm", "kind": "rfm"}, crm],
        segments=SEGMENTS,
        models={"enabled": False},
        destinations=[out],
    )
    return Workspace(root, env={"CRM_DSN": DSN})


def _rows(query: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(DSN) as connection:
        return list(connection.execute(query, args).fetchall())


def _profile_segments(
    root: Path, email: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> set[tuple[str, str]]:
    monkeypatch.setenv("CRM_DSN", DSN)
    monkeypatch.setattr(sys, "argv", ["personae", "profile", f"email:{email}", "-w", str(root), "-f", "json"])
    with pytest.raises(SystemExit) as exit_:
        main()
    out = capsys.readouterr()
    assert exit_.value.code in (0, None), out.err
    return {(s["segmentation"], s["segment"]) for s in json.loads(out.out)["segments"]}


def test_export_edit_elsewhere_import_and_see_it(
    tmp_path: Path, schema: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "shop"
    workspace = _workspace(root, schema)
    assert workspace.run(as_of=date(2024, 3, 1)).errors == []

    # 1. export: the rule segment's members and every person's revenue, with the ids to come back by
    segment_id = segment_external_id("rules", "big_spenders")
    exported = _rows(f"SELECT uid, segment_id FROM {schema}.personae_members")
    jane, bob, ann = (workspace.profile(f"email:{n}@mail.test").uid for n in ("jane", "bob", "ann"))
    assert sorted(exported) == sorted([(jane, segment_id), (ann, segment_id)])
    ((bob_revenue,),) = _rows(f"SELECT revenue FROM {schema}.personae_traits WHERE uid = %s", bob)
    assert float(bob_revenue) == 20.0

    # 2. another system edits: its user puts bob in the audience and takes jane out, by the exported ids
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(
            f"INSERT INTO {schema}.crm_audiences VALUES "
            "(%s, %s, 'rules', 'big_spenders', true, '2024-03-01 09:00'), "
            "(%s, %s, 'rules', 'big_spenders', false, '2024-03-01 09:05')",
            (bob, segment_id, jane, segment_id),
        )

    # 3. import, with the next run
    assert workspace.run(as_of=date(2024, 3, 2)).errors == []

    # 4. the change shows in personae profile and in a rule segment built on it
    assert ("rules", "big_spenders") in _profile_segments(root, "bob@mail.test", monkeypatch, capsys)
    assert ("rules", "big_spenders") not in _profile_segments(root, "jane@mail.test", monkeypatch, capsys)
    fans = workspace.sql("SELECT uid FROM memberships WHERE exited_at IS NULL AND segment = 'big_fans'")
    assert set(fans.column("uid").to_pylist()) == {bob, ann}
    # ... and the loop closes: the next export carries the edit back out
    assert sorted(_rows(f"SELECT uid FROM {schema}.personae_members")) == sorted([(bob,), (ann,)])
    (imported,) = workspace.status().imports  # the policy is shown
    assert imported.policy == "ours; theirs for rules/big_spenders"
