"""The delivery loop and the file kind on a small demo world: deltas replay to the snapshot,
a second sync sends nothing twice, trait changes get new revisions, holdouts stay out, and a
destination that fails keeps its cursor."""

from __future__ import annotations

import json
import shutil
import sys
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import tomli_w
from typer.testing import CliRunner

from personae import Workspace
from personae.activation.holdout import is_held_out
from personae.activation.specs import segment_external_id
from personae.cli import app, main
from personae.config import parse_config
from personae.errors import ConfigError

runner = CliRunner()
SEGMENTATIONS = ["rfm", "lifecycle"]


def _add_destinations(root: Path, *destinations: dict[str, Any]) -> None:
    path = root / "personae.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    config["destinations"] = list(destinations)
    path.write_text(tomli_w.dumps(config), encoding="utf-8")


def _files(root: Path, segmentations: list[str] = SEGMENTATIONS, **extra: Any) -> dict[str, Any]:
    return {
        "name": "files",
        "kind": "file",
        "path": "out/files",
        "segmentations": segmentations,
        "traits": ["revenue_365d", "orders_365d"],
        **extra,
    }


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("activation") / "demo"
    Workspace.init(root, demo=True, customers=300, seed=3)
    _add_destinations(root, _files(root))
    Workspace(root).run()
    return root


