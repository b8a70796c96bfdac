"""Retention per source, as a user sets it: ``personae init``, a personae.toml whose sources
have ``retention = "120d"``, ``personae run``. Afterwards neither the store nor the raw
Parquet copies hold a row older than the cutoff, the run report counts what went per source,
a trait that counted the old orders counts only the recent ones, a file loaded later loses
its old rows in the run that loads it, and a second run deletes nothing more."""

from __future__ import annotations

import json
import random
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import tomli_w

from personae import Workspace
from personae.config import parse_config
from personae.errors import ConfigError
from tests.cli_calls import run_cli

AS_OF = date(2025, 6, 30)
KEEP_DAYS = 120
CUTOFF = datetime(2025, 3, 3)  # 120 days ending with 2025-06-30
PEOPLE = [f"person{n}@shop.example" for n in range(8)]
SOURCES: list[dict[str, Any]] = [
    {
        "name": "pos",
        "kind": "orders",
        "path": "data/pos/*.csv",
        "columns": {"order_id": "receipt", "ts": "sold_at", "amount": "total"},
        "identifiers": {"email": "email"},
    },
    {
        "name": "pos_items",
        "kind": "order_items",
        "orders": "pos",
        "path": "data/items/*.csv",
        "columns": {"order_id": "receipt", "line_id": "line", "product_id": "sku", "amount": "line_total"},
    },
    {"name": "web", "kind": "events", "path": "data/web/*.jsonl"},
    {
        "name": "crm",
        "kind": "customers",
        "path": "data/crm.csv",
        "columns": {"record_id": "id", "updated_at": "changed"},
        "identifiers": {"email": "email"},
    },
]


def _write_data(root: Path, tag: str, rng: random.Random) -> list[tuple[str, datetime, str]]:
    """Orders (with their lines), web events and CRM rows over two years; returns the orders."""
    orders = []
    for person in PEOPLE:
        for number in range(rng.randint(3, 7)):
            moment = datetime(2023, 7, 1) + timedelta(minutes=rng.randint(0, 730 * 24 * 60 - 1))
            orders.append((f"{tag}-{person[:7]}-{number}", moment, person))
    pos = ["receipt,sold_at,total,email"] + [
        f"{r},{t:%Y-%m-%d %H:%M:%S},{rng.randint(5, 90)}.50,{e}" for r, t, e in orders
    ]
    pos.append(f"{tag}-bad,2023-08-01 10:00:00,abc,{PEOPLE[0]}")  # quarantined (an old row)
    pos.append(f"{tag}-nomail,2023-08-02 10:00:00,10.00,not-an-email")  # an identifier issue (an old row)
    items = ["receipt,line,sku,line_total"] + [f"{r},{n},sku{n},{n}.25" for r, _, _ in orders for n in (1, 2)]
    web = [
        json.dumps(
            {
                "messageId": f"{tag}-w{n}",
                "type": "track",
                "event": "Viewed",
                "userId": f"u{n % len(PEOPLE)}",
                "timestamp": (datetime(2023, 7, 1) + timedelta(hours=rng.randint(0, 730 * 24 - 1))).isoformat() + "Z",
            }
        )
        for n in range(60)
    ]
    for folder, name, lines in (("pos", "orders", pos), ("items", "items", items), ("web", "events", web)):
        (root / "data" / folder).mkdir(parents=True, exist_ok=True)
        suffix = "jsonl" if folder == "web" else "csv"
        (root / "data" / folder / f"{name}_{tag}.{suffix}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return orders


def _store(root: Path, query: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = Workspace(root).sql(query).to_pylist()
    return rows


def _orders_trait(root: Path) -> dict[str, int]:
    rows = _store(
        root,
        "SELECT m.id_value AS email, p.orders FROM profiles AS p JOIN identity_map AS m ON m.uid = p.uid "
        "WHERE m.id_type = 'email'",
    )
    return {row["email"]: int(row["orders"]) for row in rows}


def _raw_times(root: Path, source: str, column: str) -> list[datetime]:
    found = []
    for path in sorted((root / "raw" / source).glob("*.parquet")):
        for value in pq.read_table(path).column(column).to_pylist():
            if value is not None and value[:4].isdigit():
                found.append(datetime.fromisoformat(value.replace("Z", "")))
    return found


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], root: Path) -> dict[str, Any]:
    code, out, err = run_cli(monkeypatch, capsys, "run", "-w", str(root), "-f", "json")
    assert code == 0, err
    return {item["source"]: item for item in json.loads(out).get("retention", [])}


