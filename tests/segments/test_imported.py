"""Two-way, inbound: memberships kept by other systems (``kind = "imported"``) on tiny shops."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from personae import Workspace
from personae.activation.specs import segment_external_id
from personae.cli.app import app
from personae.config import parse_config
from personae.errors import ConfigError
from tests.workspaces import write_workspace

AS_OF = date(2024, 3, 1)
ORDERS = """order_id,ts,amount,email
O1,2024-01-05,500,jane@mail.test
O2,2024-02-05,20,bob@mail.test
O3,2024-02-06,700,ann@mail.test
O4,2024-02-07,30,dan@mail.test
"""
SHOP = {"name": "shop", "kind": "orders", "path": "data/orders.csv", "identifiers": {"email": "email"}}
LISTS = {"name": "crm_lists", "kind": "memberships", "path": "data/lists/*.csv", "identifiers": {"email": "email"}}
CRM = {"name": "crm", "kind": "imported", "source": "crm_lists"}
RULES = [
    {"name": "vip_big", "rule": "in_segment('crm', 'VIP') and revenue > 100"},
    {"name": "big_spenders", "rule": "revenue > 100"},
    {"name": "big_fans", "rule": "in_segment('rules', 'big_spenders')"},
]


def _shop(
    root: Path,
    lists: dict[str, str],
    *,
    crm: dict[str, Any] = CRM,
    source: dict[str, Any] = LISTS,
    more: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
) -> Workspace:
    """A shop of four buyers, a memberships source ``crm_lists`` read by ``crm`` and the rule
    segments of RULES (``more``: one more source; ``files``: more files)."""
    written = {"data/orders.csv": ORDERS, **(files or {}), **{f"data/lists/{n}": text for n, text in lists.items()}}
    write_workspace(
        root,
        [SHOP, source, *([more] if more else [])],
        written,
        segmentations=[{"name": "rfm", "kind": "rfm"}, crm],
        segments=RULES,
        models={"enabled": False},
    )
    return Workspace(root)


def _run(workspace: Workspace) -> list[str]:
    report = workspace.run(as_of=AS_OF)
    assert report.errors == []
    return [warning for step in report.steps if step.name == "segment" for warning in step.warnings]


def _uid(workspace: Workspace, email: str) -> str:
    return workspace.profile(f"email:{email}").uid


def _members(workspace: Workspace, segmentation: str, segment: str) -> set[str]:
    rows = workspace.sql(
        "SELECT uid FROM memberships WHERE exited_at IS NULL "
        f"AND segmentation = '{segmentation}' AND segment = '{segment}'"
    )
    return set(rows.column("uid").to_pylist())


def _emails(workspace: Workspace, uids: set[str]) -> set[str]:
    rows = workspace.sql("SELECT id_value, uid FROM identity_map WHERE id_type = 'email'").to_pylist()
    return {row["id_value"] for row in rows if row["uid"] in uids}


def _issues(workspace: Workspace) -> list[dict[str, Any]]:
    return workspace.sql("SELECT target, member, outcome, reason FROM import_issues ORDER BY target, reason").to_pylist()


def test_a_csv_list_shows_on_the_profile_and_in_a_rule_segment(tmp_path: Path) -> None:
    lists = {
        "vip.csv": "email,segment,member,ts\n"
        "bob@mail.test,VIP,false,2024-02-01\n"  # the latest row wins, wherever it stands in the file
        "jane@mail.test,VIP,true,2024-01-01\n"
        "bob@mail.test,VIP,true,2024-01-01\n"
        "ann@mail.test,VIP,yes,2024-01-01\n"
        "dan@mail.test,VIP,,2024-01-01\n"  # member left out: a member
    }
    workspace = _shop(tmp_path / "ws", lists)
    assert _run(workspace) == []
    jane = workspace.profile("email:jane@mail.test")
    assert {"segmentation": "crm", "segment": "VIP"}.items() <= jane.segments[0].items()
    assert [s["segmentation"] for s in workspace.profile("email:bob@mail.test").segments] == ["rfm"]
    assert _emails(workspace, _members(workspace, "crm", "VIP")) == {"jane@mail.test", "ann@mail.test", "dan@mail.test"}
    assert _emails(workspace, _members(workspace, "rules", "vip_big")) == {"jane@mail.test", "ann@mail.test"}
    assert _issues(workspace) == []


def test_member_false_takes_a_person_out_with_history(tmp_path: Path) -> None:
    lists = {"a.csv": "email,segment,ts\njane@mail.test,VIP,2024-01-01\nann@mail.test,VIP,2024-01-01\n"}
    workspace = _shop(tmp_path / "ws", lists)
    _run(workspace)
    ann = _uid(workspace, "ann@mail.test")
    assert ann in _members(workspace, "rules", "vip_big")
    (tmp_path / "ws/data/lists/b.csv").write_text(
        "email,segment,member,ts\nann@mail.test,VIP,no,2024-02-20\njane@mail.test,VIP,no,2023-12-01\n"
    )
    workspace.run(as_of=date(2024, 3, 2))
    assert _emails(workspace, _members(workspace, "crm", "VIP")) == {"jane@mail.test"}  # jane's false is older
    assert ann not in _members(workspace, "rules", "vip_big")
    stays = workspace.sql(
        f"SELECT segmentation, entered_at, exited_at FROM memberships WHERE uid = '{ann}' AND segment = 'VIP'"
    ).to_pylist()
    assert [(s["segmentation"], str(s["exited_at"])) for s in stays] == [("crm", "2024-03-02 00:00:00")]
    exits = workspace.sql(
        f"SELECT segmentation, segment FROM membership_changes WHERE uid = '{ann}' AND change = 'exited' ORDER BY 1"
    ).to_pylist()
    assert exits == [{"segmentation": "crm", "segment": "VIP"}, {"segmentation": "rules", "segment": "vip_big"}]


def test_a_uid_column_finds_the_person_and_follows_a_merge(tmp_path: Path) -> None:
    people = {"name": "people", "kind": "customers", "path": "data/people.csv", "columns": {"record_id": "id"},
              "identifiers": {"email": "email", "phone": "phone"}}  # fmt: skip
    uids_only = {**LISTS, "identifiers": {}, "columns": {"ts": "updated_at", "segment": "'VIP'"}}
    first = "id,email,phone\nK1,jane@mail.test,\nK2,,+15551234567\n"
    header = {"empty.csv": "uid,segment_id,member,updated_at\n"}
    workspace = _shop(tmp_path / "ws", header, source=uids_only, more=people, files={"data/people.csv": first})
    _run(workspace)
    jane, other = _uid(workspace, "jane@mail.test"), workspace.profile("phone:+15551234567").uid
    assert jane != other
    linked = first + "K3,jane@mail.test,+15551234567\n"  # one record with both: the two are one person
    workspace = _shop(tmp_path / "ws", header, source=uids_only, more=people, files={"data/people.csv": linked})
    _run(workspace)
    merged = workspace.sql("SELECT old_uid, new_uid FROM merges WHERE reason = 'merge'").to_pylist()
    assert len(merged) == 1 and {merged[0]["old_uid"], merged[0]["new_uid"]} == {jane, other}
    gone, survivor = merged[0]["old_uid"], merged[0]["new_uid"]
    bob = _uid(workspace, "bob@mail.test")
    (tmp_path / "ws/data/lists/round_trip.csv").write_text(
        "uid,segment_id,member,updated_at\n"
        f"{gone},{segment_external_id('crm', 'VIP')},true,2024-02-01\n"
        f"{bob},,true,2024-02-01\n"
        "pdeadbeefdeadbee,,true,2024-02-01\n"
    )
    warnings = _run(workspace)
    assert _members(workspace, "crm", "VIP") == {survivor, bob}
    assert _issues(workspace) == [
        {
            "target": "crm/VIP",
            "member": True,
            "outcome": "unresolved",
            "reason": "uid 'pdeadbeefdeadbee' is no person (never one, or removed since) and no identifier "
            "of the row names one",
        }
    ]
    assert warnings == [
        "segmentation 'crm': 1 imported rows name no person or no known segment; the reasons are in the table "
        "import_issues"
    ]
