"""Deterministic identity resolution: links, rules, stable UIDs, merges and splits."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from personae import Workspace
from tests.workspaces import write_workspace

AS_OF = date(2024, 12, 31)
ORDERS: dict[str, Any] = {
    "name": "shop",
    "kind": "orders",
    "path": "data/shop/*.csv",
    "columns": {"ts": "at", "amount": "total"},
    "identifiers": {"email": "email", "loyalty_id": "card", "user_id": "user"},
}
CRM: dict[str, Any] = {
    "name": "crm",
    "kind": "customers",
    "path": "data/crm.csv",
    "columns": {"record_id": "id", "updated_at": "updated"},
    "identifiers": {"crm_id": "id", "email": "email", "phone": "phone"},
}
HEADER = "order_id,at,total,email,card,user\n"
CRM_CSV = (
    "id,first_name,last_name,email,phone,updated\n"
    "K1,Ann,Lee,ann@mail.net,555-000-1111,2024-01-01\n"
    "K2,Bob,Ray,bob@mail.net,,2024-01-02\n"
    "K3,Cat,Kim,,,2024-01-03\n"
)


def _workspace(tmp_path: Path, orders: str, **identity: Any) -> Workspace:
    sections = {"identity": {"fuzzy": {"enabled": False}, **identity}}
    root = write_workspace(
        tmp_path / "ws",
        [ORDERS, CRM],
        {"data/shop/a.csv": HEADER + orders, "data/crm.csv": CRM_CSV},
        **sections,
    )
    return Workspace(root)


def _uid(workspace: Workspace, source: str, record_id: str) -> str:
    rows = workspace.sql(
        f"SELECT uid FROM record_map WHERE source = '{source}' AND record_id = '{record_id}'"
    ).to_pylist()
    assert len(rows) == 1, f"{source}:{record_id} has {len(rows)} UIDs"
    return str(rows[0]["uid"])


def _merges(workspace: Workspace) -> list[tuple[str, str | None, str]]:
    rows = workspace.sql('SELECT old_uid, new_uid, reason FROM merges ORDER BY "at", reason').to_pylist()
    return [(row["old_uid"], row["new_uid"], row["reason"]) for row in rows]


def test_records_sharing_identifiers_get_one_uid(tmp_path: Path) -> None:
    workspace = _workspace(
        tmp_path,
        "o1,2024-02-01,10,ANN@mail.net,L1,\n"  # e-mail links the order to CRM K1
        "o2,2024-02-02,20,,L1,\n"  # loyalty card links o2 to o1
        "o3,2024-02-03,30,,,u9\n",  # a stranger
    )
    assert workspace.run(as_of=AS_OF).errors == []
    ann = _uid(workspace, "crm", "K1")
    assert _uid(workspace, "shop", "o1") == ann
    assert _uid(workspace, "shop", "o2") == ann
    assert _uid(workspace, "shop", "o3") != ann
    assert _uid(workspace, "crm", "K2") != ann
    profile = workspace.sql(f"SELECT first_name, first_name_source, identifiers FROM profiles WHERE uid = '{ann}'")
    assert profile.to_pylist() == [{"first_name": "Ann", "first_name_source": "crm", "identifiers": 5}]
    # crm_id, e-mail, phone, loyalty card and the CRM record node


def test_blocked_values_never_link(tmp_path: Path) -> None:
    workspace = _workspace(
        tmp_path,
        "o1,2024-02-01,10,test@shop.io,L1,\no2,2024-02-02,20,test@shop.io,L2,\no3,2024-02-03,5,junk@shop.io,L3,\n"
        "o4,2024-02-04,5,junk@shop.io,L4,\n",
        blocked=["junk@shop.io"],
    )
    workspace.run(as_of=AS_OF)
    assert _uid(workspace, "shop", "o1") != _uid(workspace, "shop", "o2")
    assert _uid(workspace, "shop", "o3") != _uid(workspace, "shop", "o4")
    statuses = workspace.sql(
        "SELECT id_value, status FROM identifiers WHERE id_type = 'email' AND id_value LIKE '%shop.io' ORDER BY 1"
    ).to_pylist()
    assert statuses == [
        {"id_value": "junk@shop.io", "status": "blocked"},
        {"id_value": "test@shop.io", "status": "blocked"},
    ]


def test_shared_values_are_flagged_and_do_not_link(tmp_path: Path) -> None:
    rows = "".join(f"o{i},2024-02-0{i},10,orders@shop.io,L{i},\n" for i in range(1, 5))
    workspace = _workspace(tmp_path, rows, shared_max=3)
    workspace.run(as_of=AS_OF)
    uids = {_uid(workspace, "shop", f"o{i}") for i in range(1, 5)}
    assert len(uids) == 4
    status = workspace.sql("SELECT status FROM identifiers WHERE id_value = 'orders@shop.io'").to_pylist()
    assert status == [{"status": "shared"}]


def test_per_type_limit_cuts_the_least_trusted_link(tmp_path: Path) -> None:
    workspace = _workspace(
        tmp_path,
        "o1,2024-02-01,10,fam@mail.net,L1,u1\n"  # two accounts share a family e-mail
        "o2,2024-02-02,20,fam@mail.net,L2,u2\n",
    )
    workspace.run(as_of=AS_OF)
    assert _uid(workspace, "shop", "o1") != _uid(workspace, "shop", "o2")
    per_uid = workspace.sql(
        "SELECT uid, count(*) AS users FROM identity_map WHERE id_type = 'user_id' GROUP BY uid"
    ).to_pylist()
    assert all(row["users"] == 1 for row in per_uid)
    cuts = workspace.sql("SELECT a_type, b_type FROM identity_cuts").to_pylist()
    assert len(cuts) >= 1 and all("email" in (c["a_type"], c["b_type"]) for c in cuts)


def test_uids_survive_new_data_merge_oldest_then_split(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path, "o1,2024-02-01,10,,L1,\n")
    workspace.run(as_of=AS_OF)
    ann, card = _uid(workspace, "crm", "K1"), _uid(workspace, "shop", "o1")
    assert ann != card
    # new data that touches nobody: every UID stays
    (workspace.root / "data/shop/b.csv").write_text(HEADER + "o2,2024-03-01,5,,L7,\n")
    workspace.run(as_of=AS_OF)
    assert (_uid(workspace, "crm", "K1"), _uid(workspace, "shop", "o1")) == (ann, card)
    assert _merges(workspace) == []
    # an order with Ann's e-mail and card L1 joins the two: the older UID (Ann's CRM record) survives
    (workspace.root / "data/shop/c.csv").write_text(HEADER + "o3,2024-04-01,5,ann@mail.net,L1,\n")
    workspace.run(as_of=AS_OF)
    assert _uid(workspace, "shop", "o1") == ann
    assert _merges(workspace) == [(card, ann, "merge")]
    # the linking order is corrected away: the card splits off again, with a new UID
    (workspace.root / "data/shop/c.csv").write_text(HEADER + "o3,2024-04-01,5,,,\n")
    workspace.run(as_of=AS_OF)
    assert _uid(workspace, "crm", "K1") == ann
    split = _uid(workspace, "shop", "o1")
    assert split != ann
    assert _merges(workspace)[-1] == (ann, split, "split")


def test_erasing_a_record_removes_exactly_its_links(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path, "o1,2024-02-01,10,bob@mail.net,L5,\n")
    workspace.run(as_of=AS_OF)
    bob = _uid(workspace, "crm", "K2")
    assert _uid(workspace, "shop", "o1") == bob
    (workspace.root / "data/crm.csv").write_text(CRM_CSV.replace("K2,Bob,Ray,bob@mail.net,,2024-01-02\n", ""))
    workspace.run(as_of=AS_OF)
    remaining = (
        workspace.sql(f"SELECT id_type FROM identity_map WHERE uid = '{_uid(workspace, 'shop', 'o1')}' ORDER BY 1")
        .column(0)
        .to_pylist()
    )
    assert remaining == ["email", "loyalty_id"]
    assert workspace.sql(
        "SELECT count(*) AS n FROM identity_map WHERE id_type = 'crm_id' AND id_value = 'K2'"
    ).to_pylist() == [{"n": 0}]


@pytest.mark.parametrize("typo", [{"priorty": []}, {"limits": {"user_id": 0}}])
def test_identity_config_errors_name_the_key(tmp_path: Path, typo: dict[str, Any]) -> None:
    from personae.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        _workspace(tmp_path, "", **typo)
    key = next(iter(typo))
    assert f"identity.{key}" in str(caught.value)


def _state(workspace: Workspace) -> tuple[list[dict[str, Any]], list[tuple[str, str | None, str]]]:
    mapping = workspace.sql("SELECT id_type, id_value, uid FROM identity_map ORDER BY 1, 2").to_pylist()
    return mapping, sorted(_merges(workspace), key=repr)


def test_incremental_run_equals_full_run_and_recomputes_less(tmp_path: Path) -> None:
    steps = [
        {"data/shop/a.csv": HEADER + "o1,2024-02-01,10,,L1,\no2,2024-02-02,5,bob@mail.net,L2,\n"},
        {"data/shop/b.csv": HEADER + "o3,2024-03-01,5,,L7,\n"},  # touches nobody else
        {"data/shop/c.csv": HEADER + "o4,2024-04-01,5,ann@mail.net,L1,\n"},  # merges Ann and L1
        {"data/shop/c.csv": HEADER + "o4,2024-04-01,5,,,\n"},  # splits them again
        {"data/crm.csv": CRM_CSV.replace("K2,Bob,Ray,bob@mail.net,,2024-01-02\n", "")},  # erases Bob's record
    ]
    workspaces = {
        mode: Workspace(
            write_workspace(
                tmp_path / mode,
                [ORDERS, CRM],
                {"data/crm.csv": CRM_CSV},
                identity={"fuzzy": {"enabled": False}, "incremental": mode == "incremental"},
            )
        )
        for mode in ("incremental", "full")
    }
    for workspace in workspaces.values():  # the same salt, so both derive the same new UIDs
        with workspace.engine(write=True) as store:
            store.create_empty_table("workspace_settings", [("key", "VARCHAR"), ("value", "VARCHAR")])
            store.insert("workspace_settings", ["key", "value"], "SELECT 'uid_salt', 'fixed-salt'")
    recomputed = {}
    for number, files in enumerate(steps):
        for mode, workspace in workspaces.items():
            for relative, content in files.items():
                (workspace.root / relative).parent.mkdir(parents=True, exist_ok=True)
                (workspace.root / relative).write_text(content)
            report = workspace.run(as_of=AS_OF)
            identity = next(step for step in report.steps if step.name == "identity").details["identity"]
            recomputed[mode, number] = identity.recomputed
            assert sorted(identity.seconds) == ["components", "fuzzy", "graph", "map", "uids", "write"]
            assert identity.seconds["map"] <= identity.seconds["write"]  # a part of it
        assert _state(workspaces["incremental"]) == _state(workspaces["full"]), f"step {number} differs"
    assert recomputed["incremental", 1] < recomputed["full", 1]
    assert recomputed["incremental", 1] == 1  # only the new card L7


def test_incremental_run_recomputes_whole_components_that_a_limit_cut(tmp_path: Path) -> None:
    """A person a per-type limit kept apart from a touched one is recomputed with it: the
    cut decides who keeps which identifiers, so a scope of the touched person alone gave
    another answer than a full run (found by the live-equals-batch property test)."""
    from personae.identity.fuzzy_settings import FuzzySettings
    from personae.identity.specs import IdentitySettings
    from tests.identity.live_stores import load_events, new_store, run_batch, state
    from tests.identity.test_live import record

    rules = IdentitySettings(
        fuzzy=FuzzySettings(enabled=False),
        limits={"user_id": 1, "member_no": 1},
        priority=("user_id", "email", "crm_id", "loyalty_id", "member_no", "phone", "anonymous_id"),
    )
    history = [
        record("h0", anonymous_id="a1", phone="555-000-1111", user_id="u3", crm_id="c1"),
        record("h1", user_id="u1", anonymous_id="a1", crm_id="c1"),
        record("h2", crm_id="c2", anonymous_id="a1", member_no="m1"),
        record("h3", phone="555-000-1111", anonymous_id="a1", crm_id="c2"),
    ]
    later = record("s1", anonymous_id="a1", user_id="u3", member_no="m2")  # u3 gets a second member number
    results = {}
    for incremental in (True, False):
        store = new_store(tmp_path / f"{incremental}.duckdb")
        settings = rules.model_copy(update={"incremental": incremental})
        load_events(store, history, ["member_no"])
        run_batch(store, settings, ["member_no"], datetime(2024, 2, 1), tmp_path)
        load_events(store, [later], ["member_no"])
        run_batch(store, settings, ["member_no"], datetime(2024, 3, 1), tmp_path)
        results[incremental] = state(store)
        leftovers = store.scratch_names()  # each would hold memory (an Arrow copy, a spilled table) until the next run
        assert leftovers == set(), leftovers
        store.close()
    assert results[True] == results[False]
    # u3 splits off with m2, and the person of u1, whom the event did not touch, merges with
    # what u3 left (a scope of the touched person alone recorded only the split)
    assert sorted(row[3] for row in results[True]["merges"]) == ["merge", "split"]
