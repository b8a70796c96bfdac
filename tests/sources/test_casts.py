"""A typed column is cast from its raw text first and from its trimmed text only where that
fails (:func:`personae.sources.mapping.typed_sql`): the same value as casting the trimmed text
always, for any white space around any value."""

from __future__ import annotations

import itertools
import math
import random

import duckdb
import pytest

from personae.sources.kinds import ColumnType
from personae.sources.mapping import float_money_sql, typed_sql
from personae.sources.normalise import text_sql

VALUES = {
    ColumnType.TIMESTAMP: ["2024-01-05 10:00:00", "2024-01-05", "2024-01-05T10:00:00Z", "2024-01-05 10:00:00+02", "x"],
    ColumnType.DATE: ["2024-01-05", "2024-02-30", "2024-01-05 10:00:00", "20240105"],
    ColumnType.MONEY: ["12.50", "1.005", "-3", "1e3", "99999999999999999", ".5", "1,5", "0x10"],
    ColumnType.INTEGER: ["7", "-7", "7.0", "9223372036854775808", "1e3", "0x10", "1_000"],
}
SPACES = ["", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", " \t "]
TARGETS = {
    ColumnType.TIMESTAMP: "TIMESTAMP",
    ColumnType.DATE: "DATE",
    ColumnType.MONEY: "DECIMAL(18,2)",
    ColumnType.INTEGER: "BIGINT",
}


@pytest.mark.parametrize("column_type", list(VALUES), ids=[t.value for t in VALUES])
def test_casting_the_raw_text_first_gives_the_trimmed_texts_value(column_type: ColumnType) -> None:
    texts = [
        before + value + after
        for value in [*VALUES[column_type], "", "  "]
        for before, after in itertools.product(SPACES, SPACES)
    ]
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t AS SELECT unnest($1) AS raw", [texts])
    cast = typed_sql(column_type, "raw", None)
    trimmed_always = f"TRY_CAST({text_sql('raw')} AS {TARGETS[column_type]})"
    assert cast != trimmed_always, "the mapping casts the raw text first"
    rows = connection.execute(
        f"SELECT raw, {cast} AS first, {trimmed_always} AS trimmed FROM t WHERE first IS DISTINCT FROM trimmed"
    ).fetchall()
    assert rows == []
    parsed = connection.execute(f"SELECT count({cast}) FROM t").fetchall()[0][0]
    assert parsed > len(SPACES) ** 2, "values parse, with white space around them too"


def test_a_float_amount_is_the_value_its_text_parses_to() -> None:
    """The shortcut for a floating-point amount (:func:`~personae.sources.mapping.float_money_sql`)
    against printing and parsing every value, over whole cents, halves of a cent, binary
    near-misses and extremes."""
    rng = random.Random(7)
    values = [1.005, 2.675, -1.005, 0.125, 0.1 + 0.2, 1e13, 1e13 - 0.01, 9_999_999_999_999.99, 1e16, 1e20, -0.0]
    values += [math.nan, math.inf, -math.inf, 5e-324, 0.004999999999999999, 0.005]
    values += [rng.randrange(-(10**9), 10**9) / 100 for _ in range(3000)]  # whole cents
    values += [rng.randrange(-(10**7), 10**7) / 1000 for _ in range(3000)]  # thousandths: halves of a cent
    values += [rng.uniform(-1e6, 1e6) for _ in range(3000)]
    values += [rng.randrange(1, 10**6) / 100 * 10 ** rng.randrange(0, 12) for _ in range(1000)]
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t AS SELECT CAST(unnest($1) AS DOUBLE) AS x", [values])
    as_text = typed_sql(ColumnType.MONEY, "CAST(x AS VARCHAR)", None)
    shortcut = float_money_sql("x", as_text)
    rows = connection.execute(
        f"SELECT x, {shortcut} AS fast, {as_text} AS printed FROM t WHERE fast IS DISTINCT FROM printed"
    ).fetchall()
    assert rows == []
    whole = "abs(x) < 1e13 AND abs(x * 100 - round(x * 100)) < 1e-6"
    taken = connection.execute(f"SELECT count(*) FILTER (WHERE {whole}) FROM t").fetchall()[0][0]
    assert taken > 3000, "whole cents take the shortcut"
