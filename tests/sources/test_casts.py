"""A typed column is cast from its raw text first and from its trimmed text only where that
fails (:func:`personae.sources.mapping.typed_sql`): the same value as casting the trimmed text
always, for any white space around any value."""

from __future__ import annotations

import itertools

import duckdb
import pytest

from personae.sources.kinds import ColumnType
from personae.sources.mapping import typed_sql
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