@pytest.fixture
def world(demo_world: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "demo"
    shutil.copytree(demo_world, copy)
    return copy


def _deltas(root: Path, part: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((root / "out/files/deltas").glob(f"{part}-*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def _replayed(changes: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    members: set[tuple[str, str, str]] = set()
    for change in sorted(changes, key=lambda c: c["sequence"]):
        member = (change["uid"], change["segmentation"], change["segment"])
        if change["change"] == "entered":
            members.add(member)
        else:
            members.discard(member)
    return members


def _current(root: Path) -> set[tuple[str, str, str]]:
    with Workspace(root).engine(write=False) as store:
        rows = store.fetch_rows(
            "SELECT uid, segmentation, segment FROM memberships WHERE exited_at IS NULL "
            "AND segmentation IN ('rfm', 'lifecycle')"
        )
    return {(str(u), str(s), str(g)) for u, s, g in rows}


def _snapshot(root: Path) -> set[tuple[str, str, str]]:
    rows = pq.read_table(root / "out/files/snapshot/memberships.parquet").to_pylist()
    return {(r["uid"], r["segmentation"], r["segment"]) for r in rows}


def test_deltas_replay_to_the_snapshot_across_runs(world: Path) -> None:
    assert _replayed(_deltas(world, "memberships")) == _snapshot(world) == _current(world)
    first = Workspace(world)
    later = first.config.workspace.as_of + timedelta(days=60)  # type: ignore[operator]
    report = first.run(as_of=later)
    assert not report.errors
    changes = _deltas(world, "memberships")
    assert len({c["key"] for c in changes}) == len(changes)  # no change in two deltas
    assert _replayed(changes) == _snapshot(world) == _current(world)
    (status,) = Workspace(world).destinations()
    assert status.lag == 0 and status.state.status == "ok"
    with Workspace(world).engine(write=False) as store:
        end = int(store.scalar("SELECT max(sequence) FROM membership_changes"))
    assert status.state.cursor == end >= max(c["sequence"] for c in changes)  # the feed read to its end


def test_a_second_sync_sends_nothing_again(world: Path) -> None:
    before = sorted(p.name for p in (world / "out/files/deltas").iterdir())
    (result,) = Workspace(world).sync()
    assert (result.status, result.sent, result.batches) == ("ok", 0, 0)
    assert sorted(p.name for p in (world / "out/files/deltas").iterdir()) == before


def test_each_change_carries_its_segment_external_id(world: Path) -> None:
    changes = _deltas(world, "memberships")
    assert changes
    assert all(c["segment_id"] == segment_external_id(c["segmentation"], c["segment"]) for c in changes)
    assert all(c["key"] == f"files:m:{c['sequence']}" for c in changes)


def test_trait_changes_get_a_new_revision_each_time(world: Path) -> None:
    first = _deltas(world, "traits")
    with Workspace(world).engine(write=False) as store:
        people = int(store.scalar("SELECT count(*) FROM profiles"))
        uid, value = store.fetch_rows("SELECT uid, revenue_365d FROM profiles ORDER BY uid LIMIT 1")[0]
    assert len(first) == people and {r["revision"] for r in first} == {1}

    def set_revenue(amount: Any) -> list[dict[str, Any]]:
        with Workspace(world).engine(write=True) as store:
            store.execute(f"UPDATE profiles SET revenue_365d = {amount} WHERE uid = '{uid}'")
        (result,) = Workspace(world).sync()
        assert result.status == "ok"
        return [r for r in _deltas(world, "traits") if r["revision"] > 1]

    changed = set_revenue(12345.5)
    assert [(r["uid"], r["revision"], float(r["revenue_365d"])) for r in changed] == [(uid, 2, 12345.5)]
    back = set_revenue(value if value is not None else "NULL")  # A -> B -> A is sent again, as revision 3
    assert sorted((r["uid"], r["revision"]) for r in back) == [(uid, 2), (uid, 3)]
    assert len({r["key"] for r in _deltas(world, "traits")}) == len(_deltas(world, "traits"))


def test_held_out_people_are_never_sent(world: Path) -> None:
    _add_destinations(world, {**_files(world), "name": "held", "path": "out/held", "holdout": 0.3})
    (result,) = Workspace(world).sync()
    assert result.status == "ok"
    sent = pq.read_table(next((world / "out/held/deltas").glob("traits-*.parquet"))).column("uid").to_pylist()
    with Workspace(world).engine(write=False) as store:
        everyone = [str(row[0]) for row in store.fetch_rows("SELECT uid FROM profiles")]
    held = {uid for uid in everyone if is_held_out(uid, "held", 0.3)}
    assert set(sent) == set(everyone) - held
    assert 0.2 < len(held) / len(everyone) < 0.4
    members = pq.read_table(world / "out/held/snapshot/memberships.parquet").column("uid").to_pylist()
    assert members and not held & set(members)


def test_a_destination_that_cannot_write_keeps_its_cursor(world: Path) -> None:
    (world / "blocked").write_text("a file, not a folder")
    _add_destinations(world, {**_files(world), "name": "broken", "path": "blocked/out"})
    result = runner.invoke(app, ["sync", "--workspace", str(world)])
    assert result.exit_code == 1, result.output
    (status,) = Workspace(world).destinations()
    assert (status.state.status, status.state.cursor, status.state.sent) == ("failed", 0, 0)
    assert "destination 'broken': cannot write to" in status.state.error
    assert status.lag > 0
    (world / "blocked").unlink()
    (result,) = Workspace(world).sync()
    assert result.status == "ok" and result.cursor > 0
    (status,) = Workspace(world).destinations()
    assert (status.lag, status.state.error) == (0, "")


def test_cli_names_an_unknown_destination_and_shows_the_state(
    world: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["personae", "sync", "--destination", "filez", "--workspace", str(world)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    assert "no destination named 'filez'; did you mean 'files'?" in capsys.readouterr().err
    shown = runner.invoke(app, ["destinations", "--workspace", str(world), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    (line,) = json.loads(shown.output)
    assert line["destination"] == "files" and line["status"] == "ok" and line["sent"] > 0 and line["lag"] == 0


def test_external_ids_are_the_same_in_sql(world: Path) -> None:
    from personae.activation.feed import SEGMENT_ID_SQL

    with Workspace(world).engine(write=False) as store:
        rows = store.fetch_rows(f"SELECT DISTINCT segmentation, segment, {SEGMENT_ID_SQL} FROM memberships")
    assert rows and all(found == segment_external_id(seg, name) for seg, name, found in rows)


@pytest.mark.parametrize(
    ("destination", "message"),
    [
        ({"kind": "fiel", "path": "o", "traits": ["revenue_365d"]}, "did you mean 'file'?"),
        ({"kind": "file", "path": "o", "segmentations": ["rmf"]}, "no segmentation named 'rmf'; did you mean 'rfm'?"),
        ({"kind": "file", "path": "o", "segments": ["rfm/Champs"]}, "no segment 'Champs'; did you mean 'Champions'?"),
        ({"kind": "file", "path": "o", "segments": ["Champions"]}, "name it as 'segmentation/segment'"),
        ({"kind": "file", "path": "o", "traits": ["spend_365"]}, "no trait, golden-record attribute or score named"),
        ({"kind": "file", "pth": "o", "traits": ["revenue_365d"]}, "unknown key 'pth' for a file destination"),
        ({"kind": "file", "path": "o"}, "sends nothing"),
        ({"kind": "file", "path": "o", "traits": ["revenue_365d"], "holdout": 1.5}, "holdout"),
    ],
)
def test_spec_errors_name_the_destination_and_the_fix(destination: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="destination") as caught:
        parse_config({"destinations": [{"name": "out", **destination}]}, Path("personae.toml"))
    assert message in str(caught.value)


def test_destination_specs_round_trip_through_toml() -> None:
    config = parse_config({"destinations": [_files(Path("."))]}, Path("personae.toml"))
    again = parse_config(tomllib.loads(tomli_w.dumps(config.to_toml_dict())), Path("personae.toml"))
    assert again.destinations == config.destinations


def test_a_destination_holdout_is_an_experiment_whose_arms_match_what_was_sent(world: Path) -> None:
    _add_destinations(world, {**_files(world), "name": "held", "path": "out/held", "holdout": 0.3})
    first = Workspace(world)
    assert not first.run().errors
    later = first.config.workspace.as_of + timedelta(days=60)  # type: ignore[operator]
    assert not Workspace(world).run(as_of=later).errors  # every entry's 30-day window has ended
    report = Workspace(world).experiment_report("held", outcome="conversion", window=30)
    assert (report.kind, report.share, report.pending) == ("destination", 0.3, 0)
    with Workspace(world).engine(write=False) as store:
        entrants = {
            str(row[0])
            for row in store.fetch_rows(
                "SELECT DISTINCT uid FROM membership_changes WHERE change = 'entered' "
                "AND segmentation IN ('rfm', 'lifecycle')"
            )
        }
    held = {uid for uid in entrants if is_held_out(uid, "held", 0.3)}
    assert (report.treated.size, report.held_out.size) == (len(entrants) - len(held), len(held))
    sent = set()
    for path in (world / "out/held/deltas").glob("memberships-*.parquet"):
        sent |= set(pq.read_table(path).column("uid").to_pylist())
    assert sent == entrants - held  # the treated arm is exactly who was sent


def test_a_kind_that_cannot_take_actions_says_so_when_the_file_is_read() -> None:
    actions = [{"name": "thank_you", "rule": "orders >= 1", "priority": 1}]
    destination = {"name": "warehouse", "kind": "postgres", "dsn_env": "DSN", "actions": True}
    with pytest.raises(ConfigError) as caught:
        parse_config({"actions": actions, "destinations": [destination]}, Path("personae.toml"))
    assert "destination 'warehouse': the postgres kind keeps no table of next actions" in str(caught.value)
    files = {"name": "out", "kind": "file", "path": "o", "actions": True}
    with pytest.raises(ConfigError) as caught:
        parse_config({"destinations": [files]}, Path("personae.toml"))
    assert "actions = true, but personae.toml declares no [[actions]]" in str(caught.value)


def test_next_actions_are_a_payload_and_an_ended_action_is_sent_as_none(world: Path) -> None:
    path = world / "personae.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    config["actions"] = [{"name": "thanks", "rule": "orders >= 1", "channel": "email", "priority": 5, "holdout": 0.2}]
    config["destinations"] = [{**_files(world), "name": "acts", "path": "out/acts", "actions": True}]
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    assert not Workspace(world).run().errors
    with Workspace(world).engine(write=False) as store:
        chosen = {str(u): bool(h) for u, h in store.fetch_rows("SELECT uid, held_out FROM next_actions")}
    assert chosen and any(chosen.values()) and not all(chosen.values())

    def sent() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for found in (world / "out/acts/deltas").glob("actions.email-*.parquet"):
            rows += pq.read_table(found).to_pylist()
        return rows

    first = sent()
    assert {r["uid"] for r in first} == {uid for uid, held in chosen.items() if not held}  # never the held out
    assert {(r["action"], r["channel"], r["revision"]) for r in first} == {("thanks", "email", 1)}
    gone = first[0]["uid"]
    with Workspace(world).engine(write=True) as store:  # the person's action ends
        store.execute(f"DELETE FROM next_actions WHERE uid = '{gone}'")
    (result,) = Workspace(world).sync()
    assert result.status == "ok"
    ended = [r for r in sent() if r["revision"] == 2]
    assert [(r["uid"], r["action"]) for r in ended] == [(gone, None)]
    assert ended[0]["key"] == f"acts:actions.email:{gone}:2"
