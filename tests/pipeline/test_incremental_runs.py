"""An incremental run equals a full one: random increments of the demo world, each run
incrementally, then the same store run again with ``full=True`` (a copy, so the salt and the
earlier runs are the same), every derived table compared row for row."""

from __future__ import annotations

import math
import random
import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from personae import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from incremental import append_increment  # the bench's increment writer, also used here

DERIVED = (
    "identifiers",
    "identity_map",
    "record_map",
    "identity_edges",
    "identity_cuts",
    "profiles",
    "traits",
    "trait_shares",
    "customer_summary",
    "order_gaps",
    "order_gap_counts",
    "predictions",
    "memberships",
    "membership_changes",
)
"""The tables the steps derive (``golden`` writes the first columns of ``profiles``; ``merges``
differ by the time of the run)."""
CUSTOMERS = 250


def _rows(workspace: Workspace, table: str) -> list[dict[str, Any]]:
    with workspace.engine(write=False) as store:
        if not store.has_table(table):
            return []
        rows = store.fetch_arrow(f"SELECT * FROM {table}").to_pylist()
    return sorted(rows, key=lambda row: repr(sorted((k, v) for k, v in row.items() if not isinstance(v, float))))


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(left) and math.isnan(right))
    return bool(left == right)


def _differences(incremental: Workspace, full: Workspace) -> list[str]:
    found = []
    for table in DERIVED:
        mine, theirs = _rows(incremental, table), _rows(full, table)
        if len(mine) != len(theirs):
            found.append(f"{table}: {len(mine)} rows incrementally, {len(theirs)} in full")
            continue
        for a, b in zip(mine, theirs, strict=True):
            wrong = sorted(k for k in a if not _same(a[k], b.get(k)))
            if wrong:
                found.append(f"{table}: {a.get('uid')}: {[(k, a[k], b.get(k)) for k in wrong[:4]]}")
                break
    return found


def _traits_note(report: Any, step: str = "traits") -> str:
    return next(found.note for found in report.steps if found.name == step)


