"""Hashed identifiers: published vectors, the SQL equal to the Python on every engine, and a
destination with ``hash_identifiers = true`` that never writes a clear e-mail or phone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from personae import Workspace
from personae.engine import Engine
from personae.privacy.hashing import hashed_email, hashed_phone, hashed_sql
from tests.workspaces import write_workspace

# SHA-256 of "test@example.com": the vector published with hashing guides for customer lists
# (and the doctest of hashed_email); the phone vectors are the hashes of the normalised text.
EMAIL_VECTOR = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_known_vectors() -> None:
    assert hashed_email("test@example.com") == EMAIL_VECTOR
    assert hashed_email("  Test@Example.COM ") == EMAIL_VECTOR  # trimmed and lower-cased first
    assert hashed_email("not an address") is None and hashed_email(None) is None
    assert hashed_phone("+1 (415) 555-0100") == sha("+14155550100")
    assert hashed_phone("(415) 555-0100", "US") == sha("+14155550100")  # national: the region's code
    assert hashed_phone("020 7946 0958", "GB") == sha("+442079460958")
    assert hashed_phone("+1 415 555 0100", phone_format="digits") == sha("14155550100")  # Meta
    assert hashed_phone("12", "US") is None


RAW = [
    "test@example.com",
    "  Jane.Doe@Mail.TEST ",
    "no-at-sign",
    "",
    "+1 (415) 555-0100",
    "(415) 555-0100",
    "0044 20 7946 0958",
    "+44 (0)20 7946 0958",
    "020 7946 0958",
    "1111111111",
    "ÉMILE@exemple.fr",
]


@pytest.mark.parametrize("region", ["US", "GB"])
def test_the_sql_gives_the_python_hash_on_every_engine(engine: Engine, region: str) -> None:
    engine.register_arrow("raw_values", pa.table({"v": RAW}))
    rows = engine.fetch_rows(
        f"SELECT v, {hashed_sql('email', 'v')}, {hashed_sql('phone', 'v', region)}, "
        f"{hashed_sql('phone', 'v', region, 'digits')} FROM raw_values"
    )
    got = {row[0]: tuple(row[1:]) for row in rows}
    expected = {
        value: (hashed_email(value), hashed_phone(value, region), hashed_phone(value, region, "digits"))
        for value in RAW
    }
    assert got == expected
    assert got["test@example.com"][0] == EMAIL_VECTOR


CRM = """id,email,phone,changed
c1, Jane@Mail.test ,(415) 555-0100,2024-01-01 00:00:00
c2,bob@mail.test,+44 20 7946 0958,2024-01-02 00:00:00
"""


def test_a_destination_with_hashed_identifiers_never_writes_them_in_clear(tmp_path: Path) -> None:
    source = {
        "name": "crm",
        "kind": "customers",
        "path": "data/crm.csv",
        "columns": {"record_id": "id", "updated_at": "changed"},
        "identifiers": {"email": "email", "phone": "phone"},
    }
    destination = {
        "name": "ads",
        "kind": "file",
        "path": "out/ads",
        "format": "csv",
        "traits": ["email", "phone", "city"],
        "hash_identifiers": True,
        "phone_format": "digits",
    }
    root = write_workspace(
        tmp_path / "ws",
        [source],
        {"data/crm.csv": CRM},
        workspace={"name": "test", "as_of": "2024-02-01"},
        destinations=[destination],
    )
    Workspace(root).run()
    snapshot = pa_csv.read_csv(root / "out/ads/snapshot/traits.csv").to_pylist()
    assert sorted((row["email"], row["phone"]) for row in snapshot) == sorted(
        [(hashed_email("jane@mail.test"), sha("14155550100")), (hashed_email("bob@mail.test"), sha("442079460958"))]
    )
    written = b"".join(path.read_bytes() for path in (root / "out/ads").rglob("*") if path.is_file())
    for clear in (b"jane@mail.test", b"bob@mail.test", b"4155550100", b"2079460958"):
        assert clear not in written
