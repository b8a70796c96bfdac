"""Files of an events-table source are inserted guarded, without counting their problems first,
and the store ends exactly as the counted load leaves it: the same rows, quarantine, issues,
ledger and reports, whatever is wrong with the files and wherever it sits."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from personae import Workspace
from personae.sources import grouped, loading
from tests.workspaces import POS_SOURCE, file_reports, ingested, write_workspace

AS_OF = date(2024, 3, 1)
INGESTED = {"events", "quarantine", "identifier_issues", "field_issues", "loaded_files", "raw_pos", "raw_shop"}
SHOP_SOURCE: dict[str, Any] = {**POS_SOURCE, "name": "shop", "path": "data/shop/*.parquet"}
HEADER = "receipt,sold_at,total,card,email,phone,promo"
DEFECTS = ("amount", "ts", "email", "promo", "repeat", "stored")
"""What a file's row can have wrong: quarantined (amount, ts), reported and loaded (email,
promo), a key repeated within the file, an id stored by an earlier file."""


def _row(receipt: str, defect: str | None, repeated: str, stored: str) -> str:
    total = "abc" if defect == "amount" else "12.50"
    sold_at = "" if defect == "ts" else "2024-01-05 10:00:00"
    email = "not-an-email" if defect == "email" else f"{receipt.lower()}@example.com"
    promo = "maybe" if defect == "promo" else "yes"
    key = repeated if defect == "repeat" else stored if defect == "stored" else receipt
    return f"{key},{sold_at},{total},C{receipt},{email},,{promo}"


def _file(rng: random.Random, name: str, stored: str) -> str:
    """A file of 40 rows: clean, or with one or two defects at random rows."""
    defects = {rng.randrange(1, 40): rng.choice(DEFECTS) for _ in range(rng.choice((0, 0, 1, 2)))}
    lines = [_row(f"{name}-{i}", defects.get(i), f"{name}-0", stored) for i in range(40)]
    return "\n".join([HEADER, *lines]) + "\n"


def _batches(seed: int) -> list[dict[str, str]]:
    """Two runs' files for the pos (CSV) and shop (Parquet) sources; a stored id is one of the first run's."""
    rng = random.Random(seed)
    batches: list[dict[str, str]] = []
    for run in range(2):
        files = {}
        for source, suffix in (("pos", "csv"), ("shop", "parquet")):
            for index in range(3):
                files[f"data/{source}/{run}-{index}.{suffix}"] = _file(rng, f"{source}{run}{index}", f"{source}00-5")
        batches.append(files)
    return batches


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":  # text columns, so that a value can fail to parse
            text = path.with_suffix(".txt")
            text.write_text(content, encoding="utf-8")
            duckdb.execute(f"COPY (SELECT * FROM read_csv('{text}', all_varchar = true)) TO '{path}' (FORMAT parquet)")
            text.unlink()
        else:
            path.write_text(content, encoding="utf-8")


def _run(workspace: Workspace) -> list[tuple[Any, ...]]:
    return file_reports(workspace, AS_OF)


def _stored(workspace: Workspace) -> dict[str, list[dict[str, Any]]]:
    return ingested(workspace, INGESTED)


def _built(monkeypatch: pytest.MonkeyPatch, builder: str, modules: tuple[Any, ...]) -> list[str]:
    """The relations each call of the SQL builder ``builder`` (as ``modules`` import it) was given."""
    relations: list[str] = []
    original = getattr(modules[0], builder)

    def spy(mapped: str, *args: Any) -> str:
        relations.append(mapped)
        return str(original(mapped, *args))

    for module in modules:
        monkeypatch.setattr(module, builder, spy)
    return relations


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The relations whose problems an ingest counted before inserting."""
    return _built(monkeypatch, "problems_sql", (loading, grouped))


def _never_guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    never: Callable[..., bool] = lambda *args: False  # noqa: E731
    monkeypatch.setattr(loading, "guarded_load", never)
    monkeypatch.setattr(grouped, "guarded_load", never)


