"""Build small workspaces on disk for tests: files plus a personae.toml."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import tomli_w

from personae import Workspace


def write_workspace(root: Path, sources: list[dict[str, Any]], files: dict[str, str | bytes], **sections: Any) -> Path:
    """Write ``files`` (path relative to ``root`` -> content) and a personae.toml."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    config: dict[str, Any] = {"workspace": {"name": "test"}, **sections, "sources": sources}
    (root / "personae.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    return root


RUN_STAMPS = frozenset({"_loaded_at", "received_at", "loaded_at", "quarantined_at", "found_at"})
"""Columns holding the time of the run, which differs between two runs."""


def file_reports(workspace: Workspace, as_of: date) -> list[tuple[Any, ...]]:
    """Each file's report of an ingest run (which must end without an error), in the run's order."""
    report = workspace.run(as_of=as_of, only="ingest")
    assert report.errors == []
    return [
        (f.source, f.file, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate, f.message)
        for source in report.sources
        for f in source.files
    ]


def ingested(workspace: Workspace, tables: set[str]) -> dict[str, list[dict[str, Any]]]:
    """What ingest wrote to ``tables`` (rows, raw copies, quarantine, issues, ledger), less the run's time stamps."""
    return {
        table: sorted(({k: v for k, v in row.items() if k not in RUN_STAMPS} for row in rows), key=repr)
        for table, rows in snapshot(workspace).items()
        if table in tables
    }


def snapshot(workspace: Workspace, engine: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, sorted, for before/after comparisons."""
    out: dict[str, list[dict[str, Any]]] = {}
    with workspace.engine(write=False, name=engine) as store:
        for table in store.tables():
            rows = store.fetch_arrow(f"SELECT * FROM {table}").to_pylist()
            out[table] = sorted(rows, key=repr)
    return out


POS_SOURCE: dict[str, Any] = {
    "name": "pos",
    "kind": "orders",
    "path": "data/pos/*.csv",
    "columns": {
        "order_id": "receipt",
        "ts": "sold_at",
        "amount": "total",
        "channel": "'store'",
        "promo": "promo",
    },
    "identifiers": {"loyalty_id": "card", "email": "email", "phone": "phone"},
}

POS_CSV = """receipt,sold_at,total,card,email,phone,promo
R1,2024-01-05 10:00:00,12.50,C1, Jane@Example.com ,(555) 123-4567,yes
R2,2024-01-06 11:30:00,99.99,C2,bob@example.org,555.987.6543,no
R3,2024-02-01T09:15:00Z,5.00,C1,,+44 20 7946 0958,
R4,2024-02-02,7,,not-an-email,123,false
"""

WEB_SOURCE: dict[str, Any] = {"name": "web", "kind": "events", "path": "data/web/*.jsonl"}

WEB_JSONL = (
    "\n".join(
        [
            '{"messageId":"m1","type":"page","name":"Home","anonymousId":"a1","timestamp":"2024-01-05T09:00:00Z"}',
            '{"messageId":"m2","type":"identify","anonymousId":"a1","userId":"u1",'
            '"traits":{"email":"Jane@Example.com"},"timestamp":"2024-01-05T09:01:00.500Z"}',
            '{"messageId":"m3","type":"track","event":"Product Viewed","userId":"u1",'
            '"properties":{"category":"kitchen","product_id":"p9","price":19.5},"timestamp":"2024-01-05T09:02:00Z"}',
        ]
    )
    + "\n"
)

CRM_SOURCE: dict[str, Any] = {
    "name": "crm",
    "kind": "customers",
    "path": "data/crm.csv",
    "columns": {"record_id": "id", "birth_date": "dob", "first_name": "first", "last_name": "last"},
    "identifiers": {"crm_id": "id", "email": "mail", "member_no": "member"},
    "formats": {"birth_date": "%d/%m/%Y"},
}

CRM_IDENTITY: dict[str, Any] = {"custom_types": ["member_no"]}
"""The ``[identity]`` section a workspace with :data:`CRM_SOURCE` needs: it maps the type of its own ``member_no``."""

CRM_CSV = """id,first,last,dob,mail,member,vip
K1,Jane,Doe,03/04/1980,jane@example.com,M-1,yes
K2,Bob,Smith,31/12/1975,,M-2,no
K3,Ann,Lee,1990-13-01,ann@example.com,,no
"""

PEOPLE_SOURCE: dict[str, Any] = {
    "name": "people",
    "kind": "customers",
    "path": "data/people.csv",
    "columns": {
        "record_id": "id",
        "first_name": "nullif(coalesce(middle, \"Given Name\"), '')",
        "last_name": "upper(replace(last, 'e', '3'))",
        "street": "left(address_1, 3) || '/' || right(address_1, 4) || substr(address_1, 2, 2)",
        "city": "concat(street_number, '-', rtrim(ltrim(\"Given Name\")))",
        "postcode": "rpad(street_number, 4, 'x')",
        "birth_date": "strptime(concat_ws('-', y, m, d), '%Y-%m-%d')",
        "updated_at": "strptime(y || m || d, '%Y%m%d')",
        "email_opens": '"Amount (EUR)"',
    },
    "identifiers": {"email": "mail"},
}
"""A ``customers`` source whose columns are computed with every function a mapping may call."""

PEOPLE_CSV = (
    "id,Given Name,middle,last,street_number,address_1,y,m,d,Amount (EUR),mail\n"
    "K1, Jane ,Ann,Doe,12,High Street,1980,04,03,10,jane@mail.test\n"
    "K2,Bob,,Smith,,Low Road,1975,12,31,20,bob@mail.test\n"
    "K3,Eve,Marie,Lee,7,Mill Lane,1990,02,31,30,eve@mail.test\n"  # 31 February: NULL, a field issue
)
