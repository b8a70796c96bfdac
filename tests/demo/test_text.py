"""The demo's vectorised text and noise agree with what Python would write by hand."""

from __future__ import annotations

import csv
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from personae.demo.noise import PHONE_STYLES, email_variants, phone_text, typos
from personae.demo.text import CsvFile, constant, dates, digits, money, timestamps
from personae.demo.tokens import opaque, unique_numbers, uuids

EPOCH = date(1970, 1, 1)


def test_timestamps_match_python() -> None:
    rng = np.random.default_rng(0)
    seconds = rng.integers(0, 4_000_000_000, size=500)
    millis = rng.integers(0, 1000, size=500)
    plain = timestamps(seconds).to_pylist()
    iso = timestamps(seconds, millis=millis).to_pylist()
    for value, ms, text, zulu in zip(seconds, millis, plain, iso, strict=True):
        moment = datetime.fromtimestamp(int(value), UTC)
        assert text == moment.strftime("%Y-%m-%d %H:%M:%S")
        assert zulu == moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{int(ms):03d}Z"


@pytest.mark.parametrize(("style", "pattern"), [("iso", "%Y-%m-%d"), ("us", "%m/%d/%Y"), ("compact", "%Y%m%d")])
def test_dates_match_python(style: str, pattern: str) -> None:
    days = np.arange(-30_000, 30_000, 97)
    expected = [(EPOCH + timedelta(days=int(d))).strftime(pattern) for d in days]
    assert dates(days, style).to_pylist() == expected


def test_money_digits_and_constants() -> None:
    assert money(np.array([0, 5, 1230, 123456])).to_pylist() == ["0.00", "0.05", "12.30", "1234.56"]
    assert digits(np.array([7, 1234]), 4, "S").to_pylist() == ["S0007", "S1234"]
    assert constant("pos", 3).to_pylist() == ["pos"] * 3


def test_csv_quotes_only_fields_that_need_it(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with CsvFile(path, ["a", "b"]) as out:
        out.write([pa.array(["plain", 'say "hi"', None]), pa.array(["x,y", "z", "w"])])
    assert path.read_text() == 'a,b\nplain,"x,y"\n"say ""hi""",z\n,w\n'
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1:] == [["plain", "x,y"], ['say "hi"', "z"], ["", "w"]]


def test_ids_are_well_formed_and_distinct() -> None:
    rng = np.random.default_rng(1)
    ids = uuids(rng, 2_000).to_pylist()
    assert len(set(ids)) == len(ids)
    shape = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    assert all(re.fullmatch(shape, i) for i in ids)
    tokens = opaque(rng, 100, 15, "R_").to_pylist()
    assert all(re.fullmatch(r"R_[0-9A-Za-z]{15}", t) for t in tokens)
    numbers = unique_numbers(rng, 5_000, 4)
    assert len(set(numbers.tolist())) == 5_000
    assert numbers.min() >= 1_000
    assert numbers.max() <= 9_999
    with pytest.raises(ValueError, match="cannot draw"):
        unique_numbers(rng, 10, 1)


def test_phone_styles_keep_the_digits() -> None:
    numbers = np.array([2125550123] * len(PHONE_STYLES))
    written = phone_text(numbers, np.arange(len(PHONE_STYLES))).to_pylist()
    assert written == list(PHONE_STYLES)
    assert {re.sub(r"\D", "", w)[-10:] for w in written} == {"2125550123"}


def _distance(a: str, b: str) -> int:
    """Levenshtein distance with adjacent transpositions."""
    rows = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[-1][-1]


def test_typos_make_one_or_two_small_edits() -> None:
    rng = np.random.default_rng(2)
    names = pa.array(["Jennifer", "Smith", "Washington", "Lee", None, "Oak"] * 50)
    mask = np.arange(len(names)) % 2 == 0
    typed = typos(rng, names, mask).to_pylist()
    for original, result, damaged in zip(names.to_pylist(), typed, mask, strict=True):
        if original is None or not damaged:
            assert result == original
        else:
            assert result != original
            assert 1 <= _distance(original, result) <= 2
            assert result[0] == original[0]


def test_email_variants_differ_only_in_case_and_spaces() -> None:
    rng = np.random.default_rng(3)
    emails = pa.array(["jane.doe@example.com", None, "bob99@gmail.com"] * 40)
    mask = np.ones(len(emails), dtype=bool)
    varied = email_variants(rng, emails, mask).to_pylist()
    assert varied[1] is None
    changed = [v for v, e in zip(varied, emails.to_pylist(), strict=True) if e and v != e]
    assert len(changed) > 60
    assert all(v.strip().lower() == e for v, e in zip(varied, emails.to_pylist(), strict=True) if e)
