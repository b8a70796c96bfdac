"""Computed mappings (issue 17, part 3): a ``columns`` entry that is an expression over the
source's columns, checked when personae.toml is read, run the same on both engines."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tomli_w
from typer.testing import CliRunner

from personae import Workspace
from personae.cli.app import app
from personae.config import parse_config
from personae.errors import ConfigError
from personae.sources.computed import FUNCTIONS, is_computed

runner = CliRunner()

PEOPLE = (
    "id,Given Name,middle,last,street_number,address_1,y,m,d,Amount (EUR),mail\n"
    "K1, Jane ,Ann,Doe,12,High Street,1980,04,03,10,jane@mail.test\n"
    "K2,Bob,,Smith,,Low Road,1975,12,31,20,bob@mail.test\n"
    "K3,Eve,Marie,Lee,7,Mill Lane,1990,02,31,30,eve@mail.test\n"  # 31 February: NULL, a field issue
)
CRM: dict[str, Any] = {
    "name": "crm",
    "kind": "customers",
    "path": "data/people.csv",
    "columns": {
        "record_id": "id",
        "first_name": "trim(concat_ws(' ', \"Given Name\", middle))",
        "last_name": "upper(last)",
        "street": "concat_ws(' ', street_number, address_1)",
        "birth_date": "strptime(concat_ws('-', y, m, d), '%Y-%m-%d')",
        "email_opens": '"Amount (EUR)"',
        "country": "'GB'",
    },
    "identifiers": {"email": "mail"},
}


def _config(columns: dict[str, str]) -> dict[str, Any]:
    return {"workspace": {"name": "t"}, "sources": [{**CRM, "columns": {"record_id": "id", **columns}}]}


def _refusal(columns: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(_config(columns), Path("personae.toml"))
    return str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("conca(first, last)", "unknown function conca(); did you mean concat()?"),
        ("coalesce(first, (select secret from t))", "subqueries are not allowed"),
        ("exists(select 1)", "subqueries are not allowed"),
        ("read_csv('/etc/passwd')", "table function read_csv() is not allowed"),
        ("coalesce(first, read_parquet('x.parquet'))", "table function read_parquet() is not allowed"),
        ("trim(first) -- the first name", "comments ('--' or '/* */') are not allowed in mappings"),
        ("trim(first /* hidden */)", "comments ('--' or '/* */') are not allowed in mappings"),
        ("trim(first); drop table events", "a mapping is one expression: remove the ';'"),
        ("length(first)", "unknown function length();"),
        ("lower(first) + 1", "'lower(first) + 1' is not allowed in a mapping"),
        ("concat_ws(sep, first, last)", "concat_ws's separator must be a string literal"),
        ("strptime(dob, fmt)", "strptime's format must be a string literal"),
        ("substr(first, start)", "substr's start must be a whole-number literal"),
        ("trim(first, 'x')", "trim() takes one value"),
        ("concat(*)", "'*' is not allowed"),
        ("lower('unterminated)", "unterminated string"),
    ],
)
def test_bad_computed_mappings_are_refused_when_the_config_is_read(value: str, expected: str) -> None:
    message = _refusal({"first_name": value})
    assert f"source 'crm': columns.first_name = {value!r}: " in message
    assert expected in message


def test_a_column_name_with_parentheses_is_told_to_be_quoted() -> None:
    message = _refusal({"email_opens": "Amount (EUR)"})
    assert "unknown function amount()" in message
    assert "if 'Amount (EUR)' is a column name, write it in double quotes: '\"Amount (EUR)\"'" in message


def test_plain_names_constants_and_quoted_names_are_not_expressions() -> None:
    assert not any(is_computed(value) for value in ("first name", "properties.coupon", "'store'", '"Total (EUR)"'))
    assert all(
        is_computed(value) for value in ("lower(a)", "a || b", "(select 1)", "a -- b", "a; b", "'a' || b || 'c'")
    )
    assert {"concat_ws", "trim", "lower", "substr", "coalesce", "nullif", "strptime"} <= set(FUNCTIONS)


def _user_workspace(root: Path, sources: list[dict[str, Any]], files: dict[str, str]) -> Path:
    created = runner.invoke(app, ["init", str(root)])
    assert created.exit_code == 0, created.output
    for relative, text in files.items():
        (root / relative).write_text(text, encoding="utf-8")
    config = {"workspace": {"name": "shop", "as_of": date(2024, 3, 1)}, "sources": sources}
    (root / "personae.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    return root


def test_computed_mappings_load_end_to_end(tmp_path: Path) -> None:
    root = _user_workspace(tmp_path / "shop", [CRM], {"data/people.csv": PEOPLE})
    ran = runner.invoke(app, ["run", "-w", str(root)])
    assert ran.exit_code == 0, ran.output
    workspace = Workspace(root)
    records = workspace.sql(
        "SELECT record_id, first_name, last_name, street, birth_date, email_opens, country, attributes "
        "FROM customer_records ORDER BY record_id"
    ).to_pylist()
    assert [(r["first_name"], r["last_name"], r["street"]) for r in records] == [
        ("Jane  Ann", "DOE", "12 High Street"),
        ("Bob", "SMITH", "Low Road"),
        ("Eve Marie", "LEE", "7 Mill Lane"),
    ]
    assert [r["birth_date"] for r in records] == [date(1980, 4, 3), date(1975, 12, 31), None]
    assert [r["email_opens"] for r in records] == [10, 20, 30]
    assert {r["country"] for r in records} == {"GB"}
    assert all(r["attributes"] is None or "address_1" not in r["attributes"] for r in records)  # read: not extra
    issues = workspace.sql("SELECT row, field, source_column, value, reason FROM field_issues").to_pylist()
    assert issues == [
        {
            "row": 3,
            "field": "birth_date",
            "source_column": CRM["columns"]["birth_date"],
            "value": "1990-02-31",
            "reason": "not a date",
        }
    ]
    golden = workspace.sql("SELECT street FROM profiles WHERE street IS NOT NULL ORDER BY 1").column(0).to_pylist()
    assert golden == ["12 High Street", "7 Mill Lane", "Low Road"]


def test_a_computed_mapping_reading_a_missing_column_fails_that_file_naming_the_nearest(tmp_path: Path) -> None:
    source = {**CRM, "columns": {"record_id": "id", "street": "concat_ws(' ', street_no, address_1)"}}
    root = _user_workspace(tmp_path / "shop", [source], {"data/people.csv": PEOPLE})
    ran = runner.invoke(app, ["run", "-w", str(root), "--only", "ingest"])
    assert ran.exit_code == 1
    message = " ".join(ran.output.split())
    assert "street = \"concat_ws(' ', street_no, address_1)\" reads 'street_no'" in message
    assert "has no column 'street_no'; did you mean 'street_number'?" in message
    assert Workspace(root).sql("SELECT count(*) AS n FROM customer_records").to_pylist() == [{"n": 0}]


def test_a_refused_mapping_stops_the_cli_before_anything_runs(tmp_path: Path) -> None:
    source = {**CRM, "columns": {"record_id": "id", "street": "concat_ws(' ', (select 1), address_1)"}}
    root = _user_workspace(tmp_path / "shop", [source], {"data/people.csv": PEOPLE})
    ran = subprocess.run(
        [sys.executable, "-m", "personae", "run", "-w", str(root)], capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 2, ran.stderr
    assert "sources.0: source 'crm': columns.street = " in ran.stderr
    assert "subqueries are not allowed" in ran.stderr and "Traceback" not in ran.stderr
    assert not (root / "personae.duckdb").exists()


def test_typed_parquet_columns_are_read_as_their_text(tmp_path: Path) -> None:
    """A Parquet file keeps its types on DuckDB; a computed mapping reads the text the raw copy holds."""
    source = {
        "name": "shop",
        "kind": "customers",
        "path": "data/people.parquet",
        "columns": {"record_id": "id", "street": "concat_ws(' ', number, road)", "postcode": "lpad(zip, 5, '0')"},
    }
    root = _user_workspace(tmp_path / "shop", [source], {})
    table = pa.table(
        {
            "id": ["P1", "P2"],
            "number": pa.array([12, None], pa.int64()),
            "road": ["High St", "Low Rd"],
            "zip": [501, 90210],
        }
    )
    pq.write_table(table, root / "data/people.parquet")
    assert runner.invoke(app, ["run", "-w", str(root), "--only", "ingest"]).exit_code == 0
    rows = Workspace(root).sql("SELECT street, postcode FROM customer_records ORDER BY record_id").to_pylist()
    assert rows == [{"street": "12 High St", "postcode": "00501"}, {"street": "Low Rd", "postcode": "90210"}]


@pytest.mark.spark
def test_both_engines_compute_the_same(tmp_path: Path) -> None:
    functions = {
        "record_id": "id",
        "first_name": "nullif(coalesce(middle, \"Given Name\"), '')",
        "last_name": "lower(replace(last, 'e', 'E'))",
        "street": "left(address_1, 3) || '/' || right(address_1, 4) || substr(address_1, 2, 2)",
        "city": "concat(street_number, '-', rtrim(ltrim(\"Given Name\")))",
        "postcode": "rpad(street_number, 4, 'x')",
        "birth_date": "strptime(concat_ws('-', y, m, d), '%Y-%m-%d')",
        "updated_at": "strptime(y || m || d, '%Y%m%d')",
    }
    found = {}
    for engine in ("duckdb", "spark"):
        root = _user_workspace(tmp_path / engine, [{**CRM, "columns": functions}], {"data/people.csv": PEOPLE})
        ran = runner.invoke(app, ["run", "-w", str(root), "--only", "ingest", "--engine", engine])
        assert ran.exit_code == 0, ran.output
        with Workspace(root).engine(write=False, name=engine) as store:
            found[engine] = (
                store.fetch_arrow(
                    "SELECT record_id, first_name, last_name, street, city, postcode, birth_date, updated_at "
                    "FROM customer_records ORDER BY record_id"
                ).to_pylist(),
                store.fetch_arrow("SELECT row, field, value FROM field_issues ORDER BY row, field").to_pylist(),
            )
    records, issues = found["duckdb"]
    assert [r["street"] for r in records] == ["Hig/reetig", "Low/Roadow", "Mil/Laneil"]
    assert [r["city"] for r in records] == ["12-Jane", "-Bob", "7-Eve"]
    assert [r["birth_date"] for r in records] == [date(1980, 4, 3), date(1975, 12, 31), None]
    assert issues == [
        {"row": 3, "field": "birth_date", "value": "1990-02-31"},
        {"row": 3, "field": "updated_at", "value": "19900231"},
    ]
    assert found["spark"] == found["duckdb"]
