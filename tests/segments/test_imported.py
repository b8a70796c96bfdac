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
    return workspace.sql(
        "SELECT target, member, outcome, reason FROM import_issues ORDER BY target, reason"
    ).to_pylist()


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


def _segment_of(workspace: Workspace, email: str, segmentation: str) -> str:
    found = [s["segment"] for s in workspace.profile(f"email:{email}").segments if s["segmentation"] == segmentation]
    assert len(found) == 1
    return str(found[0])


def _status(root: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["status", "-w", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def _conflicting_rows(workspace: Workspace) -> tuple[str, str]:
    """Rows that name owned segments, written after a first run shows where people are:
    jane out of her RFM segment by its external id, bob into an RFM segment he is not in by
    name, jane out of the rule segment big_spenders by its external id, bob into it by name,
    dan into his own RFM segment (agrees), ann into big_spenders (agrees)."""
    jane, bob, dan = (_segment_of(workspace, e, "rfm") for e in ("jane@mail.test", "bob@mail.test", "dan@mail.test"))
    elsewhere = "Champions" if bob != "Champions" else "Lost"
    rows = (
        "email,segment_id,segmentation,segment,member\n"
        f"jane@mail.test,{segment_external_id('rfm', jane)},,,false\n"
        f"bob@mail.test,,rfm,{elsewhere},true\n"
        f"jane@mail.test,{segment_external_id('segments', 'big_spenders')},,,false\n"
        "bob@mail.test,,segments,big_spenders,true\n"
        f"dan@mail.test,{segment_external_id('rfm', dan)},,,true\n"
        f"ann@mail.test,{segment_external_id('rules', 'big_spenders')},,,true\n"
    )
    return rows, elsewhere


def test_rows_naming_owned_segments_keep_ours_by_default(tmp_path: Path) -> None:
    workspace = _shop(tmp_path / "ws", {"empty.csv": "email,segment\n"})
    _run(workspace)
    jane_rfm = _segment_of(workspace, "jane@mail.test", "rfm")
    rows, elsewhere = _conflicting_rows(workspace)
    (tmp_path / "ws/data/lists/owned.csv").write_text(rows)
    warnings = _run(workspace)
    assert _segment_of(workspace, "jane@mail.test", "rfm") == jane_rfm
    assert _segment_of(workspace, "bob@mail.test", "rfm") != elsewhere
    assert _emails(workspace, _members(workspace, "rules", "big_spenders")) == {"jane@mail.test", "ann@mail.test"}
    assert _emails(workspace, _members(workspace, "rules", "big_fans")) == {"jane@mail.test", "ann@mail.test"}
    assert _members(workspace, "crm", "VIP") == set()
    says = "personae owns {} and keeps its state (ours): the row says {}, personae says {}"
    assert _issues(workspace) == sorted(
        [
            {"target": f"rfm/{jane_rfm}", "member": False, "outcome": "ours",
             "reason": says.format(f"rfm/{jane_rfm}", "out", "in")},
            {"target": f"rfm/{elsewhere}", "member": True, "outcome": "ours",
             "reason": says.format(f"rfm/{elsewhere}", "in", "out")},
            {"target": "rules/big_spenders", "member": False, "outcome": "ours",
             "reason": says.format("rules/big_spenders", "out", "in")},
            {"target": "rules/big_spenders", "member": True, "outcome": "ours",
             "reason": says.format("rules/big_spenders", "in", "out")},
        ],
        key=lambda row: (row["target"], row["reason"]),
    )  # fmt: skip
    assert warnings == [
        "segmentation 'crm': 4 imported rows conflict with segments personae owns and were not applied "
        "(policy: ours); see the table import_issues"
    ]
    report = json.loads((tmp_path / "ws/models/segment_reports.json").read_text())["crm"]
    assert (report["agreed"], report["kept_ours"], report["forced_theirs"], report["rows"]) == (2, 4, 0, 6)
    shown = _status(tmp_path / "ws")["imports"]
    assert shown == [
        {"segmentation": "crm", "source": "crm_lists", "policy": "ours", "rows": 6, "members": 0,
         "kept_ours": 4, "forced_theirs": 0, "unresolved": 0}
    ]  # fmt: skip


def test_theirs_forces_a_listed_rule_segment_and_later_levels_see_it(tmp_path: Path) -> None:
    crm = {**CRM, "theirs": ["segments/big_spenders"]}
    workspace = _shop(tmp_path / "ws", {"empty.csv": "email,segment\n"}, crm=crm)
    _run(workspace)
    jane_rfm = _segment_of(workspace, "jane@mail.test", "rfm")
    rows, _ = _conflicting_rows(workspace)
    (tmp_path / "ws/data/lists/owned.csv").write_text(rows)
    warnings = _run(workspace)
    assert _segment_of(workspace, "jane@mail.test", "rfm") == jane_rfm  # RFM is core: still ours
    assert _emails(workspace, _members(workspace, "rules", "big_spenders")) == {"bob@mail.test", "ann@mail.test"}
    assert _emails(workspace, _members(workspace, "rules", "big_fans")) == {"bob@mail.test", "ann@mail.test"}
    outcomes = [(row["target"], row["member"], row["outcome"]) for row in _issues(workspace)]
    assert sorted(o for o in outcomes if o[0] == "rules/big_spenders") == [
        ("rules/big_spenders", False, "theirs"),
        ("rules/big_spenders", True, "theirs"),
    ]
    assert [o[2] for o in outcomes if o[0].startswith("rfm/")] == ["ours", "ours"]
    assert "2 imported rows overrode rule segments (policy: ours; theirs for segments/big_spenders)" in warnings[1]
    assert _status(tmp_path / "ws")["imports"][0]["policy"] == "ours; theirs for segments/big_spenders"
    # a newer row of the other system takes jane back in; the rule alone would have kept her in anyway
    later = "email,segmentation,segment,member,ts\njane@mail.test,segments,big_spenders,true,2030-01-01\n"
    (tmp_path / "ws/data/lists/later.csv").write_text(later)
    _run(workspace)
    assert "jane@mail.test" in _emails(workspace, _members(workspace, "rules", "big_spenders"))


def test_bad_rows_are_quarantined_or_kept_with_their_reason(tmp_path: Path) -> None:
    rows = (
        "email,segment_id,segmentation,segment,member\n"
        "jane@mail.test,,,,true\n"  # names no segment at all: quarantined at ingest
        "jane@mail.test,,,VIP,maybe\n"  # not a boolean: quarantined at ingest
        "jane@mail.test,seg_0000000000000000,,,true\n"  # an id of no segment here
        "ann@mail.test,,nope,VIP,true\n"  # no such segmentation
        "ann@mail.test,,rfm,Champs,true\n"  # no such segment
        ",,,VIP,true\n"  # nobody
        "dan@mail.test,,crm,VIP,true\n"  # good, its segmentation named
    )
    workspace = _shop(tmp_path / "ws", {"bad.csv": rows})
    warnings = _run(workspace)
    quarantined = workspace.sql("SELECT row, reason FROM quarantine ORDER BY row").to_pylist()
    assert quarantined == [
        {"row": 1, "reason": "no segment_id and no segment: a membership row names its segment by one of them"},
        {"row": 2, "reason": "member (column 'member'): 'maybe' is not true or false"},
    ]
    reasons = [row["reason"] for row in _issues(workspace)]
    assert sorted(reasons) == sorted(
        [
            "segment_id 'seg_0000000000000000' is no segment personae knows (an id from another workspace, "
            "or a segment since removed)",
            "no segmentation 'nope': this source feeds crm, and personae owns rfm, rules",
            "segmentation 'rfm' has no segment 'Champs'",
            "no uid and no identifier that names a person: map a uid column or identifiers",
        ]
    )
    assert {row["outcome"] for row in _issues(workspace)} == {"unresolved"}
    assert "4 imported rows name no person or no known segment" in warnings[0]
    assert _emails(workspace, _members(workspace, "crm", "VIP")) == {"dan@mail.test"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": "crm_list"}, "source = 'crm_list' is no source; did you mean 'crm_lists'?"),
        ({"source": "shop"}, "source = 'shop' is of kind 'orders'; an imported segmentation reads a memberships"),
        ({"source": None}, "an imported segmentation names its memberships source"),
        ({"core": True}, "imported memberships are not exhaustive"),
        ({"theirs": ["rfm/Champions"]}, "'rfm' is a core segmentation, exhaustive and exclusive (every customer"),
        ({"theirs": ["triggers/promo"]}, "are recomputed from the data each run; only rule segments"),
        ({"theirs": ["big_spenders"]}, "name a rule segment as 'rules/NAME'"),
        ({"theirs": ["rfx/x"]}, "no segmentation 'rfx'; did you mean 'rfm'?"),
    ],
)
def test_config_errors_say_what_is_wrong(change: dict[str, Any], message: str) -> None:
    crm = {key: value for key, value in {**CRM, **change}.items() if value is not None}
    data = {
        "sources": [SHOP, LISTS],
        "segmentations": [
            {"name": "rfm", "kind": "rfm"},
            {"name": "triggers", "kind": "triggers", "core": False},
            crm,
        ],
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data, Path("personae.toml"))
    assert message in str(caught.value)


def test_source_and_theirs_belong_to_imported_segmentations_only() -> None:
    data = {"sources": [SHOP, LISTS], "segmentations": [{"name": "rfm", "kind": "rfm", "source": "crm_lists"}]}
    with pytest.raises(ConfigError, match="only kind = 'imported' takes 'source'"):
        parse_config(data, Path("personae.toml"))
    twice = {"sources": [SHOP, LISTS], "segmentations": [CRM, {**CRM, "name": "crm2"}]}
    with pytest.raises(ConfigError, match="segmentation 'crm' reads it too"):
        parse_config(twice, Path("personae.toml"))