@pytest.mark.parametrize("seed", [5])
def test_random_increments_equal_a_full_run(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    root = tmp_path / "shop"
    workspace = Workspace.init(root, demo=True, customers=CUSTOMERS, seed=seed)
    as_of = workspace.config.workspace.as_of
    assert as_of is not None
    first = workspace.run()
    assert "everyone" in _traits_note(first)
    assert _traits_note(first, "identity") == "recomputed everyone: no earlier identity run to start from"
    assert _traits_note(first, "golden").startswith("rebuilt everyone: no previous golden run to start from")
    for step in range(2):
        # a few days (some windows shift by a day or two) or a month (the 30-day window turns over)
        days = [2, 31][step]
        as_of = append_increment(
            root, share=rng.uniform(0.01, 0.05), days=days, tag=f"inc{step}", seed=rng.randrange(10**6), start=as_of
        )
        report = Workspace(root).run(as_of=as_of)
        assert not report.errors, report.errors
        note = _traits_note(report)
        assert note.startswith("incremental"), note
        recomputed = int(note.split("recomputed ")[1].split(" of ")[0].replace(",", ""))
        everyone = int(note.split(" of ")[1].split()[0].replace(",", ""))
        assert 0 < recomputed < everyone, note
        identity = _traits_note(report, "identity")  # new people and cards touch a few identifiers' people
        assert identity.startswith("incremental: recomputed the people of "), identity
        scope, usable = (int(part.split()[0].replace(",", "")) for part in identity.split(" of ")[1:3])
        assert 0 < scope < usable, identity
        assert "the stored graph folded forward over the " in identity, identity
        golden = _traits_note(report, "golden")  # the people with new rows, not everyone
        assert golden.startswith("incremental: rebuilt "), golden
        rebuilt, people = (int(part.split()[0].replace(",", "")) for part in golden.split("rebuilt ")[1].split(" of "))
        assert 0 < rebuilt < people, golden
        copy = tmp_path / f"full{step}"
        shutil.copytree(root, copy)
        full = Workspace(copy)
        full_report = full.run(as_of=as_of, full=True)
        assert "asked" in _traits_note(full_report)
        assert _traits_note(full_report, "identity") == "recomputed everyone: a full run was asked for (--full)"
        assert _traits_note(full_report, "golden").startswith("rebuilt everyone: a full run was asked for")
        assert _differences(Workspace(root), full) == [], f"increment {step} ({days} days)"
        shutil.rmtree(copy)


def test_a_change_of_settings_or_an_earlier_day_recomputes_everyone(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    workspace = Workspace.init(root, demo=True, customers=60, seed=3)
    as_of = workspace.config.workspace.as_of
    assert as_of is not None
    workspace.run(only="ingest")
    workspace.run(only="identity")
    workspace.run(only="golden")
    assert "no previous traits run" in _traits_note(workspace.run(only="traits"))
    assert (
        _traits_note(workspace.run(only="traits"))
        == "incremental: recomputed 0 of " + (_traits_note(workspace.run(only="traits")).split(" of ")[1])
    )
    assert "went back" in _traits_note(workspace.run(only="traits", as_of=as_of - timedelta(days=3)))
    config = root / "personae.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n[profile]\nwindows = [7, 30, 365]\n", encoding="utf-8")
    assert "settings changed" in _traits_note(Workspace(root).run(only="traits", as_of=as_of))


def test_golden_records_rebuild_only_changed_people_until_the_rules_change(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    workspace = Workspace.init(root, demo=True, customers=60, seed=3)
    for step in ("ingest", "identity"):
        workspace.run(only=step)
    assert "no previous golden run" in _traits_note(workspace.run(only="golden"), "golden")
    before = _rows(workspace, "profiles")
    assert _traits_note(workspace.run(only="golden"), "golden").startswith("incremental: rebuilt 0 of ")
    assert _rows(workspace, "profiles") == before
    with workspace.engine(write=True) as store:  # a row lost outside a run comes back
        store.delete_where("profiles", f"uid = {before[0]['uid']!r}")
    assert _traits_note(workspace.run(only="golden"), "golden").startswith("incremental: rebuilt 1 of ")
    assert _rows(workspace, "profiles") == before
    with workspace.engine(write=True) as store:  # a customer record changes: its person's row follows
        record = store.fetch_rows("SELECT source, record_id FROM customer_records ORDER BY ALL LIMIT 1")[0]
        store.execute(
            "UPDATE customer_records SET city = 'Xville', updated_at = TIMESTAMP '2099-01-01' "
            f"WHERE source = {record[0]!r} AND record_id = {record[1]!r}"
        )
        [(uid,)] = store.fetch_rows(
            f"SELECT uid FROM record_map WHERE source = {record[0]!r} AND record_id = {record[1]!r}"
        )
    assert _traits_note(workspace.run(only="golden"), "golden").startswith("incremental: rebuilt 1 of ")
    changed = _rows(workspace, "profiles")
    assert [row["city"] for row in changed if row["uid"] == uid] == ["Xville"]
    assert [row for row in changed if row["uid"] != uid] == [row for row in before if row["uid"] != uid]
    workspace.run(only="golden", full=True)
    assert _rows(workspace, "profiles") == changed
    config = root / "personae.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + '\n[identity.survivorship]\ncity = "longest"\n', encoding="utf-8"
    )
    note = _traits_note(Workspace(root).run(only="golden"), "golden")
    assert note.startswith("rebuilt everyone: the survivorship settings or personae changed"), note


def test_models_are_kept_until_a_refit_is_due(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    workspace = Workspace.init(root, demo=True, customers=150, seed=4)
    as_of = workspace.config.workspace.as_of
    assert as_of is not None

    def models(report: Any) -> Any:
        return next(step for step in report.steps if step.name == "models").details["models"]

    assert models(Workspace(root).run()).fitted
    config = root / "personae.toml"  # set after the first run: its models are kept all the same
    config.write_text(config.read_text(encoding="utf-8") + "\n[models]\nrefit_every_days = 7\n", encoding="utf-8")
    as_of = append_increment(root, share=0.05, days=3, tag="inc0", seed=1, start=as_of)
    kept = models(Workspace(root).run(as_of=as_of))
    assert kept.fitted == []
    assert kept.reused and all("no refit due" in why for why in kept.reused.values()), kept.reused
    predicted, written = kept.scored["propensity"]  # the people whose features reach the same leaves keep theirs
    assert 0 < predicted < written, kept.scored
    fresh = tmp_path / "fresh"  # the same models predicting everyone give the same scores to the last bit
    shutil.copytree(root, fresh)
    with Workspace(fresh).engine(write=True) as store:
        store.drop_table("model_scores_propensity")
    assert models(Workspace(fresh).run(only="models", as_of=as_of)).scored["propensity"] == (written, written)
    assert _rows(Workspace(fresh), "predictions") == _rows(Workspace(root), "predictions")
    assert models(Workspace(root).run(as_of=as_of, full=True)).fitted  # --full refits the changed inputs
