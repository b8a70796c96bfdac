"""Block purging: prediction leaves out a rule's blocks of more than ``max_block_records``
records, so candidate pairs grow linearly, and duplicates are still found by the rules that
block on rarer keys."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import duckdb
import pyarrow as pa
import pytest

from personae.identity.block_purging import equality_terms, purge_big_blocks
from personae.identity.fuzzy import FuzzyMatcher, FuzzySettings
from tests.identity.test_fuzzy import febrl

NAMESAKES = 60
"""John Smiths of Leeds, each born on another day: one block of 60 on names and on city."""
TWINS = 5
"""Of them, this many have a second record (another key, the same values): the duplicates."""


def _namesakes(schema: pa.Schema) -> pa.Table:
    born = date(1960, 1, 1)
    people = [
        {
            "record_key": f"js-{n}",
            "first_name": "john",
            "last_name": "smith",
            "birth_date": born + timedelta(days=97 * n),
            "street": f"{n} mill lane",
            "city": "leeds",
            "postcode": f"ls{n}",
        }
        for n in range(NAMESAKES)
    ]
    twins = [{**person, "record_key": f"twin-{person['record_key']}"} for person in people[:TWINS]]
    rows = [{name: row.get(name) for name in schema.names} for row in people + twins]
    return pa.Table.from_pylist(rows, schema=schema)


def _blocked_pairs(records: pa.Table, rules: list[str]) -> set[tuple[str, str]]:
    """The pairs the rules make, as Splink makes them (each pair once, the smaller key left)."""
    with duckdb.connect() as connection:
        connection.register("records", records)
        found: set[tuple[str, str]] = set()
        for rule in rules:
            join = f"records AS l JOIN records AS r ON ({rule}) AND l.record_key < r.record_key"
            sql = f"SELECT l.record_key, r.record_key FROM {join}"
            found |= {(str(a), str(b)) for a, b in connection.sql(sql).fetchall()}
    return found


@pytest.mark.parametrize(
    ("rule", "terms"),
    [
        ("l.first_name = r.first_name and l.city = r.city", [("first_name", "first_name"), ("city", "city")]),
        (
            "l.first_name = r.last_name and r.first_name = l.last_name",
            [("first_name", "last_name"), ("last_name", "first_name")],
        ),
        ("l.phone = r.phone", [("phone", "phone")]),
        ("l.a = r.a or l.b = r.b", []),
        ("substr(l.a, 1, 2) = substr(r.a, 1, 2)", []),
    ],
)
def test_the_equality_terms_of_a_rule(rule: str, terms: list[tuple[str, str]]) -> None:
    assert equality_terms(rule) == terms


def test_only_the_pairs_of_oversize_blocks_go_and_a_rule_without_any_is_untouched() -> None:
    people = [("ann", "lee", "york")] * 12 + [("bob", "ann", "york")] * 4
    people += [("lee", "ann", f"c{n}") for n in range(11)] + [("cy", "ng", f"d{n}") for n in range(3)]
    records = pa.table(
        {
            "record_key": [f"k{n:02}" for n in range(len(people))],
            "first_name": [first for first, _, _ in people],
            "last_name": [last for _, last, _ in people],
            "city": [city for _, _, city in people],
        }
    )
    rules = [
        "l.first_name = r.first_name and l.city = r.city",  # ann/york: 12 records; bob/york: 4
        "l.first_name = r.last_name and l.last_name = r.first_name",  # ann lee x lee ann: 12 x 11
        "l.last_name = r.last_name and l.city = r.city",  # lee/york: 12; ann/york: 4
        "l.first_name = r.first_name and l.last_name = r.last_name and l.city <> r.city",
    ]
    assert len(_blocked_pairs(records, rules[1:2])) == 12 * 11
    purged = purge_big_blocks(records, rules, max_block_records=10)
    assert purged.purged_blocks == {rules[0]: 1, rules[1]: 2, rules[2]: 1, rules[3]: 2}  # ann lee; lee ann
    assert purged.rules[0] == f"({rules[0]}) and not l.__purged_0"
    bobs = set(itertools.combinations([f"k{n:02}" for n in range(12, 16)], 2))
    assert _blocked_pairs(purged.records, purged.rules[:1]) == bobs
    assert _blocked_pairs(purged.records, purged.rules[1:2]) == set()
    assert _blocked_pairs(purged.records, purged.rules[2:3]) == bobs
    assert purged.records.num_rows == records.num_rows
    wide = purge_big_blocks(records, rules, max_block_records=12)  # 12 x 11 and 12 x 12 are not over 12 x 12
    assert wide.purged_blocks == {} and wide.rules == rules and wide.records.equals(records)


def test_a_matcher_still_links_the_duplicates_in_a_purged_block() -> None:
    columns = ["record_key", "first_name", "last_name", "birth_date", "street", "city", "postcode", "phone"]
    base = febrl("febrl1").select(columns)
    records = pa.concat_tables([base, _namesakes(base.schema)])
    names = "l.first_name = r.first_name and l.last_name = r.last_name"
    assert purge_big_blocks(records, [names], 10).purged_blocks == {names: 1}  # the John Smiths
    matcher = FuzzyMatcher().fit(base)
    links = {}
    for cap in (10, 1_000):
        matcher.settings = FuzzySettings(max_block_records=cap)
        pairs = matcher.predict(records)
        links[cap] = set(zip(pairs["record_key_l"].to_pylist(), pairs["record_key_r"].to_pylist(), strict=True))
    twins = {(f"js-{n}", f"twin-js-{n}") for n in range(TWINS)}
    assert twins <= links[10] and twins <= links[1_000]
    assert links[10] <= links[1_000]  # purging removes candidates; it never scores a pair differently


def test_a_cap_too_small_to_find_duplicates_is_refused() -> None:
    with pytest.raises(ValueError, match="max_block_records 5 would leave out"):
        FuzzySettings(max_block_records=5)
