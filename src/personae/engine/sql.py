"""The SQL toolkit every wing builds its statements with: literals, names, days and windows.

Values never reach SQL by string formatting of their own: each goes through one of these
functions, built with sqlglot in the DuckDB dialect the steps write (other engines get the
statement transpiled, see :mod:`personae.engine.dialects`). A quote inside a value is
doubled, a name is always quoted, so no value can end a literal early.

Time windows follow one convention (DESIGN §2, "time is an argument"): an as-of *day*
includes everything before the first instant of the next day, and a window of ``n`` days
ends with the as-of day and starts at the first instant of its first day.

>>> literal("O'Brien")
"'O''Brien'"
>>> identifier("order")
'"order"'
>>> day_sql(date(2025, 12, 31))
"CAST('2025-12-31' AS DATE)"
>>> since_sql(date(2025, 12, 31), 30)
"CAST('2025-12-02 00:00:00' AS TIMESTAMP)"
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlglot import exp

DIALECT = "duckdb"


def literal(value: str) -> str:
    """A string literal holding ``value`` exactly."""
    return exp.Literal.string(value).sql(DIALECT)


def literals(values: list[str] | tuple[str, ...]) -> str:
    """Comma-separated string literals, for ``IN (...)`` lists."""
    return ", ".join(literal(value) for value in values)


@lru_cache(maxsize=8192)
def identifier(name: str) -> str:
    """A column or table name, always quoted (so keywords and odd characters are safe);
    remembered, as the same few names are quoted in every statement."""
    return exp.to_identifier(name, quoted=True).sql(DIALECT)


def _typed(text: str, type_: str) -> str:
    return exp.cast(exp.Literal.string(text), type_).sql(DIALECT)


def day_sql(day: date) -> str:
    """A DATE literal."""
    return _typed(day.isoformat(), "DATE")


def timestamp_sql(moment: datetime | str) -> str:
    """A TIMESTAMP literal from a datetime or an ISO text (``YYYY-MM-DD HH:MM:SS[.ffffff]``)."""
    text = moment.isoformat(sep=" ") if isinstance(moment, datetime) else moment
    return _typed(text, "TIMESTAMP")


def end_of_sql(as_of: date) -> str:
    """The first instant after the as-of day: events before it count."""
    return timestamp_sql(f"{(as_of + timedelta(days=1)).isoformat()} 00:00:00")


def since_sql(as_of: date, days: int) -> str:
    """The first instant of a window of ``days`` days ending with the as-of day."""
    return timestamp_sql(f"{(as_of - timedelta(days=days - 1)).isoformat()} 00:00:00")


def days_between_sql(earlier: str, later: str) -> str:
    """Whole calendar days from one date or timestamp expression to another."""
    return f"date_diff('day', CAST({earlier} AS DATE), CAST({later} AS DATE))"


def matching_sql(keys: str, table: str, columns: Sequence[str]) -> str:
    """True for a row of ``table`` whose ``columns`` equal those of a row of ``keys`` (a
    ``DELETE``'s condition or a filter)."""
    on = " AND ".join(f"k.{column} = {table}.{column}" for column in columns)
    return f"EXISTS (SELECT 1 FROM {keys} AS k WHERE {on})"
