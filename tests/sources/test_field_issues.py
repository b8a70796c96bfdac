"""Keep every record: only what a row cannot exist without quarantines it; any other value that
does not parse loads as NULL and is reported in ``field_issues`` (issue 17, part 1).

Run as a user would: ``personae init``, a personae.toml, ``personae run`` and ``personae status``.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from typer.testing import CliRunner

from personae import Workspace
from personae.cli.app import app

runner = CliRunner()

SOURCES: list[dict[str, Any]] = [
    {
        "name": "pos",
        "kind": "orders",
        "path": "data/pos.csv",
        "columns": {"order_id": "receipt", "ts": "sold_at", "amount": "total", "promo": "promo"},
        "identifiers": {"email": "email"},
    },
    {
        "name": "lines",
        "kind": "order_items",
        "path": "data/lines.csv",
        "columns": {"order_id": "receipt", "product_id": "sku", "amount": "total", "quantity": "qty", "ts": "at"},
    },
    {"name": "web", "kind": "events", "path": "data/web.jsonl", "columns": {"amount": "properties.revenue"}},
    {
        "name": "crm",
        "kind": "customers",
        "path": "data/crm.csv",
        "columns": {"record_id": "id", "birth_date": "dob", "email_opens": "opens", "updated_at": "changed"},
        "identifiers": {"email": "mail"},
    },
    {"name": "poll", "kind": "survey", "path": "data/poll.csv", "columns": {"record_id": "id", "ts": "answered"}},
    {"name": "lists", "kind": "memberships", "path": "data/lists.csv", "identifiers": {"email": "email"}},
]
FILES = {
    "data/pos.csv": (
        "receipt,sold_at,total,promo,email\n"
        "R1,2024-01-05 10:00:00,12.50,maybe,jane@mail.test\n"  # a bad optional flag: loads, promo NULL
        "R2,2024-01-06 10:00:00,lots,yes,bob@mail.test\n"  # no amount: an order cannot exist without one
        ",2024-01-07 10:00:00,3.00,no,ann@mail.test\n"  # no id
    ),
    "data/lines.csv": (
        "receipt,sku,total,qty,at\n"
        "R1,P1,12.50,two,soon\n"  # a bad quantity and time: the line loads
        "R1,,1.00,1,2024-01-05\n"  # no product
    ),
    "data/web.jsonl": (
        '{"messageId":"m1","type":"track","event":"Paid","userId":"u1","timestamp":"2024-01-05T10:00:00Z",'
        '"properties":{"revenue":"lots"}}\n'
        '{"messageId":"m2","type":"track","event":"Paid","userId":"u1","timestamp":"whenever"}\n'  # no time
    ),
    "data/crm.csv": (
        "id,dob,opens,changed,mail\n"
        "K1,19450493,3,2024-01-01,jane@mail.test\n"
        "K2,0000-00-00,many,2024-01-02,bob@mail.test\n"
        "K3,31/02/1990,4,last week,ann@mail.test\n"
        "K4,1990-02-28,5,2024-01-03,dan@mail.test\n"
        ",1990-02-28,5,2024-01-03,eve@mail.test\n"  # no record id
    ),
    "data/poll.csv": "id,answered,segment\nP1,2024-01-05,thrifty\nP2,someday,lavish\n",
    "data/lists.csv": (
        "email,segment,member,ts\n"
        "jane@mail.test,VIP,true,later\n"  # a bad time: loads, its time the load's
        "bob@mail.test,VIP,maybe,2024-01-05\n"  # a bad member flag would add or remove someone: quarantined
    ),
}
EXPECTED_ISSUES = [
    ("crm", 1, "birth_date", "dob", "19450493", "not a date"),
    ("crm", 2, "birth_date", "dob", "0000-00-00", "not a date"),
    ("crm", 2, "email_opens", "opens", "many", "not a whole number"),
    ("crm", 3, "birth_date", "dob", "31/02/1990", "not a date"),
    ("crm", 3, "updated_at", "changed", "last week", "not a timestamp"),
    ("lines", 1, "quantity", "qty", "two", "not a whole number"),
    ("lines", 1, "ts", "at", "soon", "not a timestamp"),
    ("lists", 1, "ts", "ts", "later", "not a timestamp"),
    ("pos", 1, "promo", "promo", "maybe", "not true or false"),
    ("web", 1, "amount", "properties.revenue", "lots", "not an amount"),
]
EXPECTED_QUARANTINE = [
    ("crm", 5, "missing record_id (column 'id')"),
    ("lines", 2, "missing product_id (column 'sku')"),
    ("lists", 2, "member (column 'member'): 'maybe' is not true or false"),
    ("poll", 2, "ts (column 'answered'): 'someday' is not a timestamp"),
    ("pos", 2, "amount (column 'total'): 'lots' is not an amount"),
    ("pos", 3, "missing order_id (column 'receipt')"),
    ("web", 2, "ts (column 'ts'): 'whenever' is not a timestamp"),
]


def _user_workspace(root: Path) -> Path:
    """``personae init``, then the user's files and sources in personae.toml."""
    created = runner.invoke(app, ["init", str(root)])
    assert created.exit_code == 0, created.output
    for relative, text in FILES.items():
        (root / relative).write_text(text, encoding="utf-8")
    config = {
        "workspace": {"name": "shop", "as_of": date(2024, 3, 1)},
        "sources": SOURCES,
        "segmentations": [{"name": "crm_lists", "kind": "imported", "source": "lists"}],
    }
    (root / "personae.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = _user_workspace(tmp_path_factory.mktemp("fields") / "shop")
    ran = runner.invoke(app, ["run", "-w", str(root), "--only", "ingest"])
    assert ran.exit_code == 0, ran.output
    return Workspace(root)


def test_only_rows_missing_what_they_cannot_exist_without_are_quarantined(ingested: Workspace) -> None:
    rows = ingested.sql("SELECT source, row, reason FROM quarantine ORDER BY source, row").to_pylist()
    assert [(row["source"], row["row"], row["reason"]) for row in rows] == EXPECTED_QUARANTINE


def test_bad_optional_values_of_every_kind_load_as_null_with_a_field_issue(ingested: Workspace) -> None:
    issues = ingested.sql(
        "SELECT source, row, field, source_column, value, reason, file FROM field_issues ORDER BY source, row, field"
    ).to_pylist()
    assert [tuple(issue.values())[:6] for issue in issues] == EXPECTED_ISSUES
    assert {issue["file"] for issue in issues if issue["source"] == "crm"} == {"data/crm.csv"}
    people = ingested.sql(
        "SELECT record_id, birth_date, email_opens, updated_at, email FROM customer_records ORDER BY record_id"
    ).to_pylist()
    assert [(p["record_id"], p["birth_date"], p["email_opens"]) for p in people] == [
        ("K1", None, 3),
        ("K2", None, None),
        ("K3", None, 4),
        ("K4", date(1990, 2, 28), 5),
    ]
    assert [p["email"] for p in people] == ["jane@mail.test", "bob@mail.test", "ann@mail.test", "dan@mail.test"]
    assert people[2]["updated_at"] is None
    events = ingested.sql("SELECT event_id, amount, promo, quantity, ts FROM events ORDER BY event_id").to_pylist()
    by_id = {event["event_id"]: event for event in events}
    assert sorted(by_id) == ["lines:R1:1", "m1", "pos:R1"]
    assert by_id["pos:R1"]["promo"] is None and by_id["m1"]["amount"] is None
    assert by_id["lines:R1:1"]["quantity"] == 1  # a quantity that does not parse counts as the default, 1
    assert by_id["lines:R1:1"]["ts"] is None
    memberships = ingested.sql("SELECT segment, member, ts FROM imported_memberships").to_pylist()
    assert [(m["segment"], m["member"]) for m in memberships] == [("VIP", True)]
    assert memberships[0]["ts"] is None


def test_the_raw_copy_keeps_the_values_that_did_not_parse(ingested: Workspace) -> None:
    raw = ingested.sql("SELECT id, dob, opens FROM raw_crm ORDER BY _row").to_pylist()
    assert [row["dob"] for row in raw] == ["19450493", "0000-00-00", "31/02/1990", "1990-02-28", "1990-02-28"]
    assert raw[1]["opens"] == "many"


def test_status_counts_field_issues_per_source(ingested: Workspace) -> None:
    shown = runner.invoke(app, ["status", "-w", str(ingested.root), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    sources = {source["name"]: source for source in json.loads(shown.stdout)["sources"]}
    counted = {name: (source["quarantined"], source["field_issues"]) for name, source in sources.items()}
    assert counted == {"pos": (2, 1), "lines": (1, 2), "web": (1, 1), "crm": (1, 5), "poll": (1, 0), "lists": (1, 1)}
    table = runner.invoke(app, ["status", "-w", str(ingested.root)])
    crm = next(line for line in table.output.splitlines() if "│ crm" in line)
    assert [cell.strip() for cell in crm.split("│")[1:7]] == ["crm", "customers", "1", "4", "1", "5"]


def test_a_corrected_file_replaces_its_issues(tmp_path: Path) -> None:
    root = _user_workspace(tmp_path / "shop")
    assert runner.invoke(app, ["run", "-w", str(root), "--only", "ingest"]).exit_code == 0
    fixed = FILES["data/crm.csv"].replace("19450493", "19450403").replace("many", "7")
    (root / "data/crm.csv").write_text(fixed, encoding="utf-8")
    assert runner.invoke(app, ["run", "-w", str(root), "--only", "ingest"]).exit_code == 0
    workspace = Workspace(root)
    issues = workspace.sql("SELECT row, field, value FROM field_issues WHERE source = 'crm' ORDER BY row, field")
    assert issues.to_pylist() == [
        {"row": 1, "field": "birth_date", "value": "19450403"},  # not ISO: still no date, still reported
        {"row": 2, "field": "birth_date", "value": "0000-00-00"},
        {"row": 3, "field": "birth_date", "value": "31/02/1990"},
        {"row": 3, "field": "updated_at", "value": "last week"},
    ]
    assert workspace.sql("SELECT email_opens FROM customer_records WHERE record_id = 'K2'").to_pylist() == [
        {"email_opens": 7}
    ]


@pytest.mark.spark
def test_both_engines_load_and_report_the_same(tmp_path: Path) -> None:
    found = {}
    for engine in ("duckdb", "spark"):
        root = _user_workspace(tmp_path / engine)
        ran = runner.invoke(app, ["run", "-w", str(root), "--only", "ingest", "--engine", engine])
        assert ran.exit_code == 0, ran.output
        with Workspace(root).engine(write=False, name=engine) as store:
            found[engine] = {
                table: sorted(store.fetch_arrow(f"SELECT {columns} FROM {table}").to_pylist(), key=repr)
                for table, columns in (
                    ("field_issues", "source, file, row, field, source_column, value, reason"),
                    ("quarantine", "source, file, row, reason"),
                    ("customer_records", "record_id, birth_date, email_opens, updated_at"),
                )
            }
    assert len(found["duckdb"]["field_issues"]) == len(EXPECTED_ISSUES)
    assert found["spark"] == found["duckdb"]
