"""Persona cards on the small shop, checked against pandas; the example is anonymous; the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import tomli_w
from typer.testing import CliRunner

from personae import Workspace
from personae.cli.app import app
from personae.engine.dialects import transpile
from personae.errors import WorkspaceError
from personae.segments.persona_sql import (
    example_sql,
    members_sql,
    mix_sql,
    overlap_sql,
    segment_stats_sql,
    traited_sql,
)
from personae.segments.personas import DEFAULT_CARD_TRAITS, MEMBERS, TRAITED, persona_cards, persona_cards_of
from tests.profiles.small_world import AS_OF, build

runner = CliRunner()
CUSTOMERS = 40
RULES = [{"name": "big", "rule": "revenue > 300"}, {"name": "regular", "rule": "orders >= 4"}]
PRIVATE = ("first_name", "last_name", "email", "phone", "street", "postcode", "uid")


def _crm(customers: int) -> str:
    """Names, phones, streets, birth dates and cities for everyone: half live in Leeds."""
    rows = ["id,first,last,dob,email,phone,street,city,postcode,country"]
    for n in range(customers):
        city = "Leeds" if n % 2 == 0 else f"Hamlet{n}"
        rows.append(
            f"K{n},Fname{n},Lname{n},{1950 + n}-0{1 + n % 9}-15,person{n}@mail.net,+44 20 7946 {1000 + n},"
            f"{n} Long Street,{city},LS{n} 1AA,GB"
        )
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = build(tmp_path_factory.mktemp("personas") / "shop", customers=CUSTOMERS, segments=RULES).root
    (root / "data" / "crm.csv").write_text(_crm(CUSTOMERS), encoding="utf-8")
    config = tomllib.loads((root / "personae.toml").read_text(encoding="utf-8"))
    config["sources"].append(
        {
            "name": "crm",
            "kind": "customers",
            "path": "data/crm.csv",
            "columns": {
                "record_id": "id",
                "first_name": "first",
                "last_name": "last",
                "birth_date": "dob",
                "street": "street",
                "city": "city",
                "postcode": "postcode",
                "country": "country",
            },
            "identifiers": {"email": "email", "phone": "phone"},
        }
    )
    (root / "personae.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    assert Workspace(root).run(as_of=AS_OF).errors == []
    yield root


def _frames(workspace: Workspace, segmentation: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    profiles = workspace.sql("SELECT * FROM profiles").to_pandas()
    members = workspace.sql(
        f"SELECT uid, segment FROM memberships WHERE exited_at IS NULL AND segmentation = '{segmentation}'"
    ).to_pandas()
    return profiles, members.merge(profiles, on="uid")


@pytest.mark.parametrize("segmentation", ["rfm", "lifecycle", "rules"])
def test_sizes_shares_and_indexes_match_pandas(shop: Path, segmentation: str) -> None:
    workspace = Workspace(shop)
    result = workspace.personas(segmentation)
    profiles, joined = _frames(workspace, segmentation)
    sizes = joined.groupby("segment").size()
    revenue = joined.groupby("segment")["revenue"].sum()
    assert result.customers == len(profiles) and result.revenue == pytest.approx(profiles["revenue"].sum())
    assert [card.segment for card in result.cards] == sorted(sizes.index, key=lambda s: (-sizes[s], s))
    for card in result.cards:
        segment = card.segment
        assert card.size == sizes[segment]
        assert card.share_of_customers == pytest.approx(sizes[segment] / len(profiles))
        assert card.share_of_revenue == pytest.approx(revenue[segment] / profiles["revenue"].sum())
        people = joined[joined["segment"] == segment]
        for item in card.traits:
            trait = item.trait
            mine, base = people[trait].astype(float).mean(), profiles[trait].astype(float).mean()
            if pd.isna(mine) or not base:
                assert item.index is None
                continue
            assert item.segment_mean == pytest.approx(mine) and item.base_mean == pytest.approx(base)
            assert item.index == pytest.approx(100 * mine / base)
        assert card.name.startswith(segment.replace("_", " ")[:1].upper())
        assert f"{card.size:,} customer" in card.description
    assert [item.trait for item in result.cards[0].traits] == list(DEFAULT_CARD_TRAITS)
    assert result.overlapping is (segmentation == "rules")


def test_top_categories_are_revenue_shares_with_an_index(shop: Path) -> None:
    workspace = Workspace(shop)
    shares = workspace.sql("SELECT uid, value, revenue FROM trait_shares WHERE dimension = 'category'").to_pandas()
    members = workspace.sql(
        "SELECT uid, segment FROM memberships WHERE exited_at IS NULL AND segmentation = 'lifecycle'"
    ).to_pandas()
    base = shares.groupby("value")["revenue"].sum() / shares["revenue"].sum()
    for card in workspace.personas("lifecycle").cards:
        mine = shares[shares["uid"].isin(members[members["segment"] == card.segment]["uid"])]
        expected = (mine.groupby("value")["revenue"].sum() / mine["revenue"].sum()).sort_values(ascending=False)
        assert len(card.top_categories) == min(3, len(expected))
        for item in card.top_categories:
            assert item.share == pytest.approx(expected[item.value])
            assert item.index == pytest.approx(100 * expected[item.value] / base[item.value])
        if card.top_categories:
            assert card.top_categories[0].share == pytest.approx(expected.iloc[0])
        if mine.empty:
            assert card.top_channels == [] and "have not ordered yet" in card.description


def test_the_example_is_an_anonymous_member_of_its_segment(shop: Path) -> None:
    workspace = Workspace(shop)
    result = workspace.personas("rfm")
    profiles, joined = _frames(workspace, "rfm")
    secrets = {str(value) for column in PRIVATE for value in profiles[column].dropna()}
    assert secrets and any(name.startswith("Fname") for name in secrets)
    for position, card in enumerate(result.cards):
        example = dataclasses.asdict(card.example)
        shown = json.dumps(example)
        assert not [secret for secret in secrets if secret in shown]
        assert not set(example) & set(PRIVATE)
        assert example["alias"] == f"Customer {'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[position]}"
        people = joined[joined["segment"] == card.segment]
        matches = people
        for trait, value in example["traits"].items():
            matches = matches[matches[trait].isna()] if value is None else matches[matches[trait] == value]
        assert len(matches) >= 1, f"the example of {card['segment']!r} is none of its members"
        person = matches.iloc[0]
        assert example["country"] == person["country"]
        assert example["city"] == ("Leeds" if person["city"] == "Leeds" else None)
        born = person["birth_date"]
        age = AS_OF.year - born.year - ((AS_OF.month, AS_OF.day) < (born.month, born.day))
        low = int(example["age_band"].rstrip("+").split("-")[0])
        assert low <= age < (low + 10 if low > 18 else 25) or (low == 65 and age >= 65)


def test_rule_segments_overlap_and_the_base_is_everyone(shop: Path) -> None:
    workspace = Workspace(shop)
    result = workspace.personas("rules")
    cards = {card.segment: card for card in result.cards}
    assert set(cards) == {"big", "regular"} and result.overlapping is True
    both = workspace.sql("SELECT count(*) AS n FROM profiles WHERE revenue > 300 AND orders >= 4").column("n")[0]
    everyone = workspace.sql("SELECT count(*) AS n FROM profiles").column("n")[0].as_py()
    assert both.as_py() > 0 and result.customers == everyone
    assert cards["big"].size + cards["regular"].size > len(set(_frames(workspace, "rules")[1]["uid"]))


def test_unknown_segmentation_and_traits_say_what_to_do(shop: Path) -> None:
    workspace = Workspace(shop)
    with pytest.raises(WorkspaceError, match=r"no segmentation 'rmf' in the memberships; did you mean 'rfm'\?") as err:
        workspace.personas("rmf")
    assert "lifecycle" in str(err.value)
    with workspace.engine(write=False) as store:
        with pytest.raises(WorkspaceError, match=r"no trait 'revnue' in the profiles; did you mean 'revenue'\?"):
            persona_cards(store, "rfm", traits=["revnue"])
        with pytest.raises(WorkspaceError, match=r"trait 'top_category' is VARCHAR"):
            persona_cards(store, "rfm", traits=["top_category"])
        custom = persona_cards(store, "rfm", traits=["orders", "email_opt_in"])
    assert [item.trait for item in custom.cards[0].traits] == ["orders", "email_opt_in"]


def _close(a: object, b: object) -> bool:
    """Equal, floats within 1e-9: sums of the same numbers in another order."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_the_cards_of_several_segmentations_at_once_are_each_ones_own(shop: Path) -> None:
    """The run asks for every segmentation's cards in one batch of queries: each segmentation's
    cards are those it gets alone, and the run stored exactly those."""
    workspace = Workspace(shop)
    names = ["lifecycle", "rfm", "rules"]
    with workspace.engine(write=False) as store:
        together = persona_cards_of(store, names)
        alone = {name: persona_cards(store, name) for name in names}
        stored = dict(store.fetch_rows("SELECT segmentation, cards FROM persona_cards"))
    assert list(together) == names
    for name in names:
        shown = json.loads(json.dumps(dataclasses.asdict(alone[name]), default=str))
        assert _close(dataclasses.asdict(together[name]), dataclasses.asdict(alone[name])), name
        assert _close(json.loads(stored[name]), shown), name
        joined = _frames(workspace, name)[1]
        assert {card.segment for card in together[name].cards} == set(joined.loc[joined["known_customer"], "segment"])
    assert together["rules"].overlapping and not together["rfm"].overlapping


