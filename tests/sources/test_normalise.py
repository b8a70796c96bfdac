"""Identifier normalisation SQL gives the expected values on every engine."""

from __future__ import annotations

import pyarrow as pa
import pytest

from personae.engine import Engine
from personae.errors import ConfigError
from personae.sources.normalise import country_code, email_sql, phone_sql

PHONES = [
    ("(555) 123-4567", "+15551234567"),
    ("555.123.4567", "+15551234567"),
    ("+1 555 123 4567", "+15551234567"),
    ("1-555-123-4567", "+15551234567"),
    ("0044 20 7946 0958", "+442079460958"),
    ("+44 (0)20 7946 0958", "+442079460958"),
    ("123", None),
    ("0000000000", None),
    ("+1111111111", None),
    ("", None),
    (None, None),
]
EMAILS = [
    (" Jane.Doe@Example.COM ", "jane.doe@example.com"),
    ("a@b.co", "a@b.co"),
    ("bad@", None),
    ("no-at-sign", None),
    ("two@@example.com", None),
    ("", None),
]


def _apply(engine: Engine, expression: str, values: list[str | None]) -> list[str | None]:
    table = pa.table({"i": list(range(len(values))), "v": pa.array(values, pa.string())})
    engine.register_arrow("inputs", table)
    rows = engine.fetch_rows(f"SELECT i, {expression} AS out FROM inputs ORDER BY i")
    return [row[1] for row in rows]


def test_phone_to_e164(engine: Engine) -> None:
    got = _apply(engine, phone_sql("v", "US"), [raw for raw, _ in PHONES])
    assert got == [expected for _, expected in PHONES]


def test_phone_national_number_takes_the_region_code(engine: Engine) -> None:
    assert _apply(engine, phone_sql("v", "GB"), ["020 7946 0958", "07700 900123"]) == [
        "+442079460958",
        "+447700900123",
    ]


def test_email_lower_cased_trimmed_and_checked(engine: Engine) -> None:
    got = _apply(engine, email_sql("v"), [raw for raw, _ in EMAILS])
    assert got == [expected for _, expected in EMAILS]


def test_unknown_region_names_the_region() -> None:
    with pytest.raises(ConfigError, match="'XX' is not an ISO 3166 region"):
        country_code("XX")
