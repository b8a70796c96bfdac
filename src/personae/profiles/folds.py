"""The Python side of the algebra: what a value reads of a row, whether a row passes a filter,
and each function as a *fold* that takes rows one at a time and merges with other folds.

Folds merge in any order to the same result (sums are exact, ties are broken by the value), so
per-day partial folds can be kept and combined for any as-of day and window, whatever order
the events arrived in. Each follows the SQL of :mod:`personae.profiles.passes`:

- sums are exact (``Fraction``; DECIMAL amounts and integers stay exact, doubles are taken as
  the exact binary value) and converted to the trait's type at the end, as SQL casts the
  DECIMAL sum; a mean is ``float(sum) / count``, the two operations SQL does;
- ``concentration`` is ``float(sum of squares) / (float(n) * n)``, as in SQL;
- ``median`` interpolates ``lo + (hi - lo) * 0.5`` as DuckDB's ``quantile_cont``;
- ``stddev`` is exact up to one square root (DuckDB's streaming algorithm may differ in the
  last bits: agreement is to 1e-9 relative, as for means and sums of doubles);
- a JSON property read as text follows ``json_extract_string``: strings as they are,
  ``true``/``false``, objects and arrays as compact JSON, numbers as Python prints them
  (which is DuckDB's text except for exponent forms such as ``1e+20``); read as a number it
  follows ``TRY_CAST(... AS DOUBLE)`` (NULL when it is not one).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from personae.profiles.algebra import Aggregate, Among, Value, Where
from personae.profiles.formulas import filter_rule, reads_as_of

Row = Mapping[str, Any]


@lru_cache(maxsize=4096)
def _document(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _json_text(item: Any) -> str | None:
    if item is None or isinstance(item, str):
        return item
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, (int, float)):
        return repr(item)
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False)


def _double(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def read(value: Value, row: Row) -> Any:
    """What ``value`` reads of ``row`` (None for NULL)."""
    item = row.get(value.column)
    if item is None:
        return None
    if value.path is not None:
        found = _document(item) if isinstance(item, str) else item
        for key in value.path.split("."):
            found = found.get(key) if isinstance(found, dict) else None
        text = _json_text(found)
        return _double(text) if value.number else text
    if value.part == "month":
        return item.month
    if value.part == "day":
        return item.date() if isinstance(item, datetime) else item
    if value.part == "flag":
        return 1 if item is True else 0
    return item


def reads_the_day(aggregate: Aggregate) -> bool:
    """Whether the aggregate's filter depends on the as-of day (a ``Where`` with ``days_since``)."""
    return any(
        isinstance(condition, Where) and reads_as_of(filter_rule(condition, aggregate.input, aggregate.name))
        for condition in aggregate.filter
    )


def passes(aggregate: Aggregate, row: Row, as_of: date) -> bool:
    """Whether ``row`` meets every condition of the aggregate's filter (not its window)."""
    for condition in aggregate.filter:
        if isinstance(condition, Among):
            if row.get(condition.column) not in condition.values:
                return False
        elif not filter_rule(condition, aggregate.input, aggregate.name).evaluate(row, as_of=as_of):
            return False
    return True


def _exact(number: Any) -> Fraction:
    return Fraction(number) if isinstance(number, (int, float, Decimal, Fraction)) else Fraction(str(number))


class Fold:
    """One aggregate's running state over the rows added to it (and the folds merged into it)."""

    __slots__ = ("aggregate", "best", "count", "items", "seen", "squares", "total")

    def __init__(self, aggregate: Aggregate) -> None:
        self.aggregate = aggregate
        self.count = 0
        self.total = Fraction(0)
        self.squares = Fraction(0)
        self.best: tuple[Any, ...] | None = None
        self.seen: Counter[Any] = Counter()
        self.items: list[Any] = []

    def add(self, row: Row) -> None:
        aggregate = self.aggregate
        function = aggregate.function
        item = read(aggregate.value, row) if aggregate.value is not None else 1
        if item is None:
            return
        if function in ("count", "sum", "avg", "stddev"):
            self.count += 1
            if function != "count":
                exact = _exact(item)
                self.total += exact
                self.squares += exact * exact
        elif function in ("min", "max"):
            self._keep((item,))
        elif function in ("first", "last"):
            assert aggregate.input.time is not None
            self._keep((row[aggregate.input.time], item))
        elif function == "top":
            assert aggregate.by is not None
            by = read(aggregate.by, row)
            if by is not None:
                self._keep((-by, item))
        elif function in ("unique_count", "most_frequent", "concentration"):
            self.seen[item] += 1
        else:  # median
            self.items.append(item)

    def _keep(self, key: tuple[Any, ...]) -> None:
        largest = self.aggregate.function in ("max", "last")
        if self.best is None or (key > self.best if largest else key < self.best):
            self.best = key

    def merge(self, other: Fold) -> None:
        """Take in what ``other`` folded (its rows are disjoint from this fold's)."""
        if other.count:
            self.count += other.count
            if other.total or other.squares:
                self.total += other.total
                self.squares += other.squares
        if other.best is not None:
            self._keep(other.best)
        if other.seen:
            self.seen.update(other.seen)
        if other.items:
            self.items.extend(other.items)

    def result(self) -> Any:
        """The aggregate's value, of its column's type (None where SQL gives NULL)."""
        function = self.aggregate.function
        if function == "count":
            return self.count
        if function == "unique_count":
            return len(self.seen)
        return typed(self._value(function), self.aggregate.type)

    def _value(self, function: str) -> Any:
        if function in ("min", "max", "first", "last", "top"):
            return None if self.best is None else self.best[-1]
        if function in ("most_frequent", "concentration"):
            return self._frequencies(function)
        if function == "median":
            return _median(sorted(self.items))
        if self.count == 0 or (function == "stddev" and self.count < 2):
            return None
        if function == "sum":
            return self.total
        if function == "avg":
            return float(self.total) / self.count
        variance = (self.squares - self.total * self.total / self.count) / (self.count - 1)
        return math.sqrt(float(variance))

    def _frequencies(self, function: str) -> Any:
        n = sum(self.seen.values())
        if n == 0:
            return None
        if function == "concentration":
            return float(sum(count * count for count in self.seen.values())) / (float(n) * n)
        return min(self.seen.items(), key=lambda pair: (-pair[1], pair[0]))[0]


def _median(values: list[Any]) -> float | None:
    if not values:
        return None
    middle = len(values) // 2
    if len(values) % 2:
        return float(values[middle])
    low, high = float(values[middle - 1]), float(values[middle])
    return low + (high - low) * 0.5


def typed(value: Any, type_: str) -> Any:
    """A value as the Python type DuckDB returns for a column of ``type_``."""
    if value is None:
        return None
    if type_ == "DOUBLE":
        return float(value)
    if type_ == "BIGINT":
        return int(value)
    return value