def test_the_sql_transpiles_to_spark() -> None:
    for sql in (
        members_sql(["rfm", "lifecycle"]),
        traited_sql(MEMBERS, ["orders", "revenue"]),
        segment_stats_sql(TRAITED, 2),
        mix_sql(MEMBERS, "category", "revenue"),
        example_sql(TRAITED, ["orders", "revenue"], ["birth_date", "city", "country"]),
        overlap_sql(MEMBERS, ["rules"]),
    ):
        assert "SELECT" in transpile(sql, "spark")


def test_cli_json_and_table(shop: Path) -> None:
    result = runner.invoke(app, ["personas", "lifecycle", "-w", str(shop), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    segments = Workspace(shop).sql(
        "SELECT DISTINCT segment FROM memberships WHERE exited_at IS NULL AND segmentation = 'lifecycle'"
    )
    assert sorted(card["segment"] for card in data["cards"]) == sorted(segments.column("segment").to_pylist())
    table = runner.invoke(app, ["personas", "rfm", "-w", str(shop)])
    assert table.exit_code == 0, table.output
    for card in Workspace(shop).personas("rfm").cards:
        assert card.segment in table.output
    assert "Customer A" in table.output and "examples are anonymised" in table.output


def test_cli_unknown_segmentation_exits_2_with_a_hint(shop: Path) -> None:
    failed = subprocess.run(
        [sys.executable, "-m", "personae", "personas", "lifecycel", "-w", str(shop)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "did you mean 'lifecycle'?" in failed.stderr


def test_the_cards_do_not_depend_on_the_order_an_engine_adds_in(shop: Path, tmp_path: Path) -> None:
    """Spark adds a segment's doubles in whatever order its partitions come; the same store with
    its rows in the opposite order must give the very same cards, names and figures included."""
    reordered = tmp_path / "shop"
    shutil.copytree(shop, reordered)
    with duckdb.connect(str(reordered / "personae.duckdb")) as store:
        store.execute("SET threads = 1")  # one thread adds in the order the rows are stored
        for table, key in (("profiles", "uid"), ("trait_shares", "uid, dimension, value")):
            store.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {table} ORDER BY {key} DESC")
    for name in ("rfm", "lifecycle", "rules"):
        before, after = Workspace(shop).personas(name), Workspace(reordered).personas(name)
        assert dataclasses.asdict(after) == dataclasses.asdict(before), name
