"""The live index's Python twins equal the SQL batch runs: normalisation (``sources/normalise.py``),
blocked values (``graph.blocked_sql``) and stable UIDs (``uids.assignment_sql``, ``changes_sql``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personae.engine import DuckDBEngine, Engine
from personae.identity.graph import blocked_sql
from personae.identity.live_normalise import Blocker, lower, normalise, trim
from personae.identity.specs import IdentitySettings
from personae.identity.uids import Member, assign, assignment_sql, changes_sql
from personae.sources.normalise import identifier_sql

REGIONS = ("US", "GB", "DE", "FR", "JP")
TRICKY = list(" \t\n\r\x0b\x0c\u00a0\u2003\u3000\u200b+()-./@_0123456789aAzZ\u0130\u03a3\u03c3\u00df\u00e9\u0663")
VALUES = st.one_of(
    st.text(st.sampled_from(TRICKY), max_size=24),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=16),
    st.from_regex(r"\A ?[a-zA-Z0-9.]{1,6}@[a-zA-Z0-9]{1,5}\.[a-zA-Z]{1,4} ?\Z"),
    st.from_regex(r"\A(\+|00)?[0-9 ().-]{6,18}\Z"),
)
BLOCKING = IdentitySettings(
    blocked=("junk@shop.io", "\u0130stanbul", "ΟΔΟΣ"),
    blocked_patterns=(
        *IdentitySettings().blocked_patterns,
        "^[[:digit:]]{6,}$",
        r"\pN\pL",
        "^.$",
        r"^\s+$",
    ),
)


@pytest.fixture(scope="module")
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_trim_and_lower_equal_duckdb_on_every_code_point(duck: duckdb.DuckDBPyConnection) -> None:
    chars = [chr(code) for code in range(1, 0x110000) if not 0xD800 <= code < 0xE000]
    padded = [f"{char}x{char}" for char in chars]
    lowered, trimmed = duck.execute(
        "SELECT list_transform($1, lambda c: lower(c)), list_transform($2, lambda p: trim(p))", [chars, padded]
    ).fetchone()  # type: ignore[misc]
    assert [char for char, low in zip(chars, lowered, strict=True) if lower(char) != low] == []
    assert [char for char, cut in zip(padded, trimmed, strict=True) if trim(char) != cut] == []
    words = ["ΟΔΟΣ", "\u0130STANBUL", "Straße"]  # final sigma, dotted capital I: per code point in DuckDB
    assert [lower(word) for word in words] == duck.execute(
        "SELECT list_transform($1, lambda w: lower(w))", [words]
    ).fetchone()[0]  # type: ignore[index]


@settings(max_examples=80, deadline=None)
@given(values=st.lists(VALUES, min_size=1, max_size=30))
def test_identifiers_normalise_as_ingest_does(duck: duckdb.DuckDBPyConnection, values: list[str]) -> None:
    cases = [("email", "US"), ("user_id", "US"), *(("phone", region) for region in REGIONS)]
    columns = ", ".join(
        f"list_transform($1, lambda v: {identifier_sql(id_type, 'v', region)})" for id_type, region in cases
    )
    expected = duck.execute(f"SELECT {columns}", [values]).fetchone()
    assert expected is not None
    for (id_type, region), column in zip(cases, expected, strict=True):
        assert [normalise(id_type, value, region) for value in values] == column, (id_type, region)


@settings(max_examples=50, deadline=None)
@given(values=st.lists(VALUES, min_size=2, max_size=30))
def test_values_order_as_batch_numbers_them(duck: duckdb.DuckDBPyConnection, values: list[str]) -> None:
    """Batch numbers nodes ``ORDER BY id_type, id_value``; live orders (type, value) in Python
    (which link a limit cuts first, which identifier is the oldest on a tie)."""
    ordered = duck.execute("SELECT list(v ORDER BY v) FROM unnest($1) AS t(v)", [values]).fetchone()
    assert ordered is not None and sorted(values) == ordered[0]


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            VALUES, st.sampled_from(["NULL", "n/a", " test@x.io", "JUNK@SHOP.IO", "ıstanbul", "οδοσ", "a1", "1a", "٣a"])
        ),
        min_size=1,
        max_size=25,
    )
)
def test_blocked_values_are_the_ones_batch_blocks(duck: duckdb.DuckDBPyConnection, values: list[str]) -> None:
    expected = duck.execute(f"SELECT list_transform($1, lambda v: {blocked_sql(BLOCKING, 'v')})", [values]).fetchone()
    assert expected is not None
    assert Blocker(BLOCKING).blocked(values) == expected[0]


@st.composite
def resolutions(draw: st.DrawFn) -> tuple[list[tuple[str, str, int, str | None, int]], list[tuple[str, str, str]]]:
    """Identifiers (type, value, first seen, old UID, part) and previous rows of identifiers gone."""
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(["email", "phone", "user_id"]), st.sampled_from("abcdef")),
            min_size=1,
            max_size=8,
            unique=True,
        )
    )
    olds = st.sampled_from([None, "pA", "pB", "pC", "pD"])
    nodes = [(t, v, draw(st.integers(0, 3)), draw(olds), draw(st.integers(0, 3))) for t, v in keys]
    gone = draw(
        st.lists(
            st.tuples(st.just("anonymous_id"), st.sampled_from("xyz"), st.sampled_from(["pA", "pE"])),
            unique_by=lambda g: g[1],
            max_size=2,
        )
    )
    return nodes, gone


@pytest.fixture(scope="module")
def store() -> Iterator[Engine]:
    engine = DuckDBEngine(None)
    yield engine
    engine.close()


@settings(max_examples=100, deadline=None)
@given(case=resolutions())
def test_assign_equals_the_batch_sql(
    store: Engine, case: tuple[list[tuple[str, str, int, str | None, int]], list[tuple[str, str, str]]]
) -> None:
    nodes, gone = case
    ordered = sorted(nodes)  # batch node numbers follow type and value
    start = datetime(2024, 1, 1)
    store.register_arrow(
        "_n",
        pa.table(
            {
                "node": list(range(len(ordered))),
                "id_type": [n[0] for n in ordered],
                "id_value": [n[1] for n in ordered],
                "first_seen": [start + timedelta(days=n[2]) for n in ordered],
            }
        ),
    )
    store.register_arrow("_l", pa.table({"node": list(range(len(ordered))), "component": [n[4] for n in ordered]}))
    previous = [(t, v, uid) for t, v, _, uid, _ in ordered if uid is not None] + gone
    store.register_arrow(
        "_p",
        pa.table(
            {
                "id_type": [p[0] for p in previous],
                "id_value": [p[1] for p in previous],
                "uid": [p[2] for p in previous],
            },
            schema=pa.schema([("id_type", pa.string()), ("id_value", pa.string()), ("uid", pa.string())]),
        ),
    )
    store.materialise("_a", assignment_sql("_n", "_l", "_p", "salt"))
    batch_uids = dict(store.fetch_rows("SELECT component, uid FROM _a"))
    batch_changes = sorted(
        store.fetch_rows(
            f"SELECT old_uid, new_uid, reason FROM ({changes_sql('_n', '_l', '_p', '_a', '2024-06-01 00:00:00')}) AS c"
        ),
        key=repr,
    )
    members = [Member(t, v, seen, uid, part) for t, v, seen, uid, part in nodes]
    uids, changes = assign(members, [uid for _, _, uid in gone], "salt")
    assert uids == batch_uids
    assert sorted(changes, key=repr) == batch_changes
