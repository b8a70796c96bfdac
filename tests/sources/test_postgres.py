"""PostgreSQL sources against the real server `make test` starts (PERSONAE_TEST_PG_DSN)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from personae import Workspace
from tests.workspaces import write_workspace

pytestmark = pytest.mark.postgres
DSN = os.environ.get("PERSONAE_TEST_PG_DSN", "")


@pytest.fixture
def table() -> Iterator[str]:
    if not DSN:
        pytest.skip("PERSONAE_TEST_PG_DSN is unset: run through `make test`, which starts PostgreSQL")
    name = f"crm_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE {name} (id text, first text, email text, phone text, dob text, updated timestamp)"
        )
        connection.execute(
            f"INSERT INTO {name} VALUES "
            "('c1', 'Jane', ' JANE@Example.com', '(555) 123-4567', '1980-04-03', '2024-01-01 10:00'),"
            "('c2', 'Bob', NULL, NULL, 'not a date', '2024-01-02 11:00'),"
            "('c3', 'Ann, \"the\" second', 'ann@example.com', NULL, NULL, NULL),"
            "(NULL, 'Nobody', NULL, NULL, NULL, NULL)"
        )
    yield name
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f"DROP TABLE {name}")


def _workspace(tmp_path: Path, table: str) -> Workspace:
    source = {
        "name": "crm",
        "kind": "customers",
        "table": table,
        "dsn_env": "CRM_DSN",
        "columns": {"record_id": "id", "first_name": "first", "birth_date": "dob", "updated_at": "updated"},
        "identifiers": {"crm_id": "id", "email": "email", "phone": "phone"},
    }
    return Workspace(write_workspace(tmp_path / "ws", [source], {}), env={"CRM_DSN": DSN})


def test_table_is_loaded_with_quarantine_and_change_detection(tmp_path: Path, table: str) -> None:
    workspace = _workspace(tmp_path, table)
    report = workspace.run(as_of=date(2024, 3, 1))
    assert report.errors == []
    rows = workspace.sql("SELECT record_id, first_name, email, phone, birth_date FROM customer_records ORDER BY 1")
    assert rows.to_pylist() == [
        {
            "record_id": "c1",
            "first_name": "Jane",
            "email": "jane@example.com",
            "phone": "+15551234567",
            "birth_date": date(1980, 4, 3),
        },
        {"record_id": "c2", "first_name": "Bob", "email": None, "phone": None, "birth_date": None},
        {
            "record_id": "c3",
            "first_name": 'Ann, "the" second',
            "email": "ann@example.com",
            "phone": None,
            "birth_date": None,
        },
    ]
    assert workspace.sql("SELECT file, row, reason FROM quarantine").to_pylist() == [
        {"file": f"postgres:{table}", "row": 4, "reason": "missing record_id (column 'id')"}
    ]
    assert workspace.sql("SELECT file, row, field, value, reason FROM field_issues").to_pylist() == [
        {"file": f"postgres:{table}", "row": 2, "field": "birth_date", "value": "not a date", "reason": "not a date"}
    ]
    unchanged = workspace.run(as_of=date(2024, 3, 1))
    assert [file.status for file in unchanged.sources[0].files] == ["skipped"]
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f"UPDATE {table} SET dob = '1975-12-31' WHERE id = 'c2'")
        connection.execute(f"UPDATE {table} SET id = 'c4' WHERE id IS NULL")
    changed = workspace.run(as_of=date(2024, 3, 1))
    assert [file.status for file in changed.sources[0].files] == ["reloaded"]
    assert workspace.sql("SELECT count(*) AS n FROM customer_records").to_pylist() == [{"n": 4}]
    assert workspace.sql("SELECT birth_date FROM customer_records WHERE record_id = 'c2'").to_pylist() == [
        {"birth_date": date(1975, 12, 31)}
    ]
    assert workspace.sql("SELECT count(*) AS n FROM quarantine").to_pylist() == [{"n": 0}]
    assert workspace.sql("SELECT count(*) AS n FROM field_issues").to_pylist() == [{"n": 0}]


def test_missing_dsn_variable_is_named(tmp_path: Path, table: str) -> None:
    workspace = _workspace(tmp_path, table)
    workspace.env = {}
    report = workspace.run(as_of=date(2024, 3, 1))
    assert "environment variable 'CRM_DSN' (dsn_env) is not set" in report.errors[0]


def test_unknown_table_is_a_clear_error(tmp_path: Path, table: str) -> None:
    workspace = _workspace(tmp_path, table + "_missing")
    report = workspace.run(as_of=date(2024, 3, 1))
    assert "PostgreSQL refused the read" in report.errors[0]
    assert "does not exist" in report.errors[0]
