"""`personae experiments report` on the demo world: no effect is not claimed; a planted effect
(orders added for treated people after they entered, as an extra source) is found, with its
interval above 0; arms too small to tell are said to be."""

from __future__ import annotations

import csv
import json
import shutil
import tomllib
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import tomli_w
from typer.testing import CliRunner

from personae import Workspace
from personae.activation.holdout import is_held_out
from personae.activation.uplift import NO_EFFECT, SIGNIFICANT_UPLIFT, TOO_SMALL
from personae.cli.app import app
from personae.engine.tables import ensure_tables
from personae.errors import NotFound

runner = CliRunner()
ENTRY, END = date(2025, 10, 1), date(2025, 12, 31)
WINDOW = 60
SHARE = 0.35
PLANTED = 500
SALT = "0123456789abcdef0123456789abcdef"
"""The planted order: revenue per person is heavy-tailed, so a revenue effect must be large to show on ~200 people."""
ACTIONS: list[dict[str, Any]] = [
    {"name": "offer", "rule": "known_customer and orders > 0", "priority": 1, "holdout": SHARE, "channel": "email"},
    {"name": "vip_call", "rule": "in_segment('rfm', 'Champions')", "priority": 1, "holdout": 0.5, "channel": "phone"},
]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The demo world, decided on 2025-10-01 and again on 2025-12-31 (so 60-day windows have ended)."""
    root = tmp_path_factory.mktemp("experiments") / "demo"
    Workspace.init(root, demo=True, customers=300, seed=3)
    config = tomllib.loads((root / "personae.toml").read_text(encoding="utf-8"))
    (root / "personae.toml").write_text(tomli_w.dumps({**config, "actions": ACTIONS}), encoding="utf-8")
    workspace = Workspace(root)
    with workspace.engine(write=True) as store:  # UIDs, so the arms, follow the workspace's random salt: fix it
        ensure_tables(store, ["workspace_settings"])
        store.insert("workspace_settings", ["key", "value"], f"SELECT 'uid_salt', '{SALT}'")
    for day in (ENTRY, END):
        assert workspace.run(as_of=day).errors == []
    yield workspace


@pytest.fixture(scope="module")
def planted(base: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The same world plus an order of 500 on 2025-10-20 for two treated entrants of three."""
    root = tmp_path_factory.mktemp("planted") / "demo"
    shutil.copytree(base.root, root)
    treated = base.sql(
        "SELECT DISTINCT x.uid, min(m.id_value) AS email FROM action_exposures AS x "
        "JOIN identity_map AS m ON m.uid = x.uid AND m.id_type = 'email' "
        f"WHERE x.action = 'offer' AND x.as_of = DATE '{ENTRY}' AND NOT x.held_out GROUP BY x.uid ORDER BY x.uid"
    ).to_pylist()
    assert len(treated) > 100
    (root / "data" / "extra").mkdir()
    with (root / "data" / "extra" / "orders.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "ts", "total", "email"])
        for number, row in enumerate(treated):
            if number % 3 != 2:
                writer.writerow([f"planted-{number}", "2025-10-20 12:00:00", f"{PLANTED}.00", row["email"]])
    config = tomllib.loads((root / "personae.toml").read_text(encoding="utf-8"))
    config["sources"].append(
        {
            "name": "planted",
            "kind": "orders",
            "path": "data/extra/*.csv",
            "columns": {"order_id": "id", "ts": "ts", "amount": "total"},
            "identifiers": {"email": "email"},
        }
    )
    (root / "personae.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    workspace = Workspace(root)
    assert workspace.run(as_of=END).errors == []
    return workspace


def _report(workspace: Workspace, *args: str) -> dict[str, Any]:
    shown = runner.invoke(app, ["experiments", "report", *args, "-w", str(workspace.root), "-f", "json"])
    assert shown.exit_code == 0, shown.output
    data: dict[str, Any] = json.loads(shown.output)
    return data


def test_the_arms_are_the_holdout_hash_and_about_the_share(base: Workspace) -> None:
    entrants = base.sql(
        "SELECT uid, held_out FROM action_exposures WHERE action = 'offer' AND as_of = DATE '2025-10-01'"
    ).to_pylist()
    assert all(row["held_out"] == is_held_out(row["uid"], "offer", SHARE) for row in entrants)
    share = sum(row["held_out"] for row in entrants) / len(entrants)
    assert abs(share - SHARE) < 3 * (SHARE * (1 - SHARE) / len(entrants)) ** 0.5


@pytest.mark.parametrize("outcome", ["conversion", "revenue"])
def test_no_effect_is_not_claimed(base: Workspace, outcome: str) -> None:
    report = base.experiment_report("offer", outcome=outcome, window=WINDOW)  # type: ignore[arg-type]
    assert report.treated.size >= 100 and report.held_out.size >= 50
    assert report.observed_until == END and report.pending > 0  # those who entered on 2025-12-31
    uplift = report.uplift
    assert uplift.low is not None and uplift.high is not None
    assert uplift.low < 0 < uplift.high
    assert uplift.verdict == NO_EFFECT
    shown = runner.invoke(
        app, ["experiments", "report", "offer", "--outcome", outcome, "--window", "60", "-w", str(base.root)]
    )
    assert shown.exit_code == 0, shown.output
    assert "no significant effect" in shown.output and "95% CI" in shown.output
    assert "significant uplift" not in shown.output


def test_a_planted_effect_is_found(base: Workspace, planted: Workspace) -> None:
    conversion = _report(planted, "offer", "--window", "60")
    revenue = _report(planted, "offer", "--outcome", "revenue", "--window", "60")
    assert conversion["treated"]["size"] == base.experiment_report("offer", window=WINDOW).treated.size
    for report in (conversion, revenue):
        assert report["uplift"]["verdict"] == SIGNIFICANT_UPLIFT
        assert report["uplift"]["low"] > 0
    # two of three treated people bought on 2025-10-20: the rate rises by about 2/3 of the non-buyers
    before = base.experiment_report("offer", window=WINDOW)
    gained = conversion["treated"]["converted"] - before.treated.converted
    assert gained > 0 and conversion["held_out"] == json.loads(json.dumps(before.held_out.__dict__))
    assert conversion["uplift"]["low"] < conversion["uplift"]["estimate"] < conversion["uplift"]["high"]
    added = (
        revenue["treated"]["revenue"]
        - base.experiment_report("offer", outcome="revenue", window=WINDOW).treated.revenue
    )
    assert added == pytest.approx(PLANTED * round(added / PLANTED), abs=0.01) and added / PLANTED > 60
    shown = runner.invoke(app, ["experiments", "report", "offer", "-w", str(planted.root)])
    assert "significant uplift" in shown.output and "excludes 0" in shown.output


def test_arms_too_small_to_tell_are_not_claimed(base: Workspace) -> None:
    report = base.experiment_report("vip_call", window=WINDOW)
    assert report.held_out.size < 30
    assert report.uplift.verdict == TOO_SMALL and report.uplift.reasons
    shown = runner.invoke(app, ["experiments", "report", "vip_call", "-w", str(base.root)])
    assert shown.exit_code == 0 and "too small to tell" in shown.output and "at least 30" in shown.output


def test_an_unknown_experiment_names_the_ones_there_are(base: Workspace) -> None:
    with pytest.raises(NotFound, match=r"no action or destination named 'ofer'; did you mean 'offer'\?"):
        base.experiment_report("ofer")