def test_retention_deletes_old_rows_everywhere_and_traits_follow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "shop"
    assert run_cli(monkeypatch, capsys, "init", str(root))[0] == 0
    rng = random.Random(15)
    orders = _write_data(root, "a", rng)
    (root / "data" / "crm.csv").write_text(
        "id,email,changed\n"
        + "".join(f"K{n},{email},{'2024-01-15' if n % 2 else '2025-05-01'}\n" for n, email in enumerate(PEOPLE)),
        encoding="utf-8",
    )
    config = tomllib.loads((root / "personae.toml").read_text(encoding="utf-8"))
    config["workspace"]["as_of"] = AS_OF
    config["sources"] = SOURCES
    (root / "personae.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    assert _run(monkeypatch, capsys, root) == {}  # no retention yet: everything kept
    before = _orders_trait(root)
    assert before == {person: sum(1 for _, _, e in orders if e == person) for person in PEOPLE}
    assert _store(root, "SELECT count(*) AS n FROM quarantine WHERE source = 'pos'")[0]["n"] == 1

    for source in config["sources"]:
        source["retention"] = f"{KEEP_DAYS}d"
    (root / "personae.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    went = _run(monkeypatch, capsys, root)
    old_orders = [o for o in orders if o[1] < CUTOFF]
    assert went["pos"]["rows"] == len(old_orders) + 1  # and the order without a valid e-mail
    assert went["pos"]["raw_rows"] == len(old_orders) + 2  # and the quarantined row
    assert went["pos"]["quarantine_rows"] == 1
    assert went["pos_items"]["rows"] == went["pos_items"]["raw_rows"] == 2 * len(old_orders)  # dated by their order
    assert went["crm"]["rows"] == len(PEOPLE) // 2
    assert went["pos"]["cutoff"] == f"{CUTOFF:%Y-%m-%d %H:%M:%S}"

    recent = {person: sum(1 for _, t, e in orders if e == person and t >= CUTOFF) for person in PEOPLE}
    after = _orders_trait(root)
    assert after == {person: count for person, count in recent.items() if count or person in after}
    assert after != before
    for table, column in (("events", "ts"), ("customer_records", "updated_at")):
        oldest = _store(root, f"SELECT min({column}) AS t, count(*) AS n FROM {table}")[0]
        assert oldest["n"] > 0 and oldest["t"] >= CUTOFF
    kept_items = _store(root, "SELECT count(*) AS n FROM events WHERE source = 'pos_items'")[0]["n"]
    assert kept_items == 2 * (len(orders) - len(old_orders))
    assert _store(root, "SELECT count(*) AS n FROM quarantine WHERE source = 'pos'")[0]["n"] == 0
    assert _store(root, "SELECT count(*) AS n FROM identifier_issues")[0]["n"] == 0
    assert min(_raw_times(root, "pos", "sold_at")) >= CUTOFF
    assert min(_raw_times(root, "crm", "changed")) >= CUTOFF
    raw_web = [
        json.loads(line)
        for line in pq.read_table(next((root / "raw/web").glob("*.parquet"))).column("_raw").to_pylist()
    ]
    assert raw_web and min(datetime.fromisoformat(e["timestamp"][:-1]) for e in raw_web) >= CUTOFF
    assert len(_raw_times(root, "pos", "sold_at")) == len(orders) - len(old_orders)
    # the rewritten copies keep each row's place: the store's lineage still finds it
    assert not _store(
        root,
        "SELECT e.order_id FROM events AS e LEFT JOIN raw_pos AS r ON r._file = e._file AND r._row = e._row "
        "WHERE e.source = 'pos' AND (r.receipt IS NULL OR r.receipt <> e.order_id)",
    )

    # a file loaded later loses its old rows in the run that loads it; then nothing more goes
    later = _write_data(root, "b", rng)
    went = _run(monkeypatch, capsys, root)
    assert went["pos"]["rows"] == sum(1 for o in later if o[1] < CUTOFF) + 1
    assert min(_raw_times(root, "pos", "sold_at")) >= CUTOFF
    assert _store(root, "SELECT min(ts) AS t FROM events")[0]["t"] >= CUTOFF
    snapshot = _store(root, "SELECT source, count(*) AS n FROM events GROUP BY 1 ORDER BY 1")
    went = _run(monkeypatch, capsys, root)
    assert {source: item["rows"] + item["raw_rows"] for source, item in went.items()} == dict.fromkeys(went, 0)
    assert _store(root, "SELECT source, count(*) AS n FROM events GROUP BY 1 ORDER BY 1") == snapshot
    loaded = _store(root, "SELECT status, count(*) AS n FROM loaded_files GROUP BY 1")
    assert {row["status"] for row in loaded} == {"loaded"}


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("400", "needs a unit|not a period"),
        ("0d", "a day or more"),
        (400, 'retention = "400d"'),
        ("4 months", r"d \(days\), w \(weeks\)"),
    ],
)
def test_a_bad_retention_is_refused_saying_how_to_write_it(value: Any, said: str) -> None:
    source = {**SOURCES[0], "retention": value}
    with pytest.raises(ConfigError, match=said):
        parse_config({"sources": [source]}, Path("personae.toml"))
    good = parse_config({"sources": [{**SOURCES[0], "retention": "2y"}]}, Path("personae.toml"))
    assert good.sources[0].retention_days == 730
