"""Typos are refused when they are given, with the nearest name, never accepted silently:
a segment that does not exist in ``in_segment``, an identifier type, a segment's name, a
rule of ``personae.toml`` (checked on load, not after a whole run); and a segment can be
removed."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from personae import Workspace
from personae.config import load_config
from personae.errors import ConfigError, InvalidRule, NotFound, WorkspaceError
from tests.workspaces import POS_CSV, POS_SOURCE, write_workspace

AS_OF = date(2024, 3, 1)


def _config(tmp_path: Path, **sections: Any) -> Path:
    return write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/a.csv": POS_CSV}, **sections) / "personae.toml"


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"segments": [{"name": "champs", "rule": "in_segment('rfm', 'Champs')"}]},
            r"in_segment\('rfm', 'Champs'\): 'rfm' has no segment 'Champs'; did you mean 'Champions'\?",
        ),
        (
            {"segments": [{"name": "x", "rule": "in_segment('lifecylce', 'vip')"}]},
            r"no segmentation 'lifecylce'; did you mean 'lifecycle'\?",
        ),
        (
            {"segments": [{"name": "big", "rule": "spend_365d > 1000"}]},
            r"rule 'big': unknown column 'spend_365d'; did you mean 'revenue_365d'\?",
        ),
        (
            {
                "segmentations": [
                    {"name": "tiers", "kind": "rules", "segments": {"a": "ordres > 1", "b": "orders <= 1"}}
                ]
            },
            r"rule 'tiers.a': unknown column 'ordres'; did you mean 'orders'\?",
        ),
        ({"segments": [{"name": "Bad Name!", "rule": "orders > 1"}]}, r"segments.0.name"),
        (
            {"identity": {"limits": {"emial": 3}}},
            r"identity.limits: unknown identifier type 'emial'; did you mean 'email'\?",
        ),
    ],
)
def test_a_typo_in_personae_toml_fails_on_load(tmp_path: Path, sections: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_config(tmp_path, **sections))


def test_an_identifier_type_must_be_known_or_declared(tmp_path: Path) -> None:
    source = {**POS_SOURCE, "identifiers": {"emial": "email"}}
    root = write_workspace(tmp_path / "ws", [source], {"data/pos/a.csv": POS_CSV})
    with pytest.raises(ConfigError, match=r"unknown identifier type 'emial'; did you mean 'email'\?.*custom_types"):
        load_config(root / "personae.toml")
    member = {**POS_SOURCE, "identifiers": {"member_no": "card"}}
    declared = write_workspace(
        tmp_path / "ok", [member], {"data/pos/a.csv": POS_CSV}, identity={"custom_types": ["member_no"]}
    )
    assert load_config(declared / "personae.toml").identity.known_types()[-1] == "member_no"


def test_the_checks_on_load_accept_every_column_a_run_gives(tmp_path: Path) -> None:
    """The columns known on load are exactly the ones rules read after a run."""
    root = _config(tmp_path).parent
    workspace = Workspace(root)
    workspace.run(as_of=AS_OF)
    from personae.segments.people import profile_columns

    with workspace.engine(write=False) as store:
        assert profile_columns(store) == workspace.config.rule_columns()


@pytest.fixture
def shop(tmp_path: Path) -> Workspace:
    workspace = Workspace(_config(tmp_path).parent)
    workspace.run(as_of=AS_OF)
    return workspace


def test_segment_add_checks_its_name_and_the_segments_it_names(shop: Workspace) -> None:
    with pytest.raises(InvalidRule, match=r"segment name 'Bad Name!'.*e\.g\. 'bad_name'"):
        shop.add_segment("Bad Name!", "orders > 1")
    with pytest.raises(InvalidRule, match=r"'rfm' has no segment 'Champs'; did you mean 'Champions'\?"):
        shop.add_segment("champs", "in_segment('rfm', 'Champs')")
    shop.add_segment("regular", "orders >= 2")
    with pytest.raises(InvalidRule, match=r"'rules' has no segment 'regulra'; did you mean 'regular'\?"):
        shop.add_segment("loyal_regulars", "in_segment('rules', 'regulra')")
    assert shop.add_segment("champions", "in_segment('rfm', 'Champions') and orders > 0") is not None


def test_a_segment_can_be_removed_and_its_members_leave_on_the_next_run(shop: Workspace) -> None:
    shop.add_segment("regular", "orders >= 2")
    shop.run(as_of=AS_OF)
    members = "SELECT count(*) AS n FROM memberships WHERE segment = 'regular' AND exited_at IS NULL"
    assert shop.sql(members).column("n")[0].as_py() > 0
    removed = shop.remove_segment("regular")
    assert removed.origin == "removed" and removed.version == 2
    assert all(entry.segment != "regular" or entry.members > 0 for entry in shop.segments())
    shop.run(as_of=AS_OF)
    assert shop.sql(members).column("n")[0].as_py() == 0
    assert all(entry.segment != "regular" for entry in shop.segments())
    with pytest.raises(NotFound, match=r"no rule segment 'regulr'"):
        shop.remove_segment("regulr")


def test_a_segment_of_personae_toml_is_removed_there(tmp_path: Path) -> None:
    root = _config(tmp_path, segments=[{"name": "big", "rule": "revenue > 50"}]).parent
    workspace = Workspace(root)
    workspace.run(as_of=AS_OF)
    with pytest.raises(WorkspaceError, match=r"defined in .*personae.toml; remove it there"):
        workspace.remove_segment("big")
    write_workspace(root, [POS_SOURCE], {})  # the same workspace, without the segment
    Workspace(root).run(as_of=AS_OF)  # taken out of the config: taken out of force
    assert all(entry.segment != "big" for entry in Workspace(root).segments())