@pytest.mark.parametrize("group_rows", [grouped.GROUP_ROWS, 0], ids=["grouped", "one-by-one"])
@pytest.mark.parametrize("seed", range(5))
def test_guarded_loads_end_as_counted_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counts: list[str], seed: int, group_rows: int
) -> None:
    monkeypatch.setattr(grouped, "GROUP_ROWS", group_rows)
    guarded = Workspace(write_workspace(tmp_path / "guarded", [POS_SOURCE, SHOP_SOURCE], {}))
    counted = Workspace(write_workspace(tmp_path / "counted", [POS_SOURCE, SHOP_SOURCE], {}))
    for files in _batches(seed):
        for workspace in (guarded, counted):
            _write(workspace.root, files)
        del counts[:]
        reports = _run(guarded)
        guarded_counts = len(counts)
        with monkeypatch.context() as always_counted:
            _never_guarded(always_counted)
            assert _run(counted) == reports
        assert _stored(guarded) == _stored(counted)
        assert guarded_counts <= len(counts) - guarded_counts, "a guarded run counts a file at most once"
    assert _stored(guarded)["events"], "rows loaded"


def test_a_clean_file_is_not_counted_and_a_bad_one_is_counted_after_its_guard_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counts: list[str]
) -> None:
    monkeypatch.setattr(grouped, "GROUP_ROWS", 0)  # each file loads alone
    clean = "\n".join([HEADER, *(_row(f"R{i}", None, "", "") for i in range(50))]) + "\n"
    bad_at_end = "\n".join([HEADER, *(_row(f"S{i}", "amount" if i == 49 else None, "", "") for i in range(50))]) + "\n"
    workspace = Workspace(write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/1.csv": clean}))
    assert _run(workspace)[0][4] == 50
    assert counts == [], "a clean file is inserted without counting its problems"

    (workspace.root / "data/pos/2.csv").write_text(bad_at_end)
    (workspace.root / "data/pos/3.csv").write_text(clean.replace("R", "T"))
    reports = {row[1]: row[4:7] for row in _run(workspace)}
    assert reports["data/pos/2.csv"] == (49, 1, 0), "the guard stopped the insert; the counted load kept 49"
    assert reports["data/pos/3.csv"] == (50, 0, 0)
    assert len(counts) == 2, "after a file with a bad row, the source's next file is counted too"
    stored = _stored(workspace)
    assert len(stored["events"]) == 149 and len(stored["quarantine"]) == 1

    del counts[:]
    (workspace.root / "data/pos/4.csv").write_text(clean.replace("R", "U"))
    assert _run(workspace)[-1][4] == 50
    assert counts == ["mapped_pos"], "the last run loaded a file with a bad row: counted first"
    del counts[:]
    (workspace.root / "data/pos/5.csv").write_text(clean.replace("R", "V"))
    assert _run(workspace)[-1][4] == 50
    assert counts == [], "the last run's files were clean: guarded again"


def test_a_file_with_a_bad_row_makes_the_next_run_count_first(tmp_path: Path, counts: list[str]) -> None:
    bad = "\n".join([HEADER, *(_row(f"R{i}", "ts" if i == 3 else None, "", "") for i in range(20))]) + "\n"
    workspace = Workspace(write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/1.csv": bad}))
    _run(workspace)
    assert len(counts) == 1, "counted once, after the guard stopped"
    del counts[:]
    (workspace.root / "data/pos/2.csv").write_text(bad.replace("R", "S"))
    _run(workspace)
    assert len(counts) == 1, "the ledger's last load had a quarantined row: counted first, not guarded twice"


def test_a_file_with_a_reported_email_makes_the_next_run_count_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counts: list[str]
) -> None:
    """A row that loads with its e-mail reported stops the guard too; the ledger does not count
    such rows, so the next run looks at the issues of the last run's files."""
    guarded = _built(monkeypatch, "guarded_rows_sql", (loading,))
    bad = "\n".join([HEADER, *(_row(f"R{i}", "email" if i == 5 else None, "", "") for i in range(20))]) + "\n"
    workspace = Workspace(write_workspace(tmp_path / "ws", [POS_SOURCE], {"data/pos/1.csv": bad}))
    assert _run(workspace)[0][4:7] == (20, 0, 0), "the row loads, its e-mail reported"
    assert (len(guarded), len(counts)) == (1, 1), "guarded, stopped, counted"
    del guarded[:], counts[:]
    (workspace.root / "data/pos/2.csv").write_text(bad.replace("R", "S"))
    _run(workspace)
    assert (len(guarded), len(counts)) == (0, 1), "counted first: the last run's file had an issue"
    assert len(_stored(workspace)["identifier_issues"]) == 2
